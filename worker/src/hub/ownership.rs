//! Who may use a request id (`request_owner`), as the hub keeps it: the owner of each id in the
//! org's SQLite, at most `MAX_REQUEST_IDS_PER_SUB` ids per subject, and ids forgotten once they
//! went unused for as long as events are kept, unless a stream with the id is still open. When an
//! id is forgotten, its pending version goes with it.
//!
//! A subject at its limit that uses a new id gets it in place of its least recently used id that
//! no open stream holds (a browser uses a new id per page load: a day of reloads must not lock
//! its user out); only a subject whose every id holds an open stream is refused.

use schema_wasm::RequestId;

use super::runtime::RuntimeSockets;
use super::Hub;
use crate::api_error::{internal, ApiError};
use crate::hub::log::Reader;
use crate::hub::request_owner;

/// How often the hub forgets unused ids at most, and how many it looks at each time.
const FORGET_EVERY_MS: u64 = 60_000;
const FORGET_BATCH: u64 = 1_000;

/// How long a subject whose every id holds an open stream should wait before trying again.
const ALL_IN_USE_RETRY_SECONDS: u64 = 5;

/// A use of a request id that `check` allowed: the reader it makes, and the subject's id it
/// takes the place of, if the subject was at its limit.
pub struct Claim<'a> {
    pub reader: Reader<'a>,
    replaces: Option<String>,
}

/// Whether `sub` may use `request_id`: its own, or nobody's yet. Refuses another subject's (403),
/// and a new one when every id the subject owns holds an open stream (429), changing nothing.
pub fn check<'a>(
    hub: &Hub,
    sockets: &RuntimeSockets,
    request_id: &'a RequestId,
    sub: &'a str,
    now: u64,
) -> Result<Claim<'a>, ApiError> {
    forget_unused(hub, sockets, now)?;
    let rid = request_id.as_str();
    let owner = hub.admission.request_owner(rid).map_err(internal("reading a request id's owner"))?;
    request_owner::claim(owner.as_deref(), sub).map_err(|_| {
        ApiError::forbidden(format!(
            "requestId {rid} belongs to another subject; use a requestId of your own (a random one per browser tab)"
        ))
    })?;
    let reader = Reader { request_id: rid, sub };
    let max = hub.config.limits.request_ids_per_sub;
    if owner.is_some() {
        return Ok(Claim { reader, replaces: None });
    }
    let owned =
        hub.admission.request_ids_of(sub, u64::from(max)).map_err(internal("reading a subject's request ids"))?;
    if owned.len() < max as usize {
        return Ok(Claim { reader, replaces: None });
    }
    // Oldest first: the least recently used id that no open stream holds makes room.
    match owned.into_iter().find(|id| !holds_a_stream(hub, sockets, id)) {
        Some(oldest) => Ok(Claim { reader, replaces: Some(oldest) }),
        None => Err(ApiError::rate_limited(
            ALL_IN_USE_RETRY_SECONDS,
            &format!(
                "request ids of this token's subject ({max}, each with an open stream; at most {max}, MAX_REQUEST_IDS_PER_SUB): close a stream, or reuse its requestId"
            ),
        )),
    }
}

/// Records a use that `check` allowed: the owner of a new id (forgetting the one it replaces),
/// or that the id was seen now.
pub fn record(hub: &Hub, claim: &Claim<'_>, now: u64) -> Result<(), ApiError> {
    if let Some(oldest) = &claim.replaces {
        forget(hub, std::slice::from_ref(oldest))?;
    }
    let Reader { request_id, sub } = claim.reader;
    hub.admission.own_request(request_id, sub, now).map_err(internal("recording a request id's owner"))
}

/// Forgets request ids: their owners, and their pending versions with them.
fn forget(hub: &Hub, request_ids: &[String]) -> Result<(), ApiError> {
    hub.admission.forget_request_ids(request_ids).map_err(internal("forgetting request ids"))?;
    hub.versions.forget(request_ids).map_err(internal("forgetting the pending versions of request ids"))
}

/// Whether an open stream uses `request_id` (the hub's or a relay's); when the runtime cannot say, it is taken as used
/// (an id is never forgotten from under a stream).
fn holds_a_stream(hub: &Hub, sockets: &RuntimeSockets, request_id: &str) -> bool {
    let Ok(rid) = RequestId::parse(request_id) else { return false };
    // A stream the hub holds, or one a relay holds.
    let held = sockets.any_open(&rid).and_then(|own| match own {
        true => Ok(true),
        false => hub.relayed.any_with(rid.as_str()).map_err(|e| e.to_string()),
    });
    held.unwrap_or_else(|e| {
        worker::console_error!("listing the streams of a request id failed: {e}");
        true
    })
}

/// At most once a minute (the time is kept in SQLite, so waking up does not reset it): forgets
/// up to `FORGET_BATCH` ids unused for as long as events are kept, keeping those of open streams
/// (seen now), and the pending versions of the ids it forgets. The index on `seen_ms` keeps each
/// round to the ids it looks at.
fn forget_unused(hub: &Hub, sockets: &RuntimeSockets, now: u64) -> Result<(), ApiError> {
    let due = hub.admission.owners_forgotten_ms().map_err(internal("reading when request ids were forgotten"))?;
    if now < due.saturating_add(FORGET_EVERY_MS) {
        return Ok(());
    }
    let before = hub.config.retention.keep_from_ms(now);
    let stale =
        hub.admission.unused_request_ids(before, FORGET_BATCH).map_err(internal("reading unused request ids"))?;
    let (open, unused): (Vec<String>, Vec<String>) =
        stale.into_iter().partition(|rid| holds_a_stream(hub, sockets, rid));
    forget(hub, &unused)?;
    hub.admission.seen_in_use(&open, now).map_err(internal("forgetting unused request ids"))
}
