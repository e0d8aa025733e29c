// Builds the dashboard (dashboard/, React) into public/, which wrangler serves as static assets
// at `/`: the page, its bundle, and the validators' wasm next to it. Also serves, as they are, the
// examples without a build step (examples/plain at /examples/plain/) and the two packages' files
// they import (/packages/client/, /packages/schema/), and the Vite example's page bundled by esbuild
// (/examples/react/); `--no-examples` (what `npm run deploy` builds) leaves them out, since the
// examples need a dev token.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

step("bundling the React example (examples/vite-react/src/main.tsx, esbuild) into public/examples/react/");
const react = join(out, "examples", "react");
run(join(root, "node_modules", ".bin", "esbuild"), [
  join(root, "examples", "vite-react", "src", "main.tsx"),
  "--bundle", "--format=esm", "--target=es2022", "--jsx=automatic", "--minify",
  "--define:process.env.NODE_ENV=\"production\"",
  // Vite's build-time variables: none here (VITE_FF_<NAME> overrides come from a Vite build).
  "--define:import.meta.env={}",
  `--outfile=${join(react, "app.js")}`,
  "--log-level=warning",
]);
// The validators' wasm next to the bundle, where @orgstream/schema looks for it (import.meta.url).
cpSync(join(root, "schema-wasm", "pkg", "schema_bg.wasm"), join(react, "schema_bg.wasm"));
writeFileSync(
  join(react, "index.html"),
  readFileSync(join(root, "examples", "vite-react", "index.html"), "utf8").replace('src="/src/main.tsx"', 'src="./app.js"'),
);
