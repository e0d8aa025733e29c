// The stream path that lets an org's hub sleep (issue 8): the front worker holds each SSE
// response and a hibernatable WebSocket to the hub; heartbeats never wake the hub. Each test
// here checks that the wire contract holds across the hub sleeping and waking up.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker, testConfig } from "./support/worker.mjs";
import { token, publish, history, openStream, taskProgress, sleep, countingStream } from "./support/client.mjs";
import { readMetrics } from "./support/metrics.mjs";
import { publishUntilOverflow } from "./support/wait.mjs";

// Local workerd evicts an object whose only open things are hibernatable sockets after ~10 s idle.
const EVICTION_MS = 10_000;
const HEARTBEAT_MS = 1000;
let server;
before(async () => (server = await startWorker({ vars: { HEARTBEAT_INTERVAL_MS: HEARTBEAT_MS, MAX_UNREAD_BYTES: 131072 } })));
after(async () => server?.stop());

const wakeups = async (tok) => (await readMetrics(server.url, tok)).value("orgstream_hub_wakeups_total");
/** Wake-ups of every relay of the org (with ORGSTREAM_TEST_RELAYS, npm test's relay round). */
const relayWakeups = async (tok) => {
  const family = (await readMetrics(server.url, tok)).families.find((f) => f.name === "orgstream_relay_wakeups_total");
  return (family?.metrics ?? []).reduce((sum, m) => sum + Number(m.value), 0);
};
const RELAYS = Number(process.env.ORGSTREAM_TEST_RELAYS ?? 1);

/** Gaps (ms) between a stream's heartbeats, from the moment it opened (its response began). */
function heartbeatGaps(stream) {
  const times = [stream.openedAt, ...stream.heartbeatTimes];
  return times.slice(1).map((t, i) => t - times[i]);
}

/** openStream, plus the arrival time of every heartbeat. */
async function timedStream(url, tok, options) {
  const s = await openStream(url, tok, options);
  // Not before: with relays, a relay admits its streams one at a time (each asks the hub), so
  // 100 streams opened at once wait for each other.
  s.openedAt = Date.now();
  s.heartbeatTimes = [];
  let seen = 0;
  s.waiters.add(() => {
    const beats = s.events.filter((e) => e.event === "heartbeat").length;
    for (; seen < beats; seen++) s.heartbeatTimes.push(Date.now());
  });
  return s;
}

test("100 idle subscribers keep their heartbeats while the hub sleeps; an event after the idle period reaches each exactly once", async () => {
  const t = await token("sleepy-org", "subscribe publish metrics");
  const streams = await Promise.all(Array.from({ length: 100 }, () => timedStream(server.url, t)));
  await Promise.all(streams.map((s) => s.until((x) => x.retry !== null)));
  const before = await wakeups(t);
  assert.ok(before >= 1, "the hub was loaded to accept the streams");
  const relaysBefore = await relayWakeups(t);
  if (RELAYS > 1) assert.ok(relaysBefore >= 1, "relays were loaded to accept the streams");

  await sleep(2 * EVICTION_MS); // nothing but heartbeats for 20 s
  const r = await publish(server.url, t, taskProgress("after-the-nap"));
  assert.equal(r.status, 202);
  await Promise.all(streams.map((s) => s.until((x) => x.data.length === 1, 5000, "the event after the idle period")));
  await sleep(300);

  const after = await wakeups(t);
  assert.ok(after > before, `the hub was evicted while idle and loaded again (wakeups ${before} -> ${after})`);
  if (RELAYS > 1) {
    // Every relay that holds streams slept through the heartbeats too, and woke for the event.
    const relaysAfter = await relayWakeups(t);
    assert.ok(relaysAfter > relaysBefore, `the relays were evicted while idle and loaded again (${relaysBefore} -> ${relaysAfter})`);
  }
  for (const s of streams) {
    assert.deepEqual(s.data.map((e) => e.id), [r.body.ids[0]], "exactly once");
    const gaps = heartbeatGaps(s);
    assert.ok(gaps.length >= 18, `a heartbeat every interval for 20 s (got ${gaps.length})`);
    // Every interval, with room for a busy machine: never two intervals without one.
    assert.ok(Math.max(...gaps) < 2 * HEARTBEAT_MS, `heartbeat gaps ${JSON.stringify(gaps)}`);
  }
  const m = await readMetrics(server.url, t);
  assert.equal(m.value("orgstream_connections_active"), 100);
  for (const s of streams) s.close();
});

test("a subscriber that disconnects is gone from orgstream_connections_active within 2 s, whatever the heartbeat", async (ctx) => {
  // The default heartbeat (15 s): the departure must not wait for the next one.
  const quiet = await startWorker();
  try {
    const t = await token("leaving-org", "subscribe metrics");
    const stay = await openStream(quiet.url, t);
    const leave = await openStream(quiet.url, t);
    await Promise.all([stay.until((x) => x.retry !== null), leave.until((x) => x.retry !== null)]);
    assert.equal((await readMetrics(quiet.url, t)).value("orgstream_connections_active"), 2);

    const left = Date.now();
    leave.close();
    let active = 2;
    while (active !== 1 && Date.now() - left < 5000) {
      await sleep(50);
      active = (await readMetrics(quiet.url, t)).value("orgstream_connections_active");
    }
    const took = Date.now() - left;
    ctx.diagnostic(`noticed after ${took} ms`);
    assert.equal(active, 1, "the departed subscriber is no longer counted");
    assert.ok(took <= 2000, `noticed after ${took} ms`);
    const m = await readMetrics(quiet.url, t);
    assert.equal(m.value("orgstream_connections_total", { action: "disconnect" }), 1);
    assert.ok(!stay.ended, "the other stream carries on");
    stay.close();
  } finally {
    await quiet.stop();
  }
});

test("replacement, targeting, pending versions and overflow work on streams opened before the hub slept", async () => {
  const t = await token("napping-org", "subscribe publish metrics");
  const mine = await openStream(server.url, t, { query: { requestId: "tab-a" } });
  const other = await openStream(server.url, t, { query: { requestId: "tab-b" } });
  const plain = await openStream(server.url, t);
  const slow = await countingStream(server.url, t, { paused: true });
  await Promise.all([mine, other, plain].map((s) => s.until((x) => x.retry !== null)));
  const before = await wakeups(t);

  await sleep(EVICTION_MS + 3000);

  // Targeting: only tab-b's stream gets it.
  const targeted = await publish(server.url, t, { ...taskProgress("for-b"), target: { requestId: "tab-b" } });
  assert.equal(targeted.status, 202);
  assert.ok((await wakeups(t)) > before, "the hub had slept and woke for the publish");
  await other.until((x) => x.data.length === 1, 3000, "the targeted event");

  // Pending versions: the broadcast reaches the old streams; a new stream gets it on connect.
  const put = await fetch(`${server.url}/v1/versions`, {
    method: "PUT",
    headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
    body: JSON.stringify({ version: "9.9.9" }),
  });
  assert.equal(put.status, 200);
  for (const s of [mine, other, plain]) await s.until((x) => x.data.some((e) => e.event === "version.available"), 3000, "the version broadcast");
  const late = await openStream(server.url, t);
  await late.until((x) => x.events.some((e) => e.event === "version.available" && e.id === undefined), 3000, "the pending version on connect");

  // Replacement: a new stream with tab-a's request id ends the one opened before the nap.
  const fresh = await openStream(server.url, t, { query: { requestId: "tab-a" } });
  await mine.until((x) => x.ended, 3000, "the replaced stream to end");
  assert.equal(mine.events.at(-1).event, "stream.replaced");
  await fresh.until((x) => x.retry !== null);

  // Overflow: the reader paused since before the nap is cut off; the others get every event.
  const published = await publishUntilOverflow(server.url, t, { checkEvery: 1 });
  slow.resume();
  const deadline = Date.now() + 30_000;
  while (!slow.ended && Date.now() < deadline) await sleep(50);
  assert.deepEqual(slow.notices, ["stream.overflow"], "the paused reader is told why, last");
  await plain.until((x) => x.data.filter((e) => e.event === "task.failed").length === published, 30_000, "every event on a reading stream");

  assert.deepEqual(
    other.data.filter((e) => e.event === "task.progress").map((e) => JSON.parse(e.data).data.taskId),
    ["for-b"],
  );
  assert.ok(!plain.data.some((e) => e.event === "task.progress"), "the targeted event reached only tab-b");
  const m = await readMetrics(server.url, t);
  assert.equal(m.value("orgstream_connections_total", { action: "replaced" }), 1);
  assert.equal(m.value("orgstream_connections_total", { action: "overflow" }), 1);
  for (const s of [other, plain, late, fresh]) s.close();
});

test("a backlog larger than the client's unread bound arrives whole on reconnect, not as an overflow", async () => {
  // MAX_UNREAD_BYTES is 128 KiB here; 200 events of about 1.1 KB are one replay page of about 220 KB.
  const t = await token("big-page-org", "subscribe publish metrics");
  const error = "x".repeat(1000);
  const events = Array.from({ length: 50 }, (_, i) => ({ type: "task.failed", data: { taskId: `t${i}`, error } }));
  for (let i = 0; i < 4; i++) assert.equal((await publish(server.url, t, { events })).status, 202);
  const s = await openStream(server.url, t, { lastEventId: "0" });
  await s.until((x) => x.data.length === 200, 10_000, "the whole backlog");
  await sleep(300);
  assert.equal(s.ended, false);
  assert.ok(!s.events.some((e) => e.event === "stream.overflow"));
  const m = await readMetrics(server.url, t);
  assert.equal(m.value("orgstream_connections_total", { action: "overflow" }), 0);
  s.close();
});

test("a reconnect 10,000 events behind gets every event once, in order, while publishing goes on", async () => {
  const big = await startWorker({ vars: { HISTORY_MAX_EVENTS: 20000 } });
  try {
    const t = await token("backlog-org");
    const batch = (from) => ({ events: Array.from({ length: 100 }, (_, i) => taskProgress(`b${from + i}`)) });
    for (let i = 0; i < 100; i++) assert.equal((await publish(big.url, t, batch(i * 100))).status, 202);

    const s = await openStream(big.url, t, { lastEventId: "0" });
    // Publish 2,000 more while the replay is running.
    let latest = 10_000;
    for (let i = 0; i < 100; i++) {
      const r = await publish(big.url, t, { events: Array.from({ length: 20 }, (_, j) => taskProgress(`live${i}-${j}`)) });
      latest = Number(r.body.ids.at(-1));
    }
    assert.equal(latest, 12_000);
    await s.until((x) => x.data.length >= latest, 120_000, "every event");
    await sleep(500);
    const ids = s.data.map((e) => Number(e.id));
    assert.equal(ids.length, latest, "no duplicate");
    ids.forEach((id, i) => assert.equal(id, i + 1, "in order, no gap"));
    s.close();
  } finally {
    await big.stop();
  }
});

test("600 subscribers leaving at once do not disturb the streams that come after them", async (ctx) => {
  // A regression test: per-stream timers once ran as futures and broke the worker for every
  // stream after a mass departure.
  const t = await token("crowd-org", "subscribe publish metrics");
  const first = [];
  for (let i = 0; i < 600; i += 100) first.push(...(await Promise.all(Array.from({ length: 100 }, () => openStream(server.url, t)))));
  await Promise.all(first.map((s) => s.until((x) => x.retry !== null, 10_000)));
  for (let i = 0; i < 20; i++) await publish(server.url, t, taskProgress(`first${i}`));
  await Promise.all(first.map((s) => s.until((x) => x.data.length === 20, 20_000, "the first events")));
  for (const s of first) s.close();

  const next = await Promise.all(Array.from({ length: 200 }, () => openStream(server.url, t)));
  await Promise.all(next.map((s) => s.until((x) => x.retry !== null, 10_000)));
  for (let i = 0; i < 10; i++) assert.equal((await publish(server.url, t, taskProgress(`next${i}`))).status, 202);
  await Promise.all(next.map((s) => s.until((x) => x.data.length === 10, 10_000, "every event after the crowd left")));
  await sleep(2 * HEARTBEAT_MS);
  for (const s of next) {
    assert.equal(s.ended, false);
    assert.ok(s.events.some((e) => e.event === "heartbeat"), "heartbeats go on");
  }
  // The crowd's departures reach the hub as each stream's next write fails.
  let active;
  const leftAt = Date.now();
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(250)) {
    active = (await readMetrics(server.url, t)).value("orgstream_connections_active");
    if (active === 200) break;
  }
  ctx.diagnostic(`the crowd's 600 departures were all counted ${Date.now() - leftAt} ms after the check began (active: ${active})`);
  assert.equal(active, 200);
  for (const s of next) s.close();
});

test("a runtime restart ends every open stream; clients resume by id and lose nothing acknowledged", async () => {
  const t = await token("restart-org");
  const streams = await Promise.all(Array.from({ length: 20 }, () => openStream(server.url, t)));
  await Promise.all(streams.map((s) => s.until((x) => x.retry !== null)));
  const acknowledged = [];
  for (let i = 0; i < 10; i++) acknowledged.push(...(await publish(server.url, t, { events: [taskProgress(`a${i}`), taskProgress(`b${i}`)] })).body.ids);
  await Promise.all(streams.map((s) => s.until((x) => x.data.length === 20)));

  const stopped = Date.now();
  server = await server.restart(undefined, { samePort: true });
  await Promise.all(streams.map((s) => s.until((x) => x.ended, 10_000, "the stream to end")));
  const restartMs = Date.now() - stopped;

  for (let i = 0; i < 5; i++) acknowledged.push(...(await publish(server.url, t, taskProgress(`after${i}`))).body.ids);
  const resumed = await Promise.all(streams.map((s) => openStream(server.url, t, { lastEventId: s.data.at(-1).id })));
  for (const [i, s] of resumed.entries()) {
    await s.until((x) => x.data.length === 5, 5000, "the events published after the restart");
    assert.deepEqual([...streams[i].data, ...s.data].map((e) => e.id), acknowledged, "every acknowledged event, once, in order");
  }
  assert.deepEqual((await history(server.url, t, { limit: "1000" })).body.events.map((e) => e.id), acknowledged);
  for (const s of resumed) s.close();
  assert.ok(restartMs < 60_000);
});

test("a deploy (the runtime reloads the worker) ends every open stream promptly; clients resume by id and lose nothing", async (ctx) => {
  const config = testConfig(mkdtempSync(join(tmpdir(), "orgstream-config-")));
  const deployed = await startWorker({ config });
  try {
    const t = await token("deploy-org");
    const streams = await Promise.all(Array.from({ length: 20 }, () => openStream(deployed.url, t)));
    await Promise.all(streams.map((s) => s.until((x) => x.retry !== null)));
    const acknowledged = [];
    for (let i = 0; i < 5; i++) acknowledged.push(...(await publish(deployed.url, t, taskProgress(`before${i}`))).body.ids);
    await Promise.all(streams.map((s) => s.until((x) => x.data.length === 5)));

    // Wrangler reloads the worker when its config changes, as a deploy replaces it.
    const deployedAt = Date.now();
    writeFileSync(config, readFileSync(config, "utf8").replace(/^RETRY_MS = .*$/m, 'RETRY_MS = "1001"'));
    await Promise.all(streams.map((s) => s.until((x) => x.ended, 30_000, "the stream to end after the deploy")));
    ctx.diagnostic(`every stream ended ${Date.now() - deployedAt} ms after the config changed`);

    let resumed;
    for (const deadline = Date.now() + 30_000; ; await sleep(200)) {
      resumed = await openStream(deployed.url, t, { lastEventId: streams[0].data.at(-1).id }).catch(() => null);
      if (resumed?.status === 200 && resumed.response.headers.get("content-type")?.startsWith("text/event-stream")) break;
      assert.ok(Date.now() < deadline, "the new version serves streams");
    }
    await resumed.until((x) => x.retry === 1001, 5000, "the new version's retry hint");
    const rest = await Promise.all(streams.slice(1).map((s) => openStream(deployed.url, t, { lastEventId: s.data.at(-1).id })));
    for (let i = 0; i < 5; i++) acknowledged.push(...(await publish(deployed.url, t, taskProgress(`after${i}`))).body.ids);
    for (const [i, s] of [resumed, ...rest].entries()) {
      await s.until((x) => x.data.length === 5, 5000, "the events published after the deploy");
      assert.deepEqual([...streams[i].data, ...s.data].map((e) => e.id), acknowledged, "every acknowledged event, once, in order");
    }
    for (const s of [resumed, ...rest]) s.close();
  } finally {
    await deployed.stop();
  }
});
