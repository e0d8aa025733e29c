//! Cross-origin access for browser apps on another origin (`ALLOWED_ORIGINS`). Pure: which origins
//! are allowed and the headers their answers carry; which routes are open to them, with which
//! methods, is the route table's to say (`route_table`). By default no origin is:
//! the API then answers same-origin pages only, and never sends a CORS header.
//!
//! Only exact origins are allowed (never `*`), credentials are never allowed (tokens travel in the
//! query or the `Authorization` header, not in cookies), and every answer that may differ by origin
//! says `vary: origin`.

/// Request headers a browser app may send (preflight `access-control-allow-headers`).
const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key, last-event-id";
/// Answer headers a browser app may read besides the simple ones.
const EXPOSE_HEADERS: &str = "idempotent-replayed, retry-after";
/// How long a browser may cache a preflight, in seconds.
const MAX_AGE_SECONDS: &str = "600";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Parses `ALLOWED_ORIGINS`: comma-separated origins such as `https://app.example.com` or
    /// `http://localhost:5173` (scheme, host, optional port; no path, no `*`).
    pub fn parse(raw: Option<&str>) -> Result<AllowedOrigins, String> {
        let mut origins = Vec::new();
        for origin in raw.unwrap_or_default().split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let ok = match url::Url::parse(origin) {
                Ok(u) => {
                    matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.origin().ascii_serialization() == origin
                }
                Err(_) => false,
            };
            if !ok {
                return Err(format!(
                    "ALLOWED_ORIGINS must be comma-separated origins such as https://app.example.com or http://localhost:5173 (scheme, host, optional port; no path, no *), got {origin:?}"
                ));
            }
            origins.push(origin.to_string());
        }
        Ok(AllowedOrigins(origins))
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }
}

/// Headers of an answer to an allowed `origin` on a cross-origin route.
pub fn answer_headers(origin: &str) -> Vec<(&'static str, String)> {
    vec![
        ("access-control-allow-origin", origin.to_string()),
        ("access-control-expose-headers", EXPOSE_HEADERS.to_string()),
        ("vary", "origin".to_string()),
    ]
}

/// Headers of a preflight answer (204) to an allowed `origin`.
pub fn preflight_headers(origin: &str, methods: &str) -> Vec<(&'static str, String)> {
    vec![
        ("access-control-allow-origin", origin.to_string()),
        ("access-control-allow-methods", methods.to_string()),
        ("access-control-allow-headers", ALLOW_HEADERS.to_string()),
        ("access-control-max-age", MAX_AGE_SECONDS.to_string()),
        ("vary", "origin".to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_no_origin_is_allowed() {
        let none = AllowedOrigins::parse(None).unwrap();
        assert!(!none.allows("https://app.example.com"));
        assert_eq!(AllowedOrigins::parse(Some(" ")).unwrap(), none);
    }

    #[test]
    fn only_exact_origins_are_allowed() {
        let o = AllowedOrigins::parse(Some("https://app.example.com, http://localhost:5173")).unwrap();
        assert!(o.allows("https://app.example.com"));
        assert!(o.allows("http://localhost:5173"));
        assert!(!o.allows("http://app.example.com"), "another scheme");
        assert!(!o.allows("https://app.example.com.evil.test"));
        assert!(!o.allows("http://localhost:5174"), "another port");
        assert!(!o.allows("null"));
    }

    #[test]
    fn a_wildcard_a_path_or_a_bare_host_is_a_configuration_error() {
        for bad in [
            "*",
            "https://app.example.com/",
            "https://app.example.com/app",
            "app.example.com",
            "ftp://files.example.com",
        ] {
            let e = AllowedOrigins::parse(Some(bad)).unwrap_err();
            assert!(e.contains("ALLOWED_ORIGINS") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn answers_echo_the_origin_and_never_allow_credentials() {
        let headers = answer_headers("https://app.example.com");
        assert!(headers.contains(&("access-control-allow-origin", "https://app.example.com".to_string())));
        assert!(headers.iter().all(|(name, value)| *name != "access-control-allow-credentials" && value != "*"));
        let pre = preflight_headers("https://app.example.com", "GET");
        assert!(pre.contains(&("access-control-allow-headers", ALLOW_HEADERS.to_string())));
    }
}
