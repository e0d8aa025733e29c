//! Token verification (contract 1): a JWT signed with HMAC-SHA256 by `TOKEN_SECRET`.
//!
//! Pure: the caller passes the secret and the current time, so every rule is tested on the host.
//! Messages never contain the token or any part of it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: i64 = 60;

/// The longest `sub`: 128 characters, and at most this many bytes of UTF-8. The hub tags and
/// keys streams by a hash of it (`sockets::SubTag`), so its length bounds no runtime tag; the
/// bound keeps the rest (SQL keys, the socket attachment, logs) small.
pub const MAX_SUB_CHARS: usize = 128;
pub const MAX_SUB_BYTES: usize = 256;

/// The latest `exp` a token may have: the last second of the year 9999.
pub const MAX_EXP: i64 = 253_402_300_799;

/// When a token with this `exp` (seconds) stops being valid: its expiry plus the allowed skew, in
/// ms since the epoch. Streams end then, whether they are catching up or live.
pub fn valid_until_ms(exp: i64) -> u64 {
    u64::try_from(exp.saturating_add(LEEWAY_SECONDS)).unwrap_or(0).saturating_mul(1000)
}

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Subscribe,
    Publish,
    Metrics,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Subscribe => "subscribe",
            Scope::Publish => "publish",
            Scope::Metrics => "metrics",
        }
    }

    fn parse(word: &str) -> Option<Scope> {
        match word {
            "subscribe" => Some(Scope::Subscribe),
            "publish" => Some(Scope::Publish),
            "metrics" => Some(Scope::Metrics),
            _ => None,
        }
    }
}

/// The verified claims of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub org: String,
    pub sub: String,
    pub scopes: Vec<Scope>,
    pub exp: i64,
    /// `aud`: one string or several (empty when the token has none).
    pub audiences: Vec<String>,
}

impl Claims {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether the token is for `audience` (when the worker requires one: `TOKEN_AUDIENCE`).
    pub fn is_for(&self, audience: &str) -> bool {
        self.audiences.iter().any(|a| a == audience)
    }
}

/// Why a token was refused. The text is safe to show to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    Malformed(&'static str),
    Algorithm,
    Signature,
    /// The token's `kid` header names no secret of this server.
    UnknownKey(String),
    Expired,
    NotYetValid,
    Claim(&'static str),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Malformed(why) => write!(f, "token is malformed: {why}"),
            TokenError::Algorithm => f.write_str("token must be signed with HS256"),
            TokenError::Signature => f.write_str("token signature is invalid"),
            TokenError::UnknownKey(kid) => write!(
                f,
                "token's kid {kid:?} names no secret of this server (TOKEN_SECRET_ID, TOKEN_SECRET_PREVIOUS_ID)"
            ),
            TokenError::Expired => f.write_str("token expired; get a new one"),
            TokenError::NotYetValid => f.write_str("token is not valid yet (nbf is in the future)"),
            TokenError::Claim(why) => write!(f, "token claim invalid: {why}"),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// A secret tokens may be signed with, and the id a token's `kid` header names it by, if it has one.
#[derive(Clone, Copy, Debug)]
pub struct Secret<'a> {
    pub key: &'a [u8],
    pub id: Option<&'a str>,
}

/// The secrets this server verifies tokens with: the current one, and during a rotation the
/// previous one. A token with a `kid` is checked with the secret of that id only; one without is
/// checked with the current secret, then the previous one.
#[derive(Clone, Copy, Debug)]
pub struct Secrets<'a> {
    pub current: Secret<'a>,
    pub previous: Option<Secret<'a>>,
}

/// Verifies `token` against the one `secret` at time `now` (seconds since the epoch).
pub fn verify(token: &str, secret: &[u8], now: i64) -> Result<Claims, TokenError> {
    verify_with(token, Secrets { current: Secret { key: secret, id: None }, previous: None }, now)
}

#[derive(Deserialize)]
struct RawClaims {
    org: Option<String>,
    sub: Option<String>,
    scope: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    // `iat` is allowed and not checked: a token's life is bounded by `exp`.
}

/// Verifies `token` against `secrets` at time `now` (seconds since the epoch).
pub fn verify_with(token: &str, secrets: Secrets<'_>, now: i64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("expected three dot-separated parts"));
    };

    let header: Header = decode_json(header_b64, "header")?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm);
    }
    if header.typ.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("JWT")) {
        return Err(TokenError::Malformed("typ must be JWT"));
    }

    let signature =
        URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| TokenError::Malformed("signature is not base64url"))?;
    let candidates: Vec<Secret<'_>> = [Some(secrets.current), secrets.previous].into_iter().flatten().collect();
    // A `kid` picks the secrets of that id (both, for a moment of a rotation), and is ignored when
    // no secret has an id: tokens from libraries that add a `kid` of their own keep working.
    let ids_set = candidates.iter().any(|s| s.id.is_some());
    let keys: Vec<&[u8]> = match &header.kid {
        Some(kid) if ids_set => {
            let named: Vec<&[u8]> = candidates.iter().filter(|s| s.id == Some(kid.as_str())).map(|s| s.key).collect();
            if named.is_empty() {
                return Err(TokenError::UnknownKey(kid.chars().take(64).collect()));
            }
            named
        }
        _ => candidates.iter().map(|s| s.key).collect(),
    };
    let signed_by = |key: &[u8]| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return false };
        mac.update(header_b64.as_bytes());
        mac.update(b".");
        mac.update(payload_b64.as_bytes());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&signature).is_ok()
    };
    if !keys.into_iter().any(signed_by) {
        return Err(TokenError::Signature);
    }

    let raw: RawClaims = decode_json(payload_b64, "payload")?;
    let org = raw.org.ok_or(TokenError::Claim("org is missing"))?;
    if !schema_wasm::rules::is_org(&org) {
        return Err(TokenError::Claim("org must be 1 to 64 characters of a-z, 0-9, '_', '-'"));
    }
    let sub = raw.sub.ok_or(TokenError::Claim("sub is missing"))?;
    if sub.is_empty() || sub.chars().count() > MAX_SUB_CHARS || sub.len() > MAX_SUB_BYTES {
        return Err(TokenError::Claim("sub must be 1 to 128 characters and at most 256 bytes of UTF-8"));
    }
    let scope = raw.scope.ok_or(TokenError::Claim("scope is missing"))?;
    let mut scopes = Vec::new();
    for word in scope.split(' ').filter(|w| !w.is_empty()) {
        let scope = Scope::parse(word).ok_or(TokenError::Claim("scope may hold only subscribe, publish, metrics"))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let exp = raw.exp.ok_or(TokenError::Claim("exp is missing"))?;
    // Bounded so that it stays a number everywhere it travels (JavaScript's safe integers, the
    // stream socket's attachment).
    if !exp.is_finite() || exp > MAX_EXP as f64 {
        return Err(TokenError::Claim("exp must be a number of seconds before the year 10000"));
    }
    let exp = exp as i64;
    if now > exp.saturating_add(LEEWAY_SECONDS) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = raw.nbf {
        if !nbf.is_finite() || (nbf as i64) > now.saturating_add(LEEWAY_SECONDS) {
            return Err(TokenError::NotYetValid);
        }
    }
    let audiences = match raw.aud {
        None => Vec::new(),
        Some(serde_json::Value::String(one)) => vec![one],
        Some(serde_json::Value::Array(many)) => many
            .into_iter()
            .map(|a| match a {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(TokenError::Claim("aud must be a string or an array of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(TokenError::Claim("aud must be a string or an array of strings")),
    };
    Ok(Claims { org, sub, scopes, exp, audiences })
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str, what: &'static str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| {
        TokenError::Malformed(if what == "header" { "header is not base64url" } else { "payload is not base64url" })
    })?;
    let object = crate::json_object::is_object(&bytes);
    object.then(|| serde_json::from_slice(&bytes).ok()).flatten().ok_or_else(|| {
        TokenError::Malformed(if what == "header" {
            "header is not a JSON object"
        } else {
            "payload is not a JSON object of claims"
        })
    })
}

/// Signs `claims` (a JSON object) with `secret`: used by tests and the dev-token endpoint.
pub fn sign(claims: &serde_json::Value, secret: &[u8]) -> Option<String> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).ok()?);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Some(format!("{header}.{payload}.{signature}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"test-secret";
    const NOW: i64 = 1_800_000_000;

    fn token(claims: serde_json::Value) -> String {
        sign(&claims, SECRET).unwrap()
    }

    fn good() -> serde_json::Value {
        json!({"org": "acme", "sub": "user-1", "scope": "subscribe publish", "exp": NOW + 3600, "iat": NOW})
    }

    fn with_header(header: &str, claims: &serde_json::Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// A token of `claims` signed with `key`, with `kid` in its header when given.
    fn signed(key: &[u8], kid: Option<&str>, claims: &serde_json::Value) -> String {
        let header = match kid {
            Some(kid) => json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
            None => json!({"alg": "HS256", "typ": "JWT"}),
        };
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn during_a_rotation_tokens_of_either_secret_verify_and_a_kid_picks_its_own() {
        let (new, old, other) = (&b"new-secret"[..], &b"old-secret"[..], &b"some-other-secret"[..]);
        let both = Secrets {
            current: Secret { key: new, id: Some("k2") },
            previous: Some(Secret { key: old, id: Some("k1") }),
        };
        for key in [new, old] {
            assert!(verify_with(&signed(key, None, &good()), both, NOW).is_ok(), "without kid: either secret");
        }
        assert_eq!(verify_with(&signed(other, None, &good()), both, NOW), Err(TokenError::Signature));
        assert!(verify_with(&signed(old, Some("k1"), &good()), both, NOW).is_ok());
        assert!(verify_with(&signed(new, Some("k2"), &good()), both, NOW).is_ok());
        assert_eq!(
            verify_with(&signed(new, Some("k1"), &good()), both, NOW),
            Err(TokenError::Signature),
            "a kid is checked with its own secret only"
        );
        assert_eq!(verify_with(&signed(new, Some("k9"), &good()), both, NOW), Err(TokenError::UnknownKey("k9".into())));
        // Mid-rotation both secrets may carry the old id for a moment: a kid tries every secret of its id.
        let same_id = Secrets {
            current: Secret { key: new, id: Some("k1") },
            previous: Some(Secret { key: old, id: Some("k1") }),
        };
        assert!(verify_with(&signed(old, Some("k1"), &good()), same_id, NOW).is_ok());
        assert!(verify_with(&signed(new, Some("k1"), &good()), same_id, NOW).is_ok());
        // Without ids configured, a kid (some libraries add one) is ignored.
        let no_ids = Secrets { current: Secret { key: new, id: None }, previous: None };
        assert!(verify_with(&signed(new, Some("whatever"), &good()), no_ids, NOW).is_ok());
        // Once the previous secret is removed, its tokens stop verifying.
        let after = Secrets { current: Secret { key: new, id: Some("k2") }, previous: None };
        assert_eq!(verify_with(&signed(old, None, &good()), after, NOW), Err(TokenError::Signature));
        assert_eq!(
            verify_with(&signed(old, Some("k1"), &good()), after, NOW),
            Err(TokenError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn the_scope_words_are_the_shared_ones() {
        let words = [Scope::Subscribe, Scope::Publish, Scope::Metrics].map(Scope::as_str);
        assert_eq!(words, schema_wasm::rules::SCOPES);
        assert!(words.iter().all(|w| Scope::parse(w).is_some()));
    }

    #[test]
    fn good_token_gives_claims() {
        let c = verify(&token(good()), SECRET, NOW).unwrap();
        assert_eq!(c.org, "acme");
        assert_eq!(c.sub, "user-1");
        assert!(c.allows(Scope::Subscribe) && c.allows(Scope::Publish) && !c.allows(Scope::Metrics));
    }

    #[test]
    fn claims_or_a_header_written_as_an_array_are_refused() {
        let claims = json!(["acme", "u1", "subscribe", NOW + 60]);
        assert_eq!(
            verify(&token(claims), SECRET, NOW),
            Err(TokenError::Malformed("payload is not a JSON object of claims"))
        );
        let header = URL_SAFE_NO_PAD.encode(br#"["HS256","JWT"]"#);
        let payload = token(good()).split('.').nth(1).unwrap().to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        let signed = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(verify(&signed, SECRET, NOW), Err(TokenError::Malformed("header is not a JSON object")));
    }

    #[test]
    fn expired_beyond_leeway_is_refused() {
        let mut c = good();
        c["exp"] = json!(NOW - LEEWAY_SECONDS - 1);
        assert_eq!(verify(&token(c.clone()), SECRET, NOW), Err(TokenError::Expired));
        c["exp"] = json!(NOW - 10);
        assert!(verify(&token(c), SECRET, NOW).is_ok(), "within the allowed skew");
    }

    #[test]
    fn nbf_in_the_future_is_refused() {
        let mut c = good();
        c["nbf"] = json!(NOW + 600);
        assert_eq!(verify(&token(c.clone()), SECRET, NOW), Err(TokenError::NotYetValid));
        c["nbf"] = json!(NOW + 30);
        assert!(verify(&token(c), SECRET, NOW).is_ok(), "within the allowed skew");
    }

    #[test]
    fn bad_signature_is_refused() {
        let t = token(good());
        assert_eq!(verify(&t, b"other-secret", NOW), Err(TokenError::Signature));
        // A payload swapped under a valid signature.
        let mut evil = good();
        evil["org"] = json!("other");
        let forged = token(evil);
        let parts: Vec<&str> = t.split('.').collect();
        let forged_parts: Vec<&str> = forged.split('.').collect();
        let spliced = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
        assert_eq!(verify(&spliced, SECRET, NOW), Err(TokenError::Signature));
    }

    #[test]
    fn alg_none_and_other_algs_are_refused() {
        let claims = good();
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(verify(&format!("{h}.{p}."), SECRET, NOW), Err(TokenError::Algorithm));
        for alg in ["HS384", "HS512", "RS256", "hs256"] {
            let t = with_header(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#), &claims);
            assert_eq!(verify(&t, SECRET, NOW), Err(TokenError::Algorithm), "{alg}");
        }
    }

    #[test]
    fn missing_claims_are_refused() {
        for claim in ["org", "sub", "scope", "exp"] {
            let mut c = good();
            c.as_object_mut().unwrap().remove(claim);
            assert!(matches!(verify(&token(c), SECRET, NOW), Err(TokenError::Claim(_))), "{claim}");
        }
    }

    #[test]
    fn bad_claim_values_are_refused() {
        for (claim, value) in [
            ("org", json!("ACME")),
            ("org", json!("")),
            ("org", json!("a".repeat(65))),
            ("sub", json!("")),
            ("scope", json!("subscribe admin")),
            ("exp", json!("tomorrow")),
        ] {
            let mut c = good();
            c[claim] = value;
            assert!(verify(&token(c), SECRET, NOW).is_err(), "{claim}");
        }
    }

    #[test]
    fn exp_is_bounded_to_stay_a_safe_number() {
        let with_exp = |exp: serde_json::Value| {
            let mut c = good();
            c["exp"] = exp;
            verify(&token(c), SECRET, NOW).map(|c| c.exp)
        };
        assert_eq!(with_exp(json!(MAX_EXP)), Ok(MAX_EXP));
        let refused = Err(TokenError::Claim("exp must be a number of seconds before the year 10000"));
        assert_eq!(with_exp(json!(MAX_EXP + 1)), refused);
        assert_eq!(with_exp(json!(1e300)), refused);
        assert_eq!(with_exp(json!(9_007_199_254_740_993_u64)), refused, "past 2^53");
    }

    #[test]
    fn sub_is_bounded_in_bytes_as_well_as_characters() {
        let with_sub = |sub: String| {
            let mut c = good();
            c["sub"] = json!(sub);
            verify(&token(c), SECRET, NOW).map(|c| c.sub.len())
        };
        assert_eq!(with_sub("\u{1F600}".repeat(64)), Ok(256), "64 emoji: 256 bytes");
        assert_eq!(with_sub("x".repeat(128)), Ok(128));
        let refused = Err(TokenError::Claim("sub must be 1 to 128 characters and at most 256 bytes of UTF-8"));
        assert_eq!(with_sub("\u{1F600}".repeat(65)), refused, "65 emoji: 260 bytes");
        assert_eq!(with_sub("\u{20AC}".repeat(86)), refused, "86 three-byte characters: 258 bytes");
        assert_eq!(with_sub("x".repeat(129)), refused);
    }

    #[test]
    fn scope_is_checked_per_use() {
        let mut c = good();
        c["scope"] = json!("subscribe");
        let claims = verify(&token(c), SECRET, NOW).unwrap();
        assert!(claims.allows(Scope::Subscribe));
        assert!(!claims.allows(Scope::Publish));
    }

    #[test]
    fn malformed_tokens_are_refused_without_echoing_them() {
        for t in ["", "abc", "a.b", "a.b.c.d", "!!!.###.$$$", "eyJhbGciOiJIUzI1NiJ9.e30"] {
            let e = verify(t, SECRET, NOW).unwrap_err();
            assert!(matches!(e, TokenError::Malformed(_)), "{t:?}: {e:?}");
        }
        let secret_looking = format!("{}x", token(good()));
        let e = verify(&secret_looking, SECRET, NOW).unwrap_err();
        assert!(!e.to_string().contains("eyJ"));
    }

    #[test]
    fn the_audience_is_one_string_or_several() {
        let with = |aud: serde_json::Value| {
            let mut c = good();
            c["aud"] = aud;
            verify(&sign(&c, SECRET).unwrap(), SECRET, NOW)
        };
        assert!(with(json!("orgstream")).unwrap().is_for("orgstream"));
        let many = with(json!(["billing", "orgstream"])).unwrap();
        assert!(many.is_for("orgstream") && !many.is_for("other"));
        assert!(!verify(&token(good()), SECRET, NOW).unwrap().is_for("orgstream"), "no aud: for no audience");
        assert_eq!(with(json!(7)), Err(TokenError::Claim("aud must be a string or an array of strings")));
        assert_eq!(with(json!(["ok", 1])), Err(TokenError::Claim("aud must be a string or an array of strings")));
    }
}
