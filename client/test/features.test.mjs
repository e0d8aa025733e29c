// Feature flags from the org's entitlements (client/src/features.ts, wired in stream.ts): read
// from the worker when first asked for, kept current by the stream, overridable by the app.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createOrgStream, featureEnabled, overridesFromEnv } from "../dist/index.js";
import { FakeClock, fakeNetwork, flush, makeEventSource } from "./support.mjs";

const entitlements = (id, plan, features) =>
  ({ id: String(id), type: "org.entitlements.changed", ts: "2026-11-26T09:00:00Z", data: { plan, features, limits: {}, effectiveAt: "2026-11-26T09:00:00Z" } });

function setup({ history = [], featureOverrides } = {}) {
  const es = makeEventSource();
  const reads = [];
  const seen = [];
  const fetch = async (url) => {
    const u = new URL(url);
    if (u.pathname === "/v1/stream/ticket") return { ok: true, json: async () => ({ ticket: "t" }) };
    if (u.pathname === "/v1/events/latest") {
      reads.push(u);
      assert.equal(u.searchParams.get("type"), "org.entitlements.changed");
      return { ok: true, json: async () => ({ event: history.at(-1) ?? null }) };
    }
    return { ok: true, json: async () => ({ events: [], hasMore: false, gap: false, earliestId: null, latestId: "9" }) };
  };
  const stream = createOrgStream({
    baseUrl: "http://worker",
    getToken: () => "token",
    onEvent: () => {},
    onEntitlements: (e) => seen.push(e.plan),
    EventSource: es.FakeEventSource,
    fetch,
    clock: new FakeClock(),
    network: fakeNetwork(),
    tabs: null,
    featureOverrides,
  });
  return { es, stream, reads, seen };
}

test("overrides from build-time variables: VITE_FF_<NAME>, case and - or _ do not matter", () => {
  const overrides = overridesFromEnv({ VITE_FF_AUDIT_LOG: "true", VITE_FF_SSO: "0", VITE_FF_X: "maybe", OTHER: "true", VITE_FF_: "true" });
  assert.deepEqual(overrides, { audit_log: true, sso: false });
  const plan = { plan: "team", features: ["sso", "exports"], limits: {}, effectiveAt: "2026-11-26T09:00:00Z" };
  assert.equal(featureEnabled("audit-log", plan, overrides), true, "an override turns on what the plan lacks");
  assert.equal(featureEnabled("sso", plan, overrides), false, "an override turns off what the plan has");
  assert.equal(featureEnabled("Exports", plan, overrides), true, "the plan decides the rest");
  assert.equal(featureEnabled("exports", null, {}), false, "no entitlements known: off");
});

test("the first ask reads the org's newest entitlements (GET /v1/events/latest), once", async () => {
  const t = setup({ history: [entitlements(2, "free", []), entitlements(5, "team", ["sso"])] });
  assert.equal(t.stream.isFeatureEnabled("sso"), false, "not known yet");
  await flush();
  await flush();
  assert.equal(t.stream.isFeatureEnabled("sso"), true);
  assert.equal(t.stream.entitlements.plan, "team");
  assert.deepEqual(t.seen, ["team"], "the app hears once, with the newest");
  t.stream.isFeatureEnabled("sso");
  assert.equal(t.reads.length, 1, "read once");
  t.stream.close();
});

test("a plan change on the stream flips features at once; nothing is read until features are asked for", async () => {
  const t = setup();
  await flush();
  const source = t.es.latest;
  source.open();
  source.emit("org.entitlements.changed", JSON.stringify(entitlements(10, "enterprise", ["sso", "audit-log"])));
  assert.equal(t.reads.length, 0, "no history read for an app that never asks");
  assert.deepEqual(t.seen, ["enterprise"]);
  assert.equal(t.stream.isFeatureEnabled("audit-log"), true);
  source.emit("org.entitlements.changed", JSON.stringify(entitlements(11, "free", [])));
  assert.equal(t.stream.isFeatureEnabled("audit-log"), false);
  assert.deepEqual(t.seen, ["enterprise", "free"]);
  t.stream.close();
});

test("overrides beat the org's entitlements", async () => {
  const t = setup({ history: [entitlements(3, "free", [])], featureOverrides: { "beta-panel": true } });
  assert.equal(t.stream.isFeatureEnabled("beta-panel"), true);
  assert.equal(t.stream.isFeatureEnabled("beta_panel"), true);
  t.stream.close();
});
