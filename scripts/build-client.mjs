// Builds the browser client (client/src, TypeScript) into client/dist with esbuild, after
// type-checking it with tsc. Used by npm test and npm run dev.
import { join } from "node:path";
import { root, run, step } from "./lib/toolchain.mjs";

step("type-checking the client (tsc)");
run(join(root, "node_modules", ".bin", "tsc"), ["-p", join(root, "client", "tsconfig.json")]);
step("bundling the client (esbuild) into client/dist");
run(join(root, "node_modules", ".bin", "esbuild"), [
  join(root, "client", "src", "index.ts"),
  "--bundle", "--format=esm", "--target=es2022", "--sourcemap",
  `--outfile=${join(root, "client", "dist", "index.js")}`,
  "--log-level=warning",
]);
// The state machine on its own, for its unit tests (client/test/machine.test.mjs).
run(join(root, "node_modules", ".bin", "esbuild"), [
  join(root, "client", "src", "machine.ts"),
  "--format=esm", "--target=es2022",
  `--outfile=${join(root, "client", "dist", "machine.js")}`,
  "--log-level=warning",
]);
run(join(root, "node_modules", ".bin", "esbuild"), [
  join(root, "client", "src", "react.tsx"),
  "--bundle", "--format=esm", "--target=es2022", "--jsx=automatic", "--sourcemap",
  "--external:react", "--external:react/jsx-runtime", "--external:@tanstack/react-query",
  `--outfile=${join(root, "client", "dist", "react.js")}`,
  "--log-level=warning",
]);
