// The project's wrangler.toml without its [build] table, written where wrangler can use it, with
// `main` pointing at a given build. For `npm run dev` (which builds and watches the worker itself:
// wrangler's own build watcher runs the build again right after start and restarts the runtime)
// and for the tests (which build once). Bindings, migrations and vars are the project's.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root } from "./toolchain.mjs";

/** Where each build of the worker is (`node scripts/build-worker.mjs [--dev]`). */
export const BUILDS = {
  dev: join(root, "worker", "build-dev", "index.js"),
  release: join(root, "worker", "build", "index.js"),
};

/** Writes the config into `dir` (only when it changed) and returns its path. */
export function configWithoutBuild(dir, entry) {
  mkdirSync(dir, { recursive: true });
  const out = [];
  let inBuild = false;
  for (const line of readFileSync(join(root, "wrangler.toml"), "utf8").split("\n")) {
    if (/^\[/.test(line)) inBuild = line.trim() === "[build]";
    if (!inBuild) out.push(line);
  }
  const text = out
    .join("\n")
    .replace(/^main = "(.*)"$/m, () => `main = "${entry}"`)
    .replace(/^directory = "(.*)"$/m, (_, d) => `directory = "${join(root, d)}"`);
  const path = join(dir, "wrangler.toml");
  // Wrangler watches its config and reloads on change: never rewrite it under a running server,
  // and never let one see a half-written file.
  if (!existsSync(path) || readFileSync(path, "utf8") !== text) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  }
  return path;
}
