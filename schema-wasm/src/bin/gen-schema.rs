//! Writes the JSON Schema of every event type, and of the envelope, from the Rust types:
//!
//!   cargo run -p schema-wasm --features schema --bin gen-schema -- <out-dir>
//!
//! `npm run gen:schema` runs it (writing docs/schema/) and derives the TypeScript types from the
//! envelope schema; `npm test` checks that both are current.

use std::path::PathBuf;

use std::borrow::Cow;

use schema_wasm::{catalog::data_schemas, HistoryPage, ResyncInfo, Target, SCHEMA_VERSION};
use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args().nth(1).ok_or("usage: gen-schema <out-dir>")?.into();
    std::fs::create_dir_all(&out)?;
    let mut generator = SchemaSettings::draft2020_12().for_deserialize().into_generator();
    let types = data_schemas(&mut generator);
    let target = generator.subschema_for::<Target>();
    let defs = generator.take_definitions(true);

    let mut variants = Vec::new();
    for (type_name, struct_name, data) in &types {
        // One file per type: the schema of its `data`, self-contained.
        let mut one = data.clone().to_value();
        if let Value::Object(obj) = &mut one {
            if let Some(Value::String(reference)) = obj.get("$ref").cloned() {
                let key = reference.trim_start_matches("#/$defs/");
                *obj = defs.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
            }
            obj.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
            obj.insert("$id".into(), json!(format!("https://orgstream.dev/schema/{type_name}.json")));
            obj.insert("title".into(), json!(struct_name));
            let used = referenced(&Value::Object(obj.clone()), &defs);
            if !used.is_empty() {
                obj.insert("$defs".into(), Value::Object(used));
            }
        }
        std::fs::write(out.join(format!("{type_name}.json")), format!("{}\n", serde_json::to_string_pretty(&one)?))?;

        variants.push(json!({
            "type": "object",
            "title": format!("{struct_name}Event"),
            "properties": {
                "id": { "type": "string", "pattern": schema_wasm::ids::EVENT_ID_PATTERN },
                "type": { "const": type_name },
                "ts": { "type": "string", "format": "date-time" },
                "data": { "$ref": format!("#/$defs/{struct_name}") },
                "target": target.clone(),
            },
            "required": ["id", "type", "ts", "data"],
        }));
    }
    let envelope = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://orgstream.dev/schema/envelope.json",
        "title": "OrgEvent",
        "description": format!("An event as the stream and the history endpoint carry it (catalog {SCHEMA_VERSION})."),
        "oneOf": variants,
        "$defs": defs,
    });
    std::fs::write(out.join("envelope.json"), format!("{}\n", serde_json::to_string_pretty(&envelope)?))?;
    std::fs::write(out.join("rules.json"), format!("{}\n", serde_json::to_string_pretty(&rules())?))?;

    // The server's other answers a client reads, from their Rust types (schema_wasm::control).
    for (file, schema) in [
        ("resync-info", control_schema::<ResyncInfo>("ResyncInfo")),
        ("history-page", control_schema::<HistoryPage<Envelope>>("HistoryPage")),
    ] {
        let mut schema = schema.to_value();
        if let Value::Object(obj) = &mut schema {
            obj.insert("$id".into(), json!(format!("https://orgstream.dev/schema/{file}.json")));
        }
        std::fs::write(out.join(format!("{file}.json")), format!("{}\n", serde_json::to_string_pretty(&schema)?))?;
    }
    Ok(())
}

/// The schema of one of the server's answers, titled `title`, as it serializes.
fn control_schema<T: JsonSchema>(title: &str) -> Schema {
    let mut schema = SchemaSettings::draft2020_12().for_serialize().into_generator().into_root_schema_for::<T>();
    schema.insert("title".into(), json!(title));
    schema
}

/// An event in a history page: one of the envelope schema's variants.
struct Envelope;

impl JsonSchema for Envelope {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "OrgEvent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "$ref": "https://orgstream.dev/schema/envelope.json" })
    }
}

/// The shared rules, for `schema-wasm/js/rules.js` (see `schema_wasm::rules`).
fn rules() -> Value {
    use schema_wasm::{ids, rules};
    json!({
        "EVENT_ID_PATTERN": ids::EVENT_ID_PATTERN,
        "MAX_EVENT_ID": ids::MAX_EVENT_ID,
        "ORG_PATTERN": rules::ORG_PATTERN,
        "SCOPES": rules::SCOPES,
        "REQUEST_ID_PATTERN": rules::REQUEST_ID_PATTERN,
        "EVENT_TYPES": schema_wasm::EVENT_TYPES,
        "SERVER_FRAME_TYPES": schema_wasm::SERVER_FRAME_TYPES,
        "KEPT_TYPES": rules::KEPT_TYPES,
        "MAX_PUBLISH_BYTES": rules::MAX_PUBLISH_BYTES,
        "MAX_ENVELOPE_CHARS": rules::MAX_ENVELOPE_CHARS,
        "ERROR_CODES": schema_wasm::ErrorCode::ALL.map(schema_wasm::ErrorCode::as_str),
        "CLIENT_ERROR_MAX_BYTES": rules::CLIENT_ERROR_MAX_BYTES,
        "CLIENT_ERROR_LIMITS": rules::CLIENT_ERROR_LIMITS.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<_, _>>(),
    })
}

/// The definitions `schema` refers to, directly or through other definitions.
fn referenced(schema: &Value, defs: &Map<String, Value>) -> Map<String, Value> {
    let mut found = Map::new();
    let mut todo = vec![schema.clone()];
    while let Some(value) = todo.pop() {
        match value {
            Value::Object(obj) => {
                for (key, v) in obj {
                    if key == "$ref" {
                        if let Some(name) = v.as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
                            if let (false, Some(def)) = (found.contains_key(name), defs.get(name)) {
                                found.insert(name.to_string(), def.clone());
                                todo.push(def.clone());
                            }
                        }
                    } else {
                        todo.push(v);
                    }
                }
            }
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    found
}
