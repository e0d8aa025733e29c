// Contract 1 and 2 against the running worker: who may do what, and how refusals look.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startWorker, TEST_SECRET } from "./support/worker.mjs";
import { readMetrics } from "./support/metrics.mjs";
import { waitFor } from "./support/wait.mjs";
import { token, publish, taskProgress, openStream } from "./support/client.mjs";

let server;
before(async () => (server = await startWorker()));
after(async () => server?.stop());

async function expectError(response, status, code) {
  assert.equal(response.status, status);
  assert.match(response.headers.get("content-type"), /^application\/json/);
  const body = await response.json();
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, "string");
  assert.ok(Array.isArray(body.error.details));
  return body;
}

test("healthz answers without auth", async () => {
  const r = await fetch(`${server.url}/healthz`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { ok: true });
});

test("a stream without a token is 401 with the envelope", async () => {
  const r = await fetch(`${server.url}/v1/stream`);
  assert.equal(r.headers.get("x-content-type-options"), "nosniff", "JSON answers are never sniffed");
  const body = await expectError(r, 401, "unauthorized");
  assert.match(body.error.message, /token/);
});

test("a missing or short TOKEN_SECRET is named in the log, never to the caller", async () => {
  const bad = await startWorker({ vars: { TOKEN_SECRET: "too-short" } });
  try {
    const r = await fetch(`${bad.url}/v1/stream?token=whatever`);
    const body = await expectError(r, 500, "internal");
    assert.equal(body.error.message, "the server is misconfigured; its log says what to fix");
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.match(readFileSync(bad.logPath, "utf8"), /TOKEN_SECRET must be at least 32 bytes/);
    const health = await fetch(`${bad.url}/healthz`);
    assert.equal(health.status, 503, "the health check tells that every route would fail");
    assert.deepEqual(await health.json(), { ok: false, problem: "the server is misconfigured; its log says what to fix" });
  } finally {
    await bad.stop();
  }
});

const badTokens = {
  expired: () => token("acme", "subscribe", { exp: Math.floor(Date.now() / 1000) - 3600 }),
  "not yet valid": () => token("acme", "subscribe", { claims: { nbf: Math.floor(Date.now() / 1000) + 3600 } }),
  "bad signature": () => token("acme", "subscribe", { secret: "another-secret-another-secret-another" }),
  "alg none": async () => {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    return `${b64({ alg: "none", typ: "JWT" })}.${b64({ org: "acme", sub: "u", scope: "subscribe", exp: 9999999999 })}.`;
  },
  "missing org": () => token(undefined, "subscribe"),
  "missing exp": () => token("acme", "subscribe", { exp: null }),
  garbage: async () => "not-a-token",
};

test("the two usual token mistakes say what to do next (the test server is a dev build: npm run token)", async () => {
  const history = async (t) => (await expectError(await fetch(`${server.url}/v1/events?token=${encodeURIComponent(t)}`), 401, "unauthorized")).error.message;
  assert.match(await history(await badTokens["bad signature"]()), /not signed with this server's TOKEN_SECRET; locally, mint one with `npm run token`/);
  assert.match(await history(await badTokens.expired()), /token expired; get a new one \(locally: `npm run token`\)/);
});

for (const [name, make] of Object.entries(badTokens)) {
  test(`a token that is ${name} is refused on stream, history and publish`, async () => {
    const t = await make();
    await expectError(await fetch(`${server.url}/v1/stream?token=${encodeURIComponent(t)}`), 401, "unauthorized");
    await expectError(await fetch(`${server.url}/v1/events?token=${encodeURIComponent(t)}`), 401, "unauthorized");
    const r = await fetch(`${server.url}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
      body: JSON.stringify(taskProgress("t")),
    });
    const body = await expectError(r, 401, "unauthorized");
    assert.ok(!body.error.message.includes(t.slice(0, 12)), "the token never appears in an error");
  });
}

test("a token without the needed scope is 403", async () => {
  const subscribeOnly = await token("acme", "subscribe");
  const r = await publish(server.url, subscribeOnly, taskProgress("t"));
  assert.equal(r.status, 403);
  assert.equal(r.body.error.code, "forbidden");
  assert.match(r.body.error.message, /publish/);

  const publishOnly = await token("acme", "publish");
  await expectError(await fetch(`${server.url}/v1/stream?token=${publishOnly}`), 403, "forbidden");
});

test("the stream also takes a bearer token", async () => {
  const t = await token("acme", "subscribe");
  const controller = new AbortController();
  const r = await fetch(`${server.url}/v1/stream`, { headers: { authorization: `Bearer ${t}` }, signal: controller.signal });
  assert.equal(r.status, 200);
  controller.abort();
});

test("publish refuses a token in the query", async () => {
  const t = await token("acme");
  const r = await fetch(`${server.url}/v1/events?token=${t}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(taskProgress("t")),
  });
  const body = await expectError(r, 401, "unauthorized");
  assert.match(body.error.message, /Authorization: Bearer/);
});

test("unknown routes are 404 and wrong methods 405 with allow", async () => {
  await expectError(await fetch(`${server.url}/v2/nothing`), 404, "not_found");
  const r = await fetch(`${server.url}/v1/stream`, { method: "POST" });
  await expectError(r, 405, "method_not_allowed");
  assert.equal(r.headers.get("allow"), "GET");
  const r2 = await fetch(`${server.url}/v1/events`, { method: "DELETE" });
  await expectError(r2, 405, "method_not_allowed");
  assert.equal(r2.headers.get("allow"), "GET, POST");
});

test("a stream ends when its token does (exp plus the 60 s of allowed skew) with stream.expired", async () => {
  // Expired 58 s ago: still valid for 2 s more.
  const t = await token("acme", "subscribe publish", { exp: Math.floor(Date.now() / 1000) - 58 });
  const s = await openStream(server.url, t);
  assert.equal(s.status, 200);
  const opened = Date.now();
  await s.until((x) => x.ended, 8000, "the stream to end");
  const after = Date.now() - opened;
  assert.equal(s.events.at(-1).event, "stream.expired");
  assert.equal(s.events.at(-1).id, undefined, "a notice, not an event: Last-Event-ID stays");
  assert.ok(after >= 500 && after < 6000, `ended ${after} ms after opening`);
  // Counted and shown in metrics (it was counted, and never rendered, before one list held both).
  const metrics = await token("acme", "metrics");
  const expired = async () => (await readMetrics(server.url, metrics)).value("orgstream_connections_total", { action: "token_expired" });
  await waitFor(expired, (n) => n >= 1, { ms: 5000, what: 'orgstream_connections_total{action="token_expired"} >= 1' });
  const fresh = await token("acme", "subscribe publish");
  const again = await openStream(server.url, fresh);
  assert.equal(again.status, 200, "a fresh token opens again");
  again.close();
});

test("with TOKEN_AUDIENCE set, a token must name it in aud", async () => {
  const strict = await startWorker({ vars: { TOKEN_AUDIENCE: "orgstream" } });
  try {
    const history = (tok) => fetch(`${strict.url}/v1/events`, { headers: { authorization: `Bearer ${tok}` } });
    const none = await expectError(await history(await token("acme", "subscribe")), 401, "unauthorized");
    assert.match(none.error.message, /its aud must include "orgstream"/);
    await expectError(await history(await token("acme", "subscribe", { claims: { aud: "billing" } })), 401, "unauthorized");
    assert.equal((await history(await token("acme", "subscribe", { claims: { aud: "orgstream" } }))).status, 200);
    assert.equal((await history(await token("acme", "subscribe", { claims: { aud: ["billing", "orgstream"] } }))).status, 200);
  } finally {
    await strict.stop();
  }
  assert.equal((await fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${await token("acme", "subscribe")}` } })).status, 200, "unset: aud is not needed");
});

test("rotating the token secret: tokens of both secrets work while TOKEN_SECRET_PREVIOUS is set, a kid picks its secret, and the previous stops when it is unset", async () => {
  const NEW = "orgstream-rotated-secret-9876543210fedcba9876543210";
  const OLD = TEST_SECRET; // what the tokens of the other tests are signed with
  const rotating = { TOKEN_SECRET: NEW, TOKEN_SECRET_ID: "k2", TOKEN_SECRET_PREVIOUS: OLD, TOKEN_SECRET_PREVIOUS_ID: "k1" };
  let rotated = await startWorker({ vars: rotating });
  try {
    const status = async (tok) => (await fetch(`${rotated.url}/v1/events`, { headers: { authorization: `Bearer ${tok}` } })).status;
    const oldToken = await token("rotate-org", "subscribe");
    const newToken = await token("rotate-org", "subscribe", { secret: NEW });
    assert.deepEqual([await status(oldToken), await status(newToken)], [200, 200], "both secrets, no kid");
    assert.equal(await status(await token("rotate-org", "subscribe", { header: { kid: "k1" } })), 200, "kid k1: the previous secret");
    assert.equal(await status(await token("rotate-org", "subscribe", { secret: NEW, header: { kid: "k2" } })), 200);
    assert.equal(await status(await token("rotate-org", "subscribe", { header: { kid: "k2" } })), 401, "kid k2 is checked with the new secret only");
    assert.equal((await fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${await token("rotate-org", "subscribe", { header: { kid: "any" } })}` } })).status, 200, "without ids set, a kid is ignored");
    const unknown = await expectError(
      await fetch(`${rotated.url}/v1/events`, { headers: { authorization: `Bearer ${await token("rotate-org", "subscribe", { header: { kid: "k9" } })}` } }),
      401,
      "unauthorized",
    );
    assert.match(unknown.error.message, /kid "k9" names no secret of this server/);
    // A stream opened with a token of the previous secret, through a ticket (signed with the new one).
    const ticket = await fetch(`${rotated.url}/v1/stream/ticket`, { method: "POST", headers: { authorization: `Bearer ${oldToken}` } });
    assert.equal(ticket.status, 200);
    const s = await openStream(rotated.url, "", { query: { ticket: (await ticket.json()).ticket } });
    assert.equal(s.status, 200);
    s.close();
    // A ticket issued before the secret changed (signed with the old one) still opens a stream.
    const early = await fetch(`${server.url}/v1/stream/ticket`, { method: "POST", headers: { authorization: `Bearer ${oldToken}` } });
    const late = await openStream(rotated.url, "", { query: { ticket: (await early.json()).ticket } });
    assert.equal(late.status, 200, "tickets are checked with both secrets");
    late.close();

    // The rotation ends: the previous secret is removed.
    rotated = await rotated.restart({ TOKEN_SECRET: NEW, TOKEN_SECRET_ID: "k2" });
    assert.deepEqual([await status(oldToken), await status(newToken)], [401, 200], "the previous secret's tokens stop");
  } finally {
    await rotated.stop();
  }
  // A short previous secret is a misconfiguration, named in the log as TOKEN_SECRET's is.
  const short = await startWorker({ vars: { TOKEN_SECRET_PREVIOUS: "short" } });
  try {
    assert.equal((await fetch(`${short.url}/healthz`)).status, 503);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.match(readFileSync(short.logPath, "utf8"), /TOKEN_SECRET_PREVIOUS must be at least 32 bytes/);
  } finally {
    await short.stop();
  }
});
