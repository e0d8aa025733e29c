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

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{push_token, ErrorCode, ValidationError};
use crate::formats::{check_number, check_str};
use crate::shape::{Rule, Shape, StructShape, MAX_FIELDS};

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

/// The value at the current path, to be checked as `shape`.
struct Node<'w, 'de> {
    walk: &'w mut Walk<'de>,
    shape: &'static Shape,
    /// `null` is accepted (an optional field).
    nullable: bool,
}

impl<'de> Node<'_, 'de> {
    fn wrong_type<E: de::Error>(self, got: Kind) -> E {
        let message = format!("has the wrong type: expected {}, got {}", expected(self.shape), got.as_str());
        self.walk.fail(None, ErrorCode::InvalidType, message)
    }

    /// A string, checked (or kept, for an event's `type`).
    fn string<E: de::Error>(self, s: &str, keep: impl FnOnce(&str) -> Cow<'de, str>) -> Result<Seen, E> {
        match (self.shape, check_str(self.shape, s)) {
            (Shape::TypeName, _) => {
                self.walk.found.type_name = Some(keep(s));
                Ok(NOTHING)
            }
            (Shape::Enum { variants }, Some(Ok(()))) => {
                Ok(variants.iter().position(|v| *v == s).map_or(NOTHING, |i| i as Seen))
            }
            (_, Some(Ok(()))) => Ok(NOTHING),
            (_, Some(Err((code, message)))) => Err(self.walk.fail(None, code, message)),
            (_, None) => Err(self.wrong_type(Kind::String)),
        }
    }

    fn number<E: de::Error>(self, v: f64) -> Result<Seen, E> {
        match check_number(self.shape, v) {
            Some(Ok(())) => Ok(NOTHING),
            Some(Err((code, message))) => Err(self.walk.fail(None, code, message)),
            None => Err(self.wrong_type(Kind::Number)),
        }
    }

    /// `data`: checked now by its type's shape when the type is known and checking inline, else
    /// kept as text for the caller.
    fn data<D: Deserializer<'de>>(self, d: D) -> Result<Seen, D::Error> {
        let inline = self.walk.mode.inline_data;
        let shape = match &self.walk.found.type_name {
            Some(name) if inline => crate::catalog::shape_of(name).map(|(_, shape)| shape),
            _ => None,
        };
        match shape {
            Some(shape) => {
                self.walk.data_inline = true;
                d.deserialize_any(Node { walk: self.walk, shape, nullable: false })
            }
            None => {
                let raw = <&'de RawValue>::deserialize(d)?;
                self.walk.found.data = Some(raw.get());
                Ok(NOTHING)
            }
        }
    }

    /// A value checked as `inner` whose text is also kept.
    fn kept<D: Deserializer<'de>>(self, d: D, inner: &'static Shape) -> Result<Seen, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        let walk = self.walk;
        walk.found.kept = Some(raw.get());
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let result = Node { walk: &mut *walk, shape: inner, nullable: self.nullable }
            .deserialize(&mut de)
            .and_then(|seen| de.end().map(|()| seen));
        result.map_err(|e| {
            if walk.error.is_none() {
                walk.error = Some(json_error(&e, walk.pointer(None)));
            }
            de::Error::custom("")
        })
    }

    fn object<A: MapAccess<'de>>(self, s: &'static StructShape, mut map: A) -> Result<Seen, A::Error> {
        let walk = self.walk;
        let mut present: u32 = 0;
        let mut values = [NOTHING; MAX_FIELDS];
        // Fields usually come in the order they are declared: try the next one first.
        let mut next = 0usize;
        while let Some(key) = map.next_key_seed(Key)? {
            let index = match s.fields.get(next) {
                Some(field) if field.name == key => Some(next),
                _ => s.position(&key),
            };
            let Some(index) = index else {
                if walk.mode.strict && walk.unknown.is_none() {
                    let fields: Vec<&str> = s.names().collect();
                    let message = format!("is not a field of this object (its fields: {})", fields.join(", "));
                    walk.unknown =
                        Some(ValidationError::new(walk.pointer(Some(&key)), ErrorCode::UnknownField, message));
                }
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let bit = 1u32 << index;
            if present & bit != 0 {
                return Err(walk.fail(None, ErrorCode::InvalidValue, format!("duplicate field `{key}`")));
            }
            present |= bit;
            next = index + 1;
            let Some(field) = s.fields.get(index) else { continue };
            walk.path.push(Segment::Key(key));
            let seen = map.next_value_seed(Node { walk: &mut *walk, shape: field.shape, nullable: field.optional })?;
            walk.path.pop();
            if let Some(slot) = values.get_mut(index) {
                *slot = seen;
            }
        }
        for (index, field) in s.fields.iter().enumerate() {
            if !field.optional && present & (1u32 << index) == 0 {
                let message = format!("missing field `{}`", field.name);
                return Err(walk.fail(Some(field.name), ErrorCode::MissingField, message));
            }
        }
        if let Rule::Differs { field, from } = s.rule {
            let value = |name| s.position(name).and_then(|i| values.get(i)).copied().unwrap_or(NOTHING);
            let same = value(field) == value(from) && value(field) != NOTHING;
            if same && walk.rule.is_none() {
                let message = format!("must differ from `{from}`");
                walk.rule = Some(ValidationError::new(walk.pointer(Some(field)), ErrorCode::InvalidValue, message));
            }
        }
        Ok(NOTHING)
    }

    fn map<A: MapAccess<'de>>(self, of: &'static Shape, max: usize, mut map: A) -> Result<Seen, A::Error> {
        let walk = self.walk;
        let mut n = 0usize;
        while let Some(key) = map.next_key_seed(Key)? {
            if n == max {
                return Err(walk.fail(None, ErrorCode::InvalidLength, format!("must have at most {max} keys")));
            }
            walk.path.push(Segment::Key(key));
            map.next_value_seed(Node { walk: &mut *walk, shape: of, nullable: false })?;
            walk.path.pop();
            n += 1;
        }
        Ok(NOTHING)
    }

    fn list<A: SeqAccess<'de>>(self, item: &'static Shape, max: usize, mut seq: A) -> Result<Seen, A::Error> {
        let walk = self.walk;
        let mut n = 0usize;
        loop {
            walk.path.push(Segment::Index(n));
            let more = seq.next_element_seed(Node { walk: &mut *walk, shape: item, nullable: false })?.is_some();
            walk.path.pop();
            if !more {
                return Ok(NOTHING);
            }
            if n == max {
                return Err(walk.fail(None, ErrorCode::InvalidLength, format!("must have at most {max} items")));
            }
            n += 1;
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, 'de> {
    type Value = Seen;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Seen, D::Error> {
        match self.shape {
            Shape::Data => self.data(d),
            Shape::Kept(inner) => self.kept(d, inner),
            _ => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Node<'_, 'de> {
    type Value = Seen;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(expected(self.shape))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Seen, E> {
        match self.shape {
            _ if self.nullable => Ok(NOTHING),
            Shape::Any => Ok(NOTHING),
            _ => Err(self.wrong_type(Kind::Null)),
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Seen, E> {
        match self.shape {
            Shape::Any => Ok(NOTHING),
            _ => Err(self.wrong_type(Kind::Boolean)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seen, E> {
        self.number(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seen, E> {
        self.number(v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seen, E> {
        self.number(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Seen, E> {
        self.string(s, |_| Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Seen, E> {
        // A string with escapes in it, unescaped into a scratch buffer: copied only if kept.
        self.string(s, |s| Cow::Owned(s.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seen, A::Error> {
        match self.shape {
            Shape::List { item, max } => self.list(item, *max, seq),
            Shape::Any => {
                let walk = self.walk;
                let mut n = 0;
                loop {
                    walk.path.push(Segment::Index(n));
                    let more = seq.next_element_seed(Node { walk: &mut *walk, shape: &Shape::Any, nullable: false })?;
                    walk.path.pop();
                    if more.is_none() {
                        return Ok(NOTHING);
                    }
                    n += 1;
                }
            }
            // An array where an object belongs: read it all first, so that text which is not
            // JSON (a lone surrogate escape inside) is reported as such; an array nested too deep
            // is still reported as the wrong type.
            Shape::Struct(_) => {
                let walk = &mut *self.walk;
                let depth = walk.path.len();
                loop {
                    match seq.next_element_seed(Node { walk: &mut *walk, shape: &Shape::Any, nullable: false }) {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) if is_too_deep(&e) => {
                            walk.path.truncate(depth);
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(self.wrong_type(Kind::Array))
            }
            _ => Err(self.wrong_type(Kind::Array)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Seen, A::Error> {
        match self.shape {
            Shape::Struct(s) => self.object(s, map),
            Shape::Map { of, max } => self.map(of, *max, map),
            Shape::Any => self.map(&Shape::Any, usize::MAX, map),
            _ => Err(self.wrong_type(Kind::Object)),
        }
    }
}

/// An object key, borrowed from the text unless it had escapes in it.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_string()))
    }
}
