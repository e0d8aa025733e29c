//! `OrgRelay`, a Durable Object holding a share of one org's streams (`RELAYS_PER_ORG` of 2 or
//! more), so that an org can have more open streams, and fan out faster, than one hub can.
//!
//! The hub stays the sequencer: ids, the log, replay, limits and ownership are its. A relay
//! accepts the front workers' stream sockets (hibernatable, tagged as the hub tags its own), and
//! sends them what the hub hands it (`Deliver`), coalesced as the hub does. It sleeps between
//! events like the hub: everything it needs after waking is in its sockets' tags and attachments;
//! the heartbeat is answered by the runtime without waking it.
//!
//! Order and completeness, per stream:
//! - A relay is at an org id (`position`, in memory), the last event handed to it. A hand-off says
//!   which id it follows; events at or before the position are not sent again. A relay that just
//!   woke takes the hand-off's word.
//! - A hand-off that follows an id past the position means the relay missed events (with
//!   `restart`, the hub knows: its log no longer holds them): its streams are closed as restarted
//!   (1012) before anything newer is sent, and their clients resume by id from the hub's log. A
//!   relay at or past the id a `restart` follows missed nothing and goes on (`position`).
//! - A stream joins with the relay's concurrency held (`blockConcurrencyWhile`): the hub admits it
//!   and answers with its backlog up to the relay's position, and no hand-off is taken meanwhile,
//!   so what follows the backlog is exactly what the next hand-offs bring.
//! - Whatever still reaches a stream twice (a relay that woke and was handed again what it had
//!   sent) is written once: the front worker drops live frames at or before its position.

mod position;

use std::cell::Cell;
use std::pin::pin;

use futures_util::future::{select, Either};
use std::rc::Rc;

use schema_wasm::RequestId;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::config::{Coalesce, Config};
use crate::http;
use crate::hub::log::Appended;
use crate::hub::outbox;
use crate::hub::runtime::{self, RuntimeSockets};
use crate::hub::sockets::{self, Sockets, SubTag, Targeted, STREAM_TAG};
use crate::wire;
use crate::wire::frame::Frame;
use crate::wire::hub_api::{CloseCode, Connect, HubCall, CALL_URL, HUB_BINDING};
use crate::wire::relay_api::{
    stream_of, stream_tag, CloseStreams, Deliver, Delivery, Held, RelayAddress, HELD_EVERY_MS, POSITION_HEADER,
    STREAM_HEADER,
};
use worker::wasm_bindgen::JsCast;

/// What each socket carries through hibernation.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    to: RelayAddress,
    stream: u64,
    sub: String,
    request_id: Option<RequestId>,
    exp: i64,
}

#[durable_object]
pub struct OrgRelay {
    state: State,
    sockets: Rc<RuntimeSockets>,
    env: Env,
    coalesce: std::result::Result<Coalesce, ApiError>,
    /// The last id handed to this relay (`None`: it woke and was told nothing yet).
    position: Rc<Cell<Option<u64>>>,
    /// Until the hub hears from it: the relay was just loaded (the hub counts its wake-ups).
    woke: Rc<Cell<bool>>,
    /// When the relay last told the hub how many streams it holds (`Delivery::held`).
    held_told_ms: Cell<u64>,
}

impl DurableObject for OrgRelay {
    fn new(state: State, env: Env) -> Self {
        let inner = state._inner();
        let sockets = Rc::new(RuntimeSockets(inner.clone().unchecked_into()));
        sockets.answer_heartbeats();
        let coalesce = Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string()))
            .map(|c| c.coalesce)
            .map_err(|e| ApiError::misconfigured(e.0));
        OrgRelay {
            state: State::from(inner),
            sockets,
            env,
            coalesce,
            position: Rc::new(Cell::new(None)),
            woke: Rc::new(Cell::new(true)),
            held_told_ms: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let answer = match url.path() {
            "/connect" => self.open_stream(&url).await,
            "/deliver" => match req.text().await {
                Ok(text) => self.take_hand_off(&text),
                Err(e) => Err(internal("reading a hand-off")(e)),
            },
            "/census" => self.census(),
            "/close" => match req.text().await {
                Ok(text) => self.close_replaced(&text),
                Err(e) => Err(internal("reading a close")(e)),
            },
            other => Err(ApiError::not_found(other)),
        };
        match answer {
            Ok(response) => Ok(response),
            Err(e) => http::error(&e),
        }
    }

    /// The front worker asks for the next replay page of a stream catching up.
    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let Some(next) = runtime::next_page_in(&message) else { return Ok(()) };
        let Some(attachment) = attachment_of(&ws) else {
            let _ = ws.close(Some(1011), Some("internal error"));
            return Ok(());
        };
        let (env, position, woke) = (self.env.clone(), self.position.clone(), self.woke.take());
        let page = self
            .state
            .block_concurrency_while(async move {
                let call = HubCall::RelayPage {
                    from: attachment.to.clone(),
                    position: position.get(),
                    sub: attachment.sub.clone(),
                    request_id: attachment.request_id.clone(),
                    exp: attachment.exp,
                    after: next.after,
                    woke,
                };
                let answer = call_hub(&env, &attachment.to.org, &call).await;
                if let Ok((200, headers, _)) = &answer {
                    position.set(header_u64(headers, POSITION_HEADER).or(position.get()));
                }
                Ok(answer)
            })
            .await;
        match page {
            Ok(Ok((200, _, body))) => {
                if let Err(e) = ws.send_with_bytes(body) {
                    worker::console_error!("sending a replay page failed: {e}");
                }
            }
            Ok(Ok((401, _, _))) => {
                let code = CloseCode::TokenExpired;
                let _ = ws.close(Some(code.code()), Some(code.reason()));
            }
            other => {
                let why = match other {
                    Ok(Ok((status, _, body))) => format!("status {status}: {}", String::from_utf8_lossy(&body)),
                    Ok(Err(e)) => e,
                    Err(e) => e.to_string(),
                };
                worker::console_error!("reading a replay page from the hub failed: {why}");
                let _ = ws.close(Some(1011), Some("internal error"));
            }
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, _reason: String, _was_clean: bool) -> Result<()> {
        let code = CloseCode::from_code(u16::try_from(code).unwrap_or(1006));
        self.closed(&ws, code).await;
        runtime::finish_close(&ws, code);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_error!("a relay's stream socket failed: {error}");
        self.closed(&ws, CloseCode::Other(1006)).await;
        Ok(())
    }
}

impl OrgRelay {
    /// A front worker opens a stream here: admitted by the hub, with this relay's concurrency
    /// held until the stream has its backlog and is live.
    async fn open_stream(&self, url: &worker::Url) -> std::result::Result<Response, ApiError> {
        let connect = Connect::from_url(url).map_err(internal("a connect the relay cannot read"))?;
        let to = Connect::relay_from_url(url).map_err(internal("a connect the relay cannot read"))?;
        let (env, sockets, position) = (self.env.clone(), self.sockets.clone(), self.position.clone());
        let woke = self.woke.take();
        self.state
            .block_concurrency_while(async move { Ok(join(&env, &sockets, &position, to, connect, woke).await) })
            .await
            .map_err(internal("holding the relay while a stream joins"))?
    }

    /// What the hub hands on: sent to the streams past this relay's position.
    fn take_hand_off(&self, text: &str) -> std::result::Result<Response, ApiError> {
        let coalesce = self.coalesce.clone()?;
        let deliver: Deliver = serde_json::from_str(text).map_err(internal("a hand-off that does not parse"))?;
        let taking = position::take(self.position.get(), deliver.after, deliver.restart);
        if taking.restart_streams {
            let closed = outbox::restart_streams(&*self.sockets);
            worker::console_log!(
                "relay {}: restarted after id {} ({}); {closed} streams resume from the hub's log",
                deliver.to.relay,
                deliver.after,
                if deliver.restart { "the hub said so" } else { "it missed events" }
            );
        }
        let base = taking.base;
        let events: Vec<Appended> = deliver.events.into_iter().filter(|e| e.id > base).filter_map(appended).collect();
        let sent = outbox::send(&*self.sockets, &events, coalesce);
        self.position.set(Some(events.last().map_or(base, |e| e.id).max(base)));
        let woke = self.woke.take();
        // Counted now and then, not on every hand-off: it lists every socket again.
        let now = now_ms();
        let held = (woke || now >= self.held_told_ms.get().saturating_add(HELD_EVERY_MS)).then(|| {
            self.held_told_ms.set(now);
            self.held().len() as u64
        });
        let answer = Delivery { sent, held, woke, restarted: taking.restart_streams };
        let body = serde_json::to_string(&answer).map_err(internal("answering a hand-off"))?;
        http::json(200, body).map_err(internal("answering a hand-off"))
    }

    /// The sockets of the streams this relay holds (closing ones included: the hub forgets a stream
    /// when its close is seen, not before).
    fn held(&self) -> Vec<WebSocket> {
        self.sockets.tagged(STREAM_TAG).into_iter().filter(|s| !self.sockets.is_closed(s)).collect()
    }

    /// The streams this relay holds, by id.
    fn census(&self) -> std::result::Result<Response, ApiError> {
        let streams: Vec<u64> = self.held().iter().filter_map(|s| stream_of(&self.sockets.tags_of(s))).collect();
        let body = serde_json::to_string(&Held { streams }).map_err(internal("answering a census"))?;
        http::json(200, body).map_err(internal("answering a census"))
    }

    /// Closes streams the hub says were replaced.
    fn close_replaced(&self, text: &str) -> std::result::Result<Response, ApiError> {
        let close: CloseStreams = serde_json::from_str(text).map_err(internal("a close that does not parse"))?;
        for stream in close.streams {
            // Already closing when this relay replaced it itself (`accept`).
            for socket in self.sockets.tagged(&stream_tag(stream)).into_iter().filter(|s| self.sockets.is_open(s)) {
                self.sockets.close(&socket, CloseCode::from_code(close.code));
            }
        }
        Response::empty().map(|r| r.with_status(204)).map_err(internal("answering a close"))
    }

    /// A stream's socket closed: the hub forgets the stream and counts why.
    async fn closed(&self, ws: &WebSocket, code: CloseCode) {
        let Some(attachment) = attachment_of(ws) else { return };
        let call = HubCall::RelayClosed {
            from: attachment.to.clone(),
            stream: attachment.stream,
            code: code.code(),
            woke: self.woke.take(),
        };
        match call_hub(&self.env, &attachment.to.org, &call).await {
            Ok((204 | 200, _, _)) => {}
            Ok((status, _, body)) => worker::console_error!(
                "telling the hub a stream closed failed: status {status}: {}",
                String::from_utf8_lossy(&body)
            ),
            Err(e) => worker::console_error!("telling the hub a stream closed failed: {e}"),
        }
    }
}

/// Joins a stream: the hub's admission and backlog, then the socket, live from the position the
/// hub says.
async fn join(
    env: &Env,
    sockets: &RuntimeSockets,
    position: &Cell<Option<u64>>,
    to: RelayAddress,
    connect: Connect,
    woke: bool,
) -> std::result::Result<Response, ApiError> {
    let call = HubCall::RelayConnect { from: to.clone(), position: position.get(), connect: connect.clone(), woke };
    let (status, headers, body) =
        call_hub(env, &to.org, &call).await.map_err(internal("asking the hub to admit a stream"))?;
    if status != 200 {
        // The hub's refusal is the client's answer.
        let text = String::from_utf8_lossy(&body).into_owned();
        let mut answer = http::json(status, text).map_err(internal("passing on the hub's answer"))?;
        for name in ["retry-after"] {
            if let Some(value) = headers.get(name).ok().flatten() {
                let _ = answer.headers_mut().set(name, &value);
            }
        }
        return Ok(answer);
    }
    let (Some(stream), Some(at)) = (header_u64(&headers, STREAM_HEADER), header_u64(&headers, POSITION_HEADER)) else {
        return Err(internal("an admission without its stream and position")("the hub"));
    };
    let accepted = accept(sockets, &to, stream, &connect, body);
    position.set(Some(at));
    match accepted {
        Ok(client) => Response::from_websocket(client).map_err(internal("answering a connect")),
        Err(e) => {
            // The hub recorded the stream: it is closed again.
            let call = HubCall::RelayClosed { from: to.clone(), stream, code: 1011, woke: false };
            let _ = call_hub(env, &to.org, &call).await;
            Err(e)
        }
    }
}

fn accept(
    sockets: &RuntimeSockets,
    to: &RelayAddress,
    stream: u64,
    connect: &Connect,
    first: Vec<u8>,
) -> std::result::Result<WebSocket, ApiError> {
    let pair = WebSocketPair::new().map_err(internal("creating a stream socket"))?;
    let attachment = Attachment {
        to: to.clone(),
        stream,
        sub: connect.sub.clone(),
        request_id: connect.request_id.clone(),
        exp: connect.exp,
    };
    pair.server.serialize_attachment(&attachment).map_err(internal("attaching a stream's state"))?;
    let sub = SubTag::of(&connect.sub);
    let mut tags = sockets::tags(&sub, connect.request_id.as_ref());
    tags.push(stream_tag(stream));
    // The stream it replaces is here when the request id picked this relay before: closed at once
    // (the hub asks too, which finds it closed).
    let old = connect.request_id.as_ref().map(|rid| sockets::replaceable(sockets, &sub, rid)).unwrap_or_default();
    sockets.accept(&pair.server, &tags).map_err(internal("accepting a stream socket"))?;
    sockets::replace(sockets, &old);
    if let Err(e) = pair.server.send_with_bytes(first) {
        let _ = pair.server.close(Some(1011), Some("internal error"));
        return Err(internal("sending a stream what it missed")(e));
    }
    Ok(pair.client)
}

fn attachment_of(ws: &WebSocket) -> Option<Attachment> {
    match ws.deserialize_attachment::<Attachment>() {
        Ok(Some(a)) => Some(a),
        Ok(None) => {
            worker::console_error!("a relay's stream socket without its attachment");
            None
        }
        Err(e) => {
            worker::console_error!("reading a relay's stream attachment failed: {e}");
            None
        }
    }
}

/// An event of a hand-off as the fan-out takes it (an event whose target does not parse is
/// dropped and logged: the hub checked it, so this cannot happen short of a bug).
fn appended(event: crate::wire::relay_api::Delivered) -> Option<Appended> {
    let target = match event.request_id {
        Some(rid) => match RequestId::parse(&rid) {
            Ok(request_id) => Some(Targeted { request_id, sub: event.sub }),
            Err(_) => {
                worker::console_error!("a handed-off event {} with a bad request id; dropped", event.id);
                return None;
            }
        },
        None => None,
    };
    Some(Appended {
        id: event.id,
        ts_ms: 0,
        type_name: "",
        envelope: String::new(),
        frame: Frame::handed(event.frame),
        target,
    })
}

fn header_u64(headers: &worker::Headers, name: &str) -> Option<u64> {
    headers.get(name).ok().flatten().and_then(|v| v.parse().ok())
}

/// A call to the org's hub: its status, headers and body.
async fn call_hub(
    env: &Env,
    org: &str,
    call: &HubCall,
) -> std::result::Result<(u16, worker::Headers, Vec<u8>), String> {
    let hubs = env.durable_object(HUB_BINDING).map_err(|e| format!("finding the org's hub: {e}"))?;
    let stub =
        hubs.id_from_name(org).and_then(|id| id.get_stub()).map_err(|e| format!("finding the org's hub: {e}"))?;
    let body = call.to_json().map_err(|e| e.to_string())?;
    // Bounded: a join holds the relay's concurrency while it waits, and the runtime resets an
    // object held for 30 s (every stream it holds would end).
    let answer = async move {
        let response = wire::call::post(stub, CALL_URL, &body).await?;
        let bytes = wire::call::body(&response).await?;
        Ok((response.status(), worker::Headers(response.headers()), bytes))
    };
    let timeout = worker::Delay::from(std::time::Duration::from_millis(HUB_TIMEOUT_MS));
    match select(pin!(answer), pin!(timeout)).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err(format!("the org's hub did not answer within {HUB_TIMEOUT_MS} ms")),
    }
}

/// How long a relay waits for its hub.
const HUB_TIMEOUT_MS: u64 = 10_000;
