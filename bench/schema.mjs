// `npm run bench:schema` - the browser validators on the fixture corpus, in Node: throughput of
// validateEnvelope(string) against JSON.parse(string) + a Zod 4 schema of the same catalog (the
// usual way, run in the same process as the baseline), and the wasm module's size.
//
//   npm run bench:schema [-- --seconds 1]

import { readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { parseFlags, numberFlag } from "../scripts/lib/cli.mjs";
import { validateEnvelope } from "../schema-wasm/pkg/node.js";
import { envelope as zodEnvelope } from "./zod-catalog.mjs";

const { values, fail } = parseFlags({
  name: "npm run bench:schema",
  usage: "usage: npm run bench:schema -- [--seconds 1]   (seconds per measurement)",
  options: { seconds: { type: "string", default: "1" } },
});
const SECONDS = numberFlag(fail, "seconds", values.seconds, { min: 0.1, integer: false });
const corpus = JSON.parse(readFileSync(new URL("../tests/fixtures/corpus.json", import.meta.url)));
const valid = Object.values(corpus).flatMap((c) => c.valid.map((e) => JSON.stringify(e)));
const invalid = Object.values(corpus).flatMap((c) => c.invalid.map((e) => e.json));

const wasm = (s) => validateEnvelope(s);
const zod = (s) => {
  let value;
  try {
    value = JSON.parse(s);
  } catch (e) {
    return { ok: false };
  }
  return zodEnvelope.safeParse(value);
};

// Both must agree on the corpus before their speed means anything.
for (const s of valid) {
  if (!wasm(s).ok) throw new Error(`wasm refused a valid case: ${s}`);
  if (!zod(s).success) throw new Error(`zod refused a valid case: ${s}\n${JSON.stringify(zod(s).error?.issues)}`);
}
const zodMissed = invalid.filter((s) => zod(s).success === true).length;

function rate(fn, inputs) {
  // Warm up, then count validations for SECONDS, 5 times; report the median (per second).
  for (let i = 0; i < 2000; i++) fn(inputs[i % inputs.length]);
  const runs = [];
  for (let r = 0; r < 5; r++) {
    let n = 0;
    const end = performance.now() + (SECONDS * 1000) / 5;
    while (performance.now() < end) {
      for (const s of inputs) fn(s);
      n += inputs.length;
    }
    runs.push(n / (SECONDS / 5));
  }
  return runs.sort((a, b) => a - b)[2];
}

const fmt = (n) => `${Math.round(n).toLocaleString("en-US")}/s`;
console.log(`schema bench (node ${process.version}; ${valid.length} valid and ${invalid.length} invalid envelopes from tests/fixtures/corpus.json)`);
for (const [label, inputs] of [["valid envelopes", valid], ["invalid envelopes", invalid]]) {
  const w = rate(wasm, inputs);
  const z = rate(zod, inputs);
  console.log(`  ${label}: validateEnvelope ${fmt(w)}, JSON.parse + Zod ${fmt(z)}, ratio wasm/zod ${(w / z).toFixed(2)}x`);
}
const bytes = readFileSync(new URL("../schema-wasm/pkg/schema_bg.wasm", import.meta.url));
const glue = readFileSync(new URL("../schema-wasm/pkg/schema.js", import.meta.url));
const gz = (b) => gzipSync(b, { level: 9 }).length;
const br = (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
console.log(`  wasm module: ${bytes.length} bytes raw, ${gz(bytes)} gzip, ${br(bytes)} brotli (goal: under 60 KB gzip)`);
console.log(`  JS glue (schema.js): ${glue.length} bytes raw, ${gz(glue)} gzip`);
if (zodMissed) console.log(`  note: the Zod baseline accepts ${zodMissed} of the invalid cases the wasm validators refuse`);
