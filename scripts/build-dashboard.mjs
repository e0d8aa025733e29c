// Builds the dashboard (dashboard/, React) into public/, which wrangler serves as static assets
// at `/`: the page, its bundle, and the validators' wasm next to it. Also serves, as they are, the
// examples without a build step (examples/plain at /examples/plain/) and the two packages' files
// they import (/packages/client/, /packages/schema/); `--no-examples` (what `npm run deploy`
// builds) leaves both out, since the examples need a dev token.
import { cpSync, mkdirSync, rmSync } from "node:fs";
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

for (const dir of ["examples", "packages"]) rmSync(join(out, dir), { recursive: true, force: true });
if (process.argv.includes("--no-examples")) process.exit(0);
step("copying the plain example and the packages' files into public/ (/examples/plain/, /packages/)");
cpSync(join(root, "examples", "plain"), join(out, "examples", "plain"), { recursive: true });
cpSync(join(root, "client", "dist"), join(out, "packages", "client"), { recursive: true, filter: (f) => !f.endsWith(".map") });
cpSync(join(root, "schema-wasm", "pkg"), join(out, "packages", "schema"), { recursive: true, filter: (f) => !f.endsWith(".fingerprint") });
