//! `OrgHub`, the Durable Object of one org: it owns the org's log, its pending versions and its
//! counters, and accepts the org's streams as hibernatable WebSockets.
//!
//! The hub sleeps between events. Everything it needs after waking comes from SQLite (the log,
//! counters, ids) and from the runtime's socket list, each socket tagged when it was accepted
//! (`sockets`). It wakes to publish, to accept a stream, to answer a call, and when a stream's
//! socket closes. Heartbeats never wake it: the front worker pings, and the runtime answers for
//! the hub (`setWebSocketAutoResponse`). No alarm runs: retention is applied whenever the hub is
//! awake anyway (publish, connect, history), and each front worker ends its own stream at
//! `MAX_CONNECTION_AGE_SECONDS`.
//!
//! - `connect`: a stream opens: catch up from the log, then join the live sockets.
//! - `calls`: publish, history, versions, client errors, metrics.

mod calls;
mod connect;
mod limits;
mod runtime;

use std::cell::RefCell;
use std::rc::Rc;

use worker::{
    durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage,
};

use crate::api_error::{internal, ApiError};
use crate::config::Config;
use crate::http;
use crate::hub_api::{CloseCode, HubCall, PING, PONG};
use crate::log::{Reader, ReplayLog};
use crate::metrics::{name, Tally};
use crate::observers::Observer;
use crate::request_owner;
use crate::sockets::{subject_of, OpenStreams};
use schema_wasm::RequestId;

pub(crate) struct Hub {
    config: Config,
    log: Rc<ReplayLog>,
    tally: Tally,
    observers: Vec<Box<dyn Observer>>,
    /// The org's open streams, counted from the runtime's list on the first connect after waking
    /// (or after a socket error), then kept as streams are accepted and close.
    open: RefCell<Option<OpenStreams>>,
}

/// Lets `sub` use `request_id` if it is its own (or nobody's yet, which makes it its own), and
/// returns it as a reader of the log; refuses another subject's, changing nothing.
pub(crate) fn own_request<'a>(
    hub: &Hub,
    request_id: &'a RequestId,
    sub: &'a str,
    now: u64,
) -> Result<Reader<'a>, ApiError> {
    let rid = request_id.as_str();
    hub.log.prune_owners(hub.config.retention, now).map_err(internal("forgetting unused request ids"))?;
    let owner = hub.log.request_owner(rid).map_err(internal("reading a request id's owner"))?;
    request_owner::claim(owner.as_deref(), sub).map_err(|_| {
        ApiError::forbidden(format!(
            "requestId {rid} belongs to another subject; use a requestId of your own (a random one per browser tab)"
        ))
    })?;
    hub.log.own_request(rid, sub, now).map_err(internal("recording a request id's owner"))?;
    Ok(Reader { request_id: rid, sub })
}

impl Hub {
    /// Stores what was counted while handling one thing.
    fn store_tally(&self) {
        if let Err(e) = self.log.add_counters(&self.tally.take()) {
            worker::console_error!("storing counters failed: {e}");
        }
    }
}

#[durable_object]
pub struct OrgHub {
    state: State,
    hub: std::result::Result<Hub, ApiError>,
}

impl DurableObject for OrgHub {
    fn new(state: State, env: Env) -> Self {
        // The heartbeat: answered by the runtime without waking the hub.
        match worker::WebSocketRequestResponsePair::new(PING, PONG) {
            Ok(pair) => state.set_websocket_auto_response(&pair),
            Err(e) => worker::console_error!("setting the heartbeat auto-response failed: {e:?}"),
        }
        let hub = open(&state, &env);
        match &hub {
            Ok(hub) => {
                hub.tally.add(name::WAKEUPS, "", 1);
                hub.store_tally();
            }
            Err(e) => worker::console_error!("OrgHub cannot start: {}", e.message),
        }
        OrgHub { state, hub }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let hub = match &self.hub {
            Ok(hub) => hub,
            Err(e) => return http::error(e),
        };
        let url = req.url()?;
        let answer = match url.path() {
            "/connect" => connect::connect(hub, &self.state, &url),
            "/call" => req
                .text()
                .await
                .map_err(internal("reading a hub call"))
                .and_then(|text| HubCall::parse(&text).map_err(internal("a hub call that does not parse")))
                .and_then(|call| calls::handle(hub, &self.state, call)),
            other => Err(ApiError::not_found(other)),
        };
        hub.store_tally();
        match answer {
            Ok(response) => Ok(response),
            Err(e) => http::error(&e),
        }
    }

    /// Front workers send only the heartbeat ping, which the runtime answers; anything else is
    /// logged and ignored.
    async fn websocket_message(&self, _ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let what = match message {
            WebSocketIncomingMessage::String(s) => format!("text of {} bytes", s.len()),
            WebSocketIncomingMessage::Binary(b) => format!("binary of {} bytes", b.len()),
        };
        worker::console_error!("unexpected message on a stream socket ({what}); ignored");
        Ok(())
    }

    /// A stream's socket closed: count why, and finish the close handshake.
    async fn websocket_close(&self, ws: WebSocket, code: usize, _reason: String, _was_clean: bool) -> Result<()> {
        let code = CloseCode::from_code(u16::try_from(code).unwrap_or(1006));
        if let Ok(hub) = &self.hub {
            hub.tally.closed(code);
            hub.store_tally();
            if let Some(open) = hub.open.borrow_mut().as_mut() {
                open.closed(subject_of(&self.state.get_tags(&ws)));
            }
        }
        // 1005 and 1006 are never sent on the wire; reply with a normal close.
        let reply = match code.code() {
            1005 | 1006 => 1000,
            other => other,
        };
        let _ = ws.close(Some(reply), Some(code.reason()));
        Ok(())
    }

    /// A socket that fails gets this and no close: count it as a disconnect.
    async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_error!("a stream socket failed: {error}");
        if let Ok(hub) = &self.hub {
            hub.tally.closed(CloseCode::Other(1006));
            hub.store_tally();
            // Whether a close follows is not certain: count afresh at the next connect.
            *hub.open.borrow_mut() = None;
        }
        Ok(())
    }

    /// Older versions ran a heartbeat alarm; one may still be scheduled. Nothing to do.
    async fn alarm(&self) -> Result<Response> {
        Response::ok("no alarm work")
    }
}

fn open(state: &State, env: &Env) -> std::result::Result<Hub, ApiError> {
    let config = Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string()))
        .map_err(|e| ApiError::misconfigured(e.0))?;
    let log = Rc::new(ReplayLog::open(state.storage().sql()).map_err(internal("opening the event log"))?);
    Ok(Hub {
        config,
        log: log.clone(),
        tally: Tally::default(),
        // Observers run in this order on every connect.
        observers: vec![Box::new(connect::PendingVersions { log: log.clone() })],
        open: RefCell::new(None),
    })
}
