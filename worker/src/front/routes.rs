//! The front door: routing, authentication, publish checks; then on to the org's `OrgHub`.
//! The org always comes from the token, never from the URL or the body.

use futures_util::StreamExt;
use serde_json::value::RawValue;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::{Env, Method, Request, Response, Result};

use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::config::Config;
use crate::front::publish::{parse_body, parse_version_body, MAX_BODY_BYTES};
use crate::front::route_table::{self, Dispatch, Endpoint};
use crate::http;
use crate::replay::{self, LastEventId};
use crate::token::{verify, Claims, Scope, TokenError};
use crate::wire::hub_api::{Connect, HubCall, HubEvent, UsedTicket, CALL_URL};
use schema_wasm::PublishedEvent;

/// The Durable Object binding of `wrangler.toml`.
const HUB_BINDING: &str = "ORG_HUB";
/// HMAC secrets shorter than this are refused: they can be guessed.
const MIN_SECRET_BYTES: usize = 32;

pub async fn handle(req: Request, env: Env) -> Result<Response> {
    let url = req.url()?;
    // A browser app on another origin that ALLOWED_ORIGINS allows, on a route open to it.
    let cross_origin = match cross_origin(&req, &url, &env) {
        Ok(origin) => origin,
        Err(e) => return http::error(&e),
    };
    if let (Some(origin), Method::Options) = (&cross_origin, req.method()) {
        return preflight(origin, url.path());
    }
    let answer = route(req, &url, &env).await;
    let response = match answer {
        Ok(response) => response,
        Err(e) => http::error(&e)?,
    };
    match cross_origin {
        Some(origin) => with_headers(response, &crate::front::cors::answer_headers(&origin)),
        None => Ok(response),
    }
}

async fn route(req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    // The method as the runtime saw it: workers-rs reads one it does not know (PROPFIND, PURGE,
    // ...) as GET.
    let method = req.inner().method();
    let endpoint = match route_table::find(url.path(), &method) {
        Dispatch::To(endpoint) => endpoint,
        Dispatch::MethodNotAllowed(allow) => return Err(ApiError::method_not_allowed(&method, allow)),
        Dispatch::NoRoute => return Err(ApiError::not_found(url.path())),
    };
    match endpoint {
        Endpoint::Healthz => healthz(env),
        Endpoint::Stream => stream(&req, url, env).await,
        Endpoint::StreamTicket => stream_ticket(&req, url, env),
        Endpoint::History => history(&req, url, env).await,
        Endpoint::Publish => publish(req, url, env).await,
        Endpoint::Latest => latest(&req, url, env).await,
        Endpoint::PutVersion => put_version(req, url, env).await,
        Endpoint::DeleteVersion => delete_version(&req, url, env).await,
        Endpoint::ClientError => client_error(req, url, env).await,
        Endpoint::Metrics => metrics(&req, url, env).await,
        #[cfg(feature = "dev-token")]
        Endpoint::DevToken => dev_token(&req, url, env),
        #[cfg(not(feature = "dev-token"))]
        Endpoint::DevToken => Err(ApiError::not_found(url.path())),
    }
}

/// `GET /healthz`: ok when the settings every route needs are usable; otherwise 503, and the log
/// names what to fix (a caller is not told which secret is missing).
fn healthz(env: &Env) -> std::result::Result<Response, ApiError> {
    let problems = [config(env).err(), token_secret(env).err()];
    let body = match problems.iter().flatten().next() {
        None => (200, r#"{"ok":true}"#.to_string()),
        Some(first) => {
            worker::console_error!("health check: {}", first.message);
            (503, serde_json::json!({ "ok": false, "problem": first.message }).to_string())
        }
    };
    http::json(body.0, body.1).map_err(internal("answering a health check"))
}

/// The request's `Origin`, when the route is open to other origins and `ALLOWED_ORIGINS` allows
/// it; `None` for same-origin and server-side callers and for origins not allowed (their answers
/// carry no CORS header, so the browser keeps them from the page).
fn cross_origin(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Option<String>, ApiError> {
    let Some(origin) = req.headers().get("origin").ok().flatten() else { return Ok(None) };
    if route_table::cross_origin_methods(url.path()).is_none() {
        return Ok(None);
    }
    let allowed = env.var("ALLOWED_ORIGINS").ok().map(|v| v.to_string());
    let allowed = crate::front::cors::AllowedOrigins::parse(allowed.as_deref()).map_err(ApiError::misconfigured)?;
    Ok(allowed.allows(&origin).then_some(origin))
}

/// `204` to an allowed origin's preflight.
fn preflight(origin: &str, path: &str) -> Result<Response> {
    let methods = route_table::cross_origin_methods(path).unwrap_or_else(|| "GET".to_string());
    with_headers(Response::empty()?.with_status(204), &crate::front::cors::preflight_headers(origin, &methods))
}

/// The response with `extra` headers. Answers that came from the hub have immutable headers:
/// they are copied into new ones.
fn with_headers(response: Response, extra: &[(&'static str, String)]) -> Result<Response> {
    let headers = worker::Headers::new();
    for (name, value) in response.headers() {
        headers.append(&name, &value)?;
    }
    for (name, value) in extra {
        headers.set(name, value)?;
    }
    Ok(response.with_headers(headers))
}

/// Where a request may carry its token.
#[derive(Clone, Copy, PartialEq)]
enum TokenIn {
    HeaderOnly,
    HeaderOrQuery,
}

fn authenticate(
    req: &Request,
    url: &worker::Url,
    env: &Env,
    allowed: TokenIn,
    scope: Scope,
) -> std::result::Result<Claims, ApiError> {
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
        .map_err(|e| ApiError::unauthorized(token_refusal(&e)))?;
    // `TOKEN_AUDIENCE`, when set: tokens minted for another service with the same secret are refused.
    if let Some(audience) = env.var("TOKEN_AUDIENCE").ok().map(|v| v.to_string()).filter(|a| !a.is_empty()) {
        if !claims.is_for(&audience) {
            return Err(ApiError::unauthorized(format!(
                "token is not for this service: its aud must include {audience:?}"
            )));
        }
    }
    if !claims.allows(scope) {
        return Err(ApiError::forbidden(format!("this token lacks the `{}` scope", scope.as_str())));
    }
    Ok(claims)
}

/// The token secret. When it is missing or too short, the operator's log says which and how to fix
/// it; the caller, who may not be authenticated yet, learns only that the server is misconfigured.
/// What a refused token's caller is told: the reason, and for the two usual mistakes where to go
/// next (locally, in dev builds: `npm run token`, which signs with the secret in `.dev.vars`).
fn token_refusal(e: &TokenError) -> String {
    let local = cfg!(feature = "dev-token");
    match e {
        TokenError::Signature if local => {
            format!("{e}: it was not signed with this server's TOKEN_SECRET; locally, mint one with `npm run token` (it signs with the TOKEN_SECRET in .dev.vars)")
        }
        TokenError::Signature => format!(
            "{e}: it was not signed with this server's TOKEN_SECRET; get one from the service that issues your tokens"
        ),
        TokenError::Expired if local => format!("{e} (locally: `npm run token`)"),
        TokenError::Expired => format!("{e} from the service that issues your tokens"),
        other => other.to_string(),
    }
}

fn token_secret(env: &Env) -> std::result::Result<String, ApiError> {
    let refuse = |why: String| {
        worker::console_error!("{why}");
        ApiError::misconfigured("the server is misconfigured; its log says what to fix")
    };
    let secret = env
        .secret("TOKEN_SECRET")
        .map(|s| s.to_string())
        .or_else(|_| env.var("TOKEN_SECRET").map(|v| v.to_string()))
        .map_err(|_| {
            refuse("TOKEN_SECRET is not set: run `wrangler secret put TOKEN_SECRET` (deployed) or `npm run setup` (local, writes .dev.vars)".into())
        })?;
    if secret.len() < MIN_SECRET_BYTES {
        return Err(refuse(format!(
            "TOKEN_SECRET must be at least {MIN_SECRET_BYTES} bytes; set a longer one with `wrangler secret put TOKEN_SECRET`"
        )));
    }
    Ok(secret)
}

/// The org's hub.
pub fn hub(env: &Env, org: &str) -> std::result::Result<worker::Stub, ApiError> {
    env.durable_object(HUB_BINDING).and_then(|ns| ns.get_by_name(org)).map_err(internal("finding the org's hub"))
}

/// Makes a call to the org's hub; its answer is the client's answer.
async fn call_hub(env: &Env, org: &str, call: &HubCall) -> std::result::Result<Response, ApiError> {
    let body = call.to_json().map_err(internal("encoding a hub call"))?;
    let mut init = worker::RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init(CALL_URL, &init).map_err(internal("building a hub call"))?;
    hub(env, org)?.fetch_with_request(req).await.map_err(internal("calling the org's hub"))
}

/// The settings, or the 500 that names the bad one.
fn config(env: &Env) -> std::result::Result<Config, ApiError> {
    Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string())).map_err(|e| ApiError::misconfigured(e.0))
}

async fn stream(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    // A ticket (POST /v1/stream/ticket) stands in for the token; otherwise the token itself.
    let (org, sub, exp, ticket) = match http::query(url, "ticket") {
        Some(text) => {
            let secret = token_secret(env)?;
            let t = crate::front::ticket::decode(&text, secret.as_bytes(), now_ms())
                .map_err(|e| ApiError::unauthorized(e.to_string()))?;
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
    crate::front::stream::open(hub(env, &org)?, &config, connect, req.inner().signal()).await
}

/// `POST /v1/stream/ticket`: a one-use, 60-second ticket for `GET /v1/stream?ticket=`, so that
/// the token stays out of the stream's URL.
fn stream_ticket(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
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

/// `GET /v1/events/latest?type=`: the newest event of a type whose newest the org keeps.
async fn latest(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Subscribe)?;
    let event_type = type_param(url, KEPT)?.ok_or_else(|| KEPT.refusal())?;
    call_hub(env, &claims.org, &HubCall::Latest { sub: claims.sub, event_type: event_type.to_string() }).await
}

/// The event types a `?type=` may name, and how the refusal says what they are.
struct TypeParam {
    types: &'static [&'static str],
    what: &'static str,
}

const KEPT: TypeParam = TypeParam { types: &schema_wasm::rules::KEPT_TYPES, what: "a type whose newest event is kept" };
const CATALOG: TypeParam = TypeParam { types: schema_wasm::EVENT_TYPES, what: "an event type of the catalog" };

impl TypeParam {
    fn refusal(&self) -> ApiError {
        ApiError::bad_request(format!("type must be {} ({})", self.what, self.types.join(", ")))
    }
}

/// `?type=`, when given: one of `allowed.types`, else `400` listing them.
fn type_param(url: &worker::Url, allowed: TypeParam) -> std::result::Result<Option<&'static str>, ApiError> {
    match http::query(url, "type") {
        Some(raw) => allowed.types.iter().find(|t| **t == raw).map(|t| Some(*t)).ok_or_else(|| allowed.refusal()),
        None => Ok(None),
    }
}

async fn history(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOrQuery, Scope::Subscribe)?;
    let after = match http::query(url, "after") {
        Some(raw) => replay::parse_id(&raw)
            .ok_or_else(|| ApiError::bad_request("after must be an event id (a decimal number)"))?,
        None => 0,
    };
    let limit = match http::query(url, "limit") {
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| ApiError::bad_request("limit must be an integer from 1 to 1000"))?,
        None => 100,
    };
    let request_id = http::request_id(url)?;
    let event_type = type_param(url, CATALOG)?.map(str::to_string);
    call_hub(env, &claims.org, &HubCall::History { sub: claims.sub, after, limit, request_id, event_type }).await
}

/// Whether this is a local dev server: `DEV_MODE = "true"` comes only from `.dev.vars` (written by
/// `npm run setup`, never deployed) or `--var DEV_MODE:true`.
#[cfg(feature = "dev-token")]
fn dev_mode(env: &Env) -> bool {
    env.var("DEV_MODE").map(|v| v.to_string() == "true").unwrap_or(false)
}

/// Whether the request came to a loopback name from a loopback peer (`CF-Connecting-IP`, which
/// wrangler dev sets from the connection). Both headers can be forged by a caller that reaches the
/// server, so this is not what keeps dev tokens local: `npm run dev` refuses to serve beyond
/// loopback while `DEV_MODE` is on (docs/security.md).
#[cfg(feature = "dev-token")]
fn loopback(req: &Request, url: &worker::Url) -> bool {
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
#[cfg(feature = "dev-token")]
fn dev_token(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
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

/// `POST /v1/audit/client-error`: the report is checked here, rate-limited and kept by the hub.
async fn client_error(mut req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(&req, url, env, TokenIn::HeaderOnly, Scope::Subscribe)?;
    let body = read_json_body(&mut req).await?;
    let report = crate::client_error::parse(&body)?;
    let call = HubCall::ClientError { sub: claims.sub, report };
    call_hub(env, &claims.org, &call).await
}

async fn metrics(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Metrics)?;
    call_hub(env, &claims.org, &HubCall::Metrics).await
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

fn hub_event(event: PublishedEvent) -> std::result::Result<HubEvent, ApiError> {
    Ok(HubEvent {
        type_name: event.type_name.to_string(),
        data: RawValue::from_string(event.data).map_err(internal("validated data that is not JSON"))?,
        target: event.target,
    })
}

async fn publish(mut req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(&req, url, env, TokenIn::HeaderOnly, Scope::Publish)?;
    let body = read_json_body(&mut req).await?;
    let events = parse_body(&body)?.into_iter().map(hub_event).collect::<std::result::Result<Vec<_>, _>>()?;
    call_hub(env, &claims.org, &HubCall::Publish { sub: claims.sub, events }).await
}

async fn put_version(mut req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(&req, url, env, TokenIn::HeaderOnly, Scope::Publish)?;
    let body = read_json_body(&mut req).await?;
    let event = hub_event(parse_version_body(&body)?)?;
    call_hub(env, &claims.org, &HubCall::PutVersion { sub: claims.sub, event }).await
}

async fn delete_version(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Response, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Publish)?;
    let request_id = http::request_id(url)?;
    call_hub(env, &claims.org, &HubCall::DeleteVersion { sub: claims.sub, request_id }).await
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
