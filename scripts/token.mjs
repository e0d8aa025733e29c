// Mints a token for local use:  npm run token -- --org acme --scope "subscribe publish"
// Signs with TOKEN_SECRET from the environment, else from .dev.vars (written by npm run setup).

import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { readDevSecret, ensureDevVars } from "./lib/toolchain.mjs";

const { values } = parseArgs({
  options: {
    org: { type: "string", default: "dev" },
    sub: { type: "string", default: "dev-user" },
    scope: { type: "string", default: "subscribe publish" },
    ttl: { type: "string", default: "24h" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(`npm run token -- [--org dev] [--sub dev-user] [--scope "subscribe publish"] [--ttl 24h]
Prints a token signed with TOKEN_SECRET (env) or the one in .dev.vars.
Scopes: subscribe, publish, metrics. TTL: e.g. 90s, 30m, 24h, 7d.`);
  process.exit(0);
}
if (!/^[a-z0-9_-]{1,64}$/.test(values.org)) {
  console.error("--org must be 1 to 64 characters of a-z, 0-9, '_' and '-'");
  process.exit(2);
}
const bad = values.scope.split(" ").filter((s) => s && !["subscribe", "publish", "metrics"].includes(s));
if (bad.length) {
  console.error(`unknown scope ${bad.join(", ")}: use subscribe, publish, metrics`);
  process.exit(2);
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
