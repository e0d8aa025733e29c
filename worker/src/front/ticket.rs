//! Stream tickets: a token's stand-in in a stream URL, so that long-lived tokens stay out of URLs
//! (EventSource cannot send headers; URLs end up in proxy logs and browser history).
//!
//! `POST /v1/stream/ticket` (bearer token, scope `subscribe`) issues one: valid for `TTL_MS`, for
//! one stream only (the org's hub records its nonce when it is used), bound to the token's org and
//! subject, and ending the stream when the token would have (`token_exp`). A ticket is signed with
//! `TOKEN_SECRET` over a different input than a JWT (`ticket.<payload>`), so a ticket is never a
//! token and a token never a ticket.
//!
//! Pure: the caller passes the secret, the time and the nonce.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::wire::hub_api::UsedTicket;

/// How long a ticket is valid after it is issued.
pub const TTL_MS: u64 = 60_000;

const PREFIX: &str = "t1";

/// What a ticket carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub org: String,
    pub sub: String,
    /// When the ticket stops being valid (ms since the epoch).
    pub expires_ms: u64,
    /// The token's `exp` (seconds): the stream ends then, as it would with the token.
    pub token_exp: i64,
    /// Unique per ticket: the hub refuses a nonce it has seen.
    pub nonce: String,
}

/// Why a ticket was refused. Safe to show to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketError {
    Malformed,
    Signature,
    Expired,
}

impl std::fmt::Display for TicketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TicketError::Malformed => "ticket is malformed; get one with POST /v1/stream/ticket",
            TicketError::Signature => "ticket signature is invalid; get one with POST /v1/stream/ticket",
            TicketError::Expired => UsedTicket::EXPIRED,
        })
    }
}

fn mac(secret: &[u8], payload_b64: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(b"ticket.");
    mac.update(payload_b64.as_bytes());
    Some(mac)
}

/// The ticket as text (`t1.<payload>.<signature>`, URL-safe).
pub fn encode(ticket: &Ticket, secret: &[u8]) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(ticket).ok()?);
    let signature = URL_SAFE_NO_PAD.encode(mac(secret, &payload)?.finalize().into_bytes());
    Some(format!("{PREFIX}.{payload}.{signature}"))
}

/// Checks a ticket's signature and age (single use is the hub's to check).
pub fn decode(text: &str, secret: &[u8], now_ms: u64) -> Result<Ticket, TicketError> {
    let mut parts = text.split('.');
    let (Some(PREFIX), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TicketError::Malformed);
    };
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TicketError::Malformed)?;
    // `verify_slice` compares in constant time.
    mac(secret, payload).ok_or(TicketError::Signature)?.verify_slice(&signature).map_err(|_| TicketError::Signature)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TicketError::Malformed)?;
    let ticket: Ticket = serde_json::from_slice(&bytes).map_err(|_| TicketError::Malformed)?;
    if now_ms >= ticket.expires_ms {
        return Err(TicketError::Expired);
    }
    Ok(ticket)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";

    fn ticket() -> Ticket {
        Ticket { org: "acme".into(), sub: "ann".into(), expires_ms: 60_000, token_exp: 3_600, nonce: "n-1".into() }
    }

    #[test]
    fn a_ticket_reads_back_until_it_expires() {
        let text = encode(&ticket(), SECRET).unwrap();
        assert!(text.starts_with("t1.") && !text.contains(['+', '/', '=']), "URL-safe: {text}");
        assert_eq!(decode(&text, SECRET, 59_999), Ok(ticket()));
        assert_eq!(decode(&text, SECRET, 60_000), Err(TicketError::Expired));
    }

    #[test]
    fn a_tampered_or_foreign_ticket_is_refused() {
        let text = encode(&ticket(), SECRET).unwrap();
        assert_eq!(decode(&text, b"another-secret", 0), Err(TicketError::Signature));
        let other = encode(&Ticket { org: "other".into(), ..ticket() }, SECRET).unwrap();
        let (_, other_payload) = other.split_once('.').unwrap();
        let forged = format!("t1.{}.{}", other_payload.split('.').next().unwrap(), text.rsplit('.').next().unwrap());
        assert_eq!(decode(&forged, SECRET, 0), Err(TicketError::Signature), "another payload, the old signature");
        for bad in ["", "t1.abc", "t2.a.b", "t1.a.b.c", "x.y.z"] {
            assert!(decode(bad, SECRET, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_is_not_a_ticket_and_a_ticket_is_not_a_token() {
        let claims = serde_json::json!({"org": "acme", "sub": "ann", "scope": "subscribe", "exp": 4_000_000_000i64});
        let token = crate::token::sign(&claims, SECRET).unwrap();
        assert_eq!(decode(&token, SECRET, 0), Err(TicketError::Malformed));
        let text = encode(&ticket(), SECRET).unwrap();
        assert!(crate::token::verify(&text, SECRET, 0).is_err());
    }
}
