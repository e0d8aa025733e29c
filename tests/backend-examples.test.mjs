// The backend examples (examples/backend/) run as written against the worker: each mints its
// token with TOKEN_SECRET and publishes with an Idempotency-Key; the event is then in the org's
// history. Python's comes with PyJWT, pinned, installed from PyPI into a cached virtualenv; Go's
// uses the standard library only, with Debian's Go (installed with apt-get on the first run).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { startWorker, root, TEST_SECRET } from "./support/worker.mjs";
import { ensureDebianPackages } from "../scripts/lib/toolchain.mjs";
import { history, token } from "./support/client.mjs";

const PYJWT = "PyJWT==2.10.1";
const VENV = join(homedir(), ".cache", "orgstream", "python-examples");

let server;
before(async () => (server = await startWorker()));
after(async () => server?.stop());

/** Runs an example; its trimmed output. */
function run(command, args) {
  const r = spawnSync(command, args, {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ORGSTREAM_URL: server.url, TOKEN_SECRET: TEST_SECRET },
  });
  assert.equal(r.status, 0, `${command} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The ids of the org dev's events published by the examples (task import-42). */
async function published() {
  const page = await history(server.url, await token("dev", "subscribe"), { type: "task.progress", limit: "1000" });
  return page.body.events.filter((e) => e.data.taskId === "import-42").map((e) => e.id);
}

test("Node: examples/backend/publish.mjs mints, publishes with a key, and the event is stored", async () => {
  const before = await published();
  const out = run("node", ["examples/backend/publish.mjs"]);
  const id = out.match(/^published (\d+)$/)?.[1];
  assert.ok(id, out);
  assert.deepEqual(await published(), [...before, id]);
});

test("Python: examples/backend/publish.py (PyJWT) mints, publishes with a key, and the event is stored", async (t) => {
  if (spawnSync("python3", ["--version"]).status !== 0) return t.skip("python3 is not installed here");
  const python = join(VENV, "bin", "python");
  if (!existsSync(python) || spawnSync(python, ["-c", "import jwt"]).status !== 0) {
    assert.equal(spawnSync("python3", ["-m", "venv", VENV], { stdio: "inherit" }).status, 0, "python3 -m venv");
    assert.equal(spawnSync(python, ["-m", "pip", "install", "--quiet", PYJWT], { stdio: "inherit" }).status, 0, `pip install ${PYJWT}`);
  }
  const before = await published();
  const out = run(python, ["examples/backend/publish.py"]);
  const id = out.match(/^published (\d+)$/)?.[1];
  assert.ok(id, out);
  assert.deepEqual(await published(), [...before, id]);
});

test("Go: examples/backend/publish.go (the standard library) mints, publishes with a key, and the event is stored", async () => {
  ensureDebianPackages(["/usr/bin/go"], ["golang-go"], "for the Go backend example");
  const before = await published();
  const out = run("go", ["run", "examples/backend/publish.go"]);
  const id = out.match(/^published (\d+)$/)?.[1];
  assert.ok(id, out);
  assert.deepEqual(await published(), [...before, id]);
});
