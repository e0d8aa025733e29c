//! The corpus through the wasm-bindgen API (`validateEnvelope`), as browser code calls it.

use js_sys::Reflect;
use wasm_bindgen::JsValue;

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).expect("a property")
}

pub fn run_corpus() {
    let (valid, invalid) = super::load();
    let mut wrong = Vec::new();
    for c in &valid {
        let r = schema_wasm::browser::validate_envelope(JsValue::from_str(&c.envelope));
        if get(&r, "ok") != JsValue::TRUE {
            wrong.push(format!("{}: valid envelope refused: {}", c.type_name, c.envelope));
            continue;
        }
        let event = get(&r, "event");
        if get(&event, "type").as_string().as_deref() != Some(c.type_name.as_str()) {
            wrong.push(format!("{}: event not returned parsed", c.type_name));
        }
    }
    for c in &invalid {
        let r = schema_wasm::browser::validate_envelope(JsValue::from_str(&c.envelope));
        if get(&r, "ok") != JsValue::FALSE {
            wrong.push(format!("{} / {}: accepted", c.type_name, c.name));
            continue;
        }
        let first = Reflect::get_u32(&get(&r, "errors"), 0).expect("an error");
        let (path, code) = (get(&first, "path").as_string(), get(&first, "code").as_string());
        if (path.as_deref(), code.as_deref()) != (Some(c.path.as_str()), Some(c.code.as_str())) {
            wrong.push(format!("{} / {}: gave {path:?} {code:?}, expected {} {}", c.type_name, c.name, c.path, c.code));
        }
    }
    assert!(valid.len() >= 55 && invalid.len() >= 55, "the whole corpus was loaded");
    assert!(wrong.is_empty(), "{} mismatches:\n{}", wrong.len(), wrong.join("\n"));
}
