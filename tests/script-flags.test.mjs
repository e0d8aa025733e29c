// Every script a user runs answers a mistake in its flags with one line that says what is wrong,
// then its usage, exit code 2, and no stack trace; `--help` prints the usage and exits 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { root } from "./support/worker.mjs";

const SCRIPTS = {
  "npm run token": ["scripts/token.mjs"],
  "npm run bench": ["bench/run.mjs"],
  "npm run bench:stream": ["bench/stream.mjs"],
  "npm run bench:schema": ["bench/schema.mjs"],
  "node bench/serve-direct.mjs": ["bench/serve-direct.mjs"],
  "npm test": ["scripts/test.mjs"],
  "npm run fuzz": ["scripts/fuzz.mjs"],
  "npm run soak": ["bench/soak.mjs"],
};

const MISTAKES = {
  "npm run token": [["--orgg", "acme"], /did you mean --org\?/],
  "npm run bench": [["--servers", "workerd,nginx"], /--servers: unknown nginx; choose from/],
  "npm run bench:stream": [["--fanout", "10,many"], /--fanout must be a whole number/],
  "npm run bench:schema": [["--seconds", "banana"], /--seconds must be a number/],
  "node bench/serve-direct.mjs": [["--build", "debug"], /--build must be release or dev/],
  "npm test": [["tests/no-such.test.mjs"], /no such test file: tests\/no-such.test.mjs/],
  "npm run soak": [["--connections", "lots"], /--connections must be a whole number/],
  "npm run fuzz": [["--target", "json"], /--target: unknown json; choose from publish_validator, token, sse_frame/],
};

const runScript = (name, args) => spawnSync("node", [join(root, SCRIPTS[name][0]), ...args], { cwd: root, encoding: "utf8", timeout: 60_000 });

for (const name of Object.keys(SCRIPTS)) {
  test(`${name}: a mistake in its flags is one line and the usage, exit 2`, () => {
    const [args, says] = MISTAKES[name];
    const r = runScript(name, args);
    assert.equal(r.status, 2, `exit code (stderr: ${r.stderr})`);
    const [first, ...rest] = r.stderr.trim().split("\n");
    assert.ok(first.startsWith(`${name}: `), `it names itself: ${first}`);
    assert.match(first, says);
    assert.match(rest.join("\n"), /^usage: /m);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  });

  test(`${name}: --help prints the usage`, () => {
    const r = runScript(name, ["--help"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: /);
  });
}
