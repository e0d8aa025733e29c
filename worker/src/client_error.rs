//! `POST /v1/audit/client-error`: a browser reports an error it could not handle (the dashboard's
//! error boundary does). Bounded, validated, rate-limited per token, logged and kept (last 1000).

use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;

pub const MAX_REPORT_BYTES: usize = 16 * 1024;
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

fn too_long(field: &str, value: &Option<String>, max: usize) -> Option<String> {
    value.as_ref().filter(|v| v.chars().count() > max).map(|_| format!("{field} must be at most {max} characters"))
}

/// Parses and checks a report body.
pub fn parse(body: &[u8]) -> Result<ClientError, ApiError> {
    if body.len() > MAX_REPORT_BYTES {
        return Err(ApiError::payload_too_large(MAX_REPORT_BYTES));
    }
    let report: ClientError = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "a client error report is {{\"message\", \"stack\"?, \"componentStack\"?, \"url\"?, \"userAgent\"?}} ({e})"
        ))
    })?;
    let n = report.message.chars().count();
    if n == 0 || n > 2000 {
        return Err(ApiError::bad_request("message must be 1 to 2000 characters"));
    }
    let problems = [
        too_long("stack", &report.stack, 8000),
        too_long("componentStack", &report.component_stack, 8000),
        too_long("url", &report.url, 2048),
        too_long("userAgent", &report.user_agent, 512),
    ];
    if let Some(problem) = problems.into_iter().flatten().next() {
        return Err(ApiError::bad_request(problem));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_checked() {
        assert!(parse(br#"{"message":"boom","stack":"at x","url":"http://h/"}"#).is_ok());
        assert_eq!(parse(br#"{"message":""}"#).unwrap_err().status, 400);
        assert_eq!(parse(br#"{"msg":"x"}"#).unwrap_err().status, 400);
        assert_eq!(parse(format!(r#"{{"message":"x","stack":"{}"}}"#, "s".repeat(8001)).as_bytes()).unwrap_err().status, 400);
        assert_eq!(parse(&vec![b' '; MAX_REPORT_BYTES + 1]).unwrap_err().status, 413);
    }
}
