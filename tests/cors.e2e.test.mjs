// Browser apps on another origin (ALLOWED_ORIGINS): a real page in headless Chromium, served from
// another port, streams and reads history from the worker when its origin is allowed, and gets
// nothing when it is not; preflights and headers checked directly too.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { launchChromium } from "./support/browser.mjs";
import { startWorker, freePort } from "./support/worker.mjs";
import { token, publish, taskProgress } from "./support/client.mjs";

// The app's page: opens a stream and asks for history with a bearer token (a preflighted request).
const PAGE = `<!doctype html><meta charset="utf-8"><title>app</title><script>
  const q = new URLSearchParams(location.search);
  const worker = q.get("worker"), token = q.get("token");
  window.got = []; window.streamError = false; window.historyResult = null;
  const es = new EventSource(worker + "/v1/stream?token=" + encodeURIComponent(token));
  es.addEventListener("task.progress", (e) => window.got.push(JSON.parse(e.data).data.taskId));
  es.onerror = () => { window.streamError = true; };
  fetch(worker + "/v1/events?limit=10", { headers: { authorization: "Bearer " + token } })
    .then((r) => r.json().then((b) => { window.historyResult = { status: r.status, events: b.events.length }; }))
    .catch((e) => { window.historyResult = { error: String(e) }; });
</script>`;

let server;
let site;
let sitePort;
let browser;
before(async () => {
  sitePort = await freePort();
  site = createServer((req, res) => res.writeHead(200, { "content-type": "text/html" }).end(PAGE));
  await new Promise((r) => site.listen(sitePort, "127.0.0.1", r));
  // Allowed: the page at 127.0.0.1:<port>. Not allowed: the same page at localhost:<port>.
  server = await startWorker({ vars: { ALLOWED_ORIGINS: `http://127.0.0.1:${sitePort}, https://app.example.com` } });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  site?.close();
});

async function openApp(host, tok) {
  const page = await browser.newPage();
  await page.goto(`http://${host}:${sitePort}/?worker=${encodeURIComponent(server.url)}&token=${encodeURIComponent(tok)}`);
  return page;
}

test("a page on an allowed origin streams and reads history; one on another origin gets nothing", async () => {
  const tok = await token("cors-org", "subscribe publish");
  assert.equal((await publish(server.url, tok, taskProgress("before"))).status, 202);

  const allowed = await openApp("127.0.0.1", tok);
  await allowed.waitForFunction(() => window.historyResult !== null, null, { timeout: 5000 });
  assert.deepEqual(await allowed.evaluate(() => window.historyResult), { status: 200, events: 1 });
  const other = await openApp("localhost", tok);
  await other.waitForFunction(() => window.historyResult !== null && window.streamError, null, { timeout: 5000 });
  assert.match((await other.evaluate(() => window.historyResult)).error, /TypeError/, "the browser kept the answer from the page");

  await allowed.waitForTimeout(300); // the stream is open
  assert.equal((await publish(server.url, tok, taskProgress("live"))).status, 202);
  await allowed.waitForFunction(() => window.got.includes("live"), null, { timeout: 5000 });
  assert.equal(await allowed.evaluate(() => window.streamError), false);
  assert.deepEqual(await other.evaluate(() => window.got), []);
  await allowed.close();
  await other.close();
});

test("preflights and answers carry CORS headers only for allowed origins and browser-facing routes", async () => {
  const preflight = (path, origin) =>
    fetch(`${server.url}${path}`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
  const ok = await preflight("/v1/events", "https://app.example.com");
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example.com");
  assert.equal(ok.headers.get("access-control-allow-methods"), "GET, POST");
  assert.match(ok.headers.get("access-control-allow-headers"), /authorization/);
  assert.equal(ok.headers.get("access-control-allow-credentials"), null);
  assert.match(ok.headers.get("vary"), /origin/i);

  const denied = await preflight("/v1/events", "https://evil.example.com");
  assert.equal(denied.headers.get("access-control-allow-origin"), null);
  assert.equal(denied.status, 405);
  const metrics = await preflight("/v1/metrics", "https://app.example.com");
  assert.equal(metrics.headers.get("access-control-allow-origin"), null, "metrics is for servers");
  // Feature flags read GET /v1/events/latest: its preflight was a 405 while the CORS route list
  // and the router's were two lists (one table now).
  const latest = await preflight("/v1/events/latest", "https://app.example.com");
  assert.equal(latest.status, 204);
  assert.equal(latest.headers.get("access-control-allow-methods"), "GET");
  const ticket = await preflight("/v1/stream/ticket", "https://app.example.com");
  assert.equal(ticket.status, 204);
  assert.equal(ticket.headers.get("access-control-allow-methods"), "POST");

  const tok = await token("cors-org", "subscribe");
  const refused = await fetch(`${server.url}/v1/events?token=${tok}&limit=0`, { headers: { origin: "https://app.example.com" } });
  assert.equal(refused.status, 400);
  assert.equal(refused.headers.get("access-control-allow-origin"), "https://app.example.com", "errors too, so the page can read them");
  assert.match(refused.headers.get("access-control-expose-headers"), /retry-after/);
  const sameOrigin = await fetch(`${server.url}/v1/events?token=${tok}`);
  assert.equal(sameOrigin.headers.get("access-control-allow-origin"), null, "no Origin, no CORS headers");
});

test("a bad ALLOWED_ORIGINS is named in the answer", async () => {
  const bad = await startWorker({ vars: { ALLOWED_ORIGINS: "*" } });
  try {
    const r = await fetch(`${bad.url}/v1/events`, { headers: { origin: "https://app.example.com" } });
    assert.equal(r.status, 500);
    assert.match((await r.json()).error.message, /ALLOWED_ORIGINS must be comma-separated origins/);
  } finally {
    await bad.stop();
  }
});
