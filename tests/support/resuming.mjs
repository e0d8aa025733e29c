// A resuming SSE subscriber over raw HTTP, and the ledger that checks what it received: every
// event exactly once, in id order, across any number of connections. Used by the chaos and
// restart tests.
import http from "node:http";
import { createParser } from "eventsource-parser";

/** Per subscriber: the ids in the order received, and what went wrong. */
export function ledger(name) {
  return {
    name,
    last: 0,
    ids: [],
    problems: [],
    connects: 0,
    opens: 0,
    cuts: 0,
    accept(id, data) {
      const n = Number(id);
      if (n !== this.last + 1) this.problems.push(`got ${n} after ${this.last}`);
      let envelope;
      try {
        envelope = JSON.parse(data);
      } catch {
        this.problems.push(`frame ${id}: data is not JSON: ${JSON.stringify(data.slice(0, 200))}`);
      }
      if (envelope && envelope.id !== id) this.problems.push(`frame id ${id} carries envelope ${envelope.id}`);
      this.last = Math.max(this.last, n);
      this.ids.push(n);
    },
  };
}

/**
 * A subscriber over raw HTTP: reads the body, and after a random number of bytes feeds only part
 * of a chunk to its parser and destroys the connection (a cut anywhere, mid-frame included), then
 * comes back after `awayMs()` with Last-Event-ID (also when the server was down: it retries).
 * `bytesUntilCut()` picks each connection's cut (Infinity: none).
 */
export function rawSubscriber(url, tok, l, { onReset, bytesUntilCut = () => Infinity, awayMs = () => 200 } = {}) {
  let closed = false;
  let current = null;
  const connect = () => {
    if (closed) return;
    l.connects += 1;
    let budget = bytesUntilCut();
    // Every subscriber starts from a known position (0: it connected before the first event), as
    // an app that loaded its state from history at `latestId` would; so a reconnect before the
    // first event still resumes rather than starting live.
    const headers = { "last-event-id": String(l.last) };
    const decoder = new TextDecoder();
    const parser = createParser({
      onEvent: (e) => {
        if (e.event === "stream.reset") {
          if (onReset) return onReset(JSON.parse(e.data));
          return l.problems.push(`stream.reset after ${l.last}: ${e.data}`);
        }
        if (e.id !== undefined) l.accept(e.id, e.data);
        else if (e.event !== "heartbeat") l.problems.push(`unexpected ${e.event} after ${l.last}: ${e.data}`);
      },
    });
    let retried = false;
    const again = () => {
      if (retried) return; // a cut can end both the response and the request
      retried = true;
      current = null;
      if (!closed) setTimeout(connect, awayMs());
    };
    const req = http.get(`${url}/v1/stream?token=${tok}`, { headers, agent: false }, (res) => {
      if (res.statusCode === 200) l.opens += 1;
      if (res.statusCode !== 200) {
        l.problems.push(`status ${res.statusCode}`);
        res.resume();
        return res.on("close", again); // "close" also when the socket dies before the body ends
      }
      let cut = false;
      res.on("data", (chunk) => {
        if (cut) return; // chunks already buffered when the connection was destroyed
        if (chunk.length >= budget) {
          cut = true;
          parser.feed(decoder.decode(chunk.subarray(0, budget), { stream: true }));
          l.cuts += 1;
          res.destroy();
          return;
        }
        budget -= chunk.length;
        parser.feed(decoder.decode(chunk, { stream: true }));
      });
      res.on("close", again);
    });
    req.on("error", again);
    current = { req };
  };
  connect();
  return {
    close() {
      closed = true;
      current?.req.destroy();
    },
  };
}

