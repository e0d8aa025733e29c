//! One value of the walk: `Node` checks the value at the current path against its `Shape` as
//! serde_json reads it (scalars, strings where they lie in the text, arrays, structs field by
//! field, tagged unions), and `Key` reads a struct's field names without building them.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{expected, is_too_deep, json_error, Kind, Seen, Segment, Walk, NOTHING};
use crate::error::{ErrorCode, ValidationError};
use crate::formats::{check_number, check_str};
use crate::shape::{Rule, Shape, StructShape, MAX_FIELDS};

/// The value at the current path, to be checked as `shape`.
pub(super) struct Node<'w, 'de> {
    pub(super) walk: &'w mut Walk<'de>,
    pub(super) shape: &'static Shape,
    /// `null` is accepted (an optional field).
    pub(super) nullable: bool,
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
        // When publishing, the first few keys of this object that are not its fields: a missing
        // field may be one of them, misspelled.
        let mut strangers: Vec<Cow<'de, str>> = Vec::new();
        // Which of them is the walk's first unknown field, if this object has it.
        let mut first_stranger = None;
        // Fields usually come in the order they are declared: try the next one first.
        let mut next = 0usize;
        while let Some(key) = map.next_key_seed(Key)? {
            let index = match s.fields.get(next) {
                Some(field) if field.name == key => Some(next),
                _ => s.position(&key),
            };
            let Some(index) = index else {
                if walk.mode.strict {
                    if walk.unknown.is_none() {
                        // Its message is written once this object's fields are known (below).
                        let e = ValidationError::new(walk.pointer(Some(&key)), ErrorCode::UnknownField, "");
                        walk.unknown = Some(e);
                        first_stranger = Some(strangers.len());
                    }
                    if strangers.len() < MAX_FIELDS {
                        strangers.push(key);
                    }
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
        let absent = |name: &&str| s.position(name).is_some_and(|i| present & (1u32 << i) == 0);
        if let (Some(first), Some(unknown)) = (first_stranger, walk.unknown.as_mut()) {
            // A misspelling of a field that was not given.
            let like = strangers.get(first).and_then(|key| s.names().filter(absent).find(|name| near_miss(key, name)));
            unknown.message = not_a_field(s, like);
        }
        for (index, field) in s.fields.iter().enumerate() {
            if !field.optional && present & (1u32 << index) == 0 {
                // Given, misspelled: say so where it is, rather than that the field is missing.
                if let Some(typo) = strangers.iter().find(|key| near_miss(key, field.name)) {
                    let message = not_a_field(s, Some(field.name));
                    return Err(walk.fail(Some(typo), ErrorCode::UnknownField, message));
                }
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

/// The message for a key that is not a field of `s`, with the field it looks like a misspelling of.
fn not_a_field(s: &StructShape, like: Option<&str>) -> String {
    let fields: Vec<&str> = s.names().collect();
    let fields = fields.join(", ");
    match like {
        Some(name) => format!("is not a field of this object; did you mean `{name}`? (its fields: {fields})"),
        None => format!("is not a field of this object (its fields: {fields})"),
    }
}

/// Whether `key` looks like `name` misspelled: the same but for case, or one edit away (two for
/// names longer than six characters), a swap of neighbours counting as one.
fn near_miss(key: &str, name: &str) -> bool {
    let allowed = if name.len() > 6 { 2 } else { 1 };
    // The distance is at least the difference in length: skip the comparison (and its table) then.
    if key.len().abs_diff(name.len()) > allowed {
        return false;
    }
    key.eq_ignore_ascii_case(name) || strsim::damerau_levenshtein(key, name) <= allowed
}
