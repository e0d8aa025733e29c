// The dev routes (the dev token, the hub-only benchmark's socket) exist only in dev builds, in
// dev mode, on loopback; client error reports are checked and rate-limited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { readFileSync } from "node:fs";
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
  assert.equal((await fetch(`${dev.url.replace("127.0.0.1", "localhost")}/v1/dev/token`)).status, 200, "localhost is loopback too");
});

/** GET with a Host header of our choosing (fetch does not let a caller set it). */
function getWithHost(url, host) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("a dev server reached by another name than loopback hands out no token", async () => {
  const port = new URL(dev.url).port;
  for (const host of [`example.com:${port}`, `192.168.1.10:${port}`, `dev.internal:${port}`]) {
    const r = await getWithHost(`${dev.url}/v1/dev/token?org=acme`, host);
    assert.equal(r.status, 404, host);
    assert.equal(JSON.parse(r.body).error.code, "not_found");
  }
  assert.equal((await getWithHost(`${dev.url}/v1/dev/token?org=acme`, `127.0.0.1:${port}`)).status, 200, "the same request on loopback works");
});

/**
 * Opens `path` as a WebSocket with node:http (no client library) and resolves with its first
 * `count` server messages (unmasked binary frames, short lengths), or with the HTTP answer when
 * it is not an upgrade.
 */
function hubSocketMessages(url, path, count, afterOpen = async () => {}) {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {
      headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("upgrade", (res, socket, head) => {
      let buf = head;
      const messages = [];
      const take = () => {
        while (buf.length >= 2 && messages.length < count) {
          let len = buf[1] & 0x7f;
          let at = 2;
          if (len === 126) [len, at] = [buf.readUInt16BE(2), 4];
          if (buf.length < at + len) return;
          messages.push(buf.subarray(at, at + len));
          buf = buf.subarray(at + len);
        }
        if (messages.length === count) {
          socket.destroy();
          resolve({ status: res.statusCode, messages });
        }
      };
      socket.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        take();
      });
      take();
      afterOpen().catch(reject);
    });
    req.on("error", reject);
    req.end();
  });
}

test("in dev mode, the hub-only benchmark's route hands over the hub's stream socket: its catch-up, then live frames", async () => {
  const tok = await token("hub-socket-org", "subscribe publish");
  const publish = () =>
    fetch(`${dev.url}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${tok}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "version.available", data: { version: "7" } }),
    });
  const r = await hubSocketMessages(dev.url, `/v1/dev/hub-socket?token=${tok}`, 2, async () => assert.equal((await publish()).status, 202));
  assert.equal(r.status, 101);
  const [catchUp, live] = r.messages;
  assert.equal(String.fromCharCode(catchUp[0]), "C", "the catch-up first (nothing missed)");
  assert.equal(String.fromCharCode(live[0]), "L", "then live frames");
  assert.equal(live.readUInt32LE(1), 1, "one frame");
  // Each live frame's id (8 bytes) and where it ends (4 bytes), then the frames.
  assert.equal(live.readBigUInt64LE(5), 1n, "its id");
  assert.equal(live.readUInt32LE(13), live.length - 17, "where it ends");
  assert.match(live.subarray(17).toString(), /^id: 1\nevent: version\.available\ndata: /);

  const refused = await hubSocketMessages(dev.url, `/v1/dev/hub-socket?token=${await token("hub-socket-org", "publish")}`, 1);
  assert.equal(refused.status, 403, "a subscribe token is needed");
  const off = await hubSocketMessages(prod.url, `/v1/dev/hub-socket?token=${tok}`, 1);
  assert.equal(off.status, 404, "without DEV_MODE there is no such route");
});

test("a release build has no dev routes, even with DEV_MODE=true", async () => {
  const release = await startWorker({ build: "release", vars: { DEV_MODE: "true" } });
  try {
    const r = await fetch(`${release.url}/v1/dev/token?org=acme`);
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error.code, "not_found");
    const socket = await hubSocketMessages(release.url, `/v1/dev/hub-socket?token=${await token("acme")}`, 1);
    assert.equal(socket.status, 404);
    assert.equal((await fetch(`${release.url}/healthz`)).status, 200, "the release build serves");
  } finally {
    await release.stop();
  }
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

test("client error reports: subscribe scope, checked bodies, 10 a minute per subject whatever its token", async () => {
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
  const fresh = await token("audit-org", "subscribe", { exp: "2h" });
  assert.notEqual(fresh, t);
  assert.equal((await report(prod.url, fresh, { message: "a fresh token" })).status, 429, "a fresh token of the same subject does not reset the limit");
  const other = await token("audit-org", "subscribe", { claims: { sub: "another-user" } });
  assert.equal((await report(prod.url, other, { message: "a different subject" })).status, 202, "per subject");
});

test("nothing a caller sends can forge a log line", async () => {
  const t = await token("audit-org-2", "subscribe", { claims: { sub: "mallory\nFORGED admin logged in" } });
  const r = await report(prod.url, t, { message: "line one\nFORGED too" });
  assert.equal(r.status, 202);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const log = readFileSync(prod.logPath, "utf8");
  assert.match(log, /client error from mallory\\u\{a\}FORGED admin logged in in org audit-org-2: /);
  assert.ok(!/^FORGED/m.test(log), "no line starts with what the caller sent");
});

test("GET /v1/client-errors reads back the org's reports, newest first, with the metrics scope", async () => {
  const sub = await token("reports-org", "subscribe", { claims: { sub: "page-user" } });
  for (const message of ["first failure", "second failure"]) assert.equal((await report(prod.url, sub, { message, url: "http://app/" })).status, 202);
  const ops = await token("reports-org", "metrics");
  const read = async (query = "", tok = ops) => {
    const r = await fetch(`${prod.url}/v1/client-errors${query}`, { headers: { authorization: `Bearer ${tok}` } });
    return { status: r.status, body: await r.json() };
  };
  const all = await read();
  assert.equal(all.status, 200);
  assert.deepEqual(all.body.reports.map((r) => [r.sub, r.report.message]), [["page-user", "second failure"], ["page-user", "first failure"]]);
  assert.match(all.body.reports[0].ts, /^\d{4}-\d\d-\d\dT/);
  assert.equal(all.body.hasMore, false);
  const one = await read("?limit=1");
  assert.deepEqual([one.body.reports.length, one.body.hasMore], [1, true]);
  const older = await read(`?limit=1&before=${one.body.reports[0].id}`);
  assert.deepEqual([older.body.reports[0].report.message, older.body.hasMore], ["first failure", false]);
  assert.equal((await read("", sub)).status, 403, "a subscribe token cannot read them");
  assert.equal((await read("?before=x")).status, 400);
  const otherOrg = await read("", await token("another-org", "metrics"));
  assert.deepEqual(otherOrg.body.reports, [], "another org's reports are its own");
});
