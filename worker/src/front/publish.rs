//! The publish body (contract 4.2): one event, or `{"events": [...]}` of up to 100, all-or-nothing.

use std::collections::HashSet;

use schema_wasm::catalog::VersionAvailable;
use schema_wasm::{event_from_parts, parse_published, ErrorCode, PublishedEvent};
use serde_json::value::RawValue;

use crate::api_error::{internal, pointer_or_root, ApiError, Detail};

pub const MAX_BODY_BYTES: usize = schema_wasm::rules::MAX_PUBLISH_BYTES;
pub const MAX_BATCH: usize = 100;

/// Parses and validates a publish body. Every event is validated; one invalid event rejects the
/// whole body, and the 422 lists every invalid event by index.
pub fn parse_body(body: &[u8]) -> Result<Vec<PublishedEvent>, ApiError> {
    let text = body_text(body)?;
    let object = members(text).map_err(|e| match e {
        Members::NotJson(e) => ApiError::bad_request(format!("body is not valid JSON ({e})")),
        Members::NotObject => {
            ApiError::bad_request(r#"body must be a JSON object: one event {"type","data"} or {"events": [...]}"#)
        }
    })?;
    // A key twice inside one event is the event's error (422, below); `events` twice is the body's.
    let mut batches = object.iter().filter(|(key, _)| key == "events").map(|(_, value)| *value);
    let (events, again) = (batches.next(), batches.next());
    if again.is_some() {
        return Err(repeated("events"));
    }

    let raw_events: Vec<&str> = match events {
        None => vec![text],
        Some(events) => {
            if object.len() > 1 {
                return Err(ApiError::bad_request(
                    r#"a batch body holds only "events"; put type/data inside each event"#,
                ));
            }
            let list: Vec<&RawValue> = serde_json::from_str(events.get())
                .map_err(|_| ApiError::bad_request(r#""events" must be an array of events"#))?;
            if list.is_empty() || list.len() > MAX_BATCH {
                return Err(ApiError::bad_request(format!(
                    r#""events" must hold 1 to {MAX_BATCH} events, got {}; split larger batches"#,
                    list.len()
                )));
            }
            list.into_iter().map(RawValue::get).collect()
        }
    };

    let mut events = Vec::with_capacity(raw_events.len());
    let mut details = Vec::new();
    for (index, raw) in raw_events.into_iter().enumerate() {
        match parse_published(raw) {
            Ok(event) => events.push(event),
            // Text the body-level parse let through (a lone surrogate escape inside a string) is
            // still not JSON: the contract's answer to malformed JSON is 400, not 422.
            Err(e) if e.code == ErrorCode::MalformedJson => {
                return Err(ApiError::bad_request(format!("event {index} is not valid JSON: {}", e.message)))
            }
            Err(e) => details.push(Detail { index, path: e.path, code: e.code.as_str(), message: e.message }),
        }
    }
    if !details.is_empty() {
        return Err(ApiError::invalid_event(details));
    }
    Ok(events)
}

/// The body of `PUT /v1/versions`: a `version.available` event's data with its `target` beside it
/// (`{"version", "changelog"?, "target"?: {"requestId"}}`). Error paths point into this body.
pub fn parse_version_body(body: &[u8]) -> Result<PublishedEvent, ApiError> {
    let text = body_text(body)?;
    let list = members(text)
        .map_err(|_| ApiError::bad_request(r#"body must be a JSON object: {"version", "changelog"?, "target"?}"#))?;
    let mut target = None;
    let mut data = String::from("{");
    let mut seen = HashSet::new();
    for (key, value) in &list {
        if !seen.insert(key) {
            return Err(repeated(key));
        }
        if key == "target" {
            target = Some(value.get());
            continue;
        }
        if data.len() > 1 {
            data.push(',');
        }
        data.push_str(&serde_json::to_string(key).map_err(internal("encoding a version's field name"))?);
        data.push(':');
        data.push_str(value.get());
    }
    data.push('}');
    event_from_parts(VersionAvailable::NAME, &data, target).map_err(|e| {
        if e.code == ErrorCode::MalformedJson {
            return ApiError::bad_request(format!("body is not valid JSON: {}", e.message));
        }
        let mut err =
            ApiError::invalid_event(vec![Detail { index: 0, path: e.path, code: e.code.as_str(), message: e.message }]);
        if let Some(d) = err.details.first() {
            err.message = format!("the version is invalid at {}: {}", pointer_or_root(&d.path), d.message);
        }
        err
    })
}

/// A body within the size limit, as text.
fn body_text(body: &[u8]) -> Result<&str, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    std::str::from_utf8(body).map_err(|_| ApiError::bad_request("body is not valid UTF-8"))
}

fn repeated(key: &str) -> ApiError {
    ApiError::bad_request(format!("body has the key {key:?} twice; give it once"))
}

/// Why a body is not a JSON object.
enum Members {
    NotJson(serde_json::Error),
    NotObject,
}

/// The members of the JSON object `text` in order, each value as its text, a key given twice
/// kept twice: a map would keep one of them silently (`{"events": [bad], "events": [good]}`).
fn members(text: &str) -> Result<Vec<(String, &RawValue)>, Members> {
    if !crate::json_object::is_object(text.as_bytes()) {
        // Still say "not JSON" for text that is not JSON at all.
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(e) if e.is_syntax() || e.is_eof() => Members::NotJson(e),
            _ => Members::NotObject,
        });
    }
    serde_json::from_str::<Entries<'_>>(text).map(|entries| entries.0).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Members::NotJson(e)
        } else {
            Members::NotObject
        }
    })
}

/// An object's members in order, duplicates kept (serde's maps keep only the last).
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut list = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    list.push(entry);
                }
                Ok(Entries(list))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK: &str = r#"{"type":"task.progress","data":{"taskId":"t1","progress":0.5}}"#;

    #[test]
    fn one_event() {
        assert_eq!(parse_body(TASK.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let body = format!(r#"{{"events":[{{"type":"nope"}}],"events":[{TASK}]}}"#);
        let e = parse_body(body.as_bytes()).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (400, r#"body has the key "events" twice; give it once"#));
        let e = parse_version_body(br#"{"version":"1","version":"2"}"#).unwrap_err();
        assert_eq!(e.status, 400);
        // Inside one event, a key twice is that event's error.
        let e = parse_body(br#"{"type":"task.failed","type":"task.failed","data":{"taskId":"t","error":"x"}}"#)
            .unwrap_err();
        assert_eq!(e.status, 422);
        assert_eq!(parse_body(b"[1,2]").unwrap_err().status, 400);
        assert!(parse_body(b"{nope").unwrap_err().message.starts_with("body is not valid JSON"));
    }

    #[test]
    fn a_batch_keeps_order() {
        let body = format!(r#"{{"events":[{TASK},{}]}}"#, TASK.replace("t1", "t2"));
        let events = parse_body(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        assert!(events[1].data.get().contains("t2"));
    }

    #[test]
    fn one_bad_event_rejects_the_batch_and_names_its_index() {
        let bad = TASK.replace("0.5", "2");
        let body = format!(r#"{{"events":[{TASK},{bad},{bad}]}}"#);
        let e = parse_body(body.as_bytes()).unwrap_err();
        assert_eq!(e.status, 422);
        let indexes: Vec<usize> = e.details.iter().map(|d| d.index).collect();
        assert_eq!(indexes, vec![1, 2]);
        assert_eq!(e.details[0].path, "/data/progress");
    }

    #[test]
    fn batch_limits() {
        let body = format!(r#"{{"events":[{}]}}"#, vec![TASK; 101].join(","));
        assert_eq!(parse_body(body.as_bytes()).unwrap_err().status, 400);
        assert_eq!(parse_body(br#"{"events":[]}"#).unwrap_err().status, 400);
        let body = format!(r#"{{"events":[{}]}}"#, vec![TASK; 100].join(","));
        assert_eq!(parse_body(body.as_bytes()).unwrap().len(), 100);
    }

    #[test]
    fn malformed_bodies_are_400() {
        let surrogate = br#"{"type":"task.failed","data":{"taskId":"t","error":"\ud800"}}"#;
        for body in
            [&b"{"[..], b"[1,2]", b"\"x\"", b"\xff\xfe", br#"{"events":{}}"#, br#"{"events":[],"type":"x"}"#, surrogate]
        {
            assert_eq!(parse_body(body).unwrap_err().status, 400, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn version_bodies() {
        let v = parse_version_body(br#"{"version":"1.2.3","changelog":"faster"}"#).unwrap();
        assert_eq!(v.type_name, "version.available");
        assert!(v.target.is_none());
        let v = parse_version_body(br#"{"version":"1.2.3","target":{"requestId":"tab-1"}}"#).unwrap();
        assert_eq!(v.target.unwrap().request_id.as_str(), "tab-1");
        let e = parse_version_body(br#"{"changelog":"x"}"#).unwrap_err();
        assert_eq!((e.status, e.details[0].path.as_str()), (422, "/version"));
        let e = parse_version_body(br#"{"version":"","extra":1}"#).unwrap_err();
        assert_eq!(e.status, 422);
        let e = parse_version_body(br#"{"version":"1","versoin":"2"}"#).unwrap_err();
        assert_eq!(e.details[0].message, "is not a field of this object (its fields: version, changelog)");
        let e = parse_version_body(br#"{"version":"1","target":{"requestId":"a b"}}"#).unwrap_err();
        assert_eq!(e.details[0].path, "/target/requestId");
        assert_eq!(parse_version_body(b"nope").unwrap_err().status, 400);
    }

    #[test]
    fn size_limit() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_body(&body).unwrap_err().status, 413);
    }
}
