// The public API of @orgstream/schema over the wasm validators (schema.js, from wasm-bindgen).
// The wasm side validates the text and returns nothing on success; the event is parsed here by
// the engine's JSON.parse, from the caller's own string (no copy back out of wasm memory).
import { inputBuffer, wasmMemory, validateEnvelopeInput, validateEventInput, eventTypes, schemaVersion } from "./schema.js";
import { MAX_ENVELOPE_CHARS } from "./rules.js";

// The text goes into the wasm module's input buffer as UTF-8, written in place by encodeInto (see
// schema-wasm/src/browser.rs). The view is made again when the buffer moves or memory grows.
const utf8 = new TextEncoder();
let view = new Uint8Array(0);
function writeInput(json) {
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  const capacity = json.length * 3;
  if (view.byteLength < capacity || view.buffer.byteLength === 0) {
    const start = inputBuffer(Math.max(capacity, 4096));
    view = new Uint8Array(wasmMemory().buffer, start, Math.max(capacity, 4096));
  }
  return utf8.encodeInto(json, view).written;
}

const notAString = (what) => ({ ok: false, errors: [{ path: "", code: "invalid_type", message: `expected ${what} as a JSON string` }] });
// Longer text than any event the server sends is refused here, so the input buffer stays small.
const tooLong = (json) =>
  json.length > MAX_ENVELOPE_CHARS
    ? { ok: false, errors: [{ path: "", code: "invalid_length", message: `is longer than any event the server sends (at most ${MAX_ENVELOPE_CHARS} characters)` }] }
    : null;

/** Validates an envelope string (`MessageEvent.data` as it arrives). Never throws. */
export function validateEnvelope(json) {
  if (typeof json !== "string") return notAString("the envelope");
  const long = tooLong(json);
  if (long) return long;
  const issue = validateEnvelopeInput(writeInput(json));
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
  const long = tooLong(json);
  if (long) return long;
  const issue = validateEventInput(type, writeInput(json));
  return issue === undefined ? { ok: true, event: typeof data === "string" ? JSON.parse(json) : data } : { ok: false, errors: [issue] };
}

export { eventTypes, schemaVersion };
