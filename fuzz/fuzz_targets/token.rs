//! Tokens. The first byte picks the mode:
//! - even: the rest is a token as a client sends it; it verifies only if it is signed with the
//!   secret (which the fuzzer cannot do by chance: an `Ok` here is a forgery);
//! - odd: the rest is a payload, signed here with the secret, so the fuzzer reaches the claim
//!   checks; whatever verifies satisfies every claim rule.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use orgstream_worker::token::{verify, Scope};
use sha2::Sha256;

const SECRET: &[u8] = b"orgstream-fuzz-secret-0123456789abcdef0123456789";
const NOW: i64 = 1_800_000_000;

fn signed(payload: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fuzz_target!(|bytes: &[u8]| {
    let Some((mode, rest)) = bytes.split_first() else { return };
    if mode % 2 == 0 {
        let Ok(token) = std::str::from_utf8(rest) else { return };
        assert!(verify(token, SECRET, NOW).is_err(), "a token the fuzzer made up verified: {token:?}");
        return;
    }
    let Ok(claims) = verify(&signed(rest), SECRET, NOW) else { return };
    assert!(!claims.org.is_empty() && claims.org.len() <= 64);
    assert!(claims.org.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
    assert!(!claims.sub.is_empty() && claims.sub.chars().count() <= 128);
    assert!(claims.exp.saturating_add(60) >= NOW, "an expired token verified");
    let mut seen = Vec::new();
    for scope in &claims.scopes {
        assert!(matches!(scope, Scope::Subscribe | Scope::Publish | Scope::Metrics));
        assert!(!seen.contains(scope), "scopes are listed once");
        seen.push(*scope);
    }
});
