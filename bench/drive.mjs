// Driving bench/loadgen (the Rust load generator) from a benchmark script: building it, running it
// against a server's target, and waiting for a server to go idle. Shared by `npm run bench`
// (bench/run.mjs), `npm run bench:roles` (bench/roles.mjs) and `npm run bench:memory` (bench/memory.mjs).

import { spawn } from "node:child_process";
import { join } from "node:path";
import { root, run, step } from "../scripts/lib/toolchain.mjs";
import { cpuSeconds } from "./servers.mjs";

/** Builds the load generator and the native broadcaster; returns the directory of their binaries. */
export function buildLoadgen() {
  step("building the load generator and the native broadcaster (cargo, release; the first build takes about a minute)");
  run("cargo", ["build", "--release", "--quiet", "--manifest-path", join(root, "bench", "loadgen", "Cargo.toml")]);
  return join(root, "bench", "loadgen", "target", "release");
}

/**
 * Runs the load generator in `bin`; resolves with its JSON report. `onReady(connected)` runs once
 * it holds its connections (`connected`: how many it holds then); with `--hold-stdin` in `args`
 * they are held until what `onReady` returns settles, and the report waits for it too.
 */
export function loadgen(bin, args, onReady) {
  const holding = args.includes("--hold-stdin");
  if (holding && !onReady) throw new Error("loadgen: --hold-stdin holds the connections until onReady settles; give one");
  return new Promise((resolve, reject) => {
    const child = spawn(join(bin, "loadgen"), args, { stdio: [holding ? "pipe" : "ignore", "pipe", "pipe"] });
    child.stdin?.on("error", () => {}); // it may have exited (and said why) before its stdin ended
    let stdout = "";
    let stderr = "";
    let held = Promise.resolve();
    let failed;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      const ready = onReady && stderr.match(/READY (\d+)/);
      if (ready) {
        const then = onReady;
        onReady = null;
        held = Promise.resolve(Number(ready[1])).then(then);
        held.catch((e) => (failed = e)).finally(() => child.stdin?.end());
      }
    });
    child.on("close", async (code) => {
      // What `onReady` does may outlast the child (it failed): it finishes first.
      await held.catch(() => {});
      if (failed) return reject(failed);
      if (code !== 0) return reject(new Error(`loadgen exited ${code}: ${stderr.trim()}`));
      try {
        resolve(JSON.parse(stdout));
      } catch (e) {
        reject(new Error(`loadgen printed no JSON: ${stdout.slice(0, 200)} ${stderr.slice(0, 200)}`));
      }
    });
  });
}

/**
 * Holds two batches of idle streams on `server`, the second opened while the first is held, each
 * `CONNECTING` at a time, and samples `measure()` 2.5 s after each batch connected (as long as
 * `npm run bench`'s idle runs have always waited), then `whileHeld()` with both held. `targets`
 * are the two batches' targets (each stream its own user: `server.target(org, { subscribers: n,
 * from })`). Resolves with each batch's streams (as many as it held when it was measured), sample
 * and report (its failures); a batch that held none is an error.
 */
export async function holdTwoBatches(bin, server, targets, n, measure, whileHeld = async () => {}) {
  const batches = [];
  const hold = (i, then) =>
    loadgen(bin, targetArgs(server, targets[i], ["--subscribers", String(n), "--events", "0", "--hold-stdin", "--connect-concurrency", CONNECTING]), async (connected) => {
      if (!connected) return;
      await new Promise((r) => setTimeout(r, 2500));
      batches[i] = { streams: connected, sample: await measure() };
      await then();
    });
  const reports = [];
  reports[0] = await hold(0, async () => {
    reports[1] = await hold(1, whileHeld);
  });
  for (const i of [0, 1]) {
    if (!batches[i]) throw new Error(`batch ${i + 1} of ${n} idle streams: none connected (${reports[i]?.failures.slice(0, 3).join("; ") ?? "not opened"})`);
    batches[i].report = reports[i];
  }
  return batches;
}

/**
 * How many streams the idle-memory runs open at once (`--connect-concurrency`): 5000 at once
 * while 5000 more are held overflowed workerd's accept queue on this machine (some of the next
 * 5000 were closed unanswered, for orgstream and the floor alike).
 */
export const CONNECTING = "500";

/** The load generator's arguments for a server's target `t` (bench/servers.mjs), plus `extra`. */
export const targetArgs = (server, t, extra) => [
  "--addr", server.url.replace("http://", ""),
  "--subscribe", t.subscribe,
  ...(t.subscribeEach ? ["--subscribe-each", t.subscribeEach] : []),
  ...t.subscribeHeaders.flatMap((h) => ["--subscribe-header", h]),
  "--publish", t.publish,
  ...t.publishHeaders.flatMap((h) => ["--publish-header", h]),
  "--style", t.style,
  ...(t.subscribeFlags ?? []),
  ...extra,
];

/**
 * Waits until the server is idle (under 2% of a core over half a second, or 30 s at most): what
 * the scenario before left behind (5000 streams closing, say) must not be measured as this one's.
 */
export async function settle(server) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const before = cpuSeconds(server.pids());
    await new Promise((r) => setTimeout(r, 500));
    if (cpuSeconds(server.pids()) - before < 0.01 || Date.now() > deadline) return;
  }
}
