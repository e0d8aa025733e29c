//! The catalog's common formats (`Id`, `Time`, `Unit`, bounded strings, numbers and collections).
//! Each checks itself while it is deserialized, so a failure carries the exact JSON path of the
//! value and the catalog's structs stay plain data.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use crate::error::{coded, ErrorCode};

fn err<E: de::Error>(code: ErrorCode, message: impl fmt::Display) -> E {
    E::custom(coded(code, message))
}

/// A string of `MIN..=MAX` characters (Unicode scalar values). Checked while it is parsed, never
/// copied: the catalog's types validate, and the published text itself is what gets stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text<const MIN: usize, const MAX: usize>;

/// `Id` of the contract: 1..128 characters.
pub type Id = Text<1, 128>;

/// Any string.
pub type AnyString = Text<0, { usize::MAX }>;

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Text<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: usize, const MAX: usize>;
        impl<const MIN: usize, const MAX: usize> Visitor<'_> for V<MIN, MAX> {
            type Value = Text<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                if MIN == 0 && MAX == usize::MAX {
                    return Ok(Text);
                }
                // A character is at least one byte and at most four: skip counting when the byte
                // length alone decides.
                let bytes = s.len();
                if bytes >= MIN && bytes <= MAX {
                    return Ok(Text);
                }
                let n = s.chars().count();
                if n < MIN || n > MAX {
                    return Err(err(
                        ErrorCode::InvalidLength,
                        format_args!("must be {MIN} to {MAX} characters long, got {n}"),
                    ));
                }
                Ok(Text)
            }
        }
        d.deserialize_str(V::<MIN, MAX>)
    }
}

/// The `requestId` of a connection or a targeted event: 1..128 of `[A-Za-z0-9_-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(String);

impl RequestId {
    pub fn parse(s: &str) -> Result<RequestId, String> {
        let n = s.len();
        if n == 0 || n > crate::rules::MAX_REQUEST_ID_LEN {
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

/// A token subject (`sub`) as a target of an event: 1..128 characters, as tokens allow.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject(String);

impl Subject {
    pub fn parse(s: &str) -> Result<Subject, String> {
        let n = s.chars().count();
        if n == 0 || n > crate::rules::MAX_REQUEST_ID_LEN {
            return Err(format!("must be 1 to 128 characters long, got {n}"));
        }
        Ok(Subject(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Subject::parse(&s).map_err(|m| err(ErrorCode::InvalidLength, m))
    }
}

impl Serialize for Subject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// `Time` of the contract: an RFC 3339 timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time;

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Time, E> {
                if s.len() > 64 || chrono::DateTime::parse_from_rfc3339(s).is_err() {
                    return Err(err(
                        ErrorCode::InvalidFormat,
                        "must be an RFC 3339 timestamp such as 2026-11-25T07:00:00.000Z",
                    ));
                }
                Ok(Time)
            }
        }
        d.deserialize_str(V)
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

/// A JSON array of at most `MAX` items, each a `T`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundedVec<T, const MAX: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = BoundedVec<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of at most {MAX} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut n = 0usize;
                while seq.next_element::<T>()?.is_some() {
                    if n == MAX {
                        return Err(err(ErrorCode::InvalidLength, format_args!("must have at most {MAX} items")));
                    }
                    n += 1;
                }
                Ok(BoundedVec(PhantomData))
            }
        }
        d.deserialize_seq(V::<T, MAX>(PhantomData))
    }
}

/// A JSON object of at most `MAX` keys with values of one type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundedMap<T, const MAX: usize>(PhantomData<T>);

/// An object of numbers, of any size.
pub type Numbers = BoundedMap<Number, { usize::MAX }>;

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedMap<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = BoundedMap<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an object of at most {MAX} keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut n = 0usize;
                while map.next_key::<de::IgnoredAny>()?.is_some() {
                    if n == MAX {
                        return Err(err(ErrorCode::InvalidLength, format_args!("must have at most {MAX} keys")));
                    }
                    map.next_value::<T>()?;
                    n += 1;
                }
                Ok(BoundedMap(PhantomData))
            }
        }
        d.deserialize_map(V::<T, MAX>(PhantomData))
    }
}

/// Any JSON number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Number(pub f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor).map(Number)
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
        assert!(parse::<Unit>("1e400").is_err());
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
