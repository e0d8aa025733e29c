// The catalog written as a Zod 4 schema, ONLY as the baseline of `npm run bench:schema`. It is not
// used anywhere else: the product validates with the Rust types compiled to wasm. Kept equivalent
// to schema-wasm/src/catalog.rs for the bench's inputs (tolerant of unknown fields, like the
// browser module).
import { z } from "zod";

const id = z.string().min(1).max(128);
const time = z.iso.datetime({ offset: true });
const unit = z.number().min(0).max(1);
const text = (min, max) => z.string().min(min).max(max);
const int = (min) => z.number().int().min(min).max(Number.MAX_SAFE_INTEGER);
const state = z.enum(["new", "triaged", "acknowledged", "resolved", "dismissed"]);
const numbers = z.record(z.string(), z.number());

const data = {
  "scheduler.tick": z.object({ tickAt: time, nextTickAt: time, cadenceSeconds: int(1) }),
  "run.stage": z.object({
    runId: id,
    stage: z.enum(["queued", "fetching", "diffing", "classifying", "delivering", "completed", "failed"]),
    progress: unit,
    vendorId: id.nullish(),
    message: text(0, 1000).nullish(),
  }),
  "change.detected": z.object({
    changeId: id, vendorId: id, title: text(1, 500), severity: z.enum(["low", "medium", "high", "critical"]),
    detectedAt: time, url: text(0, 2048).nullish(),
  }),
  "action.delivered": z.object({
    actionId: id, changeId: id, channel: z.enum(["slack", "email", "webhook"]), status: z.enum(["delivered", "failed"]),
    deliveredAt: time, error: text(0, 1000).nullish(),
  }),
  "change.stateChanged": z
    .object({ changeId: id, from: state, to: state, changedAt: time, actor: id.nullish() })
    .refine((d) => d.from !== d.to, { path: ["to"], message: "must differ from `from`" }),
  "org.entitlements.changed": z.object({
    plan: z.enum(["free", "team", "enterprise"]),
    features: z.array(text(1, 64)).max(100),
    limits: z.record(z.string(), int(0)).refine((o) => Object.keys(o).length <= 100),
    effectiveAt: time,
  }),
  "reconciliation.update": z.object({
    eventId: z.string(), service: z.string(), status: z.enum(["verified", "stale", "discrepancy"]), counts: numbers,
    checksum: z.string(), latencyMs: z.number().min(0),
    discrepancyDetails: z.object({ expected: numbers, actual: numbers, missingJobIds: z.array(z.string()) }).nullish(),
  }),
  "task.progress": z.object({ taskId: id, progress: unit, message: text(0, 1000).nullish() }),
  "task.completed": z.object({ taskId: id, result: z.unknown().optional() }),
  "task.failed": z.object({ taskId: id, error: text(1, 1000) }),
  "version.available": z.object({ version: text(1, 64), changelog: text(0, 10000).nullish() }),
};

const target = z.object({ requestId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/) }).optional();

export const envelope = z.discriminatedUnion(
  "type",
  Object.entries(data).map(([type, schema]) =>
    z.object({ id: z.string().regex(/^[1-9][0-9]{0,15}$/), type: z.literal(type), ts: time, data: schema, target }),
  ),
);
