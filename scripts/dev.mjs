// `npm run dev [-- wrangler dev flags]`: set up, then serve the worker locally with wrangler dev.
//   npm run dev -- --port 9000 --var HEARTBEAT_INTERVAL_MS:2000

import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { root, setup, step } from "./lib/toolchain.mjs";

setup();
// The browser validators, the client and the dashboard (served at /); the worker itself is built
// by wrangler's [build] command.
for (const script of ["build-schema.mjs", "build-client.mjs", "build-dashboard.mjs"]) {
  if (spawnSync("node", [join(root, "scripts", script)], { stdio: "inherit" }).status !== 0) process.exit(1);
}
const args = process.argv.slice(2).filter((a, i) => !(i === 0 && a === "--"));
const has = (flag) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
const port = (() => {
  const i = args.findIndex((a) => a === "--port" || a.startsWith("--port="));
  if (i < 0) return "8787";
  return args[i].includes("=") ? args[i].split("=")[1] : args[i + 1];
})();
const extra = [];
if (!has("--ip")) extra.push("--ip", "127.0.0.1");
if (!has("--port")) extra.push("--port", port);

step(`starting wrangler dev on http://127.0.0.1:${port} (local Durable Object storage in .wrangler/state)`);
step(`dashboard:    http://127.0.0.1:${port}/  (gets a dev token by itself)`);
step(`get a token:  npm run token -- --org dev --scope "subscribe publish"`);
step(`watch:        curl -N "http://127.0.0.1:${port}/v1/stream?token=$(npm run -s token)"`);

const wrangler = join(root, "node_modules", ".bin", "wrangler");
// The dev build (it has the dev token route the dashboard uses): wrangler's [build] command reads
// ORGSTREAM_BUILD, and the entry is that build's.
const child = spawn(wrangler, ["dev", join("worker", "build-dev", "index.js"), ...extra, ...args], {
  stdio: "inherit",
  cwd: root,
  env: { ...process.env, ORGSTREAM_BUILD: "dev" },
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
