// Builds the dashboard (dashboard/, React) into public/, which wrangler serves as static assets
// at `/`: the page, its bundle, and the validators' wasm next to it.
import { cpSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { root, run, step } from "./lib/toolchain.mjs";

const out = join(root, "public");
mkdirSync(out, { recursive: true });
step("bundling the dashboard (esbuild) into public/");
run(join(root, "node_modules", ".bin", "esbuild"), [
  join(root, "dashboard", "main.tsx"),
  "--bundle", "--format=esm", "--target=es2022", "--jsx=automatic", "--minify", "--sourcemap",
  "--define:process.env.NODE_ENV=\"production\"",
  `--outfile=${join(out, "app.js")}`,
  "--log-level=warning",
]);
cpSync(join(root, "dashboard", "index.html"), join(out, "index.html"));
cpSync(join(root, "schema-wasm", "pkg", "schema_bg.wasm"), join(out, "schema_bg.wasm"));
