// Builds the worker (Rust -> wasm -> worker/build/index.js) with worker-build, using only pinned tools.
// Wrangler runs this as its [build] command. Skips the build when no input changed since the last
// one, so restarting `wrangler dev` is quick.
//
//   node scripts/build-worker.mjs            fast local build (no wasm-opt)
//   ORGSTREAM_OPTIMIZE=1 ...                 also run wasm-opt (npm run deploy does)

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildEnv, bin, fingerprint, root, run, setup, step } from "./lib/toolchain.mjs";

const optimize = process.env.ORGSTREAM_OPTIMIZE === "1";
const inputs = ["Cargo.toml", "Cargo.lock", "worker", "schema-wasm"];

setup({ quiet: true });
const out = join(root, "worker", "build");
const stamp = join(out, ".fingerprint");
const want = fingerprint(inputs, `optimize=${optimize}`);
if (existsSync(join(out, "index.js")) && existsSync(stamp) && readFileSync(stamp, "utf8") === want) {
  step("worker build is up to date");
} else {
  step(`building the worker (cargo, release, wasm32${optimize ? ", wasm-opt" : ""}); the first build takes a few minutes`);
  const started = Date.now();
  const args = ["--release"];
  if (!optimize) args.push("--no-opt");
  run(bin("worker-build"), args, { env: buildEnv(), cwd: join(root, "worker") });
  writeFileSync(stamp, want);
  step(`worker built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
