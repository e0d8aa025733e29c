// `npm run bench`: every server (bench/servers.mjs) through every scenario with one load generator
// (bench/loadgen, Rust), figures as a table with ratios to Nchan and to the native ceiling, JSON
// and SVG charts in docs/bench/. Asserts nothing about speed.
//
//   npm run bench                          everything (about an hour here: 60 minutes on 2026-12-04)
//   npm run bench -- --quick               a short run that keeps the harness working (CI);
//                                          writes to a temp dir, not docs/bench
//   npm run bench -- --servers workerd,nchan --scenarios fanout
//
// Scenarios: small (10 subscribers, one event per request: the cost per publish, once warm, and
// apart that of the server's first 300), fanout (one
// event per request, one publisher), alone (5 events/s: each finds the hub
// idle), publishers (the same as fanout with 8 publishers at once), rate (a fixed rate, open loop:
// sent when due, answered or not), batch (batches of 100),
// catchup (one subscriber 1000 / 10,000 events behind), connections (idle streams, memory).

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDebianPackages, root, run, step } from "../scripts/lib/toolchain.mjs";
import { SERVERS, cpuSeconds, rssKiB } from "./servers.mjs";
import { CONNECTING, buildLoadgen, holdTwoBatches, loadgen as runLoadgen, settle, targetArgs as target } from "./drive.mjs";
import { writeReport } from "./report.mjs";
import { parseFlags, listFlag, numberFlag } from "../scripts/lib/cli.mjs";

const USAGE = `usage: npm run bench -- [--quick] [--servers workerd,workerd-single,hub,floor,floor-native,wrangler,nchan,native] [--scenarios small,fanout,alone,publishers,rate,batch,catchup,connections] [--subscribers N,...] [--rate R] [--worker-build PATH] [--relays K] [--out DIR]
Runs every scenario on every server and writes docs/bench/ (a --quick run, or one limited by
--subscribers, --rate, --worker-build or --relays, writes to a temporary directory unless --out
names one).
--worker-build runs the workerd server on another build (worker/build/index.js of another commit's
checkout, built with node scripts/build-worker.mjs there), and the hub server on the dev build
beside it (worker/build-dev, node scripts/build-worker.mjs --dev): the same run, before and after.
--relays K puts the workerd (and hub) server's streams on K relay objects per org (RELAYS_PER_ORG).`;
const { values, fail } = parseFlags({
  name: "npm run bench",
  usage: USAGE,
  options: {
    quick: { type: "boolean", default: false },
    servers: { type: "string", default: "workerd,workerd-single,hub,floor,floor-native,wrangler,nchan,native" },
    scenarios: { type: "string", default: "small,fanout,alone,publishers,rate,batch,catchup,connections" },
    out: { type: "string" },
    subscribers: { type: "string" },
    "worker-build": { type: "string" },
    relays: { type: "string" },
    rate: { type: "string" },
  },
});
const servers = listFlag(fail, "servers", values.servers, Object.keys(SERVERS));
const scenarios = listFlag(fail, "scenarios", values.scenarios, ["small", "fanout", "alone", "publishers", "rate", "batch", "catchup", "connections"]);
/** Publishers at once in the `publishers` scenario. */
const PUBLISHERS = 8;

const quick = values.quick;
/** The `small` scenario: publishes measured first, on their own (the isolate warming up). */
const SMALL_FIRST = 300;
/** The `alone` scenario: events far enough apart that the hub is idle when each arrives. */
const ALONE = { rate: 5, events: quick ? 10 : 50 };
const SIZES = quick
  ? { fanout: [20, 100], events: 50, rate: 100, catchup: [200], connections: [200] }
  : { fanout: [100, 1000, 5000], events: 1000, rate: 1000, catchup: [1000, 10000], connections: [1000, 5000] };
// At most a million frames a run: 1000 events to 100 and 1000 subscribers, 200 to 5000.
const eventsFor = (n) => String(Math.max(10, Math.min(SIZES.events, Math.floor(1_000_000 / n))));
const positive = (flag, text) => numberFlag(fail, flag, text, { min: 1 });
if (values.subscribers !== undefined) SIZES.fanout = values.subscribers.split(",").map((n) => positive("subscribers", n));
if (values.rate !== undefined) SIZES.rate = positive("rate", values.rate);
const partial =
  quick || values.subscribers !== undefined || values.rate !== undefined || values["worker-build"] !== undefined || values.relays !== undefined;
const out = values.out ?? (partial ? mkdtempSync(join(tmpdir(), "orgstream-bench-partial-")) : join(root, "docs", "bench"));

const bin = buildLoadgen();
const loadgen = (args, onReady) => runLoadgen(bin, args, onReady);
if (servers.includes("nchan")) {
  ensureDebianPackages(["/usr/sbin/nginx", "/usr/lib/nginx/modules/ngx_nchan_module.so"], ["nginx-light", "libnginx-mod-nchan"], "for the side-by-side benchmark");
}
if (servers.includes("hub")) run("node", [join(root, "scripts", "build-worker.mjs"), "--dev"]);
if (servers.some((s) => ["workerd", "workerd-single", "wrangler"].includes(s))) run("node", [join(root, "scripts", "build-worker.mjs")]);
// wrangler dev serves the dashboard's assets (public/) too, and refuses to start without them.
if (servers.includes("wrangler")) {
  for (const script of ["build-schema.mjs", "build-client.mjs", "build-dashboard.mjs"]) run("node", [join(root, "scripts", script)]);
}

let runId = 0;
/** One load generator run against `server`, with the server's CPU over the run. */
async function measure(server, extra, { catchUp = false, before, retried } = {}) {
  const org = `bench-${process.pid}-${++runId}`;
  // Each subscriber its own user, as in a deployment (every scenario's `extra` says how many).
  const t = await server.target(org, { subscribers: Number(extra[extra.indexOf("--subscribers") + 1]) });
  if (before) {
    // The publishing before a catch-up; a runtime still busy with the last scenario may refuse it
    // (wrangler's proxy answered 503 once): wait, and try again once, on a fresh org.
    const setup = await loadgen(target(server, t, before));
    if (setup.failures.length && !retried) {
      await new Promise((r) => setTimeout(r, 3000));
      return measure(server, extra, { catchUp, before, retried: setup.failures });
    }
    if (setup.failures.length) retried = [...retried, ...setup.failures.map((f) => `${f} (again)`)];
  }
  const args = catchUp
    ? target(server, { ...t, subscribe: t.catchUp.subscribe, subscribeEach: null, subscribeHeaders: t.catchUp.headers }, extra)
    : target(server, t, extra);
  await settle(server);
  const cpu0 = cpuSeconds(server.pids());
  // The server's CPU from the moment every subscriber is connected (the load generator holds its
  // connections until its stdin ends, then publishes), so that connecting N subscribers is not
  // counted as the cost of delivering to them; connecting is reported apart. A catch-up is its
  // connect (the replay), so it is counted whole.
  let cpuConnected = cpu0;
  const report = catchUp
    ? await loadgen(args)
    : await loadgen([...args, "--hold-stdin"], async () => {
        cpuConnected = cpuSeconds(server.pids());
      });
  report.server_cpu_seconds = cpuSeconds(server.pids()) - cpuConnected;
  if (!catchUp) report.server_connect_cpu_seconds = cpuConnected - cpu0;
  // Shown in the row: a setup that failed and was retried.
  if (retried?.length) report.failures = [...retried.map((f) => `setup (retried): ${f}`), ...report.failures];
  report.command = `loadgen ${args.map((a) => (/[\s?&;]/.test(a) ? `'${a}'` : a)).join(" ")}`.replace(/token=[^&' ]+/g, "token=$TOKEN").replace(/Bearer [^' ]+/g, "Bearer $TOKEN");
  return report;
}

const rows = [];
function record(server, scenario, params, report) {
  rows.push({ server: server.key, serverName: server.name, scenario, params, ...report });
  const lat = report.latency_ms;
  console.log(
    `  ${scenario} ${JSON.stringify(params)}: ${Math.round(report.frames_per_second)} frames/s, ` +
      `latency p50 ${lat.p50.toFixed(1)} / p99 ${lat.p99.toFixed(1)} / max ${lat.max.toFixed(1)} ms, ` +
      `delivered ${report.delivered_frames}/${report.expected_frames}, server CPU ${report.server_cpu_seconds.toFixed(2)} s, ` +
      `loadgen CPU ${report.loadgen_cpu_seconds.toFixed(2)} s` +
      (report.server_connect_cpu_seconds === undefined ? "" : `, server CPU connecting ${report.server_connect_cpu_seconds.toFixed(2)} s`) +
      (report.failures.length ? `, failures: ${report.failures.join("; ")}` : ""),
  );
}

const start = async (key) => Object.assign(await SERVERS[key](bin, { workerBuild: values["worker-build"], relays: values.relays }), { key });
for (const key of servers) {
  step(`server: ${key}`);
  let server = await start(key);
  try {
    // Memory first, on a fresh server: after the load scenarios the runtime's heap is larger than
    // what idle connections need, and the difference would be measured instead.
    if (scenarios.includes("connections")) {
      for (const n of SIZES.connections) {
        const org = `bench-idle-${process.pid}-${++runId}`;
        // Each stream its own user, the next batch's too.
        const first = await server.target(org, { subscribers: n });
        const second = await server.target(org, { subscribers: n, from: n });
        await new Promise((r) => setTimeout(r, 1000));
        const base = rssKiB(server.pids());
        // N streams, then N more: the first batch also pays what a process pays once (code paged
        // in, the allocator's caches filled), the second is what one more stream costs.
        const [held, next] = await holdTwoBatches(bin, server, [first, second], n, async () => rssKiB(server.pids()));
        const report = held.report;
        report.server_cpu_seconds = 0;
        report.connected = held.streams;
        report.rss_per_connection_kib = (held.sample - base) / held.streams;
        report.next_connected = next.streams;
        report.rss_per_next_connection_kib = (next.sample - held.sample) / next.streams;
        report.failures = [...report.failures, ...next.report.failures.map((f) => `the next ${n}: ${f}`)];
        report.command =
          `loadgen --subscribers ${n} --subscribe-each <a token of its own for each> --events 0 --hold-stdin --connect-concurrency ${CONNECTING}, ` +
          `then the same for ${n} more while those are held (against ${key}; RSS sampled 2.5 s after each batch connected)`;
        rows.push({ server: key, serverName: server.name, scenario: "connections", params: { subscribers: n }, ...report });
        console.log(
          `  connections {"subscribers":${n}}: ${report.connected} held, ${report.rss_per_connection_kib.toFixed(1)} KiB per connection; ` +
            `${report.next_connected} more, ${report.rss_per_next_connection_kib.toFixed(1)} KiB each`,
        );
      }
      // The rest on a fresh server too: up to 10,000 idle streams leave a process unlike a fresh
      // one (2026-12-04: orgstream's code compiled, so its first publishes cheaper; the floors'
      // publishes dearer), and `small` measures a fresh isolate's first publishes.
      if (scenarios.some((s) => s !== "connections")) {
        await server.stop();
        server = await start(key);
      }
    }
    if (scenarios.includes("small")) {
      // Few subscribers, one event per request: the server's cost per publish, once warm. A fresh
      // isolate compiles what gets hot as it runs (V8 tiers JavaScript and wasm up), once per
      // isolate: the server's first publishes are measured on their own (another org, before the
      // others) and shown beside the steady figure. (Only the connections scenario runs before
      // this one, on a server of its own.)
      const events = quick ? "50" : "1000";
      const warmup = quick ? "20" : String(SMALL_FIRST);
      const first = await measure(server, ["--subscribers", "10", "--events", warmup]);
      const report = await measure(server, ["--subscribers", "10", "--events", events]);
      report.first_publishes = { events: Number(warmup), server_cpu_seconds: first.server_cpu_seconds };
      const lost = first.delivered_frames === first.expected_frames ? [] : [`delivered ${first.delivered_frames}/${first.expected_frames}`];
      report.failures = [...[...first.failures, ...lost].map((f) => `first publishes: ${f}`), ...report.failures];
      record(server, "small", { subscribers: 10, events: Number(events) }, report);
    }
    for (const n of SIZES.fanout) {
      const events = eventsFor(n);
      if (scenarios.includes("fanout"))
        record(server, "fanout", { subscribers: n, events: Number(events) }, await measure(server, ["--subscribers", String(n), "--events", events]));
      if (scenarios.includes("alone"))
        record(server, "alone", { subscribers: n, events: ALONE.events, rate: ALONE.rate }, await measure(server, ["--subscribers", String(n), "--events", String(ALONE.events), "--rate", String(ALONE.rate)]));
      if (scenarios.includes("publishers"))
        record(server, "publishers", { subscribers: n, events: Number(events), publishers: PUBLISHERS }, await measure(server, ["--subscribers", String(n), "--events", events, "--publishers", String(PUBLISHERS)]));
      if (scenarios.includes("rate"))
        record(server, "rate", { subscribers: n, events: Number(events), rate: SIZES.rate }, await measure(server, ["--subscribers", String(n), "--events", events, "--rate", String(SIZES.rate)]));
      if (scenarios.includes("batch"))
        record(server, "batch", { subscribers: n, events: Number(events), batch: 100 }, await measure(server, ["--subscribers", String(n), "--events", events, "--batch", "100"]));
    }
    if (scenarios.includes("catchup")) {
      for (const k of SIZES.catchup) {
        const probe = await server.target("probe");
        if (!probe.catchUp) continue;
        const publish = ["--subscribers", "0", "--events", String(k), "--batch", "100"];
        const report = await measure(server, ["--subscribers", "1", "--events", "0", "--expect", String(k)], { catchUp: true, before: publish });
        report.time_to_last_ms = report.duration_seconds * 1000;
        record(server, "catchup", { behind: k }, report);
      }
    }
  } finally {
    await server.stop();
  }
}

mkdirSync(out, { recursive: true });
const results = {
  machine: { cores: (await import("node:os")).cpus().length, node: process.version, date: new Date().toISOString(), quick },
  rows,
};
writeFileSync(join(out, "results.json"), JSON.stringify(results, null, 1));
const table = writeReport(out, results);
console.log(`\n${table}\nresults: ${join(out, "results.json")}`);
