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

/// Errors raised by our own format checks carry their code through serde as a `[code] ` prefix of
/// the message: serde's error type has no room for anything but text.
pub(crate) fn coded(code: ErrorCode, message: impl fmt::Display) -> String {
    format!("[{code}] {message}")
}

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

/// Turns a serde_json error (with the path serde_path_to_error tracked) into our error.
pub(crate) fn from_serde(err: serde_path_to_error::Error<serde_json::Error>, json: &str) -> ValidationError {
    let mut path = String::new();
    for segment in err.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => push_token(&mut path, &index.to_string()),
            serde_path_to_error::Segment::Map { key } => push_token(&mut path, key),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
        }
    }
    let inner = err.into_inner();
    let text = inner.to_string();
    // serde_json appends " at line L column C"; the path says where, so drop it.
    let text = match text.rfind(" at line ") {
        Some(at) => text.get(..at).unwrap_or(&text).to_string(),
        None => text,
    };
    let (mut code, mut message) = classify(&inner, &text);
    // serde_json reports a value of the wrong kind where an enumeration belongs (a number or
    // `true` instead of one of the allowed strings) as a syntax error, "expected value". When the
    // document is well-formed JSON, it is a type error at the tracked path.
    if text == "expected value" && serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok() {
        code = ErrorCode::InvalidType;
        message = "has the wrong type: expected one of the allowed strings".to_string();
    }
    if code == ErrorCode::MalformedJson || code == ErrorCode::TooDeep {
        // A syntax error says nothing about a field: report it against the whole document.
        return ValidationError::new("", code, message);
    }
    if code == ErrorCode::MissingField {
        if let Some(field) = backticked(&text) {
            push_token(&mut path, field);
        }
    }
    ValidationError::new(path, code, message)
}

fn classify(err: &serde_json::Error, text: &str) -> (ErrorCode, String) {
    if let Some(rest) = text.strip_prefix('[') {
        for code in ErrorCode::ALL {
            if let Some(message) = rest.strip_prefix(code.as_str()).and_then(|m| m.strip_prefix("] ")) {
                return (code, message.to_string());
            }
        }
    }
    let code = match err.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => {
            if text.starts_with("recursion limit exceeded") {
                ErrorCode::TooDeep
            } else if text.starts_with("number out of range") {
                ErrorCode::OutOfRange
            } else {
                ErrorCode::MalformedJson
            }
        }
        serde_json::error::Category::Data => {
            if text.starts_with("missing field") {
                ErrorCode::MissingField
            } else if text.starts_with("unknown field") {
                ErrorCode::UnknownField
            } else if text.starts_with("unknown variant") {
                ErrorCode::InvalidEnum
            } else if text.starts_with("invalid type") {
                ErrorCode::InvalidType
            } else if text.starts_with("invalid length") {
                ErrorCode::InvalidLength
            } else {
                ErrorCode::InvalidValue
            }
        }
    };
    (code, text.to_string())
}

fn backticked(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let len = text.get(start..)?.find('`')?;
    text.get(start..start + len)
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
