// `npm run token` refuses what it cannot use with one line that says what to do, the usage, and
// exit code 2, never a stack trace; and mints a token for what it can.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { root, TEST_SECRET } from "./support/worker.mjs";

function token(args, env = {}) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_(org|sub|scope|ttl)$/.test(k)));
  const r = spawnSync("node", [join(root, "scripts", "token.mjs"), ...args], {
    encoding: "utf8",
    env: { ...inherited, TOKEN_SECRET: TEST_SECRET, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

for (const [args, env, hint] of [
  [["--orgg", "acme"], {}, "Unknown option '--orgg'"],
  [["--org"], {}, "argument missing"],
  [["--ttl", "banana"], {}, "--ttl must be a number and s, m, h or d"],
  [["--scope", "subscribe", "publish"], {}, 'quote several scopes as one value, e.g. --scope "subscribe publish"'],
  [["--scope", "subscribe admin"], {}, "unknown scope admin"],
  [["--org", "Acme Corp"], {}, "--org must be 1 to 64 characters"],
  [[], { npm_config_org: "acme" }, "put -- before the flags"],
]) {
  test(`npm run token ${args.join(" ") || "(npm took --org)"}: exit 2 and says ${JSON.stringify(hint)}`, () => {
    const r = token(args, env);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    const [first, usage] = r.err.split("\n");
    assert.ok(first.startsWith("npm run token: ") && first.includes(hint), first);
    assert.ok(usage.startsWith("usage: npm run token -- "), usage);
    assert.ok(!/\n\s+at /.test(r.err), "no stack trace");
  });
}

test("npm run token mints what it is asked for", () => {
  const r = token(["--org", "acme", "--sub", "me", "--scope", "subscribe metrics", "--ttl", "30m"]);
  assert.equal(r.code, 0, r.err);
  const claims = decodeJwt(r.out.trim());
  assert.deepEqual([claims.org, claims.sub, claims.scope], ["acme", "me", "subscribe metrics"]);
  assert.ok(Math.abs(claims.exp - claims.iat - 1800) <= 1);
});
