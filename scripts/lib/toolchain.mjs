// The setup every entry point shares: the wasm target, worker-build and wasm-bindgen-cli at the
// pinned versions, npm packages, and a local .dev.vars. Each step checks first and does nothing
// when it is already done, so running it again costs about a second.
// Only Node built-ins here: this runs before `npm ci` on a fresh clone.

import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, statSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { homedir } from "node:os";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** worker-build must stay on the minor of the `worker` crate (0.8). */
export const WORKER_BUILD_VERSION = "0.8.7";

/** Where cargo-installed tools are cached, shared by every clone on this machine. */
export const toolsDir =
  process.env.ORGSTREAM_TOOLS_DIR ||
  join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "orgstream", "tools");

export function step(message) {
  process.stderr.write(`\x1b[36m[setup]\x1b[0m ${message}\n`);
}

export function fail(message) {
  process.stderr.write(`\x1b[31m[setup] ${message}\x1b[0m\n`);
  process.exit(1);
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.error) fail(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(" ")} failed (exit ${r.status})`);
}

function output(cmd, args) {
  try {
    return execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return null;
  }
}

/** The exact wasm-bindgen version Cargo.lock pins (the CLI must match it). */
export function lockedWasmBindgen() {
  const lock = readFileSync(join(root, "Cargo.lock"), "utf8");
  const m = lock.match(/name = "wasm-bindgen"\nversion = "([^"]+)"/);
  if (!m) fail("Cargo.lock has no wasm-bindgen entry; run `cargo generate-lockfile`");
  return m[1];
}

export const bin = (name) => join(toolsDir, "bin", name);

/**
 * node_modules/<name> -> <dir> (relative to the root), so the client, the dashboard, the examples,
 * the tests and TypeScript import our packages by name inside this repository too, as apps do once
 * they installed them. (`npm install ./<dir>` would do the same, but schema-wasm/pkg is a build
 * output and does not exist when `npm ci` runs on a fresh clone.)
 */
export function linkPackage(name, dir) {
  const link = join(root, "node_modules", ...name.split("/"));
  try {
    if (lstatSync(link).isSymbolicLink()) return;
  } catch {}
  rmSync(link, { recursive: true, force: true });
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(relative(dirname(link), join(root, dir)), link, "dir");
}

function ensureRust() {
  if (!output("cargo", ["--version"])) fail("cargo not found: install Rust with rustup (https://rustup.rs)");
  const targets = output("rustup", ["target", "list", "--installed"]) || "";
  if (!targets.split("\n").includes("wasm32-unknown-unknown")) {
    step("adding the Rust target wasm32-unknown-unknown (first run only)");
    run("rustup", ["target", "add", "wasm32-unknown-unknown"]);
  }
  // In rustup's default profile; a minimal one lacks them (npm test runs both).
  for (const [component, command] of [["rustfmt", "fmt"], ["clippy", "clippy"]]) {
    if (!output("cargo", [command, "--version"])) {
      step(`adding the Rust component ${component} (first run only)`);
      run("rustup", ["component", "add", component]);
    }
  }
}

export function ensureCargoTool(crate, version, binary, versionLine) {
  const have = output(bin(binary), ["--version"]);
  if (have && have.includes(versionLine)) return;
  step(`installing ${crate} ${version} into ${toolsDir} (first run only; compiling takes a few minutes)`);
  mkdirSync(toolsDir, { recursive: true });
  const args = ["install", "--quiet", "--root", toolsDir, crate, "--version", `=${version}`];
  // --locked builds with the tool's own Cargo.lock. Some crates that lockfile names are missing
  // from the registry here (wasm-bindgen-cli 0.2.130 locks webpki-roots 1.0.11); then fall back to
  // resolving its dependencies afresh. The tool's own version stays exact either way.
  const locked = spawnSync("cargo", [...args, "--locked"], { stdio: "inherit", cwd: root });
  if (locked.status === 0) return;
  step(`${crate}: its lockfile cannot be satisfied from the registry; installing with fresh resolution`);
  run("cargo", args);
}

/** Debian's Chromium and ChromeDriver, for the browser tests (never a browser a tool downloads). */
export const chromium = "/usr/bin/chromium";
export const chromedriver = "/usr/bin/chromedriver";

/**
 * Installs Debian packages with apt-get unless every file in `needs` exists (first run only);
 * `why` says what for.
 */
export function ensureDebianPackages(needs, packages, why) {
  if (needs.every((path) => existsSync(path))) return;
  const asRoot = process.getuid?.() === 0;
  step(`installing Debian's ${packages.join(", ")} ${why} (apt-get; first run only)`);
  const apt = asRoot ? ["apt-get"] : ["sudo", "apt-get"];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  // A fresh machine may have no package lists yet.
  run(apt[0], [...apt.slice(1), "update", "-qq"], { env });
  run(apt[0], [...apt.slice(1), "install", "-y", "--no-install-recommends", ...packages], { env });
}

function ensureChromium() {
  ensureDebianPackages([chromium, chromedriver], ["chromium", "chromium-driver"], "for the browser tests");
}

function ensureNodeModules() {
  const stamp = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= statSync(lock).mtimeMs) return;
  step("installing npm packages (npm ci)");
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}

/**
 * A local TOKEN_SECRET for wrangler dev; .dev.vars is never deployed and never committed. It holds
 * a secret, so only its owner may read it (mode 600). `path` is for the tests.
 */
export function ensureDevVars(path = join(root, ".dev.vars")) {
  if (!existsSync(path)) {
    step("writing .dev.vars with a random local TOKEN_SECRET (used by wrangler dev and npm run token)");
    writeFileSync(
      path,
      `# Local settings for wrangler dev (never deployed, git-ignored). Made by npm run setup.\n` +
        `TOKEN_SECRET="${randomBytes(32).toString("hex")}"\n`,
      { mode: 0o600 },
    );
  } else if (process.platform !== "win32" && statSync(path).mode & 0o077) {
    // (Windows has no such modes: there Node reports every file as 666.)
    const was = (statSync(path).mode & 0o777).toString(8);
    step(`making .dev.vars readable by its owner only (it holds TOKEN_SECRET): chmod 600, it was ${was}`);
    chmodSync(path, 0o600);
  }
  const text = readFileSync(path, "utf8");
  if (!/^DEV_MODE\s*=/m.test(text)) {
    step("enabling DEV_MODE in .dev.vars (the local server hands the dashboard a dev token)");
    // Appended in place: the file keeps its mode.
    appendFileSync(path, `${text === "" || text.endsWith("\n") ? "" : "\n"}DEV_MODE="true"\n`);
  }
}

export function readDevSecret() {
  if (process.env.TOKEN_SECRET) return process.env.TOKEN_SECRET;
  const path = join(root, ".dev.vars");
  if (!existsSync(path)) return null;
  const m = readFileSync(path, "utf8").match(/^TOKEN_SECRET\s*=\s*"?([^"\n]+)"?/m);
  return m ? m[1] : null;
}

/** `devVars`: write a local `.dev.vars` (never from a release build: what deploy ships). */
export function setup({ quiet = false, browser = false, devVars = true } = {}) {
  const started = Date.now();
  if (!quiet) step("checking the toolchain (Rust target, worker-build, wasm-bindgen, npm packages)");
  ensureRust();
  ensureCargoTool("worker-build", WORKER_BUILD_VERSION, "worker-build", WORKER_BUILD_VERSION);
  const wb = lockedWasmBindgen();
  ensureCargoTool("wasm-bindgen-cli", wb, "wasm-bindgen", `wasm-bindgen ${wb}`);
  ensureNodeModules();
  if (devVars) ensureDevVars();
  if (browser) ensureChromium();
  if (!quiet) step(`toolchain ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** Environment for worker-build: our pinned tools, never a download. */
export function buildEnv() {
  return {
    ...process.env,
    WASM_BINDGEN_BIN: bin("wasm-bindgen"),
    ESBUILD_BIN: join(root, "node_modules", ".bin", "esbuild"),
    WASM_OPT_BIN: join(root, "node_modules", ".bin", "wasm-opt"),
  };
}

function files(path) {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  if (statSync(full).isFile()) return [full];
  return readdirSync(full, { withFileTypes: true })
    .filter((d) => !["target", "pkg", "build", "build-dev"].includes(d.name) && !d.name.startsWith("."))
    .flatMap((d) => files(join(path, d.name)));
}

/**
 * A hash of the names and contents of `inputs` (paths under the root; build outputs and dot files
 * skipped) and of `salt`: a build whose fingerprint matches its last one can be skipped.
 */
export function fingerprint(inputs, salt = "") {
  const h = createHash("sha256");
  h.update(`${salt}\n`);
  for (const f of inputs.flatMap(files).sort()) {
    h.update(relative(root, f));
    h.update(readFileSync(f));
  }
  return h.digest("hex");
}
