// Per-subject limits (docs/security.md): streams open at once per `sub` and per org, and connects,
// history requests and publishes per `sub` per minute. Over a limit: 429 rate_limited with
// retry-after and the error envelope, and nothing else changes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support/worker.mjs";
import { token, publish, history, openStream, taskProgress } from "./support/client.mjs";
import { untilActive as untilActiveIn } from "./support/wait.mjs";

let server;
before(async () => {
  server = await startWorker({
    vars: {
      MAX_STREAMS_PER_SUB: "2",
      MAX_STREAMS_PER_ORG: "3",
      SUB_CONNECTS_PER_MINUTE: "6",
      SUB_HISTORY_PER_MINUTE: "3",
      SUB_PUBLISHES_PER_MINUTE: "30",
    },
  });
});
after(() => server?.stop());

const as = (org, sub, scope = "subscribe") => token(org, scope, { claims: { sub } });

async function assertRefused(response, body, pattern) {
  assert.equal(response.status, 429);
  assert.equal(body.error.code, "rate_limited");
  assert.match(body.error.message, pattern);
  const retry = Number(response.headers.get("retry-after"));
  assert.ok(retry >= 1 && retry <= 60, `retry-after ${retry}`);
}

/** Waits until the org's hub counts `n` open streams (a departure reaches it within a second or so). */
const untilActive = (tok, n) => untilActiveIn(server.url, tok, n);

test("a subject may hold MAX_STREAMS_PER_SUB streams and the org MAX_STREAMS_PER_ORG; a refusal changes nothing", async () => {
  const org = "limit-streams";
  const [ann, bob, cy] = await Promise.all(["ann", "bob", "cy"].map((sub) => as(org, sub)));
  const publisher = await as(org, "publisher", "publish metrics");
  const a1 = await openStream(server.url, ann, { query: { requestId: "ann-1" } });
  const a2 = await openStream(server.url, ann, { query: { requestId: "ann-2" } });
  await Promise.all([a1, a2].map((s) => s.until((x) => x.retry !== null)));

  const third = await openStream(server.url, ann, { query: { requestId: "ann-3" } });
  await assertRefused(third.response, third.body, /open streams for this token's subject \(2; at most 2, MAX_STREAMS_PER_SUB\)/);

  const again = await openStream(server.url, ann, { query: { requestId: "ann-2" } });
  assert.equal(again.status, 200, "replacing one of its own streams needs no room");
  await a2.until((x) => x.events.some((e) => e.event === "stream.replaced"), 5000, "the replaced stream's notice");

  const b1 = await openStream(server.url, bob);
  assert.equal(b1.status, 200, "another subject has its own room");
  await untilActive(publisher, 3);
  const c1 = await openStream(server.url, cy);
  await assertRefused(c1.response, c1.body, /open streams in this org \(3; at most 3, MAX_STREAMS_PER_ORG\)/);

  assert.equal((await publish(server.url, publisher, taskProgress("after-refusals"))).status, 202);
  for (const s of [a1, again, b1]) {
    await s.until((x) => x.data.some((e) => JSON.parse(e.data).data.taskId === "after-refusals"), 5000, "the event");
    assert.equal(s.ended, false);
  }

  b1.close();
  await untilActive(publisher, 2);
  const c2 = await openStream(server.url, cy);
  assert.equal(c2.status, 200, "a departure leaves room");
  for (const s of [a1, again, c2]) s.close();
});

test("connects per subject per minute; the pages of one far-behind stream are one connect", async () => {
  const org = "limit-connects";
  const dee = await as(org, "dee");
  const publisher = await as(org, "publisher", "publish metrics");
  // 600 events: a stream from the start gets them as three pages, then goes live.
  for (let i = 0; i < 6; i++) {
    const events = Array.from({ length: 100 }, (_, j) => taskProgress(`e${i * 100 + j}`));
    assert.equal((await publish(server.url, publisher, { events })).status, 202);
  }
  const behind = await openStream(server.url, dee, { lastEventId: 0 });
  await behind.until((x) => x.data.length === 600, 20_000, "every missed event");
  behind.close();
  // One at a time (MAX_STREAMS_PER_SUB is 2 here): each gone before the next opens.
  await untilActive(publisher, 0);
  for (let i = 1; i < 6; i++) {
    const s = await openStream(server.url, dee);
    assert.equal(s.status, 200, `connect ${i + 1}`);
    await s.until((x) => x.retry !== null);
    s.close();
    await untilActive(publisher, 0);
  }
  const seventh = await openStream(server.url, dee);
  await assertRefused(seventh.response, seventh.body, /stream connects by this token's subject \(at most 6 a minute, SUB_CONNECTS_PER_MINUTE\)/);
  const other = await openStream(server.url, await as(org, "eve"));
  assert.equal(other.status, 200, "another subject connects");
  other.close();
});

test("replays of a used ticket are refused before anything is counted: its owner's connects are untouched", async () => {
  const org = "limit-tickets";
  const tia = await as(org, "tia");
  const ticket = async () => {
    const r = await fetch(`${server.url}/v1/stream/ticket`, { method: "POST", headers: { authorization: `Bearer ${tia}` } });
    assert.equal(r.status, 200);
    return (await r.json()).ticket;
  };
  const first = await ticket();
  const s = await openStream(server.url, "", { query: { ticket: first } });
  assert.equal(s.status, 200);
  await s.until((x) => x.retry !== null);
  s.close();
  for (let i = 0; i < 10; i++) {
    const replay = await openStream(server.url, "", { query: { ticket: first } });
    assert.equal(replay.status, 401, `replay ${i + 1}`);
    assert.match(replay.body.error.message, /this ticket was used already/);
  }
  // SUB_CONNECTS_PER_MINUTE is 6 here: ten counted replays would have used it up.
  const own = await openStream(server.url, "", { query: { ticket: await ticket() } });
  assert.equal(own.status, 200, "the owner's own new stream");
  own.close();
});

test("history requests per subject per minute", async () => {
  const org = "limit-history";
  const fay = await as(org, "fay");
  for (let i = 0; i < 3; i++) assert.equal((await history(server.url, fay)).status, 200);
  const r = await fetch(`${server.url}/v1/events?token=${fay}`);
  await assertRefused(r, await r.json(), /history requests by this token's subject \(at most 3 a minute, SUB_HISTORY_PER_MINUTE\)/);
  assert.equal((await history(server.url, await as(org, "gus"))).status, 200, "another subject reads");
});

test("publishes per subject per minute; a refused publish stores nothing", async () => {
  const org = "limit-publish";
  const hal = await as(org, "hal", "publish");
  for (let i = 0; i < 30; i++) assert.equal((await publish(server.url, hal, taskProgress(`p${i}`))).status, 202);
  const refused = await fetch(`${server.url}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${hal}`, "content-type": "application/json" },
    body: JSON.stringify(taskProgress("one-too-many")),
  });
  await assertRefused(refused, await refused.json(), /publishes by this token's subject \(at most 30 a minute, SUB_PUBLISHES_PER_MINUTE\)/);
  const reader = await as(org, "reader");
  const stored = (await history(server.url, reader, { limit: "1000" })).body.events.map((e) => e.data.taskId);
  assert.equal(stored.length, 30);
  assert.ok(!stored.includes("one-too-many"));
  assert.equal((await publish(server.url, await as(org, "ivy", "publish"), taskProgress("ivy"))).status, 202, "another subject publishes");
});

test("client error reports are capped for the whole org too", async () => {
  const org = "limit-reports";
  const send = (tok, message) =>
    fetch(`${server.url}/v1/audit/client-error`, {
      method: "POST",
      headers: { authorization: `Bearer ${tok}`, "content-type": "application/json" },
      body: JSON.stringify({ message }),
    });
  for (let s = 0; s < 10; s++) {
    const tok = await as(org, `reporter-${s}`);
    for (let i = 0; i < 10; i++) assert.equal((await send(tok, `r${s}.${i}`)).status, 202);
  }
  const r = await send(await as(org, "reporter-10"), "the 101st");
  await assertRefused(r, await r.json(), /client error reports in this org \(at most 100 a minute\)/);
});

test("per-minute counts outlive a runtime restart: stored with the request, or within 0.25 s while the hub is sending", async () => {
  const org = "limit-restart";
  // Nothing being sent: a history request's count is stored in its own commit, before its answer.
  const rae = await as(org, "rae");
  for (let i = 0; i < 3; i++) assert.equal((await history(server.url, rae)).status, 200);
  server = await server.restart(undefined, { samePort: true });
  const refusedHistory = await fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${rae}` } });
  await assertRefused(refusedHistory, await refusedHistory.json(), /history requests by this token's subject \(at most 3 a minute/);

  // An open stream: each publish is fanned out on a later turn, and the counts are stored within
  // 0.25 s, not by the publish.
  const kim = await as(org, "kim", "publish");
  const stream = await openStream(server.url, await as(org, "watcher"));
  await stream.until((x) => x.retry !== null);
  for (let i = 0; i < 30; i++) assert.equal((await publish(server.url, kim, taskProgress(`k${i}`))).status, 202);
  await stream.until((x) => x.data.length === 30);
  await new Promise((r) => setTimeout(r, 500));
  server = await server.restart(undefined, { samePort: true });
  await stream.until((x) => x.ended, 10_000, "the stream to end with the runtime");
  const refused = await fetch(`${server.url}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${kim}`, "content-type": "application/json" },
    body: JSON.stringify(taskProgress("after-restart")),
  });
  await assertRefused(refused, await refused.json(), /publishes by this token's subject \(at most 30 a minute/);
});
