//! `OrgHub`, the Durable Object of one org: it owns the org's log, its open streams and its
//! pending versions.
//!
//! publish: assign ids -> append to the log -> encode each frame once -> offer the same bytes to
//! every matching connection. stream: register (replacing a connection with the same request id),
//! replay from the log after the client's last id, run the on-connect observers, then live. Reading
//! the log and registering happen without an `await` in between, so the seam between replay and
//! live has no gap and no duplicate.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use futures_channel::mpsc;
use futures_util::stream::{self, LocalBoxStream, StreamExt};
use schema_wasm::{EnvelopeOut, RequestId, Target};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::{durable_object, wasm_bindgen, DurableObject, Env, Method, Request, Response, Result, State};

use crate::api_error::ApiError;
use crate::client_error::REPORTS_PER_MINUTE;
use crate::clock::{format_ts, now_ms};
use crate::rate_limit::RateLimiter;
use crate::config::Config;
use crate::connections::{ConnectionId, Connections, Offer, Sink};
use crate::frame::Frame;
use crate::http;
use crate::log::{Append, ReplayLog, ORG_WIDE};
use crate::metrics::{Gauges, Metrics};
use crate::observers::{self, Connected, Observer};
use crate::replay::{self, ResetData, Resume, Window};

/// Events one replay step reads from the log, and the bytes it stops at.
const REPLAY_PAGE: u64 = 256;
const REPLAY_PAGE_BYTES: u64 = 1 << 20;
/// The bytes of envelopes one history page stops at (it still holds at least one event).
const HISTORY_PAGE_BYTES: u64 = 2 << 20;

/// One validated event, as the front worker hands it to the hub.
#[derive(Serialize, Deserialize)]
pub struct HubEvent {
    #[serde(rename = "type")]
    pub type_name: String,
    pub data: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

/// The history page (contract 4.4). Envelopes are the stored bytes, exactly as the stream sends them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryPage {
    events: Vec<Box<RawValue>>,
    earliest_id: Option<String>,
    latest_id: Option<String>,
    has_more: bool,
    gap: bool,
}

/// What a connection's queue and its reader share: the bytes waiting, and the frame to end with.
struct QueueState {
    bytes: Cell<usize>,
    last: RefCell<Option<Frame>>,
}

/// A connection's queue: bounded by frames (the channel) and by bytes, never waited on.
struct Queue {
    tx: mpsc::Sender<Frame>,
    state: Rc<QueueState>,
    max_bytes: usize,
}

impl Sink for Queue {
    fn offer(&mut self, frame: &Frame) -> Offer {
        if self.tx.is_closed() {
            return Offer::Closed;
        }
        let bytes = self.state.bytes.get() + frame.len();
        if bytes > self.max_bytes {
            return Offer::Full;
        }
        match self.tx.try_send(frame.clone()) {
            Ok(()) => {
                self.state.bytes.set(bytes);
                Offer::Queued
            }
            Err(e) if e.is_full() => Offer::Full,
            Err(_) => Offer::Closed,
        }
    }

    fn close(&mut self, last: Option<Frame>) {
        *self.state.last.borrow_mut() = last;
        self.tx.close_channel();
    }
}

/// Forgets the connection when its response body is dropped (the client went away, or the stream
/// ended). Removal is by connection id, so it never touches a connection that replaced this one.
struct OnDrop {
    connections: Weak<RefCell<Connections<Queue>>>,
    id: ConnectionId,
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(connections) = self.connections.upgrade() {
            // A borrow in progress means we are inside a delivery; the next heartbeat finds it.
            if let Ok(mut connections) = connections.try_borrow_mut() {
                connections.remove(self.id);
            }
        }
    }
}

/// On-connect observer: the pending version (org-wide, then the connection's request id).
struct PendingVersions {
    log: Rc<ReplayLog>,
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

struct Hub {
    config: Config,
    log: Rc<ReplayLog>,
    connections: Rc<RefCell<Connections<Queue>>>,
    metrics: Rc<Metrics>,
    observers: Vec<Box<dyn Observer>>,
    heartbeat_armed: Cell<bool>,
    client_errors: RefCell<RateLimiter>,
}

#[durable_object]
pub struct OrgHub {
    state: State,
    hub: std::result::Result<Hub, ApiError>,
}

impl DurableObject for OrgHub {
    fn new(state: State, env: Env) -> Self {
        let hub = open(&state, &env);
        if let Err(e) = &hub {
            worker::console_error!("OrgHub cannot start: {}", e.message);
        }
        OrgHub { state, hub }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let hub = match &self.hub {
            Ok(hub) => hub,
            Err(e) => return http::error(e),
        };
        let url = req.url()?;
        let answer = match (url.path(), req.method()) {
            ("/publish", _) => hub.publish(req).await,
            ("/stream", _) => {
                let response = hub.stream(&url);
                if response.is_ok() {
                    self.arm_heartbeat(hub).await;
                }
                response
            }
            ("/history", _) => hub.history(&url),
            ("/metrics", _) => hub.metrics(),
            ("/versions", Method::Put) => hub.put_version(req).await,
            ("/versions", Method::Delete) => hub.delete_version(&url),
            ("/audit", _) => hub.client_error(req).await,
            (other, _) => Err(ApiError::not_found(other)),
        };
        match answer {
            Ok(response) => Ok(response),
            Err(e) => http::error(&e),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let Ok(hub) = &self.hub else { return Response::ok("not configured") };
        hub.heartbeat_armed.set(false);
        let now = now_ms();
        let frame = Frame::heartbeat(&format_ts(now));
        {
            let mut connections = hub.connections.borrow_mut();
            connections.expire(now, hub.config.max_connection_age_ms);
            connections.deliver(&frame, None);
        }
        if let Err(e) = hub.log.prune(hub.config.retention, now) {
            worker::console_error!("pruning the log failed: {e}");
        }
        self.arm_heartbeat(hub).await;
        Response::ok("ok")
    }
}

fn open(state: &State, env: &Env) -> std::result::Result<Hub, ApiError> {
    let config = Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string()))
        .map_err(|e| ApiError::misconfigured(e.0))?;
    let log = Rc::new(ReplayLog::open(state.storage().sql()).map_err(|e| {
        worker::console_error!("opening the event log failed: {e}");
        ApiError::internal()
    })?);
    // Observers run in this order on every connect.
    let observers: Vec<Box<dyn Observer>> = vec![Box::new(PendingVersions { log: log.clone() })];
    Ok(Hub {
        config,
        log,
        connections: Rc::new(RefCell::new(Connections::default())),
        metrics: Rc::new(Metrics::default()),
        observers,
        heartbeat_armed: Cell::new(false),
        client_errors: RefCell::new(RateLimiter::new(60_000, REPORTS_PER_MINUTE)),
    })
}

impl OrgHub {
    /// Schedules the next heartbeat while any connection is open (one alarm serves them all).
    async fn arm_heartbeat(&self, hub: &Hub) {
        if hub.heartbeat_armed.get() || hub.connections.borrow().is_empty() {
            return;
        }
        let interval = i64::try_from(hub.config.heartbeat_interval_ms).unwrap_or(i64::MAX);
        match self.state.storage().set_alarm(interval).await {
            Ok(()) => hub.heartbeat_armed.set(true),
            Err(e) => worker::console_error!("scheduling the heartbeat failed: {e}"),
        }
    }
}

fn internal(context: &str) -> impl Fn(worker::Error) -> ApiError + '_ {
    move |e| {
        worker::console_error!("{context}: {e}");
        ApiError::internal()
    }
}

/// One event appended to the log: its id, envelope and where it goes.
struct Appended {
    id: u64,
    type_name: String,
    envelope: String,
    target: Option<RequestId>,
}

impl Hub {
    /// Assigns ids, appends to the log, and fans out. Returns what was appended.
    fn append_and_send(&self, events: Vec<HubEvent>) -> std::result::Result<Vec<Appended>, ApiError> {
        let now = now_ms();
        let ts = format_ts(now);
        let first = self.log.latest() + 1;
        let mut appended = Vec::with_capacity(events.len());
        for (offset, event) in events.into_iter().enumerate() {
            let id = first + offset as u64;
            let id_text = id.to_string();
            let envelope = EnvelopeOut {
                id: &id_text,
                type_name: &event.type_name,
                ts: &ts,
                data: &event.data,
                target: event.target.as_ref(),
            };
            let envelope = serde_json::to_string(&envelope).map_err(|_| ApiError::internal())?;
            appended.push(Appended {
                id,
                type_name: event.type_name,
                envelope,
                target: event.target.map(|t| t.request_id),
            });
        }
        let rows: Vec<Append<'_>> = appended
            .iter()
            .map(|a| Append {
                id: a.id,
                ts_ms: now,
                type_name: &a.type_name,
                request_id: a.target.as_ref().map(RequestId::as_str),
                envelope: &a.envelope,
            })
            .collect();
        self.log.append(&rows).map_err(internal("appending to the event log"))?;

        let started = now_ms();
        {
            let mut connections = self.connections.borrow_mut();
            for a in &appended {
                connections.deliver(&Frame::event(a.id, &a.type_name, &a.envelope), a.target.as_ref());
                self.metrics.published(&a.type_name);
            }
        }
        // The runtime's clock advances only across I/O, so a fan-out that never awaits reads as
        // 0 here in production; the histogram still counts fan-outs (see docs/protocol.md).
        self.metrics.send_duration(now_ms().saturating_sub(started) as f64 / 1000.0);
        // After delivery, and best effort: stored events must reach live connections whatever happens here.
        if let Err(e) = self.log.prune(self.config.retention, now) {
            worker::console_error!("pruning the event log failed: {e}");
        }
        Ok(appended)
    }

    async fn publish(&self, mut req: Request) -> std::result::Result<Response, ApiError> {
        let text = req.text().await.map_err(internal("reading the events to publish"))?;
        let events: Vec<HubEvent> = serde_json::from_str(&text).map_err(|e| {
            worker::console_error!("the events to publish are not valid hub JSON: {e}");
            ApiError::internal()
        })?;
        let appended = self.append_and_send(events)?;
        let ids: Vec<String> = appended.iter().map(|a| a.id.to_string()).collect();
        http::json(202, serde_json::json!({ "ids": ids }).to_string()).map_err(internal("answering a publish"))
    }

    /// `PUT /v1/versions`: publish a `version.available` event and keep it as the pending version
    /// of its scope (the org, or its target request id), for every later connect.
    async fn put_version(&self, mut req: Request) -> std::result::Result<Response, ApiError> {
        let text = req.text().await.map_err(internal("reading the version"))?;
        let event: HubEvent = serde_json::from_str(&text).map_err(|_| ApiError::internal())?;
        let scope = event.target.as_ref().map(|t| t.request_id.as_str().to_string()).unwrap_or_default();
        let appended = self.append_and_send(vec![event])?;
        let Some(a) = appended.first() else { return Err(ApiError::internal()) };
        // The event is published and delivered by now; if it cannot be made pending, say so.
        self.log.set_pending_version(&scope, &a.envelope).map_err(|e| {
            worker::console_error!("storing the pending version failed: {e}");
            ApiError::misconfigured(format!(
                "version.available {} was published but could not be stored as pending; retry the PUT",
                a.id
            ))
        })?;
        let body = format!(r#"{{"ids":["{}"],"event":{}}}"#, a.id, a.envelope);
        http::json(200, body).map_err(internal("answering a version"))
    }

    /// A client error report (already checked by the front door): rate-limited per token, logged,
    /// and kept in the org's log of client errors (the newest 1000).
    async fn client_error(&self, mut req: Request) -> std::result::Result<Response, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Report {
            token_key: String,
            sub: String,
            report: Box<RawValue>,
        }
        let text = req.text().await.map_err(internal("reading a client error"))?;
        let r: Report = serde_json::from_str(&text).map_err(|_| ApiError::internal())?;
        let now = now_ms();
        if let Err(retry_after) = self.client_errors.borrow_mut().check(&r.token_key, now) {
            return Err(ApiError::rate_limited(retry_after, "client error reports from this token"));
        }
        worker::console_log!("client error from {}: {}", r.sub, r.report.get());
        self.log.keep_client_error(now, &r.sub, r.report.get()).map_err(internal("storing a client error"))?;
        http::json(202, r#"{"ok":true}"#.to_string()).map_err(internal("answering a client error"))
    }

    /// `DELETE /v1/versions[?requestId=]`: clear the pending version of that scope.
    fn delete_version(&self, url: &worker::Url) -> std::result::Result<Response, ApiError> {
        let scope = http::request_id(url)?.map(|r| r.as_str().to_string()).unwrap_or_default();
        let cleared = self.log.clear_pending_version(&scope).map_err(internal("clearing the pending version"))?;
        http::json(200, serde_json::json!({ "cleared": cleared }).to_string()).map_err(internal("answering a version"))
    }

    fn stream(&self, url: &worker::Url) -> std::result::Result<Response, ApiError> {
        let request_id = http::request_id(url)?;
        let last_event_id = http::query(url, "lastEventId");
        let now = now_ms();
        self.log.prune(self.config.retention, now).map_err(internal("pruning the event log"))?;
        let window = self.log.window().map_err(internal("reading the log window"))?;

        let mut head = vec![Frame::opening(self.config.retry_ms)];
        let replay_from = match replay::resume(last_event_id.as_deref(), window) {
            Resume::Live => None,
            Resume::After(after) => Some(after),
            Resume::Reset(reason) => {
                head.push(reset_frame(reason, window));
                Metrics::add(&self.metrics.resets, 1);
                None
            }
        };

        // Register before anything else can run: every event after `window.latest` is live.
        // A futures channel holds `buffer + 1` items (one per sender): ask for one less.
        let (tx, rx) = mpsc::channel(self.config.queue_frames.saturating_sub(1));
        let state = Rc::new(QueueState { bytes: Cell::new(0), last: RefCell::new(None) });
        let queue = Queue { tx, state: state.clone(), max_bytes: self.config.queue_bytes };
        let id = self.connections.borrow_mut().open(request_id.clone(), now, queue);

        // Observers' frames go into the queue now, so they follow the replay and precede any
        // event published later.
        let refs: Vec<&dyn Observer> = self.observers.iter().map(|o| o.as_ref()).collect();
        let (frames, failures) = observers::run(&refs, &Connected { request_id: request_id.as_ref() });
        for (name, why) in failures {
            worker::console_error!("on-connect observer {name} failed: {why}");
        }
        self.connections.borrow_mut().deliver_to(id, &frames);

        let replay = match replay_from {
            Some(after) => replay_stream(self.log.clone(), self.metrics.clone(), after, window.latest, request_id).boxed_local(),
            None => stream::empty().boxed_local(),
        };
        let live_state = state.clone();
        let live = rx.map(move |frame| {
            live_state.bytes.set(live_state.bytes.get().saturating_sub(frame.len()));
            frame
        });
        let last = stream::once(async move { state.last.borrow_mut().take() }).filter_map(|f| async move { f });
        let guard = OnDrop { connections: Rc::downgrade(&self.connections), id };
        let body = stream::iter(head)
            .chain(replay)
            .chain(live)
            .chain(last)
            .map(move |frame| {
                let _keep = &guard;
                Ok::<Vec<u8>, worker::Error>(frame.as_bytes().to_vec())
            });
        let mut response = Response::from_stream(body).map_err(internal("opening a stream"))?;
        let headers = response.headers_mut();
        for (name, value) in [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache, no-transform"),
            ("x-accel-buffering", "no"),
        ] {
            headers.set(name, value).map_err(internal("setting stream headers"))?;
        }
        Ok(response)
    }

    fn history(&self, url: &worker::Url) -> std::result::Result<Response, ApiError> {
        let after = match http::query(url, "after") {
            Some(raw) => replay::parse_id(&raw).ok_or_else(|| ApiError::bad_request("after must be an event id (a decimal number)"))?,
            None => 0,
        };
        let limit = match http::query(url, "limit") {
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|l| (1..=1000).contains(l))
                .ok_or_else(|| ApiError::bad_request("limit must be an integer from 1 to 1000"))?,
            None => 100,
        };
        let request_id = http::request_id(url)?;
        self.log.prune(self.config.retention, now_ms()).map_err(internal("pruning the event log"))?;
        let window = self.log.window().map_err(internal("reading the log window"))?;
        let rid = request_id.as_ref().map(RequestId::as_str);
        let rows = self
            .log
            .page(after, window.latest, limit, HISTORY_PAGE_BYTES, rid)
            .map_err(internal("reading history"))?;
        let next = rows.last().map_or(after, |r| r.id);
        let has_more = self.log.has_after(next, window.latest, rid).map_err(internal("reading history"))?;

        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            events.push(RawValue::from_string(row.envelope).map_err(|_| ApiError::internal())?);
        }
        let reset = ResetData::new(replay::ResetReason::HistoryGap, window);
        let page = HistoryPage {
            events,
            earliest_id: reset.earliest_id,
            latest_id: reset.latest_id,
            has_more,
            gap: replay::history_gap(after, window),
        };
        let body = serde_json::to_string(&page).map_err(|_| ApiError::internal())?;
        http::json(200, body).map_err(internal("answering history"))
    }

    /// Prometheus text for this org.
    fn metrics(&self) -> std::result::Result<Response, ApiError> {
        let history_events = self.log.count().map_err(internal("counting the log"))?;
        let (counts, active) = {
            let connections = self.connections.borrow();
            (connections.counts(), connections.len())
        };
        let body = self.metrics.render(counts, Gauges { connections_active: active, history_events });
        let mut response = Response::ok(body).map_err(internal("answering metrics"))?;
        response
            .headers_mut()
            .set("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .map_err(internal("answering metrics"))?;
        Ok(response)
    }
}

fn reset_frame(reason: replay::ResetReason, window: Window) -> Frame {
    let data = serde_json::to_string(&ResetData::new(reason, window)).unwrap_or_else(|_| "{}".to_string());
    Frame::unnumbered("stream.reset", &data)
}

/// Replays `(after, until]` from the log a page at a time, as the client reads. Should retention
/// drop events before they were sent, the client gets `stream.reset` rather than a silent gap.
fn replay_stream(
    log: Rc<ReplayLog>,
    metrics: Rc<Metrics>,
    after: u64,
    until: u64,
    request_id: Option<RequestId>,
) -> LocalBoxStream<'static, Frame> {
    struct Cursor {
        log: Rc<ReplayLog>,
        metrics: Rc<Metrics>,
        sent_up_to: u64,
        until: u64,
        request_id: Option<RequestId>,
        done: bool,
    }
    let start = Cursor { log, metrics, sent_up_to: after, until, request_id, done: after >= until };
    stream::unfold(start, |mut c| async move {
        if c.done {
            return None;
        }
        let frames = match next_page(&c.log, c.sent_up_to, c.until, c.request_id.as_ref()) {
            Ok(Page::Frames(frames, last)) => {
                c.sent_up_to = last;
                c.done = last >= c.until;
                Metrics::add(&c.metrics.replayed, frames.len() as u64);
                frames
            }
            Ok(Page::End) => {
                c.done = true;
                Vec::new()
            }
            Ok(Page::Gap(window)) => {
                c.done = true;
                Metrics::add(&c.metrics.resets, 1);
                vec![reset_frame(replay::ResetReason::HistoryGap, window)]
            }
            Err(e) => {
                worker::console_error!("replay failed: {e}");
                c.done = true;
                Vec::new()
            }
        };
        Some((stream::iter(frames), c))
    })
    .flatten()
    .boxed_local()
}

enum Page {
    Frames(Vec<Frame>, u64),
    End,
    Gap(Window),
}

fn next_page(log: &ReplayLog, after: u64, until: u64, request_id: Option<&RequestId>) -> Result<Page> {
    let window = log.window()?;
    let still_whole = match window.earliest {
        Some(earliest) => after + 1 >= earliest,
        None => after >= until,
    };
    if !still_whole {
        return Ok(Page::Gap(window));
    }
    let rows = log.page(after, until, REPLAY_PAGE, REPLAY_PAGE_BYTES, request_id.map(RequestId::as_str))?;
    // Rows are in id order; the next page starts after the last one. An empty page: nothing more.
    let Some(last) = rows.last().map(|row| row.id) else {
        return Ok(Page::End);
    };
    let frames = rows.iter().map(|r| Frame::event(r.id, &r.type_name, &r.envelope)).collect();
    Ok(Page::Frames(frames, last))
}
