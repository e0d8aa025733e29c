//! The field names a struct accepts, asked of the struct's own `Deserialize`.
//!
//! serde's derive hands every struct's field names to `Deserializer::deserialize_struct`. A probe
//! deserializer that follows a JSON path into a type (one key per object, any element of an array,
//! through `Option`) and stops at what is there reads them off, so an `unknown_field` error can
//! list what the object takes, and publishing can tell where an object is required (`parse.rs`),
//! without a second, hand-kept description of the types that could drift from them. Only the
//! strict (publishing) path asks, and only for text with an unknown key or a `[` in it. serde has
//! no public API for this, hence the hand-written probe.

use std::cell::Cell;

use serde::de::{self, value::Error, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

type Fields = &'static [&'static str];

/// What `T` has at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Landing {
    /// A struct, with its fields.
    Struct(Fields),
    /// A sequence or a map: what is inside may be anything, structs included.
    Container,
    /// A value with no structs in it (a scalar, any JSON, raw JSON), or a path `T` does not have.
    Leaf,
}

/// What is at `path` (object keys; array indexes are any element) inside `T`.
pub(crate) fn landing_at<'de, T: Deserialize<'de>>(path: &[String]) -> Landing {
    let found = Cell::new(Landing::Leaf);
    // The probe always ends in an error: it has no values to give. What it saw is in `found`.
    let _ = T::deserialize(Probe { path, found: &found });
    found.get()
}

/// The fields of the struct at `path` inside `T`, when there is one.
pub(crate) fn fields_at<'de, T: Deserialize<'de>>(path: &[String]) -> Option<Fields> {
    match landing_at::<T>(path) {
        Landing::Struct(fields) => Some(fields),
        Landing::Container | Landing::Leaf => None,
    }
}

struct Probe<'p> {
    path: &'p [String],
    found: &'p Cell<Landing>,
}

fn stop() -> Error {
    de::Error::custom("probe stops here")
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(stop())
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: Fields,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if self.path.is_empty() {
            self.found.set(Landing::Struct(fields));
            return Err(stop());
        }
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.path.split_first() {
            Some((key, rest)) => visitor.visit_map(OneEntry { key: Some(key), rest, found: self.found }),
            None => {
                self.found.set(Landing::Container);
                Err(stop())
            }
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.path.split_first() {
            Some((_index, rest)) => visitor.visit_seq(OneItem { rest: Some(rest), found: self.found }),
            None => {
                self.found.set(Landing::Container);
                Err(stop())
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct tuple tuple_struct enum identifier ignored_any
    }
}

/// An object with one key, whose value is probed further.
struct OneEntry<'p> {
    key: Option<&'p String>,
    rest: &'p [String],
    found: &'p Cell<Landing>,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.as_str().into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Probe { path: self.rest, found: self.found })
    }
}

/// An array with one element, which is probed further.
struct OneItem<'p> {
    rest: Option<&'p [String]>,
    found: &'p Cell<Landing>,
}

impl<'de> SeqAccess<'de> for OneItem<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.rest.take() {
            Some(rest) => seed.deserialize(Probe { path: rest, found: self.found }).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ReconciliationUpdate, TaskProgress};

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn a_struct_at_the_root_names_its_fields() {
        assert_eq!(fields_at::<TaskProgress>(&[]), Some(&["taskId", "progress", "message"][..]));
    }

    #[test]
    fn an_optional_nested_struct_names_its_own_fields() {
        let fields = fields_at::<ReconciliationUpdate>(&path(&["discrepancyDetails"]));
        assert_eq!(fields, Some(&["expected", "actual", "missingJobIds"][..]));
    }

    #[test]
    fn a_path_into_a_scalar_or_a_missing_field_finds_nothing() {
        assert_eq!(fields_at::<TaskProgress>(&path(&["taskId"])), None);
        assert_eq!(fields_at::<TaskProgress>(&path(&["nope", "deeper"])), None);
    }

    #[test]
    fn containers_and_leaves_are_told_apart() {
        use crate::catalog::OrgEntitlementsChanged;
        assert_eq!(landing_at::<OrgEntitlementsChanged>(&path(&["features"])), Landing::Container);
        assert_eq!(landing_at::<OrgEntitlementsChanged>(&path(&["limits"])), Landing::Container);
        assert_eq!(landing_at::<OrgEntitlementsChanged>(&path(&["features", "0"])), Landing::Leaf);
        assert_eq!(landing_at::<crate::catalog::TaskCompleted>(&path(&["result"])), Landing::Leaf, "any JSON");
    }

    #[test]
    fn a_path_through_an_array_element_reaches_the_struct_inside() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Item {
            a: u8,
            b: u8,
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct List {
            items: Vec<Item>,
        }
        assert_eq!(fields_at::<List>(&path(&["items", "3"])), Some(&["a", "b"][..]));
    }
}
