// Request ids against the running worker: one connection per request id, targeted delivery, who
// owns a request id, and pending versions on connect (per org or per request id).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support/worker.mjs";
import { token, publish, history, openStream, taskProgress, sleep } from "./support/client.mjs";
import { readMetrics } from "./support/metrics.mjs";

let server;
before(async () => (server = await startWorker({ vars: { HEARTBEAT_INTERVAL_MS: 300, MAX_UNREAD_BYTES: 131072 } })));
after(async () => server?.stop());

const versions = (url, tok, method, body, query = "") =>
  fetch(`${url}/v1/versions${query}`, {
    method,
    headers: { authorization: `Bearer ${tok}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

test("a new connection with the same requestId replaces the old one, which gets stream.replaced and ends", async () => {
  const t = await token("replace-org", "subscribe publish metrics");
  const old = await openStream(server.url, t, { query: { requestId: "tab-1" } });
  const other = await openStream(server.url, t, { query: { requestId: "tab-2" } });
  await old.until((x) => x.retry !== null);
  const fresh = await openStream(server.url, t, { query: { requestId: "tab-1" } });
  await old.until((x) => x.ended, 3000, "the old stream to end");
  assert.equal(old.events.at(-1).event, "stream.replaced");
  assert.equal(old.events.at(-1).id, undefined);

  // The old client's late disconnect must not remove the new connection.
  old.close();
  await sleep(300);
  await publish(server.url, t, { ...taskProgress("for-tab-1"), target: { requestId: "tab-1" } });
  await fresh.until((x) => x.data.length === 1, 3000, "the targeted event on the new connection");
  assert.equal(JSON.parse(fresh.data[0].data).data.taskId, "for-tab-1");
  await sleep(200);
  assert.equal(other.data.length, 0, "tab-2 does not see tab-1's event");
  const m = await readMetrics(server.url, t);
  assert.equal(m.value("orgstream_connections_total", { action: "replaced" }), 1);
  assert.equal(m.value("orgstream_connections_active"), 2);
  fresh.close();
  other.close();
});

test("targeted events go to their connection only, are replayed only to it, and listed only for it", async () => {
  const t = await token("target-org");
  const mine = await openStream(server.url, t, { query: { requestId: "build-7" } });
  const all = await openStream(server.url, t);
  await Promise.all([mine.until((x) => x.retry !== null), all.until((x) => x.retry !== null)]);
  await publish(server.url, t, { events: [taskProgress("broadcast"), { ...taskProgress("private"), target: { requestId: "build-7" } }] });
  await mine.until((x) => x.data.length === 2);
  await all.until((x) => x.data.length === 1);
  await sleep(200);
  assert.deepEqual(all.data.map((e) => e.id), ["1"]);
  assert.deepEqual(JSON.parse(mine.data[1].data).target, { requestId: "build-7" });

  const replayMine = await openStream(server.url, t, { lastEventId: "0", query: { requestId: "build-7" } });
  const replayOther = await openStream(server.url, t, { lastEventId: "0", query: { requestId: "build-8" } });
  await replayMine.until((x) => x.data.length === 2);
  await replayOther.until((x) => x.data.length === 1);
  await sleep(200);
  assert.deepEqual(replayOther.data.map((e) => e.id), ["1"]);
  assert.deepEqual((await history(server.url, t)).body.events.map((e) => e.id), ["1"]);
  assert.deepEqual((await history(server.url, t, { requestId: "build-7" })).body.events.map((e) => e.id), ["1", "2"]);
  for (const s of [mine, all, replayMine, replayOther]) s.close();
});

test("a pending version reaches every later connect, per org or per requestId, survives a restart, and DELETE clears it", async () => {
  const t = await token("version-org", "subscribe publish");
  const open = await openStream(server.url, t);
  await open.until((x) => x.retry !== null);

  const put = await versions(server.url, t, "PUT", { version: "2.0.0", changelog: "New dashboard" });
  assert.equal(put.status, 200);
  const body = await put.json();
  assert.equal(body.event.type, "version.available");
  await open.until((x) => x.data.some((e) => e.event === "version.available"), 3000, "the broadcast");
  assert.equal(open.data.find((e) => e.event === "version.available").id, body.ids[0], "the broadcast is a normal event");

  const perTab = await versions(server.url, t, "PUT", { version: "2.0.1-tab", target: { requestId: "tab-9" } });
  assert.equal(perTab.status, 200);

  const later = async (query = {}) => {
    const s = await openStream(server.url, t, { query });
    await s.until((x) => x.retry !== null);
    await sleep(300);
    s.close();
    return s.events.filter((e) => e.event === "version.available").map((e) => ({ id: e.id, version: JSON.parse(e.data).data.version }));
  };
  // On connect: no `id:` line (it must not move Last-Event-ID), the envelope as data.
  assert.deepEqual(await later(), [{ id: undefined, version: "2.0.0" }]);
  assert.deepEqual(await later(), [{ id: undefined, version: "2.0.0" }], "sending does not clear it");
  assert.deepEqual(await later({ requestId: "tab-9" }), [
    { id: undefined, version: "2.0.0" },
    { id: undefined, version: "2.0.1-tab" },
  ]);

  open.close();
  server = await server.restart();
  assert.deepEqual(await later(), [{ id: undefined, version: "2.0.0" }], "still pending after a restart");

  const bad = await versions(server.url, t, "PUT", { changelog: "no version" });
  assert.equal(bad.status, 422);
  assert.equal((await bad.json()).error.details[0].path, "/version");

  const del = await versions(server.url, t, "DELETE");
  assert.equal(del.status, 200);
  assert.deepEqual(await del.json(), { cleared: true });
  assert.deepEqual(await later(), []);
  assert.deepEqual(await later({ requestId: "tab-9" }), [{ id: undefined, version: "2.0.1-tab" }], "per-request pending stays");
  const delTab = await versions(server.url, t, "DELETE", undefined, "?requestId=tab-9");
  assert.deepEqual(await delTab.json(), { cleared: true });
  assert.deepEqual(await later({ requestId: "tab-9" }), []);
});

test("a requestId belongs to the subject that used it first: others are refused and change nothing", async () => {
  const org = "owner-org";
  const ann = await token(org, "subscribe", { claims: { sub: "ann" } });
  const bob = await token(org, "subscribe", { claims: { sub: "bob" } });
  const service = await token(org, "publish", { claims: { sub: "backend" } });
  const annTab = await openStream(server.url, ann, { query: { requestId: "ann-tab" } });
  const bobTab = await openStream(server.url, bob, { query: { requestId: "bob-tab" } });
  await Promise.all([annTab, bobTab].map((s) => s.until((x) => x.retry !== null)));

  const stolen = await openStream(server.url, bob, { query: { requestId: "ann-tab" } });
  assert.equal(stolen.status, 403);
  assert.equal(stolen.body.error.code, "forbidden");
  assert.match(stolen.body.error.message, /requestId ann-tab belongs to another subject/);
  const peek = await history(server.url, bob, { requestId: "ann-tab" });
  assert.equal(peek.status, 403, "nor may another subject read its history");

  // Targeted without a subject: the request id's owner gets it; with another subject named: nobody.
  assert.equal((await publish(server.url, service, { ...taskProgress("for-ann"), target: { requestId: "ann-tab" } })).status, 202);
  assert.equal((await publish(server.url, service, { ...taskProgress("for-bob-on-anns-id"), target: { requestId: "ann-tab", sub: "bob" } })).status, 202);
  assert.equal((await publish(server.url, service, taskProgress("everyone"))).status, 202);
  const ids = (s) => s.data.map((e) => JSON.parse(e.data).data.taskId);
  await annTab.until((x) => ids(x).includes("everyone"), 3000, "the broadcast");
  await bobTab.until((x) => ids(x).includes("everyone"), 3000, "the broadcast");
  assert.deepEqual(ids(annTab), ["for-ann", "everyone"], "ann's stream was not replaced, and got only what is hers");
  assert.deepEqual(ids(bobTab), ["everyone"]);
  assert.ok(!annTab.events.some((e) => e.event === "stream.replaced"));
  const own = await history(server.url, ann, { requestId: "ann-tab" });
  assert.deepEqual(own.body.events.map((e) => e.data.taskId), ["for-ann", "everyone"]);
  const targeted = own.body.events.find((e) => e.data.taskId === "for-ann");
  assert.deepEqual(targeted.target, { requestId: "ann-tab" });

  // Its owner may replace its own stream, as before.
  const again = await openStream(server.url, ann, { query: { requestId: "ann-tab" } });
  assert.equal(again.status, 200);
  await annTab.until((x) => x.events.some((e) => e.event === "stream.replaced"), 3000, "the replaced notice");
  for (const s of [again, bobTab]) s.close();
});

test("a publisher may name the subject of a targeted event", async () => {
  const org = "owner-named-org";
  const cy = await token(org, "subscribe", { claims: { sub: "cy" } });
  const service = await token(org, "publish", { claims: { sub: "backend" } });
  const tab = await openStream(server.url, cy, { query: { requestId: "cy-tab" } });
  await tab.until((x) => x.retry !== null);
  const r = await publish(server.url, service, { ...taskProgress("named"), target: { requestId: "cy-tab", sub: "cy" } });
  assert.equal(r.status, 202);
  await tab.until((x) => x.data.length === 1, 3000, "the event");
  assert.deepEqual(JSON.parse(tab.data[0].data).target, { requestId: "cy-tab", sub: "cy" });
  const bad = await publish(server.url, service, { ...taskProgress("x"), target: { requestId: "cy-tab", sub: "" } });
  assert.equal(bad.status, 422);
  assert.equal(bad.body.error.details[0].path, "/target/sub");
  tab.close();
});

test("at most 1000 request ids keep a pending version: one more forgets the one set longest ago", async () => {
  const t = await token("many-versions-org", "subscribe publish");
  for (let i = 0; i <= 1000; i++) {
    const r = await versions(server.url, t, "PUT", { version: `1.0.${i}`, target: { requestId: `tab-${i}` } });
    assert.equal(r.status, 200, `version ${i}`);
  }
  const pendingOf = async (requestId) => {
    const s = await openStream(server.url, t, { query: { requestId } });
    await s.until((x) => x.retry !== null);
    await sleep(200);
    s.close();
    return s.data.filter((e) => e.event === "version.available" && e.id === undefined).map((e) => JSON.parse(e.data).data.version);
  };
  assert.deepEqual(await pendingOf("tab-0"), [], "the first one set was forgotten");
  assert.deepEqual(await pendingOf("tab-1"), ["1.0.1"]);
  assert.deepEqual(await pendingOf("tab-1000"), ["1.0.1000"]);
});
