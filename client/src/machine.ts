// The stream's states and every transition between them, as a pure function: given where the
// stream is and what just happened, where it goes, what status the page shows, and what to do.
// createOrgStream (stream.ts) runs the effects (EventSource, timers, fetch); this file decides.
//
//   connecting ──opened/alive──> streaming ──failed──> backing-off ──retry-due──> connecting
//        │                          │   └──expired──> connecting (status kept)
//        └──failed──> backing-off   └──replaced──> closed
//   the failuresBeforePolling-th failure in a row ──> polling ──start──> connecting
//     (its status: reconnecting until a poll answers, polling-fallback while polls answer, offline
//     while they fail)
//   connecting or polling ──refused──> unauthorized ──recheck-due / start──> connecting (status
//     kept until the stream opens): the token was refused (401/403), and a fresh one was too
//   any state ──offline──> offline ──online──> connecting;   any state ──close──> closed
//
// Tabs sharing one stream (tabs.ts): a tab that does not hold the stream is "following" (it shows
// the status the leading tab relays and ignores its own network and timers); `lead` makes it run
// the machine above from connecting, `follow` stops whatever it ran.

export type ConnectionStatus = "connected" | "reconnecting" | "polling-fallback" | "offline" | "unauthorized";

export type Phase =
  /** Getting a token and a ticket, opening the EventSource. */
  | "connecting"
  /** The EventSource has opened or delivered something; a silence timer is armed. */
  | "streaming"
  /** Waiting out the backoff delay before the next attempt. */
  | "backing-off"
  /** Too many failures in a row: reading history on a timer until the stream is tried again. */
  | "polling"
  /** The browser reports no network. */
  | "offline"
  /** The server refused the token (401/403), a fresh one too: waiting for a token that works. */
  | "unauthorized"
  /** close(), or the stream was taken over by another tab with the same requestId. */
  | "closed"
  /** Another tab of this browser holds the stream and relays it here. */
  | "following";

export interface Machine {
  readonly phase: Phase;
  readonly status: ConnectionStatus;
  /** Failed attempts in a row (reset once a stream delivers a heartbeat or an event). */
  readonly failures: number;
}

export type Input =
  /** The first start, reconnect(), or the network coming back. */
  | { type: "start" }
  /** The EventSource opened. */
  | { type: "opened" }
  /** A heartbeat, an event or a stream.reset arrived. */
  | { type: "alive" }
  /** The attempt or the stream failed: an error, a refused ticket, silence, stream.overflow. */
  | { type: "failed" }
  /** The backoff delay is over. */
  | { type: "retry-due" }
  /** The server refused the token (401/403 on a ticket or a poll), and a fresh token too. */
  | { type: "refused" }
  /** The unauthorized wait is over: try again with whatever token getToken gives now. */
  | { type: "recheck-due" }
  /** A poll was answered. */
  | { type: "poll-ok" }
  /** A poll got no answer (the network or the worker is away). */
  | { type: "poll-failed" }
  /** stream.expired: the token ran out. */
  | { type: "expired" }
  /** stream.replaced: another connection took this requestId. */
  | { type: "replaced" }
  | { type: "network-online" }
  | { type: "network-offline" }
  | { type: "close" }
  /** This tab now holds the shared stream. */
  | { type: "lead" }
  /** Another tab holds the shared stream now. */
  | { type: "follow" }
  /** The leading tab's status, relayed. */
  | { type: "leader-status"; status: ConnectionStatus };

export type Effect =
  /** Stop the EventSource, every timer and polling; work still in flight is ignored from now on. */
  | { type: "stop" }
  /** Get a token (and the starting position), trade it for a ticket, open the EventSource. */
  | { type: "open" }
  /** (Re)arm the silence timer: no heartbeat or event for heartbeatTimeoutMs is a failure. */
  | { type: "arm-silence" }
  /** Arm the backoff timer for attempt number `failures`. */
  | { type: "wait"; failures: number }
  /** Start reading history on a timer. */
  | { type: "poll" }
  /** Tell the app its stream was replaced. */
  | { type: "notify-replaced" }
  /** Tell the app its token was refused (onAuthError). */
  | { type: "notify-refused" }
  /** Arm the timer after which an unauthorized stream tries a token again. */
  | { type: "wait-for-token" };

export interface Settings {
  /** Whether the browser reports a network. */
  online: boolean;
  failuresBeforePolling: number;
}

export interface Step {
  machine: Machine;
  effects: Effect[];
}

export function initialMachine(online: boolean, shared = false): Machine {
  if (shared) return { phase: "following", status: "reconnecting", failures: 0 };
  return { phase: online ? "connecting" : "offline", status: online ? "reconnecting" : "offline", failures: 0 };
}

const stay = (machine: Machine): Step => ({ machine, effects: [] });

/** Where the stream goes from `machine` on `input`. */
export function transition(machine: Machine, input: Input, settings: Settings): Step {
  if (machine.phase === "closed") return stay(machine);
  const { phase, status, failures } = machine;
  if (phase === "following") return follow(machine, input, settings);
  switch (input.type) {
    case "start":
    case "network-online":
      if (input.type === "network-online" && phase !== "offline") return stay(machine);
      if (!settings.online) return { machine: { phase: "offline", status: "offline", failures }, effects: [{ type: "stop" }] };
      // A manual reconnect while connected keeps showing "connected" until something fails; one
      // while unauthorized keeps showing that until a token works.
      return {
        machine: { phase: "connecting", status: status === "connected" || status === "unauthorized" ? status : "reconnecting", failures: 0 },
        effects: [{ type: "stop" }, { type: "open" }],
      };
    case "opened":
      if (phase !== "connecting" && phase !== "streaming") return stay(machine);
      return { machine: { phase: "streaming", status: "connected", failures }, effects: [{ type: "arm-silence" }] };
    case "alive":
      if (phase !== "connecting" && phase !== "streaming") return stay(machine);
      return { machine: { phase: "streaming", status: "connected", failures: 0 }, effects: [{ type: "arm-silence" }] };
    case "failed": {
      if (phase !== "connecting" && phase !== "streaming") return stay(machine);
      if (!settings.online) return { machine: { phase: "offline", status: "offline", failures }, effects: [{ type: "stop" }] };
      const next = failures + 1;
      if (next >= settings.failuresBeforePolling) {
        // "Polling" only once a poll answers (poll-ok).
        return { machine: { phase: "polling", status: "reconnecting", failures: next }, effects: [{ type: "stop" }, { type: "poll" }] };
      }
      return {
        machine: { phase: "backing-off", status: "reconnecting", failures: next },
        effects: [{ type: "stop" }, { type: "wait", failures: next }],
      };
    }
    case "retry-due":
      if (phase !== "backing-off") return stay(machine);
      return { machine: { ...machine, phase: "connecting" }, effects: [{ type: "open" }] };
    case "refused":
      if (phase !== "connecting" && phase !== "streaming" && phase !== "polling") return stay(machine);
      return {
        machine: { phase: "unauthorized", status: "unauthorized", failures },
        // Told once per refusal that changes the status; a token still refused on a recheck is not news.
        effects: [{ type: "stop" }, ...(status === "unauthorized" ? [] : [{ type: "notify-refused" } as const]), { type: "wait-for-token" }],
      };
    case "recheck-due":
      if (phase !== "unauthorized") return stay(machine);
      return { machine: { ...machine, phase: "connecting" }, effects: [{ type: "open" }] };
    case "poll-ok":
    case "poll-failed":
      if (phase !== "polling") return stay(machine);
      return stay({ ...machine, status: input.type === "poll-ok" ? "polling-fallback" : "offline" });
    case "expired":
      // Not a failure: open again at once with a fresh token, from the last id; the status stays.
      if (phase !== "connecting" && phase !== "streaming") return stay(machine);
      return { machine: { ...machine, phase: "connecting" }, effects: [{ type: "stop" }, { type: "open" }] };
    case "replaced":
      return { machine: { phase: "closed", status: "offline", failures }, effects: [{ type: "stop" }, { type: "notify-replaced" }] };
    case "network-offline":
      return { machine: { phase: "offline", status: "offline", failures }, effects: [{ type: "stop" }] };
    case "close":
      return { machine: { ...machine, phase: "closed" }, effects: [{ type: "stop" }] };
    case "follow":
      return { machine: { ...machine, phase: "following", failures: 0 }, effects: [{ type: "stop" }] };
    case "lead":
    case "leader-status":
      return stay(machine);
  }
}

/** A tab that follows: it shows what the leading tab relays and waits to lead. */
function follow(machine: Machine, input: Input, settings: Settings): Step {
  switch (input.type) {
    case "leader-status":
      return stay({ ...machine, status: input.status });
    case "lead":
      if (!settings.online) return { machine: { phase: "offline", status: "offline", failures: 0 }, effects: [{ type: "stop" }] };
      // Taking over keeps the status the page showed until this tab's own stream says otherwise.
      return {
        machine: { phase: "connecting", status: machine.status === "connected" ? "connected" : "reconnecting", failures: 0 },
        effects: [{ type: "stop" }, { type: "open" }],
      };
    case "close":
      return { machine: { ...machine, phase: "closed" }, effects: [{ type: "stop" }] };
    default:
      // The leading tab's stream, network and timers decide; reconnect() is relayed to it (tabs.ts).
      return stay(machine);
  }
}
