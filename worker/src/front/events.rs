//! The event endpoints other than the stream: history and the newest kept event (reads), and
//! publishing and pending versions (writes), each checked here and answered by the org's hub.

use worker::{Env, Request};

use super::auth::{authenticate, TokenIn};
use super::body::read_json_body;
use super::once_key::once_key;
use super::publish::{parse_body, parse_version_body};
use super::reply::Reply;
use super::routes::call_hub;
use crate::api_error::ApiError;
use crate::http;
use crate::replay;
use crate::token::Scope;
use crate::wire::hub_api::{HistoryFrom, HubCall};

/// `GET /v1/events/latest?type=`: the newest event of a type whose newest the org keeps.
pub(crate) async fn latest(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Reply, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Subscribe)?;
    let event_type = type_param(url, KEPT)?.ok_or_else(|| KEPT.refusal())?;
    call_hub(env, &claims.org, &HubCall::Latest { sub: claims.sub, event_type: event_type.to_string() }).await
}

/// The event types a `?type=` may name, and how the refusal says what they are.
pub(crate) struct TypeParam {
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
pub(crate) fn type_param(url: &worker::Url, allowed: TypeParam) -> std::result::Result<Option<&'static str>, ApiError> {
    match http::query(url, "type") {
        Some(raw) => allowed.types.iter().find(|t| **t == raw).map(|t| Some(*t)).ok_or_else(|| allowed.refusal()),
        None => Ok(None),
    }
}

pub(crate) async fn history(req: &Request, url: &worker::Url, env: &Env) -> std::result::Result<Reply, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOrQuery, Scope::Subscribe)?;
    let id = |name: &str| match http::query(url, name) {
        Some(raw) => replay::parse_id(&raw)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be an event id (a decimal number)"))),
        None => Ok(None),
    };
    let from = match http::query(url, "order").as_deref() {
        None | Some("asc") if http::query(url, "before").is_some() => {
            return Err(ApiError::bad_request("before reads newest first: add order=desc, or page forward with after"))
        }
        None | Some("asc") => HistoryFrom::After(id("after")?.unwrap_or(0)),
        Some("desc") if http::query(url, "after").is_some() => {
            return Err(ApiError::bad_request("order=desc pages backward with before, not after"))
        }
        Some("desc") => HistoryFrom::Before(id("before")?),
        Some(_) => {
            return Err(ApiError::bad_request("order must be asc (oldest first, the default) or desc (newest first)"))
        }
    };
    let limit = http::limit(url)?;
    let request_id = http::request_id(url)?;
    let event_type = type_param(url, CATALOG)?.map(str::to_string);
    call_hub(env, &claims.org, &HubCall::History { sub: claims.sub, from, limit, request_id, event_type }).await
}

pub(crate) async fn publish(mut req: Request, url: &worker::Url, env: &Env) -> std::result::Result<Reply, ApiError> {
    let claims = authenticate(&req, url, env, TokenIn::HeaderOnly, Scope::Publish)?;
    let body = read_json_body(&mut req).await?;
    let once = once_key(&req, "POST /v1/events", &body)?;
    let events = parse_body(&body)?;
    call_hub(env, &claims.org, &HubCall::Publish { sub: claims.sub, events, once }).await
}

pub(crate) async fn put_version(
    mut req: Request,
    url: &worker::Url,
    env: &Env,
) -> std::result::Result<Reply, ApiError> {
    let claims = authenticate(&req, url, env, TokenIn::HeaderOnly, Scope::Publish)?;
    let body = read_json_body(&mut req).await?;
    let once = once_key(&req, "PUT /v1/versions", &body)?;
    let event = parse_version_body(&body)?;
    call_hub(env, &claims.org, &HubCall::PutVersion { sub: claims.sub, event, once }).await
}

pub(crate) async fn delete_version(
    req: &Request,
    url: &worker::Url,
    env: &Env,
) -> std::result::Result<Reply, ApiError> {
    let claims = authenticate(req, url, env, TokenIn::HeaderOnly, Scope::Publish)?;
    let request_id = http::request_id(url)?;
    call_hub(env, &claims.org, &HubCall::DeleteVersion { sub: claims.sub, request_id }).await
}
