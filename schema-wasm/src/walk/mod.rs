//! The validator: one pass over the JSON text as serde_json reads it, guided by a `Shape`.
//!
//! A single visitor checks every shape, so the module carries one copy of this code instead of
//! one per type, and nothing is built: strings are looked at where they lie in the text. The path
//! to the current value is kept as the walk goes (a push and a pop per value, no allocation), so
//! the first error is reported where it is without a second parse.
//!
//! Errors come in document order, as the text is read, with two kinds kept for the end of the walk:
//! an unknown field (refused when publishing, ignored when reading) and a rule across fields
//! (`Rule`), reported only if the text walked is otherwise valid, the unknown field first. An
//! event's `data` kept as text is walked after the event's own fields (`event.rs`), so errors in
//! those come first.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed};

use crate::error::{push_token, ErrorCode, ValidationError};
use crate::shape::Shape;

mod node;
use node::Node;

/// How to walk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mode {
    /// Refuse fields the catalog does not know (publishing); else ignore them (reading).
    pub strict: bool,
    /// Check an event's `data` while reading it when its `type` came first; else keep its text.
    pub inline_data: bool,
}

/// What a walk kept for its caller.
#[derive(Debug, Default)]
pub(crate) struct Found<'de> {
    /// The `type` of an event.
    pub type_name: Option<Cow<'de, str>>,
    /// The text of an event's `data`, unless it was checked while read.
    pub data: Option<&'de str>,
    /// The text of a `Shape::Kept` value.
    pub kept: Option<&'de str>,
}

/// Checks `json` against `shape`.
pub(crate) fn walk<'de>(json: &'de str, shape: &'static Shape, mode: Mode) -> Result<Found<'de>, ValidationError> {
    let mut walk = Walk::new(mode);
    let mut de = serde_json::Deserializer::from_str(json);
    let result = Node { walk: &mut walk, shape, nullable: false }.deserialize(&mut de).and_then(|_| de.end());
    match walk.finish(result) {
        // `data` was checked as it was read and something failed: read again keeping `data` as
        // text, so that an error in the fields around it is reported first, as when `data` comes
        // before `type`.
        Err(_) if walk.data_inline => self::walk(json, shape, Mode { inline_data: false, ..mode }),
        Err(e) => Err(e),
        Ok(()) => Ok(walk.found),
    }
}

/// One step of the path from the root to the current value.
#[derive(Debug)]
enum Segment<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

struct Walk<'de> {
    mode: Mode,
    path: Vec<Segment<'de>>,
    /// The error that stopped the walk, when it was ours (else it is serde_json's).
    error: Option<ValidationError>,
    /// The first unknown field, when publishing.
    unknown: Option<ValidationError>,
    /// The first broken rule across fields.
    rule: Option<ValidationError>,
    /// Whether `data` was being checked as it was read.
    data_inline: bool,
    found: Found<'de>,
}

impl<'de> Walk<'de> {
    fn new(mode: Mode) -> Self {
        Walk {
            mode,
            path: Vec::new(),
            error: None,
            unknown: None,
            rule: None,
            data_inline: false,
            found: Found::default(),
        }
    }

    /// The current path as a JSON pointer, plus `last` when given.
    fn pointer(&self, last: Option<&str>) -> String {
        let mut pointer = String::new();
        for segment in &self.path {
            match segment {
                Segment::Key(key) => push_token(&mut pointer, key),
                Segment::Index(index) => push_token(&mut pointer, &index.to_string()),
            }
        }
        if let Some(last) = last {
            push_token(&mut pointer, last);
        }
        pointer
    }

    /// Stops the walk with an error at the current path (or at its child `last`).
    fn fail<E: de::Error>(&mut self, last: Option<&str>, code: ErrorCode, message: impl Into<String>) -> E {
        self.error = Some(ValidationError::new(self.pointer(last), code, message));
        E::custom("")
    }

    /// The outcome of a walk, from serde_json's result.
    fn finish(&mut self, result: Result<(), serde_json::Error>) -> Result<(), ValidationError> {
        match result {
            Err(e) => Err(self.error.take().unwrap_or_else(|| json_error(&e, self.pointer(None)))),
            Ok(()) => match self.unknown.take().or_else(|| self.rule.take()) {
                Some(e) => Err(e),
                None => Ok(()),
            },
        }
    }
}

/// One of serde_json's own errors (the text is not JSON, nests too deep, has a number too large
/// for a double), found at `pointer`.
fn json_error(e: &serde_json::Error, pointer: String) -> ValidationError {
    let text = e.to_string();
    // serde_json appends " at line L column C"; the path says where, so drop it.
    let text = text.rfind(" at line ").and_then(|at| text.get(..at)).unwrap_or(&text).to_string();
    if is_too_deep(&text) {
        ValidationError::new("", ErrorCode::TooDeep, text)
    } else if text.starts_with("number out of range") {
        ValidationError::new(pointer, ErrorCode::OutOfRange, text)
    } else {
        // A syntax error says nothing about a field: report it against the whole document.
        ValidationError::new("", ErrorCode::MalformedJson, text)
    }
}

fn is_too_deep(e: &impl fmt::Display) -> bool {
    e.to_string().starts_with("recursion limit exceeded")
}

/// What a value turned out to be, for a rule across fields: the index of an enumeration's
/// variant, else `NOTHING`.
type Seen = u32;
const NOTHING: Seen = u32::MAX;

/// The JSON kinds, for "has the wrong type" messages.
#[derive(Clone, Copy)]
enum Kind {
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Boolean => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

/// What `shape` takes, for "has the wrong type" messages.
fn expected(shape: &Shape) -> &'static str {
    match shape {
        Shape::Text { .. } | Shape::RequestId | Shape::Subject | Shape::TypeName => "a string",
        Shape::Time => "an RFC 3339 timestamp string",
        Shape::EventId => "a decimal event id string",
        Shape::Unit | Shape::NonNegative | Shape::Number => "a number",
        Shape::Integer { .. } => "an integer",
        Shape::Enum { .. } => "one of the allowed strings",
        Shape::List { .. } => "an array",
        Shape::Map { .. } | Shape::Struct(_) => "an object",
        Shape::Any | Shape::Data => "any JSON value",
        Shape::Kept(inner) => expected(inner),
    }
}
