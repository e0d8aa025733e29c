// Builds the browser client (client/src, TypeScript) into client/dist: type-checks it together with
// the dashboard (tsc, client/tsconfig.json), then emits one ES module and one .d.ts per source file
// (tsc, client/tsconfig.build.json). client/dist is what the @orgstream/client package ships
// (client/package.json; `npm run pack`); `@orgstream/schema`, `react` and `@tanstack/react-query`
// stay imports, resolved by the app's bundler. Used by npm test and npm run dev.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { linkPackage, root, run, step } from "./lib/toolchain.mjs";

const tsc = join(root, "node_modules", ".bin", "tsc");
step("type-checking the client and the dashboard (tsc)");
run(tsc, ["-p", join(root, "client", "tsconfig.json")]);
step("compiling the client (tsc) into client/dist");
rmSync(join(root, "client", "dist"), { recursive: true, force: true });
run(tsc, ["-p", join(root, "client", "tsconfig.build.json")]);
linkPackage("@orgstream/client", "client");
