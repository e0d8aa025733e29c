//! The error envelope (contract 2): every non-2xx answer is
//! `{"error": {"code", "message", "details"}}` with `content-type: application/json`.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detail {
    pub index: usize,
    pub path: String,
    pub code: &'static str,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Detail>,
    /// The `allow` header of a 405.
    pub allow: Option<String>,
    /// The `retry-after` header of a 429, in seconds.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: Vec::new(), allow: None, retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "bad_request", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(401, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "forbidden", message)
    }
    pub fn not_found(path: &str) -> ApiError {
        let shown: String = path.chars().take(200).collect();
        ApiError::new(404, "not_found", format!("no route for {shown}; see docs/protocol.md for the endpoints"))
    }
    pub fn method_not_allowed(method: &str, allow: String) -> ApiError {
        let shown: String = method.chars().take(40).collect();
        let mut e = ApiError::new(405, "method_not_allowed", format!("{shown} is not allowed here; use {allow}"));
        e.allow = Some(allow);
        e
    }
    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(413, "payload_too_large", format!("body is over {limit} bytes; split it into smaller batches"))
    }
    pub fn idempotency_conflict(key: &str) -> ApiError {
        let shown: String = key.chars().take(80).collect();
        ApiError::new(
            409,
            "idempotency_conflict",
            format!("Idempotency-Key {shown:?} was used with another request; send a new key for a new publish (a retry sends the same key with the same body)"),
        )
    }
    pub fn unsupported_media_type() -> ApiError {
        ApiError::new(415, "unsupported_media_type", "send the body as JSON with content-type: application/json")
    }
    pub fn invalid_event(details: Vec<Detail>) -> ApiError {
        let message = match details.as_slice() {
            [one] => format!("event {} is invalid at {}: {}", one.index, pointer_or_root(&one.path), one.message),
            many => format!("{} events are invalid; nothing was published (see details)", many.len()),
        };
        let mut e = ApiError::new(422, "invalid_event", message);
        e.details = details;
        e
    }
    pub fn rate_limited(retry_after: u64, what: &str) -> ApiError {
        let mut e = ApiError::new(429, "rate_limited", format!("too many {what}; retry in {retry_after} s"));
        e.retry_after = Some(retry_after);
        e
    }
    /// A bug or an outage. The message is fixed: internals stay in the log. Only through
    /// `internal`, which logs the cause.
    fn internal() -> ApiError {
        ApiError::new(500, "internal", "internal error; try again, and report it if it persists")
    }
    /// A server-side misconfiguration the operator can fix (the message names the setting).
    pub fn misconfigured(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "internal", message)
    }

    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
            details: &'a [Detail],
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        let outer = Outer { error: Inner { code: self.code, message: &self.message, details: &self.details } };
        serde_json::to_string(&outer)
            .unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"internal error","details":[]}}"#.to_string())
    }
}

/// The one path for internal errors: logs what failed (`context`) and why, answers with the fixed
/// message. Use as `.map_err(internal("reading history"))`.
pub fn internal<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> ApiError {
    move |cause| {
        worker::console_error!("{context}: {}", loggable(&cause.to_string()));
        ApiError::internal()
    }
}

/// `text` safe to put in a log line: control characters and line separators (which a caller could
/// use to forge log lines) become `\u{..}` escapes; everything else is kept.
pub fn loggable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !text.contains(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

pub(crate) fn pointer_or_root(path: &str) -> &str {
    if path.is_empty() {
        "the root"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let e = ApiError::unauthorized("token expired; get a new one");
        assert_eq!(
            e.body(),
            r#"{"error":{"code":"unauthorized","message":"token expired; get a new one","details":[]}}"#
        );
    }

    #[test]
    fn nothing_a_caller_sends_can_split_a_log_line() {
        assert_eq!(loggable("user-1"), "user-1");
        assert_eq!(
            loggable("a\nFAKE: admin logged in\r\u{0}\u{85}\u{2028}é"),
            "a\\u{a}FAKE: admin logged in\\u{d}\\u{0}\\u{85}\\u{2028}é"
        );
    }

    #[test]
    fn invalid_event_details() {
        let d = Detail { index: 1, path: "/data/severity".into(), code: "invalid_enum", message: "bad".into() };
        let e = ApiError::invalid_event(vec![d]);
        assert_eq!(e.status, 422);
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["error"]["details"][0]["path"], "/data/severity");
        assert_eq!(v["error"]["details"][0]["index"], 1);
    }
}
