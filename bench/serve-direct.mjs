// Serves orgstream's release build in workerd directly (Miniflare, as the benchmark's `workerd`
// server does) and prints its address and a subscribe+publish token as one JSON line, then runs
// until stopped: for profiling and one-off load generator runs (docs/bench/README.md).
//
//   node bench/serve-direct.mjs [--org bench] [--build release|dev] [--script OTHER/worker/build/index.js]

import { parseFlags } from "../scripts/lib/cli.mjs";
import { startDirect } from "../tests/support/worker.mjs";
import { token } from "../tests/support/client.mjs";

const { values, fail } = parseFlags({
  name: "node bench/serve-direct.mjs",
  usage: "usage: node bench/serve-direct.mjs [--org NAME] [--build release|dev] [--script PATH]",
  options: { org: { type: "string", default: "bench" }, build: { type: "string", default: "release" }, script: { type: "string" } },
});
if (!["release", "dev"].includes(values.build)) fail(`--build must be release or dev, got ${JSON.stringify(values.build)}`);
const server = await startDirect({ build: values.build, scriptPath: values.script, vars: { HISTORY_MAX_EVENTS: "20000" } });
const addr = server.url.replace("http://", "");
console.log(JSON.stringify({ addr, token: await token(values.org, "subscribe publish") }));
const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
setInterval(() => {}, 1 << 30);
