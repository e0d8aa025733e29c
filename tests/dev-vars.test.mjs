// .dev.vars holds the local TOKEN_SECRET: setup writes it readable by its owner only (mode 600),
// makes an existing one that others can read private, and keeps the mode when it adds DEV_MODE.
// Every test works on a .dev.vars in a temporary directory, never on the repository's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDevVars, root } from "../scripts/lib/toolchain.mjs";

const skip = process.platform === "win32" && "Windows has no file modes";
const mode = (path) => statSync(path).mode & 0o777;
const tempDevVars = () => join(mkdtempSync(join(tmpdir(), "orgstream-dev-vars-")), ".dev.vars");

/** Runs ensureDevVars on `path` and returns what it printed (its step lines go to stderr). */
function ensure(path) {
  const write = process.stderr.write;
  let printed = "";
  process.stderr.write = (chunk, ...rest) => ((printed += chunk), true);
  try {
    ensureDevVars(path);
  } finally {
    process.stderr.write = write;
  }
  return printed;
}

// The repository's own .dev.vars, as it was before these tests: it must be so after them too.
const real = join(root, ".dev.vars");
const realBefore = existsSync(real) ? { text: readFileSync(real, "utf8"), mode: mode(real) } : null;

test("a new .dev.vars is created with mode 600, a TOKEN_SECRET and DEV_MODE", { skip }, () => {
  const path = tempDevVars();
  ensure(path);
  assert.equal(mode(path).toString(8), "600");
  const text = readFileSync(path, "utf8");
  assert.match(text, /^TOKEN_SECRET="[0-9a-f]{64}"$/m);
  assert.match(text, /^DEV_MODE="true"$/m);
});

test("an existing .dev.vars others can read is made private (chmod 600, said in a step line) and keeps its settings", { skip }, () => {
  const path = tempDevVars();
  writeFileSync(path, 'TOKEN_SECRET="mine"\nDEV_MODE="true"\n');
  chmodSync(path, 0o644);
  const printed = ensure(path);
  assert.equal(mode(path).toString(8), "600");
  assert.match(printed, /chmod 600, it was 644/);
  assert.equal(readFileSync(path, "utf8"), 'TOKEN_SECRET="mine"\nDEV_MODE="true"\n');
  assert.equal(ensure(path), "", "a private .dev.vars with DEV_MODE is left alone, silently");
});

test("adding DEV_MODE to an existing .dev.vars keeps its mode 600 and its lines", { skip }, () => {
  const path = tempDevVars();
  writeFileSync(path, 'TOKEN_SECRET="mine"', { mode: 0o600 }); // no newline at the end
  ensure(path);
  assert.equal(mode(path).toString(8), "600");
  assert.equal(readFileSync(path, "utf8"), 'TOKEN_SECRET="mine"\nDEV_MODE="true"\n');
});

test("DEV_MODE added to a .dev.vars others could read: private and complete", { skip }, () => {
  const path = tempDevVars();
  writeFileSync(path, 'TOKEN_SECRET="mine"\n');
  chmodSync(path, 0o664);
  ensure(path);
  assert.equal(mode(path).toString(8), "600");
  assert.equal(readFileSync(path, "utf8"), 'TOKEN_SECRET="mine"\nDEV_MODE="true"\n');
});

test("the repository's own .dev.vars is untouched by these tests", () => {
  if (realBefore === null) return assert.equal(existsSync(real), false);
  assert.equal(readFileSync(real, "utf8"), realBefore.text);
  assert.equal(mode(real), realBefore.mode);
});
