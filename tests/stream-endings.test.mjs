// How streams live and end against the running worker: task events never close a stream, a slow
// reader is cut off with stream.overflow while the others receive everything, old connections
// are closed politely, and the metrics follow what the hub does.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDirect, startWorker } from "./support/worker.mjs";
import { token, publish, openStream, taskProgress, sleep, countingStream } from "./support/client.mjs";
import { readMetrics } from "./support/metrics.mjs";
import { publishUntilOverflow } from "./support/wait.mjs";

let server;
before(async () => (server = await startWorker({ vars: { HEARTBEAT_INTERVAL_MS: 300, MAX_UNREAD_BYTES: 131072 } })));
after(async () => server?.stop());

test("task events flow like any event and completing a task never closes the connection", async () => {
  const t = await token("task-org");
  const s = await openStream(server.url, t);
  await s.until((x) => x.retry !== null);
  await publish(server.url, t, {
    events: [
      taskProgress("job", 0.5),
      { type: "task.completed", data: { taskId: "job", result: { rows: 3 } } },
      { type: "task.failed", data: { taskId: "job-2", error: "boom" } },
    ],
  });
  await s.until((x) => x.data.length === 3);
  await sleep(700);
  assert.equal(s.ended, false);
  await publish(server.url, t, taskProgress("after-completion"));
  await s.until((x) => x.data.length === 4, 3000, "an event after task.completed");
  assert.ok(s.events.some((e) => e.event === "heartbeat"));
  s.close();
});

test("a client that stops reading is cut off with stream.overflow while 50 others receive every event", async () => {
  // In workerd directly: wrangler dev's proxy may read a stream as fast as it is written whatever
  // its client does (then nothing is ever unread, and nothing overflows).
  const direct = await startDirect({ vars: { HEARTBEAT_INTERVAL_MS: "300", MAX_UNREAD_BYTES: "131072" } });
  try {
    const t = await token("slow-org", "subscribe publish metrics");
    const slow = await countingStream(direct.url, t);
    slow.paused = true;
    const readers = await Promise.all(Array.from({ length: 50 }, () => countingStream(direct.url, t)));

    const published = await publishUntilOverflow(direct.url, t);
    const m = await readMetrics(direct.url, t);
    assert.equal(m.value("orgstream_connections_total", { action: "overflow" }), 1, `overflowed after ${published} events`);
    assert.equal(m.value("orgstream_connections_active"), 50);

    const deadline = Date.now() + 180_000;
    while (readers.some((c) => c.events < published) && Date.now() < deadline) await sleep(100);
    assert.deepEqual([...new Set(readers.map((c) => c.events))], [published], "every reader got every event");

    slow.resume();
    while (!slow.ended && Date.now() < deadline) await sleep(100);
    assert.ok(slow.ended, "the slow client's stream ends");
    assert.deepEqual(slow.notices, ["stream.overflow"], "and it is told why, last");
    assert.ok(slow.events < published, `it got ${slow.events} of ${published} events, then was cut off`);
    for (const c of readers) c.close();
  } finally {
    await direct.stop();
  }
});

test("connections older than MAX_CONNECTION_AGE_SECONDS are closed politely", async () => {
  const short = await startWorker({ vars: { HEARTBEAT_INTERVAL_MS: 200, MAX_CONNECTION_AGE_SECONDS: 1 } });
  try {
    const t = await token("age-org", "subscribe metrics");
    const s = await openStream(short.url, t);
    await s.until((x) => x.ended, 4000, "the stream to be closed");
    assert.ok(!s.events.some((e) => e.event.startsWith("stream.")), "no error frame, just the end");
    const m = await readMetrics(short.url, t);
    assert.equal(m.value("orgstream_connections_total", { action: "expired" }), 1);
    assert.equal(m.value("orgstream_connections_active"), 0);
  } finally {
    await short.stop();
  }
});

test("metrics parse as Prometheus text and move as the hub works", async () => {
  const t = await token("metrics-org", "subscribe publish metrics");
  const before = await readMetrics(server.url, t);
  for (const name of [
    "orgstream_connections_active", "orgstream_connections_total", "orgstream_events_published_total",
    "orgstream_frames_sent_total", "orgstream_send_duration_seconds", "orgstream_replayed_events_total",
    "orgstream_stream_resets_total", "orgstream_history_events",
  ]) {
    assert.ok(before.families.some((f) => f.name === name), `${name} is exposed`);
  }
  assert.equal(before.families.find((f) => f.name === "orgstream_send_duration_seconds").type, "HISTOGRAM");

  const s = await openStream(server.url, t);
  await s.until((x) => x.retry !== null);
  await publish(server.url, t, { events: [taskProgress("a"), taskProgress("b"), { type: "task.failed", data: { taskId: "c", error: "x" } }] });
  await s.until((x) => x.data.length === 3);
  const replay = await openStream(server.url, t, { lastEventId: "1" });
  await replay.until((x) => x.data.length === 2);
  const reset = await openStream(server.url, t, { lastEventId: "999" });
  await reset.until((x) => x.events.some((e) => e.event === "stream.reset"));
  s.close();
  await sleep(1000); // a closed stream is noticed when its body is dropped, or at the next heartbeat

  const m = await readMetrics(server.url, t);
  assert.equal(m.value("orgstream_events_published_total", { type: "task.progress" }), 2);
  assert.equal(m.value("orgstream_events_published_total", { type: "task.failed" }), 1);
  assert.equal(m.value("orgstream_connections_total", { action: "connect" }), 3);
  assert.equal(m.value("orgstream_connections_total", { action: "disconnect" }), 1, "the closed stream was noticed");
  assert.equal(m.value("orgstream_connections_active"), 2);
  assert.equal(m.value("orgstream_replayed_events_total"), 2);
  assert.equal(m.value("orgstream_stream_resets_total"), 1);
  assert.equal(m.value("orgstream_history_events"), 3);
  assert.equal(m.value("orgstream_send_duration_seconds"), 1, "one fan-out recorded");
  assert.ok(m.value("orgstream_frames_sent_total") >= 3);
  replay.close();
  reset.close();
});
