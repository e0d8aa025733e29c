// The bench report: a Markdown table with each figure's ratio to Nchan and to the native ceiling,
// and two SVG charts (delivered frames/s against subscribers; the latency CDF at 1000 subscribers).

import { writeFileSync } from "node:fs";
import { join } from "node:path";

const COLORS = { workerd: "#2563eb", "workerd-single": "#93c5fd", hub: "#f59e0b", floor: "#dc2626", "floor-native": "#f87171", wrangler: "#7c3aed", nchan: "#059669", native: "#6b7280" };
const fmt = (x, digits = 1) => (x === undefined || x === null || Number.isNaN(x) ? "" : x.toFixed(digits));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : "");

function key(row) {
  return `${row.scenario} ${JSON.stringify(row.params)}`;
}

export function table({ rows }) {
  const lines = [
    "| scenario | server | frames/s | x Nchan | x native | latency p50 / p99 / max (ms) | publish answered p50 / p99 (ms) | server CPU s per 1000 frames | connecting: server CPU ms per subscriber | loadgen CPU s | delivered |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  const byKey = new Map();
  for (const r of rows) byKey.set(`${r.server} ${key(r)}`, r);
  for (const r of rows.filter((r) => !["catchup", "connections", "small"].includes(r.scenario))) {
    const nchan = byKey.get(`nchan ${key(r)}`);
    const native = byKey.get(`native ${key(r)}`);
    // From the moment every subscriber is connected; connecting is its own column (runs without
    // that column, before it was added, counted connecting in the delivery's CPU).
    const cpuPer1000 = r.delivered_frames ? (r.server_cpu_seconds / r.delivered_frames) * 1000 : undefined;
    const connectMs = r.server_connect_cpu_seconds !== undefined && r.connected ? (r.server_connect_cpu_seconds / r.connected) * 1000 : undefined;
    lines.push(
      `| ${key(r)} | ${r.serverName} | ${Math.round(r.frames_per_second)} | ${ratio(r.frames_per_second, nchan?.frames_per_second)} | ` +
        `${ratio(r.frames_per_second, native?.frames_per_second)} | ${fmt(r.latency_ms.p50)} / ${fmt(r.latency_ms.p99)} / ${fmt(r.latency_ms.max)} | ` +
        `${r.publish_answer_ms ? `${fmt(r.publish_answer_ms.p50)} / ${fmt(r.publish_answer_ms.p99)}` : ""} | ` +
        `${fmt(cpuPer1000, 3)} | ${fmt(connectMs, 2)} | ${fmt(r.loadgen_cpu_seconds, 2)} | ${r.delivered_frames}/${r.expected_frames} |`,
    );
  }
  lines.push("", "| catch-up | server | time to the last replayed frame (ms) | x Nchan | delivered |", "| --- | --- | --- | --- | --- |");
  for (const r of rows.filter((r) => r.scenario === "catchup")) {
    const nchan = byKey.get(`nchan ${key(r)}`);
    lines.push(`| ${key(r)} | ${r.serverName} | ${fmt(r.time_to_last_ms)} | ${ratio(r.time_to_last_ms, nchan?.time_to_last_ms)} | ${r.delivered_frames}/${r.expected_frames} |`);
  }
  // Against both floors: `floor` (a JavaScript stream body, no probe) and `floor-native` (held the
  // way orgstream holds a stream: the runtime's native pipe and a liveness probe).
  const floors = (r, value) => [`floor ${key(r)}`, `floor-native ${key(r)}`].map((k) => ratio(value(r), value(byKey.get(k)))).join(" | ");
  // Two batches of N, each stream its own user: the first also pays what a process pays once
  // (code paged in, caches filled); the next is what one more stream costs.
  lines.push(
    "",
    "| idle connections | server | held | memory per connection, first N (KiB) | x Nchan | x floor | x floor-native | the next N (KiB each) | x Nchan | x floor | x floor-native |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const r of rows.filter((r) => r.scenario === "connections")) {
    const nchan = byKey.get(`nchan ${key(r)}`);
    const kib = (row) => row?.rss_per_connection_kib;
    const next = (row) => row?.rss_per_next_connection_kib;
    lines.push(
      `| ${key(r)} | ${r.serverName} | ${r.next_connected === undefined ? r.connected : `${r.connected} + ${r.next_connected}`} | ${fmt(kib(r))} | ${ratio(kib(r), kib(nchan))} | ${floors(r, kib)} | ` +
        `${fmt(next(r))} | ${ratio(next(r), next(nchan))} | ${floors(r, next)} |`,
    );
  }
  // The common case: few open tabs, many small publishes. What one publish costs the server.
  // Warm: after the server's first publishes, which are shown apart (`first_publishes`).
  lines.push(
    "",
    "| few subscribers | server | server CPU ms per publish (warm) | x floor | x floor-native | the server's first publishes: ms per publish | latency p50 / p99 (ms) | delivered |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const r of rows.filter((r) => r.scenario === "small")) {
    const perPublish = (row) => (row?.events ? (row.server_cpu_seconds / row.events) * 1000 : undefined);
    const first = r.first_publishes ? `${fmt(perPublish(r.first_publishes), 2)} (first ${r.first_publishes.events})` : "";
    lines.push(
      `| ${key(r)} | ${r.serverName} | ${fmt(perPublish(r), 2)} | ${floors(r, perPublish)} | ${first} | ` +
        `${fmt(r.latency_ms.p50)} / ${fmt(r.latency_ms.p99)} | ${r.delivered_frames}/${r.expected_frames} |`,
    );
  }
  return lines.join("\n");
}

/** A line chart: one polyline per server. `series`: [{ name, color, points: [[x, y]] }]. */
function lineChart({ title, xLabel, yLabel, series, logX = false, xTicks }) {
  const W = 720, H = 360, L = 70, R = 230, T = 40, B = 50;
  const all = series.flatMap((s) => s.points);
  if (!all.length) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="30">${title}: no data</text></svg>`;
  const xs = all.map((p) => (logX ? Math.log10(p[0]) : p[0]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  // The y axis ends at a round number: 1, 2 or 5 times a power of ten.
  const top = Math.max(...all.map((p) => p[1])) || 1;
  const mag = 10 ** Math.floor(Math.log10(top));
  const y1 = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= top);
  const px = (x) => L + (((logX ? Math.log10(x) : x) - x0) / (x1 - x0 || 1)) * (W - L - R);
  const py = (y) => H - B - (y / y1) * (H - T - B);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="22" font-size="14" font-weight="bold">${title}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${xLabel}</text>`,
    `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${(T + H - B) / 2})" text-anchor="middle">${yLabel}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = (y1 * i) / 4;
    parts.push(`<text x="${L - 6}" y="${py(y) + 4}" text-anchor="end">${(+y.toPrecision(3)).toLocaleString("en")}</text>`);
    parts.push(`<line x1="${L}" y1="${py(y)}" x2="${W - R}" y2="${py(y)}" stroke="#eee"/>`);
  }
  for (const x of xTicks ?? [...new Set(all.map((p) => p[0]))]) parts.push(`<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${x}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts}"/>`);
    for (const [x, y] of s.points) parts.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${s.color}"/>`);
    parts.push(`<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="12" fill="${s.color}"/><text x="${W - R + 30}" y="${T + i * 20 + 10}">${s.name}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

export function writeReport(out, results) {
  const servers = [...new Set(results.rows.map((r) => r.server))];
  const name = (s) => results.rows.find((r) => r.server === s)?.serverName ?? s;
  const fanout = lineChart({
    title: "Fan-out: delivered frames/s (one event per request)",
    xLabel: "subscribers of one org",
    yLabel: "frames/s",
    logX: true,
    series: servers.map((s) => ({
      name: name(s),
      color: COLORS[s],
      points: results.rows.filter((r) => r.server === s && r.scenario === "fanout").map((r) => [r.params.subscribers, r.frames_per_second]),
    })),
  });
  const n = results.quick ? undefined : 1000;
  const cdfRows = (s) => {
    const rows = results.rows.filter((r) => r.server === s && r.scenario === "fanout");
    return rows.find((r) => r.params.subscribers === n) ?? rows.at(-1);
  };
  const cdf = lineChart({
    title: `Publish-to-receive latency CDF (fan-out, ${cdfRows(servers[0])?.params.subscribers ?? "?"} subscribers)`,
    xLabel: "percentile",
    yLabel: "ms",
    xTicks: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    series: servers.map((s) => ({
      name: name(s),
      color: COLORS[s],
      points: (cdfRows(s)?.latency_cdf_ms ?? []).map((ms, i) => [i + 1, ms]).filter(([p]) => p % 5 === 0 || p >= 95),
    })),
  });
  writeFileSync(join(out, "fanout.svg"), fanout);
  writeFileSync(join(out, "latency-cdf.svg"), cdf);
  const text = table(results);
  writeFileSync(join(out, "table.md"), `${text}\n`);
  return text;
}
