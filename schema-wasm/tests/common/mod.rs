//! The fixture corpus (tests/fixtures/corpus.json), shared by the host and the wasm test runners.
#![allow(dead_code)]
// Test support: a broken fixture should stop the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

#[cfg(target_arch = "wasm32")]
pub mod wasm;

use serde_json::Value;

pub const CORPUS: &str = include_str!("../../../tests/fixtures/corpus.json");

pub struct Valid {
    pub type_name: String,
    pub envelope: String,
    pub publish: String,
}

pub struct Invalid {
    pub type_name: String,
    pub name: String,
    pub envelope: String,
    pub publish: String,
    pub path: String,
    pub code: String,
}

/// The publish body of an invalid case: the envelope text with its `{"id":..,"ts":..,` prefix
/// replaced by `{` (see tests/fixtures/make-corpus.mjs).
pub fn publish_body(envelope: &str) -> String {
    let after_ts = envelope.find(r#"Z","#).map(|i| i + 3).expect("corpus envelopes start with id and ts");
    format!("{{{}", &envelope[after_ts..])
}

pub fn load() -> (Vec<Valid>, Vec<Invalid>) {
    let corpus: Value = serde_json::from_str(CORPUS).expect("corpus.json is JSON");
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for (type_name, cases) in corpus.as_object().expect("an object of types") {
        for envelope in cases["valid"].as_array().expect("valid cases") {
            let publish = serde_json::json!({ "type": envelope["type"], "data": envelope["data"] });
            valid.push(Valid {
                type_name: type_name.clone(),
                envelope: envelope.to_string(),
                publish: publish.to_string(),
            });
        }
        for case in cases["invalid"].as_array().expect("invalid cases") {
            let envelope = case["json"].as_str().expect("json").to_string();
            invalid.push(Invalid {
                type_name: type_name.clone(),
                name: case["name"].as_str().expect("name").to_string(),
                publish: publish_body(&envelope),
                envelope,
                path: case["path"].as_str().expect("path").to_string(),
                code: case["code"].as_str().expect("code").to_string(),
            });
        }
    }
    (valid, invalid)
}
