//! `GET /v1/stream` in the front worker: the SSE response is held here, not in the org's hub.
//!
//! The worker connects to the hub with a WebSocket, writes the hub's frames to the response as
//! they come (when the client is far behind, a page at a time first: it asks for the next page on
//! the socket once the client has read the last), and owns the heartbeat: it pings the hub every `HEARTBEAT_INTERVAL_MS`, the runtime answers for the hub
//! without waking it, and the answer becomes the client's heartbeat. The stream's state and rules
//! are in `relay`; this file only wires them to the socket, a timer and the response body.
//!
//! The response body is the runtime's own pipe (`IdentityTransformStream`): each message's bytes
//! are written to it as they arrive, straight from the socket's buffer, without passing through
//! wasm memory or a Rust future, and the runtime streams them to the client. The pipe tells how
//! many bytes the client has not read yet; `relay` turns that into the live queue's bounds.
//!
//! When the browser leaves, the request's abort signal fires (or the pipe fails, which the next
//! write or the stream's timer notices within a tick): the stream closes its socket, and the
//! hub's close handler runs. When the hub's socket closes (replaced, restart, deploy), the
//! response ends after what was queued, and the browser resumes by id.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen::JsValue;
use worker::{js_sys, web_sys, Headers, Request, RequestInit, Response, ResponseBody, Stub, WebSocket};

use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::config::Config;
use crate::front::interval::Ticker;
use crate::front::pipe::Pipe;
use crate::front::relay::{Ending, Limits, Relay, Tick, Timing, Verdict, PROBE};
use crate::token;
use crate::wire::frame::Frame;
use crate::wire::hub_api::{CloseCode, Connect, Frames, Kind, NextPage, PING, PONG};

/// Opens a stream for a client whose token and parameters were checked. `client_gone` is the
/// request's abort signal: the runtime fires it when the client disconnects.
pub async fn open(
    hub: Stub,
    config: &Config,
    connect: Connect,
    client_gone: web_sys::AbortSignal,
) -> Result<Response, ApiError> {
    // The connect is made before answering, so a hub that cannot serve is an HTTP error.
    let ws = match attempt(&hub, &connect).await? {
        Attempt::Answer(response) => return Ok(response),
        Attempt::Socket(ws) => ws,
    };
    let limits = Limits { max_frames: config.queue_frames, max_bytes: config.queue_bytes };
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
struct Shared {
    relay: RefCell<Relay>,
    /// The response body's writing end, until the stream ends.
    pipe: RefCell<Option<Pipe>>,
    /// The heartbeat and probe timer, stopped when the stream ends.
    ticker: RefCell<Option<Ticker>>,
    socket: RefCell<Option<Socket>>,
    client_gone: RefCell<Option<ClientWatch>>,
}

impl Shared {
    /// Tells the relay what the client has read; a failed pipe means the client left.
    fn observe(&self) {
        let unread = self.pipe.borrow().as_ref().map(Pipe::unread);
        match unread {
            Some(Some(unread)) => self.relay.borrow_mut().observe(unread),
            Some(None) => self.client_left(),
            None => {}
        }
    }

    /// Writes frames the client must get whatever its pace (the opening, a replay page).
    /// Returns the write, which settles once the client has read them.
    fn must_write(&self, chunk: &JsValue, len: usize, frames: usize) -> Option<js_sys::Promise> {
        let verdict = self.relay.borrow_mut().write(len, frames, now_ms());
        self.carry_out(verdict, chunk)
    }

    /// Offers live frames: written, dropped after the end, or the end with `stream.overflow`.
    fn offer(&self, chunk: &JsValue, len: usize, frames: usize) {
        self.observe();
        let verdict = self.relay.borrow_mut().offer(len, frames, now_ms());
        self.carry_out(verdict, chunk);
    }

    /// Does what the relay decided about a chunk; returns the write, if there was one.
    fn carry_out(&self, verdict: Verdict, chunk: &JsValue) -> Option<js_sys::Promise> {
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
    fn write(&self, chunk: &JsValue) -> Option<js_sys::Promise> {
        self.pipe.borrow().as_ref().and_then(|p| p.write(chunk))
    }

    /// The relay has ended the stream: the client gets the last frame after what it has, the hub
    /// is told why (if it does not know), and everything the stream holds is let go.
    fn finish(&self) {
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
    fn client_left(&self) {
        self.relay.borrow_mut().end(Ending::ClientLeft);
        self.finish();
    }

    /// Lets go of everything the stream holds in the runtime: closes the hub's socket (telling
    /// the hub the client left, if it was not told yet), removes every listener, stops the timer.
    /// Only from this request's own events (its timer, its socket, its abort signal), where the
    /// runtime allows closing a socket or clearing a timer.
    fn release(&self) {
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

    fn close_hub(&self, code: CloseCode) {
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

    fn ended(&self) -> bool {
        self.relay.borrow().ending().is_some()
    }

    /// Stops the timer. Called only from this request's own events (its timer, its abort
    /// signal), where clearing a timer of this request works.
    fn stop_ticker(&self) {
        let ticker = self.ticker.borrow_mut().take();
        drop(ticker);
    }
}

/// The socket to the hub and its listeners, removed when it is dropped.
struct Socket {
    ws: WebSocket,
    on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    on_close: Closure<dyn FnMut(web_sys::CloseEvent)>,
    on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        let target: &web_sys::EventTarget = self.ws.as_ref();
        let _ = target.remove_event_listener_with_callback("message", self.on_message.as_ref().unchecked_ref());
        let _ = target.remove_event_listener_with_callback("close", self.on_close.as_ref().unchecked_ref());
        let _ = target.remove_event_listener_with_callback("error", self.on_error.as_ref().unchecked_ref());
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

/// What the connect to the hub gave.
enum Attempt {
    /// The stream's socket: its backlog (or its first page), then live frames.
    Socket(WebSocket),
    /// The hub's own answer (a refusal, an error): the client's answer.
    Answer(Response),
}

async fn attempt(hub: &Stub, connect: &Connect) -> Result<Attempt, ApiError> {
    let url = connect.to_url().map_err(internal("encoding a connect"))?;
    let headers = Headers::new();
    headers.set("upgrade", "websocket").map_err(internal("building a connect"))?;
    let req = Request::new_with_init(&url, RequestInit::new().with_headers(headers))
        .map_err(internal("building a connect"))?;
    let response = hub.fetch_with_request(req).await.map_err(internal("connecting to the org's hub"))?;
    if response.status_code() == 101 {
        return response.websocket().map(Attempt::Socket).ok_or_else(|| internal("a 101 without a socket")("the hub"));
    }
    Ok(Attempt::Answer(response))
}

/// Once the client has read a page (`read` settles), asks the hub for the next one. The ask runs
/// in a callback of this request's own write, where its socket may be used: a Rust future can be
/// polled from another request's context, where it may not.
fn ask_for_next_page(shared: &Rc<Shared>, read: Option<js_sys::Promise>, next: NextPage) {
    let weak = Rc::downgrade(shared);
    let ask = move || {
        let Some(shared) = weak.upgrade() else { return };
        if shared.ended() {
            return;
        }
        let sent = shared.socket.borrow().as_ref().map(|s| s.ws.send_with_str(next.to_text()));
        match sent {
            Some(Ok(())) => shared.relay.borrow_mut().asked_for_page(now_ms()),
            Some(Err(e)) => {
                worker::console_error!("asking the hub for a replay page failed: {e}");
                shared.relay.borrow_mut().end(Ending::HubGone);
                shared.finish();
            }
            None => {}
        }
    };
    // Without a write (the stream ended meanwhile), `ask` finds it ended.
    let Some(read) = read else { return ask() };
    // Read or failed (the client left: the abort signal or the timer ends the stream), ask once.
    let callback = Closure::once_into_js(move |_settled: JsValue| ask());
    let then = js_sys::Reflect::get(&read, &JsValue::from_str("then"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let waiting = then.map(|then| then.call2(&read, &callback, &callback));
    if !matches!(waiting, Some(Ok(_))) {
        worker::console_error!("waiting for a replay page to be read failed");
        shared.relay.borrow_mut().end(Ending::HubGone);
        shared.finish();
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

/// Listens to the hub's socket and accepts it: from now on its frames go to the client.
fn listen(shared: &Rc<Shared>, ws: WebSocket) -> Result<(), ApiError> {
    let weak = Rc::downgrade(shared);
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new({
        let weak = weak.clone();
        move |event: web_sys::MessageEvent| on_message(&weak, event)
    });
    let on_close = Closure::<dyn FnMut(web_sys::CloseEvent)>::new({
        let weak = weak.clone();
        move |event: web_sys::CloseEvent| on_hub_closed(&weak, CloseCode::from_code(event.code()))
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_event: web_sys::Event| {
        on_hub_closed(&weak, CloseCode::Other(1006));
    });
    // From here on, dropping `socket` (on any error below too) removes the listeners.
    let socket = Socket { ws, on_message, on_close, on_error };
    let target: &web_sys::EventTarget = socket.ws.as_ref();
    for (name, callback) in [
        ("message", socket.on_message.as_ref()),
        ("close", socket.on_close.as_ref()),
        ("error", socket.on_error.as_ref()),
    ] {
        target
            .add_event_listener_with_callback(name, callback.unchecked_ref())
            .map_err(|e| internal("listening to the hub's socket")(format!("{e:?}")))?;
    }
    // Binary messages as ArrayBuffers (the default is Blob, which cannot be read synchronously).
    socket.ws.as_ref().set_binary_type(web_sys::BinaryType::Arraybuffer);
    socket.ws.accept().map_err(internal("accepting the hub's socket"))?;
    *shared.socket.borrow_mut() = Some(socket);
    Ok(())
}

fn on_message(weak: &Weak<Shared>, event: web_sys::MessageEvent) {
    let Some(shared) = weak.upgrade() else { return };
    let data = event.data();
    if let Some(text) = data.as_string() {
        if text != PONG {
            worker::console_error!("unexpected text from the hub ({} bytes); ignored", text.len());
            return;
        }
        shared.observe();
        let (frame, verdict) = shared.relay.borrow_mut().pong(now_ms());
        shared.carry_out(verdict, &js_bytes(frame.as_bytes()));
        return;
    }
    // The frames go to the pipe as a view of the message's own buffer; only the header is read.
    let message = js_sys::Uint8Array::new(&data);
    let len = message.byte_length();
    let mut header = [0u8; Frames::MAX_HEADER];
    let head = header.get_mut(..(len as usize).min(Frames::MAX_HEADER)).unwrap_or_default();
    message.subarray(0, head.len() as u32).copy_to(head);
    let Some(frames) = Frames::decode(head) else {
        worker::console_error!("a message from the hub without a frame count ({len} bytes); ignored");
        return;
    };
    let header_len = frames.kind.header_len();
    let chunk: JsValue = message.subarray(header_len as u32, len).into();
    let bytes = (len as usize).saturating_sub(header_len);
    let count = frames.count as usize;
    match frames.kind {
        Kind::CatchUp => {
            shared.must_write(&chunk, bytes, count);
            shared.relay.borrow_mut().connected();
        }
        Kind::Page { resume_after } => {
            let read = shared.must_write(&chunk, bytes, count);
            ask_for_next_page(&shared, read, NextPage { after: resume_after });
        }
        Kind::Live => shared.offer(&chunk, bytes, count),
    }
}

/// Bytes of ours as a JS buffer for the pipe.
fn js_bytes(bytes: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(bytes).into()
}

fn on_hub_closed(weak: &Weak<Shared>, code: CloseCode) {
    let Some(shared) = weak.upgrade() else { return };
    shared.relay.borrow_mut().hub_closed(code);
    // Finish the close handshake (a no-op when it is finished).
    shared.close_hub(code);
    shared.finish();
}
