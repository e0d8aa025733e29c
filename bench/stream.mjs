// `npm run bench:stream` - how fast an event gets from a publisher to subscribers, and how many
// subscribers one org holds, on this machine. Prints figures; asserts nothing.
//
// Each figure comes with a baseline measured in the same run against the same runtime: the
// round trip of GET /healthz (no auth, no Durable Object). Two runtimes are measured:
//   - "wrangler dev": the path users run locally (wrangler's proxy in front of workerd);
//   - "workerd direct": the same build in workerd through Miniflare, without wrangler's proxy.
//
//   npm run bench:stream                both runtimes, default sizes
//   npm run bench:stream -- --fanout 100,500,1000 --events 300
//   npm run bench:stream -- --before OTHER/worker/build/index.js
//                                       also another build (e.g. an older commit's), first, in
//                                       the same run, for a before/after comparison
//   npm run bench:stream -- --runtime direct --idle 1000
//                                       workerd's memory per idle stream (1000 streams of one org),
//                                       with the hub awake and after it was evicted

import { parseFlags, numberFlag } from "../scripts/lib/cli.mjs";
import { join } from "node:path";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { startDirect, startWorker, root, testConfig } from "../tests/support/worker.mjs";
import { processTree, rssKiB } from "./servers.mjs";
import { token, publish, openStream, sleep, subscriberTokens } from "../tests/support/client.mjs";

const { values, fail } = parseFlags({
  name: "npm run bench:stream",
  usage: `usage: npm run bench:stream -- [--events 200] [--fanout 10,100,500,1000] [--runtime both|wrangler|direct] [--before PATH/index.js] [--idle N]`,
  options: {
    events: { type: "string", default: "200" },
    fanout: { type: "string", default: "10,100,500,1000" },
    runtime: { type: "string", default: "both" },
    before: { type: "string" },
    idle: { type: "string" },
  },
});
const EVENTS = numberFlag(fail, "events", values.events, { min: 1 });
const FANOUT = values.fanout.split(",").map((n) => numberFlag(fail, "fanout", n, { min: 1 }));
if (!["both", "wrangler", "direct"].includes(values.runtime)) fail(`--runtime must be both, wrangler or direct, got ${JSON.stringify(values.runtime)}`);
if (values.idle !== undefined) numberFlag(fail, "idle", values.idle, { min: 1 });
if (values.before !== undefined && !existsSync(values.before)) fail(`--before: no such file ${values.before} (a worker build's index.js)`);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => `${x.toFixed(2)} ms`;

async function healthzBaseline(url, n = 200) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await (await fetch(`${url}/healthz`)).text();
    times.push(performance.now() - t0);
  }
  return pct(times, 50);
}

/** Publish one event at a time; time from the start of the POST to the frame on the stream. */
async function latency(url) {
  const t = await token("bench-latency");
  const s = await openStream(url, t);
  await s.until((x) => x.retry !== null);
  const times = [];
  for (let i = 0; i < EVENTS; i++) {
    const t0 = performance.now();
    const r = publish(url, t, { type: "task.progress", data: { taskId: `t${i}`, progress: 0.5 } });
    await s.until((x) => x.data.length === i + 1, 5000, `event ${i + 1}`);
    times.push(performance.now() - t0);
    await r;
  }
  s.close();
  return { p50: pct(times, 50), p95: pct(times, 95), max: Math.max(...times) };
}

/** K subscribers on one org; time until all K have the event, over a few publishes. */
async function fanout(url, k) {
  const org = `bench-fanout-${k}`;
  const t = await token(org);
  const users = await subscriberTokens(org, k); // each subscriber its own user
  const streams = [];
  try {
    for (let i = 0; i < k; i += 50) {
      streams.push(...(await Promise.all(users.slice(i, i + 50).map((u) => openStream(url, u)))));
    }
    if (streams.some((s) => s.status !== 200)) return { k, error: "a subscriber was refused" };
    await Promise.all(streams.map((s) => s.until((x) => x.retry !== null, 10_000)));
    const times = [];
    for (let round = 1; round <= 10; round++) {
      const t0 = performance.now();
      await publish(url, t, { type: "task.progress", data: { taskId: `r${round}`, progress: 0.5 } });
      await Promise.all(streams.map((s) => s.until((x) => x.data.length >= round, 30_000, `round ${round}`)));
      times.push(performance.now() - t0);
    }
    const lost = streams.filter((s) => s.data.length !== 10).length;
    return { k, p50: pct(times, 50), max: Math.max(...times), lost };
  } catch (e) {
    return { k, error: e.message.slice(0, 120) };
  } finally {
    for (const s of streams) s.close();
    await sleep(200);
  }
}

async function measure(name, url) {
  const base = await healthzBaseline(url);
  console.log(`\n${name}: baseline GET /healthz round trip p50 ${ms(base)}`);
  const l = await latency(url);
  console.log(
    `  publish -> receive, 1 subscriber, ${EVENTS} events: p50 ${ms(l.p50)} (${(l.p50 / base).toFixed(1)}x baseline), ` +
      `p95 ${ms(l.p95)}, max ${ms(l.max)}`,
  );
  for (const k of FANOUT) {
    const f = await fanout(url, k);
    if (f.error) {
      console.log(`  ${k} subscribers on one org: failed: ${f.error}`);
      break;
    }
    console.log(
      `  publish -> all of ${k} subscribers: p50 ${ms(f.p50)} (${(f.p50 / base).toFixed(1)}x baseline), max ${ms(f.max)}, ` +
        `subscribers missing an event: ${f.lost}`,
    );
  }
}

console.log(`orgstream stream bench (node ${process.version}; figures from this machine, this run)`);
if (values.runtime !== "direct") {
  if (values.before) {
    // The same wrangler.toml, its entry pointing at the other build.
    const config = testConfig(mkdtempSync(join(tmpdir(), "orgstream-bench-config-")), { build: "release" });
    writeFileSync(config, readFileSync(config, "utf8").replace(/^main = .*$/m, `main = ${JSON.stringify(values.before)}`));
    const server = await startWorker({ config });
    try {
      await (values.idle ? idleMemory : measure)("wrangler dev, --before build", server.url);
    } finally {
      await server.stop();
    }
  }
  const server = await startWorker({ build: "release" });
  try {
    await (values.idle ? idleMemory : measure)("wrangler dev", server.url);
  } finally {
    await server.stop();
  }
}
/** The build at `scriptPath` in workerd directly (no wrangler proxy). */
async function direct(name, scriptPath, run) {
  const server = await startDirect({ scriptPath });
  try {
    await run(name, server.url);
  } finally {
    await server.stop();
  }
}

/** Resident memory (KiB) of the workerd processes this process started. */
const workerdRssKiB = () => rssKiB(processTree(process.pid, "workerd"));

/** Memory per idle stream: N streams of one org, the hub awake, then after it could sleep. */
async function idleMemory(name, url) {
  const n = Number(values.idle);
  const t = await token("bench-idle");
  const users = await subscriberTokens("bench-idle", n); // each stream its own user
  const first = await openStream(url, t); // the hub and the front worker are loaded
  await first.until((x) => x.retry !== null);
  await sleep(1000);
  const before = workerdRssKiB();
  const streams = [];
  for (let i = 0; i < n; i += 50) {
    streams.push(...(await Promise.all(users.slice(i, i + 50).map((u) => openStream(url, u)))));
  }
  await Promise.all(streams.map((s) => s.until((x) => x.retry !== null, 30_000)));
  await sleep(2000);
  const open = workerdRssKiB();
  await sleep(15_000); // long enough for local workerd to evict a hub that holds only hibernatable sockets
  const idle = workerdRssKiB();
  const per = (kib) => `${(((kib - before) * 1024) / n / 1024).toFixed(1)} KiB`;
  console.log(`\n${name}: workerd memory with ${n} idle streams of one org (RSS of the workerd processes)`);
  console.log(`  before: ${(before / 1024).toFixed(1)} MiB; ${n} streams open: ${(open / 1024).toFixed(1)} MiB (${per(open)} per stream)`);
  console.log(`  after 15 s idle: ${(idle / 1024).toFixed(1)} MiB (${per(idle)} per stream)`);
  for (const s of [first, ...streams]) s.close();
  await sleep(500);
}

if (values.runtime !== "wrangler") {
  const build = join(root, "worker", "build", "index.js");
  if (values.idle) {
    if (values.before) await direct("workerd direct, --before build", values.before, idleMemory);
    await direct("workerd direct (Miniflare)", build, idleMemory);
  } else {
    if (values.before) await direct("workerd direct, --before build", values.before, measure);
    await direct("workerd direct (Miniflare)", build, measure);
  }
}
