//! `POST /v1/audit/client-error`: a browser reports an error it could not handle (the dashboard's
//! error boundary does). Bounded, validated, rate-limited per token, logged and kept (last 1000).

use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;

pub const MAX_REPORT_BYTES: usize = schema_wasm::rules::CLIENT_ERROR_MAX_BYTES;
/// Reports one token may send per minute.
pub const REPORTS_PER_MINUTE: u32 = 10;

#[derive(Deserialize, Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_stack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// The longest value of `field` (`schema_wasm::rules`, shared with the dashboard).
fn limit(field: &str) -> usize {
    schema_wasm::rules::client_error_limit(field)
}

fn too_long(field: &str, value: &Option<String>, max: usize) -> Option<String> {
    value.as_ref().filter(|v| v.chars().count() > max).map(|_| format!("{field} must be at most {max} characters"))
}

/// Query parameters whose values are credentials: a token, a stream ticket.
const SECRET_PARAMS: [&str; 2] = ["token=", "ticket="];
/// The starts of credentials written out: a stream ticket (`t1.` then its base64url JSON payload)
/// and a JWT (base64url JSON). Both are base64url parts joined by two dots. The ticket is listed
/// first: it holds `eyJ` too, and the earlier match wins.
const SECRET_SHAPES: [&str; 2] = ["t1.eyJ", "eyJ"];

/// Removes what looks like a credential from report text before it is logged or kept: the value of
/// any `token=` or `ticket=` parameter, and anything shaped like a JWT or a stream ticket. Pages
/// put tokens and tickets in stream URLs, and neither may reach logs.
pub fn redact(text: &str) -> String {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let params = SECRET_PARAMS.iter().filter_map(|p| rest.find(p).map(|at| (at, Some(*p))));
        let shapes = SECRET_SHAPES.iter().filter_map(|s| rest.find(s).map(|at| (at, None)));
        // The earliest; at one place, a parameter before a shape and a ticket before a JWT.
        let Some((at, param)) = params.chain(shapes).min_by_key(|(at, _)| *at) else {
            out.push_str(rest);
            return out;
        };
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        if let Some(param) = param {
            out.push_str(param);
            out.push_str("[redacted]");
            let value = from.get(param.len()..).unwrap_or("");
            let end =
                value.find(|c: char| c == '&' || c == '#' || c.is_whitespace() || c == '"').unwrap_or(value.len());
            rest = value.get(end..).unwrap_or("");
        } else {
            // Base64url parts joined by two dots (the last may be empty). `from` starts with a
            // shape of at least three characters, so `end` is at least 3 and the scan moves on.
            let mut end = 0;
            let mut dots = 0;
            for (i, c) in from.char_indices() {
                if is_b64(c) || (c == '.' && dots < 2) {
                    dots += usize::from(c == '.');
                    end = i + c.len_utf8();
                } else {
                    break;
                }
            }
            let (seen, after) = from.split_at(end);
            out.push_str(if dots == 2 { "[redacted-token]" } else { seen });
            rest = after;
        }
    }
}

/// Parses and checks a report body, and removes tokens from its text.
pub fn parse(body: &[u8]) -> Result<ClientError, ApiError> {
    if body.len() > MAX_REPORT_BYTES {
        return Err(ApiError::payload_too_large(MAX_REPORT_BYTES));
    }
    let shape =
        r#"a client error report is a JSON object {"message", "stack"?, "componentStack"?, "url"?, "userAgent"?}"#;
    if !crate::json_object::is_object(body) {
        return Err(ApiError::bad_request(shape));
    }
    let report: ClientError =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("{shape} ({e})")))?;
    let n = report.message.chars().count();
    let max = limit("message");
    if n == 0 || n > max {
        return Err(ApiError::bad_request(format!("message must be 1 to {max} characters")));
    }
    let problems = [
        too_long("stack", &report.stack, limit("stack")),
        too_long("componentStack", &report.component_stack, limit("componentStack")),
        too_long("url", &report.url, limit("url")),
        too_long("userAgent", &report.user_agent, limit("userAgent")),
    ];
    if let Some(problem) = problems.into_iter().flatten().next() {
        return Err(ApiError::bad_request(problem));
    }
    let clean = |v: Option<String>| v.map(|s| redact(&s));
    Ok(ClientError {
        message: redact(&report.message),
        stack: clean(report.stack),
        component_stack: clean(report.component_stack),
        url: clean(report.url),
        user_agent: report.user_agent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJvcmciOiJhIn0.sig-_part";
        assert_eq!(redact(&format!("http://h/v1/stream?token={jwt}&x=1")), "http://h/v1/stream?token=[redacted]&x=1");
        assert_eq!(redact(&format!("failed with {jwt} at line 3")), "failed with [redacted-token] at line 3");
        assert_eq!(redact("eyJ not a token, eyJabc.def"), "eyJ not a token, eyJabc.def");
        assert_eq!(redact("plain text"), "plain text");
        assert_eq!(redact("ends with token="), "ends with token=[redacted]");
        let r = parse(format!(r#"{{"message":"x","url":"http://h/?token={jwt}"}}"#).as_bytes()).unwrap();
        assert_eq!(r.url.as_deref(), Some("http://h/?token=[redacted]"));
    }

    #[test]
    fn stream_tickets_are_redacted_too() {
        let ticket = "t1.eyJvcmciOiJhY21lIn0.c2lnbmF0dXJlLXBhcnQ";
        assert_eq!(redact(&format!("GET /v1/stream?ticket={ticket}&x=1")), "GET /v1/stream?ticket=[redacted]&x=1");
        assert_eq!(redact(&format!("failed with {ticket} at line 3")), "failed with [redacted-token] at line 3");
        assert_eq!(redact(&format!("({ticket})")), "([redacted-token])");
        assert_eq!(redact("at1.2.3 and t1.abc.def"), "at1.2.3 and t1.abc.def", "not a ticket's payload");
        let r =
            parse(format!(r#"{{"message":"{ticket}","stack":"at /v1/stream?ticket={ticket}"}}"#).as_bytes()).unwrap();
        assert_eq!(r.message, "[redacted-token]");
        assert_eq!(r.stack.as_deref(), Some("at /v1/stream?ticket=[redacted]"));
    }

    #[test]
    fn reports_are_checked() {
        assert!(parse(br#"{"message":"boom","stack":"at x","url":"http://h/"}"#).is_ok());
        assert_eq!(parse(br#"{"message":""}"#).unwrap_err().status, 400);
        assert_eq!(parse(br#"{"msg":"x"}"#).unwrap_err().status, 400);
        assert_eq!(
            parse(format!(r#"{{"message":"x","stack":"{}"}}"#, "s".repeat(8001)).as_bytes()).unwrap_err().status,
            400
        );
        assert_eq!(parse(&vec![b' '; MAX_REPORT_BYTES + 1]).unwrap_err().status, 413);
    }
}
