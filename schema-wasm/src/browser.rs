//! The wasm side of the browser (and Node) module, bound with wasm-bindgen. Validation runs on the
//! string as it arrived; nothing crosses the boundary on success, and one small issue object on
//! failure. `schema-wasm/js/api.js` wraps these into the public API (`validateEnvelope`, ...),
//! parsing the event with the engine's own `JSON.parse` from the caller's string.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::{validate_data, validate_envelope, ValidationError, EVENT_TYPES, SCHEMA_VERSION};

fn issue(e: ValidationError) -> JsValue {
    let issue = Object::new();
    for (key, value) in [("path", e.path.as_str()), ("code", e.code.as_str()), ("message", e.message.as_str())] {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&issue, &JsValue::from_str(key), &JsValue::from_str(value));
    }
    issue.into()
}

/// `undefined` when `json` is a valid envelope, else its first issue `{path, code, message}`.
#[wasm_bindgen(js_name = validateEnvelopeRaw)]
pub fn validate_envelope_raw(json: &str) -> JsValue {
    match validate_envelope(json) {
        Ok(_) => JsValue::UNDEFINED,
        Err(e) => issue(e),
    }
}

/// `undefined` when `json` is valid `data` for `type`, else its first issue.
#[wasm_bindgen(js_name = validateEventRaw)]
pub fn validate_event_raw(type_name: &str, json: &str) -> JsValue {
    match validate_data(type_name, json) {
        Ok(_) => JsValue::UNDEFINED,
        Err(e) => issue(e),
    }
}

/// Every event type of this catalog.
#[wasm_bindgen(js_name = eventTypes)]
pub fn event_types() -> Array {
    EVENT_TYPES.iter().map(|t| JsValue::from_str(t)).collect()
}

/// The catalog's version, to tell which catalog a page carries.
#[wasm_bindgen(js_name = schemaVersion)]
pub fn schema_version() -> String {
    SCHEMA_VERSION.to_string()
}
