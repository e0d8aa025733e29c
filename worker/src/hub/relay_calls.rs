//! What the org's relays ask of the hub (`RELAYS_PER_ORG` of 2 or more), and the streams they hold
//! as the hub's limits see them.
//!
//! A relay's connect goes through the same admission as a connect to the hub (`admission`); the
//! hub records the stream (`store::relayed`), closes the streams it replaces wherever they are,
//! and answers with the stream's backlog up to where the relay is (`relays::Links::join`), so
//! everything after that reaches the stream in the relay's hand-offs: no gap and no duplicate at
//! the seam. The relay holds its own concurrency while it waits for the answer, so no hand-off
//! reaches it meanwhile (`crate::relay`).

use schema_wasm::RequestId;
use worker::Response;

use super::admission;
use super::connect::{backlog, Reading};
use super::runtime::RuntimeSockets;
use super::Hub;
use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::hub::metrics::{name, Action};
use crate::hub::sockets::{self, OpenStreams, SubTag};
use crate::replay::LastEventId;
use crate::token;
use crate::wire::hub_api::{CloseCode, Connect};
use crate::wire::relay_api::{RelayAddress, POSITION_HEADER, STREAM_HEADER};

/// How many streams the relays hold for `sub` with `request_id` (a new one replaces them).
pub fn replacing(hub: &Hub, sub: &SubTag, request_id: Option<&RequestId>) -> Result<usize, ApiError> {
    let Some(rid) = request_id else { return Ok(0) };
    let rows = hub.relayed.with_request_id(sub.as_str(), rid.as_str()).map_err(internal("reading relayed streams"))?;
    Ok(rows.len())
}

/// The hub's own open streams (`own`) and the relays'.
pub fn count(hub: &Hub, mut own: OpenStreams) -> Result<OpenStreams, ApiError> {
    for (tag, n) in hub.relayed.per_sub().map_err(internal("counting relayed streams"))? {
        if let Some(sub) = SubTag::stored(tag) {
            own.add(sub, n as usize);
        }
    }
    Ok(own)
}

/// Forgets the relays' streams of `sub` with `request_id` (a new stream replaces them, wherever it
/// is held) and has their relays close them; how many.
pub fn replace_relayed(hub: &Hub, sub: &SubTag, request_id: &RequestId) -> Result<u64, ApiError> {
    let rows =
        hub.relayed.with_request_id(sub.as_str(), request_id.as_str()).map_err(internal("reading relayed streams"))?;
    for row in &rows {
        hub.relayed.remove(row.stream).map_err(internal("forgetting a replaced stream"))?;
        hub.relays.close_later(row.relay, row.stream);
        if let Some(open) = hub.open.borrow_mut().as_mut() {
            open.closed(Some(sub));
        }
    }
    Ok(rows.len() as u64)
}

/// Counts a relay's wake-up when its word says it had just woken.
pub fn woke(hub: &Hub, from: &RelayAddress, woke: bool) {
    hub.tally.add(name::RELAY_WAKEUPS, &from.relay.to_string(), u64::from(woke));
}

fn remember_org(hub: &Hub, from: &RelayAddress) -> Result<(), ApiError> {
    if hub.relays.org().as_deref() != Some(from.org.as_str()) {
        hub.relayed.set_org(&from.org).map_err(internal("storing the org's name"))?;
        hub.relays.set_org(&from.org);
    }
    Ok(())
}

/// A relay opens a stream: admitted as any connect, recorded, its backlog up to the relay's
/// position. The answer: `200`, the first message for the stream's socket, its id and the relay's
/// position (headers); or the refusal, for the client.
pub fn connect(
    hub: &Hub,
    sockets: &RuntimeSockets,
    from: RelayAddress,
    position: Option<u64>,
    connect: Connect,
) -> Result<Response, ApiError> {
    // Queued events go to the streams open now (and to the relays); this one reads the log.
    hub.send_queued(sockets);
    remember_org(hub, &from)?;
    let now = now_ms();
    let admitted = admission::check(hub, sockets, &connect, now)?;
    admitted.record(hub, now)?;
    let sub = admitted.sub.clone();
    let rid = connect.request_id.as_ref();
    // The streams this one replaces: the hub's own, and any relay's.
    let mut replaced = 0;
    if let Some(rid) = rid {
        replaced += sockets::replace(sockets, &sockets::replaceable(sockets, &sub, rid));
        replaced += replace_relayed(hub, &sub, rid)?;
    }
    hub.tally.connections(Action::Replaced, replaced);
    let stream = hub
        .relayed
        .add(from.relay, sub.as_str(), rid.map(RequestId::as_str))
        .map_err(internal("recording a relayed stream"))?;
    if let Some(open) = hub.open.borrow_mut().as_mut() {
        open.opened(Some(&sub));
    }
    hub.tally.connections(Action::Connect, 1);
    let at = hub.relays.join(from.relay, position);
    let reading = Reading { sub: &connect.sub, request_id: rid };
    let message = match backlog(hub, reading, connect.last_event_id, Some(at)) {
        Ok(message) => message,
        Err(e) => {
            // Never leave a stream recorded that no socket holds (counted afresh next time).
            let _ = hub.relayed.remove(stream);
            *hub.open.borrow_mut() = None;
            return Err(e);
        }
    };
    answer(message, Some(stream), at)
}

/// A relay's stream that is catching up asks for its next page (its token still valid).
pub fn page(
    hub: &Hub,
    sockets: &RuntimeSockets,
    from: RelayAddress,
    position: Option<u64>,
    reading: Reading<'_>,
    exp: i64,
    after: u64,
) -> Result<Response, ApiError> {
    hub.send_queued(sockets);
    remember_org(hub, &from)?;
    if now_ms() >= token::valid_until_ms(exp) {
        return Err(ApiError::unauthorized("token expired; get a new one"));
    }
    let at = hub.relays.join(from.relay, position);
    answer(backlog(hub, reading, Some(LastEventId::Id(after)), Some(at))?, None, at)
}

/// A relay's stream closed: it is forgotten and counted; a relay left with no stream is handed
/// nothing more.
pub fn closed(hub: &Hub, from: RelayAddress, stream: u64, code: u16) -> Result<Response, ApiError> {
    let row = hub.relayed.remove(stream).map_err(internal("forgetting a relayed stream"))?;
    if let Some(row) = row {
        hub.tally.closed(CloseCode::from_code(code));
        if let Some(open) = hub.open.borrow_mut().as_mut() {
            open.closed(SubTag::stored(row.sub).as_ref());
        }
    }
    if hub.relayed.held_by(from.relay).map_err(internal("counting a relay's streams"))? == 0 {
        hub.relays.unlink(from.relay);
    }
    Response::empty().map(|r| r.with_status(204)).map_err(internal("answering a relay"))
}

fn answer(message: Vec<u8>, stream: Option<u64>, at: u64) -> Result<Response, ApiError> {
    let mut response = Response::from_bytes(message).map_err(internal("answering a relay"))?;
    let headers = response.headers_mut();
    if let Some(stream) = stream {
        headers.set(STREAM_HEADER, &stream.to_string()).map_err(internal("answering a relay"))?;
    }
    headers.set(POSITION_HEADER, &at.to_string()).map_err(internal("answering a relay"))?;
    Ok(response)
}
