//! Keyed publishes answered once (`Idempotency-Key`, contract 4.2). A publisher that lost an
//! answer (a timeout, a restart) sends the same request again with the same key: the first one
//! publishes and its answer is kept; a repeat gets that answer again (with
//! `idempotent-replayed: true`) and publishes nothing; the same key with another request is `409`.
//! The kept answer is written right after the events, without an `await` between them, so the
//! Durable Object commits them together; only a failing write between the two (logged) could
//! leave events without their answer (docs/protocol.md 4.2).

use worker::Response;

use super::Hub;
use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::http;
use crate::hub::metrics::name;
use crate::hub::store::idempotency::Seen;
use crate::wire::hub_api::OnceKey;

/// How often the kept answers are pruned at most (by age and by count).
const PRUNE_EVERY_MS: u64 = 60_000;

/// A publish's answer, before it is a response: what is kept for a keyed one.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Runs `publish` once per key: without a key, as it is; with one, as described above.
pub fn once(
    hub: &Hub,
    sub: &str,
    key: Option<&OnceKey>,
    publish: impl FnOnce() -> Result<Answer, ApiError>,
) -> Result<Response, ApiError> {
    let Some(k) = key else { return respond(publish()?, false) };
    let seen = hub.idempotency.seen(sub, &k.key, &k.request).map_err(internal("reading an idempotency key"))?;
    match seen {
        Seen::Same { status, answer } => {
            hub.tally.add(name::IDEMPOTENT_REPLAYS, "", 1);
            respond(Answer { status, body: answer }, true)
        }
        Seen::Different => {
            hub.tally.add(name::IDEMPOTENCY_CONFLICTS, "", 1);
            Err(ApiError::idempotency_conflict(&k.key))
        }
        Seen::New => {
            let answer = publish()?;
            let now = now_ms();
            // Published by now: a key that cannot be kept is logged, and the answer still given.
            if let Err(e) = hub.idempotency.keep(sub, &k.key, &k.request, answer.status, &answer.body, now) {
                worker::console_error!("keeping the answer to an idempotency key failed: {e}");
            }
            if now.saturating_sub(hub.idempotency_pruned_at.get()) >= PRUNE_EVERY_MS {
                hub.idempotency_pruned_at.set(now);
                if let Err(e) = hub.idempotency.prune(hub.config.retention.max_age_ms, now) {
                    worker::console_error!("pruning idempotency keys failed: {e}");
                }
            }
            respond(answer, false)
        }
    }
}

fn respond(answer: Answer, replayed: bool) -> Result<Response, ApiError> {
    let mut response = http::json(answer.status, answer.body).map_err(internal("answering a publish"))?;
    if replayed {
        response.headers_mut().set("idempotent-replayed", "true").map_err(internal("answering a publish"))?;
    }
    Ok(response)
}
