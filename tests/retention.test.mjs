// Retention (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_SECONDS) and what a client sees when the events it
// missed are gone: stream.reset(history_gap) on the stream, gap: true from history.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support/worker.mjs";
import { token, publish, history, openStream, taskProgress, sleep } from "./support/client.mjs";

let byCount;
let byAge;
before(async () => {
  byCount = await startWorker({ vars: { HISTORY_MAX_EVENTS: 5 } });
  byAge = await startWorker({ vars: { HISTORY_MAX_AGE_SECONDS: 1, MAX_CONNECTION_AGE_SECONDS: 1 } });
});
after(async () => {
  await byCount?.stop();
  await byAge?.stop();
});

test("only the newest HISTORY_MAX_EVENTS are kept; an id before them gets stream.reset(history_gap)", async () => {
  const t = await token("count-org");
  await publish(byCount.url, t, { events: Array.from({ length: 10 }, (_, i) => taskProgress(`e${i + 1}`)) });

  const page = await history(byCount.url, t);
  assert.deepEqual(page.body.events.map((e) => e.id), ["6", "7", "8", "9", "10"]);
  assert.equal(page.body.gap, true, "events 1..5 were dropped");
  assert.equal(page.body.earliestId, "6");
  assert.equal((await history(byCount.url, t, { after: "5" })).body.gap, false, "earliest - 1 is still exact");

  const tooOld = await openStream(byCount.url, t, { lastEventId: "2" });
  await tooOld.until((x) => x.events.length >= 1);
  assert.equal(tooOld.events[0].event, "stream.reset");
  assert.deepEqual(JSON.parse(tooOld.events[0].data), { reason: "history_gap", earliestId: "6", latestId: "10" });
  await sleep(200);
  assert.equal(tooOld.data.length, 1, "after a reset: live events only, no partial replay");
  tooOld.close();

  const exact = await openStream(byCount.url, t, { lastEventId: "5" });
  await exact.until((x) => x.data.length === 5);
  assert.deepEqual(exact.data.map((e) => e.id), ["6", "7", "8", "9", "10"]);
  exact.close();
});

test("events older than HISTORY_MAX_AGE_SECONDS are dropped, ids are not reused", async () => {
  const t = await token("age-org");
  await publish(byAge.url, t, { events: [taskProgress("old-1"), taskProgress("old-2")] });
  await sleep(2100);
  const page = await history(byAge.url, t);
  assert.deepEqual(page.body.events, []);
  assert.equal(page.body.earliestId, null);
  assert.equal(page.body.latestId, "2");
  assert.equal(page.body.gap, true);

  const s = await openStream(byAge.url, t, { lastEventId: "1" });
  await s.until((x) => x.events.length >= 1);
  assert.deepEqual(JSON.parse(s.events[0].data), { reason: "history_gap", earliestId: null, latestId: "2" });
  s.close();

  const caughtUp = await openStream(byAge.url, t, { lastEventId: "2" });
  const r = await publish(byAge.url, t, taskProgress("new"));
  assert.deepEqual(r.body.ids, ["3"]);
  await caughtUp.until((x) => x.data.length === 1);
  assert.equal(caughtUp.data[0].id, "3", "a caught-up client resumes without a reset");
  caughtUp.close();
});

test("the newest org.entitlements.changed outlives retention: GET /v1/events/latest", async () => {
  const t = await token("kept-org");
  const plan = (p, target) => ({ type: "org.entitlements.changed", data: { plan: p, features: [p], limits: {}, effectiveAt: "2026-11-26T09:00:00Z" }, ...(target ? { target } : {}) });
  const latest = (params = { type: "org.entitlements.changed" }) =>
    fetch(`${byCount.url}/v1/events/latest?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${t}` } }).then(async (r) => ({ status: r.status, body: await r.json() }));
  assert.deepEqual((await latest()).body, { event: null }, "none yet");
  await publish(byCount.url, t, { events: [plan("free"), plan("team"), plan("enterprise", { requestId: "tab-1" })] });
  await publish(byCount.url, t, { events: Array.from({ length: 10 }, (_, i) => taskProgress(`later${i}`)) });
  assert.deepEqual((await history(byCount.url, t, { type: "org.entitlements.changed" })).body.events, [], "gone from the log");
  const kept = await latest();
  assert.equal(kept.status, 200);
  assert.equal(kept.body.event.id, "2", "the newest broadcast one; a targeted event is not kept");
  assert.deepEqual(kept.body.event.data.features, ["team"]);
  for (const params of [{}, { type: "task.progress" }, { type: "nope" }]) {
    const r = await latest(params);
    assert.equal(r.status, 400, JSON.stringify(params));
    assert.match(r.body.error.message, /type must be a type whose newest event is kept \(org\.entitlements\.changed\)/);
  }
  const inUrl = await fetch(`${byCount.url}/v1/events/latest?type=org.entitlements.changed&token=${t}`);
  assert.equal(inUrl.status, 401, "a token in the URL is taken only where EventSource needs it");
  assert.match((await inUrl.json()).error.message, /\?token= is accepted only on GET \/v1\/stream and GET \/v1\/events/);
  const post = await fetch(`${byCount.url}/v1/events/latest`, { method: "POST", headers: { authorization: `Bearer ${t}` } });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET");
});

test("a retention shorter than the longest stream is refused at /healthz with the reason", async () => {
  // A stream keeps its requestId for its whole life, and unused ids are forgotten after the
  // retention: with a shorter retention, another subject could take over an open stream's id.
  const short = await startWorker({ vars: { HISTORY_MAX_AGE_SECONDS: 60, MAX_CONNECTION_AGE_SECONDS: 3600 } });
  try {
    const r = await fetch(`${short.url}/healthz`);
    assert.equal(r.status, 503);
    const body = await r.json();
    assert.match(body.problem, /HISTORY_MAX_AGE_SECONDS \(60\) must be at least MAX_CONNECTION_AGE_SECONDS \(3600\)/);
    const stream = await openStream(short.url, await token("short-org"));
    assert.equal(stream.status, 500, "and nothing is served with it");
    assert.match(stream.body.error.message, /HISTORY_MAX_AGE_SECONDS/);
  } finally {
    await short.stop();
  }
});
