// The bad-input corpus (tests/fixtures/bad-input.json, written by make-bad-input.mjs) against one
// running worker: every hostile or malformed request gets its documented answer (status, error
// code, 422 details), none changes anything, and the worker keeps serving. After each group the
// history of every org is read again (it must be what it was, plus what the group's few accepted
// cases stored), one valid event is published (it must get the next id: no id was used up) and
// GET /healthz must answer 200.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createParser } from "eventsource-parser";
import { startWorker, startDirect, TEST_SECRET } from "./support/worker.mjs";
import { publish, history, openStream, taskProgress, sleep } from "./support/client.mjs";

const corpus = JSON.parse(readFileSync(new URL("./fixtures/bad-input.json", import.meta.url), "utf8"));
/** Longest wait for one answer: a liveness guard (a request that hangs is a failure), not a timing check. */
const ANSWER_GUARD_MS = 15_000;
/** How long a request dropped halfway stays open before the drop, so its bytes reach the worker. */
const BEFORE_DROP_MS = 150;
/** How long after a drop the orgs are read, so that what the drop set off is done (or never comes). */
const AFTER_DROP_MS = 200;

let server;
const named = {}; // the corpus' shared tokens, built once
/** What each org holds, as its reader sees it: events {id, type, data, target?} and the latest id. */
const model = {};
const stats = [];

before(async () => {
  // workerd itself, as deployed workers run (Miniflare, no wrangler proxy). `wrangler dev`'s local
  // proxy differs in two ways (docs/reliability.md): it completes an upload the client cut off
  // after a whole JSON body (the worker then publishes it), and after a chunked body of more
  // than 1 MiB its next request fails with a 503. BAD_INPUT_RUNTIME=wrangler runs it there.
  server = process.env.BAD_INPUT_RUNTIME === "wrangler" ? await startWorker() : await startDirect({ build: "dev" });
  for (const [name, recipe] of Object.entries(corpus.tokens)) named[name] = await buildToken(recipe);
  // Two events per org, so that history and replay have something to show (and to leak).
  for (const [org, { publisher }] of Object.entries(corpus.orgs)) {
    const first = await readHistory(org); // with a requestId, this also claims it for the reader
    assert.equal(first.status, 200, `${org}: ${JSON.stringify(first.body)}`);
    const r = await publish(server.url, named[publisher], { events: [taskProgress(`seed-${org}-1`), taskProgress(`seed-${org}-2`)] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    model[org] = toModel(await readHistory(org));
    assert.equal(model[org].events.length, 2, `${org} seeded`);
  }
});
after(async () => server?.stop());

// ---------------------------------------------------------------------------------------------
// Data: strings stored as {parts} or {base64}, and placeholders.

function expandBytes(v) {
  if (v === undefined) return undefined;
  if (typeof v === "string") return Buffer.from(v, "utf8");
  if (v.base64 !== undefined) return Buffer.from(v.base64, "base64");
  if (v.parts) {
    return Buffer.concat(v.parts.map((p) => (p.base64 !== undefined ? Buffer.from(p.base64, "base64") : Buffer.from(p.text.repeat(p.repeat ?? 1), "utf8"))));
  }
  throw new Error(`not a body: ${JSON.stringify(v).slice(0, 100)}`);
}
/** A string of the corpus; {base64} (raw bytes in a header) becomes a latin1 string, one char per byte. */
function expandText(v) {
  if (typeof v === "string" || v === undefined) return v;
  if (v.parts) return v.parts.map((p) => expandText(p.text ?? { base64: p.base64 }).repeat(p.repeat ?? 1)).join("");
  if (v.base64 !== undefined) return Buffer.from(v.base64, "base64").toString("latin1");
  throw new Error(`not a string: ${JSON.stringify(v).slice(0, 100)}`);
}

/** Replaces {{name}} / {{name|uri}} / {{host}}. */
function fill(text, tokens) {
  return text.replace(/\{\{([^}|]+)(\|uri)?\}\}/g, (_, name, uri) => {
    const value = name === "host" ? new URL(server.url).host : tokens[name];
    if (value === undefined) throw new Error(`no token named ${name}`);
    return uri ? encodeURIComponent(value) : value;
  });
}
const placeholders = (request) => [...JSON.stringify(request).matchAll(/\{\{([^}|]+)(?:\|uri)?\}\}/g)].map((m) => m[1]).filter((n) => n !== "host");

// ---------------------------------------------------------------------------------------------
// Tokens: recipes are signed here, with the test secret (the format is in the corpus' `format`).

const now = () => Math.floor(Date.now() / 1000);
const b64url = (text) => Buffer.from(text, "utf8").toString("base64url");
function withTimes(v) {
  if (Array.isArray(v)) return v.map(withTimes);
  if (v && typeof v === "object") {
    if ("$now" in v) return now() + v.$now;
    if (v.parts) return expandText(v);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withTimes(x)]));
  }
  return v;
}
const nowText = (text) => text.replace(/\{\{now([+-]\d+)?\}\}/g, (_, d) => String(now() + Number(d ?? 0)));
const secretVariant = (key) => key.replace("{{secret-1}}", TEST_SECRET.slice(0, -1)).replace("{{secret}}", TEST_SECRET).replace("{{SECRET}}", TEST_SECRET.toUpperCase());
const HASH = { HS256: "sha256", HS384: "sha384", HS512: "sha512" };

/**
 * A nonce for a token that some mutation would not change: `~` is the only character of the JSON
 * text whose base64 has a `-` (or `_`); three of them, shifted by the nonce, put one in every
 * alignment, so the base64url alphabet and the padding ops find something to change.
 */
const nonceText = (nonce) => `${"n".repeat(nonce)}~~~`;

function jwt(recipe, nonce) {
  const header = recipe.headerText ?? JSON.stringify({ ...(recipe.header ?? { alg: "HS256", typ: "JWT" }), ...(nonce ? { kid: nonceText(nonce) } : {}) });
  const claims = recipe.claimsText !== undefined ? nowText(recipe.claimsText) : JSON.stringify({ ...withTimes(recipe.claims), ...(nonce ? { jti: nonceText(nonce) } : {}) });
  const h = b64url(header);
  const p = b64url(claims);
  const alg = recipe.sign?.alg ?? "HS256";
  const key = recipe.sign?.key !== undefined ? secretVariant(recipe.sign.key) : TEST_SECRET;
  const signature = alg === "none" ? "" : createHmac(HASH[alg], key).update(`${h}.${p}`).digest("base64url");
  return `${h}.${p}.${signature}`;
}

async function ticketFor(recipe) {
  const r = await send({ method: "POST", path: "/v1/stream/ticket", headers: { authorization: `Bearer ${jwt(recipe.ticket, 0)}` } });
  assert.equal(r.status, 200, `a ticket for ${JSON.stringify(recipe.ticket.claims)}: ${r.text}`);
  const { ticket } = JSON.parse(r.text);
  if (recipe.used) {
    const s = await send({ method: "GET", path: `/v1/stream?ticket=${encodeURIComponent(ticket)}` }, { until: (text) => text.includes(":ok\n\n") });
    assert.equal(s.status, 200, `the ticket's first use: ${s.text}`);
  }
  return ticket;
}

async function applyOp(token, op) {
  const segs = token.split(".");
  const seg = (f) => {
    segs[op.segment] = f(segs[op.segment] ?? "");
    return segs.join(".");
  };
  switch (op.op) {
    case "alphabet":
      return seg((s) => s.replace(/-/g, "+").replace(/_/g, "/"));
    case "pad":
      return seg((s) => s + "=".repeat((4 - (s.length % 4)) % 4));
    case "flip":
      return seg((s) => {
        const i = op.at < 0 ? s.length + op.at : op.at;
        return s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
      });
    case "truncate":
      return seg((s) => s.slice(0, -op.chars));
    case "insert":
      return seg((s) => (op.at === undefined ? s + op.text : s.slice(0, op.at) + op.text + s.slice(op.at)));
    case "double":
      return seg((s) => s + s);
    case "upper":
      return seg((s) => s.toUpperCase());
    case "segment":
      return seg(() => op.text);
    case "segment-from": {
      const other = (await buildToken(op.recipe)).split(".");
      return seg(() => other[op.segment]);
    }
    case "drop":
      segs.splice(op.segment, 1);
      return segs.join(".");
    case "append":
      return token + op.text;
    case "prepend":
      return op.text + token;
    default:
      throw new Error(`unknown token op ${op.op}`);
  }
}

/** The token of a recipe. Every mutation must change it: else a jti claim / kid header is added. */
async function buildToken(recipe) {
  if (recipe.raw !== undefined) return expandText(recipe.raw);
  for (let nonce = 0; nonce < 64; nonce++) {
    let token = recipe.ticket ? await ticketFor(recipe) : jwt(recipe, nonce);
    let changedByEvery = true;
    for (const op of recipe.mutate ?? []) {
      const next = await applyOp(token, op);
      if (next === token) changedByEvery = false;
      token = next;
    }
    if (changedByEvery) return token;
  }
  throw new Error(`no token of this recipe is changed by every mutation: ${JSON.stringify(recipe)}`);
}

async function tokensFor(c) {
  const tokens = {};
  for (const name of new Set(placeholders(c.request))) {
    if (name === "auth") tokens.auth = await buildToken(c.auth);
    else if (named[name] !== undefined) tokens[name] = named[name];
    else throw new Error(`the case names a token it does not define: ${name}`);
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Sending: node:http for requests it can send, raw sockets for the rest.

/**
 * Sends a request. `until(text)`: for an event stream, read until it holds, then hang up (an
 * unexpected stream is read until its opening). Resolves {status, headers, text, json, dropped}.
 */
function send(request, { tokens = {}, until } = {}) {
  if (request.transport === "socket") return sendSocket(request, tokens);
  const url = new URL(server.url);
  const headers = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers[name] = Array.isArray(value) ? value.map((v) => fill(expandText(v), tokens)) : fill(expandText(value), tokens);
  }
  if (request.manyHeaders) {
    const { prefix, count, value } = request.manyHeaders;
    for (let i = 0; i < count; i++) headers[`${prefix}${i}`] = value;
  }
  const body = expandBytes(request.body);
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const chunked = /chunked/i.test(lower["transfer-encoding"] ?? "");
  if (body && lower["content-length"] === undefined && !chunked) headers["content-length"] = String(body.length);
  return new Promise((resolve) => {
    let settled = false;
    let response = null;
    const chunks = [];
    const finish = (extra = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      const buf = Buffer.concat(chunks);
      const text = buf.toString("utf8");
      let json;
      try {
        json = JSON.parse(text);
      } catch {}
      resolve({ status: response?.statusCode, headers: response?.headers ?? {}, text, json, ...extra });
      req.destroy();
    };
    const guard = setTimeout(() => finish({ error: `no complete answer within ${ANSWER_GUARD_MS} ms` }), ANSWER_GUARD_MS);
    const req = http.request({ host: url.hostname, port: url.port, method: request.method, path: fill(expandText(request.path), tokens), headers, agent: false }, (res) => {
      response = res;
      const sse = /text\/event-stream/.test(res.headers["content-type"] ?? "");
      const done = until ?? ((text) => text.includes(":ok\n\n"));
      res.on("data", (d) => {
        chunks.push(d);
        if (sse && done(Buffer.concat(chunks).toString("utf8"))) finish();
      });
      res.on("end", () => finish());
      res.on("error", () => finish({ error: "the answer broke off" }));
      res.on("aborted", () => finish({ error: "the answer broke off" }));
    });
    req.on("error", (e) => finish({ error: e.code ?? e.message }));
    if (request.send?.bytes !== undefined) {
      // Part of the body, then the connection is dropped: a client that goes away halfway.
      req.flushHeaders();
      const part = body.subarray(0, request.send.bytes);
      const drop = () => setTimeout(() => finish({ dropped: true }), BEFORE_DROP_MS);
      if (part.length) req.write(part, drop);
      else drop();
      return;
    }
    req.end(body);
  });
}

function sendSocket(request, tokens) {
  const url = new URL(server.url);
  const bytes = Buffer.from(fill(expandText(request.text), tokens), "latin1");
  return new Promise((resolve) => {
    const chunks = [];
    let settled = false;
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(bytes));
    const finish = (extra = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      socket.destroy();
      resolve({ ...parseRaw(Buffer.concat(chunks)), ...extra });
    };
    const guard = setTimeout(() => finish(request.hold ? { dropped: true } : { error: `no complete answer within ${ANSWER_GUARD_MS} ms` }), request.hold ? BEFORE_DROP_MS * 2 : ANSWER_GUARD_MS);
    socket.on("data", (d) => chunks.push(d));
    socket.on("end", () => finish());
    socket.on("error", (e) => finish({ error: e.code }));
  });
}

/** An HTTP/1.1 answer read off a socket: status, headers, body (de-chunked). */
function parseRaw(buf) {
  const at = buf.indexOf("\r\n\r\n");
  if (at < 0) return { text: buf.toString("latin1") };
  const [statusLine, ...lines] = buf.subarray(0, at).toString("latin1").split("\r\n");
  const headers = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = buf.subarray(at + 4);
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    const out = [];
    for (let rest = body; rest.length; ) {
      const eol = rest.indexOf("\r\n");
      const size = parseInt(rest.subarray(0, eol).toString(), 16);
      if (!(size > 0)) break;
      out.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 4 + size);
    }
    body = Buffer.concat(out);
  }
  const text = body.toString("utf8");
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: Number(statusLine.split(" ")[1]), headers, text, json };
}

// ---------------------------------------------------------------------------------------------
// The orgs' state.

async function readHistory(org) {
  const { reader, requestId } = corpus.orgs[org];
  return history(server.url, named[reader], { limit: "1000", ...(requestId ? { requestId } : {}) });
}
const envelope = (e) => ({ id: e.id, type: e.type, data: e.data, ...(e.target ? { target: e.target } : {}) });
function toModel(page) {
  assert.equal(page.body.hasMore, false, "the orgs of the corpus hold fewer than 1000 events");
  return { events: page.body.events.map(envelope), latest: Number(page.body.latestId ?? 0) };
}
/** The events a publish body holds, as the model keeps them (ids from the answer). */
function published(request, ids) {
  const parsed = JSON.parse(expandBytes(request.body).toString("utf8"));
  const events = parsed.events ?? [parsed];
  return events.map((e, i) => ({ id: ids[i], type: e.type, data: e.data, ...(e.target ? { target: e.target } : {}) }));
}

// ---------------------------------------------------------------------------------------------
// Checking one answer.

const short = (s, n = 300) => (s.length > n ? `${s.slice(0, n)}... (${s.length} chars)` : s);
function describe(c, tokens) {
  if (c.request.transport === "socket") return `raw ${JSON.stringify(short(fill(expandText(c.request.text), tokens).split("\r\n")[0], 150))}`;
  const path = fill(expandText(c.request.path), tokens);
  return `${c.request.method} ${short(path, 150)}${c.request.send ? ` (dropped after ${c.request.send.bytes} body bytes)` : ""}`;
}
function sseEvents(text) {
  const events = [];
  const parser = createParser({ onEvent: (e) => events.push({ id: e.id, event: e.event ?? "message", data: e.data }) });
  parser.feed(text);
  return events;
}
function untilFor(expect) {
  if (expect.stream?.reset) return (text) => /event: stream\.reset\ndata: [^\n]*\n\n/.test(text);
  if (expect.stream?.replayOf) {
    const last = model[expect.stream.replayOf].events.at(-1).id;
    return (text) => sseEvents(text).some((e) => e.id === last);
  }
  return undefined;
}

/** What is wrong with an answer, as a list of sentences (empty: as documented). */
function problemsOf(c, res, accepted) {
  const e = c.expect;
  const p = [];
  const got = () => `got ${res.status ?? "no answer"}${res.error ? ` (${res.error})` : ""} ${short(res.text ?? "")}`;
  if (e.aborted) {
    if (res.status >= 200 && res.status < 300) p.push(`expected no success for a request dropped halfway; ${got()}`);
    return p;
  }
  if (res.status === undefined && e.orReset && /ECONNRESET|EPIPE/.test(res.error ?? "")) return p;
  if (res.status === undefined) return [`expected ${e.status} ${e.code ?? ""}; ${got()}`];
  const statusOk = e.status === "any" || (e.status === "4xx" ? res.status >= 400 && res.status < 500 : [e.status].flat().includes(res.status));
  if (!statusOk) p.push(`expected status ${e.status}${e.code ? ` ${e.code}` : ""}; ${got()}`);
  if (res.status >= 400 && e.envelope !== false && c.request.method !== "HEAD") {
    if (!/^application\/json/.test(res.headers["content-type"] ?? "")) p.push(`expected the JSON error envelope; content-type ${res.headers["content-type"]}`);
    const err = res.json?.error;
    if (!err || typeof err.message !== "string" || !Array.isArray(err.details)) p.push(`expected {"error": {code, message, details}}; ${got()}`);
    else if (e.code && err.code !== e.code) p.push(`expected error.code ${e.code}; got ${err.code}: ${short(err.message, 200)}`);
    if (err && e.maxMessage && err.message.length > e.maxMessage) p.push(`expected a message of at most ${e.maxMessage} chars; got ${err.message.length}`);
    if (err && e.details) {
      const details = (err.details ?? []).map((d) => [d.index, d.path, d.code]);
      try {
        assert.deepEqual(details, e.details);
      } catch {
        p.push(`expected details ${short(JSON.stringify(e.details))}; got ${short(JSON.stringify(details))}`);
      }
    }
  }
  if (e.allow !== undefined && res.headers.allow !== e.allow) p.push(`expected allow: ${e.allow}; got ${res.headers.allow}`);
  if (!statusOk || res.status >= 300) return p;
  // Accepted answers.
  if (e.body) {
    try {
      assert.deepEqual(res.json, e.body);
    } catch {
      p.push(`expected the body ${JSON.stringify(e.body)}; ${got()}`);
    }
  }
  if (e.ticketOrg) {
    const org = JSON.parse(Buffer.from(String(res.json?.ticket).split(".")[1] ?? "", "base64url").toString() || "{}").org;
    if (org !== e.ticketOrg) p.push(`expected a ticket for ${e.ticketOrg}; got one for ${org}`);
  }
  if (e.historyOf) {
    try {
      assert.deepEqual(res.json.events.map(envelope), model[e.historyOf].events);
      assert.equal(res.json.latestId, String(model[e.historyOf].latest));
    } catch {
      p.push(`expected exactly the history of ${e.historyOf} (ids ${model[e.historyOf].events.map((x) => x.id)}); got ids ${res.json?.events?.map((x) => x.id)} latest ${res.json?.latestId}`);
    }
  }
  if (e.stream) {
    const events = sseEvents(res.text);
    if (e.stream.reset) {
      const reset = events.find((x) => x.event === "stream.reset");
      const want = { reason: e.stream.reset, earliestId: "1", latestId: String(model[e.stream.org].latest) };
      if (!reset) p.push(`expected a stream.reset frame; got ${short(JSON.stringify(res.text))}`);
      else if (JSON.stringify(JSON.parse(reset.data)) !== JSON.stringify(want)) p.push(`expected stream.reset ${JSON.stringify(want)}; got ${reset.data}`);
      if (events.some((x) => x.id !== undefined)) p.push(`expected no replay before the reset; got ids ${events.filter((x) => x.id).map((x) => x.id)}`);
    }
    if (e.stream.replayOf) {
      const replayed = events.filter((x) => x.id !== undefined).map((x) => envelope(JSON.parse(x.data)));
      try {
        assert.deepEqual(replayed, model[e.stream.replayOf].events);
      } catch {
        p.push(`expected the replay of ${e.stream.replayOf} (ids ${model[e.stream.replayOf].events.map((x) => x.id)}); got ids ${replayed.map((x) => x.id)}`);
      }
    }
  }
  if (e.stores) {
    for (const [org, n] of Object.entries(e.stores)) {
      const ids = res.json?.ids ?? [];
      const want = Array.from({ length: n }, (_, i) => String(model[org].latest + 1 + i));
      if (JSON.stringify(ids) !== JSON.stringify(want)) p.push(`expected ids ${want} in ${org}; got ${JSON.stringify(res.json)}`);
      accepted.push({ org, events: published(c.request, ids), frames: e.frames });
      model[org].events.push(...published(c.request, ids));
      model[org].latest += ids.length;
    }
  } else if (res.status === 202) {
    p.push(`expected nothing published; got ${got()}`);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// The state after a group: every org as before (plus what was accepted), the next id, healthz.

/** Each org's history against the model: what changed, in sentences (the model then follows it, so one change is reported once). */
async function changes() {
  const p = [];
  for (const org of Object.keys(corpus.orgs)) {
    const page = await readHistory(org);
    const seen = page.status === 200 ? toModel(page) : null;
    try {
      assert.deepEqual(seen, model[org]);
    } catch {
      const want = model[org].events.map((x) => x.id);
      const extra = (seen?.events ?? []).filter((x) => !want.includes(x.id)).map((x) => `${x.id} ${x.type} ${short(JSON.stringify(x.data), 60)}`);
      const missing = want.filter((id) => !seen?.events.some((x) => x.id === id));
      p.push(`${org}: history changed: expected latest id ${model[org].latest}, got ${seen?.latest}; ${extra.length} event(s) stored that should not be${extra.length ? ` (${short(extra.join("; "), 1500)})` : ""}${missing.length ? `; missing ids ${missing}` : ""}`);
      if (seen) model[org] = seen;
    }
  }
  return p;
}

async function checkState(groupName) {
  const p = await changes();
  for (const org of Object.keys(corpus.orgs)) {
    const control = await publish(server.url, named[corpus.orgs[org].publisher], taskProgress(`control-${groupName}`));
    const next = String(model[org].latest + 1);
    if (control.status !== 202 || JSON.stringify(control.body.ids) !== JSON.stringify([next])) {
      p.push(`${org}: the next publish should get id ${next} (no id used up); got ${control.status} ${JSON.stringify(control.body)}`);
    }
    model[org] = toModel(await readHistory(org));
  }
  const health = await fetch(`${server.url}/healthz`);
  if (health.status !== 200) p.push(`GET /healthz answered ${health.status} ${await health.text()}`);
  return p;
}

/** The accepted events' frames on a stream: one frame each (id, event, one data line), nothing else. */
function checkFrames(stream, accepted, control) {
  const p = [];
  const raw = stream.raw;
  if (/[\r\0]/.test(raw)) p.push(`the stream holds a raw ${raw.includes("\r") ? "CR" : "NUL"}: ${short(JSON.stringify(raw), 500)}`);
  const want = [...accepted.filter((a) => a.frames).flatMap((a) => a.events), control];
  const frames = [];
  for (const block of raw.split("\n\n")) {
    const lines = block.split("\n").filter((l) => l !== "" && !l.startsWith(":") && !l.startsWith("retry: "));
    if (lines.length === 0 || lines.includes("event: heartbeat")) continue;
    frames.push(lines);
  }
  if (frames.length !== want.length) p.push(`expected ${want.length} event frames; got ${frames.length}: ${short(JSON.stringify(frames), 800)}`);
  for (const [i, lines] of frames.entries()) {
    const w = want[i];
    if (!w) break;
    const [idLine, eventLine, dataLine, ...more] = lines;
    if (idLine !== `id: ${w.id}` || eventLine !== `event: ${w.type}` || !dataLine?.startsWith("data: ") || more.length) {
      p.push(`frame ${w.id} is not id/event/one data line: ${short(JSON.stringify(lines), 500)}`);
      continue;
    }
    let env;
    try {
      env = JSON.parse(dataLine.slice(6));
      assert.deepEqual(envelope(env), w);
    } catch {
      p.push(`frame ${w.id}: expected ${short(JSON.stringify(w))}; got ${short(dataLine)}`);
    }
  }
  // The same seen by an SSE parser: one event per frame, with its id and its data line.
  const parsed = stream.events.filter((e) => e.event !== "heartbeat");
  if (JSON.stringify(parsed.map((e) => e.id)) !== JSON.stringify(want.map((w) => w.id))) p.push(`an SSE parser sees ids ${parsed.map((e) => e.id)}; expected ${want.map((w) => w.id)}`);
  return p;
}

// ---------------------------------------------------------------------------------------------

test("the corpus: up to date with its generator, 300+ cases, each named once and with its documented answer", () => {
  execFileSync(process.execPath, [fileURLToPath(new URL("./fixtures/make-bad-input.mjs", import.meta.url)), "--check"], { stdio: "pipe" });
  const cases = corpus.groups.flatMap((g) => g.cases.map((c) => ({ group: g.name, ...c })));
  assert.ok(cases.length >= 300, `${cases.length} cases`);
  for (const g of corpus.groups) assert.equal(new Set(g.cases.map((c) => c.name)).size, g.cases.length, `case names of ${g.name} are unique`);
  for (const c of cases) {
    assert.ok(c.docs, `${c.group}/${c.name}: says where its answer is documented`);
    assert.ok(c.expect.aborted || c.expect.status !== undefined, `${c.group}/${c.name}: expects an answer`);
  }
});

test("the frame check itself: it finds a raw CR, a second data line and a frame split in two", () => {
  const event = { id: "7", type: "task.failed", data: { taskId: "inj", error: "a\nb" } };
  const control = { id: "8", type: "task.progress", data: { taskId: "control", progress: 0.5 } };
  const frame = (e) => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify({ id: e.id, type: e.type, ts: "2026-11-25T07:00:00.000Z", data: e.data })}\n\n`;
  const check = (raw) => checkFrames({ raw, events: sseEvents(raw) }, [{ events: [event], frames: true }], control);
  const good = `retry: 1000\n:ok\n\n${frame(event)}:\n\n${frame(control)}`;
  assert.deepEqual(check(good), []);
  assert.notDeepEqual(check(good.replace("a\\nb", "a\rb")), [], "a raw CR");
  assert.notDeepEqual(check(good.replace('\ndata: {"id":"7"', '\ndata: x\ndata: {"id":"7"')), [], "two data lines");
  assert.notDeepEqual(check(good.replace('"error":"a\\nb"', '"error":"a"}}\n\nid: 99\nevent: x\ndata: {"b":1}')), [], "a frame split in two");
});

for (const group of corpus.groups) {
  test(`bad input: ${group.name} (${group.cases.length} cases)`, async (t) => {
    const failures = [];
    const accepted = [];
    const tally = { group: group.name, cases: group.cases.length, refused: 0, accepted: 0, failed: 0 };
    stats.push(tally);
    // Before: the orgs are what the model says (else that is reported, and the model follows them).
    const before = (await changes()).map((x) => `before the group: ${x}`);
    let stream;
    if (group.stream) {
      const { org } = group.stream;
      stream = await openStream(server.url, named[corpus.orgs[org].reader], { lastEventId: String(model[org].latest), query: { requestId: corpus.orgs[org].requestId } });
      assert.equal(stream.status, 200);
      await stream.until((s) => s.raw.includes(":ok\n\n"), 5000, "the stream's opening");
    }
    for (const step of group.setup ?? []) {
      const r = await send(step.request, { tokens: named });
      assert.equal(r.status, step.status, `setup ${step.name}: ${r.text}`);
    }
    for (const c of group.cases) {
      let tokens = {};
      let problems;
      try {
        tokens = await tokensFor(c);
        const res = await send(c.request, { tokens, until: untilFor(c.expect) });
        if (res.dropped || !(res.status < 400)) tally.refused++;
        else tally.accepted++;
        problems = problemsOf(c, res, accepted);
        if (c.expect.aborted) {
          // Dropped halfway: nothing may come of it. Looked at now, to name the case that did it.
          await sleep(AFTER_DROP_MS);
          problems.push(...(await changes()).map((x) => `the dropped request was acted on: ${x}`));
        }
      } catch (e) {
        problems = [`the case could not run: ${e.stack ?? e}`];
      }
      if (problems.length) {
        tally.failed++;
        failures.push(`${group.name}/${c.name}: ${describe(c, tokens)}\n    documented: ${c.docs}\n    ${problems.join("\n    ")}`);
      }
    }
    const stateProblems = await checkState(group.name);
    if (stream) {
      const { org } = group.stream;
      const control = model[org].events.at(-1);
      await stream.until((s) => s.events.some((e) => e.id === control.id), 10_000, `the control event ${control.id} on the stream`).catch(() => {});
      stream.close();
      stateProblems.push(...checkFrames(stream, accepted, control));
    }
    t.diagnostic(`${group.name}: ${tally.cases} cases, ${tally.refused} refused, ${tally.accepted} answered 2xx, ${tally.failed} not as documented`);
    const report = [...before, ...failures, ...stateProblems.map((s) => `${group.name} (state after the group): ${s}`)];
    if (report.length) assert.fail(`${report.length} problem(s) in group ${group.name}:\n  ${report.join("\n  ")}`);
  });
}

test("bad input: the worker still serves, and a summary", async (t) => {
  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 200);
  // A last look at every org, after everything (a request dropped halfway would have had time).
  await sleep(200);
  for (const org of Object.keys(corpus.orgs)) assert.deepEqual(toModel(await readHistory(org)), model[org], `${org} at the end`);
  const total = stats.reduce((n, s) => n + s.cases, 0);
  const refused = stats.reduce((n, s) => n + s.refused, 0);
  const failed = stats.reduce((n, s) => n + s.failed, 0);
  const line = `bad-input corpus: ${total} cases in ${stats.length} groups (${stats.map((s) => `${s.group} ${s.cases}`).join(", ")}); ${refused} refused, ${total - refused} answered 2xx, ${failed} not as documented`;
  t.diagnostic(line);
  console.log(line);
});
