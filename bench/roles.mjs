// `npm run bench:roles`: what each role costs per event, the hub's share above all, at K relays per
// org (RELAYS_PER_ORG). One event per request through the front workers, as `npm run bench`'s
// fanout scenario; the V8 CPU profiler samples workerd's isolate meanwhile and splits its time by
// role (bench/profile.mjs). Asserts nothing about speed. Each run's profile is kept (.cpuprofile,
// for Chrome DevTools).
//
//   npm run bench:roles                                   K = 1, 2, 4, 8 x 100, 1000, 3000 subscribers
//   npm run bench:roles -- --relays 1,4 --subscribers 1000
//   npm run bench:roles -- --quick                        a short run that keeps it working (CI)
//
// K = 1 is the default path: the hub holds every stream's socket itself. The hub's time per event
// should grow with subscribers at K = 1 and stay flat (O(K) hand-offs) with relays.

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, root } from "../scripts/lib/toolchain.mjs";
import { numberFlag, parseFlags } from "../scripts/lib/cli.mjs";
import { freePort } from "../tests/support/worker.mjs";
import { buildLoadgen, loadgen, settle, targetArgs } from "./drive.mjs";
import { SERVERS, cpuSeconds } from "./servers.mjs";
import { inspect, timeByRole, withWebSocket } from "./profile.mjs";

withWebSocket();

const USAGE = `usage: npm run bench:roles -- [--quick] [--relays 1,2,4,8] [--subscribers 100,1000,3000] [--events 300] [--interval 250] [--worker-build PATH] [--out DIR]
Publishes one event per request to N subscribers through the front workers at K relays per org and
prints each role's CPU per event (hub, relays, front workers), from V8's profiler sampling every
--interval microseconds. --events is the most per run (fewer at large N: 300,000 frames a run at most).
--worker-build runs another commit's release build (its worker/build/index.js).`;
const { values, fail } = parseFlags({
  name: "npm run bench:roles",
  usage: USAGE,
  options: {
    quick: { type: "boolean", default: false },
    relays: { type: "string" },
    subscribers: { type: "string" },
    events: { type: "string" },
    interval: { type: "string", default: "250" },
    "worker-build": { type: "string" },
    out: { type: "string" },
  },
});
const numbers = (flag, text) => text.split(",").map((t) => numberFlag(fail, flag, t, { min: 1 }));
const quick = values.quick;
const relays = numbers("relays", values.relays ?? (quick ? "1,2" : "1,2,4,8"));
const subscribers = numbers("subscribers", values.subscribers ?? (quick ? "20" : "100,1000,3000"));
const mostEvents = numberFlag(fail, "events", values.events ?? (quick ? "20" : "300"), { min: 1 });
const interval = numberFlag(fail, "interval", values.interval, { min: 50 });
const eventsFor = (n) => Math.max(10, Math.min(mostEvents, Math.floor(300_000 / n)));
const out = values.out ?? mkdtempSync(join(tmpdir(), "orgstream-bench-roles-"));
mkdirSync(out, { recursive: true });

const bin = buildLoadgen();
if (!values["worker-build"]) run("node", [join(root, "scripts", "build-worker.mjs")]);

const rows = [];
for (const k of relays) {
  const inspectorPort = await freePort();
  const server = await SERVERS.workerd(bin, { workerBuild: values["worker-build"], relays: k, inspectorPort });
  const profiler = await inspect(inspectorPort);
  try {
    for (const n of subscribers) {
      const events = eventsFor(n);
      const org = `roles-${process.pid}-${k}-${n}`;
      const t = await server.target(org, { subscribers: n });
      // Sampled from when every subscriber holds its stream (READY, then a second's pause) to the
      // last delivery: the connects are not counted per event.
      const args = targetArgs(server, t, ["--subscribers", String(n), "--events", String(events), "--hold", "1"]);
      await settle(server);
      let cpu0;
      let started;
      const report = await loadgen(bin, args, () => {
        cpu0 = cpuSeconds(server.pids());
        started = profiler.start(interval);
      });
      const cpu = cpuSeconds(server.pids()) - cpu0;
      await started;
      const profile = await profiler.stop();
      // For a closer look: Chrome DevTools' Performance panel opens it.
      writeFileSync(join(out, `K${k}-N${n}.cpuprofile`), JSON.stringify(profile));
      const time = timeByRole(profile);
      const perEvent = (us) => us / 1000 / events; // ms per event
      const row = {
        relays: k,
        subscribers: n,
        events,
        delivered: `${report.delivered_frames}/${report.expected_frames}`,
        frames_per_second: Math.round(report.frames_per_second),
        p99_ms: Number(report.latency_ms.p99.toFixed(1)),
        process_cpu_ms_per_event: (cpu * 1000) / events,
        ms_per_event: Object.fromEntries(Object.entries(time).filter(([r]) => r !== "idle").map(([r, us]) => [r, perEvent(us)])),
        failures: report.failures,
      };
      rows.push(row);
      const m = row.ms_per_event;
      console.log(
        `  K=${k} N=${n}: hub ${m.hub.toFixed(3)} ms/event, relays ${m.relay.toFixed(3)}, front ${m.front.toFixed(3)}, ` +
          `shared ${m.shared.toFixed(3)}, runtime ${m.runtime.toFixed(3)}, gc ${m.gc.toFixed(3)}; ` +
          `process ${row.process_cpu_ms_per_event.toFixed(2)} ms/event; ${row.frames_per_second} frames/s, p99 ${row.p99_ms} ms, ` +
          `delivered ${row.delivered}` + (report.failures.length ? `, failures: ${report.failures.join("; ")}` : ""),
      );
    }
  } finally {
    profiler.close();
    await server.stop();
  }
}

const f = (x) => x.toFixed(3);
const table = [
  "| K | subscribers | events | hub ms/event | relays | front | shared | runtime (C++) | gc | workerd CPU ms/event | frames/s | p99 ms | delivered |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ...rows.map((r) => {
    const m = r.ms_per_event;
    return `| ${r.relays} | ${r.subscribers} | ${r.events} | ${f(m.hub)} | ${f(m.relay)} | ${f(m.front)} | ${f(m.shared)} | ${f(m.runtime)} | ${f(m.gc)} | ${r.process_cpu_ms_per_event.toFixed(2)} | ${r.frames_per_second} | ${r.p99_ms} | ${r.delivered} |`;
  }),
].join("\n");
writeFileSync(join(out, "roles.json"), JSON.stringify({ date: new Date().toISOString(), interval_us: interval, rows }, null, 1));
console.log(`\n${table}\n\nms/event: sampled time per published event (V8 profiler, every ${interval} us); results: ${join(out, "roles.json")}, profiles: ${join(out, "K*-N*.cpuprofile")}`);
