//! Request bodies: JSON only, at most `MAX_BODY_BYTES` kept in memory.

use futures_util::StreamExt;
use worker::Request;

use super::publish::MAX_BODY_BYTES;
use crate::api_error::ApiError;

/// Checks the headers and reads the body of a publish-scope JSON request.
pub(crate) async fn read_json_body(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
    let content_type = req.headers().get("content-type").ok().flatten().unwrap_or_default().to_ascii_lowercase();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if media_type != "application/json" {
        return Err(ApiError::unsupported_media_type());
    }
    let declared = req.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES => Err(ApiError::payload_too_large(MAX_BODY_BYTES)),
        // The runtime holds the connection to the length it declared: read whole, in one promise
        // (chunk by chunk through wasm cost a publish about 0.1 ms more, `npm run bench:roles`).
        Some(_) => {
            let body = req.bytes().await.map_err(|_| ApiError::bad_request("the request body could not be read"))?;
            if body.len() > MAX_BODY_BYTES {
                Err(ApiError::payload_too_large(MAX_BODY_BYTES))
            } else {
                Ok(body)
            }
        }
        None => read_capped(req).await,
    }
}

/// Reads the body, keeping at most the limit in memory. A body over the limit is read on (and
/// thrown away) up to `DRAIN_BYTES`, so the connection is left in a clean state for the next request
/// (left unread, a chunked body stalled the connection's next request under wrangler dev).
pub(crate) async fn read_capped(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
    const DRAIN_BYTES: usize = 1 << 20;
    let mut body = Vec::new();
    let Ok(mut chunks) = req.stream() else {
        return Ok(body);
    };
    let mut total = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("the request body could not be read"))?;
        total += chunk.len();
        if total > MAX_BODY_BYTES {
            if total > DRAIN_BYTES {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if total > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    Ok(body)
}
