// The fixture corpus through the worker's POST /v1/events (the fourth runner; the others are host
// cargo test and wasm-bindgen-test in Node and Chromium), and what the server sends back through
// the browser module built for Node: the same validators on both ends of the wire.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startWorker } from "./support/worker.mjs";
import { token, publish, history } from "./support/client.mjs";
import { validateEnvelope, validateEvent, eventTypes, schemaVersion, MAX_ENVELOPE_CHARS } from "../schema-wasm/pkg/node.js";

const corpus = JSON.parse(readFileSync(new URL("./fixtures/corpus.json", import.meta.url)));
const publishBody = (envelope) => envelope.replace(/^\{"id":"\d+","ts":"[^"]+",/, "{");

let server;
before(async () => (server = await startWorker()));
after(async () => server?.stop());

test("the browser module knows the whole catalog", () => {
  assert.deepEqual(eventTypes().sort(), Object.keys(corpus).sort());
  assert.match(schemaVersion(), /^\d+\.\d+\.\d+$/);
});

for (const [type, { valid, invalid }] of Object.entries(corpus)) {
  test(`${type}: the worker accepts every valid case and refuses every invalid one at the same path`, async () => {
    const t = await token(`corpus-${type.replace(/\./g, "-").toLowerCase()}`);
    for (const envelope of valid) {
      const r = await publish(server.url, t, { type: envelope.type, data: envelope.data });
      assert.equal(r.status, 202, `${JSON.stringify(envelope.data)}: ${JSON.stringify(r.body)}`);
    }
    for (const c of invalid) {
      const r = await publish(server.url, t, publishBody(c.json));
      if (c.code === "malformed_json") {
        // The contract answers malformed JSON with 400, not 422.
        assert.equal(r.status, 400, c.name);
        assert.equal(r.body.error.code, "bad_request", c.name);
        continue;
      }
      assert.equal(r.status, 422, `${c.name}: ${JSON.stringify(r.body)}`);
      assert.deepEqual(
        r.body.error.details.map((d) => [d.index, d.path, d.code]),
        [[0, c.path, c.code]],
        c.name,
      );
    }
    // What the server stored and sends is valid for the browser module, and is what was sent.
    const page = await history(server.url, t);
    assert.equal(page.body.events.length, valid.length, "nothing invalid was stored");
    for (const [i, stored] of page.body.events.entries()) {
      const checked = validateEnvelope(JSON.stringify(stored));
      assert.equal(checked.ok, true, JSON.stringify(checked));
      assert.deepEqual(checked.event.data, valid[i].data);
    }
  });
}

test("the browser module: envelopes as strings, events as strings or objects, errors never thrown", () => {
  const [first] = corpus["task.progress"].valid;
  assert.equal(validateEnvelope(JSON.stringify(first)).ok, true);
  assert.deepEqual(validateEnvelope(42), {
    ok: false,
    errors: [{ path: "", code: "invalid_type", message: "expected the envelope as a JSON string" }],
  });
  assert.equal(validateEvent("task.progress", first.data).ok, true);
  assert.equal(validateEvent("task.progress", JSON.stringify(first.data)).ok, true);
  const bad = validateEvent("task.progress", { taskId: "t", progress: 7 });
  assert.deepEqual(bad.errors.map((e) => [e.path, e.code]), [["/progress", "out_of_range"]]);
  const unknown = validateEvent("task.paused", {});
  assert.deepEqual(unknown.errors.map((e) => e.code), ["unknown_type"]);
  assert.equal(validateEnvelope(`{"id":"1","type":"task.failed","ts":"2026-11-25T07:00:00Z","data":{"taskId":"t","error":"e","added":1},"later":true}`).ok, true,
    "fields added by a newer server are tolerated");
});

test("the browser module: long, non-ASCII and growing text, one after another", () => {
  // The text goes through one input buffer in wasm memory that grows (schema-wasm/js/api.js):
  // each validation must see its own text whole, whatever came before.
  const envelope = (changelog) =>
    JSON.stringify({ id: "1", type: "version.available", ts: "2026-11-25T07:00:00Z", data: { version: "1.2.3", changelog } });
  for (const changelog of ["short", "é".repeat(9000), "😀".repeat(10000), "x".repeat(100_000), "short again", "ü".repeat(10000)]) {
    const checked = validateEnvelope(envelope(changelog));
    const chars = [...changelog].length;
    if (chars <= 10000) {
      assert.equal(checked.ok, true, `${chars} characters: ${JSON.stringify(checked.errors)}`);
      assert.equal(checked.event.data.changelog, changelog);
    } else {
      assert.deepEqual(checked.errors.map((e) => [e.path, e.code]), [["/data/changelog", "invalid_length"]], `${chars} characters`);
    }
  }
  assert.equal(validateEvent("version.available", { version: "é" }).ok, true);
  // Text longer than any envelope the server sends never reaches wasm.
  const huge = validateEnvelope(envelope("x".repeat(MAX_ENVELOPE_CHARS)));
  assert.deepEqual(huge.errors.map((e) => [e.path, e.code]), [["", "invalid_length"]]);
  assert.match(huge.errors[0].message, /longer than any event the server sends/);
  assert.equal(validateEvent("task.completed", { taskId: "t", result: "x".repeat(MAX_ENVELOPE_CHARS) }).errors[0].code, "invalid_length");
  assert.deepEqual(validateEvent("version.available", { version: "" }).errors.map((e) => e.code), ["invalid_length"]);
});
