// Where workerd's JavaScript and wasm time goes, by role: the V8 CPU profiler (through workerd's
// inspector) samples the worker's isolate, and each sample counts for the role whose code is
// outermost on its stack. The hub, its relays and the front worker run in one isolate locally, so
// neither process CPU nor the runtime's clock (frozen while code runs) can tell them apart; their
// stacks can. Used by `npm run bench:roles` (bench/roles.mjs).

import { spawnSync } from "node:child_process";

/** The roles, each by the function names of its code (wasm names keep the Rust module path). */
export const ROLES = [
  ["hub", /^orgstream_worker::hub::|^orghub_/],
  ["relay", /^orgstream_worker::relay::|^orgrelay_/],
  ["front", /^orgstream_worker::front::|^fetch externref shim$/],
];

/** What V8 reports outside JavaScript: the runtime's own C++ work, collection, waiting. */
const OUTSIDE = { "(program)": "runtime", "(garbage collector)": "gc", "(idle)": "idle" };

/**
 * Microseconds of a V8 CPU profile (`Profiler.stop`'s `profile`) per role: `hub`, `relay`, `front`,
 * `shared` (JavaScript or wasm on no role's stack: the wasm futures scheduler, JS<->wasm glue),
 * `runtime` (the runtime's C++ inside the isolate, outside JavaScript), `gc`, `idle`. Time outside
 * the isolate (the runtime's I/O between events) is not sampled at all.
 */
export function timeByRole(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // The role of each leaf node, found once (a profile has far fewer nodes than samples).
  const roleOf = new Map();
  const role = (id) => {
    if (roleOf.has(id)) return roleOf.get(id);
    let found = "shared";
    const names = [];
    for (let at = id; at !== undefined; at = parent.get(at)) names.push(nodes.get(at)?.callFrame.functionName ?? "");
    names.reverse(); // outermost first
    const outside = OUTSIDE[names[1]];
    if (outside) found = outside;
    else {
      for (const name of names) {
        const hit = ROLES.find(([, pattern]) => pattern.test(name));
        if (hit) {
          found = hit[0];
          break;
        }
      }
    }
    roleOf.set(id, found);
    return found;
  };
  // Each sample stands for the sampler's period (the median gap between samples), not for the
  // gap before it: V8 takes no sample while the runtime has left the isolate (between events), so
  // the first sample after a pause follows a long gap that its own code did not spend.
  const gaps = [...profile.timeDeltas].sort((a, b) => a - b);
  const period = gaps[Math.floor(gaps.length / 2)] ?? 0;
  const time = { hub: 0, relay: 0, front: 0, shared: 0, runtime: 0, gc: 0, idle: 0 };
  for (const id of profile.samples) time[role(id)] += period;
  return time;
}

/** Node 20 has WebSocket behind a flag (22 has it on): a script that needs it runs itself again with it. */
export function withWebSocket() {
  if (typeof WebSocket !== "undefined") return;
  const again = spawnSync(process.execPath, ["--experimental-websocket", ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(again.status ?? 1);
}

/**
 * A connection to workerd's inspector for one worker (`name` as workerd lists it, "core:user:" for
 * Miniflare's): `call(method, params)` sends a DevTools protocol command and resolves with its
 * result; `lastEvent` holds the last event it sent of each method.
 */
export async function connectInspector(port, name = "core:user:") {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${name}`);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`workerd's inspector on port ${port} refused the connection to ${name}`));
  });
  let next = 0;
  const waiting = new Map();
  const lastEvent = new Map();
  ws.onmessage = (m) => {
    const reply = JSON.parse(m.data);
    if (reply.method) lastEvent.set(reply.method, reply.params);
    const done = waiting.get(reply.id);
    if (!done) return;
    waiting.delete(reply.id);
    done(reply);
  };
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      waiting.set(id, (reply) => (reply.error ? reject(new Error(`${method}: ${reply.error.message}`)) : resolve(reply.result)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { call, lastEvent, close: () => ws.close() };
}

/** V8's CPU profiler on one worker of workerd's inspector (see `connectInspector`). */
export async function inspect(port, name = "core:user:") {
  const { call, close } = await connectInspector(port, name);
  await call("Profiler.enable");
  return {
    /** Starts sampling every `intervalUs` microseconds. */
    async start(intervalUs) {
      await call("Profiler.setSamplingInterval", { interval: intervalUs });
      await call("Profiler.start");
    },
    /** Stops sampling; the profile. */
    async stop() {
      return (await call("Profiler.stop")).profile;
    },
    close,
  };
}
