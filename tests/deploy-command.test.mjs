// `npm run deploy` refuses a config that sets TOKEN_SECRET as a plain var (vars are stored and
// shown in plain text), before building or deploying anything: in the top level's vars or any
// environment's, in every form TOML and JSON(C) can write that in, as wrangler itself reads it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "./support/worker.mjs";
import { ConfigError, readDeployConfig, varTablesSetting } from "../scripts/deploy.mjs";

const SECRET = "0123456789abcdef0123456789abcdef";

/** `text` written to a file `name` in a fresh directory; its path. */
function configFile(text, name = "wrangler.toml") {
  const path = join(mkdtempSync(join(tmpdir(), "orgstream-deploy-")), name);
  writeFileSync(path, text);
  return path;
}

/**
 * `npm run deploy -- --check` with `text` as the config (written to a file `name`, given with
 * `flag`), or with the project's own when `text` is undefined. Asynchronous, so that these run side
 * by side: each loads wrangler (about a second) to read the config.
 */
function check(text, name = "wrangler.toml", flag = (path) => ["--config", path]) {
  const args = [join(root, "scripts", "deploy.mjs"), "--check"];
  if (text !== undefined) args.push(...flag(configFile(text, name)));
  return new Promise((done, failed) => {
    const child = spawn("node", args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
    child.on("error", failed).on("close", (code) => done({ code, err }));
  });
}

function assertRefused(r, env) {
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /TOKEN_SECRET is set in the \[vars\]/);
  assert.match(r.err, /npx wrangler secret put TOKEN_SECRET/);
  if (env) assert.match(r.err, new RegExp(`\\(env\\.${env}\\.vars\\)[^]*secret put TOKEN_SECRET --env ${env}`));
}

describe("npm run deploy -- --check", { concurrency: true }, () => {
  test("the project's wrangler.toml passes", async () => {
    const r = await check();
    assert.equal(r.code, 0, r.err);
  });

  for (const [where, text, name, env, flag] of [
    ["[vars]", `name = "x"\n[vars]\nRETRY_MS = "1000"\nTOKEN_SECRET = "${SECRET}"\n`],
    ["[env.production.vars] (--config=PATH)", `name = "x"\n[env.production.vars]\n"TOKEN_SECRET" = "${SECRET}"\n`, , "production", (p) => [`--config=${p}`]],
    ["a wrangler.jsonc (-c PATH)", `{\n  // c\n  "vars": { "TOKEN_SECRET": "${SECRET}", },\n}\n`, "wrangler.jsonc", , (p) => ["-c", p]],
  ]) {
    test(`TOKEN_SECRET in ${where} is refused with what to do instead`, async () => {
      assertRefused(await check(text, name, flag), env);
    });
  }

  test("TOKEN_SECRET named outside a vars table (a comment, another table) passes", async () => {
    const r = await check('name = "x"\n# TOKEN_SECRET is a secret: wrangler secret put TOKEN_SECRET\n[vars]\nRETRY_MS = "1"\n[other]\nTOKEN_SECRET = "not a var"\n');
    assert.equal(r.code, 0, r.err);
  });

  test("a config that does not parse: exit 2, the file, the parser's error and what to do", async () => {
    const r = await check(`name = "x"\n[vars\nRETRY_MS = "1"\n`);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /deploy: cannot parse \S*wrangler\.toml: Invalid TOML document: .* \(line 2, column \d+: \[vars\)/);
    assert.match(r.err, /Fix it .* then run npm run deploy -- --check again/);
  });

  test("a config wrangler would not read as one, and --config without a path: exit 2 and why", async () => {
    const [yaml, bare] = await Promise.all([check("vars:\n  TOKEN_SECRET: x\n", "wrangler.yaml"), check("", "unused.toml", () => ["--config"])]);
    assert.equal(yaml.code, 2);
    assert.match(yaml.err, /wrangler reads only \.toml, \.json and \.jsonc configs/);
    assert.equal(bare.code, 2);
    assert.match(bare.err, /--config needs the path/);
  });
});

/** Where the config `text` (a file `name`) sets TOKEN_SECRET as a plain var, as the check reads it. */
async function varTables(text, name = "wrangler.toml") {
  const { rawConfig } = await readDeployConfig(configFile(text, name));
  return varTablesSetting(rawConfig, "TOKEN_SECRET").map((f) => f.table);
}

// The forms a line-by-line reading of wrangler.toml missed. In process (wrangler loads once): the
// command refuses exactly when this finds a table, as the cases above show.
for (const [form, text, name, tables = ["vars"]] of [
  ["[ vars ] (spaces in the header)", `name = "x"\n[ vars ]\nTOKEN_SECRET = "${SECRET}"\n`],
  ["[vars] # with a comment after the header", `name = "x"\n[vars] # plain settings\nTOKEN_SECRET = "${SECRET}"\n`],
  ["an inline table, vars = { TOKEN_SECRET = ... }", `name = "x"\nvars = { RETRY_MS = "1", TOKEN_SECRET = "${SECRET}" }\n`],
  ["a dotted key at the top level, vars.TOKEN_SECRET", `name = "x"\nvars.TOKEN_SECRET = "${SECRET}"\n`],
  ["a dotted key env.production.vars.TOKEN_SECRET", `name = "x"\nenv.production.vars.TOKEN_SECRET = "${SECRET}"\n`, , ["env.production.vars"]],
  ["a dotted key in [env.production], vars.TOKEN_SECRET", `name = "x"\n[env.production]\nvars.TOKEN_SECRET = "${SECRET}"\n`, , ["env.production.vars"]],
  ['a quoted table name, ["vars"]', `name = "x"\n["vars"]\nTOKEN_SECRET = "${SECRET}"\n`],
  ['a quoted table name, [env.production."vars"]', `name = "x"\n[env.production."vars"]\nTOKEN_SECRET = "${SECRET}"\n`, , ["env.production.vars"]],
  ["a literal-quoted key, 'TOKEN_SECRET' in [vars]", `name = "x"\n[vars]\n'TOKEN_SECRET' = "${SECRET}"\n`],
  [
    "a wrangler.jsonc with comments and trailing commas",
    `{\n  // The worker.\n  "name": "x",\n  /* plain settings */\n  "vars": {\n    "RETRY_MS": "1",\n    "TOKEN_SECRET": "${SECRET}", // oops\n  },\n}\n`,
    "wrangler.jsonc",
  ],
  [
    "env.production.vars of a wrangler.jsonc",
    `{\n  "name": "x",\n  "env": { "production": { /* prod */ "vars": { "TOKEN_SECRET": "${SECRET}", }, }, },\n}\n`,
    "wrangler.jsonc",
    ["env.production.vars"],
  ],
  ["a wrangler.json", `{ "name": "x", "vars": { "RETRY_MS": "1", "TOKEN_SECRET": "${SECRET}" } }\n`, "wrangler.json"],
]) {
  test(`TOKEN_SECRET in ${form} is refused`, async () => {
    const found = await varTables(text, name);
    assert.ok(found.length > 0, "not refused");
    assert.deepEqual(found, tables);
  });
}

test("TOKEN_SECRET inside a string, in a JSONC comment or in another object is not a var", async () => {
  assert.deepEqual(await varTables(`name = "x"\nnote = """\n[vars]\nTOKEN_SECRET = "${SECRET}"\n"""\n[vars]\nHINT = "TOKEN_SECRET"\n`), []);
  const jsonc = `{\n  "name": "x",\n  // "vars": { "TOKEN_SECRET": "..." } would be refused\n  "vars": { "RETRY_MS": "1" },\n  "other": { "TOKEN_SECRET": "not a var" },\n}\n`;
  assert.deepEqual(await varTables(jsonc, "wrangler.jsonc"), []);
});

test("a config that cannot be read or parsed is a ConfigError naming the file and the parser's error", async () => {
  const jsonc = configFile(`{ "name": "x" "vars": {} }\n`, "wrangler.jsonc");
  await assert.rejects(readDeployConfig(jsonc), (e) => e instanceof ConfigError && e.message.includes(`cannot parse ${jsonc}: CommaExpected (line 1, column 15:`));
  const gone = join(tmpdir(), "orgstream-deploy-no-such-dir", "wrangler.toml");
  await assert.rejects(readDeployConfig(gone), (e) => e instanceof ConfigError && e.message.startsWith(`cannot read ${gone}: ENOENT`));
});

test("without --config, the config wrangler would use: wrangler.json, then wrangler.jsonc, then wrangler.toml", async () => {
  const dir = mkdtempSync(join(tmpdir(), "orgstream-deploy-pick-"));
  const cwd = process.cwd();
  writeFileSync(join(dir, "wrangler.toml"), 'name = "x"\n[vars]\nRETRY_MS = "1"\n');
  writeFileSync(join(dir, "wrangler.jsonc"), `{ "name": "x", "env": { "staging": { "vars": { "TOKEN_SECRET": "${SECRET}" } } }, }`);
  writeFileSync(join(dir, "wrangler.json"), `{ "name": "x", "vars": { "TOKEN_SECRET": "${SECRET}" } }`);
  const picked = async () => {
    const { path, rawConfig } = await readDeployConfig(undefined, dir);
    return [path, varTablesSetting(rawConfig, "TOKEN_SECRET").map((f) => f.table)];
  };
  assert.deepEqual(await picked(), [join(dir, "wrangler.json"), ["vars"]]);
  rmSync(join(dir, "wrangler.json"));
  assert.deepEqual(await picked(), [join(dir, "wrangler.jsonc"), ["env.staging.vars"]]);
  rmSync(join(dir, "wrangler.jsonc"));
  assert.deepEqual(await picked(), [join(dir, "wrangler.toml"), []]);
  assert.equal(process.cwd(), cwd, "the working directory is restored");
});

test("TOKEN_SECRET given with --var on the command line is refused too", () => {
  const secret = "TOKEN_SECRET:0123456789abcdef0123456789abcdef";
  for (const flags of [["--var", secret], [`--var=${secret}`], ["--var", "RETRY_MS:1", secret]]) {
    const r = spawnSync("node", [join(root, "scripts", "deploy.mjs"), "--check", ...flags], { encoding: "utf8" });
    assert.equal(r.status, 2, flags.join(" "));
    assert.match(r.stderr, /--var TOKEN_SECRET:\.\.\. would deploy it as a plain var/);
    assert.match(r.stderr, /npx wrangler secret put TOKEN_SECRET/);
  }
});

test("TOKEN_SECRET_PREVIOUS (a rotation's old secret) is a secret too: refused in [vars] and on the command line", async () => {
  const r = await check(`name = "x"\n[vars]\nTOKEN_SECRET_PREVIOUS = "${SECRET}"\n`);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /TOKEN_SECRET_PREVIOUS is set in the \[vars\]/);
  assert.match(r.err, /npx wrangler secret put TOKEN_SECRET_PREVIOUS/);
  const flag = spawnSync("node", [join(root, "scripts", "deploy.mjs"), "--check", "--var", `TOKEN_SECRET_PREVIOUS:${SECRET}`], { encoding: "utf8" });
  assert.equal(flag.status, 2);
  assert.match(flag.stderr, /--var TOKEN_SECRET_PREVIOUS:\.\.\. would deploy it as a plain var/);
});
