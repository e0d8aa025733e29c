// The user's path: `npm run dev -- <wrangler dev flags>` serves the worker (building it through
// wrangler's [build] command), and `npm run token` mints tokens it accepts.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "./support/worker.mjs";
import { openStream } from "./support/client.mjs";
import { createServer } from "node:net";

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

let child;
/** Every `npm run dev` started here: its process group is stopped after the file's tests. */
const started = [];
after(() => {
  for (const c of started) {
    try {
      process.kill(-c.pid, "SIGTERM");
    } catch {}
  }
});

let devLog;

/** Starts `npm run dev`; returns its URL, or null when a port was taken under it. */
async function startDev() {
  const dir = mkdtempSync(join(tmpdir(), "orgstream-dev-"));
  const port = await freePort();
  const logPath = join(dir, "dev.log");
  devLog = logPath;
  const log = openSync(logPath, "a");
  child = spawn(
    "npm",
    ["run", "dev", "--", "--port", String(port), "--inspector-port", String(await freePort()), "--persist-to", dir,
      "--var", "HEARTBEAT_INTERVAL_MS:250", "--show-interactive-dev-session=false"],
    { cwd: root, stdio: ["ignore", log, log], detached: true, env: { ...process.env, CI: "true" } },
  );
  started.push(child);
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) {
      if (/Address already in use|is in use \(another npm run dev\?\)/.test(readFileSync(logPath, "utf8"))) return null;
      assert.fail(`npm run dev exited; see ${logPath}`);
    }
    assert.ok(Date.now() < deadline, `npm run dev did not serve ${url}; see ${logPath}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return url;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("npm run dev passes flags through to wrangler dev, and npm run token mints a working token", async () => {
  // Ports are picked free and then released; another process may take one first. Retry that.
  let url;
  for (let attempt = 1; !url; attempt++) {
    url = await startDev();
    if (!url && attempt >= 3) assert.fail("npm run dev lost its port three times");
  }
  // The dashboard is served at / and, in dev mode (.dev.vars), gets a dev token with no manual step.
  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /orgstream live dashboard/);
  const dev = await fetch(`${url}/v1/dev/token`);
  assert.equal(dev.status, 200, "npm run dev serves a dev token");

  const tok = execFileSync("npm", ["run", "-s", "token", "--", "--org", "dev-cmd", "--scope", "subscribe publish"], {
    cwd: root,
    encoding: "utf8",
  }).trim();
  assert.match(tok, /^[\w-]+\.[\w-]+\.[\w-]+$/);

  const s = await openStream(url, tok);
  assert.equal(s.status, 200);
  // The --var override reached the worker: heartbeats every 250 ms, not the default 15 s.
  await s.until((x) => x.events.filter((e) => e.event === "heartbeat").length >= 2, 5000, "two heartbeats");
  const r = await fetch(`${url}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${tok}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "version.available", data: { version: "1.2.3" } }),
  });
  assert.equal(r.status, 202);
  await s.until((x) => x.data.length === 1, 3000, "the published event");
  assert.equal(JSON.parse(s.data[0].data).data.version, "1.2.3");
  s.close();

  // What it printed: the address it serves, once; no rebuild and restart right after start.
  const printed = readFileSync(devLog, "utf8");
  assert.ok(printed.includes(`dashboard:    ${url}/`), "the dashboard's address as served");
  assert.ok(printed.includes(`${url}/examples/plain/`), "the examples' addresses");
  assert.ok(!/changed, restarting build/.test(printed), "no rebuild at start");
});

test("stopping npm run dev (a signal to npm itself) stops wrangler and its runtime too", async () => {
  let url;
  for (let attempt = 1; !url; attempt++) {
    url = await startDev();
    if (!url && attempt >= 3) assert.fail("npm run dev lost its port three times");
  }
  process.kill(child.pid, "SIGTERM"); // npm alone, not its process group
  const deadline = Date.now() + 15_000;
  for (;;) {
    const answered = await fetch(`${url}/healthz`).then(() => true, () => false);
    if (!answered) break;
    assert.ok(Date.now() < deadline, `${url} still served 15 s after npm was stopped`);
    await new Promise((r) => setTimeout(r, 250));
  }
});

test("npm run dev on a port in use says so in one line, before building anything", async () => {
  const busy = createServer();
  await new Promise((r) => busy.listen(0, "127.0.0.1", r));
  const { port } = busy.address();
  try {
    const r = spawnSync("npm", ["run", "-s", "dev", "--", "--port", String(port)], { cwd: root, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), `npm run dev: port ${port} on 127.0.0.1 is in use (another npm run dev?); pick another: npm run dev -- --port ${port + 1}`);
    assert.ok(!/dashboard:|building|wrangler/.test(r.stdout), "nothing else ran");
  } finally {
    busy.close();
  }
});

test("npm run dev refuses to serve dev tokens beyond loopback, before building anything", async () => {
  const busy = createServer();
  await new Promise((r) => busy.listen(0, "0.0.0.0", r));
  const port = String(busy.address().port);
  try {
    const r = spawnSync("npm", ["run", "-s", "dev", "--", "--ip", "0.0.0.0", "--port", port], { cwd: root, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 2);
    assert.equal(
      r.stderr.trim(),
      "npm run dev: --ip 0.0.0.0 would serve dev tokens for any org to every machine that reaches it (DEV_MODE is on in .dev.vars); serve on loopback (the default), or turn dev tokens off for this run: npm run dev -- --ip 0.0.0.0 --var DEV_MODE:false",
    );
    assert.ok(!/dashboard:|building|starting wrangler/.test(r.stdout), "nothing else ran");
    // With dev tokens off it goes on, to the next check (the port is taken here).
    const off = spawnSync("npm", ["run", "-s", "dev", "--", "--ip", "0.0.0.0", "--port", port, "--var", "DEV_MODE:false"], { cwd: root, encoding: "utf8", timeout: 30_000 });
    assert.equal(off.status, 2);
    assert.match(off.stderr, new RegExp(`port ${port} on 0\\.0\\.0\\.0 is in use`));
  } finally {
    busy.close();
  }
});

test("npm run dev with flags npm took for itself (no --) says so in one line, before building anything", () => {
  const message = "npm run dev: npm took --port for itself: put -- before wrangler's flags (npm run dev -- --port 8822)";
  for (const args of [["--port=8822"], ["--port", "8822"]]) {
    const r = spawnSync("npm", ["run", "-s", "dev", ...args], { cwd: root, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim(), message);
    assert.ok(!/dashboard:|building|starting wrangler/.test(r.stdout), "nothing else ran");
  }
});

test("npm run dev with a mistyped flag says so in one line, before building anything", () => {
  const r = spawnSync("npm", ["run", "-s", "dev", "--", "--prot", "8781"], { cwd: root, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), "npm run dev: wrangler dev has no flag --prot; did you mean --port? (npm run dev -- --help lists its flags)");
  assert.ok(!/dashboard:|building|starting wrangler/.test(r.stdout), "nothing else ran");
  const help = spawnSync("npm", ["run", "-s", "dev", "--", "--help"], { cwd: root, encoding: "utf8", timeout: 30_000 });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--persist-to/, "--help is wrangler dev's own help");
});
