// Contract 3 and 4.1 against the running worker: the stream, heartbeats, org isolation, the
// envelope of every catalog type, and replay on reconnect.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startWorker } from "./support/worker.mjs";
import { token, publish, history, openStream, subscriberTokens, taskProgress, sleep } from "./support/client.mjs";
import { readMetrics } from "./support/metrics.mjs";

const HEARTBEAT_MS = 400;
const catalog = JSON.parse(readFileSync(new URL("./fixtures/valid-events.json", import.meta.url)));

let server;
before(async () => (server = await startWorker({ vars: { HEARTBEAT_INTERVAL_MS: HEARTBEAT_MS, RETRY_MS: 1500 } })));
after(async () => server?.stop());

test("the stream starts at once with SSE headers, retry and a comment", async () => {
  const s = await openStream(server.url, await token("start-org"));
  assert.equal(s.status, 200);
  assert.equal(s.response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assert.equal(s.response.headers.get("cache-control"), "no-store, no-transform");
  assert.equal(s.response.headers.get("x-accel-buffering"), "no");
  await s.until((x) => x.retry !== null && x.comments.length > 0, 2000, "retry and a comment");
  assert.equal(s.retry, 1500);
  assert.ok(s.raw.startsWith("retry: 1500\n"));
  s.close();
});

test("heartbeats arrive at the configured interval, as a comment and an event without id", async () => {
  const s = await openStream(server.url, await token("hb-org"));
  const started = Date.now();
  await s.until((x) => x.events.filter((e) => e.event === "heartbeat").length >= 4, 10 * HEARTBEAT_MS, "4 heartbeats");
  const elapsed = Date.now() - started;
  const beats = s.events.filter((e) => e.event === "heartbeat");
  // Four beats need at least three full intervals, and should not need many more than four.
  assert.ok(elapsed >= 3 * HEARTBEAT_MS - 50, `4 heartbeats came too fast: ${elapsed} ms`);
  assert.ok(elapsed < 8 * HEARTBEAT_MS, `4 heartbeats took ${elapsed} ms`);
  for (const b of beats) {
    assert.equal(b.id, undefined, "a heartbeat has no id");
    assert.match(JSON.parse(b.data).ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  assert.ok(s.comments.filter((c) => c.trim() === "heartbeat").length >= 4, "a :heartbeat comment with every beat");
  s.close();
});

test("every connection of an org gets heartbeats, and orgs never see each other's events", async () => {
  const [a1, a2, b] = await Promise.all([
    openStream(server.url, await token("iso-a")),
    openStream(server.url, await token("iso-a")),
    openStream(server.url, await token("iso-b")),
  ]);
  const ta = await token("iso-a");
  const tb = await token("iso-b");
  assert.equal((await publish(server.url, ta, taskProgress("only-a"))).status, 202);
  assert.equal((await publish(server.url, tb, taskProgress("only-b"))).status, 202);
  for (const s of [a1, a2, b]) await s.until((x) => x.data.length >= 1, 3000, "an event");
  await sleep(HEARTBEAT_MS * 2.5);
  for (const s of [a1, a2]) {
    assert.deepEqual(s.data.map((e) => JSON.parse(e.data).data.taskId), ["only-a"]);
    assert.ok(s.events.some((e) => e.event === "heartbeat"));
  }
  assert.deepEqual(b.data.map((e) => JSON.parse(e.data).data.taskId), ["only-b"]);
  // Each org has its own id sequence.
  assert.equal(a1.data[0].id, "1");
  assert.equal(b.data[0].id, "1");
  for (const s of [a1, a2, b]) s.close();
});

test("every catalog type round-trips publish -> stream -> history with the documented envelope", async () => {
  const t = await token("roundtrip-org");
  const s = await openStream(server.url, t);
  await s.until((x) => x.retry !== null);
  const ids = [];
  for (const event of catalog) {
    const r = await publish(server.url, t, event);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    ids.push(...r.body.ids);
  }
  assert.deepEqual(ids, catalog.map((_, i) => String(i + 1)));
  await s.until((x) => x.data.length === catalog.length, 5000, "all catalog events");
  const page = await history(server.url, t);
  catalog.forEach((sent, i) => {
    const frame = s.data[i];
    assert.equal(frame.id, ids[i]);
    assert.equal(frame.event, sent.type);
    assert.ok(!frame.data.includes("\n"), "data is one line");
    const envelope = JSON.parse(frame.data);
    assert.deepEqual(Object.keys(envelope).sort(), ["data", "id", "ts", "type"]);
    assert.equal(envelope.id, ids[i]);
    assert.equal(envelope.type, sent.type);
    assert.match(envelope.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(envelope.data, sent.data);
    assert.deepEqual(page.body.events[i], envelope, "history returns the same envelope");
  });
  s.close();
});

test("reconnecting with Last-Event-ID gets exactly the missed events, then live", async () => {
  const t = await token("replay-org");
  const first = await openStream(server.url, t);
  await first.until((x) => x.retry !== null);
  for (let i = 1; i <= 3; i++) await publish(server.url, t, taskProgress(`before-${i}`));
  await first.until((x) => x.data.length === 3);
  const lastSeen = first.data.at(-1).id;
  first.close();

  for (let i = 1; i <= 4; i++) await publish(server.url, t, taskProgress(`missed-${i}`));
  const again = await openStream(server.url, t, { lastEventId: lastSeen });
  await again.until((x) => x.data.length === 4, 3000, "the 4 missed events");
  await publish(server.url, t, taskProgress("live"));
  await again.until((x) => x.data.length === 5, 3000, "the live event");
  assert.deepEqual(again.data.map((e) => e.id), ["4", "5", "6", "7", "8"]);
  assert.deepEqual(
    again.data.map((e) => JSON.parse(e.data).data.taskId),
    ["missed-1", "missed-2", "missed-3", "missed-4", "live"],
  );
  again.close();
});

test("lastEventId in the query works, and the Last-Event-ID header wins over it", async () => {
  const t = await token("query-id-org");
  for (let i = 1; i <= 5; i++) await publish(server.url, t, taskProgress(`e${i}`));
  const viaQuery = await openStream(server.url, t, { query: { lastEventId: "3" } });
  await viaQuery.until((x) => x.data.length === 2);
  assert.deepEqual(viaQuery.data.map((e) => e.id), ["4", "5"]);
  const both = await openStream(server.url, t, { query: { lastEventId: "1" }, lastEventId: "4" });
  await both.until((x) => x.data.length === 1);
  await sleep(200);
  assert.deepEqual(both.data.map((e) => e.id), ["5"]);
  const emptyHeader = await openStream(server.url, t, { query: { lastEventId: "4" }, lastEventId: "" });
  await emptyHeader.until((x) => x.data.length === 1);
  await sleep(200);
  assert.deepEqual(emptyHeader.data.map((e) => e.id), ["5"], "an empty Last-Event-ID header counts as none");
  viaQuery.close();
  both.close();
  emptyHeader.close();
});

test("the seam between replay and live has no gap and no duplicate under concurrent publishing", async () => {
  const t = await token("seam-org");
  for (let i = 1; i <= 20; i++) await publish(server.url, t, taskProgress(`pre-${i}`));
  let publishing = true;
  let published = 20;
  const publisher = (async () => {
    while (publishing) {
      const r = await publish(server.url, t, { events: [taskProgress("a"), taskProgress("b")] });
      assert.equal(r.status, 202);
      published += 2;
    }
  })();
  const streams = [];
  for (let k = 0; k < 5; k++) {
    streams.push(await openStream(server.url, t, { lastEventId: String(3 * k) }));
    await sleep(30);
  }
  await sleep(300);
  publishing = false;
  await publisher;
  for (const [k, s] of streams.entries()) {
    await s.until((x) => x.data.length === published - 3 * k, 5000, `events ${3 * k + 1}..${published}`);
    const ids = s.data.map((e) => Number(e.id));
    const want = Array.from({ length: published - 3 * k }, (_, i) => 3 * k + 1 + i);
    assert.deepEqual(ids, want);
    s.close();
  }
});

test("an id greater than the latest, or not a number, gets stream.reset(unknown_id), then live", async () => {
  const t = await token("unknown-id-org");
  await publish(server.url, t, taskProgress("one"));
  for (const bad of ["99", "abc", "-1", "1.5"]) {
    const s = await openStream(server.url, t, { lastEventId: bad });
    await s.until((x) => x.events.some((e) => e.event === "stream.reset"), 2000, `reset for ${bad}`);
    const reset = s.events.find((e) => e.event === "stream.reset");
    assert.equal(reset.id, undefined, "stream.reset has no id");
    assert.deepEqual(JSON.parse(reset.data), { reason: "unknown_id", earliestId: "1", latestId: "1" });
    s.close();
  }
  const s = await openStream(server.url, t, { lastEventId: "99" });
  await s.until((x) => x.events.some((e) => e.event === "stream.reset"));
  await publish(server.url, t, taskProgress("after-reset"));
  await s.until((x) => x.data.some((e) => e.event === "task.progress"), 2000, "the live event");
  assert.equal(s.data.find((e) => e.event === "task.progress").id, "2");
  s.close();
});

test("requestId must be well-formed", async () => {
  const s = await openStream(server.url, await token("rid-org"), { query: { requestId: "bad id!" } });
  assert.equal(s.status, 400);
  assert.equal(s.body.error.code, "bad_request");
});

test("one publisher sending event after event to 500 subjects' streams: what it publishes while the hub fans out goes out together, each event once and in order", async (ctx) => {
  // The hub sends a fan-out to many streams a slice per turn when it is busy (docs/scale.md), so
  // a publish arriving meanwhile is answered between two slices and its event joins the next
  // fan-out. Before, a lone publisher's next event always came after the whole fan-out.
  const relays = Number(process.env.ORGSTREAM_TEST_RELAYS ?? 1);
  const org = "busy-org";
  const publisher = await token(org, "publish metrics");
  const streams = [];
  for (let i = 0; i < 500; i += 50) {
    const tokens = await subscriberTokens(org, 50, i);
    streams.push(...(await Promise.all(tokens.map((t) => openStream(server.url, t)))));
  }
  await Promise.all(streams.map((s) => s.until((x) => x.retry !== null, 30_000, "the stream's first frame")));
  const fanOuts = async () => (await readMetrics(server.url, publisher)).value("orgstream_send_duration_seconds");
  const before = await fanOuts();
  const EVENTS = 100;
  const ids = [];
  for (let i = 0; i < EVENTS; i++) {
    const r = await publish(server.url, publisher, taskProgress(`e${i}`));
    assert.equal(r.status, 202);
    ids.push(Number(r.body.ids[0]));
  }
  await Promise.all(streams.map((s) => s.until((x) => x.data.length === EVENTS, 60_000, "every event")));
  for (const s of streams) {
    assert.deepEqual(s.events.filter((e) => e.id).map((e) => Number(e.id)), ids, "each event once, in order");
    s.close();
  }
  const sent = (await fanOuts()) - before;
  ctx.diagnostic(`${EVENTS} events, one per request, one request at a time, went out in ${sent} fan-outs`);
  // With relays the hub hands events on, and each relay takes what came since its last hand-off.
  if (relays === 1) assert.ok(sent < EVENTS, `some events shared a fan-out: ${sent} fan-outs for ${EVENTS} events`);
});
