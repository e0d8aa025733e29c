//! Who may use a request id (`request_owner`), as the hub keeps it: the owner of each id in the
//! org's SQLite, at most `MAX_REQUEST_IDS_PER_SUB` ids per subject, and ids forgotten once they
//! went unused for as long as events are kept, unless a stream with the id is still open. When an
//! id is forgotten, its pending version goes with it.

use schema_wasm::RequestId;

use super::runtime::RuntimeSockets;
use super::Hub;
use crate::api_error::{internal, ApiError};
use crate::log::Reader;
use crate::request_owner;
use crate::sockets::{request_tag, Sockets};

/// How often the hub forgets unused ids at most, and how many it looks at each time.
const FORGET_EVERY_MS: u64 = 60_000;
const FORGET_BATCH: u64 = 1_000;

/// How long a subject over `MAX_REQUEST_IDS_PER_SUB` should wait: one forgetting round.
const TOO_MANY_RETRY_SECONDS: u64 = FORGET_EVERY_MS / 1000;

/// Whether `sub` may use `request_id`: its own, or nobody's yet and `sub` owns fewer than the
/// limit. Refuses another subject's (403) and one id too many (429), changing nothing.
pub fn check<'a>(
    hub: &Hub,
    sockets: &RuntimeSockets,
    request_id: &'a RequestId,
    sub: &'a str,
    now: u64,
) -> Result<Reader<'a>, ApiError> {
    forget_unused(hub, sockets, now)?;
    let rid = request_id.as_str();
    let owner = hub.log.request_owner(rid).map_err(internal("reading a request id's owner"))?;
    request_owner::claim(owner.as_deref(), sub).map_err(|_| {
        ApiError::forbidden(format!(
            "requestId {rid} belongs to another subject; use a requestId of your own (a random one per browser tab)"
        ))
    })?;
    let max = hub.config.limits.request_ids_per_sub;
    if owner.is_none()
        && hub.log.request_ids_of(sub).map_err(internal("counting a subject's request ids"))? >= u64::from(max)
    {
        return Err(ApiError::rate_limited(
            TOO_MANY_RETRY_SECONDS,
            &format!(
                "request ids owned by this token's subject (at most {max}, MAX_REQUEST_IDS_PER_SUB): reuse one (one per browser tab, kept for the tab's life); an id is forgotten once unused for HISTORY_MAX_AGE_SECONDS"
            ),
        ));
    }
    Ok(Reader { request_id: rid, sub })
}

/// Records a use that `check` allowed: the owner of a new id, or that the id was seen now.
pub fn record(hub: &Hub, Reader { request_id, sub }: Reader<'_>, now: u64) -> Result<(), ApiError> {
    hub.log.own_request(request_id, sub, now).map_err(internal("recording a request id's owner"))
}

/// At most once a minute (the time is kept in SQLite, so waking up does not reset it): forgets
/// up to `FORGET_BATCH` ids unused for as long as events are kept, keeping those of open streams
/// (seen now), and the pending versions of the ids it forgets. The index on `seen_ms` keeps each
/// round to the ids it looks at.
fn forget_unused(hub: &Hub, sockets: &RuntimeSockets, now: u64) -> Result<(), ApiError> {
    let due = hub.log.owners_forgotten_ms().map_err(internal("reading when request ids were forgotten"))?;
    if now < due.saturating_add(FORGET_EVERY_MS) {
        return Ok(());
    }
    let before = hub.config.retention.keep_from_ms(now);
    let stale = hub.log.unused_request_ids(before, FORGET_BATCH).map_err(internal("reading unused request ids"))?;
    let (open, unused): (Vec<String>, Vec<String>) = stale.into_iter().partition(|rid| {
        RequestId::parse(rid).is_ok_and(|r| sockets.tagged(&request_tag(&r)).iter().any(|s| sockets.is_open(s)))
    });
    hub.log.forget_request_ids(&unused, &open, now).map_err(internal("forgetting unused request ids"))
}
