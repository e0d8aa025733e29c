// Restart under load: the runtime is killed (SIGKILL: no graceful stop) in the middle of a stream
// of publishes, and started again on the same storage and port. The publisher retries every
// publish that got no 202 with the same Idempotency-Key, as a backend should, until it is
// answered: every publish must then be stored exactly once (none lost, none twice, even when the
// lost answer was to a publish that had been stored), with the ids its 202 gave, ids must go on
// without reuse, and subscribers must resume and reach the end with every event once, in order.
// Several kills per run; `RESTART_KILLS` changes how many.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support/worker.mjs";
import { token, history, sleep } from "./support/client.mjs";
import { ledger, rawSubscriber } from "./support/resuming.mjs";

const KILLS = Number(process.env.RESTART_KILLS ?? 3);
const SUBSCRIBERS = 20;

let server;
after(async () => server?.stop());

/** Every event of the org, all pages. */
async function everything(url, tok) {
  const events = [];
  let after = 0;
  for (;;) {
    const page = await history(url, tok, { after: String(after), limit: "1000" });
    assert.equal(page.status, 200, JSON.stringify(page.body));
    events.push(...page.body.events);
    if (!page.body.hasMore) return events;
    after = Number(page.body.events.at(-1).id);
  }
}

test(`restart under load: ${KILLS} kills of the runtime mid-publish; publishes retried with their Idempotency-Key are stored exactly once, subscribers reach the end`, async (t) => {
  server = await startWorker({ vars: { RETRY_MS: "200" } });
  const url = server.url;
  const tok = await token("restart-load");
  let publishing = true;
  const subscribers = Array.from({ length: SUBSCRIBERS }, (_, i) => ledger(`subscriber-${i}`));
  const clients = subscribers.map((l) => rawSubscriber(url, tok, l, { awayMs: () => 100 + Math.floor(Math.random() * 200) }));
  // Whatever happens, nothing keeps running after the test: a failure must not become a hang.
  t.after(() => {
    publishing = false;
    for (const c of clients) c.close();
  });

  // One publisher at a time, as fast as answers come: each request's events carry its number, so
  // what was stored can be traced to the request. A request without a 202 (cut off by a kill, or
  // refused while the runtime starts) is sent again, same key and body, until it gets one.
  const acknowledged = new Map(); // request number -> ids given
  let retries = 0;
  let replayed = 0; // 202s given from the kept answer: the first attempt had been stored
  let request = 0;
  const publisher = (async () => {
    while (publishing) {
      const n = request++;
      const size = n % 4 === 0 ? 5 : 1;
      const events = Array.from({ length: size }, (_, k) => ({ type: "task.progress", data: { taskId: `r${n}-${k}`, progress: 0.5 } }));
      const body = JSON.stringify(size === 1 ? events[0] : { events });
      for (let attempt = 0; ; attempt++) {
        if (attempt > 0) retries++;
        let r;
        try {
          r = await fetch(`${url}/v1/events`, {
            method: "POST",
            headers: { authorization: `Bearer ${tok}`, "content-type": "application/json", "idempotency-key": `restart-load-${n}` },
            body,
            signal: AbortSignal.timeout(10_000),
          });
        } catch {
          await sleep(50); // the runtime is down: try again shortly
          continue;
        }
        const answer = await r.json().catch(() => null);
        if (answer === null) {
          // The answer was cut off (a kill mid-body): as good as none, so send it again.
          await sleep(50);
          continue;
        }
        if (r.status === 202) {
          acknowledged.set(n, answer.ids.map(Number));
          if (r.headers.get("idempotent-replayed") === "true") replayed++;
          break;
        }
        assert.ok(r.status >= 500, `request ${n}: only an outage may refuse it, got ${r.status} ${JSON.stringify(answer)}`);
        await sleep(50);
      }
    }
  })();

  // Each phase, before the first kill and after each restart, must see publishes acknowledged:
  // a worker that refused everything after a restart would otherwise pass.
  const acknowledgedBy = [];
  for (let k = 0; k < KILLS; k++) {
    await sleep(1500);
    acknowledgedBy.push(acknowledged.size);
    await server.kill();
    await sleep(300);
    server = await server.start();
  }
  await sleep(1500);
  acknowledgedBy.push(acknowledged.size);
  publishing = false;
  await publisher;
  acknowledgedBy.forEach((n, k) => assert.ok(n > (acknowledgedBy[k - 1] ?? 0), `publishes were acknowledged in phase ${k} (${acknowledgedBy.join(", ")})`));

  // History: every acknowledged event with its id; nothing twice; ids 1..N without a hole that an
  // acknowledged event should fill.
  const stored = await everything(url, tok);
  const ids = stored.map((e) => Number(e.id));
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), "history is in id order");
  assert.equal(new Set(ids).size, ids.length, "no id is used twice");
  const byTask = new Map();
  for (const e of stored) {
    const key = e.data.taskId;
    assert.ok(!byTask.has(key), `${key} is stored once, not twice (ids ${byTask.get(key)} and ${e.id})`);
    byTask.set(key, Number(e.id));
  }
  assert.equal(acknowledged.size, request, "every request was answered in the end");
  const lost = [];
  for (const [n, given] of acknowledged) {
    given.forEach((id, k) => {
      if (byTask.get(`r${n}-${k}`) !== id) lost.push(`request ${n} event ${k}: acknowledged as ${id}, stored as ${byTask.get(`r${n}-${k}`)}`);
    });
  }
  assert.deepEqual(lost, [], "every acknowledged event is in history with the id it was given");
  assert.equal(stored.length, [...acknowledged.values()].reduce((n, given) => n + given.length, 0), "nothing stored but what was acknowledged");

  // Subscribers: each reaches the last stored event, with every stored event once, in order.
  const last = ids.at(-1);
  const deadline = Date.now() + 30_000;
  while (subscribers.some((l) => l.last < last) && Date.now() < deadline) await sleep(100);
  for (const c of clients) c.close();
  for (const l of subscribers) {
    const problems = l.problems.filter((p) => !/^status 5\d\d/.test(p)); // refused while the runtime started
    assert.deepEqual(problems, [], `${l.name}: every event once, in order`);
    assert.deepEqual(l.ids, ids, `${l.name} has every stored event`);
  }

  const summary =
    `restart under load: ${KILLS} SIGKILLs, ${request} publish requests, ${retries} retries with their key ` +
    `(${replayed} answered from the kept answer: stored once, not twice), ${ids.length} events stored, each once, ` +
    `${SUBSCRIBERS} subscribers each with all ${ids.length}, ${subscribers.reduce((n, l) => n + l.connects, 0)} connects`;
  t.diagnostic(summary);
  console.log(summary);
});
