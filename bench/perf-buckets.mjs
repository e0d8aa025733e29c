// Where workerd's CPU goes, from a `perf` recording, in a few buckets (docs/bench/README.md,
// "Where the time goes"). Each sample counts once, in the first bucket whose frames it has.
//
//   perf record -F 999 -g -p <workerd pid> -o /tmp/workerd.perf -- sleep 15   (during a run)
//   perf script -i /tmp/workerd.perf -F ip,sym | node bench/perf-buckets.mjs

import { readFileSync } from "node:fs";

const BUCKETS = [
  ["garbage collection", ["CollectGarbage", "Scavenge", "MarkCompact", "Sweep", "ConcurrentMarking", "cppgc"]],
  ["hub: WebSocket.send", ["WebSocket::send"]],
  ["front worker: socket message in, event dispatch, our handler", ["WebSocket::readLoop"]],
  ["front worker: writer.write into the pipe", ["WritableStreamDefaultWriter::write", "WritableStreamInternalController::write"]],
  ["runtime: pipe to the response", ["ensureWriting", "writeLoop", "IdentityTransform", "AsyncPipe"]],
  ["runtime: HTTP response writes", ["writeBodyData", "HttpOutputStream"]],
  ["runtime: JS stream pump (a JS ReadableStream body)", ["PumpToReader"]],
  ["hub: socket send pump", ["WebSocket::pump", "WebSocketPipe"]],
  ["other promise jobs (publish handler, futures)", ["RunMicrotasks"]],
  ["other system calls", ["entry_SYSCALL"]],
];

const samples = readFileSync(0, "utf8").split(/\n\s*\n/).filter((s) => s.trim());
const counts = new Map();
for (const sample of samples) {
  const bucket = BUCKETS.find(([, keys]) => keys.some((k) => sample.includes(k)))?.[0] ?? "other (event loop, promises, allocation)";
  counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
}
console.log(`${samples.length} samples`);
for (const [bucket, n] of [...counts].sort((a, b) => b[1] - a[1])) {
  console.log(`${((100 * n) / samples.length).toFixed(1).padStart(5)}%  ${bucket}`);
}
