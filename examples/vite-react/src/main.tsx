// A page that shows the org's task progress live: the initial state from the history endpoint,
// then every task.progress event from the stream, kept in TanStack Query's cache.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { OrgStreamProvider, useOrgStream, useReliableQuery, useFeature, ConnectionStatusBadge, type OrgStreamProviderOptions } from "@orgstream/client/react";
import { overridesFromEnv } from "@orgstream/client";
import type { HistoryPage, OrgEvent } from "@orgstream/schema";

type TaskProgress = Extract<OrgEvent, { type: "task.progress" }>["data"];

// Under `npm run dev` the worker hands out dev tokens; in production, ask your own backend.
const getToken = async (): Promise<string> => (await (await fetch("/v1/dev/token")).json()).token;

// validate and eventTypes default to the catalog's (@orgstream/schema). Features follow the org's
// plan (org.entitlements.changed); VITE_FF_<NAME>=true|false at build time overrides one.
const options: OrgStreamProviderOptions = { baseUrl: "", getToken, featureOverrides: overridesFromEnv(import.meta.env) };

/** The latest progress of each task, by task id. */
function upsert(tasks: TaskProgress[] = [], event: OrgEvent): TaskProgress[] {
  if (event.type !== "task.progress") return tasks;
  return [...tasks.filter((t) => t.taskId !== event.data.taskId), event.data];
}

function Tasks() {
  const tasks = useReliableQuery<TaskProgress[]>({
    queryKey: ["tasks"],
    queryFn: async () => {
      // Every page of the org's task.progress history, oldest first (a page holds up to 1000).
      let tasks: TaskProgress[] = [];
      for (let after = "0", more = true; more; ) {
        const query = new URLSearchParams({ type: "task.progress", after, limit: "1000" });
        const response = await fetch(`/v1/events?${query}`, { headers: { authorization: `Bearer ${await getToken()}` } });
        if (!response.ok) throw new Error(`history: ${(await response.json()).error?.message ?? response.status}`);
        const page = (await response.json()) as HistoryPage;
        tasks = page.events.reduce(upsert, tasks);
        after = page.events.at(-1)?.id ?? after;
        more = page.hasMore;
      }
      return tasks;
    },
    on: { "task.progress": upsert },
  });
  const { status, reconnect } = useOrgStream();
  const canExport = useFeature("exports"); // flips live when the org's plan changes
  return (
    <main>
      <h1>Tasks</h1>
      <ConnectionStatusBadge status={status} onReconnect={reconnect} />
      {canExport && <button type="button" data-testid="export">Export CSV</button>}
      {tasks.isStale && <p>Live updates paused; the list may be behind.</p>}
      <ul data-testid="tasks">
        {tasks.data?.map((t) => (
          <li key={t.taskId} data-task={t.taskId}>
            {t.taskId} <progress max={1} value={t.progress} /> {Math.round(t.progress * 100)}%
          </li>
        ))}
      </ul>
    </main>
  );
}

const queryClient = new QueryClient();
const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <OrgStreamProvider options={options}>
        <Tasks />
      </OrgStreamProvider>
    </QueryClientProvider>
  </StrictMode>,
);
