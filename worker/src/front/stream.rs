//! `GET /v1/stream` in the front worker: the SSE response is held here, not in the org's hub.
//!
//! The worker connects to the hub with a WebSocket (`hub_socket`), writes the hub's frames to the
//! response as they come (when the client is far behind, a page at a time first: it asks for the
//! next page on the socket once the client has read the last), and owns the heartbeat: it pings
//! the hub every `HEARTBEAT_INTERVAL_MS`, the runtime answers for the hub without waking it, and
//! the answer becomes the client's heartbeat. The stream's state and rules are in `relay`; this
//! file only wires them to the socket, a timer and the response body.
//!
//! The response body is the runtime's own pipe (`IdentityTransformStream`): each message's bytes
//! are written to it as they arrive, straight from the socket's buffer, without passing through
//! wasm memory or a Rust future, and the runtime streams them to the client. The pipe tells how
//! many bytes the client has not read yet; `relay` bounds the live ones.
//!
//! When the browser leaves, the request's abort signal fires (or the pipe fails, which the next
//! write or the stream's timer notices within a tick): the stream closes its socket, and the
//! hub's close handler runs. When the hub's socket closes (replaced, restart, deploy), the
//! response ends after what the client had unread, and the browser resumes by id.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen::JsValue;
use worker::{js_sys, web_sys, Response, ResponseBody};

use super::hub_socket::{attempt, listen, Attempt, Holder, Socket};
use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::config::Config;
use crate::front::interval::Ticker;
use crate::front::pipe::Pipe;
use crate::front::relay::{Ending, Limits, Relay, Tick, Timing, Verdict, PROBE};
use crate::replay::LastEventId;
use crate::token;
use crate::wire::frame::Frame;
use crate::wire::hub_api::{CloseCode, Connect, PING};

/// Opens a stream for a client whose token and parameters were checked. `client_gone` is the
/// request's abort signal: the runtime fires it when the client disconnects.
pub async fn open(
    holder: Holder,
    config: &Config,
    connect: Connect,
    client_gone: web_sys::AbortSignal,
) -> Result<Response, ApiError> {
    // The connect is made before answering, so a hub that cannot serve is an HTTP error.
    let ws = match attempt(&holder, &connect).await? {
        Attempt::Answer(response) => return Ok(response),
        Attempt::Socket(ws) => ws,
    };
    let limits = Limits { max_frames: config.max_unread_frames, max_bytes: config.max_unread_bytes };
    let timing = Timing {
        heartbeat_interval_ms: config.heartbeat_interval_ms,
        max_age_ms: config.max_connection_age_ms,
        probe_ms: config.liveness_probe_ms,
        token_expires_ms: token::valid_until_ms(connect.exp),
    };
    let pipe = Pipe::new().map_err(internal("opening a stream's pipe"))?;
    let body = pipe.readable.clone();
    let shared = Rc::new(Shared {
        relay: RefCell::new(Relay::new(limits, timing, now_ms())),
        pipe: RefCell::new(Some(pipe)),
        ticker: RefCell::new(None),
        socket: RefCell::new(None),
        client_gone: RefCell::new(None),
        position: Cell::new(match connect.last_event_id {
            Some(LastEventId::Id(id)) => id,
            Some(LastEventId::NotAnId) | None => 0,
        }),
    });
    watch_client(&shared, client_gone);
    let opening = Frame::opening(config.retry_ms);
    shared.must_write(&js_bytes(opening.as_bytes()), opening.len(), 1);
    let mut response = Response::from_body(ResponseBody::Stream(body)).map_err(internal("opening a stream"))?;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-store, no-transform"),
        ("x-accel-buffering", "no"),
    ] {
        headers.set(name, value).map_err(internal("setting stream headers"))?;
    }
    listen(&shared, ws)?;
    // The timer is a JS interval made here, in this request's own context, and ticks the relay
    // directly: no future waits on it (a future's timer can be registered from another request's
    // context, and is lost when that request ends).
    start_ticker(&shared, timing.tick_ms());
    Ok(response)
}

/// One stream's state, shared by the socket's listeners, the abort signal's and the timer.
pub(super) struct Shared {
    pub(super) relay: RefCell<Relay>,
    /// The response body's writing end, until the stream ends.
    pub(super) pipe: RefCell<Option<Pipe>>,
    /// The heartbeat and probe timer, stopped when the stream ends.
    pub(super) ticker: RefCell<Option<Ticker>>,
    pub(super) socket: RefCell<Option<Socket>>,
    client_gone: RefCell<Option<ClientWatch>>,
    /// The org's id the stream is at: live frames at or before it were written already (or were
    /// not for this stream), and are not written again (`wire::frames`).
    pub(super) position: Cell<u64>,
}

impl Shared {
    /// Tells the relay what the client has read; a failed pipe means the client left.
    pub(super) fn observe(&self) {
        let unread = self.pipe.borrow().as_ref().map(Pipe::unread);
        match unread {
            Some(Some(unread)) => self.relay.borrow_mut().observe(unread),
            Some(None) => self.client_left(),
            None => {}
        }
    }

    /// Writes frames the client must get whatever its pace (the opening, a replay page).
    /// Returns the write, which settles once the client has read them.
    pub(super) fn must_write(&self, chunk: &JsValue, len: usize, frames: usize) -> Option<js_sys::Promise> {
        let verdict = self.relay.borrow_mut().write(len, frames, now_ms());
        self.carry_out(verdict, chunk)
    }

    /// Offers live frames: written, dropped after the end, or the end with `stream.overflow`.
    pub(super) fn offer(&self, chunk: &JsValue, len: usize, frames: usize) {
        self.observe();
        let verdict = self.relay.borrow_mut().offer(len, frames, now_ms());
        self.carry_out(verdict, chunk);
    }

    /// Does what the relay decided about a chunk; returns the write, if there was one.
    pub(super) fn carry_out(&self, verdict: Verdict, chunk: &JsValue) -> Option<js_sys::Promise> {
        match verdict {
            Verdict::Write => self.write(chunk),
            Verdict::Drop => None,
            Verdict::Overflow => {
                self.finish();
                None
            }
        }
    }

    /// Writes to the response while the stream holds it; the write settles once it was read.
    pub(super) fn write(&self, chunk: &JsValue) -> Option<js_sys::Promise> {
        self.pipe.borrow().as_ref().and_then(|p| p.write(chunk))
    }

    /// The relay has ended the stream: the client gets the last frame after what it has, the hub
    /// is told why (if it does not know), and everything the stream holds is let go.
    pub(super) fn finish(&self) {
        let Some(ending) = self.relay.borrow().ending() else { return };
        if let Some(pipe) = self.pipe.borrow_mut().take() {
            if ending != Ending::ClientLeft {
                if let Some(frame) = ending.last_frame() {
                    pipe.write(&js_bytes(frame.as_bytes()));
                }
                pipe.close();
            }
        }
        if let Some(code) = ending.close_code() {
            self.close_hub(code);
        }
        self.release();
    }

    /// The client went away: tell the hub at once, and end.
    pub(super) fn client_left(&self) {
        self.relay.borrow_mut().end(Ending::ClientLeft);
        self.finish();
    }

    /// Lets go of everything the stream holds in the runtime: closes the hub's socket (telling
    /// the hub the client left, if it was not told yet), removes every listener, stops the timer.
    /// Only from this request's own events (its timer, its socket, its abort signal), where the
    /// runtime allows closing a socket or clearing a timer.
    pub(super) fn release(&self) {
        self.close_hub(CloseCode::ClientLeft);
        let socket = self.socket.borrow_mut().take();
        drop(socket);
        let watch = self.client_gone.borrow_mut().take();
        drop(watch);
        let pipe = self.pipe.borrow_mut().take();
        drop(pipe);
        // Last: the timer's callback holds this stream alive until here.
        self.stop_ticker();
    }

    pub(super) fn close_hub(&self, code: CloseCode) {
        // Codes a peer may send: 1000 and the application range. Others (1005, 1006) describe a
        // close that already happened.
        let code = code.code();
        if code != 1000 && !(3000..5000).contains(&code) {
            return;
        }
        if let Some(socket) = self.socket.borrow().as_ref() {
            // Fails only when the socket is already closed, which is what we want.
            let _ = socket.ws.close(Some(code), Some(CloseCode::from_code(code).reason()));
        }
    }

    pub(super) fn ended(&self) -> bool {
        self.relay.borrow().ending().is_some()
    }

    /// Stops the timer. Called only from this request's own events (its timer, its abort
    /// signal), where clearing a timer of this request works.
    pub(super) fn stop_ticker(&self) {
        let ticker = self.ticker.borrow_mut().take();
        drop(ticker);
    }
}

/// The listener on the request's abort signal (with `enable_request_signal`, the runtime aborts
/// it when the client disconnects, sooner than a failed write would tell).
struct ClientWatch {
    signal: web_sys::AbortSignal,
    on_abort: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for ClientWatch {
    fn drop(&mut self) {
        let target: &web_sys::EventTarget = self.signal.as_ref();
        let _ = target.remove_event_listener_with_callback("abort", self.on_abort.as_ref().unchecked_ref());
    }
}

fn watch_client(shared: &Rc<Shared>, signal: web_sys::AbortSignal) {
    let weak = Rc::downgrade(shared);
    let on_abort = Closure::<dyn FnMut(web_sys::Event)>::new(move |_event: web_sys::Event| {
        if let Some(shared) = weak.upgrade() {
            shared.client_left();
        }
    });
    let target: &web_sys::EventTarget = signal.as_ref();
    match target.add_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref()) {
        Ok(()) => *shared.client_gone.borrow_mut() = Some(ClientWatch { signal, on_abort }),
        // Without it, the client's departure is found at the next write that fails.
        Err(e) => worker::console_error!("watching the request's abort signal failed: {e:?}"),
    }
}

/// The timer's callback holds the stream (a cycle that `Shared::stop_ticker` breaks), so that
/// however the response body goes away, the stream is released by its own timer, in its own
/// request.
fn start_ticker(shared: &Rc<Shared>, every_ms: u64) {
    let strong = shared.clone();
    let callback = Closure::<dyn FnMut()>::new(move || on_tick(&strong));
    match Ticker::start(callback, every_ms) {
        Ok(ticker) => *shared.ticker.borrow_mut() = Some(ticker),
        Err(e) => {
            worker::console_error!("starting a stream's timer failed: {e:?}");
            shared.relay.borrow_mut().end(Ending::HubGone);
            shared.finish();
        }
    }
}

/// Every tick: ping the hub each heartbeat interval, probe a quiet stream, end one that is too
/// old or whose hub is silent, and notice a client that left.
fn on_tick(shared: &Rc<Shared>) {
    shared.observe();
    if shared.ended() {
        shared.finish();
        return;
    }
    let tick = shared.relay.borrow_mut().tick(now_ms());
    match tick {
        Tick::Nothing => {}
        Tick::Ping => {
            let sent = shared.socket.borrow().as_ref().map(|s| s.ws.send_with_str(PING));
            if let Some(Err(e)) = sent {
                worker::console_error!("pinging the hub failed: {e}");
                shared.relay.borrow_mut().end(Ending::HubGone);
            }
        }
        Tick::Probe => {
            shared.write(&js_bytes(PROBE));
        }
        // Told to the hub by `finish`.
        Tick::Close(_) => {}
    }
    // Dropping the callback from inside it is safe: the runtime frees it once it returns.
    shared.finish();
}

/// Bytes of ours as a JS buffer for the pipe.
pub(super) fn js_bytes(bytes: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(bytes).into()
}
