//! The catalog's common formats (`Id`, `Time`, `Unit`, bounded strings, numbers and collections).
//! Each checks itself while it is deserialized, so a failure carries the exact JSON path of the
//! value and the catalog's structs stay plain data.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use crate::error::{coded, ErrorCode};

fn err<E: de::Error>(code: ErrorCode, message: impl fmt::Display) -> E {
    E::custom(coded(code, message))
}

/// A string of `MIN..=MAX` characters (Unicode scalar values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text<const MIN: usize, const MAX: usize>(pub String);

/// `Id` of the contract: 1..128 characters.
pub type Id = Text<1, 128>;

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Text<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let n = s.chars().count();
        if n < MIN || n > MAX {
            return Err(err(
                ErrorCode::InvalidLength,
                format_args!("must be {MIN} to {MAX} characters long, got {n}"),
            ));
        }
        Ok(Text(s))
    }
}

impl<const MIN: usize, const MAX: usize> Serialize for Text<MIN, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The `requestId` of a connection or a targeted event: 1..128 of `[A-Za-z0-9_-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(String);

impl RequestId {
    pub fn parse(s: &str) -> Result<RequestId, String> {
        let n = s.len();
        if n == 0 || n > 128 {
            return Err(format!("must be 1 to 128 characters long, got {}", s.chars().count()));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err("may contain only A-Z, a-z, 0-9, '_' and '-'".to_string());
        }
        Ok(RequestId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RequestId::parse(&s).map_err(|m| {
            let code = if m.starts_with("must be") { ErrorCode::InvalidLength } else { ErrorCode::InvalidFormat };
            err(code, m)
        })
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// `Time` of the contract: an RFC 3339 timestamp, kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Time(pub String);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() > 64 || chrono::DateTime::parse_from_rfc3339(&s).is_err() {
            return Err(err(
                ErrorCode::InvalidFormat,
                "must be an RFC 3339 timestamp such as 2026-11-25T07:00:00.000Z",
            ));
        }
        Ok(Time(s))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Any JSON number, as f64, checked against `[min, max]` by the caller's wrapper.
struct NumberVisitor;

impl Visitor<'_> for NumberVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

/// `Unit` of the contract: a number in `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit(pub f64);

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(NumberVisitor)?;
        if !(0.0..=1.0).contains(&v) {
            return Err(err(ErrorCode::OutOfRange, format_args!("must be between 0 and 1, got {v}")));
        }
        Ok(Unit(v))
    }
}

impl Serialize for Unit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// A finite number `>= 0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonNegative(pub f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(NumberVisitor)?;
        if !(v >= 0.0 && v.is_finite()) {
            return Err(err(ErrorCode::OutOfRange, format_args!("must be a number >= 0, got {v}")));
        }
        Ok(NonNegative(v))
    }
}

impl Serialize for NonNegative {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// An integer `>= MIN` that JavaScript can represent exactly (`<= 2^53 - 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Integer<const MIN: u64>(pub u64);

/// The largest integer a JavaScript number holds exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

impl<'de, const MIN: u64> Deserialize<'de> for Integer<MIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(NumberVisitor)?;
        if v.fract() != 0.0 {
            return Err(err(ErrorCode::InvalidType, format_args!("must be an integer, got {v}")));
        }
        if v < MIN as f64 || v > MAX_SAFE_INTEGER as f64 {
            return Err(err(
                ErrorCode::OutOfRange,
                format_args!("must be an integer from {MIN} to {MAX_SAFE_INTEGER}, got {v}"),
            ));
        }
        Ok(Integer(v as u64))
    }
}

impl<const MIN: u64> Serialize for Integer<MIN> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// A JSON array of at most `MAX` items.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundedVec<T, const MAX: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of at most {MAX} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if out.len() == MAX {
                        return Err(err(ErrorCode::InvalidLength, format_args!("must have at most {MAX} items")));
                    }
                    out.push(item);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V::<T, MAX>(PhantomData)).map(BoundedVec)
    }
}

impl<T: Serialize, const MAX: usize> Serialize for BoundedVec<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A JSON object of at most `MAX` keys with values of one type.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundedMap<T, const MAX: usize>(pub BTreeMap<String, T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedMap<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = BTreeMap<String, T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an object of at most {MAX} keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    if out.len() == MAX && !out.contains_key(&k) {
                        return Err(err(ErrorCode::InvalidLength, format_args!("must have at most {MAX} keys")));
                    }
                    out.insert(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V::<T, MAX>(PhantomData)).map(BoundedMap)
    }
}

impl<T: Serialize, const MAX: usize> Serialize for BoundedMap<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Keeps an explicit `null` as `Some(Value::Null)`, so an optional "any JSON value" field that was
/// sent as `null` is stored and echoed as `null` rather than dropped.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        assert!(parse::<Text<1, 2>>("\"éé\"").is_ok());
        assert!(parse::<Text<1, 2>>("\"ééé\"").is_err());
        assert!(parse::<Text<1, 2>>("\"\"").is_err());
    }

    #[test]
    fn unit_is_zero_to_one() {
        assert_eq!(parse::<Unit>("0").ok(), Some(Unit(0.0)));
        assert_eq!(parse::<Unit>("1").ok(), Some(Unit(1.0)));
        assert!(parse::<Unit>("1.0001").is_err());
        assert!(parse::<Unit>("-0.1").is_err());
        assert!(parse::<Unit>("\"0.5\"").is_err());
    }

    #[test]
    fn integer_checks_bounds_and_fraction() {
        assert_eq!(parse::<Integer<1>>("1").ok(), Some(Integer(1)));
        assert!(parse::<Integer<1>>("0").is_err());
        assert!(parse::<Integer<1>>("1.5").is_err());
        assert!(parse::<Integer<0>>("1e300").is_err());
        assert_eq!(parse::<Integer<0>>("2.0").ok(), Some(Integer(2)));
    }

    #[test]
    fn time_must_be_rfc3339() {
        assert!(parse::<Time>("\"2026-11-25T07:00:00.123Z\"").is_ok());
        assert!(parse::<Time>("\"2026-11-25T07:00:00+02:00\"").is_ok());
        assert!(parse::<Time>("\"2026-11-25 07:00\"").is_err());
        assert!(parse::<Time>("\"yesterday\"").is_err());
    }

    #[test]
    fn request_id_charset() {
        assert!(RequestId::parse("tab-1_A").is_ok());
        assert!(RequestId::parse("").is_err());
        assert!(RequestId::parse("a b").is_err());
        assert!(RequestId::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn bounded_collections() {
        assert!(parse::<BoundedVec<u8, 2>>("[1,2]").is_ok());
        assert!(parse::<BoundedVec<u8, 2>>("[1,2,3]").is_err());
        assert!(parse::<BoundedMap<u8, 1>>("{\"a\":1}").is_ok());
        assert!(parse::<BoundedMap<u8, 1>>("{\"a\":1,\"b\":2}").is_err());
    }
}
