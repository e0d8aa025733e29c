// The public API of @orgstream/schema over the wasm validators (schema.js, from wasm-bindgen).
// The wasm side validates the string and returns nothing on success; the event is parsed here by
// the engine's JSON.parse, from the caller's own string (no copy back out of wasm memory).
import { validateEnvelopeRaw, validateEventRaw, eventTypes, schemaVersion } from "./schema.js";

const notAString = (what) => ({ ok: false, errors: [{ path: "", code: "invalid_type", message: `expected ${what} as a JSON string` }] });

/** Validates an envelope string (`MessageEvent.data` as it arrives). Never throws. */
export function validateEnvelope(json) {
  if (typeof json !== "string") return notAString("the envelope");
  const issue = validateEnvelopeRaw(json);
  return issue === undefined ? { ok: true, event: JSON.parse(json) } : { ok: false, errors: [issue] };
}

/** Validates one event's `data` (a JSON string, or a value serialized first) as type `type`. Never throws. */
export function validateEvent(type, data) {
  if (typeof type !== "string") return { ok: false, errors: [{ path: "", code: "unknown_type", message: "the event type must be a string" }] };
  let json = data;
  if (typeof data !== "string") {
    try {
      json = JSON.stringify(data);
    } catch {
      json = undefined;
    }
    if (typeof json !== "string") return notAString("data (a JSON-serializable value)");
  }
  const issue = validateEventRaw(type, json);
  return issue === undefined ? { ok: true, event: typeof data === "string" ? JSON.parse(json) : data } : { ok: false, errors: [issue] };
}

export { eventTypes, schemaVersion };
