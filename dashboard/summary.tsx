// One event of the feed, read the way a person reads it: a bar for progress, a chip for severity,
// from -> to for a state change, delivered or failed for a delivery; the JSON one click away. The
// feed holds validated envelopes (validateEnvelope on every path in), so the catalog's types hold.

import type { OrgEvent } from "@orgstream/schema";

const SEVERITY: Record<string, string> = { low: "#64748b", medium: "#f59e0b", high: "#f97316", critical: "#e11d48" };

function Chip({ color, children, testId }: { color: string; children: string; testId?: string }) {
  return (
    <span className="chip" data-testid={testId} style={{ background: color }}>
      {children}
    </span>
  );
}

function Bar({ value }: { value: number }) {
  return (
    <>
      <progress data-testid="progress" max={1} value={value} /> {Math.round(value * 100)}%
    </>
  );
}

/** What the event says, in a line. */
export function Summary({ event }: { event: OrgEvent }) {
  switch (event.type) {
    case "task.progress":
      return (
        <>
          {event.data.taskId} <Bar value={event.data.progress} />
          {event.data.message ? ` ${event.data.message}` : ""}
        </>
      );
    case "run.stage":
      return (
        <>
          run {event.data.runId} <Chip color="#6366f1" testId="stage">{event.data.stage}</Chip> <Bar value={event.data.progress} />
          {event.data.message ? ` ${event.data.message}` : ""}
        </>
      );
    case "task.completed":
      return <>{event.data.taskId} completed</>;
    case "task.failed":
      return (
        <>
          {event.data.taskId} <Chip color="#e11d48">failed</Chip> {event.data.error}
        </>
      );
    case "change.detected":
      return (
        <>
          <Chip color={SEVERITY[event.data.severity] ?? "#64748b"} testId="severity">{event.data.severity}</Chip> {event.data.title}
          {event.data.url ? (
            <>
              {" "}
              <a href={event.data.url} rel="noreferrer" target="_blank">
                open
              </a>
            </>
          ) : null}
        </>
      );
    case "change.stateChanged":
      return (
        <>
          {event.data.changeId}: <span data-testid="transition">{event.data.from} → {event.data.to}</span>
          {event.data.actor ? ` by ${event.data.actor}` : ""}
        </>
      );
    case "action.delivered":
      return (
        <>
          {event.data.channel} {event.data.actionId}{" "}
          <Chip color={event.data.status === "delivered" ? "#10b981" : "#e11d48"} testId="delivery">{event.data.status}</Chip>
          {event.data.error ? ` ${event.data.error}` : ""}
        </>
      );
    case "version.available":
      return <>version {event.data.version} is available</>;
    case "org.entitlements.changed":
      return (
        <>
          plan <Chip color="#0ea5e9">{event.data.plan}</Chip> features: {event.data.features.join(", ") || "none"}
        </>
      );
    case "reconciliation.update":
      return (
        <>
          {event.data.service} <Chip color={event.data.status === "verified" ? "#10b981" : "#f59e0b"}>{event.data.status}</Chip>
        </>
      );
    case "scheduler.tick":
      return <>tick, next at {new Date(event.data.nextTickAt).toLocaleTimeString()}</>;
    default:
      return null;
  }
}

/** The event's data as JSON, one click away. */
export function RawJson({ event }: { event: OrgEvent }) {
  return (
    <details>
      <summary>JSON</summary>
      <pre data-testid="raw-json">{JSON.stringify(event.data, null, 2)}</pre>
    </details>
  );
}

/** A banner for the newest `version.available`, with a Reload button. */
export function VersionBanner({ events }: { events: OrgEvent[] }) {
  const latest = [...events].reverse().find((e) => e.type === "version.available");
  if (latest?.type !== "version.available") return null;
  return (
    <div className="banner" role="status" data-testid="version-banner">
      <strong>Version {latest.data.version} is available</strong>
      <button type="button" onClick={() => location.reload()}>
        Reload
      </button>
    </div>
  );
}
