//! The front door: finds each request's endpoint in the route table (answering `405` and CORS
//! preflights from it), runs its handler (`subscribe`, `events`, and the few here), and calls the
//! org's hub. The org always comes from the token, never from the URL or the body.

use worker::{web_sys, Env, Method, Request, Response, Result};

use super::reply::Reply;

use super::auth::{authenticate, TokenCheck, TokenIn};
use super::body::read_json_body;
use super::hub_socket::Holder;
use super::route_table::{self, Dispatch, Endpoint};
use super::{events, subscribe};
use crate::api_error::{internal, ApiError};
use crate::config::Config;
use crate::http;
use crate::token::Scope;
use crate::wire;
use crate::wire::hub_api::{HubCall, CALL_URL, HUB_BINDING};
use crate::wire::relay_api::{self, RelayAddress, RELAY_BINDING};

pub async fn handle(req: Request, env: Env) -> Result<web_sys::Response> {
    let url = req.url()?;
    // A browser app on another origin that ALLOWED_ORIGINS allows, on a route open to it.
    let cross_origin = match cross_origin(&req, &url, &env) {
        Ok(origin) => origin,
        Err(e) => return http::error(&e).map(Into::into),
    };
    if let (Some(origin), Method::Options) = (&cross_origin, req.method()) {
        return preflight(origin, url.path());
    }
    let reply = match route(req, &url, &env).await {
        Ok(reply) => reply,
        Err(e) => Reply::Made(http::error(&e)?),
    };
    match cross_origin {
        Some(origin) => reply.with_headers(&crate::front::cors::answer_headers(&origin)).map_err(cors_failed),
        None => Ok(reply.into_raw()),
    }
}

async fn route(req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Reply, ApiError> {
    // The method as the runtime saw it: workers-rs reads one it does not know (PROPFIND, PURGE,
    // ...) as GET.
    let method = req.inner().method();
    let endpoint = match route_table::find(url.path(), &method) {
        Dispatch::To(endpoint) => endpoint,
        Dispatch::MethodNotAllowed(allow) => return Err(ApiError::method_not_allowed(&method, allow)),
        Dispatch::NoRoute => return Err(ApiError::not_found(url.path())),
    };
    let made = |response: std::result::Result<Response, ApiError>| response.map(Reply::Made);
    match endpoint {
        Endpoint::Healthz => made(healthz(env)),
        Endpoint::Stream => made(subscribe::stream(&req, url, env).await),
        Endpoint::StreamTicket => made(subscribe::stream_ticket(&req, url, env)),
        Endpoint::History => events::history(&req, url, env).await,
        Endpoint::Publish => events::publish(req, url, env).await,
        Endpoint::Latest => events::latest(&req, url, env).await,
        Endpoint::PutVersion => events::put_version(req, url, env).await,
        Endpoint::DeleteVersion => events::delete_version(&req, url, env).await,
        Endpoint::ClientError => client_error(req, url, env).await,
        Endpoint::ClientErrors => client_errors(&req, url, env).await,
        Endpoint::Metrics => metrics(&req, url, env).await,
        #[cfg(feature = "dev-routes")]
        Endpoint::DevToken => made(super::dev::dev_token(&req, url, env)),
        #[cfg(feature = "dev-routes")]
        Endpoint::DevHubSocket => made(super::dev::hub_socket(&req, url, env).await),
        #[cfg(not(feature = "dev-routes"))]
        Endpoint::DevToken | Endpoint::DevHubSocket => Err(ApiError::not_found(url.path())),
    }
}

/// `GET /healthz`: ok when the settings every route needs are usable; otherwise 503, and the log
/// names what to fix (a caller is not told which secret is missing).
fn healthz(env: &Env) -> std::result::Result<Response, ApiError> {
    let problems = [config(env).err(), TokenCheck::of(env).err()];
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
fn preflight(origin: &str, path: &str) -> Result<web_sys::Response> {
    let methods = route_table::cross_origin_methods(path).unwrap_or_else(|| "GET".to_string());
    Reply::Made(Response::empty()?.with_status(204))
        .with_headers(&crate::front::cors::preflight_headers(origin, &methods))
        .map_err(cors_failed)
}

fn cors_failed(e: worker::wasm_bindgen::JsValue) -> worker::Error {
    worker::Error::from(format!("adding the CORS headers: {}", crate::wire::call::why(e)))
}

/// The org's hub.
pub(crate) fn hub(env: &Env, org: &str) -> std::result::Result<worker::Stub, ApiError> {
    env.durable_object(HUB_BINDING).and_then(|ns| ns.get_by_name(org)).map_err(internal("finding the org's hub"))
}

/// The object that holds a stream: the org's hub, or with `RELAYS_PER_ORG` of 2 or more the
/// relay its request id picks (a random one without).
pub(crate) fn stream_holder(
    env: &Env,
    org: &str,
    config: &Config,
    request_id: Option<&schema_wasm::RequestId>,
) -> std::result::Result<Holder, ApiError> {
    if config.relays_per_org <= 1 {
        return Ok(Holder { stub: hub(env, org)?, relay: None });
    }
    let random = (worker::js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    let relay = RelayAddress {
        org: org.to_string(),
        relay: relay_api::pick(config.relays_per_org, request_id.map(|r| r.as_str()), random),
    };
    let stub = env
        .durable_object(RELAY_BINDING)
        .and_then(|ns| ns.get_by_name(&relay.object_name()))
        .map_err(internal("finding the org's relay (RELAYS_PER_ORG needs the ORG_RELAY binding)"))?;
    Ok(Holder { stub, relay: Some(relay) })
}

/// Makes a call to the org's hub; its answer is the client's answer.
pub(crate) async fn call_hub(env: &Env, org: &str, call: &HubCall) -> std::result::Result<Reply, ApiError> {
    let body = call.to_json().map_err(internal("encoding a hub call"))?;
    let answer = wire::call::post(hub(env, org)?, CALL_URL, &body).await.map_err(internal("calling the org's hub"))?;
    Ok(Reply::Hub(answer))
}

/// The settings, or the 500 that names the bad one.
pub(crate) fn config(env: &Env) -> std::result::Result<Config, ApiError> {
    Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string())).map_err(|e| ApiError::misconfigured(e.0))
}

/// `POST /v1/audit/client-error`: the report is checked here, rate-limited and kept by the hub.
async fn client_error(mut req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Reply, ApiError> {
    let claims = authenticate(&req, url, env, TokenIn::HeaderOnly, Scope::Subscribe)?;
    let body = read_json_body(&mut req).await?;
    let report = crate::client_error::parse(&body)?;
    let call = HubCall::ClientError { org: claims.org.clone(), sub: claims.sub, report };
    call_hub(env, &claims.org, &call).await
}

/// `GET /v1/client-errors`: the reports the org kept, newest first (scope `metrics`).
async fn client_errors(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Reply, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Metrics)?;
    let limit = http::limit(url)?;
    let before = match http::query(url, "before") {
        Some(raw) => Some(
            crate::replay::parse_id(&raw)
                .ok_or_else(|| ApiError::bad_request("before must be a report id (a decimal number)"))?,
        ),
        None => None,
    };
    call_hub(env, &claims.org, &HubCall::ClientErrors { limit, before }).await
}

async fn metrics(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Reply, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Metrics)?;
    call_hub(env, &claims.org, &HubCall::Metrics).await
}
