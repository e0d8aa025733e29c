//! The front door: routing, authentication, publish checks; then on to the org's `OrgHub`.
//! The org always comes from the token, never from the URL or the body.

use futures_util::StreamExt;
use serde_json::value::RawValue;
use worker::{Env, Method, Request, Response, Result};

use crate::api_error::ApiError;
use crate::clock::now_ms;
use crate::hub::HubEvent;
use crate::http;
use crate::publish::{parse_body, parse_version_body, MAX_BODY_BYTES};
use schema_wasm::PublishedEvent;
use crate::token::{verify, Claims, Scope};

/// The Durable Object binding of `wrangler.toml`.
const HUB_BINDING: &str = "ORG_HUB";
/// HMAC secrets shorter than this are refused: they can be guessed.
const MIN_SECRET_BYTES: usize = 32;

pub async fn handle(req: Request, env: Env) -> Result<Response> {
    let url = req.url()?;
    let answer = match (url.path(), req.method()) {
        ("/healthz", Method::Get) => http::json(200, r#"{"ok":true}"#.to_string()).map_err(ApiError::from_worker),
        ("/healthz", m) => Err(ApiError::method_not_allowed(m.as_ref(), "GET")),
        ("/v1/stream", Method::Get) => stream(&req, &url, &env).await,
        ("/v1/stream", m) => Err(ApiError::method_not_allowed(m.as_ref(), "GET")),
        ("/v1/events", Method::Get) => history(&req, &url, &env).await,
        ("/v1/events", Method::Post) => publish(req, &url, &env).await,
        ("/v1/events", m) => Err(ApiError::method_not_allowed(m.as_ref(), "GET, POST")),
        ("/v1/versions", Method::Put) => put_version(req, &url, &env).await,
        ("/v1/versions", Method::Delete) => delete_version(&req, &url, &env).await,
        ("/v1/versions", m) => Err(ApiError::method_not_allowed(m.as_ref(), "PUT, DELETE")),
        ("/v1/audit/client-error", Method::Post) => client_error(req, &url, &env).await,
        ("/v1/audit/client-error", m) => Err(ApiError::method_not_allowed(m.as_ref(), "POST")),
        ("/v1/dev/token", Method::Get) => dev_token(&url, &env),
        ("/v1/metrics", Method::Get) => metrics(&req, &url, &env).await,
        ("/v1/metrics", m) => Err(ApiError::method_not_allowed(m.as_ref(), "GET")),
        (path, _) => Err(ApiError::not_found(path)),
    };
    match answer {
        Ok(response) => Ok(response),
        Err(e) => http::error(&e),
    }
}

impl ApiError {
    fn from_worker(e: worker::Error) -> ApiError {
        worker::console_error!("{e}");
        ApiError::internal()
    }
}

/// Where a request may carry its token.
#[derive(Clone, Copy, PartialEq)]
enum TokenIn {
    HeaderOnly,
    HeaderOrQuery,
}

fn authenticate(req: &Request, url: &worker::Url, env: &Env, allowed: TokenIn, scope: Scope) -> std::result::Result<Claims, ApiError> {
    let header = req.headers().get("authorization").ok().flatten();
    let bearer = match header {
        Some(value) => match value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) {
            Some(token) => Some(token.trim().to_string()),
            None => return Err(ApiError::unauthorized("the Authorization header must be `Bearer <token>`")),
        },
        None => None,
    };
    let query = http::query(url, "token");
    let token = match (bearer, query, allowed) {
        (Some(token), _, _) => token,
        (None, Some(token), TokenIn::HeaderOrQuery) => token,
        (None, Some(_), TokenIn::HeaderOnly) => {
            return Err(ApiError::unauthorized(
                "send the token as Authorization: Bearer <token>; ?token= is accepted only on GET /v1/stream and GET /v1/events",
            ))
        }
        (None, None, TokenIn::HeaderOnly) => {
            return Err(ApiError::unauthorized("missing token: send Authorization: Bearer <token>"))
        }
        (None, None, TokenIn::HeaderOrQuery) => {
            return Err(ApiError::unauthorized("missing token: add ?token=<token> or send Authorization: Bearer <token>"))
        }
    };
    let secret = token_secret(env)?;
    let claims = verify(&token, secret.as_bytes(), (now_ms() / 1000) as i64)
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    if !claims.allows(scope) {
        return Err(ApiError::forbidden(format!("this token lacks the `{}` scope", scope.as_str())));
    }
    Ok(claims)
}

fn token_secret(env: &Env) -> std::result::Result<String, ApiError> {
    let secret = env
        .secret("TOKEN_SECRET")
        .map(|s| s.to_string())
        .or_else(|_| env.var("TOKEN_SECRET").map(|v| v.to_string()))
        .map_err(|_| {
            ApiError::misconfigured(
                "TOKEN_SECRET is not set: run `wrangler secret put TOKEN_SECRET` (deployed) or `npm run dev` (local, writes .dev.vars)",
            )
        })?;
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ApiError::misconfigured(format!(
            "TOKEN_SECRET must be at least {MIN_SECRET_BYTES} bytes; set a longer one with `wrangler secret put TOKEN_SECRET`"
        )));
    }
    Ok(secret)
}

/// Forwards a request to the org's hub.
async fn to_hub(env: &Env, org: &str, hub_req: Request) -> std::result::Result<Response, ApiError> {
    let stub = env
        .durable_object(HUB_BINDING)
        .and_then(|ns| ns.get_by_name(org))
        .map_err(ApiError::from_worker)?;
    stub.fetch_with_request(hub_req).await.map_err(ApiError::from_worker)
}

fn hub_url(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut url = format!("https://hub{path}");
    let mut sep = '?';
    for (name, value) in params {
        if let Some(value) = value {
            url.push(sep);
            url.push_str(name);
            url.push('=');
            url.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
            sep = '&';
        }
    }
    url
}

async fn stream(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOrQuery, Scope::Subscribe)?;
    let request_id = http::request_id(url)?.map(|r| r.as_str().to_string());
    // The Last-Event-ID header (what EventSource sends on reconnect) wins over the query.
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .ok()
        .flatten()
        .filter(|v| !v.is_empty()) // an empty header counts as none
        .or_else(|| http::query(url, "lastEventId"));
    let hub_req = Request::new(
        &hub_url("/stream", &[("lastEventId", last_event_id.as_deref()), ("requestId", request_id.as_deref())]),
        Method::Get,
    )
    .map_err(ApiError::from_worker)?;
    to_hub(env, &claims.org, hub_req).await
}

async fn history(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOrQuery, Scope::Subscribe)?;
    let after = http::query(url, "after");
    let limit = http::query(url, "limit");
    let request_id = http::request_id(url)?.map(|r| r.as_str().to_string());
    let hub_req = Request::new(
        &hub_url(
            "/history",
            &[("after", after.as_deref()), ("limit", limit.as_deref()), ("requestId", request_id.as_deref())],
        ),
        Method::Get,
    )
    .map_err(ApiError::from_worker)?;
    to_hub(env, &claims.org, hub_req).await
}

/// Whether this is a local dev server: `DEV_MODE = "true"` comes only from `.dev.vars` (written by
/// `npm run setup`, never deployed) or `--var DEV_MODE:true`.
fn dev_mode(env: &Env) -> bool {
    env.var("DEV_MODE").map(|v| v.to_string() == "true").unwrap_or(false)
}

/// `GET /v1/dev/token?org=dev`: in dev mode only, a one-hour subscribe+publish token, so the
/// dashboard works under `npm run dev` with no manual step. Elsewhere the route does not exist.
fn dev_token(url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    if !dev_mode(env) {
        return Err(ApiError::not_found(url.path()));
    }
    let org = http::query(url, "org").unwrap_or_else(|| "dev".to_string());
    let secret = token_secret(env)?;
    let exp = (now_ms() / 1000) as i64 + 3600;
    let claims = serde_json::json!({ "org": org, "sub": "dev-dashboard", "scope": "subscribe publish", "exp": exp });
    let token = crate::token::sign(&claims, secret.as_bytes()).ok_or_else(ApiError::internal)?;
    // Check it like any other token (this also checks the org's format).
    verify(&token, secret.as_bytes(), (now_ms() / 1000) as i64).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let body = serde_json::json!({ "token": token, "org": org, "expiresAt": exp }).to_string();
    http::json(200, body).map_err(ApiError::from_worker)
}

/// `POST /v1/audit/client-error`: the report is checked here, rate-limited and kept by the hub.
async fn client_error(mut req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(&req, url, env, TokenIn::HeaderOnly, Scope::Subscribe)?;
    let body = read_json_body(&mut req).await?;
    let report = crate::client_error::parse(&body)?;
    let payload = serde_json::json!({ "tokenKey": format!("{}:{}", claims.sub, claims.exp), "sub": claims.sub, "report": report }).to_string();
    to_hub(env, &claims.org, hub_request("/audit", Method::Post, payload)?).await
}

async fn metrics(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Metrics)?;
    let hub_req = Request::new(&hub_url("/metrics", &[]), Method::Get).map_err(ApiError::from_worker)?;
    to_hub(env, &claims.org, hub_req).await
}

/// Checks the headers and reads the body of a publish-scope JSON request.
async fn read_json_body(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
    let content_type = req.headers().get("content-type").ok().flatten().unwrap_or_default().to_ascii_lowercase();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if media_type != "application/json" {
        return Err(ApiError::unsupported_media_type());
    }
    let declared = req.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    read_capped(req).await
}

fn hub_events(events: Vec<PublishedEvent>) -> std::result::Result<String, ApiError> {
    let mut hub_events = Vec::with_capacity(events.len());
    for event in events {
        hub_events.push(HubEvent {
            type_name: event.type_name.to_string(),
            data: RawValue::from_string(event.data).map_err(|_| ApiError::internal())?,
            target: event.target,
        });
    }
    serde_json::to_string(&hub_events).map_err(|_| ApiError::internal())
}

fn hub_request(path: &str, method: Method, body: String) -> std::result::Result<Request, ApiError> {
    let mut init = worker::RequestInit::new();
    init.with_method(method).with_body(Some(body.into()));
    Request::new_with_init(&hub_url(path, &[]), &init).map_err(ApiError::from_worker)
}

async fn publish(mut req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(&req, url, env, TokenIn::HeaderOnly, Scope::Publish)?;
    let body = read_json_body(&mut req).await?;
    let payload = hub_events(parse_body(&body)?)?;
    to_hub(env, &claims.org, hub_request("/publish", Method::Post, payload)?).await
}

async fn put_version(mut req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(&req, url, env, TokenIn::HeaderOnly, Scope::Publish)?;
    let body = read_json_body(&mut req).await?;
    let event = parse_version_body(&body)?;
    let payload = hub_events(vec![event])?;
    // The hub takes one event here, not a list.
    let payload = payload.strip_prefix('[').and_then(|p| p.strip_suffix(']')).unwrap_or(&payload).to_string();
    to_hub(env, &claims.org, hub_request("/versions", Method::Put, payload)?).await
}

async fn delete_version(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Publish)?;
    let request_id = http::request_id(url)?.map(|r| r.as_str().to_string());
    let hub_req = Request::new_with_init(
        &hub_url("/versions", &[("requestId", request_id.as_deref())]),
        worker::RequestInit::new().with_method(Method::Delete),
    )
    .map_err(ApiError::from_worker)?;
    to_hub(env, &claims.org, hub_req).await
}

/// Reads the body, keeping at most the limit in memory. A body over the limit is read on (and
/// thrown away) up to `DRAIN_BYTES`, so the connection is left in a clean state for the next request
/// (left unread, a chunked body stalled the connection's next request under wrangler dev).
async fn read_capped(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
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
