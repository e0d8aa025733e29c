// Waiting with a deadline, and the publishing loop that overflows a paused reader: shared by the
// test files that need them (each wrote its own loop before).
import assert from "node:assert/strict";
import { publish, sleep } from "./client.mjs";
import { readMetrics } from "./metrics.mjs";

/**
 * Polls `read()` every `every` ms until `done(value)`, then returns the value; after `ms`, fails
 * with `what` and the last value read.
 */
export async function waitFor(read, done, { ms = 10_000, every = 100, what = "the condition" } = {}) {
  let value;
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(every)) {
    value = await read();
    if (done(value)) return value;
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
}

/** Waits until the org of `tok` (a metrics token) counts `n` open streams. */
export function untilActive(url, tok, n, { ms = 10_000 } = {}) {
  const read = async () => (await readMetrics(url, tok)).value("orgstream_connections_active");
  return waitFor(read, (active) => active === n, { ms, what: `${n} open streams in the hub's count` });
}

/**
 * Publishes batches of 40 `task.failed` events of about 600 bytes to the org of `tok` until its
 * metrics count a stream overflow (a reader that stopped reading was cut off; the runtime and the
 * kernel buffer some megabytes first), checking every `checkEvery` batches. Returns the events
 * published.
 */
export async function publishUntilOverflow(url, tok, { checkEvery = 10, maxBatches = 600 } = {}) {
  const error = "e".repeat(600);
  let published = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const events = Array.from({ length: 40 }, (_, i) => ({ type: "task.failed", data: { taskId: `r${batch}-${i}`, error } }));
    assert.equal((await publish(url, tok, { events })).status, 202);
    published += 40;
    if (batch % checkEvery === checkEvery - 1 && (await readMetrics(url, tok)).value("orgstream_connections_total", { action: "overflow" }) >= 1) break;
  }
  return published;
}
