// `npm test`: set up, then every suite. Host Rust tests and lints first (fast, no runtime), then
// the worker build, then the integration tests against the worker running in workerd.
//
//   npm test                    everything
//   npm test -- tests/stream.test.mjs   only these integration test files (after the Rust steps)

import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { bin, chromedriver, fail, root, run, setup, step } from "./lib/toolchain.mjs";
import { usageError } from "./lib/cli.mjs";

const started = Date.now();
const files = process.argv.slice(2).filter((a) => a !== "--");
const USAGE = "usage: npm test [-- tests/NAME.test.mjs ...]   (no files: every suite)";
for (const file of files) {
  if (file === "--help" || file === "-h") (console.log(USAGE), process.exit(0));
  if (file.startsWith("-")) usageError("npm test", USAGE, `unknown flag ${file}; npm test takes only test files`);
  if (!existsSync(join(root, file)) && !existsSync(file)) usageError("npm test", USAGE, `no such test file: ${file} (they are in tests/)`);
}
setup({ browser: true });

step("formatting: cargo fmt --check (rustfmt.toml; the workspace, fuzz/ and bench/loadgen/)");
for (const manifest of ["Cargo.toml", "fuzz/Cargo.toml", "bench/loadgen/Cargo.toml"]) {
  const r = spawnSync("cargo", ["fmt", "--manifest-path", join(root, manifest), "--all", "--", "--check"], { stdio: "inherit" });
  if (r.status !== 0) fail(`${manifest}: Rust code is not formatted; run: cargo fmt --manifest-path ${manifest} --all`);
}

step("host tests: cargo test --workspace (seconds; several minutes on a fresh machine while cargo compiles)");
run("cargo", ["test", "--workspace", "--quiet"]);

step("lints: cargo clippy (unwrap/expect/indexing/panic are denied in worker and schema-wasm)");
run("cargo", ["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"]);
run("cargo", ["clippy", "-p", "schema-wasm", "--target", "wasm32-unknown-unknown", "--features", "browser", "--all-targets", "--quiet", "--", "-D", "warnings"]);

step("generated files: docs/schema and schema-wasm/js/types.d.ts match the Rust types");
run("node", [join(root, "scripts", "gen-schema.mjs"), "--check"]);

const wasmTest = (name, extraEnv) =>
  run("cargo", ["test", "-p", "schema-wasm", "--target", "wasm32-unknown-unknown", "--features", "browser", "--test", name], {
    env: { ...process.env, CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: bin("wasm-bindgen-test-runner"), ...extraEnv },
  });
step("fixture corpus through the wasm build in Node (wasm-bindgen-test)");
wasmTest("wasm_node", {});
step("fixture corpus through the wasm build in headless Chromium (wasm-bindgen-test, chromedriver)");
wasmTest("wasm_browser", { CHROMEDRIVER: chromedriver });

run("node", [join(root, "scripts", "build-schema.mjs")]);
run("node", [join(root, "scripts", "build-client.mjs")]);
step("client unit tests (fake clock, fake EventSource, real validators)");
// Every client test file, so a new one cannot be left out.
const clientTests = readdirSync(join(root, "client", "test")).filter((f) => f.endsWith(".test.mjs")).sort();
run("node", ["--test", "--test-reporter=spec", ...clientTests.map((f) => join(root, "client", "test", f))]);
run("node", [join(root, "scripts", "build-dashboard.mjs")]);
// The dev build (with the dev token route) for the tests; the release build too, to prove it has no
// such route and for the benchmark smoke run.
run("node", [join(root, "scripts", "build-worker.mjs"), "--dev"]);
run("node", [join(root, "scripts", "build-worker.mjs")]);

const suites = files.length
  ? files
  : readdirSync(join(root, "tests")).filter((f) => f.endsWith(".test.mjs")).sort().map((f) => join("tests", f));
step(`integration tests against the worker in workerd: ${suites.length} files (about 3 minutes on 2 cores; each test prints as it ends, none takes more than about 25 s)`);
run("node", ["--test", "--test-concurrency=1", "--test-timeout=600000", "--test-reporter=spec", ...suites]);

if (!files.length) {
  // The relay tier (RELAYS_PER_ORG): the suites that prove order, completeness, limits, sleep and
  // restarts, again with every org's streams on four relays.
  const relaySuites = ["chaos", "hibernation", "limits", "restart", "restart-under-load", "stream"].map((n) => join("tests", `${n}.test.mjs`));
  step(`the same proofs with RELAYS_PER_ORG=4: ${relaySuites.length} files (about 3 minutes)`);
  run("node", ["--test", "--test-concurrency=1", "--test-timeout=600000", "--test-reporter=spec", ...relaySuites], {
    env: { ...process.env, ORGSTREAM_TEST_RELAYS: "4" },
  });
  step("fuzzing: npm run fuzz -- --seconds 30 (the publish validator, the token parser, the SSE frame encoder; about 2 minutes, more on a fresh machine while cargo compiles)");
  run("node", [join(root, "scripts", "fuzz.mjs"), "--seconds", "30"]);
  step("soak smoke run: npm run soak -- --connections 200 --minutes 0.5 (the long run is npm run soak: 5000 connections, 10 minutes)");
  run("node", [join(root, "bench", "soak.mjs"), "--connections", "200", "--minutes", "0.5"]);
  step("bench harness smoke run: npm run bench -- --quick (every server and scenario, tiny sizes, about a minute; asserts nothing about speed)");
  run("node", [join(root, "bench", "run.mjs"), "--quick"]);
  step("CPU by role smoke run: npm run bench:roles -- --quick (K = 1 and 2, 20 subscribers, V8's profiler through workerd's inspector; asserts nothing about speed)");
  run("node", [join(root, "bench", "roles.mjs"), "--quick"]);
  step("memory split smoke run: npm run bench:memory -- --streams 50 (orgstream and both floors; asserts nothing)");
  run("node", [join(root, "bench", "memory.mjs"), "--streams", "50"]);
}

step(`all suites passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
