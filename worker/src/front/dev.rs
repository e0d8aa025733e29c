//! The dev routes, compiled into dev builds only (cargo feature `dev-routes`) and answered only
//! with `DEV_MODE` on loopback: `GET /v1/dev/token`, a token for the dashboard under `npm run dev`
//! with no manual step; `GET /v1/dev/hub-socket`, the org's hub's stream socket itself, for the
//! hub-only benchmark.

use worker::{Env, Request, Response};

use super::auth::{authenticate, token_secret, TokenIn};
use super::routes::{config, stream_holder};
use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::http;
use crate::token::{verify, Scope};
use crate::wire::hub_api::Connect;

/// Whether this is a local dev server: `DEV_MODE = "true"` comes only from `.dev.vars` (written by
/// `npm run setup`, never deployed) or `--var DEV_MODE:true`.
pub(crate) fn dev_mode(env: &Env) -> bool {
    env.var("DEV_MODE").map(|v| v.to_string() == "true").unwrap_or(false)
}

/// Whether the request came to a loopback name from a loopback peer (`CF-Connecting-IP`, which
/// wrangler dev sets from the connection). Both headers can be forged by a caller that reaches the
/// server, so this is not what keeps dev tokens local: `npm run dev` refuses to serve beyond
/// loopback while `DEV_MODE` is on (docs/security.md).
pub(crate) fn loopback(req: &Request, url: &worker::Url) -> bool {
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let peer = req.headers().get("cf-connecting-ip").ok().flatten();
    let peer = peer.is_none_or(|ip| ip.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
    host && peer
}

/// `GET /v1/dev/token?org=dev`: in dev builds with `DEV_MODE`, on loopback only, a one-hour
/// subscribe+publish token, so the dashboard works under `npm run dev` with no manual step.
/// Elsewhere the route does not exist (release builds do not even contain it).
pub(crate) fn dev_token(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    if !dev_mode(env) || !loopback(req, url) {
        return Err(ApiError::not_found(url.path()));
    }
    let org = http::query(url, "org").unwrap_or_else(|| "dev".to_string());
    let secret = token_secret(env)?;
    let exp = (now_ms() / 1000) as i64 + 3600;
    let claims = serde_json::json!({ "org": org, "sub": "dev-dashboard", "scope": "subscribe publish", "exp": exp });
    let token = crate::token::sign(&claims, secret.as_bytes())
        .ok_or("the claims could not be encoded")
        .map_err(internal("signing a dev token"))?;
    // Check it like any other token (this also checks the org's format).
    verify(&token, secret.as_bytes(), (now_ms() / 1000) as i64).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let body = serde_json::json!({ "token": token, "org": org, "expiresAt": exp }).to_string();
    http::json(200, body).map_err(internal("answering a dev token"))
}

/// `GET /v1/dev/hub-socket` (a subscribe token, in the header or `?token=`; `?requestId=` as for
/// a stream): in dev builds with `DEV_MODE`, on loopback only, the hub's own answer to a stream's
/// connect, handed to the caller: the WebSocket a front worker holds for a stream, carrying the
/// hub's binary messages (`wire::frames`: the catch-up, then live frames); with relays, the
/// answer of the stream's relay. So a load generator can stand where the front workers stand and
/// measure the hub (and its relays) alone (`npm run bench -- --servers hub [--relays K]`).
/// Elsewhere the route does not exist.
pub(crate) async fn hub_socket(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    if !dev_mode(env) || !loopback(req, url) {
        return Err(ApiError::not_found(url.path()));
    }
    let claims = authenticate(req, url, env, TokenIn::HeaderOrQuery, Scope::Subscribe)?;
    let connect = Connect {
        last_event_id: None,
        request_id: http::request_id(url)?,
        sub: claims.sub,
        exp: claims.exp,
        ticket: None,
    };
    // With RELAYS_PER_ORG of 2 or more, the relay's socket (the hub and its relays alone).
    let holder = stream_holder(env, &claims.org, &config(env)?, connect.request_id.as_ref())?;
    super::hub_socket::open(&holder, &connect).await
}
