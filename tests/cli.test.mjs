// The Rust CLI (cli/, binary `orgstream`) against the running worker: tokens, publishing checked
// against the catalog before it is sent (with an idempotency key), tailing with resume, history,
// versions, metrics, and what each failure says and exits with.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { startWorker, root, TEST_SECRET } from "./support/worker.mjs";
import { history } from "./support/client.mjs";

const BIN = join(root, "target", "debug", "orgstream");
let server;
before(async () => {
  const built = spawnSync("cargo", ["build", "--quiet", "-p", "orgstream-cli"], { cwd: root, stdio: "inherit" });
  assert.equal(built.status, 0, "cargo build -p orgstream-cli");
  server = await startWorker();
});
after(async () => server?.stop());

/** Runs `orgstream <args>` against the test server; `{ code, out, err }`. */
function cli(args, { input, env = {} } = {}) {
  const r = spawnSync(BIN, args, {
    cwd: root,
    input,
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, TOKEN_SECRET: TEST_SECRET, ORGSTREAM_URL: server.url, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Starts `orgstream tail <args>`; its output so far, and a promise of its exit code. */
function startTail(args) {
  const child = spawn(BIN, ["tail", ...args], { cwd: root, env: { ...process.env, TOKEN_SECRET: TEST_SECRET, ORGSTREAM_URL: server.url } });
  const seen = { out: "", err: "", child };
  child.stdout.on("data", (d) => (seen.out += d));
  child.stderr.on("data", (d) => (seen.err += d));
  seen.exited = new Promise((resolve) => child.on("exit", resolve));
  return seen;
}

test("orgstream token mints a token the worker accepts, for the org and scope asked", async () => {
  const r = cli(["token", "--org", "cli-org", "--scope", "subscribe", "--ttl", "10m"]);
  assert.equal(r.code, 0, r.err);
  const token = r.out.trim();
  assert.equal((await history(server.url, token)).status, 200);
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
  assert.deepEqual([claims.org, claims.scope, claims.exp - claims.iat], ["cli-org", "subscribe", 600]);
  const bad = cli(["token", "--ttl", "1y"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /a number and s, m, h or d/);
});

test("orgstream publish checks against the catalog first, and a retry with its key is stored once", async () => {
  const one = cli(["publish", "--org", "cli-pub", "--type", "task.progress", "--data", '{"taskId":"c1","progress":0.5}']);
  assert.equal(one.code, 0, one.err);
  assert.deepEqual(JSON.parse(one.out), { ids: ["1"] });
  const typo = cli(["publish", "--org", "cli-pub", "--type", "task.progress", "--data", '{"taskId":"c1","progres":0.5}']);
  assert.equal(typo.code, 65);
  assert.match(typo.err, /event 0 is invalid at \/data\/progres: .*did you mean `progress`\?/);
  assert.match(typo.err, /nothing was sent/);
  const batch = JSON.stringify({ events: [{ type: "task.progress", data: { taskId: "c2", progress: 0.1 } }, { type: "task.completed", data: { taskId: "c2" } }] });
  const first = cli(["publish", "--org", "cli-pub", "--idempotency-key", "cli-key-1", "-"], { input: batch });
  const again = cli(["publish", "--org", "cli-pub", "--idempotency-key", "cli-key-1", "-"], { input: batch });
  assert.deepEqual([first.code, again.code], [0, 0], first.err + again.err);
  assert.deepEqual(JSON.parse(again.out), JSON.parse(first.out));
  assert.match(again.err, /answered before: stored once/);
  const all = cli(["history", "--org", "cli-pub", "--json"]);
  assert.deepEqual(all.out.trim().split("\n").map((l) => JSON.parse(l).id), ["1", "2", "3"], "three events, the batch once");
});

test("orgstream tail follows the stream from --since and prints each event once, in order", async () => {
  cli(["publish", "--org", "cli-tail", "--type", "task.progress", "--data", '{"taskId":"t1","progress":0.2}']);
  const tail = startTail(["--org", "cli-tail", "--since", "0", "--count", "3"]);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  cli(["publish", "--org", "cli-tail", "--type", "task.progress", "--data", '{"taskId":"t1","progress":0.6}']);
  cli(["publish", "--org", "cli-tail", "--type", "task.completed", "--data", '{"taskId":"t1"}']);
  const timer = setTimeout(() => tail.child.kill(), 15_000);
  assert.equal(await tail.exited, 0, "it stops after --count events");
  clearTimeout(timer);
  assert.deepEqual(tail.out.trim().split("\n"), [
    '1 task.progress {"taskId":"t1","progress":0.2}',
    '2 task.progress {"taskId":"t1","progress":0.6}',
    '3 task.completed {"taskId":"t1"}',
  ]);
});

test("orgstream tail resumes by id after the worker restarts: nothing missed, nothing twice", async () => {
  cli(["publish", "--org", "cli-restart", "--type", "task.completed", "--data", '{"taskId":"before"}']);
  const tail = startTail(["--org", "cli-restart", "--since", "0", "--count", "3"]);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  server = await server.restart(undefined, { samePort: true });
  // Published while the tail is away or reconnecting: it comes by replay after Last-Event-ID.
  cli(["publish", "--org", "cli-restart", "--type", "task.completed", "--data", '{"taskId":"during"}']);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  cli(["publish", "--org", "cli-restart", "--type", "task.completed", "--data", '{"taskId":"after"}']);
  const timer = setTimeout(() => tail.child.kill(), 20_000);
  assert.equal(await tail.exited, 0, `it stops after --count events; stderr: ${tail.err}`);
  clearTimeout(timer);
  assert.deepEqual(tail.out.trim().split("\n").map((l) => l.split(" ").slice(0, 1).concat(JSON.parse(l.split(" ")[2]).taskId).join(" ")), ["1 before", "2 during", "3 after"]);
});

test("orgstream history, versions and metrics", async () => {
  for (const n of [1, 2, 3]) cli(["publish", "--org", "cli-misc", "--type", "task.completed", "--data", `{"taskId":"m${n}"}`]);
  const newest = cli(["history", "--org", "cli-misc", "--desc", "--limit", "2"]);
  assert.equal(newest.code, 0, newest.err);
  assert.deepEqual(newest.out.trim().split("\n").map((l) => l.split(" ")[0]), ["3", "2"]);
  assert.match(newest.err, /older: --before <the last id>/);
  const set = cli(["versions", "set", "2.0.0", "--org", "cli-misc", "--changelog", "faster"]);
  assert.equal(set.code, 0, set.err);
  assert.equal(JSON.parse(set.out).event.data.version, "2.0.0");
  assert.deepEqual(JSON.parse(cli(["versions", "clear", "--org", "cli-misc"]).out), { cleared: true });
  const metrics = cli(["metrics", "--org", "cli-misc"]);
  assert.match(metrics.out, /^orgstream_events_published_total\{type="task.completed"\} 3$/m);
});

test("failures say what to do, with an exit code per kind", () => {
  const down = cli(["history"], { env: { ORGSTREAM_URL: "http://127.0.0.1:9" } });
  assert.equal(down.code, 4);
  assert.match(down.err, /cannot reach the worker at http:\/\/127\.0\.0\.1:9 .*is it running \(npm run dev\)/);
  const refused = cli(["history", "--token", "not-a-token"]);
  assert.equal(refused.code, 3);
  assert.match(refused.err, /the server refused it \(401 unauthorized\): token is malformed/);
  const noSecret = spawnSync(BIN, ["token"], { cwd: "/", encoding: "utf8", env: { PATH: process.env.PATH } });
  assert.equal(noSecret.status, 2);
  assert.match(noSecret.stderr, /no secret to sign a token with: set TOKEN_SECRET/);
  // A reader that stops early (head) is not an error, and never a panic.
  const piped = spawnSync("bash", ["-c", `set -o pipefail; "${BIN}" token | head -c 1 >/dev/null`], { encoding: "utf8", env: { ...process.env, TOKEN_SECRET: TEST_SECRET } });
  assert.deepEqual([piped.status, piped.stderr], [0, ""]);
  const remote = cli(["token"], { env: { TOKEN_SECRET: "", ORGSTREAM_URL: "https://events.example.com" } });
  assert.equal(remote.code, 2);
  assert.match(remote.stderr ?? remote.err, /a \.dev\.vars is used only for a worker on this machine/);
  for (const command of ["token", "publish", "tail", "history", "versions", "metrics"]) {
    const help = cli([command, "--help"]);
    assert.equal(help.code, 0, command);
    assert.match(help.out, /Usage: orgstream/);
  }
});
