// `npm run soak`: many connections on one org for a long time, with heartbeats and a steady
// publish rate, in workerd directly (the release build, as deployed). Samples workerd's memory every
// 10 s, counts connections that dropped (none should: the connection age limit is an hour), and
// checks at the end that every connection has every event, once, in order. Prints the samples, a
// small chart of memory over time and a verdict; exits 1 when an event is missing or a connection
// dropped, or (on runs of two minutes or more) memory grew more than 20 % from the first minute to
// the end.
//
//   npm run soak                                  5000 connections, 10 minutes, 1 event/s
//   npm run soak -- --connections 200 --minutes 0.5   (the smoke run npm test does)

import { startDirect } from "../tests/support/worker.mjs";
import { token, publish, subscriberTokens, taskProgress, sleep } from "../tests/support/client.mjs";
import { ledger, rawSubscriber } from "../tests/support/resuming.mjs";
import { processTree, rssKiB } from "./servers.mjs";
import { numberFlag, parseFlags } from "../scripts/lib/cli.mjs";

const { values, fail } = parseFlags({
  name: "npm run soak",
  usage: "usage: npm run soak -- [--connections 5000] [--minutes 10] [--rate 1] [--sample-seconds 10] [--heartbeat-ms 15000]",
  options: {
    connections: { type: "string", default: "5000" },
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "1" },
    "sample-seconds": { type: "string", default: "10" },
    "heartbeat-ms": { type: "string", default: "15000" },
  },
});
const CONNECTIONS = numberFlag(fail, "connections", values.connections, { min: 1 });
const MINUTES = numberFlag(fail, "minutes", values.minutes, { min: 0.1, integer: false });
const RATE = numberFlag(fail, "rate", values.rate, { min: 0.1, integer: false });
const SAMPLE_S = numberFlag(fail, "sample-seconds", values["sample-seconds"], { min: 1 });
const HEARTBEAT_MS = numberFlag(fail, "heartbeat-ms", values["heartbeat-ms"], { min: 100 });

const log = (line) => console.log(line);
const server = await startDirect({ build: "release", vars: { HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) } });
const workerdKiB = () => rssKiB(processTree(process.pid, "workerd"));
const tok = await token("soak");
const subscribers = await subscriberTokens("soak", CONNECTIONS); // each connection its own user
await publish(server.url, await token("soak-warmup"), taskProgress("warm-up")); // the runtime is loaded
const baseKiB = workerdKiB();

log(`soak: ${CONNECTIONS} connections on one org for ${MINUTES} min, ${RATE} event/s, heartbeat every ${HEARTBEAT_MS} ms, workerd direct (release build)`);
const started = Date.now();
const ledgers = Array.from({ length: CONNECTIONS }, (_, i) => ledger(`connection-${i}`));
const clients = [];
for (let i = 0; i < CONNECTIONS; i += 100) {
  for (const [j, l] of ledgers.slice(i, i + 100).entries()) clients.push(rawSubscriber(server.url, subscribers[i + j], l, { awayMs: () => 1000 }));
  while (ledgers.slice(0, i + 100).some((l) => l.opens === 0)) await sleep(20);
}
log(`soak: ${CONNECTIONS} connections open in ${((Date.now() - started) / 1000).toFixed(1)} s`);

const samples = [];
const sample = () => {
  const lasts = ledgers.map((l) => l.last);
  samples.push({
    s: Math.round((Date.now() - t0) / 1000),
    kib: workerdKiB(),
    published,
    behind: Math.max(0, published - Math.min(...lasts)),
    drops: ledgers.reduce((n, l) => n + l.connects - 1, 0),
  });
  const x = samples.at(-1);
  log(`  ${String(x.s).padStart(5)} s  workerd ${(x.kib / 1024).toFixed(1).padStart(7)} MiB  published ${String(x.published).padStart(6)}  slowest behind by ${x.behind}  drops ${x.drops}`);
};
let published = 0;
const t0 = Date.now();
sample();
const sampler = setInterval(sample, SAMPLE_S * 1000);
const refused = [];
let attempts = 0;
while (Date.now() - t0 < MINUTES * 60_000) {
  const r = await publish(server.url, tok, taskProgress(`soak-${published}`));
  attempts += 1;
  if (r.status === 202) published += 1;
  else refused.push(r.status);
  const due = t0 + (attempts / RATE) * 1000;
  if (due > Date.now()) await sleep(due - Date.now());
}
clearInterval(sampler);
const deadline = Date.now() + 60_000;
while (ledgers.some((l) => l.last < published) && Date.now() < deadline) await sleep(200);
sample();
for (const c of clients) c.close();
await server.stop();

// Verdict.
const missing = ledgers.filter((l) => l.ids.length !== published || l.problems.length).map((l) => `${l.name}: ${l.ids.length}/${published} ${l.problems.slice(0, 3).join("; ")}`);
const drops = samples.at(-1).drops;
const warm = samples.find((x) => x.s >= 60) ?? samples[1] ?? samples[0];
const end = samples.at(-1);
const growth = (end.kib - warm.kib) / warm.kib;
const max = Math.max(...samples.map((x) => x.kib));
const min = Math.min(...samples.map((x) => x.kib));

log("\nworkerd memory over time (MiB):");
const rows = 8;
const step = Math.max(1, Math.ceil(samples.length / 60));
const shown = samples.filter((_, i) => i % step === 0);
for (let r = rows; r >= 1; r--) {
  const level = min + ((max - min) * r) / rows;
  const label = (level / 1024).toFixed(0).padStart(6);
  log(`${label} |${shown.map((x) => (x.kib >= level - (max - min) / rows / 2 ? "#" : " ")).join("")}`);
}
log(`       +${"-".repeat(shown.length)}  ${shown.at(-1).s} s`);

log(
  `\nsoak: ${CONNECTIONS} connections, ${published} events in ${((end.s) / 60).toFixed(1)} min, ${refused.length} publishes refused, ` +
    `${drops} connections dropped, ${missing.length} connections missing events; ` +
    `workerd ${(warm.kib / 1024).toFixed(1)} MiB at ${warm.s} s -> ${(end.kib / 1024).toFixed(1)} MiB at ${end.s} s (${(growth * 100).toFixed(1)} %), ` +
    `${((warm.kib - baseKiB) / CONNECTIONS).toFixed(0)} KiB per connection (over ${(baseKiB / 1024).toFixed(1)} MiB before any); ${((Date.now() - started) / 1000).toFixed(0)} s in all`,
);
const failures = [];
if (missing.length) failures.push(`connections missing events: ${missing.slice(0, 5).join(" | ")}`);
if (drops) failures.push(`${drops} connections dropped`);
if (refused.length) failures.push(`publishes refused: ${[...new Set(refused)].join(", ")}`);
// Memory is judged on runs of two minutes or more: a shorter one is mostly warm-up and GC noise.
if (end.s >= 120 && growth > 0.2) failures.push(`memory grew ${(growth * 100).toFixed(1)} % after the first minute`);
if (failures.length) {
  console.error(`soak: FAILED: ${failures.join("; ")}`);
  process.exit(1);
}
log("soak: passed (every connection has every event once in order, none dropped, memory flat)");
process.exit(0);
