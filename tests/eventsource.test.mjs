// A real EventSource implementation (npm `eventsource`, which follows the WHATWG spec) reads our
// frames the way browsers do, including its own reconnect with Last-Event-ID.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { EventSource } from "eventsource";
import { startWorker } from "./support/worker.mjs";
import { token, publish, taskProgress, sleep } from "./support/client.mjs";

let server;
after(async () => server?.stop());

function waitFor(pred, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

test("EventSource gets typed events with lastEventId, sees heartbeats, and resumes after a server restart", async () => {
  server = await startWorker({ vars: { HEARTBEAT_INTERVAL_MS: 300, RETRY_MS: 200 } });
  const t = await token("es-org");
  const received = [];
  const heartbeats = [];
  const url = `${server.url}/v1/stream?token=${t}`;
  // Follows the server across the restart (new port) the way a browser would follow one origin.
  const es = new EventSource(url, { fetch: (_input, init) => fetch(`${server.url}/v1/stream?token=${t}`, init) });
  try {
    await exercise(es, t, received, heartbeats);
  } finally {
    es.close();
  }
});

async function exercise(es, t, received, heartbeats) {
  for (const type of ["task.progress", "task.completed"]) {
    es.addEventListener(type, (e) => received.push({ type: e.type, lastEventId: e.lastEventId, envelope: JSON.parse(e.data) }));
  }
  es.addEventListener("heartbeat", (e) => heartbeats.push(e));
  await new Promise((resolve, reject) => {
    es.onopen = resolve;
    es.onerror = reject;
  });
  es.onerror = null;

  await publish(server.url, t, taskProgress("one"));
  await publish(server.url, t, { type: "task.completed", data: { taskId: "one", result: { lines: "a\nb" } } });
  await waitFor(() => received.length === 2, 3000, "two events");
  assert.deepEqual(received.map((r) => [r.type, r.lastEventId, r.envelope.id]), [
    ["task.progress", "1", "1"],
    ["task.completed", "2", "2"],
  ]);
  assert.equal(received[1].envelope.data.result.lines, "a\nb");
  const before = heartbeats.length;
  await waitFor(() => heartbeats.length >= before + 2, 3000, "heartbeats");
  // Heartbeats have no id, so they must not move the id EventSource sends on reconnect; the
  // reconnect below would replay 1 and 2 again (or miss 3) if they did.

  // Stop the server, publish while the client is away, and let EventSource reconnect by itself.
  server = await server.restart();
  await publish(server.url, t, taskProgress("while-away"));
  await waitFor(() => received.length === 3, 10_000, "the event published while away");
  await publish(server.url, t, taskProgress("live-again"));
  await waitFor(() => received.length === 4, 3000, "a live event after reconnecting");
  await sleep(300);
  assert.deepEqual(received.map((r) => r.envelope.id), ["1", "2", "3", "4"], "every event exactly once, in order");
  assert.deepEqual(received.slice(2).map((r) => r.envelope.data.taskId), ["while-away", "live-again"]);
}
