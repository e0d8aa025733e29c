//! Any bytes as a published event (the worker's strict check) and as a received envelope (the
//! browser's tolerant check): no panic, and what publishing accepts, reading accepts too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use schema_wasm::{parse_published, validate_data, validate_envelope, ErrorCode, EVENT_TYPES};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let _ = validate_envelope(text);
    match parse_published(text) {
        Ok(event) => {
            assert!(EVENT_TYPES.contains(&event.type_name));
            // What the hub stores and sends is JSON, on one line, and valid to the browser.
            assert!(serde_json::from_str::<serde_json::Value>(event.data.get()).is_ok(), "stored data is JSON");
            assert!(!event.data.get().contains('\n') && !event.data.get().contains('\r'), "stored data is one line");
            assert_eq!(
                validate_data(event.type_name, event.data.get()),
                Ok(event.type_name),
                "publishable implies readable"
            );
            let envelope = format!(
                r#"{{"id":"1","type":"{}","ts":"2026-11-26T00:00:00Z","data":{}}}"#,
                event.type_name, event.data
            );
            assert_eq!(validate_envelope(&envelope), Ok(event.type_name), "the envelope the hub builds validates");
        }
        Err(e) => {
            assert!(e.path.is_empty() || e.path.starts_with('/'), "a JSON pointer: {:?}", e.path);
            assert!(!e.message.is_empty());
            if matches!(e.code, ErrorCode::MalformedJson | ErrorCode::TooDeep) {
                assert!(e.path.is_empty(), "syntax errors are about the whole document");
            }
        }
    }
});
