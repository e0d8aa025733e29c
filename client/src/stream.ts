// createOrgStream: one live stream of an org's events that never silently goes stale.
//
// - Native EventSource. Every attempt trades a fresh token from getToken() for a one-use ticket
//   (POST /v1/stream/ticket, bearer) and opens `?ticket=`, so the token never sits in a URL;
//   `lastEventId` is carried across attempts (a new EventSource does not send the previous one's
//   Last-Event-ID by itself). Without a `lastEventId` option, the first attempt reads the org's
//   latest id from history and starts there, so a drop before the first event misses nothing.
//   History requests send the token as `Authorization: Bearer`.
// - Every event is validated (validateEnvelope of @orgstream/schema, unless the app passes its own)
//   before it is handed on; invalid ones go to onInvalid. Delivery is de-duplicated and in id order.
// - Reconnects with exponential backoff and jitter; the failure count resets once a connection has
//   delivered a heartbeat or an event. A stream silent for 30 s is closed and reopened.
// - After 5 consecutive failures, polls GET /v1/events?after=<last id> every 10 s until
//   reconnect() (or the network coming back) tries the stream again.
// - stream.reset (or gap: true from polling) asks the app to resync.
// - stream.expired (the token ran out) reopens at once with a fresh token, with no status change.
// - Tabs of one org and user share one stream (tabs.ts): one tab, elected with Web Locks, holds it
//   and relays it over a BroadcastChannel; when that tab closes or is frozen another takes over and
//   resumes from its own last id. `shareAcrossTabs: false`, a `requestId` (targeted events belong
//   to one tab), or a browser without Web Locks or BroadcastChannel: each tab streams on its own.
//
// The states and transitions are in machine.ts (pure, tested on their own); this file runs the
// effects each transition asks for and turns what happens (EventSource callbacks, timers, the
// network) into the machine's inputs.

import { backoffDelay } from "./backoff.js";
import { initialMachine, transition, type ConnectionStatus, type Effect, type Input, type Machine } from "./machine.js";
import { browserTabs } from "./tabs.js";
import { shareTabs, type TabShare } from "./follow.js";
import { featureEnabled, LatestEntitlements } from "./features.js";
import { api, AuthRefused, type AuthError } from "./api.js";
import { keepTokens } from "./tokens.js";
import { browserNetwork, defaultClock, type EventSourceLike, type OrgStream, type OrgStreamOptions, type ResyncInfo } from "./options.js";
import { SERVER_FRAME_TYPES, eventTypes, validateEnvelope } from "@orgstream/schema";

export type { ConnectionStatus, Validate, ResyncInfo, Clock, Network, EventSourceLike, OrgStreamOptions, OrgStream } from "./options.js";

/** The server's frames other than heartbeats (generated from schema-wasm's catalog). */
const SERVER_NOTICES = SERVER_FRAME_TYPES.filter((type) => type !== "heartbeat");

export function createOrgStream(options: OrgStreamOptions): OrgStream {
  const clock = options.clock ?? defaultClock;
  const network = options.network ?? browserNetwork();
  const random = options.random ?? Math.random;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 30_000;
  const failuresBeforePolling = options.failuresBeforePolling ?? 5;
  const pollIntervalMs = options.pollIntervalMs ?? 10_000;
  const EventSourceImpl = options.EventSource ?? (globalThis as { EventSource?: new (url: string) => EventSourceLike }).EventSource;
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const base = options.baseUrl.replace(/\/$/, "");
  const endpoints = api(fetchImpl, base);
  const tokens = keepTokens(options.getToken, clock);
  const tokenRecheckMs = options.tokenRecheckMs ?? 30_000;
  const validate = options.validate ?? validateEnvelope;
  const types = options.eventTypes ?? eventTypes();

  // Tab sharing (follow.ts): not for a requestId (its targeted events belong to this tab alone).
  const tabs = options.shareAcrossTabs === false || options.requestId ? null : options.tabs !== undefined ? options.tabs : browserTabs();
  let shared: TabShare | null = null;
  let closed = false;

  let machine: Machine = initialMachine(network.isOnline(), tabs !== null);
  let lastId: bigint = options.lastEventId ? BigInt(options.lastEventId) : 0n;
  let hasLastId = options.lastEventId !== undefined;
  // Settles once the stream knows the id it starts from (given, or learned: true), or gave up
  // learning it for now (history unreadable, no token that works, offline: false).
  let settle: (positioned: boolean) => void = () => {};
  const ready = new Promise<boolean>((resolve) => (settle = resolve));
  const markReady = () => settle(hasLastId);
  if (hasLastId) markReady();
  let source: EventSourceLike | null = null;
  let detach: (() => void) | null = null;
  let retryTimer: unknown = null;
  let silenceTimer: unknown = null;
  let pollTimer: unknown = null;
  let recheckTimer: unknown = null;
  // The server's refusal of the token, while the status is unauthorized.
  let authError: AuthError | null = null;
  // Bumps on every stop; callbacks and async work from before it are ignored.
  let generation = 0;
  const listeners = new Set<(s: ConnectionStatus) => void>();

  /** Feeds one input to the machine and runs the effects of the transition. */
  const dispatch = (input: Input) => {
    const before = machine.status;
    const step = transition(machine, input, { online: network.isOnline(), failuresBeforePolling });
    machine = step.machine;
    if (machine.status !== "unauthorized") authError = null;
    if (machine.phase === "offline") markReady(); // nothing waits for the network to come back
    for (const effect of step.effects) run(effect);
    if (machine.status !== before) {
      shared?.relay({ kind: "status", status: machine.status, error: authError });
      for (const l of [...listeners]) l(machine.status);
    }
  };

  /** An input from work started in generation `gen`, dropped if that work was stopped since. */
  const from = (gen: number) => (input: Input) => {
    if (gen === generation) dispatch(input);
  };

  const clear = (timer: unknown) => {
    if (timer !== null) clock.clearTimeout(timer);
    return null;
  };

  const run = (effect: Effect) => {
    switch (effect.type) {
      case "stop":
        generation += 1;
        silenceTimer = clear(silenceTimer);
        detach?.();
        detach = null;
        source?.close();
        source = null;
        retryTimer = clear(retryTimer);
        pollTimer = clear(pollTimer);
        recheckTimer = clear(recheckTimer);
        return;
      case "open":
        void openStream(from(generation));
        return;
      case "arm-silence": {
        silenceTimer = clear(silenceTimer);
        const send = from(generation);
        silenceTimer = clock.setTimeout(() => send({ type: "failed" }), heartbeatTimeoutMs);
        return;
      }
      case "wait": {
        const send = from(generation);
        const delay = options.backoff ? options.backoff(effect.failures) : backoffDelay(effect.failures, random);
        retryTimer = clock.setTimeout(() => {
          retryTimer = null;
          send({ type: "retry-due" });
        }, delay);
        return;
      }
      case "poll":
        startPolling(generation);
        return;
      case "notify-replaced":
        options.onReplaced?.();
        return;
      case "notify-refused":
        if (authError) options.onAuthError?.(authError);
        return;
      case "wait-for-token": {
        const send = from(generation);
        recheckTimer = clock.setTimeout(() => {
          recheckTimer = null;
          send({ type: "recheck-due" });
        }, tokenRecheckMs);
        return;
      }
    }
  };

  /** Hands on a validated envelope once, in id order. */
  const deliver = (raw: string) => {
    const result = validate(raw);
    if (!result.ok) {
      options.onInvalid?.(raw, result.errors);
      return;
    }
    const id = BigInt(result.event.id);
    if (hasLastId && id <= lastId) return; // already delivered
    lastId = id;
    hasLastId = true;
    options.onEvent(result.event);
    if (entitlements.offer(result.event) && entitlements.value) options.onEntitlements?.(entitlements.value);
  };

  const entitlements = new LatestEntitlements();
  let entitlementsAsked = false;
  /**
   * The org's newest entitlements (`GET /v1/events/latest`: the org keeps its newest beyond the
   * log's retention), read once, when first asked for.
   */
  const loadEntitlements = async () => {
    try {
      const answer = await endpoints.latest(await tokens.current(), "org.entitlements.changed");
      if (!answer?.event || closed) return;
      const checked = validate(JSON.stringify(answer.event));
      if (checked.ok && entitlements.offer(checked.event) && entitlements.value) options.onEntitlements?.(entitlements.value);
    } catch {
      // Unreachable: features stay as the stream (and the overrides) say.
    }
  };
  const askEntitlements = () => {
    if (entitlementsAsked) return;
    entitlementsAsked = true;
    void loadEntitlements();
  };

  /** What this tab's stream (or polling) received: delivered here and relayed to the other tabs. */
  const receive = (raw: string) => {
    // Relayed first: an app handler that throws must not keep the event from the other tabs.
    shared?.relay({ kind: "event", raw });
    deliver(raw);
  };

  /** The server moved on (stream.reset, or a gap while polling): continue from its latest id. */
  const resync = (info: ResyncInfo) => {
    lastId = info.latestId ? BigInt(info.latestId) : 0n;
    hasLastId = info.latestId !== null;
    shared?.relay({ kind: "resync", info });
    options.onResync?.(info);
  };

  /**
   * Runs `call` with the kept token and, when the server refuses that one, once more with a fresh
   * one from getToken; a second refusal throws AuthRefused.
   */
  const withToken = async <T>(call: (token: string) => Promise<T>): Promise<T> => {
    try {
      return await call(await tokens.current());
    } catch (e) {
      if (!(e instanceof AuthRefused)) throw e;
      return call(await tokens.fresh());
    }
  };

  /** What failed in work of this generation: a refused token, or anything else. */
  const failure = (send: (input: Input) => void, e: unknown, otherwise: Input) => {
    markReady(); // nothing waits on a position this attempt could not learn
    if (e instanceof AuthRefused) {
      authError = e.error;
      tokens.forget(); // refused twice: never sent again, to the worker or to the app
      send({ type: "refused" });
    } else send(otherwise);
  };

  /**
   * Where the first connection starts when the app gave no `lastEventId`: the org's latest id
   * (history's `latestId`). A stream that drops before its first event then resumes from there
   * instead of starting live and missing what was published in between (protocol 4.1). When
   * history cannot be read, the stream starts live, as before. Callers at the same moment (the
   * stream and tab sharing, on load) share one request.
   */
  let learning: Promise<void> | null = null;
  const learnPosition = (token: string): Promise<void> => {
    if (hasLastId) return Promise.resolve();
    learning ??= (async () => {
      try {
        const { latestId } = await endpoints.history(token, { limit: "1" });
        if (!hasLastId) {
          // (Unless delivery started meanwhile.)
          lastId = latestId ? BigInt(latestId) : 0n;
          hasLastId = true;
        }
      } catch (e) {
        // A refused token is tried again with a fresh one (withToken); anything else: start live.
        if (e instanceof AuthRefused) throw e;
      } finally {
        learning = null;
      }
      markReady();
    })();
    return learning;
  };

  const openStream = async (send: (input: Input) => void) => {
    const gen = generation;
    let ticket: string;
    try {
      ticket = await withToken(async (token) => {
        await learnPosition(token);
        return endpoints.ticket(token);
      });
    } catch (e) {
      failure(send, e, { type: "failed" });
      return;
    }
    if (gen !== generation) return;
    const params = new URLSearchParams({ ticket });
    if (hasLastId) params.set("lastEventId", lastId.toString());
    if (options.requestId) params.set("requestId", options.requestId);
    if (!EventSourceImpl) throw new Error("no EventSource in this environment; pass options.EventSource");
    const es = new EventSourceImpl(`${base}/v1/stream?${params}`);
    source = es;

    const onHeartbeat = () => {
      send({ type: "alive" });
      if (gen === generation) shared?.relay({ kind: "beat" });
    };
    const onEvent = (e: MessageEvent) => {
      send({ type: "alive" });
      if (gen === generation) receive(String(e.data));
    };
    const onNotice = (e: MessageEvent) => {
      if (e.type === "stream.reset") {
        send({ type: "alive" });
        let info: ResyncInfo;
        try {
          info = JSON.parse(String(e.data)) as ResyncInfo;
        } catch {
          info = { reason: "history_gap", earliestId: null, latestId: null };
        }
        if (gen === generation) resync(info);
      } else if (e.type === "stream.expired") {
        send({ type: "expired" });
      } else if (e.type === "stream.replaced") {
        send({ type: "replaced" });
      } else {
        send({ type: "failed" }); // stream.overflow: resume from the last id (after the first backoff step)
      }
    };
    es.addEventListener("heartbeat", onHeartbeat);
    for (const type of types) es.addEventListener(type, onEvent);
    for (const type of SERVER_NOTICES) es.addEventListener(type, onNotice);
    es.onopen = () => send({ type: "opened" });
    es.onerror = () => send({ type: "failed" });
    detach = () => {
      es.removeEventListener("heartbeat", onHeartbeat);
      for (const type of types) es.removeEventListener(type, onEvent);
      for (const type of SERVER_NOTICES) es.removeEventListener(type, onNotice);
      es.onopen = null;
      es.onerror = null;
    };
  };

  /**
   * Reads history after the last id until there is no more, handing each event on (a gap is a
   * resync), while `current()` holds.
   */
  const readHistory = async (current: () => boolean) => {
    for (let more = true; more && current(); ) {
      const params: Record<string, string> = { after: lastId.toString(), limit: "1000" };
      if (options.requestId) params.requestId = options.requestId;
      const page = await withToken((token) => endpoints.history(token, params));
      if (!current()) return;
      if (page.gap) {
        resync({ reason: "history_gap", earliestId: page.earliestId, latestId: page.latestId });
        return;
      }
      for (const event of page.events) receive(JSON.stringify(event));
      more = page.hasMore;
    }
  };

  /** Reads history now, then again every pollIntervalMs, until stopped. */
  const startPolling = (gen: number) => {
    const send = from(gen);
    const poll = async () => {
      pollTimer = null;
      try {
        await readHistory(() => gen === generation);
        send({ type: "poll-ok" });
      } catch (e) {
        // A refused token stops polling; anything else: the server is still away, keep polling.
        failure(send, e, { type: "poll-failed" });
      }
      if (gen === generation) pollTimer = clock.setTimeout(() => void poll(), pollIntervalMs);
    };
    void poll();
  };

  const unsubscribeNetwork = network.subscribe(() => dispatch({ type: network.isOnline() ? "network-online" : "network-offline" }));

  if (tabs) {
    shared = shareTabs({
      env: tabs,
      base,
      getToken: tokens.current,
      authError: () => authError,
      heardAuthError: (error) => {
        authError = error;
      },
      clock,
      heartbeatTimeoutMs,
      machine: () => machine,
      dispatch,
      deliver,
      resync,
      hasLastId: () => hasLastId,
      learnPosition,
      readHistory,
    });
  } else dispatch({ type: "start" });

  return {
    get status() {
      return machine.status;
    },
    get lastEventId() {
      return hasLastId ? lastId.toString() : null;
    },
    get authError() {
      return authError;
    },
    ready,
    token: () => tokens.current(),
    get entitlements() {
      askEntitlements();
      return entitlements.value;
    },
    isFeatureEnabled(name) {
      askEntitlements();
      return featureEnabled(name, entitlements.value, options.featureOverrides);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reconnect() {
      if (!shared || shared.leading) dispatch({ type: "start" });
      else shared.askLeaderToReconnect(); // the leading tab holds the stream (none yet: it is on its way)
    },
    close() {
      closed = true;
      markReady();
      dispatch({ type: "close" });
      shared?.close();
      unsubscribeNetwork();
      listeners.clear();
    },
  };
}
