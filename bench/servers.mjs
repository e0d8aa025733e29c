// The servers `npm run bench` compares, each started and stopped by the runner, each described by
// how the load generator reaches it and which processes are its own (for CPU and memory).
//
//   workerd  orgstream's worker in workerd directly (Miniflare, no wrangler proxy)
//   workerd-single  the same with COALESCE_MAX_FRAMES=1: every event in its own message
//   hub      the hub alone: subscribers hold the hub's stream sockets where front workers stand
//   floor    orgstream's design in plain JavaScript (bench/floor/worker.js): the runtime's floor
//   floor-native  the same holding each stream as orgstream does (native pipe, 500 ms probe)
//   wrangler orgstream under wrangler dev (what a developer sees locally)
//   nchan    nginx + Nchan from Debian's packages, one worker, EventSource subscribers
//   native   bench/loadgen's sse-native: a minimal one-thread Rust broadcaster, the machine's ceiling

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { freePort, startDirect, startWorker, root } from "../tests/support/worker.mjs";
import { subscriberTokens, token } from "../tests/support/client.mjs";

async function waitHealthy(url, what) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer /healthz within 30 s`);
}

/** Every process under `pid` (itself included) whose command starts with `comm` (any when null). */
export function processTree(pid, comm = null) {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid=,comm="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .map(([p, pp, c]) => ({ pid: Number(p), ppid: Number(pp), comm: c }));
  const mine = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of rows) if (mine.has(r.ppid) && !mine.has(r.pid)) (mine.add(r.pid), (grew = true));
  }
  return rows.filter((r) => mine.has(r.pid) && (comm === null || r.comm.startsWith(comm))).map((r) => r.pid);
}

/** Where the subscribers' paths are written (one directory per process, removed as it exits). */
let subjectsDir;
function subjectsFile(name) {
  if (!subjectsDir) {
    subjectsDir = mkdtempSync(join(tmpdir(), "orgstream-subjects-"));
    process.on("exit", () => rmSync(subjectsDir, { recursive: true, force: true }));
  }
  return join(subjectsDir, name);
}

/**
 * orgstream: a fresh org per run, a token for it (the publisher's, which the catch-up's one
 * subscriber uses too). Each of `subscribers` gets a token of its own subject
 * (`subscriberTokens`), as users in a deployment have: their paths are in a file for the load
 * generator's `--subscribe-each`.
 */
export async function orgstreamTarget(url, org, { hubSocket = false, subscribers = 1, from = 0 } = {}) {
  const t = await token(org, "subscribe publish");
  const path = (tok) => (hubSocket ? `/v1/dev/hub-socket?token=${tok}` : `/v1/stream?token=${tok}`);
  let subscribeEach = null;
  if (subscribers >= 1) {
    const paths = (await subscriberTokens(org, subscribers, from)).map(path);
    subscribeEach = subjectsFile(`${org}-${from}-${subscribers}`);
    writeFileSync(subscribeEach, `${paths.join("\n")}\n`);
  }
  return {
    subscribe: path(t),
    subscribeEach,
    subscribeHeaders: [],
    subscribeFlags: hubSocket ? ["--hub-socket"] : [],
    publish: "/v1/events",
    publishHeaders: [`authorization: Bearer ${t}`],
    style: "orgstream",
    // The hub's socket takes no Last-Event-ID: catch-ups are measured through the front worker.
    catchUp: hubSocket ? null : { subscribe: `/v1/stream?token=${t}`, headers: ["last-event-id: 0"] },
  };
}

/**
 * orgstream's design in plain JavaScript (bench/floor/worker.js, with `vars`): the runtime's own
 * cost of it. The load generator reaches an org by `?org=` (no tokens).
 */
async function floorServer(name, vars, inspectorPort) {
  const server = await startDirect({ scriptPath: join(root, "bench", "floor", "worker.js"), vars, inspectorPort });
  return {
    name,
    url: server.url,
    pids: () => processTree(process.pid, "workerd"),
    target: async (org) => ({
      subscribe: `/v1/stream?org=${org}`,
      subscribeHeaders: [],
      publish: `/v1/events?org=${org}`,
      publishHeaders: [],
      style: "orgstream",
      catchUp: null,
    }),
    stop: () => server.stop(),
  };
}

/** orgstream in workerd (directly or under wrangler dev), as the runner drives a server. */
function orgstreamServer(name, server, { hubSocket = false } = {}) {
  return {
    name,
    url: server.url,
    pids: () => processTree(process.pid, "workerd"),
    target: (org, subjects) => orgstreamTarget(server.url, org, { hubSocket, ...subjects }),
    stop: () => server.stop(),
  };
}

/**
 * orgstream's variables in every benchmark: room for the catch-up scenario's 10,000 events, and
 * for the idle runs' two batches of 5000 streams in one org (10,000 is the default cap; with one
 * more, a stream would be refused and only the failures would say so).
 */
const ORGSTREAM_VARS = { HISTORY_MAX_EVENTS: "20000", MAX_STREAMS_PER_ORG: "32768" };

// Each takes the load generator's directory and options, and returns a server whose
// `target(org, { subscribers, from })` says how the load generator reaches a fresh org (with a
// subject of its own for each of `subscribers` subscribers where the server has subjects).
// `vars` (more of the worker's variables) and `inspectorPort` (workerd's inspector) are for
// `npm run bench:memory` and `bench:roles`, which start `workerd`, `floor` and `floor-native`.
export const SERVERS = {
  async workerd(bin, { workerBuild, relays, vars: extra = {}, inspectorPort } = {}) {
    // The release build, as deployed (tokens are signed here, not by the dev token route), with
    // `ORGSTREAM_VARS`. `--worker-build` runs another commit's build,
    // `--relays K` puts every org's streams on K relay objects (RELAYS_PER_ORG).
    let name = workerBuild ? `orgstream, workerd direct (${workerBuild})` : "orgstream, workerd direct";
    const vars = { ...ORGSTREAM_VARS, ...extra };
    if (relays) {
      name += `, ${relays} relays per org`;
      vars.RELAYS_PER_ORG = String(relays);
    }
    return orgstreamServer(name, await startDirect({ build: "release", scriptPath: workerBuild, vars, inspectorPort }));
  },

  async "workerd-single"() {
    // The same with coalescing off: every event in a message of its own, as before the hub
    // coalesced (the publisher's answer still does not wait for the fan-out).
    const vars = { ...ORGSTREAM_VARS, COALESCE_MAX_FRAMES: "1" };
    return orgstreamServer("orgstream, workerd direct, one event per message", await startDirect({ build: "release", vars }));
  },

  async hub(bin, { workerBuild, relays } = {}) {
    // The hub alone: the load generator's subscribers hold the hub's stream sockets, where front
    // workers stand (`GET /v1/dev/hub-socket`, dev builds only: the same code and optimization
    // as the release build, plus the dev routes). workerd then runs the hub's side only; the
    // publish requests still pass the front worker, as every publish does.
    // With `--relays K`, the subscribers hold the relays' sockets: the hub and its relays alone.
    // `--worker-build .../worker/build/index.js` runs the dev build beside it (worker/build-dev).
    const vars = { ...ORGSTREAM_VARS, DEV_MODE: "true" };
    const scriptPath = workerBuild && join(dirname(dirname(workerBuild)), "build-dev", "index.js");
    let name = workerBuild ? `orgstream, the hub alone (workerd, ${scriptPath})` : "orgstream, the hub alone (workerd)";
    if (relays) {
      name = `orgstream, the hub and ${relays} relays alone (workerd)`;
      vars.RELAYS_PER_ORG = String(relays);
    }
    return orgstreamServer(name, await startDirect({ build: "dev", scriptPath, vars }), { hubSocket: true });
  },

  floor: (bin, { vars = {}, inspectorPort } = {}) => floorServer("floor: the same design in plain JavaScript", vars, inspectorPort),

  // The same, holding each stream the way orgstream does: the runtime's native pipe as the body
  // and a liveness probe every 500 ms (LIVENESS_PROBE_MS's default).
  "floor-native": (bin, { vars = {}, inspectorPort } = {}) =>
    floorServer(
      "floor: the same, with the runtime's native pipe and a 500 ms probe",
      { FLOOR_PIPE: "native", FLOOR_PROBE_MS: "500", ...vars },
      inspectorPort,
    ),

  async wrangler() {
    return orgstreamServer("orgstream, wrangler dev", await startWorker({ build: "release", vars: ORGSTREAM_VARS }));
  },

  async nchan() {
    const prefix = mkdtempSync(join(tmpdir(), "orgstream-nchan-"));
    for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(prefix, d));
    const port = await freePort();
    const conf = readFileSync(join(root, "bench", "nchan", "nginx.conf.template"), "utf8")
      .replaceAll("@PORT@", String(port))
      .replaceAll("@PREFIX@", prefix);
    writeFileSync(join(prefix, "nginx.conf"), conf);
    const child = spawn("nginx", ["-p", prefix, "-c", join(prefix, "nginx.conf")], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url, `nginx + Nchan (${stderr.trim() || "no output"}; see ${prefix}/error.log)`);
    return {
      name: "nginx + Nchan",
      url,
      pids: () => [child.pid],
      target: async (org) => ({
        subscribe: `/sub?id=${org}`,
        subscribeHeaders: [],
        publish: `/pub?id=${org}`,
        publishHeaders: [],
        style: "raw",
        catchUp: { subscribe: `/sub-oldest?id=${org}`, headers: [] },
      }),
      stop: async () => {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      },
    };
  },

  async native(loadgenDir) {
    const port = await freePort();
    const child = spawn(join(loadgenDir, "sse-native"), ["--port", String(port)], { stdio: ["ignore", "ignore", "inherit"] });
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url, "sse-native");
    return {
      name: "native Rust broadcaster",
      url,
      pids: () => [child.pid],
      target: async () => ({
        subscribe: "/stream",
        subscribeHeaders: [],
        publish: "/publish",
        publishHeaders: [],
        style: "orgstream",
        catchUp: null, // no history
      }),
      stop: async () => {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      },
    };
  },
};

/** CPU seconds (user + system) the processes have used so far. */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {}
  }
  return ticks / 100; // USER_HZ
}

/** Resident memory (KiB) of the processes. */
export function rssKiB(pids) {
  return residentKiB(pids).rss;
}

/**
 * Resident memory (KiB) of the processes, and the part of it that is mapped from files (`file`:
 * the binaries' code and data as far as it was paged in, shared and given back under pressure;
 * the rest is memory the processes allocated).
 */
export function residentKiB(pids) {
  const kib = { rss: 0, file: 0 };
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const field = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m"))?.[1] ?? 0);
      kib.rss += field("VmRSS");
      kib.file += field("RssFile");
    } catch {}
  }
  return kib;
}
