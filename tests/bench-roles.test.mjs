// The profile classifier of `npm run bench:roles` (bench/profile.mjs): a sample counts for the
// role whose code is outermost on its stack, and each sample for the sampler's period.
import { test } from "node:test";
import assert from "node:assert/strict";
import { timeByRole } from "../bench/profile.mjs";

/** A V8 profile from stacks (outermost first), one sample each, `gap` microseconds apart. */
function profile(stacks, gaps) {
  const nodes = [{ id: 1, callFrame: { functionName: "(root)" }, children: [] }];
  const samples = [];
  for (const stack of stacks) {
    let parent = nodes[0];
    for (const name of stack) {
      let node = parent.children.map((id) => nodes[id - 1]).find((n) => n.callFrame.functionName === name);
      if (!node) {
        node = { id: nodes.length + 1, callFrame: { functionName: name }, children: [] };
        nodes.push(node);
        parent.children.push(node.id);
      }
      parent = node;
    }
    samples.push(parent.id);
  }
  return { nodes, samples, timeDeltas: gaps };
}

test("each sample counts for the outermost role on its stack, for the sampler's period", () => {
  const stacks = [
    ["_", "orgstream_worker::hub::relay_links::kick::{{closure}}::h0123456789abcdef", "orgstream_worker::front::x", "send"],
    ["orgrelay_fetch", "orgstream_worker::hub::outbox::send", "send"], // the relay running the hub's shared code
    ["apply", "q.fetch", "re", "fetch externref shim", "fetch", "url::parser::Parser"],
    ["_", "ge", "js_sys::futures::queue::Queue::new::{{closure}}"],
    ["(program)"],
    ["(garbage collector)"],
    ["(idle)"],
    ["orgstream_worker::hub::calls::publish"],
  ];
  // The sixth gap is long (the runtime had left the isolate): it counts as one period, not 50 ms.
  const time = timeByRole(profile(stacks, [250, 260, 240, 250, 250, 50_000, 250, 255]));
  assert.deepEqual(time, { hub: 500, relay: 250, front: 250, shared: 250, runtime: 250, gc: 250, idle: 250 });
});
