// The live dashboard served at `/`: the reference consumer of the client and its React bindings.
// Under `npm run dev` it gets a dev token from GET /v1/dev/token; elsewhere it asks for one.
// Test knobs (query string): backoffScale, pollMs, silenceMs, recheckMs, e.g. /?backoffScale=0.05&pollMs=500.

import { StrictMode, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { validateEnvelope, eventTypes, schemaVersion, CLIENT_ERROR_LIMITS as LIMIT, type OrgEvent } from "@orgstream/schema";
import { backoffDelay } from "@orgstream/client";
import { RawJson, Summary, VersionBanner } from "./summary.js";
import {
  ConnectionStatusBadge,
  OrgStreamProvider,
  RootErrorBoundary,
  useFeature,
  useOrgStream,
  useReliableQuery,
  type CacheRule,
} from "@orgstream/client/react";

const params = new URLSearchParams(location.search);
const knob = (name: string) => (params.has(name) ? Number(params.get(name)) : undefined);
const TYPES = eventTypes();

/** The org to show: ?org=<org> (dev mode), else the dev token's default org `dev`. */
const ORG = params.get("org") ?? "dev";

/** In dev mode the local server hands out one-hour tokens; the client asks again shortly before one expires. */
async function devToken(): Promise<{ token: string; org: string } | null> {
  const r = await fetch(`/v1/dev/token?org=${encodeURIComponent(ORG)}`);
  return r.ok ? ((await r.json()) as { token: string; org: string }) : null;
}

function reportError(token: string) {
  return (error: Error, info: { componentStack?: string | null }) => {
    void fetch("/v1/audit/client-error", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        message: error.message.slice(0, LIMIT.message) || "error",
        stack: error.stack?.slice(0, LIMIT.stack),
        componentStack: info.componentStack?.slice(0, LIMIT.componentStack) ?? undefined,
        url: location.href.slice(0, LIMIT.url),
        userAgent: navigator.userAgent.slice(0, LIMIT.userAgent),
      }),
    });
  };
}

/** Appends an event to the feed once, in id order. */
const append: CacheRule<OrgEvent[]> = (feed, event) => {
  const list = feed ?? [];
  if (list.some((e) => e.id === event.id)) return list;
  return [...list, event].sort((a, b) => Number(a.id) - Number(b.id));
};

type GetToken = () => Promise<string> | string;

/** Where a pasted token is kept: this tab's session storage, never a URL. */
const TOKEN_KEY = "orgstream-token";

function Feed({ org }: { org: string }) {
  const { token: getToken } = useOrgStream();
  const on = useMemo(() => Object.fromEntries(TYPES.map((t) => [t, append])), []);
  const feed = useReliableQuery<OrgEvent[]>({
    queryKey: ["events"],
    queryFn: async () => {
      // The token in a header, never in the URL (docs/security.md).
      const r = await fetch("/v1/events?limit=1000", { headers: { authorization: `Bearer ${await getToken()}` } });
      if (!r.ok) throw new Error(`history: ${r.status}`);
      const page = (await r.json()) as { events: unknown[] };
      return page.events.flatMap((e) => {
        const checked = validateEnvelope(JSON.stringify(e));
        return checked.ok ? [checked.event] : [];
      });
    },
    on, // default query options: isStale is about the stream, not TanStack's staleTime
  });
  const [type, setType] = useState("");
  const events = feed.data ?? [];
  const shown = type ? events.filter((e) => e.type === type) : events;
  return (
    <>
      <VersionBanner events={events} />
      <section className="card">
        <h2 style={{ marginTop: 0 }}>Events</h2>
        <p className="muted" data-testid="freshness">
          {feed.isStale ? "may be behind" : "up to date"}
          {feed.lastUpdatedAt ? `, updated ${new Date(feed.lastUpdatedAt).toLocaleTimeString()}` : ""}
        </p>
        <label className="muted">
          Show{" "}
          <select data-testid="type-filter" value={type} onChange={(e) => setType(e.target.value)}>
            <option value="">every type</option>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        {feed.isSuccess && events.length === 0 ? <EmptyOrg org={org} /> : null}
        <ul className="feed" data-testid="feed">
          {shown.map((e) => (
            <li key={e.id} data-id={e.id} data-type={e.type}>
              <time className="muted" dateTime={e.ts} title={e.ts}>
                {new Date(e.ts).toLocaleTimeString()}
              </time>
              <span className="id">#{e.id}</span>
              <span className="type">{e.type}</span>
              <span className="summary">
                <Summary event={e} /> <RawJson event={e} />
              </span>
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}

/** An org with no events yet: how to publish one. */
function EmptyOrg({ org }: { org: string }) {
  const command = `TOKEN=$(npm run -s token -- --org ${org})
curl -X POST ${location.origin}/v1/events -H "authorization: Bearer $TOKEN" \\
  -H "content-type: application/json" -d '{"type":"task.progress","data":{"taskId":"t1","progress":0.5}}'`;
  return (
    <div className="empty" data-testid="empty-org">
      <p>
        No events in org <strong>{org}</strong> yet. Press <em>Publish task.progress</em>, or publish from a terminal:
      </p>
      <pre>{command}</pre>
    </div>
  );
}

/** Shown while the org's plan includes the feature `beta-panel` (a live feature flag). */
function BetaPanel() {
  if (!useFeature("beta-panel")) return null;
  return (
    <section className="card" data-testid="beta-panel">
      <h2 style={{ marginTop: 0 }}>Beta</h2>
      <p className="muted">This org's plan includes the feature beta-panel; a plan change hides this at once.</p>
    </section>
  );
}

function PublishForm() {
  const { token: getToken } = useOrgStream();
  const [n, setN] = useState(1);
  const [result, setResult] = useState("");
  const publish = async () => {
    const r = await fetch("/v1/events", {
      method: "POST",
      headers: { authorization: `Bearer ${await getToken()}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "task.progress", data: { taskId: `dashboard-${n}`, progress: 0.5, message: "from the dashboard" } }),
    });
    setResult(r.ok ? `published ${(await r.json()).ids.join(", ")}` : `refused: ${(await r.json()).error.message}`);
    setN(n + 1);
  };
  return (
    <section className="card">
      <h2 style={{ marginTop: 0 }}>Publish a test event</h2>
      <button type="button" data-testid="publish" onClick={() => void publish()}>
        Publish task.progress
      </button>{" "}
      <span className="muted" data-testid="publish-result">{result}</span>
    </section>
  );
}

function Dashboard({ org }: { org: string }) {
  const { status, authError, reconnect } = useOrgStream();
  const [crash, setCrash] = useState(false);
  if (crash) throw new Error("test crash requested from the dashboard");
  return (
    <>
      <header>
        <strong>orgstream</strong>
        <span className="muted">org {org} · catalog {schemaVersion()}</span>
        <ConnectionStatusBadge status={status} onReconnect={reconnect} />
      </header>
      <main>
        {status === "unauthorized" ? (
          <div className="banner" role="alert" data-testid="unauthorized-banner">
            <strong>The server refused the token</strong>
            <span className="muted">{authError ? `${authError.status} ${authError.code}: ${authError.message}` : ""}</span>
            {sessionStorage.getItem(TOKEN_KEY) ? (
              <NewToken onToken={(value) => { sessionStorage.setItem(TOKEN_KEY, value); reconnect(); }} />
            ) : (
              <button type="button" onClick={reconnect}>
                Try again
              </button>
            )}
          </div>
        ) : null}
        {status === "polling-fallback" || status === "offline" ? (
          <div className="banner" role="status" data-testid="paused-banner">
            <strong>Live updates paused</strong>
            <span className="muted">{status === "offline" ? "no network, or the worker does not answer" : "polling every few seconds"}</span>
            <button type="button" onClick={reconnect}>
              Reconnect
            </button>
          </div>
        ) : null}
        <div className="columns">
          <div className="column">
            <Feed org={org} />
          </div>
          <aside className="column">
            <PublishForm />
            <BetaPanel />
            {params.has("crashButton") ? (
              <button type="button" data-testid="crash" onClick={() => setCrash(true)}>
                Crash
              </button>
            ) : null}
          </aside>
        </div>
      </main>
    </>
  );
}

function App({ token, org, fresh }: { token: string; org: string; fresh: boolean }) {
  const client = useMemo(() => new QueryClient(), []);
  const scale = knob("backoffScale");
  // A dev token is fetched anew when the client asks (shortly before the last one expires, or when
  // it was refused), so a page left open past its hour recovers.
  // A pasted token is read where it is kept at each ask, so pasting another (in the unauthorized
  // banner) takes effect without a reload.
  const getToken = useMemo<GetToken>(
    () => (fresh ? async () => (await devToken())?.token ?? token : () => sessionStorage.getItem(TOKEN_KEY) ?? token),
    [fresh, token],
  );
  const options = useMemo(
    () => ({
      baseUrl: "",
      getToken,
      // validate and eventTypes default to the catalog's (@orgstream/schema).
      pollIntervalMs: knob("pollMs"),
      heartbeatTimeoutMs: knob("silenceMs"),
      tokenRecheckMs: knob("recheckMs"),
      backoff: scale === undefined ? undefined : (failures: number) => backoffDelay(failures) * scale,
      onInvalid: (raw: string, errors: { path: string; message: string }[]) => console.warn("invalid event", errors, raw),
      onResync: () => void client.invalidateQueries(),
    }),
    [client, scale, getToken],
  );
  return (
    <RootErrorBoundary report={reportError(token)}>
      <QueryClientProvider client={client}>
        <OrgStreamProvider options={options}>
          <Dashboard org={org} />
        </OrgStreamProvider>
      </QueryClientProvider>
    </RootErrorBoundary>
  );
}

/** A field to paste another token into, and its button. */
function NewToken({ onToken }: { onToken: (token: string) => void }) {
  const [value, setValue] = useState("");
  return (
    <span>
      <input data-testid="new-token" value={value} onChange={(e) => setValue(e.target.value)} size={40} placeholder="paste another token" />{" "}
      <button type="button" data-testid="use-token" disabled={!value} onClick={() => onToken(value.trim())}>
        Use this token
      </button>
    </span>
  );
}

function AskForToken() {
  const [value, setValue] = useState("");
  return (
    <main>
      <p>This server hands out no dev token. Paste a token (scope subscribe, and publish to use the form):</p>
      <input value={value} onChange={(e) => setValue(e.target.value)} size={80} />{" "}
      <button type="button" onClick={() => { sessionStorage.setItem(TOKEN_KEY, value); location.reload(); }}>
        Use token
      </button>
    </main>
  );
}

const root = createRoot(document.getElementById("root")!);
const dev = await devToken().catch(() => null);
// A token handed over in the address once (`/?token=...`, e.g. from a link your backend makes) is
// moved to session storage and taken out of the address at once, so it stays out of history and
// of every later request's URL.
const handed = params.get("token");
if (handed) {
  sessionStorage.setItem(TOKEN_KEY, handed);
  params.delete("token");
  history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}${location.hash}`);
}
const pasted = sessionStorage.getItem(TOKEN_KEY);
if (dev) root.render(<StrictMode><App token={dev.token} org={dev.org} fresh /></StrictMode>);
else if (pasted) root.render(<StrictMode><App token={pasted} org="(from token)" fresh={false} /></StrictMode>);
else root.render(<AskForToken />);
