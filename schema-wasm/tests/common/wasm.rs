//! The corpus through the wasm-bindgen exports, as the JS API (schema-wasm/js/api.js) calls them:
//! the text written into the input buffer, then validated there.

use js_sys::Reflect;
use schema_wasm::browser::{validate_envelope_input, write_input};
use wasm_bindgen::JsValue;

fn get(v: &JsValue, key: &str) -> Option<String> {
    Reflect::get(v, &JsValue::from_str(key)).ok().and_then(|v| v.as_string())
}

pub fn run_corpus() {
    let (valid, invalid) = super::load();
    let mut wrong = Vec::new();
    for c in &valid {
        if !validate_envelope_input(write_input(&c.envelope)).is_undefined() {
            wrong.push(format!("{}: valid envelope refused: {}", c.type_name, c.envelope));
        }
    }
    for c in &invalid {
        let issue = validate_envelope_input(write_input(&c.envelope));
        if issue.is_undefined() {
            wrong.push(format!("{} / {}: accepted", c.type_name, c.name));
            continue;
        }
        let (path, code) = (get(&issue, "path"), get(&issue, "code"));
        if (path.as_deref(), code.as_deref()) != (Some(c.path.as_str()), Some(c.code.as_str())) {
            wrong.push(format!("{} / {}: gave {path:?} {code:?}, expected {} {}", c.type_name, c.name, c.path, c.code));
        }
    }
    assert!(valid.len() >= 55 && invalid.len() >= 55, "the whole corpus was loaded");
    assert!(wrong.is_empty(), "{} mismatches:\n{}", wrong.len(), wrong.join("\n"));
}
