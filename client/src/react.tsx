// React bindings: one shared stream per <OrgStreamProvider>, its status for the UI, and queries
// that the stream keeps fresh (TanStack Query's cache, updated with setQueryData or invalidated,
// per event type, by a small map the app provides).

import { createContext, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore, Component, type ReactNode, type ErrorInfo } from "react";
import { useQuery, useQueryClient, type QueryFunction, type QueryKey, type UseQueryOptions, type UseQueryResult } from "@tanstack/react-query";
import type { EventType, OrgEvent } from "@orgstream/schema";
import { createOrgStream, type AuthError, type ConnectionStatus, type OrgStream, type OrgStreamOptions } from "./index.js";

type Listener = (event: OrgEvent) => void;

/** One stream shared by every hook under a provider. */
class SharedStream {
  readonly stream: OrgStream;
  readonly listeners = new Set<Listener>();
  lastEvent: OrgEvent | null = null;
  lastUpdatedAt: number | null = null;
  private snapshot = 0;
  private readonly watchers = new Set<() => void>();

  constructor(options: OrgStreamProviderOptions) {
    this.stream = createOrgStream({
      ...options,
      onEvent: (event) => {
        this.lastEvent = event;
        this.lastUpdatedAt = Date.now();
        options.onEvent?.(event);
        for (const l of [...this.listeners]) l(event);
        this.changed();
      },
      onEntitlements: (entitlements) => {
        options.onEntitlements?.(entitlements);
        this.changed();
      },
    });
    this.stream.subscribe(() => this.changed());
  }

  private changed() {
    this.snapshot += 1;
    for (const w of [...this.watchers]) w();
  }

  watch = (onChange: () => void) => {
    this.watchers.add(onChange);
    return () => this.watchers.delete(onChange);
  };

  version = () => this.snapshot;
}

const Context = createContext<SharedStream | null>(null);

/** createOrgStream's options, with `onEvent` optional: the provider hands events to hooks. */
export type OrgStreamProviderOptions = Omit<OrgStreamOptions, "onEvent"> & { onEvent?: OrgStreamOptions["onEvent"] };

export type OrgStreamProviderProps = {
  options: OrgStreamProviderOptions;
  children: ReactNode;
};

/** Opens the stream on mount and closes it on unmount. Create `options` once (e.g. useMemo). */
export function OrgStreamProvider({ options, children }: OrgStreamProviderProps) {
  const [shared, setShared] = useState<SharedStream | null>(null);
  useEffect(() => {
    const s = new SharedStream(options);
    setShared(s);
    return () => s.stream.close();
  }, [options]);
  return shared ? <Context.Provider value={shared}>{children}</Context.Provider> : null;
}

function useShared(): SharedStream {
  const shared = useContext(Context);
  if (!shared) throw new Error("useOrgStream needs an <OrgStreamProvider> above it");
  return shared;
}

export interface OrgStreamState {
  status: ConnectionStatus;
  /** Why the status is `unauthorized`: the server's refusal of the token (else null). */
  authError: AuthError | null;
  /** The stream's kept token, for the app's own requests (`OrgStream.token`). */
  token: () => Promise<string>;
  lastEvent: OrgEvent | null;
  lastUpdatedAt: number | null;
  reconnect: () => void;
}

/** The stream's status, its last event and when it arrived. */
export function useOrgStream(): OrgStreamState {
  const shared = useShared();
  useSyncExternalStore(shared.watch, shared.version);
  return {
    status: shared.stream.status,
    authError: shared.stream.authError,
    token: () => shared.stream.token(),
    lastEvent: shared.lastEvent,
    lastUpdatedAt: shared.lastUpdatedAt,
    reconnect: () => shared.stream.reconnect(),
  };
}

/**
 * Whether a feature is on for the org: the newest `org.entitlements.changed` lists it (read from
 * the worker on first use, then kept current by the stream), unless the provider's
 * `featureOverrides` say otherwise. Re-renders when a plan change arrives.
 */
export function useFeature(name: string): boolean {
  const shared = useShared();
  useSyncExternalStore(shared.watch, shared.version);
  return shared.stream.isFeatureEnabled(name);
}

/** Calls `handler` for every validated event (stable across renders while `handler` is). */
export function useOrgEvents(handler: Listener): void {
  const shared = useShared();
  useEffect(() => {
    shared.listeners.add(handler);
    return () => {
      shared.listeners.delete(handler);
    };
  }, [shared, handler]);
}

/**
 * What an event of one type does to a query's cached data: a function of the data and the event
 * (applied with setQueryData, and applied again to the result of a fetch that was in flight when
 * the event came, so make it idempotent: an event applied twice is applied once), or "invalidate"
 * (fetch again).
 */
export type CacheRule<TData, T extends EventType = EventType> = "invalidate" | ((data: TData | undefined, event: EventOf<T>) => TData);

/** The event of catalog type `T`, its `data` typed as that type's. */
export type EventOf<T extends EventType> = Extract<OrgEvent, { type: T }>;

/**
 * Per event type of the catalog, what an event does to the query: keys are the catalog's types
 * (a misspelled one is a type error), and each rule gets its event narrowed to its type.
 */
export type CacheRules<TData> = { [T in EventType]?: CacheRule<TData, T> };

export type ReliableQueryOptions<TData> = UseQueryOptions<TData, Error, TData, QueryKey> & {
  queryKey: QueryKey;
  /** Per event type: update the cached data (setQueryData), or invalidate the query. */
  on: CacheRules<TData>;
};

export type ReliableQueryResult<TData> = UseQueryResult<TData, Error> & {
  /**
   * True while live updates are not flowing: the stream is not connected (reconnecting, polling,
   * offline, unauthorized; a stream silent for the heartbeat timeout counts as reconnecting). Independent of
   * TanStack Query's own staleness (`staleTime`), which says when to refetch, not whether the
   * data is being kept current.
   */
  isStale: boolean;
  /** When the data last changed, by fetch or by an event (ms since epoch), or null. */
  lastUpdatedAt: number | null;
  connectionStatus: ConnectionStatus;
};

/** The rule for `event`'s type, taking the event it is given (its type is the rule's key). */
function ruleFor<TData>(rules: CacheRules<TData>, event: OrgEvent): CacheRule<TData, EventType> | undefined {
  return rules[event.type] as CacheRule<TData, EventType> | undefined;
}

/** useQuery, kept fresh by the stream through the `on` map. */
export function useReliableQuery<TData>(options: ReliableQueryOptions<TData>): ReliableQueryResult<TData> {
  const { on, ...queryOptions } = options;
  const client = useQueryClient();
  // Events that arrive while a fetch is in flight, one list per fetch: the fetch answers with what
  // the server had when it read, which may predate them, and TanStack Query keeps an initial
  // fetch in flight rather than start another when asked to. So each fetch's result gets them
  // applied again before it reaches the cache.
  const inFlight = useRef<Set<OrgEvent[]>>(new Set());
  const shared = useShared();
  // Whether a fetch started once the stream knew where it starts (see the first connect, below).
  const fetchedAfterReady = useRef(false);
  const connects = useRef(0);
  const rules = useRef(on);
  rules.current = on;
  const fetchData = options.queryFn as QueryFunction<TData, QueryKey> | undefined;
  const queryFn: QueryFunction<TData, QueryKey> | undefined = fetchData
    ? async (context) => {
        const arrived: OrgEvent[] = [];
        inFlight.current.add(arrived);
        try {
          // Read once the stream knows the id it starts from: every event after that comes
          // through the stream (and is applied to this result), so nothing falls in between.
          // (Only a position the stream knows closes the gap; without one, the first connect
          // fetches again.)
          fetchedAfterReady.current = await shared.stream.ready;
          let data = (await fetchData(context)) as TData;
          for (const event of arrived) {
            const rule = ruleFor(rules.current, event);
            if (typeof rule === "function") data = rule(data, event);
          }
          if (arrived.some((event) => ruleFor(rules.current, event) === "invalidate")) {
            setTimeout(() => void client.invalidateQueries({ queryKey: options.queryKey }), 0);
          }
          return data;
        } finally {
          inFlight.current.delete(arrived);
        }
      }
    : undefined;
  const query = useQuery(queryFn ? { ...queryOptions, queryFn } : queryOptions);
  const { status } = useOrgStream();
  const [eventUpdatedAt, setEventUpdatedAt] = useState<number | null>(null);
  const key = JSON.stringify(options.queryKey);
  const handler = useMemo<Listener>(
    () => (event) => {
      const rule = ruleFor(rules.current, event);
      if (!rule) return;
      for (const arrived of inFlight.current) arrived.push(event);
      if (rule === "invalidate") {
        void client.invalidateQueries({ queryKey: options.queryKey });
      } else {
        client.setQueryData<TData>(options.queryKey, (data) => rule(data, event));
        setEventUpdatedAt(Date.now());
      }
    },
    // The key is the identity of the query; the rules are read from a ref, current at each event.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [client, key],
  );
  useOrgEvents(handler);
  // Whenever the stream reconnects, fetch again: what happened while it was not connected is in
  // the fetch, and everything after comes through the stream. The first connect needs no fetch
  // when the data came from a read that started once the stream knew where it starts.
  const connected = status === "connected";
  useEffect(() => {
    if (!connected) return;
    connects.current += 1;
    if (connects.current === 1 && fetchedAfterReady.current) return;
    void client.invalidateQueries({ queryKey: options.queryKey });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, key, connected]);
  const fetchedAt = query.dataUpdatedAt || null;
  const lastUpdatedAt = fetchedAt === null ? eventUpdatedAt : Math.max(fetchedAt, eventUpdatedAt ?? 0);
  return Object.assign(query, {
    isStale: status !== "connected",
    lastUpdatedAt,
    connectionStatus: status,
  });
}

const BADGE: Record<ConnectionStatus, { label: string; color: string }> = {
  connected: { label: "Connected", color: "#10b981" }, // emerald
  reconnecting: { label: "Reconnecting", color: "#f59e0b" }, // amber
  "polling-fallback": { label: "Polling", color: "#0ea5e9" }, // sky
  offline: { label: "Offline", color: "#f43f5e" }, // rose
  unauthorized: { label: "Not signed in", color: "#7c3aed" }, // violet
};

/** The connection status as a colored badge, with a Reconnect button while live updates are paused. */
export function ConnectionStatusBadge({ status, onReconnect }: { status: ConnectionStatus; onReconnect?: () => void }) {
  const { label, color } = BADGE[status];
  const paused = status === "polling-fallback" || status === "offline" || status === "unauthorized";
  return (
    <span data-testid="connection-status" data-status={status} style={{ display: "inline-flex", gap: 8, alignItems: "center" }}>
      <span style={{ background: color, color: "white", borderRadius: 999, padding: "2px 10px", fontSize: 13, fontWeight: 600 }}>{label}</span>
      {paused && onReconnect ? (
        <button type="button" onClick={onReconnect}>
          Reconnect
        </button>
      ) : null}
    </span>
  );
}

/** App-level error boundary: reports the error (e.g. to POST /v1/audit/client-error) and offers a reload. */
export class RootErrorBoundary extends Component<
  { report: (error: Error, info: ErrorInfo) => void; children: ReactNode },
  { error: Error | null }
> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  componentDidCatch(error: Error, info: ErrorInfo) {
    this.props.report(error, info);
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div role="alert" data-testid="fatal-error">
        <p>Something went wrong: {this.state.error.message}</p>
        <button type="button" onClick={() => location.reload()}>
          Reload dashboard
        </button>
      </div>
    );
  }
}
