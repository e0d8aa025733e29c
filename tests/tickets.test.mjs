// Stream tickets (docs/security.md): POST /v1/stream/ticket turns a bearer token into a one-use,
// 60-second ticket for GET /v1/stream?ticket=, so that the token never appears in a URL.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { startWorker, TEST_SECRET } from "./support/worker.mjs";
import { token, publish, openStream, taskProgress } from "./support/client.mjs";

let server;
before(async () => (server = await startWorker()));
after(() => server?.stop());

async function ticketFor(tok, { query = false } = {}) {
  const r = await fetch(`${server.url}/v1/stream/ticket${query ? `?token=${tok}` : ""}`, {
    method: "POST",
    headers: query ? {} : { authorization: `Bearer ${tok}` },
  });
  return { status: r.status, body: await r.json() };
}

const withTicket = (ticket, options = {}) => openStream(server.url, "", { ...options, query: { ticket, ...(options.query ?? {}) } });

test("a ticket opens one stream of the token's org, once", async () => {
  const tok = await token("ticket-org", "subscribe publish");
  const issued = await ticketFor(tok);
  assert.equal(issued.status, 200);
  assert.match(issued.body.ticket, /^t1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const left = Date.parse(issued.body.expiresAt) - Date.now();
  assert.ok(left > 50_000 && left <= 61_000, `valid for about 60 s, ${left} ms left`);

  const s = await openStream(`${server.url}`, "", { query: { ticket: issued.body.ticket } });
  assert.equal(s.status, 200);
  assert.ok(!s.response.url.includes(tok), "the token is not in the stream's URL");
  await s.until((x) => x.retry !== null);
  assert.equal((await publish(server.url, tok, taskProgress("via-ticket"))).status, 202);
  const other = await token("other-org", "publish");
  assert.equal((await publish(server.url, other, taskProgress("other-org"))).status, 202);
  await s.until((x) => x.data.length === 1, 3000, "the org's event");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(s.data.map((e) => JSON.parse(e.data).data.taskId), ["via-ticket"], "its own org's events only");

  const again = await withTicket(issued.body.ticket);
  assert.equal(again.status, 401);
  assert.match(again.body.error.message, /this ticket was used already; get a new one with POST \/v1\/stream\/ticket/);
  assert.equal(s.ended, false, "the refused reuse changed nothing");
  s.close();
});

test("tickets are issued for a bearer token with the subscribe scope only", async () => {
  assert.equal((await ticketFor(await token("ticket-org", "subscribe"), { query: true })).status, 401, "a token in the query is what tickets avoid");
  const publishOnly = await ticketFor(await token("ticket-org", "publish"));
  assert.equal(publishOnly.status, 403);
  assert.equal((await fetch(`${server.url}/v1/stream/ticket`, { method: "POST" })).status, 401);
  assert.equal((await fetch(`${server.url}/v1/stream/ticket`)).status, 405);
});

test("a ticket is not a token, a token is not a ticket, and a tampered ticket is refused", async () => {
  const tok = await token("ticket-org", "subscribe");
  const { ticket } = (await ticketFor(tok)).body;
  assert.equal((await openStream(server.url, ticket)).status, 401, "a ticket as ?token=");
  assert.equal((await withTicket(tok)).status, 401, "a token as ?ticket=");
  const [prefix, payload, signature] = ticket.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url"));
  const forged = Buffer.from(JSON.stringify({ ...claims, org: "victim-org" })).toString("base64url");
  const tampered = await withTicket(`${prefix}.${forged}.${signature}`);
  assert.equal(tampered.status, 401);
  assert.match(tampered.body.error.message, /ticket signature is invalid/);
});

test("a stream opened with a ticket ends when the token behind it would have", async () => {
  const tok = await token("ticket-org", "subscribe", { exp: Math.floor(Date.now() / 1000) - 58 });
  const { ticket } = (await ticketFor(tok)).body;
  const s = await withTicket(ticket);
  assert.equal(s.status, 200);
  await s.until((x) => x.ended, 8000, "the stream to end");
  assert.equal(s.events.at(-1).event, "stream.expired");
});

test("an expired ticket is refused with what to do", async () => {
  // A ticket as the worker makes them (docs/protocol.md 4.1), signed with the test secret, issued
  // 61 s ago: valid 60 s.
  const payload = Buffer.from(
    JSON.stringify({ org: "ticket-org", sub: "test-user", expiresMs: Date.now() - 1000, tokenExp: Math.floor(Date.now() / 1000) + 3600, nonce: randomUUID() }),
  ).toString("base64url");
  const signature = createHmac("sha256", TEST_SECRET).update(`ticket.${payload}`).digest("base64url");
  const r = await withTicket(`t1.${payload}.${signature}`);
  assert.equal(r.status, 401);
  assert.match(r.body.error.message, /ticket expired \(they last 60 s\); get a new one with POST \/v1\/stream\/ticket/);
  const fresh = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, "base64url")), expiresMs: Date.now() + 30_000 })).toString("base64url");
  const ok = await withTicket(`t1.${fresh}.${createHmac("sha256", TEST_SECRET).update(`ticket.${fresh}`).digest("base64url")}`);
  assert.equal(ok.status, 200, "the same ticket within its minute works: the refusal was the expiry");
  ok.close();
});

test("a used ticket stays used through its expiry: replays right at the edge are refused", async () => {
  // A ticket as the worker makes them, expiring 1.5 s from now, used once; then replayed without
  // pause until 0.1 s after it expired. The hub used to forget nonces of expired tickets before
  // checking them, while the front worker still took the ticket: a replay in between got 200.
  const expiresMs = Date.now() + 1500;
  const payload = Buffer.from(
    JSON.stringify({ org: "ticket-edge", sub: "test-user", expiresMs, tokenExp: Math.floor(Date.now() / 1000) + 3600, nonce: randomUUID() }),
  ).toString("base64url");
  const ticket = `t1.${payload}.${createHmac("sha256", TEST_SECRET).update(`ticket.${payload}`).digest("base64url")}`;
  const first = await withTicket(ticket);
  assert.equal(first.status, 200);
  first.close();
  const statuses = [];
  const replay = async () => {
    const r = await fetch(`${server.url}/v1/stream?ticket=${ticket}`);
    statuses.push(r.status);
    await r.body?.cancel();
  };
  while (Date.now() < expiresMs - 100) await replay();
  // Around the edge, many at once: the gap between the front worker's check and the hub's is a
  // millisecond or two.
  while (Date.now() < expiresMs + 100) await Promise.all(Array.from({ length: 16 }, replay));
  assert.ok(statuses.length > 100, `${statuses.length} replays`);
  assert.deepEqual([...new Set(statuses)], [401], "every replay refused, before, at and after the expiry");
});
