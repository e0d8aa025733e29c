// Runs the built worker in workerd through `wrangler dev` (the same path as `npm run dev`), on free
// ports, with its own Durable Object storage directory and the vars a test asks for.

import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, openSync, closeSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUILDS, configWithoutBuild } from "../../scripts/lib/wrangler-config.mjs";

export const root = fileURLToPath(new URL("../..", import.meta.url));
export const TEST_SECRET = "orgstream-test-secret-0123456789abcdef0123456789";

/**
 * The per-subject limits, raised: tests open hundreds of streams with one token (one `sub`) where
 * the subject does not matter, and benchmarks publish thousands of events with one (their
 * subscribers are each their own subject: `subscriberTokens`). A test of the limits sets its own
 * values (tests/limits.test.mjs); the defaults are checked in worker/src/config.rs.
 */
export const LOAD_LIMITS = {
  MAX_STREAMS_PER_SUB: "1000000",
  SUB_CONNECTS_PER_MINUTE: "1000000",
  SUB_HISTORY_PER_MINUTE: "1000000",
  SUB_PUBLISHES_PER_MINUTE: "1000000",
};

export { BUILDS };

/**
 * The project's wrangler.toml without its [build] table, for tests: `npm test` builds the worker
 * once, and wrangler dev's own build watcher would otherwise rebuild and restart the runtime
 * shortly after start (dropping open streams mid-test). `main` is the dev build (with the dev
 * token route) unless `build` is "release".
 */
export function testConfig(dir, { build = "dev" } = {}) {
  return configWithoutBuild(dir ?? join(root, ".wrangler", build === "dev" ? "test-config" : `test-config-${build}`), BUILDS[build]);
}

/** The runtime settings of wrangler.toml that Miniflare needs too (one source for both). */
export function wranglerSettings(path = join(root, "wrangler.toml")) {
  const text = readFileSync(path, "utf8");
  const date = text.match(/^compatibility_date = "(.*)"$/m)?.[1];
  const flags = text.match(/^compatibility_flags = \[(.*)\]$/m)?.[1] ?? "";
  return { compatibilityDate: date, compatibilityFlags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]) };
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url, child, logPath, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early (code ${child.exitCode}); see ${logPath}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
      // The worker is up but says it is misconfigured (a test of that): up is what we wait for.
      if (r.status === 503 && (await r.json().catch(() => ({}))).ok === false) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`worker did not become healthy within ${timeoutMs} ms; see ${logPath}`);
}

/**
 * Starts the worker. `vars` are passed as `--var NAME:VALUE`; `persistDir` keeps Durable Object
 * storage across restarts (a fresh temp dir by default).
 */
export async function startWorker(options = {}) {
  // Ports are picked free, then released for wrangler to bind; another process can take one in
  // between (workerd's own listeners use ephemeral ports too). Such a start is retried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (e) {
      if (!(e.portClash && attempt < 4)) throw e;
      if (options.port) await new Promise((r) => setTimeout(r, 500)); // the same port: let it free up
    }
  }
}

/**
 * `config`: a wrangler.toml of the test's own (see `testConfig(dir)`), for a test that changes it
 * under a running server (wrangler reloads the worker, as a deploy would).
 */
async function startOnce({ vars = {}, persistDir, port: fixedPort, config, build = "dev" } = {}) {
  const dir = persistDir ?? mkdtempSync(join(tmpdir(), "orgstream-state-"));
  const port = fixedPort ?? (await freePort());
  const inspector = await freePort();
  // ORGSTREAM_TEST_RELAYS runs a suite with its streams on that many relays per org.
  const relays = process.env.ORGSTREAM_TEST_RELAYS ? { RELAYS_PER_ORG: process.env.ORGSTREAM_TEST_RELAYS } : {};
  const allVars = { TOKEN_SECRET: TEST_SECRET, ...LOAD_LIMITS, ...relays, ...vars };
  const args = [
    "dev",
    "--config", config ?? testConfig(undefined, { build }),
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--inspector-port", String(inspector),
    "--persist-to", dir,
    "--show-interactive-dev-session=false",
    ...Object.entries(allVars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const logPath = join(dir, `wrangler-${port}.log`);
  const log = openSync(logPath, "a");
  const child = spawn(join(root, "node_modules", ".bin", "wrangler"), args, {
    cwd: root,
    stdio: ["ignore", log, log],
    detached: true,
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
  });
  closeSync(log);
  // If this test process ends without stopping it (a crash, a timeout), take wrangler down too:
  // it runs in its own process group and would outlive us.
  const reap = () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  };
  process.once("exit", reap);
  child.once("exit", () => process.off("exit", reap));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, child, logPath);
  } catch (e) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
    e.portClash = readFileSync(logPath, "utf8").includes("Address already in use");
    throw e;
  }

  const server = {
    url,
    persistDir: dir,
    logPath,
    async stop() {
      if (child.exitCode !== null || child.signalCode) return;
      const exited = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }, 5000);
      await exited;
      clearTimeout(timer);
    },
    /** Kills the runtime at once (SIGKILL to wrangler and workerd: no graceful stop, nothing flushed). */
    async kill() {
      if (child.exitCode !== null || child.signalCode) return;
      const exited = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
      await exited;
    },
    /** Stops the runtime and starts a new one on the same storage (a new port unless `samePort`). */
    async restart(newVars = vars, { samePort = false } = {}) {
      await server.stop();
      return startWorker({ vars: newVars, persistDir: dir, port: samePort ? port : undefined, config, build });
    },
    /** Starts the runtime again on the same port and storage after stop(). */
    async start() {
      return startWorker({ vars, persistDir: dir, port, config, build });
    },
  };
  return server;
}

/**
 * A build of the worker in workerd directly (Miniflare: no wrangler proxy in front), with its own
 * Durable Object storage and the vars given; the settings of wrangler.toml. For the benchmarks.
 */
export async function startDirect({ build = "dev", scriptPath = BUILDS[build], vars = {}, inspectorPort } = {}) {
  const { Miniflare } = await import("miniflare"); // loaded only by the benchmarks
  const mf = new Miniflare({
    scriptPath,
    modulesRoot: dirname(scriptPath),
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    ...wranglerSettings(),
    durableObjects: {
      ORG_HUB: { className: "OrgHub", useSQLite: true },
      ORG_RELAY: { className: "OrgRelay", useSQLite: true },
    },
    durableObjectsPersist: mkdtempSync(join(tmpdir(), "orgstream-direct-")),
    bindings: { TOKEN_SECRET: TEST_SECRET, ...LOAD_LIMITS, ...vars },
    host: "127.0.0.1",
    port: 0,
    inspectorPort,
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, stop: () => mf.dispose() };
}
