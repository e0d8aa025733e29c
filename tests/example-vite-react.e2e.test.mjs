// The browser packages as an app gets them: `npm run pack` writes the two tarballs, the example app
// in examples/vite-react (Vite + React + TypeScript + TanStack Query) installs them from there
// with its other dependencies from the npm registry, type-checks against their .d.ts files,
// builds with Vite, and runs in headless Chromium against the worker through Vite's proxy. A
// published event must show up on the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { collectErrors, launchChromium } from "./support/browser.mjs";
import { startWorker, freePort, root } from "./support/worker.mjs";
import { token, publish, taskProgress } from "./support/client.mjs";

const app = join(root, "examples", "vite-react");

/** Runs a command to completion, failing the test with its output if it fails. */
function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} in ${cwd} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

let server;
let preview;
let browser;
before(async () => {
  sh("node", [join(root, "scripts", "pack.mjs")], root);
  // npm keeps an installed package whose version matches, even when its tarball changed: remove
  // the two so the tarballs just packed are the ones installed.
  rmSync(join(app, "node_modules", "@orgstream"), { recursive: true, force: true });
  // --no-package-lock: the tarballs change with every build; the example pins its direct
  // dependencies by version in package.json.
  sh("npm", ["install", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error"], app);
  server = await startWorker({ vars: { DEV_MODE: "true" } }); // the page gets dev tokens
});
after(async () => {
  await browser?.close();
  preview?.kill();
  await server?.stop();
});

test("both tarballs carry the repository's LICENSE", () => {
  for (const tarball of readdirSync(join(root, "packages")).filter((f) => f.endsWith(".tgz"))) {
    const listed = spawnSync("tar", ["-tzf", join(root, "packages", tarball)], { encoding: "utf8" }).stdout.split("\n");
    assert.ok(listed.includes("package/LICENSE"), `${tarball} has LICENSE`);
  }
  assert.equal(readdirSync(join(root, "packages")).filter((f) => f.endsWith(".tgz")).length, 2);
});

test("the packed packages install into a Vite app, type-check, build, and show a published event", async () => {
  // `npm run build` is `tsc --noEmit && vite build`: the packages' types must hold in the app.
  sh("npm", ["run", "build", "--silent"], app);

  const port = await freePort();
  preview = spawn(join(app, "node_modules", ".bin", "vite"), ["preview", "--port", String(port), "--strictPort", "--host", "127.0.0.1"], {
    cwd: app,
    env: { ...process.env, ORGSTREAM_URL: server.url },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  preview.stdout.on("data", (d) => (log += d));
  preview.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await fetch(url).then((r) => r.ok, () => false);
    if (up) break;
    assert.ok(i < 100, `vite preview did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  browser = await launchChromium();
  const page = await browser.newPage();
  const errors = collectErrors(page);
  const t = await token("dev"); // the org of the dev token the page gets
  assert.equal((await publish(server.url, t, taskProgress("before-load", 0.25))).status, 202);

  await page.goto(url);
  await page.waitForSelector('[data-status="connected"]', { timeout: 5000 });
  await page.waitForSelector('[data-task="before-load"]', { timeout: 5000 });
  assert.match(await page.textContent('[data-task="before-load"]'), /25%/, "the initial state, from history");

  assert.equal((await publish(server.url, t, taskProgress("live", 0.75))).status, 202);
  await page.waitForSelector('[data-task="live"]', { timeout: 2000 });
  assert.match(await page.textContent('[data-task="live"]'), /75%/, "a live event, through the stream");
  // The feature hook: the org's plan gains "exports" and the button appears without a reload.
  assert.equal(await page.locator('[data-testid="export"]').count(), 0);
  const plan = { type: "org.entitlements.changed", data: { plan: "team", features: ["exports"], limits: {}, effectiveAt: "2026-11-26T09:00:00Z" } };
  assert.equal((await publish(server.url, t, plan)).status, 202);
  await page.waitForSelector('[data-testid="export"]', { timeout: 2000 });
  assert.deepEqual(errors, []);
});
