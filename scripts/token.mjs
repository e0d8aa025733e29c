// Mints a token for local use:  npm run token -- --org acme --scope "subscribe publish"
// Signs with TOKEN_SECRET from the environment, else from .dev.vars (written by npm run setup).

import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { readDevSecret, ensureDevVars } from "./lib/toolchain.mjs";

const USAGE = `usage: npm run token -- [--org dev] [--sub dev-user] [--scope "subscribe publish"] [--ttl 24h]
Prints a token signed with TOKEN_SECRET (env) or the one in .dev.vars.
Scopes: subscribe, publish, metrics (several: quote them). TTL: a number and s, m, h or d (90s, 30m, 24h, 7d).`;

/** One line saying what is wrong, the usage, exit code 2: never a stack trace. */
function usageError(message) {
  console.error(`npm run token: ${message}\n${USAGE}`);
  process.exit(2);
}

// `npm run token --org acme` (no `--`) hands the flag to npm, which passes it on only as
// npm_config_org: say so rather than minting a token for the default org.
for (const flag of ["org", "sub", "scope", "ttl"]) {
  if (process.env[`npm_config_${flag}`] !== undefined) {
    usageError(`npm took --${flag} for itself: put -- before the flags (npm run token -- --${flag} ...)`);
  }
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      org: { type: "string", default: "dev" },
      sub: { type: "string", default: "dev-user" },
      scope: { type: "string", default: "subscribe publish" },
      ttl: { type: "string", default: "24h" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }));
} catch (e) {
  if (e.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    usageError(`unexpected argument: quote several scopes as one value, e.g. --scope "subscribe publish" (${e.message})`);
  }
  usageError(e.message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!/^\d+[smhd]$/.test(values.ttl)) usageError(`--ttl must be a number and s, m, h or d (e.g. 30m), got ${JSON.stringify(values.ttl)}`);
if (!/^[a-z0-9_-]{1,64}$/.test(values.org)) {
  usageError("--org must be 1 to 64 characters of a-z, 0-9, '_' and '-'");
}
const bad = values.scope.split(" ").filter((s) => s && !["subscribe", "publish", "metrics"].includes(s));
if (bad.length) {
  usageError(`unknown scope ${bad.join(", ")}: use subscribe, publish, metrics`);
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
