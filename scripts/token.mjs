// Mints a token for local use:  npm run token -- --org acme --scope "subscribe publish"
// Signs with TOKEN_SECRET from the environment, else from .dev.vars (written by npm run setup).

import { SignJWT } from "jose";
import { readDevSecret, ensureDevVars } from "./lib/toolchain.mjs";
import { parseFlags, usageError } from "./lib/cli.mjs";
import { ORG_PATTERN, SCOPES } from "../schema-wasm/js/rules.js";

const NAME = "npm run token";
const USAGE = `usage: npm run token -- [--org dev] [--sub dev-user] [--scope "subscribe publish"] [--ttl 24h]
Prints a token signed with TOKEN_SECRET (env) or the one in .dev.vars.
Scopes: subscribe, publish, metrics (several: quote them). TTL: a number and s, m, h or d (90s, 30m, 24h, 7d).`;

// `npm run token --org acme` (no `--`) hands the flag to npm, which passes it on only as
// npm_config_org: say so rather than minting a token for the default org.
for (const flag of ["org", "sub", "scope", "ttl"]) {
  if (process.env[`npm_config_${flag}`] !== undefined) {
    usageError(NAME, USAGE, `npm took --${flag} for itself: put -- before the flags (npm run token -- --${flag} ...)`);
  }
}

const { values, fail } = parseFlags({
  name: NAME,
  usage: USAGE,
  options: {
    org: { type: "string", default: "dev" },
    sub: { type: "string", default: "dev-user" },
    scope: { type: "string", default: "subscribe publish" },
    ttl: { type: "string", default: "24h" },
  },
  hint: (e) =>
    e.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL"
      ? `unexpected argument: quote several scopes as one value, e.g. --scope "subscribe publish" (${e.message})`
      : undefined,
});
if (!/^\d+[smhd]$/.test(values.ttl)) fail(`--ttl must be a number and s, m, h or d (e.g. 30m), got ${JSON.stringify(values.ttl)}`);
if (!new RegExp(ORG_PATTERN).test(values.org)) {
  fail("--org must be 1 to 64 characters of a-z, 0-9, '_' and '-'");
}
const bad = values.scope.split(" ").filter((s) => s && !SCOPES.includes(s));
if (bad.length) {
  fail(`unknown scope ${bad.join(", ")}: use ${SCOPES.join(", ")}`);
}
if (!process.env.TOKEN_SECRET) ensureDevVars();
const secret = readDevSecret();
if (!secret) {
  console.error("no TOKEN_SECRET: set it in the environment or run npm run setup to write .dev.vars");
  process.exit(2);
}
const token = await new SignJWT({ org: values.org, scope: values.scope })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(values.sub)
  .setIssuedAt()
  .setExpirationTime(values.ttl)
  .sign(new TextEncoder().encode(secret));
console.log(token);
