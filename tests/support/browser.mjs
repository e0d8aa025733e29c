// Headless Chromium for the end-to-end tests: Debian's chromium through playwright-core (no browser
// download), with the flags this machine's closed network needs.
import { before, after } from "node:test";
import { chromium } from "playwright-core";
import { startWorker } from "./worker.mjs";

export function launchChromium() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/**
 * For a test file: a worker (with `vars`) and headless Chromium, started before its tests and
 * stopped after them. Returns `{ server, browser }`, filled in once they started.
 */
export function workerAndBrowser(vars) {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startWorker({ vars });
    env.browser = await launchChromium();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

/** Collects into `errors` what `page` throws and what it logs as an error to its console. */
export function collectErrors(page, errors = []) {
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  return errors;
}
