//! Validation errors: a JSON-pointer path into the submitted event, a stable machine code and a
//! human message. The same shape goes into the worker's 422 `details` and the browser's result.

use std::fmt;

use serde::Serialize;

/// Stable, machine-readable reason for a validation failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON at all, or JSON with a syntax error, a lone surrogate escape, ...
    MalformedJson,
    /// The JSON nests deeper than the parser allows.
    TooDeep,
    /// `type` is not in the catalog.
    UnknownType,
    /// `type` names a frame only the server may send (`heartbeat`, `stream.reset`, ...).
    ReservedType,
    MissingField,
    UnknownField,
    /// A value of the wrong JSON type (a string where a number belongs, ...).
    InvalidType,
    /// A string that is not one of the allowed values of an enumeration.
    InvalidEnum,
    /// A number outside its allowed range (also a number too large to represent).
    OutOfRange,
    /// A string, array or object with too few or too many characters, items or keys.
    InvalidLength,
    /// A string of the wrong shape (a timestamp that is not RFC 3339, an id with bad characters).
    InvalidFormat,
    /// A value that breaks a rule across fields (`from` equal to `to`, ...).
    InvalidValue,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::MalformedJson,
        ErrorCode::TooDeep,
        ErrorCode::UnknownType,
        ErrorCode::ReservedType,
        ErrorCode::MissingField,
        ErrorCode::UnknownField,
        ErrorCode::InvalidType,
        ErrorCode::InvalidEnum,
        ErrorCode::OutOfRange,
        ErrorCode::InvalidLength,
        ErrorCode::InvalidFormat,
        ErrorCode::InvalidValue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::TooDeep => "too_deep",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::ReservedType => "reserved_type",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::InvalidType => "invalid_type",
            ErrorCode::InvalidEnum => "invalid_enum",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::InvalidLength => "invalid_length",
            ErrorCode::InvalidFormat => "invalid_format",
            ErrorCode::InvalidValue => "invalid_value",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validation failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    /// JSON pointer (RFC 6901) into the submitted event, e.g. `/data/severity`; `""` is the whole.
    pub path: String,
    pub code: ErrorCode,
    pub message: String,
}

impl ValidationError {
    pub fn new(path: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        ValidationError { path: path.into(), code, message: message.into() }
    }

    /// The same error seen from one level up: `/severity` under `/data` becomes `/data/severity`.
    /// Errors about the document as a whole (malformed, too deep) stay at the root.
    pub fn under(mut self, prefix: &str) -> Self {
        if !matches!(self.code, ErrorCode::MalformedJson | ErrorCode::TooDeep) {
            self.path.insert_str(0, prefix);
        }
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "(root)" } else { &self.path };
        write!(f, "{path}: {} ({})", self.message, self.code)
    }
}

impl std::error::Error for ValidationError {}

/// Appends one reference token to a JSON pointer, escaped per RFC 6901.
pub(crate) fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_are_escaped() {
        let mut p = String::new();
        push_token(&mut p, "a/b~c");
        push_token(&mut p, "0");
        assert_eq!(p, "/a~1b~0c/0");
    }

    #[test]
    fn under_prefixes_the_path() {
        let e = ValidationError::new("/severity", ErrorCode::InvalidEnum, "x").under("/data");
        assert_eq!(e.path, "/data/severity");
    }
}
