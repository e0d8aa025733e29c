// Reads GET /v1/metrics with a real Prometheus text parser (parse-prometheus-text-format).
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";

/** Returns { families, value(name, labels?) } for the token's org. */
export async function readMetrics(url, tok) {
  const r = await fetch(`${url}/v1/metrics`, { headers: { authorization: `Bearer ${tok}` } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheus(await r.text());
  const value = (name, labels = {}) => {
    const family = families.find((f) => f.name === name);
    assert.ok(family, `metric ${name} is exposed`);
    const m = family.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
    return m === undefined ? 0 : Number(m.value ?? m.count);
  };
  return { families, value };
}
