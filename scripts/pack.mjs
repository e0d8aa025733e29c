// `npm run pack`: the two browser packages as npm tarballs in packages/, ready to install into an
// app (npm install <both tarballs>): @orgstream/schema (schema-wasm/pkg) and @orgstream/client
// (client/package.json, client/dist). Builds both first (cached when nothing changed).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { fail, root, run, step } from "./lib/toolchain.mjs";
import { parseFlags } from "./lib/cli.mjs";

parseFlags({ name: "npm run pack", usage: "usage: npm run pack   (writes packages/*.tgz)", options: {} });

run("node", [join(root, "scripts", "build-schema.mjs")]);
run("node", [join(root, "scripts", "build-client.mjs")]);

const schemaDir = join(root, "schema-wasm", "pkg");
const clientDir = join(root, "client");
const schema = JSON.parse(readFileSync(join(schemaDir, "package.json"), "utf8"));
const client = JSON.parse(readFileSync(join(clientDir, "package.json"), "utf8"));
const wanted = client.dependencies?.["@orgstream/schema"];
if (wanted !== schema.version) {
  fail(`client/package.json depends on @orgstream/schema ${wanted}, but the catalog is ${schema.version} (SCHEMA_VERSION in schema-wasm/src/lib.rs): set the dependency to "${schema.version}"`);
}

const out = join(root, "packages");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const tarballs = [];
for (const dir of [schemaDir, clientDir]) {
  // The repository's LICENSE goes into each tarball (npm packs a package's LICENSE always).
  copyFileSync(join(root, "LICENSE"), join(dir, "LICENSE"));
  step(`packing ${relative(root, dir)} (npm pack)`);
  const [info] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", out], { cwd: dir, encoding: "utf8" }));
  tarballs.push(join(out, info.filename));
}
step(`packed into packages/: ${tarballs.map((t) => relative(out, t)).join(", ")}`);
// Absolute paths: the command is run from the app's directory, wherever that is.
console.log(`install both into an app (from its directory) with:\n  npm install ${tarballs.join(" ")}`);
