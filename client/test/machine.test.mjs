// The stream's state machine on its own (client/src/machine.ts): every transition, as sentences.
import { test } from "node:test";
import assert from "node:assert/strict";
import { initialMachine, transition } from "../dist/machine.js";

const online = { online: true, failuresBeforePolling: 5 };
const offline = { online: false, failuresBeforePolling: 5 };

/** Runs `inputs` from `machine`, returning the last step and the effects of all of them. */
function run(machine, inputs, settings = online) {
  const effects = [];
  for (const type of inputs) {
    const step = transition(machine, { type }, settings);
    machine = step.machine;
    effects.push(...step.effects.map((e) => (e.type === "wait" ? `wait ${e.failures}` : e.type)));
  }
  return { machine, effects };
}

const streaming = run(initialMachine(true), ["start", "opened"]).machine;

test("a page online starts by connecting and shows reconnecting until the stream opens", () => {
  const { machine, effects } = run(initialMachine(true), ["start"]);
  assert.deepEqual(machine, { phase: "connecting", status: "reconnecting", failures: 0 });
  assert.deepEqual(effects, ["stop", "open"]);
});

test("a page offline starts offline and opens nothing", () => {
  const { machine, effects } = run(initialMachine(false), ["start"], offline);
  assert.deepEqual(machine, { phase: "offline", status: "offline", failures: 0 });
  assert.deepEqual(effects, ["stop"]);
});

test("an opened stream is connected and watches for silence", () => {
  const { machine, effects } = run(initialMachine(true), ["start", "opened"]);
  assert.deepEqual(machine, { phase: "streaming", status: "connected", failures: 0 });
  assert.deepEqual(effects.slice(2), ["arm-silence"]);
});

test("failures back off with a growing count, and the fifth in a row falls back to polling", () => {
  const { machine, effects } = run(initialMachine(true), ["start", "failed", "retry-due", "failed", "retry-due", "failed", "retry-due", "failed", "retry-due", "failed"]);
  assert.deepEqual(machine, { phase: "polling", status: "reconnecting", failures: 5 });
  assert.deepEqual(effects, ["stop", "open", "stop", "wait 1", "open", "stop", "wait 2", "open", "stop", "wait 3", "open", "stop", "wait 4", "open", "stop", "poll"]);
});

test("while backing off the page shows reconnecting", () => {
  assert.equal(run(streaming, ["failed"]).machine.status, "reconnecting");
  assert.equal(run(streaming, ["failed"]).machine.phase, "backing-off");
});

test("a heartbeat or an event resets the failure count; an open alone does not", () => {
  const failedTwice = run(initialMachine(true), ["start", "failed", "retry-due", "failed", "retry-due"]).machine;
  assert.equal(run(failedTwice, ["opened"]).machine.failures, 2);
  assert.equal(run(failedTwice, ["alive"]).machine.failures, 0);
});

test("an expired token reopens at once and keeps showing connected", () => {
  const { machine, effects } = run(streaming, ["expired"]);
  assert.deepEqual(machine, { phase: "connecting", status: "connected", failures: 0 });
  assert.deepEqual(effects, ["stop", "open"]);
});

test("reconnect() from polling tries the stream again with a fresh count", () => {
  const polling = { phase: "polling", status: "polling-fallback", failures: 5 };
  assert.deepEqual(run(polling, ["start"]).machine, { phase: "connecting", status: "reconnecting", failures: 0 });
});

test("reconnect() while connected keeps showing connected", () => {
  assert.equal(run(streaming, ["start"]).machine.status, "connected");
});

test("going offline stops everything from any state, and coming back online connects", () => {
  const backingOff = run(streaming, ["failed"]).machine;
  const polling = { phase: "polling", status: "polling-fallback", failures: 5 };
  for (const from of [streaming, backingOff, polling, initialMachine(true)]) {
    const { machine, effects } = run(from, ["network-offline"], offline);
    assert.deepEqual([machine.phase, machine.status, effects], ["offline", "offline", ["stop"]]);
    assert.deepEqual(run(machine, ["network-online"]).machine.phase, "connecting");
  }
});

test("a failure noticed while the network is gone goes offline, not into backoff", () => {
  assert.deepEqual(run(streaming, ["failed"], offline).machine.phase, "offline");
});

test("the network coming back does nothing unless the page was offline", () => {
  assert.deepEqual(run(streaming, ["network-online"]), { machine: streaming, effects: [] });
});

test("inputs that do not belong to a state change nothing (late timers, late callbacks)", () => {
  const backingOff = run(streaming, ["failed"]).machine;
  for (const type of ["opened", "alive", "failed", "expired"]) assert.deepEqual(run(backingOff, [type]), { machine: backingOff, effects: [] });
  assert.deepEqual(run(streaming, ["retry-due"]), { machine: streaming, effects: [] });
});

test("a replaced stream closes for good, shows offline and tells the app", () => {
  const { machine, effects } = run(streaming, ["replaced"]);
  assert.deepEqual([machine.phase, machine.status, effects], ["closed", "offline", ["stop", "notify-replaced"]]);
  assert.deepEqual(run(machine, ["start"]).effects, [], "reconnect() does not reopen it");
});

test("after close nothing happens", () => {
  const closed = run(streaming, ["close"]).machine;
  for (const type of ["start", "opened", "alive", "failed", "retry-due", "expired", "network-online", "network-offline"]) {
    assert.deepEqual(run(closed, [type]), { machine: closed, effects: [] });
  }
});

test("a tab sharing the stream starts following, and shows what the leading tab relays", () => {
  const following = initialMachine(true, true);
  assert.deepEqual(following, { phase: "following", status: "reconnecting", failures: 0 });
  const step = transition(following, { type: "leader-status", status: "polling-fallback" }, online);
  assert.deepEqual([step.machine.phase, step.machine.status, step.effects], ["following", "polling-fallback", []]);
});

test("a following tab ignores its own network, timers and stream callbacks", () => {
  const following = initialMachine(true, true);
  for (const type of ["start", "opened", "alive", "failed", "retry-due", "expired", "replaced", "network-online", "network-offline"]) {
    assert.deepEqual(run(following, [type], type === "network-offline" ? offline : online), { machine: following, effects: [] }, type);
  }
});

test("a tab that takes the lead connects, keeping the status the page showed", () => {
  const connected = transition(initialMachine(true, true), { type: "leader-status", status: "connected" }, online).machine;
  const { machine, effects } = run(connected, ["lead"]);
  assert.deepEqual(machine, { phase: "connecting", status: "connected", failures: 0 });
  assert.deepEqual(effects, ["stop", "open"]);
  assert.equal(run(initialMachine(true, true), ["lead"]).machine.status, "reconnecting");
});

test("a leading tab that loses the lead stops its stream and follows", () => {
  const { machine, effects } = run(streaming, ["follow"]);
  assert.deepEqual([machine.phase, machine.status, effects], ["following", "connected", ["stop"]]);
  assert.deepEqual(run(run(streaming, ["failed"]).machine, ["follow"]).machine.phase, "following");
});

test("lead and relayed statuses mean nothing to a tab that is not following", () => {
  assert.deepEqual(run(streaming, ["lead"]), { machine: streaming, effects: [] });
  assert.deepEqual(transition(streaming, { type: "leader-status", status: "offline" }, online), { machine: streaming, effects: [] });
});

test("polling shows polling only while polls are answered, and offline while they are not", () => {
  const polling = run(initialMachine(true), ["start", "failed", "retry-due", "failed", "retry-due", "failed", "retry-due", "failed", "retry-due", "failed"]).machine;
  assert.equal(polling.status, "reconnecting", "not polling before a poll was answered");
  assert.deepEqual(run(polling, ["poll-failed"]), { machine: { ...polling, status: "offline" }, effects: [] });
  assert.equal(run(polling, ["poll-failed", "poll-ok"]).machine.status, "polling-fallback");
  assert.equal(run(polling, ["poll-ok", "poll-failed"]).machine.status, "offline");
  assert.deepEqual(run(streaming, ["poll-ok"]), { machine: streaming, effects: [] }, "a late poll means nothing to a stream");
});

test("a refused token stops everything, tells the app once, and waits for a token that works", () => {
  const connecting = run(initialMachine(true), ["start"]).machine;
  const { machine, effects } = run(connecting, ["refused"]);
  assert.deepEqual(machine, { phase: "unauthorized", status: "unauthorized", failures: 0 });
  assert.deepEqual(effects, ["stop", "notify-refused", "wait-for-token"]);
  const again = run(machine, ["recheck-due"]);
  assert.deepEqual([again.machine.phase, again.machine.status, again.effects], ["connecting", "unauthorized", ["open"]], "it tries again, still showing unauthorized");
  assert.deepEqual(run(again.machine, ["refused"]).effects, ["stop", "wait-for-token"], "still refused: not news");
  assert.deepEqual(run(again.machine, ["opened"]).machine.status, "connected", "a token that works recovers");
  const polling = { phase: "polling", status: "polling-fallback", failures: 5 };
  assert.equal(run(polling, ["refused"]).machine.status, "unauthorized", "a refused poll too");
});

test("an unauthorized stream never falls back to polling, and reconnect() tries a token at once", () => {
  const unauthorized = run(run(initialMachine(true), ["start"]).machine, ["refused"]).machine;
  for (const type of ["failed", "retry-due", "poll-ok", "poll-failed", "opened", "alive", "expired"]) {
    assert.deepEqual(run(unauthorized, [type]), { machine: unauthorized, effects: [] }, type);
  }
  assert.deepEqual(run(unauthorized, ["start"]).machine, { phase: "connecting", status: "unauthorized", failures: 0 });
  assert.equal(run(unauthorized, ["network-offline"], offline).machine.status, "offline");
});
