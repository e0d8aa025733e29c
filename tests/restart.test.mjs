// The log and the id sequence are durable: they survive stopping and starting the runtime.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support/worker.mjs";
import { token, publish, openStream, taskProgress } from "./support/client.mjs";

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
