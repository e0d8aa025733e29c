// `npm run deploy` refuses a config that sets TOKEN_SECRET as a plain var (vars are stored and
// shown in plain text), before building or deploying anything.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "./support/worker.mjs";

function check(toml) {
  const args = [join(root, "scripts", "deploy.mjs"), "--check"];
  if (toml !== undefined) {
    const path = join(mkdtempSync(join(tmpdir(), "orgstream-deploy-")), "wrangler.toml");
    writeFileSync(path, toml);
    args.push("--config", path);
  }
  const r = spawnSync("node", args, { encoding: "utf8" });
  return { code: r.status, err: r.stderr };
}

test("the project's wrangler.toml passes", () => {
  assert.equal(check().code, 0);
});

for (const [where, toml] of [
  ["[vars]", 'name = "x"\n[vars]\nRETRY_MS = "1000"\nTOKEN_SECRET = "0123456789abcdef0123456789abcdef"\n'],
  ["[env.production.vars]", 'name = "x"\n[env.production.vars]\n"TOKEN_SECRET" = "0123456789abcdef0123456789abcdef"\n'],
]) {
  test(`TOKEN_SECRET in ${where} is refused with what to do instead`, () => {
    const r = check(toml);
    assert.equal(r.code, 2);
    assert.match(r.err, /TOKEN_SECRET is set in the \[vars\]/);
    assert.match(r.err, /npx wrangler secret put TOKEN_SECRET/);
  });
}

test("TOKEN_SECRET named outside a vars table (a comment, another table) passes", () => {
  const r = check('name = "x"\n# TOKEN_SECRET is a secret: wrangler secret put TOKEN_SECRET\n[vars]\nRETRY_MS = "1"\n[other]\nTOKEN_SECRET = "not a var"\n');
  assert.equal(r.code, 0, r.err);
});
