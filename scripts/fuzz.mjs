// `npm run fuzz`: the fuzz targets in fuzz/ (the publish validator, the token parser, the SSE
// frame encoder), each for a bounded time, with cargo fuzz on the stable toolchain. Sanitizers
// need nightly, which these machines cannot install, so targets run with `--sanitizer none`:
// coverage-guided, finding panics and broken assertions, not memory errors (the code under test
// has no `unsafe` of its own).
//
//   npm run fuzz                        every target, 60 s each
//   npm run fuzz -- --seconds 30 --target token,sse_frame
//
// Seeds come from the test fixtures (tests/fixtures/corpus.json, valid-events.json) and are
// written into fuzz/corpus/<target>/ (git-ignored; what a run discovers stays there for the next).
// A crash stops that target: its input is in fuzz/artifacts/<target>/, the run fails, and the
// message says how to reproduce it.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { bin, ensureCargoTool, root, setup, step } from "./lib/toolchain.mjs";
import { listFlag, numberFlag, parseFlags } from "./lib/cli.mjs";

const TARGETS = ["publish_validator", "token", "sse_frame"];
const CARGO_FUZZ_VERSION = "0.13.2";

const { values, fail } = parseFlags({
  name: "npm run fuzz",
  usage: `usage: npm run fuzz -- [--seconds 60] [--target ${TARGETS.join(",")}]
Runs each fuzz target for the given seconds (cargo fuzz, stable toolchain, no sanitizer).`,
  options: { seconds: { type: "string", default: "60" }, target: { type: "string", default: TARGETS.join(",") } },
});
const seconds = numberFlag(fail, "seconds", values.seconds, { min: 1 });
const targets = listFlag(fail, "target", values.target, TARGETS);

setup({ quiet: true, devVars: false });
ensureCargoTool("cargo-fuzz", CARGO_FUZZ_VERSION, "cargo-fuzz", `cargo-fuzz ${CARGO_FUZZ_VERSION}`);

const fuzzDir = join(root, "fuzz");
const seed = (target, bytes) => {
  const dir = join(fuzzDir, "corpus", target);
  mkdirSync(dir, { recursive: true });
  const name = `seed-${createHash("sha1").update(bytes).digest("hex").slice(0, 16)}`;
  if (!existsSync(join(dir, name))) writeFileSync(join(dir, name), bytes);
};
for (const target of TARGETS) mkdirSync(join(fuzzDir, "corpus", target), { recursive: true });
const corpus = JSON.parse(readFileSync(join(root, "tests", "fixtures", "corpus.json"), "utf8"));
const published = JSON.parse(readFileSync(join(root, "tests", "fixtures", "valid-events.json"), "utf8"));
for (const event of published) {
  seed("publish_validator", JSON.stringify(event));
  seed("publish_validator", JSON.stringify({ ...event, target: { requestId: "tab-1", sub: "user-1" } }));
}
for (const { valid, invalid } of Object.values(corpus)) {
  for (const envelope of valid) seed("publish_validator", JSON.stringify(envelope));
  for (const { json } of invalid) seed("publish_validator", json);
}
const claims = { org: "acme", sub: "user-1", scope: "subscribe publish", exp: 1_900_000_000, nbf: 1_700_000_000, aud: ["app"] };
seed("token", Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(claims))]));
seed("token", Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify({ ...claims, aud: "app", scope: "metrics" }))]));
seed("token", Buffer.from("\0eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJvcmciOiJhY21lIn0.c2lnbmF0dXJl"));

step(`building the fuzz targets (cargo fuzz, release with coverage instrumentation; the first build takes a few minutes)`);
const cargoFuzz = (args, opts = {}) =>
  spawnSync(bin("cargo-fuzz"), args, { cwd: fuzzDir, encoding: "utf8", ...opts, env: { ...process.env, CARGO_TERM_QUIET: "true" } });
const built = cargoFuzz(["build", "--sanitizer", "none"], { stdio: "inherit" });
if (built.status !== 0) (console.error("npm run fuzz: building the fuzz targets failed (above)"), process.exit(1));

const results = [];
let crashed = false;
for (const target of targets) {
  step(`fuzzing ${target} for ${seconds} s`);
  const before = readdirSync(join(fuzzDir, "corpus", target)).length;
  const r = cargoFuzz(["run", "--sanitizer", "none", target, "--", `-max_total_time=${seconds}`, "-timeout=10", "-print_final_stats=1"], {
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
  });
  const log = `${r.stdout}${r.stderr}`;
  const runs = Number(log.match(/stat::number_of_executed_units:\s*(\d+)/)?.[1] ?? log.match(/Done (\d+) runs/)?.[1] ?? 0);
  const after = readdirSync(join(fuzzDir, "corpus", target)).length;
  results.push({ target, seconds, runs, perSecond: Math.round(runs / seconds), corpus: after, newInputs: after - before, ok: r.status === 0 });
  if (r.status !== 0) {
    crashed = true;
    const artifact = log.match(/Test unit written to (\S+)/)?.[1];
    console.error(log.split("\n").filter((l) => /panicked|assert|ERROR|SUMMARY|Test unit/.test(l)).slice(0, 20).join("\n"));
    console.error(`npm run fuzz: ${target} failed${artifact ? `; input: ${artifact}` : ""}`);
    if (artifact) console.error(`  reproduce: (cd fuzz && ${bin("cargo-fuzz")} run --sanitizer none ${target} ${resolve(fuzzDir, artifact)})`);
    console.error("  then add the input to the bad-input corpus (tests/fixtures/make-bad-input.mjs) or a unit test, and fix it.");
  }
}

console.log("\ntarget              seconds        runs    runs/s   corpus  new");
for (const r of results) {
  console.log(
    `${r.target.padEnd(18)} ${String(r.seconds).padStart(8)} ${String(r.runs).padStart(11)} ${String(r.perSecond).padStart(9)} ${String(r.corpus).padStart(8)} ${String(r.newInputs).padStart(4)}${r.ok ? "" : "  FAILED"}`,
  );
}
if (crashed) process.exit(1);
