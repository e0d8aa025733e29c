//! A stream opens: the front worker's upgrade request, with the client's last event id.
//!
//! Reading the log, sending what the client missed and joining the live sockets happen in one
//! step with no `await` (the Durable Object runs nothing else meanwhile), so every event after
//! the log's latest id reaches the new socket live: no gap and no duplicate at the seam. When the
//! client missed more than a page, the answer is that page instead (`replay_pager`) and the front
//! worker connects again once its client has read it.

use std::rc::Rc;

use serde::Serialize;
use worker::{Response, State, WebSocketPair};

use super::limits::{self, Rate};
use super::runtime::RuntimeSockets;
use super::Hub;
use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::frame::Frame;
use crate::hub_api::{Connect, Frames, PageEnd, PAGE_HEADER};
use crate::log::{ReplayLog, ORG_WIDE};
use crate::metrics::name;
use crate::observers::{self, Connected, Observer};
use crate::replay;
use crate::replay_pager::{catch_up, CatchUp};
use crate::sockets;

/// What each socket carries through hibernation (its attachment), for logs and later checks.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attachment<'a> {
    connection: u64,
    request_id: Option<&'a str>,
    sub: &'a str,
    opened_ms: u64,
    /// The token's expiry (seconds since the epoch).
    exp: i64,
}

pub fn connect(hub: &Hub, state: &State, url: &worker::Url) -> Result<Response, ApiError> {
    let connect = Connect::from_url(url).map_err(internal("a connect the hub cannot read"))?;
    // Limits first: a refused connect changes nothing. A continued connect (after a replay page)
    // is the same stream, not a new one.
    limits::room_for_stream(hub, state, &connect.sub, connect.request_id.as_ref())?;
    if !connect.continued {
        limits::admit(hub, Rate::Connect, &connect.sub)?;
        if let Some(ticket) = &connect.ticket {
            if !hub
                .log
                .use_ticket(&ticket.nonce, ticket.expires_ms, now_ms())
                .map_err(internal("recording a ticket's use"))?
            {
                return Err(ApiError::unauthorized(
                    "this ticket was used already; get a new one with POST /v1/stream/ticket",
                ));
            }
        }
    }
    let now = now_ms();
    hub.log.prune(hub.config.retention, now).map_err(internal("pruning the event log"))?;
    let reader = match &connect.request_id {
        Some(request_id) => Some(super::own_request(hub, request_id, &connect.sub, now)?),
        None => None,
    };
    let window = hub.log.window().map_err(internal("reading the log window"))?;
    let rid = connect.request_id.as_ref().map(|r| r.as_str());
    let resume = replay::resume(connect.last_event_id, window);
    let step = catch_up(&*hub.log, resume, window, reader).map_err(internal("reading the replay"))?;
    hub.tally.add(name::REPLAYED, "", step.replayed());
    hub.tally.add(name::FRAMES_SENT, "", step.replayed());

    let (mut frames, reset) = match step {
        CatchUp::Page { frames, resume_after } => return page(&frames, resume_after),
        CatchUp::Live { frames, reset, .. } => (frames, reset),
    };
    if reset {
        hub.tally.add(name::RESETS, "", 1);
        hub.tally.add(name::FRAMES_SENT, "", 1);
    }

    let pair = WebSocketPair::new().map_err(internal("creating a stream socket"))?;
    let attachment = Attachment {
        connection: hub.log.next_connection_id().map_err(internal("numbering a connection"))?,
        request_id: rid,
        sub: &connect.sub,
        opened_ms: now,
        exp: connect.exp,
    };
    // Replace an open stream with this request id only once nothing before accepting can fail
    // (and before accepting, so that the new socket, which carries the same tag, is not closed).
    if let Some(request_id) = &connect.request_id {
        let replaced = sockets::replace(&RuntimeSockets(state), request_id);
        hub.tally.add(name::CONNECTIONS, "replaced", replaced);
    }
    let tags = sockets::tags(&connect.sub, connect.request_id.as_ref());
    let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
    state.accept_websocket_with_tags(&pair.server, &tag_refs);
    if let Some(open) = hub.open.borrow_mut().as_mut() {
        open.opened(Some(&connect.sub));
    }
    if let Err(e) = pair.server.serialize_attachment(&attachment) {
        // Never leave an accepted socket behind that no stream will use.
        let _ = pair.server.close(Some(1011), Some("internal error"));
        return Err(internal("attaching a stream's state")(e));
    }
    hub.tally.connection("connect");

    // On-connect observers: after the replay, before anything published later.
    let refs: Vec<&dyn Observer> = hub.observers.iter().map(|o| o.as_ref()).collect();
    let (more, failures) = observers::run(&refs, &Connected { request_id: connect.request_id.as_ref() });
    for (observer, why) in failures {
        worker::console_error!("on-connect observer {observer} failed: {why}");
    }
    hub.tally.add(name::FRAMES_SENT, "", more.len() as u64);
    frames.extend(more);
    if !frames.is_empty() {
        let parts: Vec<&[u8]> = frames.iter().map(Frame::as_bytes).collect();
        if let Err(e) = pair.server.send_with_bytes(Frames::encode(true, frames.len() as u32, &parts)) {
            let _ = pair.server.close(Some(1011), Some("internal error"));
            return Err(internal("sending a stream's first frames")(e));
        }
    }
    Response::from_websocket(pair.client).map_err(internal("answering a connect"))
}

/// One page of the replay, as a plain answer: the frames, and where to go on from.
fn page(frames: &[Frame], resume_after: u64) -> Result<Response, ApiError> {
    let body: Vec<u8> = frames.iter().flat_map(|f| f.as_bytes().iter().copied()).collect();
    let end = PageEnd { resume_after, frames: frames.len() as u32 };
    let mut response = Response::from_bytes(body).map_err(internal("answering a replay page"))?;
    response.headers_mut().set(PAGE_HEADER, &end.to_header()).map_err(internal("answering a replay page"))?;
    Ok(response)
}

/// On-connect observer: the pending version (org-wide, then the connection's request id).
pub struct PendingVersions {
    pub log: Rc<ReplayLog>,
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
            if let Some(envelope) = self.log.pending_version(scope).map_err(|e| e.to_string())? {
                // No `id:` line: a notice of the current state, it must not move Last-Event-ID.
                frames.push(Frame::unnumbered("version.available", &envelope));
            }
        }
        Ok(frames)
    }
}
