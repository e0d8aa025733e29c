// The dev token exists only in dev mode; client error reports are checked and rate-limited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support/worker.mjs";
import { token } from "./support/client.mjs";

let prod;
let dev;
before(async () => {
  prod = await startWorker();
  dev = await startWorker({ vars: { DEV_MODE: "true" } });
});
after(async () => {
  await prod?.stop();
  await dev?.stop();
});

test("without DEV_MODE there is no dev token route; with it, the token works for subscribe and publish", async () => {
  const none = await fetch(`${prod.url}/v1/dev/token`);
  assert.equal(none.status, 404);
  assert.equal((await none.json()).error.code, "not_found");

  const r = await fetch(`${dev.url}/v1/dev/token?org=acme`);
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.org, "acme");
  const publish = await fetch(`${dev.url}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${body.token}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "version.available", data: { version: "1" } }),
  });
  assert.equal(publish.status, 202);
  assert.equal((await fetch(`${dev.url}/v1/dev/token?org=NOT%20OK`)).status, 400);
});

test("the dashboard page is served at /", async () => {
  const r = await fetch(`${prod.url}/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /text\/html/);
  assert.match(await r.text(), /orgstream live dashboard/);
});

const report = (url, tok, body) =>
  fetch(`${url}/v1/audit/client-error`, {
    method: "POST",
    headers: { authorization: `Bearer ${tok}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

test("client error reports: subscribe scope, checked bodies, 10 a minute per token", async () => {
  const t = await token("audit-org", "subscribe");
  assert.equal((await report(prod.url, await token("audit-org", "publish"), { message: "x" })).status, 403);
  assert.equal((await report(prod.url, t, { msg: "wrong field" })).status, 400);
  assert.equal((await report(prod.url, t, { message: "x", stack: "s".repeat(9000) })).status, 400);
  for (let i = 0; i < 10; i++) {
    const r = await report(prod.url, t, { message: `boom ${i}`, url: "http://page/" });
    assert.equal(r.status, 202, `report ${i}`);
  }
  const limited = await report(prod.url, t, { message: "one too many" });
  assert.equal(limited.status, 429);
  assert.equal((await limited.json()).error.code, "rate_limited");
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  const other = await token("audit-org", "subscribe", { claims: { sub: "another-user" } });
  assert.equal((await report(prod.url, other, { message: "a different token" })).status, 202, "per token");
});
