//! A published event (`{"type", "data", "target"?}`, contract 4.2) and the envelope every event
//! travels in once the server gave it an id and a timestamp (contract 3).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::catalog::{shape_of, SERVER_FRAME_TYPES};
use crate::error::{ErrorCode, ValidationError};
use crate::formats::{RequestId, Subject};
use crate::shape::{Field, Rule, Shape, Shaped, StructShape};
use crate::walk::{walk, Found, Mode};

/// `target` of a published event (contract 4.3): deliver only to the connection with this
/// request id, and only if it belongs to `sub` when the publisher names one (a request id belongs
/// to the token subject that used it first).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub request_id: RequestId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<Subject>,
}

/// `Target` as the validator checks it (its serde names; a test keeps the two in step).
impl Shaped for Target {
    const SHAPE: Shape = Shape::Struct(&StructShape {
        fields: &[
            Field { name: "requestId", shape: &RequestId::SHAPE, optional: false },
            Field { name: "sub", shape: &Subject::SHAPE, optional: true },
        ],
        rule: Rule::None,
    });
}

/// A published event: `{"type", "data", "target"?}` (contract 4.2).
const PUBLISHED: Shape = Shape::Struct(&StructShape {
    fields: &[
        Field { name: "type", shape: &Shape::TypeName, optional: false },
        Field { name: "data", shape: &Shape::Data, optional: false },
        Field { name: "target", shape: &Shape::Kept(&Target::SHAPE), optional: true },
    ],
    rule: Rule::None,
});

/// An envelope as the stream and the history endpoint carry it: `{"id","type","ts","data",
/// "target"?}` (contract 3).
const ENVELOPE: Shape = Shape::Struct(&StructShape {
    fields: &[
        Field { name: "id", shape: &Shape::EventId, optional: false },
        Field { name: "type", shape: &Shape::TypeName, optional: false },
        Field { name: "ts", shape: &Shape::Time, optional: false },
        Field { name: "data", shape: &Shape::Data, optional: false },
        Field { name: "target", shape: &Target::SHAPE, optional: true },
    ],
    rule: Rule::None,
});

/// One valid event as a publisher sent it. The front worker hands it to the org's hub as it is
/// (JSON in a hub call); the hub reads the type back through the catalog, so it never holds a
/// type the catalog does not know.
#[derive(Clone, Debug, Serialize)]
pub struct PublishedEvent {
    /// The catalog's name of its type.
    #[serde(rename = "type")]
    pub type_name: &'static str,
    /// `data` exactly as published, with the whitespace between tokens removed (one line).
    pub data: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

/// A `PublishedEvent` as it reads back, before its type is found in the catalog.
#[derive(Deserialize)]
struct Crossing {
    #[serde(rename = "type")]
    type_name: String,
    data: Box<RawValue>,
    #[serde(default)]
    target: Option<Target>,
}

impl<'de> Deserialize<'de> for PublishedEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let c = Crossing::deserialize(deserializer)?;
        let (type_name, _) =
            shape_of(&c.type_name).ok_or_else(|| serde::de::Error::custom(unknown_type(&c.type_name).message))?;
        Ok(PublishedEvent { type_name, data: c.data, target: c.target })
    }
}

/// Parses and validates one published event, strictly: unknown fields anywhere are errors.
/// Error paths are JSON pointers into `json` (`/data/severity`).
pub fn parse_published(json: &str) -> Result<PublishedEvent, ValidationError> {
    let found = walk(json, &PUBLISHED, Mode { strict: true, inline_data: false })?;
    let (type_name, data) = check_data(&found, true)?;
    let target = found.kept.map(read_target).transpose()?.flatten();
    Ok(PublishedEvent { type_name, data: one_line(data.unwrap_or_default())?, target })
}

/// Validates an event given in parts, strictly, for a body that carries an event's data and its
/// target side by side (`PUT /v1/versions`): `data` against the type's shape (error paths point
/// into `data`), `target` as a published event's target (error paths under `/target`).
pub fn event_from_parts(type_name: &str, data: &str, target: Option<&str>) -> Result<PublishedEvent, ValidationError> {
    let (type_name, shape) = shape_of(type_name).ok_or_else(|| unknown_type(type_name))?;
    walk(data, shape, Mode { strict: true, inline_data: false })?;
    let target = match target {
        Some(text) => {
            walk(text, &Target::SHAPE, Mode { strict: true, inline_data: false }).map_err(|e| e.under("/target"))?;
            read_target(text)?
        }
        None => None,
    };
    Ok(PublishedEvent { type_name, data: one_line(data)?, target })
}

/// A target the walk checked, read into its type (`null`: none): this cannot fail, and would be
/// reported at `/target` if it did.
fn read_target(text: &str) -> Result<Option<Target>, ValidationError> {
    serde_json::from_str::<Option<Target>>(text)
        .map_err(|e| ValidationError::new("/target", ErrorCode::InvalidValue, e.to_string()))
}

/// Checked `data`, on one line.
fn one_line(data: &str) -> Result<Box<RawValue>, ValidationError> {
    RawValue::from_string(crate::json_text::minify(data))
        .map_err(|e| ValidationError::new("/data", ErrorCode::MalformedJson, e.to_string()))
}

/// Validates an envelope as it arrives on the stream or from the history endpoint
/// (`{"id","type","ts","data","target"?}`). Tolerant: fields this catalog does not know are ignored
/// at every level, so a page keeps working when the server adds a field. One pass when `type`
/// comes before `data`, as the server writes them.
pub fn validate_envelope(json: &str) -> Result<&'static str, ValidationError> {
    let found = walk(json, &ENVELOPE, Mode { strict: false, inline_data: true })?;
    check_data(&found, false).map(|(type_name, _)| type_name)
}

/// After a walk of an event: its type must be in the catalog, and its `data`, if the walk kept it
/// as text, must fit that type.
fn check_data<'de>(found: &Found<'de>, strict: bool) -> Result<(&'static str, Option<&'de str>), ValidationError> {
    let name = found.type_name.as_deref().unwrap_or_default();
    let Some((type_name, shape)) = shape_of(name) else {
        return Err(unknown_type(name).under("/type"));
    };
    if let Some(data) = found.data {
        walk(data, shape, Mode { strict, inline_data: false }).map_err(|e| e.under("/data"))?;
    }
    Ok((type_name, found.data))
}

/// Validates one event's `data` tolerantly (as `validate_envelope` does), returning the catalog's
/// name of the type. Errors point into `data` itself; an unknown type is reported at the root.
pub fn validate_data(type_name: &str, json: &str) -> Result<&'static str, ValidationError> {
    let (name, shape) = shape_of(type_name).ok_or_else(|| unknown_type(type_name))?;
    walk(json, shape, Mode { strict: false, inline_data: false }).map(|_| name)
}

fn unknown_type(type_name: &str) -> ValidationError {
    if SERVER_FRAME_TYPES.contains(&type_name) {
        return ValidationError::new(
            "",
            ErrorCode::ReservedType,
            format!("`{type_name}` is sent only by the server and cannot be published"),
        );
    }
    let shown: String = type_name.chars().take(64).collect();
    let known = crate::catalog::EVENT_TYPES.join(", ");
    ValidationError::new("", ErrorCode::UnknownType, format!("`{shown}` is not an event type of the catalog ({known})"))
}

/// The envelope of one stored event, as the stream and the history endpoint carry it.
#[derive(Serialize)]
pub struct EnvelopeOut<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub type_name: &'a str,
    pub ts: &'a str,
    pub data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<&'a Target>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> ValidationError {
        match parse_published(json) {
            Ok(e) => panic!("expected an error for {json}, got {e:?}"),
            Err(e) => e,
        }
    }

    const GOOD: &str = r#"{"type":"change.detected","data":{"changeId":"c1","vendorId":"v1","title":"Price change","severity":"high","detectedAt":"2026-11-25T07:00:00.000Z"}}"#;

    #[test]
    fn an_event_in_parts_is_checked_with_paths_into_its_parts() {
        let e = event_from_parts("version.available", r#"{ "version": "1.2.3" }"#, Some(r#"{"requestId":"tab-1"}"#))
            .unwrap();
        assert_eq!((e.type_name, e.data.get()), ("version.available", r#"{"version":"1.2.3"}"#));
        assert_eq!(e.target.unwrap().request_id.as_str(), "tab-1");
        let e = event_from_parts("version.available", r#"{"versoin":"1"}"#, None).unwrap_err();
        assert_eq!((e.path.as_str(), e.code), ("/versoin", ErrorCode::UnknownField));
        let e = event_from_parts("version.available", r#"{"changelog":"x"}"#, None).unwrap_err();
        assert_eq!((e.path.as_str(), e.code), ("/version", ErrorCode::MissingField));
        let e = event_from_parts("version.available", r#"{"version":"1","versoin":"1"}"#, None).unwrap_err();
        assert_eq!((e.path.as_str(), e.code), ("/versoin", ErrorCode::UnknownField));
        let e = event_from_parts("version.available", r#"{"version":"1"}"#, Some(r#"{"requestId":"a b"}"#));
        assert_eq!(e.unwrap_err().path, "/target/requestId");
        assert_eq!(event_from_parts("nope", "{}", None).unwrap_err().code, ErrorCode::UnknownType);
    }

    #[test]
    fn a_published_event_crosses_as_json_and_comes_back_through_the_catalog() {
        let e = parse_published(GOOD).unwrap();
        let json = serde_json::to_string(&e).unwrap();
        let back: PublishedEvent = serde_json::from_str(&json).unwrap();
        assert_eq!((back.type_name, back.data.get()), (e.type_name, e.data.get()));
        let forged = json.replace("change.detected", "stream.reset");
        assert!(serde_json::from_str::<PublishedEvent>(&forged).is_err());
    }

    #[test]
    fn a_valid_event_parses() {
        let e = parse_published(GOOD).unwrap();
        assert_eq!(e.type_name, "change.detected");
        assert_eq!(e.target, None);
    }

    #[test]
    fn wrong_enum_value_points_at_the_field() {
        let e = err(&GOOD.replace("\"high\"", "\"severe\""));
        assert_eq!((e.path.as_str(), e.code), ("/data/severity", ErrorCode::InvalidEnum));
    }

    #[test]
    fn missing_field_points_at_the_missing_field() {
        let e = err(&GOOD.replace(r#""vendorId":"v1","#, ""));
        assert_eq!((e.path.as_str(), e.code), ("/data/vendorId", ErrorCode::MissingField));
    }

    #[test]
    fn missing_data_points_at_data() {
        let e = err(r#"{"type":"task.failed"}"#);
        assert_eq!((e.path.as_str(), e.code), ("/data", ErrorCode::MissingField));
    }

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        let e = err(&GOOD.replace(r#""title""#, r#""extra":1,"title""#));
        assert_eq!((e.path.as_str(), e.code), ("/data/extra", ErrorCode::UnknownField));
        let e = err(&GOOD.replace(r#"{"type""#, r#"{"id":"5","type""#));
        assert_eq!((e.path.as_str(), e.code), ("/id", ErrorCode::UnknownField));
    }

    #[test]
    fn a_misspelled_field_is_named_with_the_field_it_looks_like() {
        let e = err(r#"{"type":"task.progress","data":{"taskId":"t","progres":0.5}}"#);
        assert_eq!((e.path.as_str(), e.code), ("/data/progres", ErrorCode::UnknownField));
        assert!(e.message.starts_with("is not a field of this object; did you mean `progress`?"), "{}", e.message);
        let e = err(&GOOD.replace(r#""title""#, r#""Title""#));
        assert_eq!((e.path.as_str(), e.code), ("/data/Title", ErrorCode::UnknownField));
        assert!(e.message.contains("did you mean `title`?"), "{}", e.message);
        // Nothing like a field: no guess; a field missing with nothing like it: missing.
        let e = err(&GOOD.replace(r#""title""#, r#""extra":1,"title""#));
        assert!(!e.message.contains("did you mean"), "{}", e.message);
        let e = err(&GOOD.replace(r#""title""#, r#""headline""#));
        assert_eq!((e.path.as_str(), e.code), ("/data/title", ErrorCode::MissingField));
        // A field that was given is not what a stranger meant.
        let e = err(&GOOD.replace(r#""title":"Price change""#, r#""title":"Price change","titel":"x""#));
        assert_eq!(e.path, "/data/titel");
        assert!(!e.message.contains("did you mean"), "{}", e.message);
    }

    #[test]
    fn arrays_are_refused_where_the_catalog_has_objects() {
        let e = err(r#"{"type":"task.progress","data":["t1",0.5]}"#);
        assert_eq!((e.path.as_str(), e.code), ("/data", ErrorCode::InvalidType));
        let e = err(r#"["task.progress",{"taskId":"t1","progress":0.5}]"#);
        assert_eq!((e.path.as_str(), e.code), ("", ErrorCode::InvalidType));
        let e = err(r#"{"type":"task.failed","data":{"taskId":"t","error":"x"},"target":["tab-1"]}"#);
        assert_eq!((e.path.as_str(), e.code), ("/target", ErrorCode::InvalidType));
        let details = r#"{"type":"reconciliation.update","data":{"eventId":"e","service":"s","status":"discrepancy","counts":{},"checksum":"c","latencyMs":1,"discrepancyDetails":[{},{},[]]}}"#;
        let e = err(details);
        assert_eq!((e.path.as_str(), e.code), ("/data/discrepancyDetails", ErrorCode::InvalidType));
        // Text that is not JSON stays malformed, array or not (a lone surrogate escape).
        let e = err(r#"{"type":"task.progress","data":["\ud800",0.5]}"#);
        assert_eq!(e.code, ErrorCode::MalformedJson);
        // Arrays where the catalog has arrays or any JSON are fine.
        let ok = r#"{"type":"task.completed","data":{"taskId":"t","result":[[1],{"a":[2]}]}}"#;
        assert!(parse_published(ok).is_ok());
    }

    #[test]
    fn an_unknown_field_error_lists_the_fields_of_its_object() {
        let e = err(&GOOD.replace(r#""title""#, r#""titel":"x","title""#));
        assert_eq!(
            e.message,
            "is not a field of this object (its fields: changeId, vendorId, title, severity, detectedAt, url)"
        );
        let e = err(&GOOD.replace(r#"{"type""#, r#"{"id":"5","type""#));
        assert_eq!(e.message, "is not a field of this object (its fields: type, data, target)");
        let e =
            err(r#"{"type":"task.failed","data":{"taskId":"t","error":"x"},"target":{"requestId":"r","user":"u"}}"#);
        assert_eq!(e.path, "/target/user");
        assert_eq!(e.message, "is not a field of this object (its fields: requestId, sub)");
    }

    #[test]
    fn unknown_and_reserved_types() {
        let e = err(r#"{"type":"nope","data":{}}"#);
        assert_eq!((e.path.as_str(), e.code), ("/type", ErrorCode::UnknownType));
        let e = err(r#"{"type":"heartbeat","data":{"ts":"2026-11-25T07:00:00Z"}}"#);
        assert_eq!((e.path.as_str(), e.code), ("/type", ErrorCode::ReservedType));
    }

    #[test]
    fn from_equal_to_is_refused() {
        let e = err(
            r#"{"type":"change.stateChanged","data":{"changeId":"c","from":"new","to":"new","changedAt":"2026-11-25T07:00:00Z"}}"#,
        );
        assert_eq!((e.path.as_str(), e.code), ("/data/to", ErrorCode::InvalidValue));
    }

    #[test]
    fn nested_paths_use_json_pointer() {
        let e = err(
            r#"{"type":"org.entitlements.changed","data":{"plan":"team","features":["a",""],"limits":{},"effectiveAt":"2026-11-25T07:00:00Z"}}"#,
        );
        assert_eq!((e.path.as_str(), e.code), ("/data/features/1", ErrorCode::InvalidLength));
        let e = err(
            r#"{"type":"org.entitlements.changed","data":{"plan":"team","features":[],"limits":{"a/b":-1},"effectiveAt":"2026-11-25T07:00:00Z"}}"#,
        );
        assert_eq!((e.path.as_str(), e.code), ("/data/limits/a~1b", ErrorCode::OutOfRange));
    }

    #[test]
    fn malformed_json_and_huge_numbers() {
        let e = err(r#"{"type":"task.progress","data":{"taskId":"t","progress":0.5}"#);
        assert_eq!((e.path.as_str(), e.code), ("", ErrorCode::MalformedJson));
        let e = err(r#"{"type":"task.progress","data":{"taskId":"t","progress":1e400}}"#);
        assert_eq!(e.code, ErrorCode::OutOfRange);
        let e = err(r#"{"type":"task.progress","data":{"taskId":"\ud800","progress":0.5}}"#);
        assert_eq!(e.code, ErrorCode::MalformedJson);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let e = err(&format!(r#"{{"type":"task.completed","data":{{"taskId":"t","result":{deep}}}}}"#));
        assert_eq!(e.code, ErrorCode::TooDeep);
    }

    #[test]
    fn explicit_null_result_is_kept() {
        let e = parse_published(r#"{"type":"task.completed","data":{"taskId":"t","result":null}}"#).unwrap();
        assert_eq!(e.data.get(), r#"{"taskId":"t","result":null}"#);
    }

    #[test]
    fn target_is_validated() {
        let ok = parse_published(
            r#"{"type":"task.failed","data":{"taskId":"t","error":"x"},"target":{"requestId":"tab-1"}}"#,
        )
        .unwrap();
        assert_eq!(ok.target.unwrap().request_id.as_str(), "tab-1");
        let e = err(r#"{"type":"task.failed","data":{"taskId":"t","error":"x"},"target":{"requestId":"a b"}}"#);
        assert_eq!((e.path.as_str(), e.code), ("/target/requestId", ErrorCode::InvalidFormat));
    }

    #[test]
    fn envelopes_check_the_same_in_any_field_order() {
        let server_order =
            r#"{"id":"7","type":"task.failed","ts":"2026-11-25T07:00:00Z","data":{"taskId":"t","error":"e"}}"#;
        let data_first =
            r#"{"data":{"taskId":"t","error":"e"},"ts":"2026-11-25T07:00:00Z","type":"task.failed","id":"7"}"#;
        assert_eq!(validate_envelope(server_order), Ok("task.failed"));
        assert_eq!(validate_envelope(data_first), Ok("task.failed"));
        let bad_first = r#"{"data":{"taskId":"t"},"type":"task.failed","ts":"2026-11-25T07:00:00Z","id":"7"}"#;
        assert_eq!(validate_envelope(bad_first).unwrap_err().path, "/data/error");
        let dup = r#"{"id":"7","type":"task.failed","type":"task.failed","ts":"2026-11-25T07:00:00Z","data":{"taskId":"t","error":"e"}}"#;
        assert!(validate_envelope(dup).is_err(), "duplicate fields are refused both ways");
    }

    #[test]
    fn the_target_shape_has_the_target_type_field_names() {
        let target = Target { request_id: RequestId::parse("r").unwrap(), sub: Some(Subject::parse("s").unwrap()) };
        let value = serde_json::to_value(target).unwrap();
        let serde_names: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let Shape::Struct(shape) = Target::SHAPE else { panic!("Target is an object") };
        let mut shape_names: Vec<&str> = shape.names().collect();
        shape_names.sort_unstable();
        assert_eq!(serde_names, shape_names);
    }

    #[test]
    fn tolerant_mode_ignores_unknown_fields() {
        assert_eq!(validate_data("task.failed", r#"{"taskId":"t","error":"x","newField":1}"#), Ok("task.failed"));
    }

    #[test]
    fn data_is_kept_as_published_on_one_line() {
        let e = parse_published("{\"type\": \"task.completed\",\n \"data\": {\n  \"taskId\": \"t 1\",\n  \"result\": [1.0, 2e3, \"a\\nb\"]\n }\n}").unwrap();
        assert_eq!(e.data.get(), r#"{"taskId":"t 1","result":[1.0,2e3,"a\nb"]}"#);
    }
}
