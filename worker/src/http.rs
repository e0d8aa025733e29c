//! Small helpers to answer HTTP requests with JSON and the error envelope.

use worker::{Response, Result};

use crate::api_error::ApiError;

pub fn json(status: u16, body: String) -> Result<Response> {
    text(status, "application/json", body)
}

/// An answer of `content_type`, never cached (it is one org's, read with a token) and never
/// sniffed as anything else (an error envelope echoes parts of what the caller sent).
pub fn text(status: u16, content_type: &str, body: String) -> Result<Response> {
    let mut response = Response::ok(body)?.with_status(status);
    response.headers_mut().set("content-type", content_type)?;
    response.headers_mut().set("cache-control", "no-store")?;
    response.headers_mut().set("x-content-type-options", "nosniff")?;
    Ok(response)
}

pub fn error(e: &ApiError) -> Result<Response> {
    let mut response = json(e.status, e.body())?;
    if let Some(allow) = &e.allow {
        response.headers_mut().set("allow", allow)?;
    }
    if let Some(seconds) = e.retry_after {
        response.headers_mut().set("retry-after", &seconds.to_string())?;
    }
    Ok(response)
}

/// The `requestId` query parameter, checked (contract 4.1: 1..128 of `[A-Za-z0-9_-]`).
pub fn request_id(url: &worker::Url) -> std::result::Result<Option<schema_wasm::RequestId>, ApiError> {
    match query(url, "requestId") {
        Some(raw) => {
            schema_wasm::RequestId::parse(&raw).map(Some).map_err(|m| ApiError::bad_request(format!("requestId {m}")))
        }
        None => Ok(None),
    }
}

/// The first value of a query parameter.
/// `?limit=` of a listing: 1 to 1000, 100 when absent.
pub fn limit(url: &worker::Url) -> std::result::Result<u64, ApiError> {
    match query(url, "limit") {
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| ApiError::bad_request("limit must be an integer from 1 to 1000")),
        None => Ok(100),
    }
}

pub fn query(url: &worker::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}
