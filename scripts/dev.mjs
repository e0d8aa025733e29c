// `npm run dev [-- wrangler dev flags]`: set up, then serve the worker locally with wrangler dev.
//   npm run dev -- --port 9000 --var HEARTBEAT_INTERVAL_MS:2000
//
// Flags are checked against the installed wrangler's own list before anything else (a typo of a
// listed flag is one line); the dashboard and token hints are printed once wrangler says where it serves (so they
// name the address actually served). A port in use is one line that says how to pick another. The worker's dev build is
// made here and rebuilt here when worker/src or schema-wasm/src change (wrangler reloads when the
// build changes); wrangler's own build watcher would build again right after start and restart
// the runtime for nothing. With your own `--config`, wrangler builds and watches as that says.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, symlinkSync, watch } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { root, setup, step } from "./lib/toolchain.mjs";
import { BUILDS, configWithoutBuild } from "./lib/wrangler-config.mjs";
import { closest, wranglerVars } from "./lib/cli.mjs";

/** wrangler dev's flags that npm has no setting of its own for (npm_config_* names them when npm took one). */
const WRANGLER_FLAGS_NPM_KEEPS = ["port", "ip", "var", "remote", "local-protocol", "inspector-port", "persist-to", "live-reload", "test-scheduled", "upstream-protocol"];

const args = process.argv.slice(2).filter((a, i) => !(i === 0 && a === "--"));
const wrangler = join(root, "node_modules", ".bin", "wrangler");
refuseFlagsNpmTook();
checkWranglerFlags();
const has = (flag) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
const flagValue = (flag) => {
  const i = args.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
  if (i < 0) return undefined;
  return args[i].includes("=") ? args[i].slice(flag.length + 1) : args[i + 1];
};
const ip = flagValue("--ip") ?? "127.0.0.1";
const port = flagValue("--port") ?? "8787";
// DEV_MODE (in .dev.vars) makes GET /v1/dev/token hand out subscribe+publish tokens for any org.
// The worker answers it only for a loopback Host, but a Host header (and wrangler dev's
// CF-Connecting-IP) can be forged by a caller: served beyond loopback, dev tokens are not.
const loopback = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/i.test(ip);
// The last DEV_MODE given wins, as in wrangler.
const devModeOff = wranglerVars(args).filter(([name]) => name === "DEV_MODE").at(-1)?.[1] === "false";
if (!loopback && !devModeOff) {
  console.error(
    `npm run dev: --ip ${ip} would serve dev tokens for any org to every machine that reaches it (DEV_MODE is on in .dev.vars); ` +
      `serve on loopback (the default), or turn dev tokens off for this run: npm run dev -- --ip ${ip} --var DEV_MODE:false`,
  );
  process.exit(2);
}
if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
  console.error(`npm run dev: --port must be a port number, got ${JSON.stringify(port)}; e.g. npm run dev -- --port 8788`);
  process.exit(2);
}

/** Whether `port` can be listened on (wrangler would fail later with a long stack trace). */
function portFree(host, number) {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(number, host, () => probe.close(() => resolve(true)));
  });
}
if (!(await portFree(ip, Number(port)))) {
  console.error(`npm run dev: port ${port} on ${ip} is in use (another npm run dev?); pick another: npm run dev -- --port ${Number(port) + 1}`);
  process.exit(2);
}

setup();
// The browser validators, the client, the dashboard (served at /) and the worker's dev build (it
// has the dev token route the dashboard uses).
const buildWorker = ["build-worker.mjs", "--dev"];
for (const script of [["build-schema.mjs"], ["build-client.mjs"], ["build-dashboard.mjs"], buildWorker]) {
  const [file, ...flags] = script;
  if (spawnSync("node", [join(root, "scripts", file), ...flags], { stdio: "inherit" }).status !== 0) process.exit(1);
}
const extra = [];
if (!has("--ip")) extra.push("--ip", ip);
if (!has("--port")) extra.push("--port", port);
const ownConfig = has("--config") || has("-c");
if (!ownConfig) {
  const configDir = join(root, ".wrangler", "dev-config");
  extra.push("--config", configWithoutBuild(configDir, BUILDS.dev));
  // Wrangler reads .dev.vars next to the config, and keeps state next to it unless told.
  const devVars = join(configDir, ".dev.vars");
  if (!existsSync(devVars)) symlinkSync(join(root, ".dev.vars"), devVars);
  if (!has("--persist-to")) extra.push("--persist-to", join(root, ".wrangler", "state"));
  watchSources();
}

step("starting wrangler dev (local Durable Object storage in .wrangler/state)");
const child = spawn(wrangler, ["dev", ...extra, ...args], {
  stdio: ["inherit", "pipe", "inherit"],
  cwd: root,
  env: { ...process.env, ORGSTREAM_BUILD: "dev" },
});

/**
 * Before any setup: `--help` is wrangler dev's help; a flag wrangler dev does not have is one line
 * with the flag probably meant (wrangler itself would print its 50 lines of help). The flags are
 * read from `wrangler dev --help`, so they are the installed wrangler's own.
 */
/**
 * `npm run dev --port 8822` (no `--`): npm keeps a flag given before `--` for itself (as
 * npm_config_port when it has a value, `--port=8822`) and hands on only what follows it (`8822`,
 * which wrangler would take for the worker's entry point). Say so, as npm run token does, before
 * any setup.
 */
function refuseFlagsNpmTook() {
  const example = "npm run dev -- --port 8822";
  const taken = WRANGLER_FLAGS_NPM_KEEPS.find((flag) => process.env[`npm_config_${flag.replaceAll("-", "_")}`] !== undefined);
  if (taken) {
    console.error(`npm run dev: npm took --${taken} for itself: put -- before wrangler's flags (${example})`);
    process.exit(2);
  }
  const stray = args.find((a) => !a.startsWith("-"));
  if (stray !== undefined && args.indexOf(stray) === 0) {
    console.error(`npm run dev: ${JSON.stringify(stray)} came without its flag (npm keeps flags given before -- for itself): put -- before wrangler's flags (${example})`);
    process.exit(2);
  }
}

function checkWranglerFlags() {
  if (!args.some((a) => a.startsWith("-"))) return;
  if (!existsSync(wrangler)) return; // a fresh clone before npm ci: wrangler checks them later
  const help = spawnSync(wrangler, ["dev", "--help"], { cwd: root, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(help.stdout);
    process.exit(help.status ?? 0);
  }
  const known = new Set([...help.stdout.matchAll(/^\s+(?:-([a-zA-Z]), )?--([a-zA-Z0-9-]+)/gm)].flatMap(([, short, long]) => (short ? [short, long] : [long])));
  if (known.size < 10) return; // not the help we know how to read: let wrangler judge
  const kebab = (name) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  for (const arg of args) {
    const name = arg.match(/^--?([^=]+)/)?.[1];
    if (!name || /^-\d/.test(arg)) continue;
    const plain = kebab(name).replace(/^no-/, "");
    if (known.has(name) || known.has(kebab(name)) || known.has(plain)) continue;
    // Only a near miss of a listed flag is refused: wrangler also takes flags its help hides
    // (--bundle, --site, ...), and judges anything else itself.
    const near = name.length > 2 ? closest(kebab(name), [...known].filter((k) => k.length > 1)) : undefined;
    if (!near) continue;
    console.error(`npm run dev: wrangler dev has no flag ${arg.split("=")[0]}; did you mean --${near}? (npm run dev -- --help lists its flags)`);
    process.exit(2);
  }
}

/** Rebuilds the dev worker when its sources change, one build at a time. */
function watchSources() {
  let timer = null;
  let building = false;
  let again = false;
  const rebuild = () => {
    if (building) return void (again = true);
    building = true;
    step("a worker source changed: rebuilding (wrangler reloads when the build changes)");
    const b = spawn("node", [join(root, "scripts", buildWorker[0]), ...buildWorker.slice(1)], { stdio: "inherit" });
    b.on("exit", () => {
      building = false;
      if (again) (again = false), rebuild();
    });
  };
  for (const dir of ["worker/src", "schema-wasm/src"]) {
    watch(join(root, dir), { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(rebuild, 300);
    }).unref();
  }
}
let announced = false;
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  const ready = !announced && String(chunk).match(/Ready on (https?:\/\/\S+)/);
  if (ready) {
    announced = true;
    const url = ready[1].replace(/\/$/, "");
    step(`dashboard:    ${url}/  (gets a dev token by itself)`);
    step(`examples:     ${url}/examples/plain/ and ${url}/examples/react/  (README, "Use it from a web app")`);
    step(`get a token:  npm run token -- --org dev --scope "subscribe publish"`);
    step(`watch:        curl -N "${url}/v1/stream?token=$(npm run -s token)"`);
  }
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
// Stopping `npm run dev` with a signal to npm (kill <pid of npm>) ends npm and its shell but not
// this script, which the system then adopts: notice that, and stop wrangler and its runtime too
// rather than leave them serving the port.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) child.kill("SIGTERM");
}, 500).unref();
