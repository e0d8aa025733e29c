//! Who is asking: the token of a request (`Authorization: Bearer`, or `?token=` where EventSource
//! needs it), checked against `TOKEN_SECRET` (and `TOKEN_AUDIENCE`), with refusals that say what to
//! do next.

use std::rc::Rc;

use worker::{Env, Request};

use crate::api_error::ApiError;
use crate::clock::now_ms;
use crate::http;
use crate::token::{verify_with, Claims, Scope, Secret, Secrets, TokenError};

/// HMAC secrets shorter than this are refused: they can be guessed.
const MIN_SECRET_BYTES: usize = 32;

/// Where a request may carry its token.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum TokenIn {
    HeaderOnly,
    HeaderOrQuery,
}

/// The claims of the request's token, allowed `scope`; refusals say what to do next.
pub(crate) fn authenticate(
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
    let check = TokenCheck::of(env)?;
    let claims = verify_with(&token, check.secrets(), (now_ms() / 1000) as i64)
        .map_err(|e| ApiError::unauthorized(token_refusal(&e)))?;
    // `TOKEN_AUDIENCE`, when set: tokens minted for another service with the same secret are refused.
    if let Some(audience) = &check.audience {
        if !claims.is_for(audience) {
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

/// What a refused token's caller is told: the reason, and for the two usual mistakes where to go
/// next (locally, in dev builds: `npm run token`, which signs with the secret in `.dev.vars`).
pub(crate) fn token_refusal(e: &TokenError) -> String {
    let local = cfg!(feature = "dev-routes");
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

/// What the operator is told (in the log) about an unusable secret; the caller, who may not be
/// authenticated yet, learns only that the server is misconfigured.
fn misconfigured(why: String) -> ApiError {
    worker::console_error!("{why}");
    ApiError::misconfigured("the server is misconfigured; its log says what to fix")
}

/// A secret from `wrangler secret put` (or a var, locally), checked for length.
fn read_secret(env: &Env, name: &str) -> std::result::Result<Option<String>, ApiError> {
    // An empty value (a secret "cleared" rather than deleted) counts as unset.
    let Some(secret) = env
        .secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    if secret.len() < MIN_SECRET_BYTES {
        return Err(misconfigured(format!(
            "{name} must be at least {MIN_SECRET_BYTES} bytes; set a longer one with `wrangler secret put {name}`"
        )));
    }
    Ok(Some(secret))
}

/// The token secret, which signs what this server issues (tickets, dev tokens). When it is missing
/// or too short, the operator's log says which and how to fix it.
pub(crate) fn token_secret(env: &Env) -> std::result::Result<String, ApiError> {
    read_secret(env, "TOKEN_SECRET")?.ok_or_else(|| {
        misconfigured("TOKEN_SECRET is not set: run `wrangler secret put TOKEN_SECRET` (deployed) or `npm run setup` (local, writes .dev.vars)".into())
    })
}

/// What tokens are checked against: `TOKEN_SECRET`, and during a rotation
/// `TOKEN_SECRET_PREVIOUS`, each with the id a token's `kid` may name it by (`TOKEN_SECRET_ID`,
/// `TOKEN_SECRET_PREVIOUS_ID`; docs/security.md, "Rotating the token secret"), and
/// `TOKEN_AUDIENCE`.
pub(crate) struct TokenCheck {
    current: String,
    current_id: Option<String>,
    previous: Option<(String, Option<String>)>,
    audience: Option<String>,
}

thread_local! {
    /// `TokenCheck::of`, read once per isolate: an isolate's vars and secrets never change (a
    /// changed secret or var is a new deployment, with new isolates).
    static TOKEN_CHECK: std::cell::RefCell<Option<Rc<TokenCheck>>> = const { std::cell::RefCell::new(None) };
}

impl TokenCheck {
    /// The settings, read at the isolate's first request (a bad one is read again each time,
    /// and each time its refusal is logged).
    pub(crate) fn of(env: &Env) -> std::result::Result<Rc<TokenCheck>, ApiError> {
        if let Some(check) = TOKEN_CHECK.with(|c| c.borrow().clone()) {
            return Ok(check);
        }
        let check = Rc::new(TokenCheck::read(env)?);
        TOKEN_CHECK.with(|c| *c.borrow_mut() = Some(check.clone()));
        Ok(check)
    }

    fn read(env: &Env) -> std::result::Result<TokenCheck, ApiError> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string()).filter(|v| !v.is_empty());
        let previous =
            read_secret(env, "TOKEN_SECRET_PREVIOUS")?.map(|secret| (secret, var("TOKEN_SECRET_PREVIOUS_ID")));
        Ok(TokenCheck {
            current: token_secret(env)?,
            current_id: var("TOKEN_SECRET_ID"),
            previous,
            audience: var("TOKEN_AUDIENCE"),
        })
    }

    /// The secrets tickets are checked with: the current one, then the previous one (a ticket
    /// issued a moment before the current one changed still works).
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.current.as_bytes()).chain(self.previous.as_ref().map(|(key, _)| key.as_bytes()))
    }

    pub(crate) fn secrets(&self) -> Secrets<'_> {
        Secrets {
            current: Secret { key: self.current.as_bytes(), id: self.current_id.as_deref() },
            previous: self.previous.as_ref().map(|(key, id)| Secret { key: key.as_bytes(), id: id.as_deref() }),
        }
    }
}
