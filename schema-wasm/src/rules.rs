//! Rules the worker, the browser client, the dashboard and the scripts share, defined once here.
//! `npm run gen:schema` writes them into `schema-wasm/js/rules.js` (and `.d.ts`) for the
//! JavaScript side; `npm test` checks that file is current. The id rule is in `ids.rs`, the server
//! frame names in `catalog.rs`, the error codes in `error.rs`; `gen-schema` exports those too.

/// An org, as tokens name it: 1 to 64 characters of a-z, 0-9, `_` and `-`.
pub const ORG_PATTERN: &str = "^[a-z0-9_-]{1,64}$";
/// The longest org name.
pub const MAX_ORG_LEN: usize = 64;

/// Whether `org` is an org name (`ORG_PATTERN`).
pub fn is_org(org: &str) -> bool {
    !org.is_empty()
        && org.len() <= MAX_ORG_LEN
        && org.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The words of a token's `scope` claim.
pub const SCOPES: [&str; 3] = ["subscribe", "publish", "metrics"];

/// A request id (`?requestId=`, `target.requestId`): 1 to 128 of A-Z, a-z, 0-9, `_` and `-`.
pub const REQUEST_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,128}$";
/// The longest request id, and the longest token subject (`sub`), in characters.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The largest publish body (`POST /v1/events`, `PUT /v1/versions`), in bytes.
pub const MAX_PUBLISH_BYTES: usize = 64 * 1024;
/// Longer than any envelope the server sends (one event's data is at most a publish body): the
/// browser module refuses longer text before it reaches wasm, in UTF-16 code units.
pub const MAX_ENVELOPE_CHARS: usize = 2 * MAX_PUBLISH_BYTES;

/// Event types whose newest broadcast event the org keeps beyond retention, for
/// `GET /v1/events/latest?type=` (the browser client's feature flags read the plan from it).
pub const KEPT_TYPES: [&str; 1] = ["org.entitlements.changed"];

/// `POST /v1/audit/client-error`: the largest body, and the longest value of each field, in
/// characters (the dashboard cuts its reports to these).
pub const CLIENT_ERROR_MAX_BYTES: usize = 16 * 1024;
pub const CLIENT_ERROR_LIMITS: [(&str, usize); 5] =
    [("message", 2000), ("stack", 8000), ("componentStack", 8000), ("url", 2048), ("userAgent", 512)];

/// The limit of one client-error field.
pub fn client_error_limit(field: &str) -> usize {
    CLIENT_ERROR_LIMITS.iter().find(|(name, _)| *name == field).map_or(0, |(_, max)| *max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_names_follow_the_pattern() {
        assert!(is_org("acme") && is_org("a-b_9") && is_org(&"a".repeat(64)));
        for not in ["", "Acme", "a b", "a.b", "é", &"a".repeat(65)] {
            assert!(!is_org(not), "{not:?}");
        }
        assert_eq!(ORG_PATTERN, format!("^[a-z0-9_-]{{1,{MAX_ORG_LEN}}}$"));
    }

    #[test]
    fn request_id_pattern_matches_its_length() {
        assert_eq!(REQUEST_ID_PATTERN, format!("^[A-Za-z0-9_-]{{1,{MAX_REQUEST_ID_LEN}}}$"));
    }

    #[test]
    fn every_client_error_field_has_a_limit() {
        for field in ["message", "stack", "componentStack", "url", "userAgent"] {
            assert!(client_error_limit(field) > 0, "{field}");
        }
        assert_eq!(client_error_limit("nope"), 0);
    }
}
