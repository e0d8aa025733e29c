//! A publish's `Idempotency-Key` header (contract 4.2), checked where the request enters, with the
//! digest of the request it came with: the hub tells a retry (same key, same request) from a new
//! request under a used key by it.

use worker::Request;

use crate::api_error::ApiError;
use crate::wire::hub_api::OnceKey;

pub const HEADER: &str = "idempotency-key";
/// Longest key taken (a UUID is 36).
pub const MAX_KEY_LEN: usize = 255;

/// The request's key, if it has one, for `route` (what the body is for) and its `body`.
pub fn once_key(req: &Request, route: &str, body: &[u8]) -> Result<Option<OnceKey>, ApiError> {
    let Ok(Some(key)) = req.headers().get(HEADER) else { return Ok(None) };
    check(&key)?;
    Ok(Some(OnceKey { key, request: digest(route, body) }))
}

fn check(key: &str) -> Result<(), ApiError> {
    let visible = |b: u8| (0x21..=0x7e).contains(&b);
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(visible) {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters, no spaces; a UUID per publish is a good key"
        )));
    }
    Ok(())
}

/// SHA-256 of the route and the body, in hex.
fn digest(route: &str, body: &[u8]) -> String {
    crate::digest::sha256_hex(&[route.as_bytes(), b"\n", body])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_and_bounded() {
        assert!(check("3f2b8c1e-5d4a-4f8e-9c2b-1a2b3c4d5e6f").is_ok());
        assert!(check(&"k".repeat(MAX_KEY_LEN)).is_ok());
        for bad in ["", "a b", "ключ", "tab\tkey", &"k".repeat(MAX_KEY_LEN + 1)] {
            assert_eq!(check(bad).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn the_digest_tells_requests_apart_by_route_and_body() {
        let a = digest("POST /v1/events", b"{}");
        assert_eq!(a, digest("POST /v1/events", b"{}"));
        assert_ne!(a, digest("PUT /v1/versions", b"{}"));
        assert_ne!(a, digest("POST /v1/events", b"{ }"));
        assert_eq!(a.len(), 64);
    }
}
