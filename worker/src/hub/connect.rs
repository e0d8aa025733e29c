//! A stream opens: the front worker's upgrade request, with the client's last event id.
//!
//! Every stream is one hibernatable socket from its first connect, however far behind it is, so
//! it counts against the stream limits, can be replaced, and closes with its client from the
//! start. Reading the log, sending what the client missed and joining the live sockets happen in
//! one step with no `await` (the Durable Object runs nothing else meanwhile), so every event after
//! the log's latest id reaches the socket live: no gap and no duplicate at the seam. When the
//! client missed more than a page, the socket gets that page instead (`Kind::Page`), and the front
//! worker asks for the next one on the socket (`NextPage`) once its client has read it; live
//! frames that reach the socket meanwhile are in the pages still to come, and it drops them.
//! Events appended but not sent yet (`outbox`) are sent to the open streams before the log is
//! read, so a stream gets each event once: in what it read, or live.

use std::rc::Rc;

use schema_wasm::catalog::VersionAvailable;
use schema_wasm::RequestId;
use serde::{Deserialize, Serialize};
use worker::{Response, WebSocket, WebSocketPair};

use super::admission;
use super::runtime::RuntimeSockets;
use super::Hub;
use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::hub::log::pager::{catch_up, CatchUp};
use crate::hub::log::Reader;
use crate::hub::metrics::{name, Action};
use crate::hub::observers::{self, Connected, Observer};
use crate::hub::sockets;
use crate::hub::store::versions::{Versions, ORG_WIDE};
use crate::replay::{self, LastEventId, Resume, Window};
use crate::token;
use crate::wire::frame::Frame;
use crate::wire::frames::{Frames, Kind};
use crate::wire::hub_api::{CloseCode, Connect, NextPage};

/// What each socket carries through hibernation (its attachment): who reads it, for the pages of
/// a stream that is catching up, and until when its token is valid.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    sub: String,
    request_id: Option<RequestId>,
    /// The token's expiry (seconds since the epoch).
    exp: i64,
}

pub fn connect(hub: &Hub, sockets: &RuntimeSockets, url: &worker::Url) -> Result<Response, ApiError> {
    let connect = Connect::from_url(url).map_err(internal("a connect the hub cannot read"))?;
    // Queued events go to the streams open now; this one reads them from the log.
    hub.send_queued(sockets);
    let now = now_ms();
    let admitted = admission::check(hub, sockets, &connect, now)?;
    let sub = &admitted.sub;
    let pair = WebSocketPair::new().map_err(internal("creating a stream socket"))?;
    let attachment = Attachment { sub: connect.sub.clone(), request_id: connect.request_id.clone(), exp: connect.exp };
    pair.server.serialize_attachment(&attachment).map_err(internal("attaching a stream's state"))?;

    admitted.record(hub, now)?;
    // The subject's own stream with this request id is found before accepting (the new socket
    // carries the same tags) and closed once the new one is accepted.
    let old = match &connect.request_id {
        Some(request_id) => sockets::replaceable(sockets, sub, request_id),
        None => Vec::new(),
    };
    sockets
        .accept(&pair.server, &sockets::tags(sub, connect.request_id.as_ref()))
        .map_err(internal("accepting a stream socket"))?;
    let relayed = match &connect.request_id {
        // A stream a relay holds is replaced too (the org went from relays back to the hub).
        Some(request_id) => super::relay_calls::replace_relayed(hub, sub, request_id)?,
        None => 0,
    };
    hub.tally.connections(Action::Replaced, sockets::replace(sockets, &old) + relayed);
    if let Some(open) = hub.open.borrow_mut().as_mut() {
        open.opened(Some(sub));
    }
    hub.tally.connections(Action::Connect, 1);
    if let Err(e) = send_backlog(hub, &pair.server, &attachment, connect.last_event_id) {
        // Never leave an accepted socket behind that no stream will use.
        let _ = pair.server.close(Some(1011), Some("internal error"));
        return Err(e);
    }
    Response::from_websocket(pair.client).map_err(internal("answering a connect"))
}

/// The front worker asks for the next page of a stream that is catching up.
pub fn next_page(hub: &Hub, sockets: &RuntimeSockets, ws: &WebSocket, next: NextPage) -> Result<(), ApiError> {
    // Queued events go out live first (this stream drops them: they are in the pages to come).
    hub.send_queued(sockets);
    let attachment: Attachment = ws
        .deserialize_attachment()
        .map_err(internal("reading a stream's attachment"))?
        .ok_or("a stream socket without its attachment")
        .map_err(internal("reading a stream's attachment"))?;
    if now_ms() >= token::valid_until_ms(attachment.exp) {
        // The front worker ends it too; a page is never sent past the token's expiry.
        let _ = ws.close(Some(CloseCode::TokenExpired.code()), Some(CloseCode::TokenExpired.reason()));
        return Ok(());
    }
    send_backlog(hub, ws, &attachment, Some(LastEventId::Id(next.after)))
}

/// Sends a stream what it missed after `last_event_id` (`backlog`).
fn send_backlog(
    hub: &Hub,
    ws: &WebSocket,
    attachment: &Attachment,
    last_event_id: Option<LastEventId>,
) -> Result<(), ApiError> {
    let reading = Reading { sub: &attachment.sub, request_id: attachment.request_id.as_ref() };
    let message = backlog(hub, reading, last_event_id, None)?;
    ws.send_with_bytes(message).map_err(internal("sending a stream what it missed"))
}

/// Who reads a stream: what its backlog may show.
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    pub sub: &'a str,
    pub request_id: Option<&'a RequestId>,
}

/// What a stream is sent of what it missed after `last_event_id`, up to the org's id `until` (the
/// log's latest when `None`): one page (`Kind::Page`) when there is more, else the rest and the
/// on-connect notices (`Kind::CatchUp`, sent even when empty: it tells the front worker the stream
/// is live, and from which id on).
pub fn backlog(
    hub: &Hub,
    reading: Reading<'_>,
    last_event_id: Option<LastEventId>,
    until: Option<u64>,
) -> Result<Vec<u8>, ApiError> {
    hub.log.prune(hub.config.retention, now_ms()).map_err(internal("pruning the event log"))?;
    let window = hub.log.window().map_err(internal("reading the log window"))?;
    let until = until.map_or(window.latest, |u| u.min(window.latest));
    let resume = replay::resume(last_event_id, window);
    let reader = reading.request_id.map(|r| Reader { request_id: r.as_str(), sub: reading.sub });
    // The replay stops at `until`; whether the client's id is known is the whole log's question.
    let step = catch_up(&hub.log, resume, Window { latest: until, ..window }, reader)
        .map_err(internal("reading the replay"))?;
    hub.tally.add(name::REPLAYED, "", step.replayed());
    hub.tally.add(name::FRAMES_SENT, "", step.replayed());
    let (kind, mut frames) = match step {
        CatchUp::Page { frames, resume_after } => (Kind::Page { resume_after }, frames),
        CatchUp::Live { frames, reset, .. } => {
            if reset {
                hub.tally.add(name::RESETS, "", 1);
                hub.tally.add(name::FRAMES_SENT, "", 1);
            }
            // Live from `until` on; a client ahead of it (it came from an object that had sent
            // more) stays where it is, and is not written again what it had.
            let through = match resume {
                Resume::After(after) => after.max(until),
                Resume::Live | Resume::Reset(_) => until,
            };
            (Kind::CatchUp { through }, frames)
        }
    };
    if let Kind::CatchUp { .. } = kind {
        // On-connect observers: after the replay, before anything published later.
        let connected = Connected { request_id: reading.request_id, sub: reading.sub };
        let refs: Vec<&dyn Observer> = hub.observers.iter().map(|o| o.as_ref()).collect();
        let (more, failures) = observers::run(&refs, &connected);
        for (observer, why) in failures {
            worker::console_error!("on-connect observer {observer} failed: {why}");
        }
        hub.tally.add(name::FRAMES_SENT, "", more.len() as u64);
        frames.extend(more);
    }
    let parts: Vec<&[u8]> = frames.iter().map(Frame::as_bytes).collect();
    Ok(Frames::encode(kind, &parts))
}

/// On-connect observer: the pending version (org-wide, then the connection's request id).
pub struct PendingVersions {
    pub versions: Rc<Versions>,
}

impl Observer for PendingVersions {
    fn name(&self) -> &'static str {
        "pending-versions"
    }

    fn on_connect(&self, connected: &Connected<'_>) -> std::result::Result<Vec<Frame>, String> {
        let mut scopes = vec![ORG_WIDE];
        if let Some(rid) = connected.request_id {
            scopes.push(rid.as_str());
        }
        let mut frames = Vec::new();
        for scope in scopes {
            if let Some(envelope) = self.versions.get(scope, connected.sub).map_err(|e| e.to_string())? {
                // No `id:` line: a notice of the current state, it must not move Last-Event-ID.
                frames.push(Frame::unnumbered(VersionAvailable::NAME, &envelope));
            }
        }
        Ok(frames)
    }
}
