// `npm run bench:memory`: where an idle stream's memory goes. Holds N idle streams of one org on
// a fresh workerd (as `npm run bench`'s connections scenario does), then N more, and splits what
// the process grew by for each batch: what is mapped from files (`RssFile`: the code it paged in
// from its binary), the isolate's JavaScript heap (after a full collection, through workerd's
// inspector), wasm memory (orgstream's linear memory), and the rest, which the runtime allocated
// (requests, sockets, response bodies, and what its allocator keeps cached). The first batch also
// pays what a process pays once (code paged in, caches filled); the second is what one more stream
// costs. Each stream is its own user (a token of its own subject). With both batches held, it
// also measures the CPU the idle streams cost (their timers and liveness probes). Asserts nothing.
//
//   npm run bench:memory                                         orgstream, floor and floor-native, 1000 + 1000 streams
//   npm run bench:memory -- --servers workerd --vars LIVENESS_PROBE_MS=0
//   npm run bench:memory -- --servers workerd --worker-build /tmp/other/worker/build/index.js

import { join } from "node:path";
import { run, root } from "../scripts/lib/toolchain.mjs";
import { listFlag, numberFlag, parseFlags } from "../scripts/lib/cli.mjs";
import { freePort } from "../tests/support/worker.mjs";
import { buildLoadgen, holdTwoBatches, loadgen, settle, targetArgs } from "./drive.mjs";
import { SERVERS, cpuSeconds, residentKiB } from "./servers.mjs";
import { connectInspector, withWebSocket } from "./profile.mjs";

withWebSocket();

const IN_WORKERD = ["workerd", "floor", "floor-native"];
const USAGE = `usage: npm run bench:memory -- [--servers ${IN_WORKERD.join(",")}] [--streams 1000] [--vars NAME=VALUE,...] [--worker-build PATH]
Holds --streams idle streams of one org on each server (a fresh workerd each), then as many more,
and prints the memory each stream of each batch added: the process's resident size, the code it
paged in, the JavaScript heap after a full collection, wasm memory, the rest; then the CPU all of
them cost while idle. --vars sets the worker's variables (LIVENESS_PROBE_MS=0, say); --worker-build runs another
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
  const deadline = Date.now() + 60_000;
  while (!collected) {
    if (Date.now() > deadline) throw new Error("workerd's inspector did not collect garbage within 60 s");
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
const idleRows = [];
const IDLE_SECONDS = 5;
for (const key of servers) {
  const inspectorPort = await freePort();
  const server = await SERVERS[key](bin, { workerBuild: values["worker-build"], vars, inspectorPort });
  const inspector = await connectInspector(inspectorPort);
  try {
    await inspector.call("Runtime.enable");
    const org = `memory-${process.pid}`;
    const t = await server.target(org);
    // One stream and one event first, so that the code is compiled and the org's hub exists.
    await loadgen(bin, targetArgs(server, t, ["--subscribers", "1", "--events", "1"]));
    await settle(server);
    // Resident size first: the collection that `isolateKiB` forces runs code and frees memory.
    const measure = async () => ({ ...residentKiB(server.pids()), ...(await isolateKiB(inspector, server.url)) });
    const before = await measure();
    // Each stream its own user (the next batch's are new ones).
    const targets = [await server.target(org, { subscribers: streams }), await server.target(org, { subscribers: streams, from: streams })];
    let idle;
    const [first, next] = await holdTwoBatches(bin, server, targets, streams, measure, async () => {
      // What the held streams cost while nothing happens (timers, probes): CPU over 5 s.
      const cpu0 = cpuSeconds(server.pids());
      await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
      idle = (cpuSeconds(server.pids()) - cpu0) / IDLE_SECONDS;
    });
    const heldStreams = first.streams + next.streams;
    idleRows.push({ server: key, streams: heldStreams, msPerSecond: idle * 1000, usPerStream: (idle / heldStreams) * 1e6 });
    for (const [batch, held, from, to] of [
      [`first ${streams}`, first, before, first.sample],
      [`next ${streams}`, next, first.sample, next.sample],
    ]) {
      const per = (field) => (to[field] - from[field]) / held.streams;
      const failed = held.report.failures.length ? `; ${held.report.failures.length} failed, first: ${held.report.failures[0]}` : "";
      const row = { server: key, batch, streams: held.streams, rss: per("rss"), code: per("file"), heap: per("heap"), wasm: per("wasm") };
      row.runtime = row.rss - row.code - row.heap - row.wasm;
      rows.push(row);
      console.log(
        `  ${key}, ${batch}: ${row.streams} held, ${row.rss.toFixed(1)} KiB each (mapped from files ${row.code.toFixed(1)}, ` +
          `JS heap ${row.heap.toFixed(1)}, wasm ${row.wasm.toFixed(1)}, the runtime's ${row.runtime.toFixed(1)})${failed}`,
      );
    }
  } finally {
    inspector.close();
    await server.stop();
  }
}

const f = (x) => x.toFixed(1);
// Each batch's resident size per stream against the floors' same batch.
const against = (r, floor) => {
  const base = rows.find((b) => b.server === floor && b.batch === r.batch);
  return base ? `${(r.rss / base.rss).toFixed(2)}x` : "";
};
console.log(
  [
    "",
    `| server | batch | streams | KiB per idle stream (resident) | x floor | x floor-native | mapped from files (workerd's code paged in) | JS heap after a collection | wasm memory | the runtime's allocations (the rest) |${Object.keys(vars).length ? ` (vars: ${values.vars})` : ""}`,
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.server} | ${r.batch} | ${r.streams} | ${f(r.rss)} | ${against(r, "floor")} | ${against(r, "floor-native")} | ` +
        `${f(r.code)} | ${f(r.heap)} | ${f(r.wasm)} | ${f(r.runtime)} |`,
    ),
    "",
    `| server | streams held | CPU while they are idle (ms per second, over ${IDLE_SECONDS} s) | per stream (us per second) |`,
    "| --- | --- | --- | --- |",
    ...idleRows.map((r) => `| ${r.server} | ${r.streams} | ${r.msPerSecond.toFixed(0)} | ${r.usPerStream.toFixed(1)} |`),
  ].join("\n"),
);
