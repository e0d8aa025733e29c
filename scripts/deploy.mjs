// `npm run deploy [-- wrangler deploy flags]`: checks the config, builds the dashboard into public/
// (without the dev-only examples) and the release worker (`npm run build:release`), and runs
// `wrangler deploy` with the flags given.
//
//   npm run deploy                         check, build, deploy
//   npm run deploy -- --check              only the checks (exit 2 and a message when one fails)
//   npm run deploy -- --config other.toml  a config of your own (also passed to wrangler)
//
// The check: the config wrangler deploy will use (the --config/-c given, else the one wrangler
// finds from the project root, see readDeployConfig), read by wrangler's own reader, sets no
// TOKEN_SECRET among the plain vars of its top level (`vars`) or of any environment
// (`env.<name>.vars`), in whatever form the file is written: TOML tables, inline tables, dotted or
// quoted keys, wrangler.json or wrangler.jsonc. A config that cannot be read or parsed fails the
// check too.

import { spawnSync } from "node:child_process";
import { realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { root, step } from "./lib/toolchain.mjs";

/** The worker's secrets: never plain vars (docs/security.md). */
const SECRETS = ["TOKEN_SECRET", "TOKEN_SECRET_PREVIOUS"];
import { wranglerVars } from "./lib/cli.mjs";

/** Why a config cannot be checked: the message names the file, the reason and what to do. */
export class ConfigError extends Error {}

/**
 * Reads the config `wrangler deploy` will use, with the installed wrangler's own reader
 * (`experimental_readRawConfig`: the TOML and JSONC parsers and options deploy uses; no
 * validation, no network, no login). `config` is the path given with --config, or undefined: then
 * wrangler's own lookup from `dir`, as `wrangler deploy` run in `dir` does. Wrangler 4.86
 * (findWranglerConfig in @cloudflare/workers-utils) takes the first of wrangler.json, then
 * wrangler.jsonc, then wrangler.toml, each name searched in `dir` and then in its parents before
 * the next name is tried, and deploy follows a redirect in .wrangler/deploy/config.json.
 * Returns `{ rawConfig, path, redirected }`; throws a ConfigError.
 */
export async function readDeployConfig(config, dir = root) {
  if (config !== undefined && !/\.(toml|json|jsonc)$/.test(config)) {
    // Wrangler reads any other file as an empty config: nothing to check, and not what was meant.
    throw new ConfigError(`cannot check ${config}: wrangler reads only .toml, .json and .jsonc configs; pass one with --config`);
  }
  const signals = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
  let wrangler;
  try {
    wrangler = await import("wrangler");
  } catch (e) {
    throw new ConfigError(`cannot load wrangler to read the config (${e.message}); run npm run setup`);
  }
  // On import wrangler adds SIGINT and SIGTERM handlers that exit with status 0: an interrupted
  // check must not pass, so they go again.
  for (const [signal, before] of Object.entries(signals)) {
    for (const listener of process.listeners(signal)) if (!before.includes(listener)) process.off(signal, listener);
  }
  const read = wrangler.experimental_readRawConfig;
  if (typeof read !== "function") {
    throw new ConfigError("the installed wrangler has no experimental_readRawConfig; scripts/deploy.mjs must be updated for it");
  }
  const cwd = process.cwd();
  let result;
  try {
    process.chdir(dir); // wrangler looks for its config from the working directory
    // Awaited: later wranglers make this reader async.
    result = await read({ config }, { useRedirectIfAvailable: true });
  } catch (e) {
    throw new ConfigError(parseFailure(e, config ?? `the wrangler config in ${dir}`));
  } finally {
    process.chdir(cwd);
  }
  const { rawConfig, configPath, redirected } = result;
  if (!configPath) {
    throw new ConfigError(`no wrangler.json, wrangler.jsonc or wrangler.toml in ${dir} (or above it); pass one with --config`);
  }
  return { rawConfig, path: resolve(dir, configPath), redirected: Boolean(redirected) };
}

/** The sentence for an error of wrangler's reader: the file, the parser's words, where, what to do. */
function parseFailure(e, file) {
  const where = e.location?.line ? ` (line ${e.location.line}, column ${(e.location.column ?? 0) + 1}: ${e.location.lineText?.trim() ?? ""})` : "";
  const notes = (e.notes ?? []).map((n) => n.text).filter(Boolean);
  const reason = [e.text ?? e.message, ...notes].join(": ");
  if (/^Could not read file/.test(e.text ?? "")) return `cannot read ${e.location?.file ?? file}: ${notes.join("; ") || reason}`;
  return (
    `cannot parse ${e.location?.file ?? file}: ${reason}${where}.\n` +
    "Fix it (wrangler deploy parses it the same way and would fail too), then run npm run deploy -- --check again."
  );
}

/**
 * Where a parsed wrangler config (`rawConfig` of readDeployConfig) sets `name` as a plain var: the
 * top level's `vars` (`{ table: "vars" }`) and every `env.<env>.vars` (`{ table, env }`).
 */
export function varTablesSetting(rawConfig, name) {
  const sets = (vars) => vars !== null && typeof vars === "object" && Object.hasOwn(vars, name);
  const found = sets(rawConfig?.vars) ? [{ table: "vars" }] : [];
  const envs = rawConfig?.env !== null && typeof rawConfig?.env === "object" ? rawConfig.env : {};
  for (const [env, body] of Object.entries(envs)) {
    const key = /^[\w-]+$/.test(env) ? env : JSON.stringify(env);
    if (sets(body?.vars)) found.push({ table: `env.${key}.vars`, env });
  }
  return found;
}

async function main() {
  const args = process.argv.slice(2).filter((a, i) => !(i === 0 && a === "--"));
  const checkOnly = args.includes("--check");
  const passed = args.filter((a) => a !== "--check");
  const at = passed.findIndex((a) => a === "--config" || a === "-c" || a.startsWith("--config="));
  const given = at < 0 ? undefined : passed[at].startsWith("--config=") ? passed[at].slice("--config=".length) : passed[at + 1];
  if (at >= 0 && !given) {
    console.error("deploy: --config needs the path of a wrangler config, e.g. --config other.toml");
    process.exit(2);
  }
  // Relative to the root, where wrangler runs below.
  const config = given === undefined ? undefined : resolve(root, given);
  // `--var TOKEN_SECRET:...` on the command line would deploy it as a plain var just the same.
  const onCommandLine = wranglerVars(passed).find(([name]) => SECRETS.includes(name));
  if (onCommandLine) {
    const [name] = onCommandLine;
    console.error(
      `deploy: --var ${name}:... would deploy it as a plain var: vars are stored and shown in plain text.\n` +
        `Set it as a secret instead: npx wrangler secret put ${name}`,
    );
    process.exit(2);
  }

  let checked;
  try {
    checked = await readDeployConfig(config);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(`deploy: ${e.message}`);
    process.exit(2);
  }
  const { rawConfig, path, redirected } = checked;
  for (const name of SECRETS) {
    const found = varTablesSetting(rawConfig, name);
    if (!found.length) continue;
    const put = (f) => `npx wrangler secret put ${name}${f.env === undefined ? "" : ` --env ${/^[\w-]+$/.test(f.env) ? f.env : JSON.stringify(f.env)}`}`;
    console.error(
      `deploy: ${name} is set in the [vars] of ${path} (${found.map((f) => f.table).join(", ")}): vars are stored and shown in plain text.\n` +
        `Remove it there and set it as a secret: ${found.map(put).join(" and ")}`,
    );
    process.exit(2);
  }
  step(`config checked: ${path}${redirected ? ", where .wrangler/deploy/config.json sends wrangler," : ""} (${SECRETS.join(", ")}: not plain vars)`);
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
}

// Run as a script (npm run deploy); imported (the tests), only the functions above.
const invoked = (() => {
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invoked) await main();
