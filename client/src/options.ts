// What createOrgStream takes and gives (stream.ts), and the browser's defaults for what it can be
// given instead (timers, the network), so tests and other environments can drive it.

import type { OrgEvent, ResyncInfo, ValidationIssue, Validated } from "@orgstream/schema";
import type { ConnectionStatus } from "./machine.js";
import type { TabEnvironment } from "./tabs.js";
import type { Entitlements } from "./features.js";
import type { AuthError } from "./api.js";

export type { ConnectionStatus } from "./machine.js";

/** Validates one envelope as it arrived (`validateEnvelope` of @orgstream/schema). */
export type Validate = (json: string) => Validated<OrgEvent>;

/** What a client needs to resync (`stream.reset`'s data; generated from the server's Rust type). */
export type { ResyncInfo } from "@orgstream/schema";

/** Timers, injectable so tests can drive time. */
export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/** Whether the browser reports a network, and a way to hear when that changes. */
export interface Network {
  isOnline(): boolean;
  subscribe(onChange: () => void): () => void;
}

export interface EventSourceLike {
  addEventListener(type: string, listener: (e: MessageEvent) => void): void;
  removeEventListener(type: string, listener: (e: MessageEvent) => void): void;
  onopen: ((e: Event) => void) | null;
  onerror: ((e: Event) => void) | null;
  close(): void;
}

export interface OrgStreamOptions {
  /** Where the worker is, e.g. "" (same origin) or "https://events.example.com". */
  baseUrl: string;
  /**
   * A token for this org and user. It is kept until a minute before its `exp` (one call per token
   * lifetime), and asked for again at once when the server refuses it (401/403).
   */
  getToken: () => string | Promise<string>;
  /** The validator (default: validateEnvelope of @orgstream/schema). */
  validate?: Validate;
  /** The event types to listen for (default: every type of the catalog, eventTypes() of @orgstream/schema). */
  eventTypes?: readonly string[];
  onEvent: (event: OrgEvent) => void;
  onInvalid?: (raw: string, errors: ValidationIssue[]) => void;
  onResync?: (info: ResyncInfo) => void;
  /** This tab's stream was taken over by another with the same requestId; it will not reconnect. */
  onReplaced?: () => void;
  /**
   * The server refused the token, and a fresh one from getToken too: the status is `unauthorized`
   * (the server's status, code and message are in `authError`). The stream asks getToken again
   * every `tokenRecheckMs`, and on reconnect(), and recovers once a token works.
   */
  onAuthError?: (error: AuthError) => void;
  /** How often an unauthorized stream tries getToken again (default 30 s). */
  tokenRecheckMs?: number;
  /** Open the stream with this requestId (one connection per id; targeted events). */
  requestId?: string;
  /** Start after this id (e.g. what the page already rendered). */
  lastEventId?: string;
  heartbeatTimeoutMs?: number;
  failuresBeforePolling?: number;
  pollIntervalMs?: number;
  EventSource?: new (url: string) => EventSourceLike;
  fetch?: typeof fetch;
  clock?: Clock;
  network?: Network;
  random?: () => number;
  /** The delay before reconnect attempt `failures` (default: backoffDelay, 1 s doubling to 30 s). */
  backoff?: (failures: number) => number;
  /** One stream for all of this browser's tabs of the same org and user (default true). */
  shareAcrossTabs?: boolean;
  /** Web Locks and BroadcastChannel for tab sharing (default: the browser's; null: none). */
  tabs?: TabEnvironment | null;
  /** Features forced on or off whatever the entitlements say (e.g. overridesFromEnv(import.meta.env)). */
  featureOverrides?: Record<string, boolean>;
  /** Called when newer entitlements arrive (read once when features are first asked for, then live). */
  onEntitlements?: (entitlements: Entitlements) => void;
}

export interface OrgStream {
  readonly status: ConnectionStatus;
  /** Why the status is `unauthorized`: the server's refusal of the token (else null). */
  readonly authError: AuthError | null;
  /**
   * Settles once the stream knows the id it starts from (`lastEventId`, or the org's latest id,
   * read once): `true`; or gave up learning it for now (history unreadable, no token that works,
   * offline): `false`. After `true`, a read of the app's own state misses nothing the stream will
   * not deliver (useReliableQuery waits for it, and then needs no second read on connect).
   */
  readonly ready: Promise<boolean>;
  /**
   * The token the stream holds (kept until a minute before its `exp`, as for the stream), for the
   * app's own requests to the worker: history, publishing. Calls getToken only when it must.
   */
  token(): Promise<string>;
  readonly lastEventId: string | null;
  /** Called with the new status on every change; returns an unsubscribe function. */
  subscribe(listener: (status: ConnectionStatus) => void): () => void;
  /**
   * The org's newest `org.entitlements.changed` data seen, or null. The first read (of this or of
   * isFeatureEnabled) fetches it from history; the stream keeps it current after that.
   */
  readonly entitlements: Entitlements | null;
  /** Whether the feature is on: featureOverrides decide, else the entitlements' features. */
  isFeatureEnabled(name: string): boolean;
  /** Try the stream again now (from polling, or while waiting to reconnect). */
  reconnect(): void;
  /** Stop everything: timers, listeners, the EventSource, polling. */
  close(): void;
}

export const defaultClock: Clock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

export function browserNetwork(): Network {
  const g = globalThis as { navigator?: { onLine?: boolean }; addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener };
  return {
    isOnline: () => g.navigator?.onLine !== false,
    subscribe(onChange) {
      if (!g.addEventListener || !g.removeEventListener) return () => {};
      g.addEventListener("online", onChange);
      g.addEventListener("offline", onChange);
      return () => {
        g.removeEventListener?.("online", onChange);
        g.removeEventListener?.("offline", onChange);
      };
    },
  };
}
