// `npm run bench:memory`: where an idle stream's memory goes. Holds N idle streams of one org on
// a fresh workerd (as `npm run bench`'s connections scenario does) and splits what the process
// grew by: the isolate's JavaScript heap (after a full collection, through workerd's inspector),
// wasm memory (orgstream's linear memory), and the rest, which is the runtime's own (requests,
// sockets, response bodies). Asserts nothing.
//
//   npm run bench:memory                                         orgstream, floor and floor-native, 1000 streams
//   npm run bench:memory -- --servers workerd --vars LIVENESS_PROBE_MS=0
//   npm run bench:memory -- --servers workerd --worker-build /tmp/other/worker/build/index.js

import { join } from "node:path";
import { run, root } from "../scripts/lib/toolchain.mjs";
import { listFlag, numberFlag, parseFlags } from "../scripts/lib/cli.mjs";
import { freePort } from "../tests/support/worker.mjs";
import { buildLoadgen, loadgen, settle, targetArgs } from "./drive.mjs";
import { SERVERS, rssKiB } from "./servers.mjs";
import { connectInspector, withWebSocket } from "./profile.mjs";

withWebSocket();

const IN_WORKERD = ["workerd", "floor", "floor-native"];
const USAGE = `usage: npm run bench:memory -- [--servers ${IN_WORKERD.join(",")}] [--streams 1000] [--vars NAME=VALUE,...] [--worker-build PATH]
Holds --streams idle streams of one org on each server (a fresh workerd each) and prints the memory
each stream added: the process's resident size, the JavaScript heap after a full collection, wasm
memory. --vars sets the worker's variables (LIVENESS_PROBE_MS=0, say); --worker-build runs another
commit's release build (its worker/build/index.js) as the workerd server.`;
const { values, fail } = parseFlags({
  name: "npm run bench:memory",
  usage: USAGE,
  options: {
    servers: { type: "string", default: IN_WORKERD.join(",") },
    streams: { type: "string", default: "1000" },
    vars: { type: "string", default: "" },
    "worker-build": { type: "string" },
  },
});
const servers = listFlag(fail, "servers", values.servers, IN_WORKERD);
const streams = numberFlag(fail, "streams", values.streams, { min: 1 });
const vars = Object.fromEntries(
  values.vars
    .split(",")
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf("=");
      if (at < 1) fail(`--vars takes NAME=VALUE pairs separated by commas, got ${JSON.stringify(pair)}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
);

const bin = buildLoadgen();
if (!values["worker-build"]) run("node", [join(root, "scripts", "build-worker.mjs")]);

/** The isolate's JavaScript heap after a full collection, and its wasm memories, in KiB. */
async function isolateKiB(inspector, url) {
  // workerd may hold the collection until the isolate next runs: a request makes it run.
  let collected = false;
  const collecting = inspector.call("HeapProfiler.collectGarbage").finally(() => (collected = true));
  while (!collected) {
    await fetch(`${url}/healthz`).then((r) => r.arrayBuffer(), () => {});
    await Promise.race([collecting, new Promise((r) => setTimeout(r, 200))]);
  }
  await collecting;
  const heap = (await inspector.call("Runtime.getHeapUsage")).usedSize / 1024;
  const contextId = inspector.lastEvent.get("Runtime.executionContextCreated")?.context.id;
  const proto = await inspector.call("Runtime.evaluate", { expression: "WebAssembly.Memory.prototype", contextId });
  const memories = await inspector.call("Runtime.queryObjects", { prototypeObjectId: proto.result.objectId });
  const sum = await inspector.call("Runtime.callFunctionOn", {
    objectId: memories.objects.objectId,
    functionDeclaration: "function () { return this.reduce((kib, m) => kib + m.buffer.byteLength / 1024, 0); }",
    returnByValue: true,
  });
  return { heap, wasm: sum.result.value };
}

const rows = [];
for (const key of servers) {
  const inspectorPort = await freePort();
  const server = await SERVERS[key](bin, { workerBuild: values["worker-build"], vars, inspectorPort });
  const inspector = await connectInspector(inspectorPort);
  try {
    await inspector.call("Runtime.enable");
    const t = await server.target(`memory-${process.pid}`);
    // One stream and one event first, so that the code is compiled and the org's hub exists.
    await loadgen(bin, targetArgs(server, t, ["--subscribers", "1", "--events", "1"]));
    await settle(server);
    const before = { rss: rssKiB(server.pids()), ...(await isolateKiB(inspector, server.url)) };
    let held;
    const report = await loadgen(bin, targetArgs(server, t, ["--subscribers", String(streams), "--events", "0", "--hold", "6"]), async () => {
      // As `npm run bench`'s connections scenario: 2.5 s after every stream is held.
      await new Promise((r) => setTimeout(r, 2500));
      const rss = rssKiB(server.pids());
      held = { rss, ...(await isolateKiB(inspector, server.url)) };
    });
    if (!held) throw new Error(`${key}: the load generator ended before the streams were measured`);
    const per = (field) => (held[field] - before[field]) / report.connected;
    const row = { server: key, streams: report.connected, rss: per("rss"), heap: per("heap"), wasm: per("wasm") };
    row.runtime = row.rss - row.heap - row.wasm;
    rows.push(row);
    console.log(`  ${key}: ${row.streams} streams, ${row.rss.toFixed(1)} KiB each (JS heap ${row.heap.toFixed(1)}, wasm ${row.wasm.toFixed(1)}, the runtime's ${row.runtime.toFixed(1)})`);
  } finally {
    inspector.close();
    await server.stop();
  }
}

const f = (x) => x.toFixed(1);
console.log(
  [
    "",
    `| server | streams | KiB per idle stream (resident) | JS heap after a collection | wasm memory | the runtime's (the rest) |${Object.keys(vars).length ? ` (vars: ${values.vars})` : ""}`,
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.server} | ${r.streams} | ${f(r.rss)} | ${f(r.heap)} | ${f(r.wasm)} | ${f(r.runtime)} |`),
  ].join("\n"),
);
