//! How a browser subscribes: `GET /v1/stream` (with the token, or a ticket in its place) and
//! `POST /v1/stream/ticket`, which trades a token for a one-use ticket.

use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::{Env, Request, Response};

use super::auth::{authenticate, token_secret, TokenCheck, TokenIn};
use super::routes::{config, stream_holder};
use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::http;
use crate::replay::LastEventId;
use crate::token::Scope;
use crate::wire::hub_api::{Connect, UsedTicket};

pub(crate) async fn stream(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    // A ticket (POST /v1/stream/ticket) stands in for the token; otherwise the token itself.
    let (org, sub, exp, ticket) = match http::query(url, "ticket") {
        Some(text) => {
            // Signed with TOKEN_SECRET; during a rotation, possibly with the one before it.
            let check = TokenCheck::of(env)?;
            let now = now_ms();
            let mut decoded = Err(crate::front::ticket::TicketError::Signature);
            for key in check.keys() {
                decoded = crate::front::ticket::decode(&text, key, now);
                if !matches!(decoded, Err(crate::front::ticket::TicketError::Signature)) {
                    break;
                }
            }
            let t = decoded.map_err(|e| ApiError::unauthorized(e.to_string()))?;
            let used = UsedTicket { nonce: t.nonce, expires_ms: t.expires_ms };
            (t.org, t.sub, t.token_exp, Some(used))
        }
        None => {
            let claims = authenticate(req, url, env, TokenIn::HeaderOrQuery, Scope::Subscribe)?;
            (claims.org, claims.sub, claims.exp, None)
        }
    };
    let config = config(env)?;
    let request_id = http::request_id(url)?;
    // The Last-Event-ID header (what EventSource sends on reconnect) wins over the query; an
    // empty value counts as none.
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .ok()
        .flatten()
        .and_then(|v| LastEventId::parse(&v))
        .or_else(|| http::query(url, "lastEventId").and_then(|v| LastEventId::parse(&v)));
    let connect = Connect { last_event_id, request_id, sub, exp, ticket };
    let holder = stream_holder(env, &org, &config, connect.request_id.as_ref())?;
    crate::front::stream::open(holder, &config, connect, req.inner().signal()).await
}

/// `POST /v1/stream/ticket`: a one-use, 60-second ticket for `GET /v1/stream?ticket=`, so that
/// the token stays out of the stream's URL.
pub(crate) fn stream_ticket(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Subscribe)?;
    let secret = token_secret(env)?;
    let now = now_ms();
    let nonce = random_uuid().map_err(|e| internal("drawing a ticket nonce")(format!("{e:?}")))?;
    let ticket = crate::front::ticket::Ticket {
        org: claims.org,
        sub: claims.sub,
        expires_ms: now + crate::front::ticket::TTL_MS,
        token_exp: claims.exp,
        nonce,
    };
    let text = crate::front::ticket::encode(&ticket, secret.as_bytes())
        .ok_or("the ticket could not be encoded")
        .map_err(internal("issuing a ticket"))?;
    let body =
        serde_json::json!({ "ticket": text, "expiresAt": crate::clock::format_ts(ticket.expires_ms) }).to_string();
    http::json(200, body).map_err(internal("answering a ticket"))
}

#[wasm_bindgen]
extern "C" {
    /// `crypto.randomUUID()`: 122 random bits from the runtime's CSPRNG.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid() -> std::result::Result<String, JsValue>;
}
