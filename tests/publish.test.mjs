// Contract 4.2 and 4.4 against the running worker: what publishing accepts, what it refuses, and
// that a refused publish changes nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support/worker.mjs";
import { token, publish, history, openStream, taskProgress } from "./support/client.mjs";

let server;
before(async () => (server = await startWorker()));
after(async () => server?.stop());

test("a batch is stored in order with consecutive ids", async () => {
  const t = await token("batch-org");
  const r = await publish(server.url, t, { events: [taskProgress("a"), taskProgress("b"), taskProgress("c")] });
  assert.equal(r.status, 202);
  assert.deepEqual(r.body, { ids: ["1", "2", "3"] });
  const r2 = await publish(server.url, t, taskProgress("d"));
  assert.deepEqual(r2.body, { ids: ["4"] });
  const page = await history(server.url, t);
  assert.deepEqual(page.body.events.map((e) => e.data.taskId), ["a", "b", "c", "d"]);
  assert.equal(page.body.latestId, "4");
});

test("invalid events get 422 with JSON-pointer paths, and nothing is published", async () => {
  const t = await token("invalid-org");
  await publish(server.url, t, taskProgress("ok"));
  const r = await publish(server.url, t, {
    events: [
      taskProgress("fine"),
      { type: "change.detected", data: { changeId: "c", vendorId: "v", title: "t", severity: "severe", detectedAt: "2026-11-25T07:00:00Z" } },
      { type: "task.progress", data: { taskId: "t", progress: 1.5 } },
      { type: "change.stateChanged", data: { changeId: "c", from: "new", to: "new", changedAt: "2026-11-25T07:00:00Z" } },
      { type: "task.failed", data: { taskId: "t" } },
      { type: "task.failed", data: { taskId: "t", error: "x", extra: 1 } },
      { type: "no.such.type", data: {} },
      { type: "stream.reset", data: {} },
    ],
  });
  assert.equal(r.status, 422);
  assert.equal(r.body.error.code, "invalid_event");
  assert.deepEqual(
    r.body.error.details.map((d) => [d.index, d.path, d.code]),
    [
      [1, "/data/severity", "invalid_enum"],
      [2, "/data/progress", "out_of_range"],
      [3, "/data/to", "invalid_value"],
      [4, "/data/error", "missing_field"],
      [5, "/data/extra", "unknown_field"],
      [6, "/type", "unknown_type"],
      [7, "/type", "reserved_type"],
    ],
  );
  for (const d of r.body.error.details) assert.ok(d.message.length > 0);
  assert.equal(r.body.error.details[4].message, "is not a field of this object (its fields: taskId, error)", "it lists the fields there are");
  assert.match(r.body.error.details[5].message, /`no.such.type` is not an event type of the catalog \(.*change\.detected.*task\.progress.*\)/, "it lists the types there are");
  const page = await history(server.url, t);
  assert.deepEqual(page.body.events.map((e) => e.data.taskId), ["ok"], "the valid event of the batch was not stored");
  const next = await publish(server.url, t, taskProgress("next"));
  assert.deepEqual(next.body.ids, ["2"], "no id was used up");
});

test("bodies the contract refuses: 400, 413, 415", async () => {
  const t = await token("body-org");
  const cases = [
    ["{not json", 400, "bad_request"],
    ["[1,2]", 400, "bad_request"],
    [JSON.stringify({ events: [] }), 400, "bad_request"],
    [JSON.stringify({ events: Array(101).fill(taskProgress("x")) }), 400, "bad_request"],
    [JSON.stringify({ ...taskProgress("x"), pad: "x".repeat(70 * 1024) }), 413, "payload_too_large"],
  ];
  for (const [body, status, code] of cases) {
    const r = await publish(server.url, t, body);
    assert.equal(r.status, status, body.slice(0, 40));
    assert.equal(r.body.error.code, code);
  }
  const r = await publish(server.url, t, JSON.stringify(taskProgress("x")), { headers: { "content-type": "text/plain" } });
  assert.equal(r.status, 415);
  assert.equal(r.body.error.code, "unsupported_media_type");
  const ok = await publish(server.url, t, JSON.stringify(taskProgress("x")), {
    headers: { "content-type": "application/json; charset=utf-8" },
  });
  assert.equal(ok.status, 202);
  assert.equal((await history(server.url, t)).body.events.length, 1, "only the accepted publish was stored");
});

test("a chunked body over 64 KiB is refused with 413 and the server keeps answering", async () => {
  const t = await token("chunked-org");
  const body = new ReadableStream({
    start(c) {
      for (let i = 0; i < 7; i++) c.enqueue(new Uint8Array(10_000).fill(97));
      c.close();
    },
  });
  const r = await fetch(`${server.url}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
    body,
    duplex: "half", // no content-length: transfer-encoding chunked
  });
  assert.equal(r.status, 413);
  assert.equal((await r.json()).error.code, "payload_too_large");
  const next = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(3000) });
  assert.equal(next.status, 200, "the next request is not stalled");
});

test("a full batch of 100 just under 64 KiB is accepted", async () => {
  const t = await token("big-org");
  const events = Array.from({ length: 100 }, (_, i) => ({ type: "task.failed", data: { taskId: `t${i}`, error: "e".repeat(580) } }));
  const body = JSON.stringify({ events });
  assert.ok(body.length < 64 * 1024);
  const r = await publish(server.url, t, body);
  assert.equal(r.status, 202);
  assert.equal(r.body.ids.length, 100);
  assert.equal(r.body.ids.at(-1), "100");
});

test("history pages with after and limit, and refuses bad parameters", async () => {
  const t = await token("page-org");
  await publish(server.url, t, { events: Array.from({ length: 7 }, (_, i) => taskProgress(`p${i + 1}`)) });
  const p1 = await history(server.url, t, { after: "2", limit: "3" });
  assert.equal(p1.status, 200);
  assert.deepEqual(p1.body.events.map((e) => e.id), ["3", "4", "5"]);
  assert.equal(p1.body.hasMore, true);
  assert.equal(p1.body.gap, false);
  assert.equal(p1.body.earliestId, "1");
  assert.equal(p1.body.latestId, "7");
  const p2 = await history(server.url, t, { after: "5", limit: "3" });
  assert.deepEqual(p2.body.events.map((e) => e.id), ["6", "7"]);
  assert.equal(p2.body.hasMore, false);
  for (const params of [{ after: "x" }, { limit: "0" }, { limit: "1001" }, { limit: "many" }]) {
    const r = await history(server.url, t, params);
    assert.equal(r.status, 400, JSON.stringify(params));
    assert.equal(r.body.error.code, "bad_request");
  }
  const ahead = await history(server.url, t, { after: "50" });
  assert.equal(ahead.body.gap, true, "an id the server never issued means the client must resync");
});

test("Idempotency-Key: a repeat gets the same answer and stores nothing; the same key with another body is 409", async () => {
  const t = await token("once-org", "subscribe publish metrics");
  const keyed = (key, body, path = "/v1/events", method = "POST") =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${t}`, "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify(body),
    });
  const batch = { events: [taskProgress("k1"), taskProgress("k2")] };
  const first = await keyed("key-1", batch);
  assert.equal(first.status, 202);
  const ids = (await first.json()).ids;
  assert.equal(first.headers.get("idempotent-replayed"), null);
  const again = await keyed("key-1", batch);
  assert.deepEqual([again.status, (await again.json()).ids, again.headers.get("idempotent-replayed")], [202, ids, "true"], "the same answer");
  const other = await keyed("key-1", { events: [taskProgress("k3")] });
  const refusal = await other.json();
  assert.deepEqual([other.status, refusal.error.code], [409, "idempotency_conflict"]);
  assert.match(refusal.error.message, /send a new key for a new publish/);
  assert.deepEqual((await history(server.url, t)).body.events.map((e) => e.id), ids, "stored once, the batch whole");

  // Keys are the subject's: another subject's same key is another key.
  const otherSub = await token("once-org", "publish", { claims: { sub: "someone-else" } });
  const theirs = await fetch(`${server.url}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${otherSub}`, "content-type": "application/json", "idempotency-key": "key-1" },
    body: JSON.stringify(batch),
  });
  assert.equal(theirs.status, 202);
  assert.notDeepEqual((await theirs.json()).ids, ids);

  // PUT /v1/versions takes a key too, and a key used for a publish is another request there.
  const v1 = await keyed("key-v", { version: "9.9.9" }, "/v1/versions", "PUT");
  const v2 = await keyed("key-v", { version: "9.9.9" }, "/v1/versions", "PUT");
  assert.deepEqual([v1.status, v2.status, v2.headers.get("idempotent-replayed")], [200, 200, "true"]);
  assert.deepEqual((await v2.json()).ids, (await v1.json()).ids);
  assert.equal((await keyed("key-1", { version: "9.9.9" }, "/v1/versions", "PUT")).status, 409);

  for (const bad of ["", "has space", "x".repeat(256)]) {
    const r = await keyed(bad, taskProgress("never"));
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.match((await r.json()).error.message, /Idempotency-Key must be 1 to 255 visible ASCII characters/);
  }
  const metrics = await (await fetch(`${server.url}/v1/metrics`, { headers: { authorization: `Bearer ${t}` } })).text();
  assert.match(metrics, /^orgstream_idempotent_replays_total 2$/m);
  assert.match(metrics, /^orgstream_idempotency_conflicts_total 2$/m);
});

test("history newest first: order=desc reads the newest N, before= pages back, and the directions do not mix", async () => {
  const t = await token("desc-org");
  await publish(server.url, t, { events: Array.from({ length: 7 }, (_, i) => taskProgress(`d${i + 1}`)) });
  await publish(server.url, t, { type: "task.completed", data: { taskId: "d7" } });
  const newest = await history(server.url, t, { order: "desc", limit: "3" });
  assert.equal(newest.status, 200);
  assert.deepEqual(newest.body.events.map((e) => e.id), ["8", "7", "6"], "newest first");
  assert.deepEqual([newest.body.hasMore, newest.body.gap, newest.body.latestId], [true, false, "8"]);
  const older = await history(server.url, t, { order: "desc", before: "6", limit: "3" });
  assert.deepEqual(older.body.events.map((e) => e.id), ["5", "4", "3"]);
  const oldest = await history(server.url, t, { order: "desc", before: "3", limit: "3" });
  assert.deepEqual([oldest.body.events.map((e) => e.id), oldest.body.hasMore], [["2", "1"], false]);
  const typed = await history(server.url, t, { order: "desc", type: "task.progress", limit: "2" });
  assert.deepEqual(typed.body.events.map((e) => e.id), ["7", "6"], "with ?type=, the newest of that type");
  assert.deepEqual((await history(server.url, t, { order: "asc", limit: "2" })).body.events.map((e) => e.id), ["1", "2"]);
  for (const [params, message] of [
    [{ order: "desc", after: "2" }, "order=desc pages backward with before, not after"],
    [{ before: "5" }, "before reads newest first: add order=desc, or page forward with after"],
    [{ order: "newest" }, "order must be asc (oldest first, the default) or desc (newest first)"],
    [{ order: "desc", before: "x" }, "before must be an event id (a decimal number)"],
  ]) {
    const r = await history(server.url, t, params);
    assert.deepEqual([r.status, r.body.error.message], [400, message], JSON.stringify(params));
  }
});

test("history of one type: ?type= pages through that type only, and refuses a type not in the catalog", async () => {
  const t = await token("typed-history-org");
  const plan = (p) => ({ type: "org.entitlements.changed", data: { plan: p, features: [p], limits: {}, effectiveAt: "2026-11-26T09:00:00Z" } });
  await publish(server.url, t, { events: [taskProgress("a"), plan("free"), taskProgress("b"), taskProgress("c"), plan("team"), taskProgress("d")] });
  const page = await history(server.url, t, { type: "org.entitlements.changed" });
  assert.equal(page.status, 200);
  assert.deepEqual(page.body.events.map((e) => [e.id, e.data.plan]), [["2", "free"], ["5", "team"]]);
  assert.equal(page.body.hasMore, false);
  assert.equal(page.body.latestId, "6", "earliestId and latestId are the whole log's");
  const first = await history(server.url, t, { type: "org.entitlements.changed", limit: "1" });
  assert.deepEqual(first.body.events.map((e) => e.id), ["2"]);
  assert.equal(first.body.hasMore, true, "hasMore counts only events of the type");
  const last = await history(server.url, t, { type: "org.entitlements.changed", after: "2", limit: "1" });
  assert.deepEqual([last.body.events.map((e) => e.id), last.body.hasMore], [["5"], false]);
  for (const type of ["nope", "heartbeat", ""]) {
    const r = await history(server.url, t, { type });
    assert.equal(r.status, 400, type);
    assert.match(r.body.error.message, /type must be an event type of the catalog \(.*org\.entitlements\.changed/);
  }
});

test("a history page stops at about 2 MiB of events and says there is more; any position is answered", async () => {
  const t = await token("big-page-org");
  const result = "r".repeat(60_000);
  for (let i = 0; i < 60; i++) {
    // One event of ~60 KB per publish (the body limit is 64 KiB): 3.6 MB in all.
    const r = await publish(server.url, t, { type: "task.completed", data: { taskId: `big-${i}`, result } });
    assert.equal(r.status, 202);
  }
  const first = await history(server.url, t, { limit: "1000" });
  assert.equal(first.status, 200);
  const n = first.body.events.length;
  const bytes = JSON.stringify(first.body.events).length;
  assert.ok(n >= 30 && n < 40, `a page of ${n} events`);
  assert.ok(bytes <= 2.1 * 1024 * 1024, `${bytes} bytes`);
  assert.equal(first.body.hasMore, true);
  let after = first.body.events.at(-1).id;
  let seen = n;
  for (let guard = 0; guard < 5; guard++) {
    const page = await history(server.url, t, { after, limit: "1000" });
    assert.equal(page.body.events[0].id, String(Number(after) + 1), "pages continue without a gap");
    seen += page.body.events.length;
    after = page.body.events.at(-1).id;
    if (!page.body.hasMore) break;
  }
  assert.equal(seen, 60);
  // A reconnect that is far behind replays all of it, page by page.
  const s = await openStream(server.url, t, { lastEventId: "0" });
  await s.until((x) => x.data.length === 60, 10_000, "60 big events replayed");
  s.close();
  // The largest position is answered (nothing after it, a gap: it was never issued); beyond the
  // id rule (2^53 - 1) is not a position.
  const huge = await history(server.url, t, { after: "9007199254740991" });
  assert.equal(huge.status, 200);
  assert.equal(huge.body.gap, true);
  assert.deepEqual(huge.body.events, []);
  assert.equal((await history(server.url, t, { after: "18446744073709551615" })).status, 400);
});
