// Builds the worker (Rust -> wasm -> JS module) with worker-build, using only pinned tools.
// Wrangler runs this as its [build] command. Skips the build when no input changed since the last
// one, so restarting `wrangler dev` is quick.
//
//   node scripts/build-worker.mjs             release features -> worker/build (what wrangler.toml
//                                             points at; no wasm-opt, for a fast local build)
//   node scripts/build-worker.mjs --optimize  the same with wasm-opt: `npm run build:release`, what
//                                             `npm run deploy` ships
//   node scripts/build-worker.mjs --dev       dev features (GET /v1/dev/token, GET /v1/dev/hub-socket)
//                                             -> worker/build-dev: `npm run dev`, `npm test` and
//                                             the bench's `hub` server (also ORGSTREAM_BUILD=dev,
//                                             which `npm run dev` sets for wrangler's [build] command)
//
// A plain build accepts an optimized release build of the same inputs: `wrangler deploy` runs this
// after `npm run build:release` and ships what that built.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildEnv, bin, fingerprint, root, run, setup, step } from "./lib/toolchain.mjs";

const USAGE = "usage: node scripts/build-worker.mjs [--dev] [--optimize]";
let values;
try {
  ({ values } = parseArgs({ options: { dev: { type: "boolean", default: false }, optimize: { type: "boolean", default: false } }, strict: true }));
} catch (e) {
  console.error(`build-worker: ${e.message}\n${USAGE}`);
  process.exit(2);
}
const dev = values.dev || process.env.ORGSTREAM_BUILD === "dev";
const optimize = values.optimize || process.env.ORGSTREAM_OPTIMIZE === "1";
if (dev && optimize) {
  console.error(`build-worker: --optimize is for release builds (what deploy ships), not --dev\n${USAGE}`);
  process.exit(2);
}

// Dev and test builds write .dev.vars (a local TOKEN_SECRET); a release build never does.
setup({ quiet: true, devVars: dev });
const outDir = dev ? "build-dev" : "build";
const out = join(root, "worker", outDir);
const stamp = join(out, ".fingerprint");
const inputs = fingerprint(["Cargo.toml", "Cargo.lock", "worker", "schema-wasm"], dev ? "dev" : "release");
const wanted = [`${inputs} optimize=${optimize}`];
if (!dev && !optimize) wanted.push(`${inputs} optimize=true`);
const kind = dev ? "dev build" : optimize ? "release build (wasm-opt)" : "release build";
if (existsSync(join(out, "index.js")) && existsSync(stamp) && wanted.includes(readFileSync(stamp, "utf8"))) {
  step(`worker ${kind} is up to date (worker/${outDir})`);
} else {
  step(`building the worker, ${kind} (cargo, wasm32${optimize ? ", wasm-opt" : ""}) into worker/${outDir}; the first build takes a few minutes`);
  const started = Date.now();
  const args = ["--release", "--out-dir", outDir];
  if (!optimize) args.push("--no-opt");
  if (dev) args.push("--features", "dev-routes");
  run(bin("worker-build"), args, { env: buildEnv(), cwd: join(root, "worker") });
  writeFileSync(stamp, wanted[0]);
  step(`worker ${kind} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
