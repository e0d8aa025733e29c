//! Parsing with validation, straight from the JSON text into the typed structs.
//!
//! The fast path is a plain serde parse (plus, in strict mode, a note of any unknown key, and for
//! text with a `[` in it a check that no array stands where an object belongs). Only when that
//! fails is the text parsed again with path tracking, to say where: errors are the rare case, so
//! the common case pays nothing for paths.

use serde::Deserialize;

use crate::catalog::Rules;
use crate::error::{from_serde, push_token, ErrorCode, ValidationError};
use crate::fields::{landing_at, Landing};

/// Parses `json` as `T`. Strict mode (publishing) refuses unknown keys; tolerant mode (reading what
/// a possibly newer server sent) ignores them.
/// `STRICT` is a const parameter so that a build which never parses strictly (the browser module)
/// does not carry the strict instantiations.
pub(crate) fn parse_typed<'de, T, const STRICT: bool>(json: &'de str) -> Result<T, ValidationError>
where
    T: Deserialize<'de> + Rules,
{
    let strict = STRICT;
    if strict {
        if let Some(error) = array_for_object::<T>(json) {
            return Err(error);
        }
    }
    let mut unknown: Option<Vec<String>> = None;
    let mut de = serde_json::Deserializer::from_str(json);
    let parsed = if strict {
        serde_ignored::deserialize(&mut de, |path| {
            if unknown.is_none() {
                unknown = Some(segments(&path));
            }
        })
    } else {
        T::deserialize(&mut de)
    };
    match parsed.and_then(|value| de.end().map(|()| value)) {
        Ok(value) => {
            if let Some(path) = unknown {
                return Err(unknown_field::<T>(&path));
            }
            value.check()?;
            Ok(value)
        }
        Err(_) => Err(locate::<T>(json)),
    }
}

/// The slow path: parse again, tracking the path, to report where the first error is.
fn locate<'de, T: Deserialize<'de>>(json: &'de str) -> ValidationError {
    let mut de = serde_json::Deserializer::from_str(json);
    let mut track = serde_path_to_error::Track::new();
    let result = T::deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    let result = result.and_then(|_| de.end());
    match result {
        Err(e) => from_serde(serde_path_to_error::Error::new(track.path(), e), json),
        // Unreachable in practice: the fast path failed on the same input.
        Ok(()) => ValidationError::new("", ErrorCode::MalformedJson, "could not be parsed"),
    }
}

/// serde's derived structs also accept their fields as an array, in order (`["t1", 0.5]` for
/// `{"taskId": "t1", "progress": 0.5}`); the catalog says objects, and what is published is stored
/// and sent as written. Publishing refuses an array wherever the type has a struct, found by
/// asking the type itself (`fields::landing_at`), and only looking inside what can hold one. Only
/// text with a `[` in it can hold an array.
fn array_for_object<'de, T: Deserialize<'de>>(json: &str) -> Option<ValidationError> {
    if !json.contains('[') {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(value) => find_array_for_object::<T>(&value, &mut Vec::new()),
        // Too deep to read as a value: still say so when the whole is an array where an object
        // belongs. Any other text that is not JSON is the typed parse's to report.
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            let root = matches!(landing_at::<T>(&[]), Landing::Struct(_));
            (root && json.trim_start().starts_with('[')).then(|| array_error(&[]))
        }
        Err(_) => None,
    }
}

fn array_error(path: &[String]) -> ValidationError {
    ValidationError::new(pointer(path), ErrorCode::InvalidType, "has the wrong type: expected an object, got an array")
}

/// `path` (unescaped keys and indexes from the root) as a JSON pointer.
fn pointer(path: &[String]) -> String {
    let mut pointer = String::new();
    for segment in path {
        push_token(&mut pointer, segment);
    }
    pointer
}

fn find_array_for_object<'de, T: Deserialize<'de>>(
    value: &serde_json::Value,
    path: &mut Vec<String>,
) -> Option<ValidationError> {
    let landing = landing_at::<T>(path);
    let children: Vec<(String, &serde_json::Value)> = match (value, landing) {
        (_, Landing::Leaf) => return None,
        (serde_json::Value::Array(_), Landing::Struct(_)) => return Some(array_error(path)),
        (serde_json::Value::Array(items), Landing::Container) => {
            // Every element has one type: look inside them only if it can hold a struct.
            path.push("0".to_string());
            let element = landing_at::<T>(path);
            path.pop();
            if element == Landing::Leaf {
                return None;
            }
            items.iter().enumerate().map(|(index, item)| (index.to_string(), item)).collect()
        }
        (serde_json::Value::Object(map), _) => map.iter().map(|(key, item)| (key.clone(), item)).collect(),
        _ => return None,
    };
    for (key, item) in children {
        if !(item.is_array() || item.is_object()) {
            continue;
        }
        path.push(key);
        let found = find_array_for_object::<T>(item, path);
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The error for an unknown key at `path`, listing the keys the object there takes.
fn unknown_field<'de, T: Deserialize<'de>>(path: &[String]) -> ValidationError {
    let parent = path.split_last().map_or(path, |(_, parent)| parent);
    let message = match crate::fields::fields_at::<T>(parent) {
        Some(fields) => format!("is not a field of this object (its fields: {})", fields.join(", ")),
        None => "is not a field of this object".to_string(),
    };
    ValidationError::new(pointer(path), ErrorCode::UnknownField, message)
}

/// The path serde_ignored reports, as unescaped keys and indexes from the root.
fn segments(path: &serde_ignored::Path<'_>) -> Vec<String> {
    let mut out = Vec::new();
    build(path, &mut out);
    out
}

fn build(path: &serde_ignored::Path<'_>, out: &mut Vec<String>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            build(parent, out);
            out.push(index.to_string());
        }
        Path::Map { parent, key } => {
            build(parent, out);
            out.push(key.clone());
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => build(parent, out),
    }
}
