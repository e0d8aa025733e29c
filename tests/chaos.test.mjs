// Chaos resume: 200 subscribers of one org while thousands of events are published at a steady
// rate, singly and in batches; subscribers are cut at random moments (mid-frame too) and come back
// after random delays with Last-Event-ID. Every subscriber must end with every event exactly once,
// in id order. One subscriber stays away beyond retention: it must get `stream.reset` and recover
// through `GET /v1/events`, missing only what the server says is gone.
//
// Seeded: the seed is printed; `CHAOS_SEED=<n> node --test tests/chaos.test.mjs` replays its
// choices (the runtime's own timing still varies). `CHAOS_EVENTS` and `CHAOS_SUBSCRIBERS` make a
// bigger run.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { EventSource } from "eventsource";
import { startWorker } from "./support/worker.mjs";
import { ledger, rawSubscriber } from "./support/resuming.mjs";
import { token, publish, history, subscriberTokens, taskProgress, sleep } from "./support/client.mjs";
import { readMetrics } from "./support/metrics.mjs";

const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const EVENTS = Number(process.env.CHAOS_EVENTS ?? 3000);
const SUBSCRIBERS = Number(process.env.CHAOS_SUBSCRIBERS ?? 200);
const EVENTSOURCE_CLIENTS = Math.round(SUBSCRIBERS / 10); // the rest speak raw HTTP
const RATE = 60; // events per second, steady
const RETAINED = Math.min(1000, Math.floor(EVENTS / 3)); // HISTORY_MAX_EVENTS: the laggard stays away for more than this
const MEAN_BYTES_BETWEEN_CUTS = 40_000; // about 250 frames
// Away for at most a third of the time retention lasts, so only the laggard falls beyond it.
const MAX_AWAY_MS = Math.min(1000, Math.floor(((RETAINED / RATE) * 1000) / 3));

/** mulberry32: a small seeded PRNG, so a seed replays the same choices. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);
const between = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const bytesUntilCut = () => Math.max(1, Math.round(-Math.log(1 - random()) * MEAN_BYTES_BETWEEN_CUTS));

let server;
after(async () => server?.stop());

const state = { chaos: true, published: 0, done: false };
/** Cuts at random until the publisher is done, and comes back within MAX_AWAY_MS. */
const chaotic = { bytesUntilCut: () => (state.chaos ? bytesUntilCut() : Infinity), awayMs: () => between(0, MAX_AWAY_MS) };

/**
 * A subscriber through the `eventsource` package (the WHATWG EventSource): its network breaks
 * under it at random moments, and it reconnects by itself with Last-Event-ID, as a browser does.
 */
function eventSourceSubscriber(url, tok, l) {
  const cutting = (response) => {
    l.connects += 1;
    if (response.status === 200) l.opens += 1;
    if (!state.chaos || !response.body) return response;
    let budget = bytesUntilCut();
    const body = response.body.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          if (state.chaos && chunk.length >= budget) {
            controller.enqueue(chunk.subarray(0, budget));
            l.cuts += 1;
            controller.error(new Error("cut by the chaos test"));
            return;
          }
          budget -= chunk.length;
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(body, { status: response.status, headers: response.headers });
  };
  // `lastEventId=0`: the position it starts from (see the raw subscriber); once it has seen an
  // event, its own Last-Event-ID header wins over the query.
  const es = new EventSource(`${url}/v1/stream?token=${tok}&lastEventId=0`, { fetch: (input, init) => fetch(input, init).then(cutting) });
  for (const type of ["task.progress", "task.completed"]) es.addEventListener(type, (e) => l.accept(e.lastEventId, e.data));
  return { close: () => es.close() };
}

test(`chaos resume: ${SUBSCRIBERS} subscribers cut at random, ${EVENTS} events, every one delivered exactly once in order (seed ${SEED})`, async (t) => {
  t.diagnostic(`seed ${SEED} (CHAOS_SEED=${SEED} replays it)`);
  server = await startWorker({ vars: { HISTORY_MAX_EVENTS: String(RETAINED), RETRY_MS: "250" } });
  const org = `chaos-${SEED}`;
  const tok = await token(org);
  const metricsTok = await token(org, "metrics");
  const started = Date.now();

  const ledgers = [];
  const clients = [];
  // Each subscriber is its own user, as in a deployment.
  const users = await subscriberTokens(org, SUBSCRIBERS);
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const l = ledger(i < EVENTSOURCE_CLIENTS ? `eventsource-${i}` : `raw-${i}`);
    ledgers.push(l);
    const own = users[i];
    clients.push(i < EVENTSOURCE_CLIENTS ? eventSourceSubscriber(server.url, own, l) : rawSubscriber(server.url, own, l, chaotic));
  }

  // The laggard: reads the first events, leaves, and comes back when more than the retained
  // number of events were published after what it saw.
  const laggard = ledger("laggard");
  const laggardTok = await token(org, "subscribe", { claims: { sub: "laggard" } });
  let laggardClient = rawSubscriber(server.url, laggardTok, laggard);
  // Whatever happens, nothing keeps running after the test: a failure must not become a hang.
  t.after(() => {
    state.chaos = false;
    state.aborted = true;
    for (const c of [...clients, laggardClient]) c.close();
  });
  /** Waits for `ready()`, failing with `what` after `ms` (a stuck run says where it stuck). */
  const until = async (ready, what, ms = 120_000) => {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (state.aborted || Date.now() > deadline) throw new Error(`chaos: gave up waiting for ${what}`);
      await sleep(20);
    }
  };
  const laggardBack = (async () => {
    await until(() => laggard.last >= 20 || laggard.problems.length > 0, "the laggard's first 20 events");
    if (laggard.problems.length) throw new Error(`laggard: ${laggard.problems.join("; ")}`);
    laggardClient.close();
    const seen = laggard.last;
    await until(() => state.published >= seen + RETAINED + Math.floor(RETAINED / 5), "the publisher to pass retention");
    let resetData = null;
    const reset = until(() => resetData !== null, "the laggard's stream.reset", 30_000).then(() => resetData);
    await new Promise((resolve) => {
      laggardClient = rawSubscriber(server.url, laggardTok, laggard, {
        awayMs: () => between(0, MAX_AWAY_MS),
        onReset: (data) => {
          laggard.last = Number(data.latestId); // live events go on from the server's latest
          resetData = data;
        },
      });
      resolve();
    });
    await reset;
    const resetFrame = resetData;
    // Live events go on arriving; history fills in what is still retained, de-duplicated by id.
    const recovered = new Map();
    let after = Number(resetFrame.earliestId) - 1;
    let gapAfter = null;
    for (;;) {
      const page = await history(server.url, laggardTok, { after: String(after), limit: "1000" });
      assert.equal(page.status, 200);
      if (page.body.gap && gapAfter === null) gapAfter = Number(page.body.earliestId); // pruned meanwhile
      for (const e of page.body.events) recovered.set(Number(e.id), e);
      if (!page.body.hasMore) break;
      after = Number(page.body.events.at(-1).id);
    }
    return { seen, reset: resetFrame, recovered, gapAfter };
  })();

  // Progress, so a long run is not silent (and a stuck one says where).
  const everyone = [...ledgers, laggard];
  let phase = "connecting";
  const progress = setInterval(() => {
    const lasts = ledgers.map((l) => l.last);
    console.error(
      `chaos: ${phase}; published ${state.published}/${EVENTS}; subscribers at ${Math.min(...lasts)}..${Math.max(...lasts)}; ` +
        `laggard at ${laggard.last}; ${everyone.reduce((n, l) => n + l.cuts, 0)} cuts`,
    );
  }, 10_000);
  t.after(() => clearInterval(progress));

  // Wait until every subscriber is connected once, then publish at a steady rate.
  await until(() => ledgers.every((l) => l.opens > 0), "every subscriber's first connection", 60_000);
  await sleep(500);
  phase = "publishing";
  const ids = [];
  const rejected = [];
  const t0 = Date.now();
  const metricsBefore = await readMetrics(server.url, metricsTok);
  let requests = 0;
  while (state.published < EVENTS) {
    // Now and then a burst of publishes at once, so the hub coalesces (events queued while it
    // fans out go together).
    const burst = random() < 0.3 ? between(2, 4) : 1;
    const bodies = [];
    for (let b = 0; b < burst && state.published < EVENTS; b++) {
      const size = random() < 0.6 ? 1 : Math.min(between(2, 20), EVENTS - state.published);
      const first = state.published;
      bodies.push(size === 1 ? taskProgress(`e${first}`) : { events: Array.from({ length: size }, (_, k) => taskProgress(`e${first + k}`)) });
      state.published += size;
    }
    requests += bodies.length;
    for (const r of await Promise.all(bodies.map((body) => publish(server.url, tok, body)))) {
      if (r.status !== 202) rejected.push(`${r.status} ${JSON.stringify(r.body)}`);
      else ids.push(...r.body.ids.map(Number));
    }
    const due = t0 + (state.published / RATE) * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
  }
  state.chaos = false;
  const publishSeconds = (Date.now() - t0) / 1000;
  assert.deepEqual(rejected, [], "every publish was accepted");
  ids.sort((a, b) => a - b);
  assert.deepEqual(ids, Array.from({ length: EVENTS }, (_, i) => i + 1), "ids are 1..N, each once");
  const metricsAfter = await readMetrics(server.url, metricsTok);
  const fanOuts = metricsAfter.value("orgstream_send_duration_seconds") - metricsBefore.value("orgstream_send_duration_seconds");
  assert.ok(fanOuts < requests, `publishes went out coalesced: ${requests} publish requests in ${fanOuts} fan-outs`);

  phase = "waiting for the laggard";
  const lag = await laggardBack;
  phase = "waiting for every subscriber to reach the end";
  const deadline = Date.now() + 90_000;
  while (everyone.some((l) => l.last < EVENTS) && Date.now() < deadline) await sleep(100);
  for (const c of [...clients, laggardClient]) c.close();
  const behind = everyone.filter((l) => l.last < EVENTS).map((l) => `${l.name} at ${l.last}`);
  assert.deepEqual(behind, [], "every subscriber reached the last event");

  for (const l of ledgers) {
    assert.deepEqual(l.problems, [], `${l.name}: every event exactly once, in order`);
    assert.equal(l.ids.length, EVENTS, `${l.name} has every event`);
  }

  // The laggard: everything it saw before leaving, in order; `stream.reset` for the gap; then all
  // of what was still retained (history) and live, with nothing missing after the point the
  // server said it still had.
  assert.equal(lag.reset.reason, "history_gap");
  const firstKept = lag.gapAfter ?? Number(lag.reset.earliestId);
  assert.ok(firstKept > lag.seen + 1, "the laggard really fell beyond retention");
  const live = laggard.ids.filter((id) => id > lag.seen);
  const have = new Set([...lag.recovered.keys(), ...live]);
  const missing = [];
  for (let id = firstKept; id <= EVENTS; id++) if (!have.has(id)) missing.push(id);
  assert.deepEqual(missing, [], "after stream.reset, history and the stream together hold every event still retained");
  assert.deepEqual(laggard.ids.slice(0, laggard.ids.indexOf(lag.seen) + 1), Array.from({ length: lag.seen }, (_, i) => i + 1));
  assert.deepEqual(laggard.problems, [], "laggard: in order before it left, and live events in order after the reset");

  const cuts = everyone.reduce((n, l) => n + l.cuts, 0);
  const connects = everyone.reduce((n, l) => n + l.connects, 0);
  const summary =
    `chaos: seed ${SEED}, ${SUBSCRIBERS} subscribers (${EVENTSOURCE_CLIENTS} eventsource) + 1 laggard, ${EVENTS} events in ${publishSeconds.toFixed(1)} s, ` +
    `${cuts} cuts injected, ${connects} connects, ${requests} publish requests in ${fanOuts} fan-outs, laggard lost ${firstKept - lag.seen - 1} events (reported by stream.reset) and recovered ${lag.recovered.size} from history, ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s in all`;
  t.diagnostic(summary);
  console.log(summary);
});
