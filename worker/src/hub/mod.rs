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
//! - `connect`: a stream opens: its socket, then what it missed (a page at a time), then live.
//! - `calls`: publish, history, versions, client errors, metrics; `once`: keyed publishes
//!   (`Idempotency-Key`) answered once.
//! - `admission`: may this stream open? Every check in one place, over `limits` (rates, stream
//!   room) and `ownership` (who owns a request id).
//! - `sending`: the sending turns, over `outbox` (pure: what is queued, the fan-out under way)
//!   and `fan_out` (pure: one fan-out's sends).
//! - `sockets` (pure: tags, counting, replacing) over `runtime` (the runtime's sockets, its errors
//!   as `Result`s).
//! - `log`: the event log (events, the id sequence, kept events), read a page at a time by its
//!   `pager`; `store`: a small store per concern (admission: rate windows, used tickets, request
//!   id owners; pending versions; counters; client error reports).
//! - `metrics`, `observers`, `rate_limit`, `request_owner`: pure rules, tested on the host.

mod admission;
mod calls;
pub(crate) mod connect;
pub(crate) mod fan_out;
mod limits;
pub(crate) mod log;
pub(crate) mod metrics;
pub(crate) mod observers;
mod once;
pub(crate) mod outbox;
mod ownership;
#[cfg(test)]
mod probes;
pub(crate) mod rate_limit;
mod relay_calls;
mod relay_links;
mod relays;
pub(crate) mod request_owner;
pub(crate) mod runtime;
mod sending;
pub(crate) mod sockets;
pub(crate) mod store;

use std::cell::RefCell;
use std::rc::Rc;

use worker::{
    durable_object, wasm_bindgen, DurableObject, Env, ObjectNamespace, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage,
};

use crate::api_error::{internal, ApiError};
use crate::config::Config;
use crate::http;
use crate::hub::log::ReplayLog;
use crate::hub::metrics::{name, Tally};
use crate::hub::observers::Observer;
use crate::hub::outbox::Outbox;
use crate::hub::sockets::{OpenStreams, Sockets, SubTag};
use crate::hub::store::{
    admission::Admission, counters::Counters, idempotency::Idempotency, relayed::RelayedStreams, reports::Reports,
    versions::Versions,
};
use crate::wire::hub_api::{CloseCode, HubCall, CALL_URL};
use runtime::RuntimeSockets;
use sending::{schedule_turn, store_soon};

pub(crate) struct Hub {
    config: Config,
    /// The org's SQLite: the event log, and a small store per concern.
    log: ReplayLog,
    admission: Admission,
    versions: Rc<Versions>,
    counters: Counters,
    reports: Reports,
    idempotency: Idempotency,
    /// When this org's kept idempotency answers were last pruned (0: not since it woke).
    idempotency_pruned_at: std::cell::Cell<u64>,
    /// Appended events the live streams have not been sent yet, and the fan-out under way.
    outbox: Outbox<RuntimeSockets>,
    /// The streams the org's relays hold, and what the hub has handed each relay.
    relayed: RelayedStreams,
    relays: relays::Links,
    /// Whether the relays that hold streams are linked since the hub woke (`link_relays`; tried
    /// again at the next request when reading what it needs failed).
    relays_linked: std::cell::Cell<bool>,
    /// The last id sent, until `store` writes it.
    sent_unstored: std::cell::Cell<Option<u64>>,
    /// Whether a timer will `store` (`store_soon`).
    store_scheduled: std::cell::Cell<bool>,
    tally: Tally,
    observers: Vec<Box<dyn Observer>>,
    /// The org's open streams, counted from the runtime's list on the first connect after waking
    /// (or after a socket error), then kept as streams are accepted and close.
    open: RefCell<Option<OpenStreams>>,
}

impl Hub {
    /// Stores what was counted while handling one thing (metrics and rate windows), and the last
    /// id sent to the live streams (`outbox`).
    fn store(&self) {
        if let Err(e) = self.counters.add(&self.tally.take()) {
            worker::console_error!("storing counters failed: {e}");
        }
        if let Err(e) = self.admission.store_rate_windows() {
            worker::console_error!("storing rate limit windows failed: {e}");
        }
        if let Some(sent) = self.sent_unstored.take() {
            if let Err(e) = self.log.mark_sent(sent) {
                worker::console_error!("storing the last id sent failed: {e}");
            }
        }
    }
}

#[durable_object]
pub struct OrgHub {
    sockets: Rc<RuntimeSockets>,
    hub: std::result::Result<Rc<Hub>, ApiError>,
    /// The org's relays (`RELAYS_PER_ORG`), when the binding is there.
    relay_objects: Rc<Option<ObjectNamespace>>,
}

impl OrgHub {
    /// After handling anything: when events were queued for the live streams, schedule the turn
    /// that sends them (`outbox`); store what was counted now, or with a turn to come, at most
    /// `STORE_AFTER_MS` later (`store_soon`: however long the hub stays busy sending).
    /// Hand-offs and closes due to the relays go now.
    fn done(&self, hub: &Rc<Hub>) {
        relay_links::kick(hub, &self.relay_objects);
        if hub.outbox.wants_turn() {
            schedule_turn(hub, &self.sockets, &self.relay_objects);
        }
        if hub.outbox.turn_scheduled() {
            store_soon(hub);
        } else {
            hub.store();
        }
    }
}

impl DurableObject for OrgHub {
    fn new(state: State, env: Env) -> Self {
        // The storage getter takes no input; every socket call goes through `RuntimeSockets`,
        // which returns the runtime's errors instead of unwrapping them.
        let storage = state.storage();
        let sockets = Rc::new(RuntimeSockets(state._inner()));
        // The heartbeat: answered by the runtime without waking the hub.
        sockets.answer_heartbeats();
        let hub = open(storage, &env).map(Rc::new);
        let relay_objects = Rc::new(env.durable_object(crate::wire::relay_api::RELAY_BINDING).ok());
        match &hub {
            Ok(hub) => {
                hub.tally.add(name::WAKEUPS, "", 1);
                hub.relays.start(hub.log.latest());
                restart_if_unsent(hub, &sockets);
                hub.store();
                // What the relays may not have confirmed (the hub stopped first) is handed on now,
                // from the log.
                relay_links::kick(hub, &relay_objects);
            }
            Err(e) => worker::console_error!("OrgHub cannot start: {}", e.message),
        }
        OrgHub { sockets, hub, relay_objects }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let hub = match &self.hub {
            Ok(hub) => hub,
            Err(e) => return http::error(e),
        };
        if !hub.relays_linked.get() {
            match hub.log.sent() {
                Ok(sent) => link_relays(hub, sent),
                Err(e) => worker::console_error!("reading the last id sent failed: {e}"),
            }
        }
        // A call is known by its whole URL, unparsed (a parse is about 0.03 ms of every publish).
        let answer = if req.inner().url() == CALL_URL {
            req.text()
                .await
                .map_err(internal("reading a hub call"))
                .and_then(|text| HubCall::parse(&text).map_err(internal("a hub call that does not parse")))
                .and_then(|call| calls::handle(hub, &self.sockets, call))
        } else {
            let url = req.url()?;
            match url.path() {
                "/connect" => connect::connect(hub, &self.sockets, &url),
                "/call" => Err(internal("a hub call")(format!("to {url}, which is not {CALL_URL}"))),
                other => Err(ApiError::not_found(other)),
            }
        };
        self.done(hub);
        match answer {
            Ok(response) => Ok(response),
            Err(e) => http::error(&e),
        }
    }

    /// Front workers send the heartbeat ping, which the runtime answers, and the requests for
    /// the next page of a stream that is catching up; anything else is logged and ignored.
    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let Some(next) = runtime::next_page_in(&message) else { return Ok(()) };
        let Ok(hub) = &self.hub else {
            // Logged when the hub failed to start; the front worker ends the stream, its client resumes.
            let _ = ws.close(Some(1011), Some("internal error"));
            return Ok(());
        };
        if connect::next_page(hub, &self.sockets, &ws, next).is_err() {
            // The cause is logged (`internal`); the front worker ends the stream, and its client
            // resumes by id.
            let _ = ws.close(Some(1011), Some("internal error"));
        }
        self.done(hub);
        Ok(())
    }

    /// A stream's socket closed: count why, and finish the close handshake.
    async fn websocket_close(&self, ws: WebSocket, code: usize, _reason: String, _was_clean: bool) -> Result<()> {
        let code = CloseCode::from_code(u16::try_from(code).unwrap_or(1006));
        if let Ok(hub) = &self.hub {
            hub.tally.closed(code);
            hub.store();
            if let Some(open) = hub.open.borrow_mut().as_mut() {
                open.closed(SubTag::among(&self.sockets.tags_of(&ws)).as_ref());
            }
        }
        runtime::finish_close(&ws, code);
        Ok(())
    }

    /// A socket that fails gets this and no close: count it as a disconnect.
    async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_error!("a stream socket failed: {error}");
        if let Ok(hub) = &self.hub {
            hub.tally.closed(CloseCode::Other(1006));
            hub.store();
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

/// A hub that stopped between an append and the turn that sends it starts with events its open
/// streams may have missed: they are closed as restarted and resume by id from the log (`outbox`).
fn restart_if_unsent(hub: &Hub, sockets: &RuntimeSockets) {
    let sent = match hub.log.sent() {
        Ok(sent) => sent,
        Err(e) => {
            return worker::console_error!("reading the last id sent failed (tried again at the next request): {e}")
        }
    };
    link_relays(hub, sent);
    let latest = hub.log.latest();
    if sent >= latest {
        return;
    }
    let closed = outbox::restart_streams(sockets);
    worker::console_log!(
        "the hub restarted with events {}..={} unsent; {closed} of its own streams resume from the log",
        sent + 1,
        latest
    );
    // With relays, stored once they confirm what they are handed now (`relays::Links::settled`).
    if !hub.relays.any() {
        if let Err(e) = hub.log.mark_sent(latest) {
            worker::console_error!("storing the last id sent failed: {e}");
        }
    }
}

/// Links the relays that hold streams (after waking): each is handed, from the log, what it may
/// not have confirmed (`relays::Links::woke`). Until it is, they are handed nothing and a stream
/// joining one would be placed as if it held none: a failed read is tried again at the next
/// request (`OrgHub::fetch`).
fn link_relays(hub: &Hub, sent: u64) {
    // The org's name is read only for an org with relays (one statement less on every wake).
    let relays = hub.relayed.relays().and_then(|relays| match relays.is_empty() {
        true => Ok(None),
        false => hub.relayed.org().map(|org| Some((org, relays))),
    });
    match relays {
        Ok(Some((org, relays))) => hub.relays.woke(org, &relays, sent),
        Ok(None) => {}
        Err(e) => {
            return worker::console_error!("reading the org's relays failed (tried again at the next request): {e}")
        }
    }
    hub.relays_linked.set(true);
}

fn open(storage: worker::Storage, env: &Env) -> std::result::Result<Hub, ApiError> {
    let config = Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string()))
        .map_err(|e| ApiError::misconfigured(e.0))?;
    let sql = storage.sql();
    let opening = internal("opening the org's storage");
    let versions = Rc::new(Versions::open(sql.clone()).map_err(&opening)?);
    Ok(Hub {
        config,
        log: ReplayLog::open(sql.clone()).map_err(&opening)?,
        admission: Admission::open(sql.clone()).map_err(&opening)?,
        versions: versions.clone(),
        counters: Counters::open(sql.clone()).map_err(&opening)?,
        reports: Reports::open(sql.clone()).map_err(&opening)?,
        idempotency: Idempotency::open(sql.clone()).map_err(&opening)?,
        relayed: RelayedStreams::open(sql).map_err(&opening)?,
        relays: relays::Links::default(),
        relays_linked: std::cell::Cell::new(false),
        idempotency_pruned_at: std::cell::Cell::new(0),
        outbox: Outbox::default(),
        sent_unstored: std::cell::Cell::new(None),
        store_scheduled: std::cell::Cell::new(false),
        tally: Tally::default(),
        // Observers run in this order on every connect.
        observers: vec![Box::new(connect::PendingVersions { versions })],
        open: RefCell::new(None),
    })
}
