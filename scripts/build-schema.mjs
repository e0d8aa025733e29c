// Builds @orgstream/schema into schema-wasm/pkg: the catalog's validators compiled to wasm
// (cargo, profile `browser`: opt-level z, LTO), bound with wasm-bindgen (web target), shrunk with
// wasm-opt from the npm `binaryen` package, plus the JS entries and generated types in
// schema-wasm/js. Skips the build when no input changed.

import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bin, fingerprint, linkPackage, root, run, setup, step } from "./lib/toolchain.mjs";

const crate = join(root, "schema-wasm");
const pkg = join(crate, "pkg");
const inputs = ["Cargo.toml", "Cargo.lock", "schema-wasm/Cargo.toml", "schema-wasm/src", "schema-wasm/js", "scripts/build-schema.mjs"];

setup({ quiet: true });

const stamp = join(pkg, ".fingerprint");
const want = fingerprint(inputs);
if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) {
  linkPackage("@orgstream/schema", "schema-wasm/pkg");
  step("schema-wasm/pkg is up to date");
  process.exit(0);
}

const started = Date.now();
step("building the browser validators (cargo, profile browser, wasm32)");
run("cargo", ["build", "--quiet", "-p", "schema-wasm", "--target", "wasm32-unknown-unknown", "--profile", "browser", "--features", "browser"]);
rmSync(pkg, { recursive: true, force: true });
mkdirSync(pkg, { recursive: true });
step("binding with wasm-bindgen (web target)");
run(bin("wasm-bindgen"), [
  "--target", "web", "--out-dir", pkg, "--out-name", "schema",
  join(root, "target", "wasm32-unknown-unknown", "browser", "schema_wasm.wasm"),
]);
step("shrinking with wasm-opt -Oz (npm binaryen)");
const wasm = join(pkg, "schema_bg.wasm");
run(join(root, "node_modules", ".bin", "wasm-opt"), ["-Oz", "--strip-debug", "--strip-producers", wasm, "-o", wasm]);
for (const f of ["index.js", "node.js", "api.js", "rules.js", "index.d.ts", "types.d.ts", "rules.d.ts"]) cpSync(join(crate, "js", f), join(pkg, f));
const version = readFileSync(join(crate, "src", "lib.rs"), "utf8").match(/SCHEMA_VERSION: &str = "([^"]+)"/)[1];
writeFileSync(
  join(pkg, "package.json"),
  JSON.stringify(
    {
      name: "@orgstream/schema",
      version,
      description: "orgstream's event catalog validators, compiled from the server's Rust types to wasm.",
      license: "MIT",
      type: "module",
      exports: { ".": { types: "./index.d.ts", node: "./node.js", default: "./index.js" } },
      types: "./index.d.ts",
      files: ["index.js", "node.js", "api.js", "rules.js", "index.d.ts", "types.d.ts", "rules.d.ts", "schema.js", "schema.d.ts", "schema_bg.wasm"],
      sideEffects: ["./index.js", "./node.js"],
    },
    null,
    2,
  ) + "\n",
);
writeFileSync(stamp, want);
linkPackage("@orgstream/schema", "schema-wasm/pkg");
step(`schema-wasm/pkg built in ${((Date.now() - started) / 1000).toFixed(1)} s (${statSync(wasm).size} bytes of wasm)`);
