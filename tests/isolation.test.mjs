// No input stalls another org, and every stream obeys every limit however it is fed
// (docs/security.md, "Limits" and "What one org cannot do to another"): a hostile `sub`, streams
// that catch up page by page, request ids, and pending versions for one subject.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDirect, startWorker } from "./support/worker.mjs";
import { token, publish, history, openStream, taskProgress, sleep } from "./support/client.mjs";
import { readMetrics } from "./support/metrics.mjs";
import { untilActive } from "./support/wait.mjs";

let server;
before(async () => (server = await startWorker({ vars: { MAX_STREAMS_PER_SUB: "16" } })));
after(() => server?.stop());

const as = (org, sub, scope = "subscribe", options = {}) => token(org, scope, { ...options, claims: { sub } });

/** A stream that never reads: its response is held, its body left alone. */
async function unread(tok, { lastEventId = "0", query = {}, url = server.url } = {}) {
  const controller = new AbortController();
  const q = new URLSearchParams({ token: tok, ...query });
  const response = await fetch(`${url}/v1/stream?${q}`, {
    headers: { "last-event-id": lastEventId },
    signal: AbortSignal.any([controller.signal, AbortSignal.timeout(15_000)]),
  });
  return { response, close: () => controller.abort() };
}

/** Publishes `n` events of about 60 KB each (task.completed with a long result). */
async function backlog(org, n, tag, url = server.url) {
  const publisher = await as(org, "publisher", "publish metrics");
  const result = "x".repeat(60_000);
  for (let i = 0; i < n; i++) {
    const r = await publish(url, publisher, { type: "task.completed", data: { taskId: `${tag}-${i}`, result } });
    assert.equal(r.status, 202);
  }
  return publisher;
}

test("a token whose sub is 64 emoji streams like any other, and another org's stream never stalls", async () => {
  const calm = await as("calm-org", "calm-user", "subscribe publish");
  const watched = await openStream(server.url, calm);
  await watched.until((x) => x.retry !== null);
  const delivered = async (taskId) => {
    assert.equal((await publish(server.url, calm, taskProgress(taskId))).status, 202);
    await watched.until((x) => x.data.some((e) => JSON.parse(e.data).data.taskId === taskId), 3000, `${taskId} on the calm org's stream`);
  };
  await delivered("before");

  // 64 emoji: 256 bytes of UTF-8, the longest sub there is. Tagged as it was, it made the runtime
  // refuse the socket's tag, and workers-rs panicked: every stream of the isolate stalled.
  const longest = "\u{1F600}".repeat(64);
  const hostile = await as("hostile-org", longest, "subscribe publish");
  // Within 10 s: the panic left the request unanswered for good.
  const s = await Promise.race([
    openStream(server.url, hostile, { query: { requestId: "tab-1" } }),
    sleep(10_000).then(() => assert.fail("no answer to a stream with a 256-byte sub within 10 s")),
  ]);
  assert.equal(s.status, 200, "a sub of 256 bytes opens a stream");
  await s.until((x) => x.retry !== null, 5000, "its opening");
  await delivered("after");
  assert.equal((await publish(server.url, hostile, taskProgress("hostile's own"))).status, 202);
  await s.until((x) => x.data.length === 1, 3000, "its own org's event");
  const again = await openStream(server.url, hostile, { query: { requestId: "tab-1" } });
  assert.equal(again.status, 200, "and replaces its own stream");
  await s.until((x) => x.ended, 5000, "the replaced stream's end");

  const tooLong = await openStream(server.url, await as("hostile-org", `${longest}x`));
  assert.equal(tooLong.status, 401);
  assert.match(tooLong.body.error.message, /sub must be 1 to 128 characters and at most 256 bytes of UTF-8/);
  await delivered("at the end");
  assert.equal(watched.ended, false);
  for (const x of [watched, again]) x.close();
});

test("streams still catching up count against MAX_STREAMS_PER_SUB from their first page", async () => {
  const org = "paging-limits";
  const publisher = await backlog(org, 200, "b"); // about 12 MB: many pages behind
  const pager = await as(org, "pager");
  const opened = [];
  const refused = [];
  for (let i = 0; i < 24; i++) {
    const s = await unread(pager);
    (s.response.status === 200 ? opened : refused).push(s);
  }
  assert.equal(opened.length, 16, "16 streams open, none of them reading");
  assert.deepEqual(refused.map((s) => s.response.status), Array(8).fill(429));
  const body = await refused[0].response.json();
  assert.match(body.error.message, /open streams for this token's subject \(16; at most 16, MAX_STREAMS_PER_SUB\)/);
  assert.equal((await readMetrics(server.url, publisher)).value("orgstream_connections_active"), 16, "the hub counts them");
  const other = await unread(await as(org, "someone-else"), { lastEventId: "" });
  assert.equal(other.response.status, 200, "another subject has its own room");
  for (const s of [...opened, other]) s.close();
});

test("a stream catching up ends when its token does, and gets nothing published after", async (t) => {
  // In workerd directly: wrangler dev's proxy reads a stream as fast as the worker writes it,
  // whatever its client does, so there a client that does not read still gets every page.
  const direct = await startDirect();
  try {
    const org = "paging-expiry";
    const publisher = await backlog(org, 200, "e", direct.url); // about 12 MB: many pages behind
    // Expired 56 s ago: valid for about 4 s more (60 s of skew).
    const tok = await as(org, "late", "subscribe", { exp: Math.floor(Date.now() / 1000) - 56 });
    const s = await unread(tok, { url: direct.url });
    assert.equal(s.response.status, 200);
    await sleep(6000);
    assert.equal((await publish(direct.url, publisher, taskProgress("after-expiry"))).status, 202);
    const text = await s.response.text(); // reads to the end
    const events = text.split("\n\n").filter((f) => f.includes("event: "));
    assert.match(events.at(-1), /^event: stream\.expired/m, "told why, last");
    assert.ok(!text.includes("after-expiry"), "nothing published after the token expired");
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].length;
    t.diagnostic(`${ids} of 200 events before the token expired`);
    assert.ok(ids < 200, `only what it was sent before it expired, still catching up (${ids} of 200 events)`);
  } finally {
    await direct.stop();
  }
});

test("a subject keeps at most MAX_REQUEST_IDS_PER_SUB request ids: a new one takes the place of its least recently used", async () => {
  const org = "request-ids";
  const greedy = await as(org, "greedy");
  const statuses = [];
  for (let i = 0; i < 400; i++) statuses.push((await history(server.url, greedy, { requestId: `id-${i}` })).status);
  assert.deepEqual([...new Set(statuses)], [200], "a day of page loads never locks a user out");
  const other = await as(org, "other");
  assert.equal((await history(server.url, other, { requestId: "id-0" })).status, 200, "id-0 was forgotten: the table keeps 64 of greedy's");
  assert.equal((await history(server.url, other, { requestId: "id-399" })).status, 403, "its 64 newest are still its own");
  assert.equal((await history(server.url, greedy, { requestId: "id-399" })).status, 200);
});

test("a subject whose every request id holds an open stream gets 429 for a new one, until a stream closes", async () => {
  const small = await startWorker({ vars: { MAX_REQUEST_IDS_PER_SUB: "2" } });
  try {
    const org = "request-ids-in-use";
    const tok = await as(org, "busy");
    const metrics = await as(org, "ops", "metrics");
    const [a, b] = [await openStream(small.url, tok, { query: { requestId: "a" } }), await openStream(small.url, tok, { query: { requestId: "b" } })];
    assert.deepEqual([a.status, b.status], [200, 200]);
    const c = await openStream(small.url, tok, { query: { requestId: "c" } });
    assert.equal(c.status, 429);
    assert.match(c.body.error.message, /request ids of this token's subject \(2, each with an open stream; at most 2, MAX_REQUEST_IDS_PER_SUB\): close a stream, or reuse its requestId/);
    assert.equal((await history(small.url, tok, { requestId: "b" })).status, 200, "its own ids keep working");
    a.close();
    await untilActive(small.url, metrics, 1);
    const again = await openStream(small.url, tok, { query: { requestId: "c" } });
    assert.equal(again.status, 200, "the closed stream's id made room");
    assert.equal((await history(small.url, await as(org, "someone"), { requestId: "a" })).status, 200, "and is nobody's now");
    for (const s of [b, again]) s.close();
  } finally {
    await small.stop();
  }
});

test("a pending version for a subject reaches only that subject", async () => {
  const org = "versions-by-sub";
  const publisher = await as(org, "publisher", "publish");
  const [ann, bob] = await Promise.all([as(org, "ann"), as(org, "bob")]);
  const put = (target) =>
    fetch(`${server.url}/v1/versions`, {
      method: "PUT",
      headers: { authorization: `Bearer ${publisher}`, "content-type": "application/json" },
      body: JSON.stringify({ version: `for-${target.sub}-on-${target.requestId}`, changelog: "secret notes", target }),
    });
  const pending = async (tok, requestId) => {
    const s = await openStream(server.url, tok, { query: { requestId } });
    assert.equal(s.status, 200);
    await s.until((x) => x.retry !== null);
    await sleep(300);
    s.close();
    return s.events.filter((e) => e.event === "version.available").map((e) => JSON.parse(e.data).data.version);
  };
  // bob owns tab-b; a version meant for ann on that id must not reach bob.
  assert.deepEqual(await pending(bob, "tab-b"), []);
  assert.equal((await put({ requestId: "tab-b", sub: "ann" })).status, 200);
  assert.deepEqual(await pending(bob, "tab-b"), [], "bob owns the id, the version names ann");
  // Set before anyone used tab-a: it waits for ann.
  assert.equal((await put({ requestId: "tab-a", sub: "ann" })).status, 200);
  assert.deepEqual(await pending(ann, "tab-a"), ["for-ann-on-tab-a"]);
  assert.equal((await put({ requestId: "tab-c", sub: "ann" })).status, 200);
  assert.deepEqual(await pending(bob, "tab-c"), [], "bob took the unused id first: still not for bob");
});
