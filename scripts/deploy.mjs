// `npm run deploy [-- wrangler deploy flags]`: checks the config, builds the dashboard into public/
// (without the dev-only examples) and the release worker (`npm run build:release`), and runs
// `wrangler deploy` with the flags given.
//
//   npm run deploy                         check, build, deploy
//   npm run deploy -- --check              only the checks (exit 2 and a message when one fails)
//   npm run deploy -- --config other.toml  a config of your own (also passed to wrangler)

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { root, step } from "./lib/toolchain.mjs";

const args = process.argv.slice(2).filter((a, i) => !(i === 0 && a === "--"));
const checkOnly = args.includes("--check");
const passed = args.filter((a) => a !== "--check");
const at = passed.findIndex((a) => a === "--config" || a === "-c" || a.startsWith("--config="));
const config =
  at < 0 ? join(root, "wrangler.toml") : resolve(passed[at].includes("=") ? passed[at].split("=")[1] : passed[at + 1] ?? "");

/** The names of the vars a wrangler.toml sets in any `[vars]` or `[env.<name>.vars]` table. */
export function varNames(toml) {
  const names = [];
  let inVars = false;
  for (const raw of toml.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("[")) {
      inVars = /^\[(env\.[^\]]+\.)?vars\]$/.test(line);
      continue;
    }
    const key = inVars && line.match(/^"?([A-Za-z_][A-Za-z0-9_]*)"?\s*=/);
    if (key) names.push(key[1]);
  }
  return names;
}

let text;
try {
  text = readFileSync(config, "utf8");
} catch (e) {
  console.error(`deploy: cannot read ${config}: ${e.message}`);
  process.exit(2);
}
if (varNames(text).includes("TOKEN_SECRET")) {
  console.error(
    `deploy: TOKEN_SECRET is set in the [vars] of ${config}: vars are stored and shown in plain text.\n` +
      "Remove it there and set it as a secret: npx wrangler secret put TOKEN_SECRET",
  );
  process.exit(2);
}
step(`config checked: ${config} (TOKEN_SECRET is not a plain var)`);
if (checkOnly) process.exit(0);

const run = (cmd, cmdArgs) => {
  const r = spawnSync(cmd, cmdArgs, { stdio: "inherit", cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
// The dashboard and its validators into public/ (the assets), without the dev-only examples.
for (const script of ["build-schema.mjs", "build-client.mjs"]) run("node", [join(root, "scripts", script)]);
run("node", [join(root, "scripts", "build-dashboard.mjs"), "--no-examples"]);
run("node", [join(root, "scripts", "build-worker.mjs"), "--optimize"]);
run(join(root, "node_modules", ".bin", "wrangler"), ["deploy", ...passed]);
