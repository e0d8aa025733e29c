// One stream per browser, shared by its tabs: the tabs of one org and user elect a leader with the
// Web Locks API (the lock is held while the tab leads, and released by the browser when the tab
// closes, crashes or is discarded), and the leader relays what its stream delivers to the others
// over a BroadcastChannel. Every tab still validates, orders and de-duplicates what it is given
// (stream.ts). This file is the link between tabs; stream.ts decides what to do with it.

import type { ConnectionStatus } from "./machine.js";

/** What tabs tell each other. */
export type TabMessage =
  /** An envelope as the leader's stream delivered it (the raw text, validated by each tab). */
  | { kind: "event"; raw: string }
  /** The leader's status (on every change, and in answer to `hello`). */
  | { kind: "status"; status: ConnectionStatus }
  /** The leader's stream was told to resync (stream.reset). */
  | { kind: "resync"; info: { reason: "history_gap" | "unknown_id"; earliestId: string | null; latestId: string | null } }
  /** A tab joined: the leader answers with its status. */
  | { kind: "hello" }
  /** A follower's reconnect(): the leader tries its stream again. */
  | { kind: "reconnect" };

/** The parts of `navigator.locks` this uses. */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown>;
}

/** The parts of `BroadcastChannel` this uses. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

export interface TabEnvironment {
  locks: LockManagerLike;
  BroadcastChannel: new (name: string) => ChannelLike;
  /** Where the page's lifecycle events come from (`document`): the leader steps down on `freeze`. */
  lifecycle?: { addEventListener(type: string, fn: () => void): void; removeEventListener(type: string, fn: () => void): void };
}

/** The browser's Web Locks and BroadcastChannel, when it has both. */
export function browserTabs(): TabEnvironment | null {
  const g = globalThis as {
    navigator?: { locks?: LockManagerLike };
    BroadcastChannel?: new (name: string) => ChannelLike;
    document?: TabEnvironment["lifecycle"];
  };
  if (!g.navigator?.locks || !g.BroadcastChannel) return null;
  return { locks: g.navigator.locks, BroadcastChannel: g.BroadcastChannel, lifecycle: g.document };
}

/**
 * The name tabs share a stream under: the worker, the token's org and subject. Tabs of other
 * orgs or users (other tokens) stream on their own. `null` when the token cannot be read.
 */
export function shareName(base: string, token: string): string | null {
  try {
    const part = token.split(".")[1];
    if (!part) return null;
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as { org?: unknown; sub?: unknown };
    if (typeof claims.org !== "string" || typeof claims.sub !== "string") return null;
    return `orgstream ${base} ${claims.org} ${claims.sub}`;
  } catch {
    return null;
  }
}

export interface TabLink {
  post(message: TabMessage): void;
  close(): void;
}

export interface TabHandlers {
  /** This tab holds the lock: it runs the stream now. */
  lead(): void;
  /** This tab stopped leading (it is being frozen): another tab takes over. */
  follow(): void;
  message(message: TabMessage): void;
  /** The page was frozen and runs again: what was relayed meanwhile may be lost. */
  resumed(): void;
}

/**
 * Joins the tabs sharing `name`: waits for the lock (leading while it holds it) and listens on the
 * channel. The leader steps down when its page is frozen, so a frozen tab never holds the stream;
 * a resumed page queues for the lock again, and hears `resumed` to catch up on what it missed.
 */
export function joinTabs(env: TabEnvironment, name: string, on: TabHandlers): TabLink {
  const channel = new env.BroadcastChannel(name);
  channel.onmessage = (e) => on.message(e.data as TabMessage);
  let closed = false;
  let stepDown: (() => void) | null = null; // releases the lock while leading
  let abort: AbortController | null = null; // cancels a queued request

  let competing = false; // a request is queued or held: one at a time per tab
  const compete = () => {
    if (closed || competing) return;
    competing = true;
    const controller = new AbortController();
    abort = controller;
    env.locks
      .request(name, { signal: controller.signal }, () => {
        abort = null;
        if (closed) return Promise.resolve();
        return new Promise<void>((release) => {
          stepDown = release;
          on.lead();
        });
      })
      .catch(() => {
        // Aborted while queued (close, freeze): nothing was held.
      })
      .finally(() => {
        competing = false;
      });
  };

  const onFreeze = () => {
    if (stepDown) {
      const release = stepDown;
      stepDown = null;
      on.follow();
      release();
    } else {
      abort?.abort();
      abort = null;
    }
  };
  const onResume = () => {
    compete();
    on.resumed();
  };
  env.lifecycle?.addEventListener("freeze", onFreeze);
  env.lifecycle?.addEventListener("resume", onResume);

  compete();
  channel.postMessage({ kind: "hello" } satisfies TabMessage);

  return {
    post(message) {
      if (!closed) channel.postMessage(message);
    },
    close() {
      closed = true;
      env.lifecycle?.removeEventListener("freeze", onFreeze);
      env.lifecycle?.removeEventListener("resume", onResume);
      abort?.abort();
      stepDown?.();
      stepDown = null;
      channel.close();
    },
  };
}
