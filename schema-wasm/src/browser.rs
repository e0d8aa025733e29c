//! The wasm side of the browser (and Node) module, bound with wasm-bindgen. `schema-wasm/js/api.js`
//! wraps these into the public API (`validateEnvelope`, ...), parsing the event with the engine's
//! own `JSON.parse` from the caller's string.
//!
//! The text to validate goes into one input buffer in wasm memory that `api.js` writes with
//! `TextEncoder.encodeInto`: one native copy, no allocation per call. Measured with
//! `npm run bench:schema`, wasm-bindgen's own string passing (a copy character by character in
//! JavaScript, or `TextEncoder.encode` and a second copy for bytes) took about as long as the
//! validation itself. Nothing crosses back on success, and one small issue object on failure.

use std::cell::RefCell;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::{validate_data, validate_envelope, ErrorCode, ValidationError, EVENT_TYPES, SCHEMA_VERSION};

thread_local! {
    /// The text being validated, as UTF-8, written by `api.js`.
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Makes room for `capacity` bytes of input and says where they start in wasm memory.
#[wasm_bindgen(js_name = inputBuffer)]
pub fn input_buffer(capacity: usize) -> *mut u8 {
    INPUT.with_borrow_mut(|input| {
        if input.len() < capacity {
            input.resize(capacity, 0);
        }
        input.as_mut_ptr()
    })
}

/// Writes `text` into the input buffer as `api.js` does, returning its length (for tests that call
/// the exports from Rust).
pub fn write_input(text: &str) -> usize {
    INPUT.with_borrow_mut(|input| {
        input.clear();
        input.extend_from_slice(text.as_bytes());
    });
    text.len()
}

/// The wasm module's memory, for `api.js` to write the input into.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Runs `check` on the first `len` bytes of the input buffer, as text.
fn with_input(len: usize, check: impl FnOnce(&str) -> Result<&'static str, ValidationError>) -> JsValue {
    let result = INPUT.with_borrow(|input| {
        let bytes = input.get(..len).unwrap_or_default();
        // `TextEncoder` writes only UTF-8: this fails only for bytes written some other way.
        let text = std::str::from_utf8(bytes)
            .map_err(|_| ValidationError::new("", ErrorCode::MalformedJson, "is not UTF-8 text"))?;
        check(text)
    });
    match result {
        Ok(_) => JsValue::UNDEFINED,
        Err(e) => issue(e),
    }
}

fn issue(e: ValidationError) -> JsValue {
    let issue = Object::new();
    for (key, value) in [("path", e.path.as_str()), ("code", e.code.as_str()), ("message", e.message.as_str())] {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&issue, &JsValue::from_str(key), &JsValue::from_str(value));
    }
    issue.into()
}

/// `undefined` when the input (`len` bytes) is a valid envelope, else its first issue
/// `{path, code, message}`.
#[wasm_bindgen(js_name = validateEnvelopeInput)]
pub fn validate_envelope_input(len: usize) -> JsValue {
    with_input(len, validate_envelope)
}

/// `undefined` when the input (`len` bytes) is valid `data` for `type`, else its first issue.
#[wasm_bindgen(js_name = validateEventInput)]
pub fn validate_event_input(type_name: &str, len: usize) -> JsValue {
    with_input(len, |json| validate_data(type_name, json))
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
