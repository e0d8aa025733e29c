// One stream per browser, shared by its tabs: the tabs of one org and user elect a leader with the
// Web Locks API (the lock is held while the tab leads, and released by the browser when the tab
// closes, crashes or is discarded; the leader gives it up itself when its page is frozen, and a
// follower takes it, `steal`, from a leader that went silent), and the leader relays what its
// stream delivers to the others over a BroadcastChannel. Every tab still validates, orders and de-duplicates what it is given
// (stream.ts). This file is the link between tabs; stream.ts decides what to do with it.

import type { ResyncInfo } from "@orgstream/schema";
import type { AuthError } from "./api.js";
import type { ConnectionStatus } from "./machine.js";
import { readClaims } from "./tokens.js";

/** What tabs tell each other. */
export type TabMessage =
  /** An envelope as the leader's stream delivered it (the raw text, validated by each tab). */
  | { kind: "event"; raw: string }
  /** The leader's status (on every change, and in answer to `hello`), and why, when its token was refused. */
  | { kind: "status"; status: ConnectionStatus; error?: AuthError | null }
  /** The leader's stream was told to resync (stream.reset). */
  | { kind: "resync"; info: ResyncInfo }
  /** A tab joined: the leader answers with its status. */
  | { kind: "hello" }
  /** A follower's reconnect(): the leader tries its stream again. */
  | { kind: "reconnect" }
  /** The leader's stream had a heartbeat: the leader is alive (events say so too). */
  | { kind: "beat" };

/** The parts of `navigator.locks` this uses. */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal; steal?: boolean }, callback: (lock: unknown) => Promise<void>): Promise<unknown>;
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
  const claims = readClaims(token);
  if (typeof claims?.org !== "string" || typeof claims.sub !== "string") return null;
  return `orgstream ${base} ${claims.org} ${claims.sub}`;
}

export interface TabLink {
  post(message: TabMessage): void;
  /** Takes the lead from a leading tab that went silent (frozen without notice, hung). */
  takeOver(): void;
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
  let frozen = false;
  let stepDown: (() => void) | null = null; // releases the lock while leading
  let queued: AbortController | null = null; // cancels the request waiting in the queue

  /** Asks for the lock: waits in the queue, or (`steal`) takes it from a leader that went silent. */
  const acquire = (steal: boolean) => {
    if (closed || frozen || stepDown || (queued && !steal)) return;
    queued?.abort();
    const controller = steal ? null : new AbortController();
    queued = controller;
    let held = false;
    env.locks
      .request(name, controller ? { signal: controller.signal } : { steal: true }, () => {
        if (queued === controller) queued = null;
        if (closed) return Promise.resolve();
        held = true;
        return new Promise<void>((release) => {
          stepDown = release;
          on.lead();
        });
      })
      .then(
        () => {
          // Released by this tab (freeze, close).
        },
        () => {
          if (queued === controller) queued = null;
          if (!held) return; // aborted while waiting in the queue
          // Stolen: another tab found this one silent and leads now. Follow, and queue again.
          stepDown = null;
          on.follow();
          acquire(false);
        },
      );
  };

  const onFreeze = () => {
    frozen = true;
    const release = stepDown;
    stepDown = null;
    if (release) {
      on.follow();
      release();
    }
    queued?.abort();
    queued = null;
  };
  const onResume = () => {
    frozen = false;
    acquire(false);
    on.resumed();
  };
  env.lifecycle?.addEventListener("freeze", onFreeze);
  env.lifecycle?.addEventListener("resume", onResume);

  acquire(false);
  channel.postMessage({ kind: "hello" } satisfies TabMessage);

  return {
    post(message) {
      if (!closed) channel.postMessage(message);
    },
    takeOver() {
      acquire(true);
    },
    close() {
      closed = true;
      env.lifecycle?.removeEventListener("freeze", onFreeze);
      env.lifecycle?.removeEventListener("resume", onResume);
      queued?.abort();
      stepDown?.();
      stepDown = null;
      channel.close();
    },
  };
}
