// HTTP helpers for the tests: tokens, publishing, history, and an SSE reader that keeps every frame.

import { SignJWT } from "jose";
import { createParser } from "eventsource-parser";
import { TEST_SECRET } from "./worker.mjs";

const key = new TextEncoder().encode(TEST_SECRET);

/** A token for `org` with `scope`; `claims` and `header` override the defaults (for bad tokens). */
export async function token(org, scope = "subscribe publish", { claims = {}, header = {}, secret, exp = "1h" } = {}) {
  let jwt = new SignJWT({ org, scope, ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT", ...header })
    .setSubject(claims.sub ?? "test-user")
    .setIssuedAt();
  if (exp !== null) jwt = jwt.setExpirationTime(exp);
  return jwt.sign(secret ? new TextEncoder().encode(secret) : key);
}

/**
 * Tokens for `count` subscribers of `org`, each its own user (`subscriber-<from + i>`): load,
 * chaos and soak runs hold each stream as a deployment's users would, not all on one subject.
 */
export async function subscriberTokens(org, count, from = 0) {
  const tokens = [];
  for (let i = from; i < from + count; i++) tokens.push(await token(org, "subscribe", { claims: { sub: `subscriber-${i}` } }));
  return tokens;
}

export async function publish(url, tok, body, { headers = {} } = {}) {
  const r = await fetch(`${url}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${tok}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

export async function history(url, tok, params = {}) {
  const q = new URLSearchParams({ token: tok, ...params });
  const r = await fetch(`${url}/v1/events?${q}`);
  return { status: r.status, body: await r.json() };
}

export const taskProgress = (taskId, progress = 0.5) => ({ type: "task.progress", data: { taskId, progress } });

/**
 * Opens `GET /v1/stream` and records everything: `events` (id, event, data), `comments`, `retry`.
 * `until(pred)` waits until some recorded state satisfies `pred`.
 */
const HEADERS_WITHIN_MS = 60_000;

export async function openStream(url, tok, { lastEventId, query = {}, headers = {} } = {}) {
  const controller = new AbortController();
  const q = new URLSearchParams({ token: tok, ...query });
  const h = { ...headers };
  if (lastEventId !== undefined) h["last-event-id"] = String(lastEventId);
  // A stream answers at once (the worker connects to the org's object before answering); one
  // that gives no headers within a minute fails here, saying so, not after undici's 300 s.
  const noAnswer = setTimeout(
    () => controller.abort(new Error(`GET /v1/stream gave no response headers within ${HEADERS_WITHIN_MS} ms`)),
    HEADERS_WITHIN_MS,
  );
  const response = await fetch(`${url}/v1/stream?${q}`, { headers: h, signal: controller.signal }).finally(() =>
    clearTimeout(noAnswer),
  );
  const stream = {
    response,
    status: response.status,
    events: [],
    comments: [],
    retry: null,
    raw: "",
    ended: false,
    waiters: new Set(),
    /** Events other than heartbeats. */
    get data() {
      return this.events.filter((e) => e.event !== "heartbeat");
    },
    close() {
      controller.abort();
    },
    until(pred, timeoutMs = 5000, what = "condition") {
      if (pred(stream)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = () => {
          if (pred(stream)) {
            clearTimeout(timer);
            stream.waiters.delete(w);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          stream.waiters.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(stream.events)}`));
        }, timeoutMs);
        stream.waiters.add(w);
      });
    },
  };
  if (response.status !== 200) {
    stream.body = await response.json();
    return stream;
  }
  const parser = createParser({
    onEvent: (e) => stream.events.push({ id: e.id, event: e.event ?? "message", data: e.data }),
    onComment: (c) => stream.comments.push(c),
    onRetry: (r) => (stream.retry = r),
  });
  (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body) {
        const text = decoder.decode(chunk, { stream: true });
        stream.raw += text;
        parser.feed(text);
        for (const w of [...stream.waiters]) w();
      }
    } catch {}
    stream.ended = true;
    for (const w of [...stream.waiters]) w();
  })();
  return stream;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A stream reader that keeps only a count of events and the text of non-event frames, and can
 * stop reading (`paused`, then `resume()`): while paused, the TCP window fills up back to the server.
 */
export async function countingStream(url, tok, { paused = false } = {}) {
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/stream?token=${tok}`, { signal: controller.signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const client = { events: 0, notices: [], ended: false, paused, close: () => controller.abort() };
  const parser = createParser({
    onEvent: (e) => {
      if (e.id !== undefined) client.events += 1;
      else if (e.event !== "heartbeat") client.notices.push(e.event);
    },
  });
  let wake = null;
  client.resume = () => {
    client.paused = false;
    wake?.();
  };
  (async () => {
    try {
      for (;;) {
        while (client.paused) await new Promise((r) => (wake = r));
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch {}
    client.ended = true;
  })();
  return client;
}
