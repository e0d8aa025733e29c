// One org stream's side of tab sharing: whether this tab leads (holds the stream and relays it) or
// follows (is handed the leader's events, status and resyncs), and how a follower catches up so
// that it misses nothing and, should it come to lead, resumes from where it is, never live.
// tabs.ts is the link between tabs (locks, channel, lifecycle); stream.ts runs the stream and
// hands this module what it needs from it.

import type { AuthError } from "./api.js";
import type { Input, Machine } from "./machine.js";
import type { Clock, ResyncInfo } from "./options.js";
import { joinTabs, shareName, type TabEnvironment, type TabLink, type TabMessage } from "./tabs.js";

/** What sharing needs from the stream it shares. */
export interface SharedStream {
  env: TabEnvironment;
  /** The worker's base URL (part of the share's name). */
  base: string;
  getToken(): string | Promise<string>;
  clock: Clock;
  /** How long a connected leader may stay silent before a follower takes over. */
  heartbeatTimeoutMs: number;
  /** The server's refusal of the token, while the status is unauthorized. */
  authError(): AuthError | null;
  /** The stream's state machine: its current state, and an input to it. */
  machine(): Machine;
  dispatch(input: Input): void;
  /** The leader's stream was refused its token (or no longer is: null), as the leader relayed. */
  heardAuthError(error: AuthError | null): void;
  /** Hands on an envelope (validated, de-duplicated, in id order). */
  deliver(raw: string): void;
  resync(info: ResyncInfo): void;
  /** Whether the stream has a last id to resume from. */
  hasLastId(): boolean;
  /** Learns the org's latest id when the stream has none. */
  learnPosition(token: string): Promise<void>;
  /** Reads history after the last id, handing each event on, while `current()` holds. */
  readHistory(current: () => boolean): Promise<void>;
}

export interface TabShare {
  /** Whether this tab holds the stream. */
  readonly leading: boolean;
  /** Tells the followers what the leader's stream did; nothing when this tab follows. */
  relay(message: TabMessage): void;
  /** A follower's reconnect(): asks the leading tab to try its stream again. */
  askLeaderToReconnect(): void;
  close(): void;
}

/**
 * Joins the other tabs of this org and user (the token names the share). The channel opens first;
 * then a follower reads what came since its last id (or learns the org's latest id), holding the
 * relays meanwhile. Without a token the tab streams on its own; the machine retries and reports.
 */
export function shareTabs(stream: SharedStream): TabShare {
  let link: TabLink | null = null;
  let leading = false;
  let closed = false;

  const clear = (timer: unknown) => {
    if (timer !== null) stream.clock.clearTimeout(timer);
    return null;
  };

  /**
   * Events relayed while this tab reads history after its last id (joining with a lastEventId, or
   * resumed after a freeze), held until the history is in: delivered before it, they would move
   * the last id past what history brings, and those events would be dropped as old.
   */
  let relayed: string[] | null = null;

  /**
   * A follower with a last id reads what came after it, holding relays meanwhile. One without
   * (a fresh tab) learns the org's latest id, to resume from there should it come to lead; relays
   * are delivered as they come (learning the position never moves past a delivered event).
   */
  const catchUp = async (token?: string) => {
    if (leading || closed || relayed) return;
    if (!stream.hasLastId()) {
      try {
        await stream.learnPosition(token ?? (await stream.getToken()));
      } catch {
        // History unreachable: start from the relays.
      }
      return;
    }
    relayed = [];
    try {
      await stream.readHistory(() => !leading && !closed);
    } catch {
      // History unreachable: the relays go on; a later resume tries again.
    }
    const held = relayed;
    relayed = null;
    for (const raw of held) stream.deliver(raw);
  };

  /**
   * A follower watches the leader: while the leader says it is connected, its stream has
   * heartbeats and events, which it relays; silence past heartbeatTimeoutMs means the leading tab
   * is gone without releasing the lock (frozen without notice, hung), so this tab takes the lead.
   */
  let watchdog: unknown = null;
  const watchLeader = () => {
    watchdog = clear(watchdog);
    const machine = stream.machine();
    if (leading || closed || machine.phase !== "following" || machine.status !== "connected") return;
    watchdog = stream.clock.setTimeout(() => {
      watchdog = null;
      if (!leading && !closed) link?.takeOver();
    }, stream.heartbeatTimeoutMs);
  };

  /** What the other tabs said: a follower takes the leader's stream; the leader answers. */
  const hear = (message: TabMessage) => {
    if (leading) {
      if (message.kind === "hello") link?.post({ kind: "status", status: stream.machine().status, error: stream.authError() });
      else if (message.kind === "reconnect") stream.dispatch({ type: "start" });
      return;
    }
    if (message.kind === "event") {
      if (relayed) relayed.push(message.raw);
      else stream.deliver(message.raw);
    } else if (message.kind === "status") {
      stream.heardAuthError(message.error ?? null);
      stream.dispatch({ type: "leader-status", status: message.status });
    }
    else if (message.kind === "resync") stream.resync(message.info);
    // Anything but a hello or a reconnect comes from the leader: it is alive.
    if (message.kind !== "hello" && message.kind !== "reconnect") watchLeader();
  };

  const join = async () => {
    let name: string | null = null;
    let token: string | undefined;
    try {
      token = await stream.getToken();
      name = shareName(stream.base, token);
    } catch {
      // No token yet: stream on our own.
    }
    if (closed) return;
    if (!name) {
      leading = true;
      stream.dispatch({ type: "lead" });
      return;
    }
    link = joinTabs(stream.env, name, {
      lead: () => {
        leading = true;
        watchdog = clear(watchdog);
        stream.dispatch({ type: "lead" });
        link?.post({ kind: "status", status: stream.machine().status, error: stream.authError() });
      },
      follow: () => {
        leading = false;
        stream.dispatch({ type: "follow" });
        watchLeader();
      },
      message: hear,
      resumed: () => void catchUp(),
    });
    await catchUp(token);
  };
  void join();

  return {
    get leading() {
      return leading;
    },
    relay(message) {
      if (leading) link?.post(message);
    },
    askLeaderToReconnect() {
      link?.post({ kind: "reconnect" });
    },
    close() {
      closed = true;
      watchdog = clear(watchdog);
      link?.close();
      link = null;
      leading = false;
    },
  };
}
