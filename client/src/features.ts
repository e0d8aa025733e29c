// Feature flags from the org's entitlements: a feature is on when the org's newest
// `org.entitlements.changed` lists it, unless the app overrides it (for instance from build-time
// variables, `overridesFromEnv(import.meta.env)`). The newest entitlements come from the worker
// when first asked for (`GET /v1/events/latest?type=org.entitlements.changed`, kept beyond the
// log's retention) and from the stream after.

import type { OrgEvent } from "@orgstream/schema";

export type EntitlementsEvent = Extract<OrgEvent, { type: "org.entitlements.changed" }>;
export type Entitlements = EntitlementsEvent["data"];

/** A feature name as overrides and entitlements are compared: case and `-`/`_`/`.` do not matter. */
const normalize = (name: string) => name.toLowerCase().replace(/[-_.]/g, "_");

/**
 * Overrides from environment variables `<prefix><NAME>` (default `VITE_FF_`): `true`, `1`, `on` or
 * `yes` turn NAME on, `false`, `0`, `off` or `no` turn it off; other values are ignored.
 */
export function overridesFromEnv(env: Record<string, unknown>, prefix = "VITE_FF_"): Record<string, boolean> {
  const overrides: Record<string, boolean> = {};
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith(prefix) || key.length === prefix.length) continue;
    const value = String(raw).trim().toLowerCase();
    if (["true", "1", "on", "yes"].includes(value)) overrides[normalize(key.slice(prefix.length))] = true;
    else if (["false", "0", "off", "no"].includes(value)) overrides[normalize(key.slice(prefix.length))] = false;
  }
  return overrides;
}

/** Whether `name` is on: an override decides, else the entitlements' features (none known: off). */
export function featureEnabled(name: string, entitlements: Entitlements | null, overrides: Record<string, boolean> = {}): boolean {
  const key = normalize(name);
  for (const [override, on] of Object.entries(overrides)) if (normalize(override) === key) return on;
  return entitlements?.features.some((f) => normalize(f) === key) ?? false;
}

/** The newest entitlements seen, by event id (an older event arriving late changes nothing). */
export class LatestEntitlements {
  private id = -1n;
  value: Entitlements | null = null;

  /** Takes `event` if it is entitlements newer than what is known; says whether it did. */
  offer(event: OrgEvent): boolean {
    if (event.type !== "org.entitlements.changed") return false;
    const id = BigInt(event.id);
    if (id <= this.id) return false;
    this.id = id;
    this.value = event.data;
    return true;
  }
}
