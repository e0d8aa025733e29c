// Streams whose browser went away are let go: the front worker notices (the request's abort
// signal, or a write that fails at the next heartbeat or probe), closes its socket to the hub, and
// the hub stops counting it, so the org's open streams do not grow without bound.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support/worker.mjs";
import { token, openStream, publish, taskProgress, sleep } from "./support/client.mjs";

const HEARTBEAT_MS = 300;
let server;
before(async () => (server = await startWorker({ vars: { HEARTBEAT_INTERVAL_MS: HEARTBEAT_MS } })));
after(async () => server?.stop());

async function activeConnections(tok) {
  const r = await fetch(`${server.url}/v1/metrics`, { headers: { authorization: `Bearer ${tok}` } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^text\/plain/);
  const m = (await r.text()).match(/^orgstream_connections_active (\d+)$/m);
  assert.ok(m, "the gauge is present");
  return Number(m[1]);
}

test("streams whose clients left are dropped at the next heartbeat; the others keep receiving", async () => {
  const t = await token("dead-org", "subscribe publish metrics");
  const streams = [];
  for (let i = 0; i < 20; i++) streams.push(await openStream(server.url, t));
  assert.equal(await activeConnections(t), 20);

  for (const s of streams.slice(0, 15)) s.close();
  await sleep(HEARTBEAT_MS * 3);
  assert.equal(await activeConnections(t), 5);

  await publish(server.url, t, taskProgress("still-here"));
  for (const s of streams.slice(15)) {
    await s.until((x) => x.data.length === 1, 3000, "the event");
  }
  for (const s of streams.slice(15)) s.close();
  await sleep(HEARTBEAT_MS * 3);
  assert.equal(await activeConnections(t), 0);
});

test("metrics need the metrics scope and a bearer token", async () => {
  const noScope = await token("dead-org", "subscribe");
  const r = await fetch(`${server.url}/v1/metrics`, { headers: { authorization: `Bearer ${noScope}` } });
  assert.equal(r.status, 403);
  const r2 = await fetch(`${server.url}/v1/metrics?token=${await token("dead-org", "metrics")}`);
  assert.equal(r2.status, 401);
});
