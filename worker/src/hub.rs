//! `OrgHub`, the Durable Object of one org: it owns the org's log and open streams.
//!
//! publish: assign ids -> append to the log -> encode each frame once -> offer the same bytes to
//! every matching connection. stream: replay from the log after the client's last id, then live.
//! Both run without an `await` between reading the log and registering or delivering, so the seam
//! between replay and live has no gap and no duplicate.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_channel::mpsc;
use futures_util::stream::{self, StreamExt};
use schema_wasm::{EnvelopeOut, RequestId, Target};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::{durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, State};

use crate::api_error::ApiError;
use crate::clock::{format_ts, now_ms};
use crate::config::Config;
use crate::connections::{Connections, Offer, Sink};
use crate::frame::Frame;
use crate::http;
use crate::log::{Append, ReplayLog};
use crate::replay::{self, ResetData, Resume, Window};

/// Events one replay step reads from the log.
const REPLAY_PAGE: u64 = 256;

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

/// A connection's queue: bounded, never waited on.
struct Queue(mpsc::Sender<Frame>);

impl Sink for Queue {
    fn offer(&mut self, frame: &Frame) -> Offer {
        match self.0.try_send(frame.clone()) {
            Ok(()) => Offer::Queued,
            Err(e) if e.is_full() => Offer::Full,
            Err(_) => Offer::Closed,
        }
    }
}

struct Hub {
    config: Config,
    log: Rc<ReplayLog>,
    connections: RefCell<Connections<Queue>>,
    heartbeat_armed: Cell<bool>,
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
        let answer = match url.path() {
            "/publish" => hub.publish(req).await,
            "/stream" => {
                let response = hub.stream(&url);
                if response.is_ok() {
                    self.arm_heartbeat(hub).await;
                }
                response
            }
            "/history" => hub.history(&url),
            "/metrics" => hub.metrics(),
            other => Err(ApiError::not_found(other)),
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
        hub.connections.borrow_mut().deliver(&frame, None);
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
    let log = ReplayLog::open(state.storage().sql()).map_err(|e| {
        worker::console_error!("opening the event log failed: {e}");
        ApiError::internal()
    })?;
    Ok(Hub {
        config,
        log: Rc::new(log),
        connections: RefCell::new(Connections::default()),
        heartbeat_armed: Cell::new(false),
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

impl Hub {
    async fn publish(&self, mut req: Request) -> std::result::Result<Response, ApiError> {
        let text = req.text().await.map_err(internal("reading the events to publish"))?;
        let events: Vec<HubEvent> = serde_json::from_str(&text).map_err(|e| {
            worker::console_error!("the events to publish are not valid hub JSON: {e}");
            ApiError::internal()
        })?;
        let now = now_ms();
        let ts = format_ts(now);
        let first = self.log.latest() + 1;

        let mut envelopes = Vec::with_capacity(events.len());
        for (offset, event) in events.iter().enumerate() {
            let id = (first + offset as u64).to_string();
            let envelope = EnvelopeOut {
                id: &id,
                type_name: &event.type_name,
                ts: &ts,
                data: &event.data,
                target: event.target.as_ref(),
            };
            envelopes.push(serde_json::to_string(&envelope).map_err(|_| ApiError::internal())?);
        }
        let rows: Vec<Append<'_>> = events
            .iter()
            .zip(&envelopes)
            .enumerate()
            .map(|(offset, (event, envelope))| Append {
                id: first + offset as u64,
                ts_ms: now,
                type_name: &event.type_name,
                request_id: event.target.as_ref().map(|t| t.request_id.as_str()),
                envelope,
            })
            .collect();
        self.log.append(&rows).map_err(internal("appending to the event log"))?;
        self.log.prune(self.config.retention, now).map_err(internal("pruning the event log"))?;

        let mut connections = self.connections.borrow_mut();
        for row in &rows {
            let frame = Frame::event(row.id, row.type_name, row.envelope);
            let target = row.request_id.and_then(|r| RequestId::parse(r).ok());
            connections.deliver(&frame, target.as_ref());
        }
        drop(connections);

        let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
        let body = serde_json::json!({ "ids": ids }).to_string();
        http::json(202, body).map_err(internal("answering a publish"))
    }

    fn stream(&self, url: &worker::Url) -> std::result::Result<Response, ApiError> {
        let request_id = match http::query(url, "requestId") {
            Some(raw) => Some(RequestId::parse(&raw).map_err(|m| ApiError::bad_request(format!("requestId {m}")))?),
            None => None,
        };
        let last_event_id = http::query(url, "lastEventId");
        self.log.prune(self.config.retention, now_ms()).map_err(internal("pruning the event log"))?;
        let window = self.log.window().map_err(internal("reading the log window"))?;

        let mut head = vec![Frame::opening(self.config.retry_ms)];
        let replay_from = match replay::resume(last_event_id.as_deref(), window) {
            Resume::Live => None,
            Resume::After(after) => Some(after),
            Resume::Reset(reason) => {
                head.push(reset_frame(reason, window));
                None
            }
        };

        // Register before anything else can run: every event after `window.latest` is live.
        let (tx, rx) = mpsc::channel(self.config.queue_frames);
        self.connections.borrow_mut().add(request_id.clone(), Queue(tx));

        let replay = match replay_from {
            Some(after) => replay_stream(self.log.clone(), after, window.latest, request_id).boxed_local(),
            None => stream::empty().boxed_local(),
        };
        let body = stream::iter(head)
            .chain(replay)
            .chain(rx)
            .map(|frame| Ok::<Vec<u8>, worker::Error>(frame.as_bytes().to_vec()));
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
        let request_id = http::query(url, "requestId");
        self.log.prune(self.config.retention, now_ms()).map_err(internal("pruning the event log"))?;
        let window = self.log.window().map_err(internal("reading the log window"))?;
        let mut rows = self
            .log
            .page(after, window.latest, limit + 1, request_id.as_deref())
            .map_err(internal("reading history"))?;
        let has_more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);

        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            events.push(RawValue::from_string(row.envelope.clone()).map_err(|_| ApiError::internal())?);
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
}

impl Hub {
    /// Prometheus text for this org. Counters live as long as this Durable Object instance.
    fn metrics(&self) -> std::result::Result<Response, ApiError> {
        let window = self.log.window().map_err(internal("reading the log window"))?;
        let retained = match window.earliest {
            Some(earliest) => window.latest.saturating_sub(earliest) + 1,
            None => 0,
        };
        let body = format!(
            "# HELP orgstream_connections_active Open streams of this org.\n\
             # TYPE orgstream_connections_active gauge\n\
             orgstream_connections_active {}\n\
             # HELP orgstream_history_events Events retained in this org's log (an upper bound).\n\
             # TYPE orgstream_history_events gauge\n\
             orgstream_history_events {retained}\n",
            self.connections.borrow().len(),
        );
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
    after: u64,
    until: u64,
    request_id: Option<RequestId>,
) -> impl futures_util::Stream<Item = Frame> {
    struct Cursor {
        log: Rc<ReplayLog>,
        sent_up_to: u64,
        until: u64,
        request_id: Option<RequestId>,
        done: bool,
    }
    let start = Cursor { log, sent_up_to: after, until, request_id, done: after >= until };
    stream::unfold(start, |mut c| async move {
        if c.done {
            return None;
        }
        let frames = match next_page(&c.log, c.sent_up_to, c.until, c.request_id.as_ref()) {
            Ok(Page::Frames(frames, last)) => {
                c.sent_up_to = last;
                c.done = last >= c.until;
                frames
            }
            Ok(Page::End) => {
                c.done = true;
                Vec::new()
            }
            Ok(Page::Gap(window)) => {
                c.done = true;
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
    let rows = log.page(after, until, REPLAY_PAGE, request_id.map(RequestId::as_str))?;
    // Rows are in id order; a page shorter than asked means the log has nothing more up to `until`.
    let last = match rows.last() {
        Some(row) if rows.len() as u64 == REPLAY_PAGE => row.id,
        Some(_) | None => until,
    };
    if rows.is_empty() {
        return Ok(Page::End);
    }
    let frames = rows.iter().map(|r| Frame::event(r.id, &r.type_name, &r.envelope)).collect();
    Ok(Page::Frames(frames, last))
}
