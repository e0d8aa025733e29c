// Fakes for the client's unit tests: a clock driven by the test, an EventSource the test plays the
// server for, a network that can go away, and a fetch that answers from a fake event log.

export class FakeClock {
  constructor() {
    this.t = 0;
    this.timers = new Map();
    this.next = 1;
  }
  setTimeout(fn, ms) {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  now() {
    return this.t;
  }
  get pending() {
    return this.timers.size;
  }
  /** The delay until the next timer fires (or null). */
  nextDelay() {
    let min = null;
    for (const { at } of this.timers.values()) if (min === null || at < min) min = at;
    return min === null ? null : min - this.t;
  }
  /** Advances time, firing due timers in order. */
  async advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let due = null;
      for (const [id, timer] of this.timers) if (timer.at <= end && (due === null || timer.at < due[1].at)) due = [id, timer];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

export const flush = async () => {
  for (let i = 0; i < 50; i++) await Promise.resolve();
};

export function makeEventSource() {
  const instances = [];
  class FakeEventSource {
    constructor(url) {
      this.url = new URL(url, "http://host");
      this.listeners = new Map();
      this.onopen = null;
      this.onerror = null;
      this.closed = false;
      instances.push(this);
    }
    addEventListener(type, fn) {
      if (!this.listeners.has(type)) this.listeners.set(type, new Set());
      this.listeners.get(type).add(fn);
    }
    removeEventListener(type, fn) {
      this.listeners.get(type)?.delete(fn);
    }
    close() {
      this.closed = true;
    }
    listens(type) {
      return (this.listeners.get(type)?.size ?? 0) > 0;
    }
    get listenerCount() {
      let n = 0;
      for (const set of this.listeners.values()) n += set.size;
      return n + (this.onopen ? 1 : 0) + (this.onerror ? 1 : 0);
    }
    // The test plays the server:
    open() {
      this.onopen?.({});
    }
    error() {
      this.onerror?.({});
    }
    emit(type, data) {
      for (const fn of this.listeners.get(type) ?? []) fn({ type, data });
    }
    heartbeat() {
      this.emit("heartbeat", JSON.stringify({ ts: "2026-11-25T07:00:00.000Z" }));
    }
  }
  return { FakeEventSource, instances, get latest() { return instances.at(-1); } };
}

export function fakeNetwork(online = true) {
  const subs = new Set();
  return {
    online,
    isOnline() {
      return this.online;
    },
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
    set(value) {
      this.online = value;
      for (const fn of [...subs]) fn();
    },
    get subscribers() {
      return subs.size;
    },
  };
}

export const envelope = (id, type = "task.progress") =>
  JSON.stringify({ id: String(id), type, ts: "2026-11-25T07:00:00.000Z", data: { taskId: `t${id}`, progress: 0.5 } });

/**
 * navigator.locks for tests: exclusive locks, granted in request order; a queued request can be
 * aborted; `steal` takes the lock from its holder (whose request rejects) at once.
 */
export class FakeLocks {
  constructor() {
    this.held = new Map();
    this.queues = new Map();
  }
  request(name, options, callback) {
    return new Promise((resolve, reject) => {
      const entry = { callback, resolve, reject };
      const queue = this.queues.get(name) ?? [];
      this.queues.set(name, queue);
      if (options.steal) {
        // The holder loses the lock (its request rejects); the stealer holds it at once.
        const holder = this.held.get(name);
        if (holder) {
          holder.stolen = true;
          holder.reject(new Error("AbortError"));
        }
        this.held.delete(name);
        queue.unshift(entry);
        this.grant(name);
        return;
      }
      options.signal?.addEventListener("abort", () => {
        const at = queue.indexOf(entry);
        if (at < 0) return;
        queue.splice(at, 1);
        reject(new Error("AbortError"));
      });
      queue.push(entry);
      this.grant(name);
    });
  }
  grant(name) {
    if (this.held.has(name)) return;
    const next = this.queues.get(name)?.shift();
    if (!next) return;
    this.held.set(name, next);
    Promise.resolve()
      .then(() => next.callback({ name }))
      .then(next.resolve, next.reject)
      .finally(() => {
        if (next.stolen) return; // already replaced by the stealer
        this.held.delete(name);
        this.grant(name);
      });
  }
}

/** A page's lifecycle events (freeze, resume), fired by the test. */
export class FakeLifecycle extends EventTarget {
  fire(type) {
    this.dispatchEvent(new Event(type));
  }
}

/** A token the client can read its org and subject from (the signature is not checked here). */
export const fakeJwt = (org, sub, n = 0) =>
  `${btoa(JSON.stringify({ alg: "HS256" }))}.${btoa(JSON.stringify({ org, sub, n })).replace(/=+$/, "")}.sig`;

/** Lets BroadcastChannel messages (delivered on later turns of the event loop) arrive. */
export const settle = () => new Promise((r) => setTimeout(r, 20));
