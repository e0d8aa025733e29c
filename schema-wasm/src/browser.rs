//! The browser (and Node) API, compiled with wasm-bindgen: `validateEnvelope`, `validateEvent`,
//! `eventTypes`, `schemaVersion`. Validation runs on the string as it arrived; only the rare error
//! list crosses into JS as objects. The parsed event itself comes from the engine's `JSON.parse`,
//! which is faster than building it from wasm.

use js_sys::{Array, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;

use crate::{validate_data, validate_envelope as validate_envelope_str, ErrorCode, ValidationError, EVENT_TYPES, SCHEMA_VERSION};

#[wasm_bindgen(typescript_custom_section)]
const TS_API: &str = r#"
import type { OrgEvent, EventType, EventDataOf } from "./types";
export type { OrgEvent, EventType, EventDataOf };
export * from "./types";

/** One validation failure: a JSON pointer into the checked value, a stable code, a message. */
export interface ValidationIssue { path: string; code: ErrorCode; message: string }
export type ErrorCode =
  | "malformed_json" | "too_deep" | "unknown_type" | "reserved_type" | "missing_field" | "unknown_field"
  | "invalid_type" | "invalid_enum" | "out_of_range" | "invalid_length" | "invalid_format" | "invalid_value";
export type Validated<T> = { ok: true; event: T } | { ok: false; errors: ValidationIssue[] };
"#;

fn set(obj: &Object, key: &str, value: &JsValue) {
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn failure(e: ValidationError) -> JsValue {
    let issue = Object::new();
    set(&issue, "path", &JsValue::from_str(&e.path));
    set(&issue, "code", &JsValue::from_str(e.code.as_str()));
    set(&issue, "message", &JsValue::from_str(&e.message));
    let result = Object::new();
    set(&result, "ok", &JsValue::FALSE);
    set(&result, "errors", &Array::of1(&issue));
    result.into()
}

fn success(json: &str) -> JsValue {
    let result = Object::new();
    set(&result, "ok", &JsValue::TRUE);
    match JSON::parse(json) {
        Ok(event) => set(&result, "event", &event),
        // Unreachable: the text just validated as JSON.
        Err(_) => return failure(ValidationError::new("", ErrorCode::MalformedJson, "could not be parsed")),
    }
    result.into()
}

/// Validates an envelope string (`MessageEvent.data` as it arrives). Never throws.
#[wasm_bindgen(js_name = validateEnvelope, unchecked_return_type = "Validated<OrgEvent>")]
pub fn validate_envelope(#[wasm_bindgen(unchecked_param_type = "string")] json: JsValue) -> JsValue {
    let Some(text) = json.as_string() else {
        return failure(ValidationError::new("", ErrorCode::InvalidType, "expected the envelope as a JSON string"));
    };
    match validate_envelope_str(&text) {
        Ok(_) => success(&text),
        Err(e) => failure(e),
    }
}

/// Validates one event's `data` (a JSON string, or a value that is serialized first) against the
/// catalog type `type`. Tolerant of unknown fields, like `validateEnvelope`. Never throws.
#[wasm_bindgen(js_name = validateEvent, unchecked_return_type = "Validated<unknown>")]
pub fn validate_event(
    #[wasm_bindgen(js_name = "type", unchecked_param_type = "EventType | string")] type_name: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string | unknown")] data: JsValue,
) -> JsValue {
    let Some(type_name) = type_name.as_string() else {
        return failure(ValidationError::new("", ErrorCode::UnknownType, "the event type must be a string"));
    };
    let text = match data.as_string() {
        Some(text) => text,
        None => match JSON::stringify(&data).ok().and_then(|s| s.as_string()) {
            Some(text) => text,
            None => return failure(ValidationError::new("", ErrorCode::InvalidType, "data is not JSON-serializable")),
        },
    };
    match validate_data(&type_name, &text) {
        Ok(_) => success(&text),
        Err(e) => failure(e),
    }
}

/// Every event type of this catalog.
#[wasm_bindgen(js_name = eventTypes, unchecked_return_type = "EventType[]")]
pub fn event_types() -> Array {
    EVENT_TYPES.iter().map(|t| JsValue::from_str(t)).collect()
}

/// The catalog's version, to tell which catalog a page carries.
#[wasm_bindgen(js_name = schemaVersion)]
pub fn schema_version() -> String {
    SCHEMA_VERSION.to_string()
}
