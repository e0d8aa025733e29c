// Unit tests of the browser client with a fake clock, a fake EventSource, a fake network and a
// fake history endpoint; events are checked by the real validators (the wasm module's Node build).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createOrgStream, backoffDelay } from "../dist/index.js";
import { validateEnvelope, eventTypes } from "../../schema-wasm/pkg/node.js";
import { FakeClock, makeEventSource, fakeNetwork, envelope, flush } from "./support.mjs";

/** The worker's answer to a token it refuses (protocol 4). */
const refusedToken = () => ({
  ok: false,
  status: 401,
  statusText: "Unauthorized",
  json: async () => ({ error: { code: "unauthorized", message: "token expired at 2026-11-25T06:00:00Z; mint a new one", details: [] } }),
});

function setup(overrides = {}) {
  const clock = new FakeClock();
  const es = makeEventSource();
  const network = fakeNetwork();
  const delivered = [];
  const invalid = [];
  const resyncs = [];
  const statuses = [];
  const polls = [];
  const positions = [];
  const pollTokens = [];
  const ticketTokens = [];
  let tokens = 0;
  const log = overrides.log ?? []; // the server's events, for polling
  const fetch = async (url, init = {}) => {
    const u = new URL(url);
    if (u.pathname === "/v1/stream/ticket") {
      assert.equal(init.method, "POST");
      const token = init.headers.authorization.replace("Bearer ", "");
      ticketTokens.push(token);
      if (overrides.ticketsRefused?.()) return { ok: false, status: 503, statusText: "Service Unavailable", json: async () => ({}) };
      if (overrides.tokenRefused?.(token)) return refusedToken();
      return { ok: true, json: async () => ({ ticket: `ticket-for-${token}`, expiresAt: "2026-11-25T07:01:00.000Z" }) };
    }
    if (overrides.serverDown?.()) throw new TypeError("fetch failed");
    if (!u.searchParams.has("after")) {
      // The first connection's position: the org's latest id.
      positions.push(u);
      if (overrides.historyRefused?.()) return { ok: false, status: 503, statusText: "Service Unavailable", json: async () => ({}) };
      return { ok: true, json: async () => ({ events: log.slice(0, 1), gap: false, hasMore: log.length > 1, earliestId: log[0]?.id ?? null, latestId: log.at(-1)?.id ?? null }) };
    }
    polls.push(u);
    pollTokens.push(init.headers?.authorization);
    if (overrides.tokenRefused?.(init.headers.authorization.replace("Bearer ", ""))) return refusedToken();
    const after = BigInt(u.searchParams.get("after"));
    const events = log.filter((e) => BigInt(e.id) > after).slice(0, 1000);
    return { ok: true, json: async () => ({ events, gap: false, hasMore: false, earliestId: log[0]?.id ?? null, latestId: log.at(-1)?.id ?? null }) };
  };
  const stream = createOrgStream({
    baseUrl: "http://worker",
    getToken: overrides.getToken ?? (() => `token-${++tokens}`),
    validate: validateEnvelope,
    eventTypes: eventTypes(),
    onEvent: (e) => delivered.push(e.id),
    onInvalid: (raw, errors) => invalid.push(errors[0].path),
    onResync: (info) => resyncs.push(info),
    EventSource: es.FakeEventSource,
    fetch,
    clock,
    network,
    random: () => 0.5,
    tabs: null, // one tab; tab sharing has its own tests (tabs.test.mjs)
    ...overrides.options,
  });
  stream.subscribe((s) => statuses.push(s));
  return { clock, es, network, stream, delivered, invalid, resyncs, statuses, polls, positions, pollTokens, ticketTokens, log, tokens: () => tokens };
}

test("backoff: 1, 2, 4, 8, 16 s, capped at 30 s, jitter within +/-20 %", () => {
  const bases = [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
  bases.forEach((base, i) => {
    assert.equal(backoffDelay(i + 1, () => 0.5), base);
    assert.equal(backoffDelay(i + 1, () => 0), base * 0.8);
    assert.ok(backoffDelay(i + 1, () => 0.999999) <= base * 1.2);
  });
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(3);
    assert.ok(d >= 3200 && d <= 4800, `${d}`);
  }
});

test("connects with a fresh token, delivers validated events in order, refuses invalid ones", async () => {
  const t = setup({ options: { requestId: "tab-1" } });
  await flush();
  const first = t.es.latest;
  assert.equal(first.url.searchParams.get("ticket"), "ticket-for-token-1", "a ticket in the URL");
  assert.equal(first.url.searchParams.get("token"), null, "never the token");
  assert.equal(first.url.searchParams.get("requestId"), "tab-1");
  assert.equal(first.url.searchParams.get("lastEventId"), "0", "the org's latest id (none yet) is where it starts");
  first.open();
  assert.equal(t.stream.status, "connected");
  first.emit("task.progress", envelope(1));
  first.emit("task.progress", '{"id":"2","type":"task.progress","ts":"2026-11-25T07:00:00Z","data":{"taskId":"x","progress":7}}');
  first.emit("task.progress", envelope(3));
  first.emit("task.progress", envelope(3)); // duplicate
  first.emit("task.progress", envelope(2)); // older than the last delivered
  assert.deepEqual(t.delivered, ["1", "3"]);
  assert.deepEqual(t.invalid, ["/data/progress"]);
  first.error();
  await t.clock.advance(1000);
  const second = t.es.latest;
  assert.notEqual(second, first);
  assert.equal(second.url.searchParams.get("ticket"), "ticket-for-token-2", "a new token, and ticket, for every attempt");
  assert.equal(second.url.searchParams.get("lastEventId"), "3");
  t.stream.close();
});

test("the first connection starts at the org's latest id, so a drop before the first event misses nothing", async () => {
  const log = [1, 2, 3, 4].map((n) => JSON.parse(envelope(n)));
  const t = setup({ log });
  await flush();
  assert.equal(t.positions.length, 1, "one history read, for the position");
  assert.equal(t.positions[0].searchParams.get("limit"), "1");
  const first = t.es.latest;
  assert.equal(first.url.searchParams.get("lastEventId"), "4");
  first.open();
  first.error(); // gone before any event; events 5 and 6 are published meanwhile
  log.push(JSON.parse(envelope(5)), JSON.parse(envelope(6)));
  await t.clock.advance(1000);
  assert.equal(t.es.latest.url.searchParams.get("lastEventId"), "4", "it resumes from there, not live");
  assert.equal(t.positions.length, 1, "the position is read once");
  t.stream.close();
});

test("when history cannot be read, the first connection starts live", async () => {
  const t = setup({ log: [JSON.parse(envelope(1))], historyRefused: () => true });
  await flush();
  assert.equal(t.es.latest.url.searchParams.get("lastEventId"), null);
  t.stream.close();
});

test("stream.expired: reopens at once with a fresh token from the last id, and the status never changes", async () => {
  const t = setup();
  await flush();
  const first = t.es.latest;
  first.open();
  first.emit("task.progress", envelope(7));
  const before = [...t.statuses];
  first.emit("stream.expired", "{}");
  assert.equal(first.closed, true, "the old stream is closed (EventSource would reconnect with the old token)");
  await flush();
  const second = t.es.latest;
  assert.notEqual(second, first, "reopened without waiting for a backoff");
  assert.equal(t.clock.nextDelay(), null, "no retry timer");
  assert.equal(second.url.searchParams.get("ticket"), "ticket-for-token-2", "with a fresh token's ticket");
  assert.equal(second.url.searchParams.get("lastEventId"), "7");
  second.open();
  assert.deepEqual(t.statuses, before, "no status change: the app sees nothing");
  assert.equal(t.stream.status, "connected");
  t.stream.close();
});

test("a ticket the server cannot give (503) counts as a failed attempt: back off, then try again with a fresh token", async () => {
  let refuse = true;
  const t = setup({ ticketsRefused: () => refuse });
  await flush();
  assert.equal(t.es.instances.length, 0, "no stream without a ticket");
  assert.equal(t.stream.status, "reconnecting");
  refuse = false;
  await t.clock.advance(t.clock.nextDelay());
  assert.equal(t.es.latest.url.searchParams.get("ticket"), "ticket-for-token-2");
  t.stream.close();
});

test("the failure count resets only once a connection delivered a heartbeat or an event", async () => {
  const t = setup();
  await flush();
  for (let i = 1; i <= 3; i++) {
    t.es.latest.error();
    assert.equal(t.clock.nextDelay(), backoffDelay(i, () => 0.5));
    await t.clock.advance(t.clock.nextDelay());
  }
  t.es.latest.open(); // open alone is not proof of life
  t.es.latest.error();
  assert.equal(t.clock.nextDelay(), 8000, "4th failure in a row");
  await t.clock.advance(8000);
  t.es.latest.open();
  t.es.latest.heartbeat();
  t.es.latest.error();
  assert.equal(t.clock.nextDelay(), 1000, "a heartbeat reset the count");
  t.stream.close();
});

test("a stream silent for 30 s is closed and reopened", async () => {
  const t = setup();
  await flush();
  const first = t.es.latest;
  first.open();
  await t.clock.advance(20_000);
  first.heartbeat();
  await t.clock.advance(29_000);
  assert.equal(first.closed, false, "a heartbeat 29 s ago keeps it");
  await t.clock.advance(1_000);
  assert.equal(first.closed, true);
  assert.equal(t.stream.status, "reconnecting");
  await t.clock.advance(1_000);
  assert.notEqual(t.es.latest, first, "reopened");
  t.stream.close();
});

test("after exactly 5 consecutive failures it polls every 10 s; reconnect() tries the stream at once", async () => {
  const log = [1, 2, 3].map((id) => JSON.parse(envelope(id)));
  const t = setup({ log });
  await flush();
  for (let i = 1; i <= 4; i++) {
    t.es.latest.error();
    assert.equal(t.stream.status, "reconnecting", `after ${i} failures`);
    await t.clock.advance(t.clock.nextDelay());
  }
  t.es.latest.error();
  await flush();
  assert.equal(t.stream.status, "polling-fallback");
  assert.equal(t.polls.length, 1);
  assert.equal(t.polls[0].searchParams.get("after"), "3", "from the position it started at (the latest id then)");
  assert.deepEqual(t.delivered, []);
  log.push(JSON.parse(envelope(4)));
  await t.clock.advance(10_000);
  assert.equal(t.polls.length, 2);
  assert.equal(t.polls[1].searchParams.get("after"), "3");
  assert.equal(t.polls[1].searchParams.get("token"), null, "polling keeps the token out of the URL");
  assert.match(t.pollTokens[1], /^Bearer token-\d+$/);
  assert.deepEqual(t.delivered, ["4"]);
  const before = t.es.instances.length;
  t.stream.reconnect();
  await flush();
  assert.equal(t.es.instances.length, before + 1);
  assert.equal(t.es.latest.url.searchParams.get("lastEventId"), "4");
  t.es.latest.open();
  assert.equal(t.stream.status, "connected");
  await t.clock.advance(30_000);
  assert.equal(t.polls.length, 2, "no polling once the stream is back");
  // ...and 30 s without a heartbeat then count as one failure of the new stream, not a fallback.
  assert.deepEqual(t.statuses, ["polling-fallback", "reconnecting", "connected", "reconnecting"]);
  t.stream.close();
});

test("stream.reset and gap: true ask the app to resync, and delivery continues from the server's latest id", async () => {
  const t = setup();
  await flush();
  t.es.latest.open();
  t.es.latest.emit("task.progress", envelope(5));
  t.es.latest.emit("stream.reset", JSON.stringify({ reason: "unknown_id", earliestId: null, latestId: "2" }));
  assert.deepEqual(t.resyncs.map((r) => r.reason), ["unknown_id"]);
  t.es.latest.emit("task.progress", envelope(3));
  assert.deepEqual(t.delivered, ["5", "3"], "after a reset, lower ids from the server are new again");
  t.stream.close();
});

test("offline while the browser has no network, back at once when it returns", async () => {
  const t = setup();
  await flush();
  const first = t.es.latest;
  first.open();
  t.network.set(false);
  assert.equal(t.stream.status, "offline");
  assert.equal(first.closed, true);
  assert.equal(t.clock.pending, 0, "nothing scheduled while offline");
  t.network.set(true);
  await flush();
  assert.notEqual(t.es.latest, first);
  t.es.latest.open();
  assert.equal(t.stream.status, "connected");
  t.stream.close();
});

test("close() leaves no timer, listener, subscription or EventSource, and calls nothing afterwards", async () => {
  const t = setup();
  await flush();
  const es = t.es.latest;
  es.open();
  es.heartbeat();
  assert.ok(t.clock.pending > 0);
  t.stream.close();
  assert.equal(t.clock.pending, 0);
  assert.equal(es.closed, true);
  assert.equal(es.listenerCount, 0);
  assert.equal(t.network.subscribers, 0);
  es.emit("task.progress", envelope(1));
  await t.clock.advance(60_000);
  assert.deepEqual(t.delivered, []);
  assert.equal(t.es.instances.length, 1);
});

test("randomized failures and switches between streaming and polling: every event once, in order", async () => {
  for (let seed = 1; seed <= 200; seed++) {
    let state = seed;
    const rand = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const log = [];
    let down = false;
    const t = setup({ log, serverDown: () => down, options: { random: rand } });
    await flush();
    const publish = () => log.push(JSON.parse(envelope(log.length + 1)));
    for (let step = 0; step < 60; step++) {
      const r = rand();
      if (r < 0.35) publish();
      const es = t.es.latest;
      if (t.stream.status !== "polling-fallback" && es && !es.closed) {
        if (!down && rand() < 0.7) {
          es.open();
          // The server replays after the requested id, then sends live events; it may send a
          // duplicate at the seam or stop halfway.
          const after = BigInt(es.url.searchParams.get("lastEventId") ?? String(log.length));
          const pending = log.filter((e) => BigInt(e.id) > after);
          const upTo = Math.floor(rand() * (pending.length + 1));
          for (const e of pending.slice(0, upTo)) es.emit(e.type, JSON.stringify(e));
          if (upTo > 0 && rand() < 0.3) es.emit(pending[upTo - 1].type, JSON.stringify(pending[upTo - 1]));
        }
        if (rand() < 0.4) es.error();
      }
      if (rand() < 0.1) down = !down;
      if (rand() < 0.1) t.stream.reconnect();
      await t.clock.advance(Math.floor(rand() * 12_000));
    }
    // Heal: the server is up; drain by polling or streaming until caught up.
    down = false;
    t.stream.reconnect();
    await flush();
    const es = t.es.latest;
    es.open();
    const after = BigInt(es.url.searchParams.get("lastEventId") ?? "0");
    for (const e of log.filter((x) => BigInt(x.id) > after)) es.emit(e.type, JSON.stringify(e));
    const ids = t.delivered.map(Number);
    const first = ids[0] ?? log.length + 1;
    const want = Array.from({ length: log.length - first + 1 }, (_, i) => first + i);
    assert.deepEqual(ids, want, `seed ${seed}: delivered ${ids} of ${log.length}`);
    t.stream.close();
    assert.equal(t.clock.pending, 0);
  }
});

test("validate and eventTypes default to the catalog of @orgstream/schema", async () => {
  const t = setup({ options: { validate: undefined, eventTypes: undefined } });
  await flush();
  const source = t.es.latest;
  source.open();
  for (const type of eventTypes()) assert.ok(source.listens(type), `listens for ${type}`);
  source.emit("task.progress", envelope(1));
  source.emit("task.progress", '{"id":"2","type":"task.progress","ts":"2026-11-25T07:00:00Z","data":{"taskId":"x","progress":7}}');
  assert.deepEqual(t.delivered, ["1"]);
  assert.deepEqual(t.invalid, ["/data/progress"], "checked by the catalog's validator");
  t.stream.close();
});

test("a refused token is asked for again at once; a fresh one that works connects as if nothing happened", async () => {
  const authErrors = [];
  const t = setup({ tokenRefused: (token) => token === "token-1", options: { onAuthError: (e) => authErrors.push(e) } });
  await flush();
  assert.deepEqual(t.ticketTokens, ["token-1", "token-2"]);
  assert.equal(t.es.latest.url.searchParams.get("ticket"), "ticket-for-token-2");
  t.es.latest.open();
  assert.equal(t.stream.status, "connected");
  assert.deepEqual([authErrors, t.stream.authError], [[], null]);
  t.stream.close();
});

test("a token refused again is unauthorized, with the server's reason, never polling; a token that works later recovers", async () => {
  const authErrors = [];
  let refuse = true;
  const t = setup({ tokenRefused: () => refuse, options: { onAuthError: (e) => authErrors.push(e), tokenRecheckMs: 5000 } });
  await flush();
  const reason = { status: 401, code: "unauthorized", message: "token expired at 2026-11-25T06:00:00Z; mint a new one" };
  assert.equal(t.stream.status, "unauthorized");
  assert.deepEqual(t.stream.authError, reason);
  assert.deepEqual(authErrors, [reason], "told once");
  assert.equal(t.es.instances.length, 0, "no stream without a ticket");
  await t.clock.advance(60_000);
  assert.deepEqual(authErrors, [reason], "still refused on every recheck: told once");
  assert.ok(!t.statuses.includes("polling-fallback"), "never polling");
  assert.equal(t.polls.length, 0);
  refuse = false;
  await t.clock.advance(5000);
  t.es.latest.open();
  assert.equal(t.stream.status, "connected");
  assert.equal(t.stream.authError, null);
  t.stream.close();
});

test("polling while the server is away shows offline, and polling once polls are answered", async () => {
  let down = true;
  const t = setup({ serverDown: () => down });
  await flush();
  for (let i = 0; i < 5; i++) {
    t.es.latest?.error();
    await t.clock.advance(t.clock.nextDelay() ?? 0);
  }
  assert.equal(t.stream.status, "offline", "the polls fail: offline, not polling");
  assert.ok(!t.statuses.includes("polling-fallback"));
  down = false;
  await t.clock.advance(10_000);
  assert.equal(t.stream.status, "polling-fallback");
  t.stream.close();
});

test("getToken is called once per token lifetime, and again a minute before it expires", async () => {
  let calls = 0;
  const jwt = (exp) => `${btoa(JSON.stringify({ alg: "HS256" }))}.${btoa(JSON.stringify({ org: "o", sub: "s", exp }))}.sig`;
  const t = setup({ getToken: () => (calls += 1, jwt(3600 + calls)), log: [JSON.parse(envelope(1))] });
  await flush();
  assert.equal(calls, 1, "the position and the ticket share one token");
  for (let i = 0; i < 3; i++) {
    t.es.latest.emit("stream.expired", "{}");
    await flush();
  }
  assert.equal(calls, 1, "reopening within the token's lifetime asks for no token");
  // An hour of a healthy stream (a heartbeat every 20 s), to a minute before exp.
  t.es.latest.open();
  while (t.clock.now() < 3_541_000) {
    await t.clock.advance(Math.min(20_000, 3_541_000 - t.clock.now()));
    t.es.latest.heartbeat();
  }
  assert.equal(calls, 1);
  t.es.latest.emit("stream.expired", "{}");
  await flush();
  assert.equal(calls, 2, "a minute before exp, a new one");
  t.stream.close();
});

test("ready settles once the stream knows where it starts, and token() lends the stream's kept token", async () => {
  let calls = 0;
  const jwt = `${btoa(JSON.stringify({ alg: "HS256" }))}.${btoa(JSON.stringify({ org: "o", sub: "s", exp: 3600 }))}.sig`;
  const t = setup({ getToken: () => (calls += 1, jwt), log: [JSON.parse(envelope(1)), JSON.parse(envelope(2))] });
  let settled = false;
  void t.stream.ready.then(() => (settled = true));
  await flush();
  assert.equal(settled, true);
  assert.equal(t.stream.lastEventId, "2", "the org's latest id, learned before ready settled");
  assert.equal(await t.stream.token(), jwt);
  assert.equal(calls, 1, "the app's own requests share the stream's token");
  t.stream.close();
});

test("ready settles false when no position can be learned (no token, history unreadable, offline)", async () => {
  for (const overrides of [
    { getToken: () => Promise.reject(new Error("signed out")) },
    { historyRefused: () => true },
  ]) {
    const t = setup(overrides);
    let settled = null;
    void t.stream.ready.then((positioned) => (settled = positioned));
    await flush();
    assert.equal(settled, false, `a query waiting on it is not stuck: ${Object.keys(overrides)}`);
    t.stream.close();
  }
  const offline = setup({ options: { network: { isOnline: () => false, subscribe: () => () => {} } } });
  let settled = null;
  void offline.stream.ready.then((positioned) => (settled = positioned));
  offline.stream.reconnect();
  await flush();
  assert.equal(settled, false, "offline: nothing waits for the network");
  offline.stream.close();
});

test("a token refused twice is forgotten: token() and the next attempt ask getToken again", async () => {
  let refuse = true;
  const t = setup({ tokenRefused: () => refuse });
  await flush();
  assert.equal(t.stream.status, "unauthorized");
  const asked = t.tokens();
  refuse = false;
  await t.stream.token();
  assert.equal(t.tokens(), asked + 1, "a new token, not the refused one");
  t.stream.close();
});
