//! The catalog's common formats (`Id`, `Time`, `Unit`, bounded strings, numbers and collections):
//! the types the catalog's declarations are written in (each stands for a `Shape`), and the rule
//! each leaf shape checks (`check_str`, `check_number`), as pure functions the walker calls.

use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer};
use serde::{Serialize, Serializer};

use crate::error::ErrorCode;
use crate::shape::{Shape, Shaped};

/// A failed check: its code and message (the walker adds the path).
pub type Failure = (ErrorCode, String);

/// A string of `MIN..=MAX` characters (Unicode scalar values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text<const MIN: usize, const MAX: usize>;

impl<const MIN: usize, const MAX: usize> Shaped for Text<MIN, MAX> {
    const SHAPE: Shape = Shape::Text { min: MIN, max: MAX };
}

/// `Id` of the contract: 1..128 characters.
pub type Id = Text<1, 128>;

/// Any string.
pub type AnyString = Text<0, { usize::MAX }>;

/// The `requestId` of a connection or a targeted event: 1..128 of `[A-Za-z0-9_-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(String);

impl RequestId {
    pub fn parse(s: &str) -> Result<RequestId, String> {
        Self::check(s).map(|()| RequestId(s.to_string())).map_err(|(_, message)| message)
    }

    fn check(s: &str) -> Result<(), Failure> {
        let n = s.len();
        if n == 0 || n > crate::rules::MAX_REQUEST_ID_LEN {
            return Err((
                ErrorCode::InvalidLength,
                format!("must be 1 to 128 characters long, got {}", s.chars().count()),
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err((ErrorCode::InvalidFormat, "may contain only A-Z, a-z, 0-9, '_' and '-'".to_string()));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Shaped for RequestId {
    const SHAPE: Shape = Shape::RequestId;
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RequestId::parse(&s).map_err(serde::de::Error::custom)
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
        Self::check(s).map(|()| Subject(s.to_string()))
    }

    fn check(s: &str) -> Result<(), String> {
        let n = s.chars().count();
        if n == 0 || n > crate::rules::MAX_REQUEST_ID_LEN {
            return Err(format!("must be 1 to 128 characters long, got {n}"));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Shaped for Subject {
    const SHAPE: Shape = Shape::Subject;
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Subject::parse(&s).map_err(serde::de::Error::custom)
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

impl Shaped for Time {
    const SHAPE: Shape = Shape::Time;
}

/// `Unit` of the contract: a number in `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit;

impl Shaped for Unit {
    const SHAPE: Shape = Shape::Unit;
}

/// A finite number `>= 0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonNegative;

impl Shaped for NonNegative {
    const SHAPE: Shape = Shape::NonNegative;
}

/// An integer `>= MIN` that JavaScript can represent exactly (`<= 2^53 - 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Integer<const MIN: u64>;

impl<const MIN: u64> Shaped for Integer<MIN> {
    const SHAPE: Shape = Shape::Integer { min: MIN };
}

/// The largest integer a JavaScript number holds exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Any JSON number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Number;

impl Shaped for Number {
    const SHAPE: Shape = Shape::Number;
}

/// A JSON array of at most `MAX` items, each a `T`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundedVec<T, const MAX: usize>(PhantomData<T>);

impl<T: Shaped, const MAX: usize> Shaped for BoundedVec<T, MAX> {
    const SHAPE: Shape = Shape::List { item: &T::SHAPE, max: MAX };
}

/// A JSON object of at most `MAX` keys with values of one type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundedMap<T, const MAX: usize>(PhantomData<T>);

impl<T: Shaped, const MAX: usize> Shaped for BoundedMap<T, MAX> {
    const SHAPE: Shape = Shape::Map { of: &T::SHAPE, max: MAX };
}

/// An object of numbers, of any size.
pub type Numbers = BoundedMap<Number, { usize::MAX }>;

/// Checks a string against a leaf shape; `None` when the shape does not take strings.
pub(crate) fn check_str(shape: &Shape, s: &str) -> Option<Result<(), Failure>> {
    Some(match shape {
        Shape::Text { min, max } => check_length(s, *min, *max),
        Shape::Time => check_time(s),
        Shape::RequestId => RequestId::check(s),
        Shape::Subject => Subject::check(s).map_err(|m| (ErrorCode::InvalidLength, m)),
        Shape::EventId => match crate::ids::parse_event_id(s) {
            Some(_) => Ok(()),
            None => Err((ErrorCode::InvalidFormat, "must be a decimal event id such as \"42\"".to_string())),
        },
        Shape::Enum { variants } => check_variant(s, variants),
        Shape::Any | Shape::TypeName => Ok(()),
        _ => return None,
    })
}

fn check_length(s: &str, min: usize, max: usize) -> Result<(), Failure> {
    // A character is one to four bytes, so there are between bytes/4 and bytes of them: skip
    // counting when that range alone decides.
    let bytes = s.len();
    if (min == 0 && max == usize::MAX) || (bytes <= max && bytes.div_ceil(4) >= min) {
        return Ok(());
    }
    let n = s.chars().count();
    if n < min || n > max {
        return Err((ErrorCode::InvalidLength, format!("must be {min} to {max} characters long, got {n}")));
    }
    Ok(())
}

fn check_time(s: &str) -> Result<(), Failure> {
    if s.len() > 64 || chrono::DateTime::parse_from_rfc3339(s).is_err() {
        return Err((
            ErrorCode::InvalidFormat,
            "must be an RFC 3339 timestamp such as 2026-11-25T07:00:00.000Z".to_string(),
        ));
    }
    Ok(())
}

fn check_variant(s: &str, variants: &[&str]) -> Result<(), Failure> {
    if variants.contains(&s) {
        return Ok(());
    }
    let allowed: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
    Err((ErrorCode::InvalidEnum, format!("unknown variant `{s}`, expected one of {}", allowed.join(", "))))
}

/// Checks a number against a leaf shape; `None` when the shape does not take numbers.
pub(crate) fn check_number(shape: &Shape, v: f64) -> Option<Result<(), Failure>> {
    Some(match shape {
        Shape::Number | Shape::Any => Ok(()),
        Shape::Unit if (0.0..=1.0).contains(&v) => Ok(()),
        Shape::Unit => Err((ErrorCode::OutOfRange, format!("must be between 0 and 1, got {v}"))),
        Shape::NonNegative if v >= 0.0 && v.is_finite() => Ok(()),
        Shape::NonNegative => Err((ErrorCode::OutOfRange, format!("must be a number >= 0, got {v}"))),
        Shape::Integer { .. } if v.fract() != 0.0 => {
            Err((ErrorCode::InvalidType, format!("must be an integer, got {v}")))
        }
        Shape::Integer { min } if v < *min as f64 || v > MAX_SAFE_INTEGER as f64 => {
            Err((ErrorCode::OutOfRange, format!("must be an integer from {min} to {MAX_SAFE_INTEGER}, got {v}")))
        }
        Shape::Integer { .. } => Ok(()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_counts_characters_not_bytes() {
        let two = Text::<1, 2>::SHAPE;
        assert_eq!(check_str(&two, "éé"), Some(Ok(())));
        assert!(matches!(check_str(&two, "ééé"), Some(Err((ErrorCode::InvalidLength, _)))));
        assert!(matches!(check_str(&two, ""), Some(Err((ErrorCode::InvalidLength, _)))));
        // Two bytes, one character: too short for a minimum of two.
        let at_least_two = Text::<2, 4>::SHAPE;
        assert!(matches!(check_str(&at_least_two, "é"), Some(Err((ErrorCode::InvalidLength, _)))));
        assert_eq!(check_str(&at_least_two, "éé"), Some(Ok(())));
        assert_eq!(check_str(&at_least_two, "😀😀"), Some(Ok(())), "8 bytes, 2 characters");
    }

    #[test]
    fn unit_is_zero_to_one() {
        assert_eq!(check_number(&Shape::Unit, 0.0), Some(Ok(())));
        assert_eq!(check_number(&Shape::Unit, 1.0), Some(Ok(())));
        assert!(matches!(check_number(&Shape::Unit, 1.0001), Some(Err((ErrorCode::OutOfRange, _)))));
        assert!(matches!(check_number(&Shape::Unit, -0.1), Some(Err((ErrorCode::OutOfRange, _)))));
        assert_eq!(check_str(&Shape::Unit, "0.5"), None, "a string is not a number");
    }

    #[test]
    fn integer_checks_bounds_and_fraction() {
        let one = Integer::<1>::SHAPE;
        assert_eq!(check_number(&one, 1.0), Some(Ok(())));
        assert_eq!(check_number(&one, 2.0), Some(Ok(())));
        assert!(matches!(check_number(&one, 0.0), Some(Err((ErrorCode::OutOfRange, _)))));
        assert!(matches!(check_number(&one, 1.5), Some(Err((ErrorCode::InvalidType, _)))));
        assert!(matches!(check_number(&one, 1e300), Some(Err((ErrorCode::OutOfRange, _)))));
    }

    #[test]
    fn time_must_be_rfc3339() {
        assert_eq!(check_str(&Shape::Time, "2026-11-25T07:00:00.123Z"), Some(Ok(())));
        assert_eq!(check_str(&Shape::Time, "2026-11-25T07:00:00+02:00"), Some(Ok(())));
        assert!(matches!(check_str(&Shape::Time, "2026-11-25 07:00"), Some(Err((ErrorCode::InvalidFormat, _)))));
        assert!(matches!(check_str(&Shape::Time, "yesterday"), Some(Err((ErrorCode::InvalidFormat, _)))));
    }

    #[test]
    fn request_id_charset() {
        assert!(RequestId::parse("tab-1_A").is_ok());
        assert!(RequestId::parse("").is_err());
        assert!(RequestId::parse("a b").is_err());
        assert!(RequestId::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn enumerations_name_the_allowed_values() {
        let shape = Shape::Enum { variants: &["low", "high"] };
        assert_eq!(check_str(&shape, "low"), Some(Ok(())));
        assert_eq!(
            check_str(&shape, "mid"),
            Some(Err((ErrorCode::InvalidEnum, "unknown variant `mid`, expected one of `low`, `high`".to_string())))
        );
    }
}
