// README.md's shell examples, run as written against the worker, so the README cannot drift from
// the code: every ```sh block runs in order in one bash (see tests/support/readme.mjs for the
// conventions), with 127.0.0.1:8787 pointed at this test's server and TOKEN_SECRET set to the
// server's. Each command must succeed (a request: a 2xx, unless it says another status) and print
// what its `# ...` lines say.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { startWorker, root, TEST_SECRET } from "./support/worker.mjs";
import { shellBlocks, commandsOf, mismatch } from "./support/readme.mjs";

const README = readFileSync(join(root, "README.md"), "utf8");
const STREAM_SECONDS = 3;

let server;
before(async () => {
  server = await startWorker();
});
after(() => server?.stop());

// curl as the reader runs it, plus: no progress meter, the status kept for the check, and a time
// limit (a stream (`-N`) is cut after a moment, which is how it is meant to end here).
const PRELUDE = String.raw`
curl() {
  local hdr limit=30 rc
  hdr=$(mktemp)
  for arg in "$@"; do [ "$arg" = -N ] && limit=${STREAM_SECONDS}; done
  command curl -sS --max-time "$limit" -D "$hdr" "$@"; rc=$?
  __status=$(awk 'NR == 1 { print $2 }' "$hdr")
  rm -f "$hdr"
  if [ "$limit" = ${STREAM_SECONDS} ] && [ "$rc" = 28 ]; then rc=0; fi
  return "$rc"
}
`;

/** Runs the commands in one bash; returns `{ output, status, rc }` per command. */
function runAll(commands, url) {
  const host = new URL(url).host;
  let script = PRELUDE;
  commands.forEach((c, i) => {
    script += `__status=\necho "@@begin ${i}"\n${c.text.replaceAll("127.0.0.1:8787", host)}\n__rc=$?\necho\necho "@@end ${i} $__rc $__status"\n`;
  });
  const run = spawnSync("bash", ["-c", script], {
    cwd: root,
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, TOKEN_SECRET: TEST_SECRET },
  });
  assert.equal(run.error, undefined, `bash failed to run: ${run.error}`);
  const results = [];
  for (const m of run.stdout.matchAll(/@@begin (\d+)\n([\s\S]*?)\n@@end \1 (\d+) ?(\d*)\n/g)) {
    results[Number(m[1])] = { output: m[2], rc: Number(m[3]), status: m[4] ? Number(m[4]) : null };
  }
  return { results, stderr: run.stderr };
}

test("the expectation matcher tells right from wrong", () => {
  const said = '202 {"ids":["..."]}';
  assert.equal(mismatch(said, { status: 202, output: '{"ids":["7"]}' }), null);
  assert.match(mismatch(said, { status: 200, output: '{"ids":["7"]}' }), /status 200, expected 202/);
  assert.match(mismatch(said, { status: 202, output: '{"id":"7"}' }), /does not match/);
  assert.equal(mismatch("retry: 1000 :ok ...", { status: null, output: "retry: 1000\n\n:ok\n\n:\n" }), null);
  assert.notEqual(mismatch("retry: 1000", { status: null, output: "retry: 1000\nmore" }), null, "no text beyond what is said unless ... says so");
  const [command] = commandsOf(["curl -X POST x \\", '  -d "{}"', "# 202 {}", "# more"]);
  assert.deepEqual([command.text, command.expect], ['curl -X POST x \\\n  -d "{}"', "202 {}\nmore"]);
});

test("every sh block of README.md runs, or says why it does not", () => {
  const blocks = shellBlocks(README);
  assert.ok(blocks.length >= 8, `found only ${blocks.length} sh blocks: the parser lost some`);
  for (const b of blocks) assert.ok(b.skip === null || b.skip.length > 10, `README.md:${b.line}: say why the block is skipped`);
});

test("README.md's shell examples run as written and print what they say", () => {
  const blocks = shellBlocks(README).filter((b) => b.skip === null);
  const commands = blocks.flatMap((b) => b.commands);
  const checked = commands.filter((c) => c.expect !== null);
  assert.ok(commands.length >= 12 && checked.length >= 8, `only ${commands.length} commands, ${checked.length} with expectations`);
  const { results, stderr } = runAll(commands, server.url);
  const failures = [];
  commands.forEach((c, i) => {
    const r = results[i];
    const where = `README.md:${c.line}: ${c.text.split("\n")[0]}`;
    if (!r) return failures.push(`${where}\n  did not finish (bash stderr: ${stderr.slice(-500)})`);
    const output = r.output.replace(/\n$/, "");
    if (r.rc !== 0) return failures.push(`${where}\n  exit code ${r.rc}: ${output.slice(0, 500)}`);
    const saysStatus = c.expect !== null && /^\d{3}\b/.test(c.expect.trim());
    if (r.status !== null && !saysStatus && !(r.status >= 200 && r.status < 300)) {
      return failures.push(`${where}\n  HTTP ${r.status}: ${output.slice(0, 500)}`);
    }
    if (c.expect !== null) {
      const wrong = mismatch(c.expect, { output, status: r.status });
      if (wrong) failures.push(`${where}\n  ${wrong}\n  got: ${output.slice(0, 800)}`);
    }
  });
  assert.deepEqual(failures, [], `README examples that do not do what they say:\n${failures.join("\n")}`);
});

test("README.md and docs/ stand alone: links resolve inside the repository, nothing names a file outside it", () => {
  const docs = [join(root, "README.md"), ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => join(root, "docs", f))];
  const broken = [];
  for (const file of docs) {
    const text = readFileSync(file, "utf8");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(target)) continue;
      const path = target.split("#")[0];
      if (!existsSync(resolve(dirname(file), path))) broken.push(`${file.slice(root.length)}: link to ${target}`);
    }
    for (const [outside] of text.matchAll(/\.\.\/shared\/\S*|CONTRACT\.md/g)) broken.push(`${file.slice(root.length)}: names ${outside}, outside the repository`);
  }
  assert.deepEqual(broken, []);
});

test("README's API tables name every export of @orgstream/client and @orgstream/client/react, and nothing else", async () => {
  const ts = (await import("typescript")).default;
  const section = README.slice(README.indexOf("### The client's API, name by name"), README.indexOf("## Configuration"));
  for (const [file, heading] of [["index.d.ts", "`@orgstream/client`:"], ["react.d.ts", "`@orgstream/client/react`:"]]) {
    const source = ts.createSourceFile(file, readFileSync(join(root, "client", "dist", file), "utf8"), ts.ScriptTarget.Latest);
    const exported = new Set();
    for (const node of source.statements) {
      if (ts.isExportDeclaration(node) && node.exportClause && ts.isNamedExports(node.exportClause)) {
        for (const e of node.exportClause.elements) exported.add(e.name.text);
      } else if (node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
        if (node.name) exported.add(node.name.text);
        for (const d of node.declarationList?.declarations ?? []) exported.add(d.name.text);
      }
    }
    const start = section.indexOf(heading);
    const table = section.slice(start, section.indexOf("\n\n", section.indexOf("| --- |", start)));
    const documented = new Set([...table.matchAll(/^\| (.*?) \|/gm)].flatMap((m) => [...m[1].matchAll(/`(\w+)/g)].map((n) => n[1])));
    documented.delete("name");
    assert.ok(exported.size > 5, `${file}: exports found`);
    assert.deepEqual([...exported].filter((n) => !documented.has(n)).sort(), [], `${file}: exported but not in README's table`);
    assert.deepEqual([...documented].filter((n) => !exported.has(n)).sort(), [], `${file}: in README's table but not exported`);
  }
});
