// The client tells the truth about a refused token, in real headless Chromium against the worker:
// the dashboard with a token the server refuses shows `unauthorized` and the server's reason
// within a few seconds, never `polling`; a token that works, pasted into the page, recovers it
// without a reload. (A stopped worker, reconnecting then offline, is in dashboard.e2e.test.mjs.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { workerAndBrowser, collectErrors } from "./support/browser.mjs";
import { token } from "./support/client.mjs";

// No DEV_MODE: the dashboard asks for a token, which it keeps in session storage.
const env = workerAndBrowser({});

/** The statuses the badge showed, in order (from a MutationObserver in the page). */
const watchStatuses = (page) =>
  page.addInitScript(() => {
    window.statuses = [];
    new MutationObserver(() => {
      const now = document.querySelector('[data-testid="connection-status"]')?.getAttribute("data-status");
      if (now && window.statuses.at(-1) !== now) window.statuses.push(now);
    }).observe(document, { subtree: true, childList: true, attributes: true });
  });

test("a refused token shows unauthorized with the server's reason, never polling, and a token that works recovers without a reload", async () => {
  const page = await env.browser.newPage();
  const errors = collectErrors(page);
  const notFound = [];
  page.on("response", (r) => r.status() === 404 && notFound.push(new URL(r.url()).pathname));
  const refused = await token("auth-org", "subscribe", { secret: "not-the-secret-of-this-worker-0123456789" });
  await page.addInitScript((t) => sessionStorage.setItem("orgstream-token", t), refused);
  await watchStatuses(page);
  await page.goto(`${env.server.url}/?backoffScale=0.05&pollMs=500&recheckMs=60000`);
  const loadedAt = Date.now();
  await page.waitForSelector('[data-status="unauthorized"]', { timeout: 5000 });
  const shownAfter = Date.now() - loadedAt;
  const banner = await page.textContent('[data-testid="unauthorized-banner"]');
  assert.match(banner, /The server refused the token/);
  assert.match(banner, /401 unauthorized: /, "the server's status and code");
  // Held long enough that polling would have started (5 failures at 5% of the usual backoff).
  await page.waitForTimeout(3000);
  assert.equal(await page.getAttribute('[data-testid="connection-status"]', "data-status"), "unauthorized");
  const statuses = await page.evaluate(() => window.statuses);
  assert.ok(!statuses.includes("polling-fallback"), `never polling: ${statuses}`);

  // A token that works, pasted into the banner: connected, no reload.
  await page.evaluate(() => (window.notReloaded = true));
  await page.fill('[data-testid="new-token"]', await token("auth-org", "subscribe"));
  await page.click('[data-testid="use-token"]');
  await page.waitForSelector('[data-status="connected"]', { timeout: 5000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true, "the same page");
  assert.equal(await page.$('[data-testid="unauthorized-banner"]'), null);
  // The failed requests are the browser's own console lines for the 401s and the dev token this
  // server does not hand out (404); the page threw nothing.
  assert.deepEqual([...new Set(notFound)], ["/v1/dev/token"]);
  assert.deepEqual(errors.filter((e) => !/status of (401|404)/.test(e)), []);
  console.log(`unauthorized shown ${shownAfter} ms after load; statuses: ${(await page.evaluate(() => window.statuses)).join(" -> ")}`);
  await page.close();
});

test("a deployed dashboard takes a token from the address once, keeps it out of every URL after, and connects", async () => {
  const page = await env.browser.newPage();
  const urls = [];
  page.on("request", (r) => urls.push(r.url()));
  const good = await token("auth-org", "subscribe publish");
  await page.goto(`${env.server.url}/?token=${good}&org=auth-org`);
  await page.waitForSelector('[data-status="connected"]', { timeout: 5000 });
  assert.equal(new URL(page.url()).search, "?org=auth-org", "the token is taken out of the address");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("orgstream-token")), good);
  await page.click('[data-testid="publish"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="publish-result"]')?.textContent?.startsWith("published"));
  const withToken = urls.slice(1).filter((u) => u.includes(good) || new URL(u).searchParams.has("token"));
  assert.deepEqual(withToken, [], "no request after the first carries the token in its URL");
  await page.close();
});
