// Tabs sharing one stream (client/src/tabs.ts, stream.ts) with fake Web Locks, Node's own
// BroadcastChannel, a fake EventSource and a fake clock: one tab streams, every tab gets every
// event once, another tab takes over when the leader closes or is frozen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createOrgStream } from "../dist/index.js";
import { FakeClock, FakeLifecycle, FakeLocks, envelope, fakeJwt, fakeNetwork, flush, makeEventSource, settle } from "./support.mjs";

/** One browser: shared locks, EventSource and clock; tabs opened in it share a stream. */
function browser(t, { latestId = null, log = [], slow = { historyMs: 0 } } = {}) {
  const clock = new FakeClock();
  const es = makeEventSource();
  const locks = new FakeLocks();
  const open = [];
  const tab = (name, { org = "acme", sub = "u1", ...options } = {}) => {
    const lifecycle = new FakeLifecycle();
    // A frozen page runs nothing: what is posted to it meanwhile is not heard.
    const state = { frozen: false };
    lifecycle.addEventListener("freeze", () => (state.frozen = true));
    lifecycle.addEventListener("resume", () => (state.frozen = false));
    class Channel extends BroadcastChannel {
      set onmessage(fn) {
        super.onmessage = fn && ((e) => state.frozen || fn(e));
      }
      postMessage(message) {
        if (!state.frozen && !state.hung) super.postMessage(message);
      }
    }
    const delivered = [];
    const statuses = [];
    let tickets = 0;
    const fetch = async (url) => {
      const u = new URL(url);
      if (u.pathname === "/v1/stream/ticket") return { ok: true, json: async () => ({ ticket: `${name}-${++tickets}` }) };
      if (slow.historyMs) await new Promise((r) => setTimeout(r, slow.historyMs));
      const after = u.searchParams.has("after") ? BigInt(u.searchParams.get("after")) : null;
      const events = after === null || u.searchParams.has("type") ? [] : log.filter((e) => BigInt(e.id) > after);
      return { ok: true, json: async () => ({ events, gap: false, hasMore: false, earliestId: null, latestId }) };
    };
    const stream = createOrgStream({
      baseUrl: "http://worker",
      getToken: () => fakeJwt(org, sub),
      onEvent: (e) => delivered.push(e.id),
      EventSource: es.FakeEventSource,
      fetch,
      clock,
      network: fakeNetwork(),
      random: () => 0.5,
      tabs: { locks, BroadcastChannel: Channel, lifecycle },
      ...options,
    });
    stream.subscribe((s) => statuses.push(s));
    const one = { name, stream, delivered, statuses, lifecycle, hang: () => (state.hung = true) };
    open.push(one);
    return one;
  };
  /** The EventSources still open, by the tab that opened them. */
  const streams = () => es.instances.filter((s) => !s.closed).map((s) => s.url.searchParams.get("ticket").split("-")[0]);
  const closeAll = () => open.forEach((x) => x.stream.close());
  t.after(closeAll); // also when an assertion fails: open channels would keep the process alive
  return { clock, es, tab, streams, closeAll };
}

test("five tabs of one org and user hold one stream, and every tab gets every event once, in order", async (t) => {
  const b = browser(t);
  const tabs = ["a", "b", "c", "d", "e"].map((name) => b.tab(name));
  await settle();
  assert.deepEqual(b.streams(), ["a"], "only the first tab streams");
  const source = b.es.latest;
  source.open();
  await settle();
  for (const t of tabs) assert.equal(t.stream.status, "connected", `${t.name} shows the leader's status`);
  for (const id of [1, 2, 3]) source.emit("task.progress", envelope(id));
  source.emit("task.progress", envelope(2)); // a repeat
  await settle();
  for (const t of tabs) assert.deepEqual(t.delivered, ["1", "2", "3"], `${t.name}: each event once, in order`);
  b.closeAll();
});

test("when the leading tab closes another takes over and resumes from the last id it saw", async (t) => {
  const b = browser(t);
  const [a, bb, c] = ["a", "b", "c"].map((name) => b.tab(name));
  await settle();
  b.es.latest.open();
  b.es.latest.emit("task.progress", envelope(7));
  await settle();
  a.stream.close();
  await settle();
  assert.deepEqual(b.streams(), ["b"], "the next tab streams; the closed one does not");
  assert.equal(b.es.latest.url.searchParams.get("lastEventId"), "7", "from the last id the tabs saw");
  b.es.latest.open();
  b.es.latest.emit("task.progress", envelope(8));
  await settle();
  assert.deepEqual(bb.delivered, ["7", "8"]);
  assert.deepEqual(c.delivered, ["7", "8"], "the other tabs keep getting events, none twice");
  assert.deepEqual(a.delivered, ["7"]);
  b.closeAll();
});

test("a leading tab that is frozen steps down, and takes the stream back only when it leads again", async (t) => {
  const b = browser(t);
  const [a, bb] = ["a", "b"].map((name) => b.tab(name));
  await settle();
  b.es.latest.open();
  await settle();
  a.lifecycle.fire("freeze");
  await settle();
  assert.deepEqual(b.streams(), ["b"], "the frozen tab's stream is closed, the other tab streams");
  a.lifecycle.fire("resume");
  await settle();
  assert.deepEqual(b.streams(), ["b"], "the resumed tab follows");
  b.es.latest.open();
  b.es.latest.emit("task.progress", envelope(1));
  await settle();
  assert.deepEqual([a.delivered, bb.delivered], [["1"], ["1"]]);
  b.closeAll();
});

test("the leader's status is every tab's status, and reconnect() in a follower reaches the leader", async (t) => {
  const b = browser(t);
  const [a, bb] = ["a", "b"].map((name) => b.tab(name, { backoff: () => 1000 }));
  await settle();
  const first = b.es.latest;
  first.open();
  await settle();
  first.error();
  await settle();
  assert.equal(bb.stream.status, "reconnecting", "the follower shows the leader's outage");
  bb.stream.reconnect();
  await settle();
  assert.notEqual(b.es.latest, first, "the leader tried again at once");
  assert.deepEqual(b.streams(), ["a"]);
  b.es.latest.open();
  await settle();
  assert.deepEqual([a.stream.status, bb.stream.status], ["connected", "connected"]);
  b.closeAll();
});

test("tabs of another org or user, or with sharing off or a requestId, stream on their own", async (t) => {
  const b = browser(t);
  b.tab("a");
  b.tab("b", { org: "other" });
  b.tab("c", { sub: "u2" });
  b.tab("d", { shareAcrossTabs: false });
  b.tab("e", { requestId: "tab-e" });
  await settle();
  await flush();
  assert.deepEqual(b.streams().sort(), ["a", "b", "c", "d", "e"]);
  b.closeAll();
});

test("without Web Locks or BroadcastChannel each tab streams on its own", async (t) => {
  const b = browser(t);
  b.tab("a", { tabs: null });
  b.tab("b", { tabs: null });
  await settle();
  assert.deepEqual(b.streams().sort(), ["a", "b"]);
  b.closeAll();
});

test("a following tab that was frozen reads what it missed from history when it resumes", async (t) => {
  const log = [];
  const slow = { historyMs: 0 };
  const b = browser(t, { log, slow });
  const [a, bb] = ["a", "b"].map((name) => b.tab(name));
  await settle();
  const source = b.es.latest;
  source.open();
  log.push(JSON.parse(envelope(1)));
  source.emit("task.progress", envelope(1));
  await settle();
  // b is frozen: it does not run, so it hears none of what a relays meanwhile.
  bb.lifecycle.fire("freeze");
  log.push(JSON.parse(envelope(2)), JSON.parse(envelope(3)));
  source.emit("task.progress", envelope(2));
  source.emit("task.progress", envelope(3));
  await settle();
  assert.deepEqual(bb.delivered, ["1"], "missed while frozen");
  slow.historyMs = 40; // history answers after the next relay arrives
  bb.lifecycle.fire("resume");
  // A relay arriving while it reads history waits for the history, so nothing is skipped.
  log.push(JSON.parse(envelope(4)));
  source.emit("task.progress", envelope(4));
  await settle();
  await settle();
  await settle();
  assert.deepEqual(bb.delivered, ["1", "2", "3", "4"], "caught up from history, once each, in order");
  assert.deepEqual(a.delivered, ["1", "2", "3", "4"]);
  assert.deepEqual(b.streams(), ["a"], "still one stream");
  b.closeAll();
});

test("a leading tab that goes silent without a freeze event loses the lead after the silence timeout", async (t) => {
  const b = browser(t);
  const [a, bb] = ["a", "b"].map((name) => b.tab(name, { heartbeatTimeoutMs: 5000 }));
  await settle();
  const first = b.es.latest;
  first.open();
  first.heartbeat();
  await settle();
  assert.deepEqual([a.stream.status, bb.stream.status], ["connected", "connected"]);
  a.hang(); // a keeps the lock but sends nothing more (suspended without notice, hung)
  await b.clock.advance(4000);
  await settle();
  assert.deepEqual(b.streams(), ["a"], "not before the silence timeout");
  await b.clock.advance(1500);
  await settle();
  await settle();
  assert.deepEqual(b.streams(), ["b"], "b took the lead; a, its lock stolen, stopped streaming");
  b.es.latest.open();
  b.es.latest.emit("task.progress", envelope(1));
  await settle();
  assert.deepEqual(bb.delivered, ["1"]);
});

test("while the leader is connected, its heartbeats keep the followers from taking over", async (t) => {
  const b = browser(t);
  b.tab("a", { heartbeatTimeoutMs: 5000 });
  b.tab("b", { heartbeatTimeoutMs: 5000 });
  await settle();
  const source = b.es.latest;
  source.open();
  for (let i = 0; i < 6; i++) {
    source.heartbeat();
    await settle();
    await b.clock.advance(3000);
  }
  assert.deepEqual(b.streams(), ["a"], "18 s of heartbeats every 3 s: still one leader");
});
