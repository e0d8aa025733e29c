// The dashboard in real headless Chromium (playwright-core with Debian's chromium; no browser
// download) against the worker: connected within 1 s, events within 1 s, reconnecting then offline
// with the banner while the server is away, polling once it answers again, Reconnect back to connected, and every event shown
// exactly once, in order. Screenshots of each state go to tests/artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./support/browser.mjs";
import { startWorker, root } from "./support/worker.mjs";
import { token, publish, taskProgress } from "./support/client.mjs";

const artifacts = join(root, "tests", "artifacts");
mkdirSync(artifacts, { recursive: true });

let server;
let browser;
before(async () => {
  server = await startWorker({ vars: { DEV_MODE: "true", HEARTBEAT_INTERVAL_MS: 1000 } });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const status = (page) => page.getAttribute('[data-testid="connection-status"]', "data-status");
const feedIds = (page) => page.$$eval('[data-testid="feed"] li', (lis) => lis.map((li) => li.dataset.id));
const shot = (page, name) => page.screenshot({ path: join(artifacts, `dashboard-${name}.png`), fullPage: true });

test("the dashboard stays honest through a server outage and shows every event once, in order", async () => {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(e.message));
  const notFound = [];
  page.on("response", (r) => r.status() === 404 && notFound.push(r.url()));
  const t = await token("dev"); // the dev token's default org
  const published = [];
  const send = async (label) => {
    const r = await publish(server.url, t, taskProgress(label));
    assert.equal(r.status, 202);
    published.push(r.body.ids[0]);
  };
  await send("before-load");

  await page.goto(`${server.url}/?backoffScale=0.05&pollMs=700&silenceMs=5000`);
  const loadedAt = Date.now();
  await page.waitForSelector('[data-status="connected"]', { timeout: 1000 });
  assert.ok(Date.now() - loadedAt <= 1000, "connected within 1 s of load");
  assert.deepEqual(notFound, [], "the first load asks for nothing that is not there (a favicon, say)");
  // The badge says the state by its name (the story's words: connected, reconnecting, polling, offline).
  assert.match(await page.textContent('[data-status="connected"]'), /Connected/);
  await page.waitForSelector('[data-testid="feed"] li[data-id="1"]', { timeout: 2000 });
  // Default query options (TanStack's staleTime 0): connected means up to date all the same.
  assert.match(await page.textContent('[data-testid="freshness"]'), /^up to date/);
  await shot(page, "1-connected");

  await send("live-1");
  const sentAt = Date.now();
  await page.waitForSelector(`[data-testid="feed"] li[data-id="${published.at(-1)}"]`, { timeout: 1000 });
  assert.ok(Date.now() - sentAt <= 1000, "a published event shows within 1 s");
  assert.equal(await page.getAttribute(`li[data-id="${published.at(-1)}"]`, "data-type"), "task.progress");
  // A task.progress at 0.5 reads as a half-full bar, not JSON.
  assert.equal(await page.getAttribute(`li[data-id="${published.at(-1)}"] progress`, "value"), "0.5");
  assert.match(await page.textContent(`li[data-id="${published.at(-1)}"]`), /live-1 +50%/);

  // The publish form on the page uses the dev token.
  await page.click('[data-testid="publish"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="publish-result"]')?.textContent?.startsWith("published"));
  const formId = (await page.textContent('[data-testid="publish-result"]')).match(/\d+/)[0];
  published.push(formId);
  await page.waitForSelector(`li[data-id="${formId}"]`, { timeout: 1000 });

  // The server goes away: reconnecting, then (after 5 failures) offline with the banner: the
  // page polls, but no poll is answered, so it does not say "polling".
  await server.stop();
  await page.waitForSelector('[data-status="reconnecting"]', { timeout: 5000 });
  assert.match(await page.textContent('[data-testid="freshness"]'), /^may be behind/);
  await shot(page, "2-reconnecting");
  await page.waitForSelector('[data-status="offline"]', { timeout: 15000 });
  await page.waitForSelector('[data-testid="paused-banner"]', { timeout: 1000 });
  assert.match(await page.textContent('[data-testid="paused-banner"]'), /Live updates paused/);
  await shot(page, "3-offline");

  // Back: the polls are answered, so polling; events published now arrive by polling.
  server = await server.start();
  await page.waitForSelector('[data-status="polling-fallback"]', { timeout: 5000 });
  await shot(page, "3-polling");
  await send("while-polling");
  await page.waitForSelector(`li[data-id="${published.at(-1)}"]`, { timeout: 5000 });
  assert.equal(await status(page), "polling-fallback");

  // Reconnect: back to the stream.
  await page.click('[data-testid="paused-banner"] button');
  await page.waitForSelector('[data-status="connected"]', { timeout: 3000 });
  assert.equal(await page.$('[data-testid="paused-banner"]'), null, "the banner is gone");
  await send("after-reconnect");
  await page.waitForSelector(`li[data-id="${published.at(-1)}"]`, { timeout: 1000 });
  await shot(page, "4-reconnected");

  assert.deepEqual(await feedIds(page), published, "every event exactly once, in order");
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test("the badge says offline while the browser has no network, and reconnects when it returns", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('[data-status="connected"]', { timeout: 3000 });
  await context.setOffline(true);
  await page.waitForSelector('[data-status="offline"]', { timeout: 2000 });
  await page.waitForSelector('[data-testid="paused-banner"]', { timeout: 1000 });
  await shot(page, "6-offline");
  await context.setOffline(false);
  await page.waitForSelector('[data-status="connected"]', { timeout: 3000 });
  await context.close();
});

test("an org with no events says how to publish one, and the first event replaces the hint", async () => {
  const page = await browser.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(new URL(r.url())));
  await page.goto(`${server.url}/?org=empty-org`);
  await page.waitForSelector('[data-testid="empty-org"]', { timeout: 3000 });
  await page.waitForSelector('[data-status="connected"]', { timeout: 3000 });
  await page.waitForTimeout(1000);
  // On load: one read of the feed (not a second one when the stream connects), and dev tokens
  // only for the page's start and the stream's first (the stream keeps its token until near exp).
  const count = (f) => requests.filter(f).length;
  assert.equal(count((u) => u.pathname === "/v1/events" && u.searchParams.get("limit") === "1000"), 1, "the feed is read once");
  assert.equal(count((u) => u.pathname === "/v1/dev/token"), 2, "two dev tokens");
  const hint = await page.textContent('[data-testid="empty-org"]');
  assert.match(hint, /No events in org empty-org yet/);
  assert.match(hint, /npm run -s token -- --org empty-org/);
  assert.ok(hint.includes(`curl -X POST ${server.url}/v1/events`), "the command names this server");
  await shot(page, "0-empty-org");
  await page.click('[data-testid="publish"]');
  await page.waitForSelector('[data-testid="feed"] li[data-id="1"]', { timeout: 3000 });
  assert.equal(await page.$('[data-testid="empty-org"]'), null);
  // Each row: when (the envelope's ts, in local time), the id, the type, what it says.
  assert.match(await page.getAttribute('[data-testid="feed"] li[data-id="1"] time', "datetime"), /^\d{4}-\d\d-\d\dT/);
  await page.close();
});

test("the error boundary reports to POST /v1/audit/client-error", async () => {
  const page = await browser.newPage();
  const reports = [];
  page.on("response", (r) => {
    if (r.url().endsWith("/v1/audit/client-error")) reports.push(r.status());
  });
  await page.goto(`${server.url}/?crashButton=1`);
  await page.waitForSelector('[data-status="connected"]', { timeout: 3000 });
  await page.click('[data-testid="crash"]');
  await page.waitForSelector('[data-testid="fatal-error"]', { timeout: 2000 });
  for (let i = 0; i < 40 && reports.length === 0; i++) await page.waitForTimeout(50);
  assert.deepEqual(reports, [202]);
  await shot(page, "5-error-boundary");
  await page.close();
});

test("each event type reads as what it is, the JSON is one click away, and the feed filters by type", async () => {
  const org = "types"; // an org of its own: ?org= picks it for the dev token
  const t = await token(org);
  const now = "2026-11-26T09:00:00Z";
  const events = [
    { type: "run.stage", data: { runId: "r1", stage: "diffing", progress: 0.4 } },
    { type: "change.detected", data: { changeId: "c1", vendorId: "v1", title: "Pricing page changed", severity: "critical", detectedAt: now } },
    { type: "change.stateChanged", data: { changeId: "c1", from: "new", to: "triaged", changedAt: now } },
    { type: "action.delivered", data: { actionId: "a1", changeId: "c1", channel: "slack", status: "failed", deliveredAt: now, error: "channel archived" } },
    { type: "task.progress", data: { taskId: "t1", progress: 0.5 } },
    { type: "version.available", data: { version: "2.4.0" } },
  ];
  const r = await publish(server.url, t, { events });
  assert.equal(r.status, 202);
  const page = await browser.newPage();
  await page.goto(`${server.url}/?org=${org}`);
  await page.waitForSelector('[data-status="connected"]', { timeout: 3000 });
  await page.waitForSelector(`[data-testid="feed"] li[data-id="${r.body.ids.at(-1)}"]`, { timeout: 3000 });
  const row = (type) => page.locator(`[data-testid="feed"] li[data-type="${type}"]`);
  assert.equal(await row("run.stage").locator('[data-testid="stage"]').textContent(), "diffing");
  assert.equal(await row("run.stage").locator("progress").getAttribute("value"), "0.4");
  assert.equal(await row("change.detected").locator('[data-testid="severity"]').textContent(), "critical");
  assert.equal(await row("change.stateChanged").locator('[data-testid="transition"]').textContent(), "new → triaged");
  assert.equal(await row("action.delivered").locator('[data-testid="delivery"]').textContent(), "failed");
  assert.match(await row("action.delivered").textContent(), /channel archived/);
  assert.equal(await row("task.progress").locator("progress").getAttribute("value"), "0.5");
  assert.match(await page.textContent('[data-testid="version-banner"]'), /Version 2\.4\.0 is available/);
  assert.equal(await page.locator('[data-testid="version-banner"] button').textContent(), "Reload");
  // The raw JSON, one click away.
  assert.equal(await row("change.detected").locator('[data-testid="raw-json"]').isVisible(), false);
  await row("change.detected").locator("summary").click();
  assert.deepEqual(JSON.parse(await row("change.detected").locator('[data-testid="raw-json"]').textContent()), events[1].data);
  await shot(page, "7-event-types");
  // The filter shows one type.
  await page.selectOption('[data-testid="type-filter"]', "change.detected");
  assert.deepEqual(await page.$$eval('[data-testid="feed"] li', (lis) => lis.map((li) => li.dataset.type)), ["change.detected"]);
  await shot(page, "8-filtered");
  await page.close();
});
