// The log and the id sequence are durable: they survive stopping and starting the runtime.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support/worker.mjs";
import { token, publish, openStream, taskProgress } from "./support/client.mjs";
import { untilActive } from "./support/wait.mjs";

let server;
after(async () => server?.stop());

test("events and ids survive a restart of the runtime; a reconnect replays what was missed", async () => {
  server = await startWorker();
  const t = await token("durable-org");
  const s = await openStream(server.url, t);
  await s.until((x) => x.retry !== null);
  await publish(server.url, t, { events: [taskProgress("a"), taskProgress("b")] });
  await s.until((x) => x.data.length === 2);
  const seen = s.data.at(-1).id;
  await publish(server.url, t, taskProgress("unseen"));

  server = await server.restart();

  const again = await openStream(server.url, t, { lastEventId: seen });
  await again.until((x) => x.data.length === 1, 3000, "the event published before the restart");
  assert.equal(again.data[0].id, "3");
  assert.equal(JSON.parse(again.data[0].data).data.taskId, "unseen");

  const r = await publish(server.url, t, taskProgress("after-restart"));
  assert.deepEqual(r.body.ids, ["4"], "the id sequence continues, nothing is reused");
  await again.until((x) => x.data.length === 2);
  assert.equal(again.data[1].id, "4");
  again.close();
});

/** Opens a stream, waiting as a refusal's retry-after says (at most `tries` times). */
async function openWaiting(url, tok, tries) {
  for (let i = 1; ; i++) {
    const s = await openStream(url, tok);
    if (s.status !== 429 || i === tries) return { stream: s, tries: i };
    await new Promise((r) => setTimeout(r, Number(s.response.headers.get("retry-after")) * 1000));
  }
}

test("streams a restart dropped stop counting against the stream limits, even while the org is quiet", async () => {
  // With relays (ORGSTREAM_TEST_RELAYS), the hub keeps a row per relayed stream; the relays the
  // runtime restarted cannot say their streams ended. A refused connect has the hub ask them.
  let limited = await startWorker({ vars: { MAX_STREAMS_PER_SUB: "2" } });
  try {
    const t = await token("quiet-org", "subscribe", { claims: { sub: "ann" } });
    const dropped = [await openStream(limited.url, t), await openStream(limited.url, t)];
    await Promise.all(dropped.map((s) => s.until((x) => x.retry !== null)));
    limited = await limited.restart();
    for (const s of dropped) s.close();
    // Nothing is published: only the connects themselves can make the hub count again.
    const opened = [await openWaiting(limited.url, t, 3), await openWaiting(limited.url, t, 3)];
    for (const { stream, tries } of opened) {
      assert.equal(stream.status, 200, `a stream opens within ${tries} tries (${JSON.stringify(stream.body ?? null)})`);
      stream.close();
    }
  } finally {
    await limited.stop();
  }
});

test("a stream resuming after a restart, when the org had no open stream, gets what it missed", async () => {
  // With relays, the hub woke with no relay linked: it must still know where its log is.
  let quiet = await startWorker();
  try {
    const t = await token("left-org", "subscribe publish metrics");
    const s = await openStream(quiet.url, t);
    await publish(quiet.url, t, { events: [taskProgress("a"), taskProgress("b")] });
    await s.until((x) => x.data.length === 2);
    s.close();
    await untilActive(quiet.url, t, 0);
    await publish(quiet.url, t, { events: [taskProgress("c"), taskProgress("d")] });
    quiet = await quiet.restart();
    const again = await openStream(quiet.url, t, { lastEventId: "2" });
    await again.until((x) => x.data.length === 2, 5000, "the two events published while no stream was open");
    assert.deepEqual(again.data.map((e) => e.id), ["3", "4"]);
    await publish(quiet.url, t, taskProgress("e"));
    await again.until((x) => x.data.length === 3, 5000, "the next event, live");
    assert.deepEqual(again.data.map((e) => e.id), ["3", "4", "5"]);
    again.close();
  } finally {
    await quiet.stop();
  }
});
