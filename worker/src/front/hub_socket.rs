//! A stream's socket to the org's hub, as the front worker holds it: connecting (the hub's answer is
//! the socket, or a refusal that is the client's answer), listening to what the hub sends
//! (`Kind::CatchUp`, `Kind::Page`, `Kind::Live`, each written to the stream's pipe as the relay
//! says), asking for the next replay page, and the hub closing it.

use std::rc::{Rc, Weak};

use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen::JsValue;
use worker::{js_sys, web_sys, Headers, Request, RequestInit, Response, Stub, WebSocket};

use super::relay::Ending;
use super::stream::{js_bytes, Shared};
use crate::api_error::{internal, ApiError};
use crate::clock::now_ms;
use crate::wire::frames::{Frames, Kind, Unseen, FIXED_HEADER};
use crate::wire::hub_api::{CloseCode, Connect, NextPage, PONG};
use crate::wire::relay_api::RelayAddress;

/// The socket to the hub and its listeners, removed when it is dropped.
pub(super) struct Socket {
    pub(super) ws: WebSocket,
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

/// What the connect to the hub gave.
pub(super) enum Attempt {
    /// The stream's socket: its backlog (or its first page), then live frames.
    Socket(WebSocket),
    /// The hub's own answer (a refusal, an error): the client's answer.
    Answer(Response),
}

/// The object that holds a stream's socket: the org's hub, or one of its relays
/// (`RELAYS_PER_ORG`), which speak the same protocol on the socket.
pub(crate) struct Holder {
    pub stub: Stub,
    pub relay: Option<RelayAddress>,
}

pub(super) async fn attempt(holder: &Holder, connect: &Connect) -> Result<Attempt, ApiError> {
    let response = open(holder, connect).await?;
    if response.status_code() == 101 {
        return response.websocket().map(Attempt::Socket).ok_or_else(|| internal("a 101 without a socket")("the hub"));
    }
    Ok(Attempt::Answer(response))
}

/// Asks the hub (or relay) for a stream's socket: its answer, `101` with the socket or a refusal.
pub(super) async fn open(holder: &Holder, connect: &Connect) -> Result<Response, ApiError> {
    let url = connect.to_url_at(holder.relay.as_ref()).map_err(internal("encoding a connect"))?;
    let headers = Headers::new();
    headers.set("upgrade", "websocket").map_err(internal("building a connect"))?;
    let req = Request::new_with_init(&url, RequestInit::new().with_headers(headers))
        .map_err(internal("building a connect"))?;
    holder.stub.fetch_with_request(req).await.map_err(internal("connecting to the org's hub"))
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

/// Listens to the hub's socket and accepts it: from now on its frames go to the client.
pub(super) fn listen(shared: &Rc<Shared>, ws: WebSocket) -> Result<(), ApiError> {
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
    let len = message.byte_length() as usize;
    let mut fixed = [0u8; FIXED_HEADER];
    if len >= FIXED_HEADER {
        message.subarray(0, FIXED_HEADER as u32).copy_to(&mut fixed);
    }
    let header_len = Frames::header_len(&fixed).filter(|h| *h <= len && len >= FIXED_HEADER);
    let head = header_len.map(|h| message.subarray(0, h as u32).to_vec());
    let Some(frames) = head.as_deref().and_then(Frames::decode) else {
        worker::console_error!("a message from the hub without a header ({len} bytes); ignored");
        return;
    };
    let header_len = head.as_ref().map_or(0, Vec::len);
    let body = |from: usize| -> (JsValue, usize) {
        let start = header_len.saturating_add(from).min(len);
        (message.subarray(start as u32, len as u32).into(), len - start)
    };
    let count = frames.count as usize;
    match frames.kind {
        Kind::CatchUp { through } => {
            let (chunk, bytes) = body(0);
            shared.must_write(&chunk, bytes, count);
            shared.position.set(through);
            shared.relay.borrow_mut().connected();
        }
        Kind::Page { resume_after } => {
            let (chunk, bytes) = body(0);
            let read = shared.must_write(&chunk, bytes, count);
            shared.position.set(resume_after);
            ask_for_next_page(&shared, read, NextPage { after: resume_after });
        }
        // Only what is past the stream's position: an event sent twice is written once.
        Kind::Live => match frames.unseen(shared.position.get()) {
            Unseen::Nothing => {}
            Unseen::From { from, frames, last } => {
                let (chunk, bytes) = body(from);
                shared.offer(&chunk, bytes, frames as usize);
                shared.position.set(last);
            }
        },
    }
}

fn on_hub_closed(weak: &Weak<Shared>, code: CloseCode) {
    let Some(shared) = weak.upgrade() else { return };
    shared.relay.borrow_mut().hub_closed(code);
    // Finish the close handshake (a no-op when it is finished).
    shared.close_hub(code);
    shared.finish();
}
