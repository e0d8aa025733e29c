//! The runtime's hibernatable sockets of one hub, as `sockets::Sockets`.
//!
//! Every call goes to the runtime's `DurableObjectState` through bindings that return its errors
//! as `Result`s. workers-rs's `State` unwraps them (`accept_websocket_with_tags`, `get_tags`,
//! `get_websockets_with_tag`, `set_websocket_auto_response`): one refused call there is a panic,
//! and a panic resets the isolate, every stream of every org in it included.

use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::worker_sys::{DurableObjectState, WebSocketRequestResponsePair};
use worker::{js_sys, WebSocket};

use crate::hub::sockets::{request_tag, Sockets, MAX_TAG_BYTES};
use crate::wire::call::why;
use crate::wire::hub_api::{CloseCode, NextPage, PING, PONG};
use schema_wasm::RequestId;

/// `WebSocket.OPEN` and `WebSocket.CLOSED`.
const OPEN: u16 = 1;
const CLOSED: u16 = 3;

/// The hub's handle on the runtime's sockets.
pub struct RuntimeSockets(pub DurableObjectState);

impl RuntimeSockets {
    /// Accepts a stream's socket as hibernatable, with its tags; refused tags are an error here,
    /// never a panic (and are checked first: the runtime's bound is `MAX_TAG_BYTES`).
    pub fn accept(&self, ws: &WebSocket, tags: &[String]) -> Result<(), String> {
        if let Some(long) = tags.iter().find(|t| t.len() > MAX_TAG_BYTES) {
            return Err(format!("a socket tag of {} bytes (at most {MAX_TAG_BYTES})", long.len()));
        }
        let tags: Vec<JsValue> = tags.iter().map(|t| JsValue::from_str(t)).collect();
        self.0.accept_websocket_with_tags(ws.as_ref(), tags).map_err(why)
    }

    /// Whether an open stream has `request_id` (an error when the runtime cannot list them).
    pub fn any_open(&self, request_id: &RequestId) -> Result<bool, String> {
        let sockets = self.0.get_websockets_with_tag(&request_tag(request_id)).map_err(why)?;
        Ok(sockets.iter().any(|s| s.ready_state() == OPEN))
    }

    /// The heartbeat's answer (`PONG` to `PING`), given by the runtime without waking the object.
    pub fn answer_heartbeats(&self) {
        let pair = match WebSocketRequestResponsePair::new(PING, PONG) {
            Ok(pair) => pair,
            Err(e) => return worker::console_error!("setting the heartbeat auto-response failed: {}", why(e)),
        };
        if let Err(e) = self.0.set_websocket_auto_response(&pair).map_err(why) {
            worker::console_error!("setting the heartbeat auto-response failed: {e}");
        }
    }
}

impl Sockets for RuntimeSockets {
    type Socket = WebSocket;
    type Message = js_sys::ArrayBuffer;

    fn tagged(&self, tag: &str) -> Vec<WebSocket> {
        match self.0.get_websockets_with_tag(tag) {
            Ok(sockets) => sockets.into_iter().map(WebSocket::from).collect(),
            Err(e) => {
                worker::console_error!("listing the sockets tagged {tag:?} failed: {}", why(e));
                Vec::new()
            }
        }
    }

    fn tags_of(&self, socket: &WebSocket) -> Vec<String> {
        self.0.get_tags(socket.as_ref()).unwrap_or_else(|e| {
            worker::console_error!("reading a socket's tags failed: {}", why(e));
            Vec::new()
        })
    }

    /// One JS buffer, sent as it is to every socket (the runtime copies on send; nothing writes
    /// to it afterwards).
    fn message(&self, bytes: Vec<u8>) -> js_sys::ArrayBuffer {
        js_sys::Uint8Array::from(bytes.as_slice()).buffer()
    }

    fn send(&self, socket: &WebSocket, message: &js_sys::ArrayBuffer) -> bool {
        socket.as_ref().send_with_array_buffer(message).is_ok()
    }

    fn close(&self, socket: &WebSocket, code: CloseCode) {
        if let Err(e) = socket.close(Some(code.code()), Some(code.reason())) {
            worker::console_error!("closing a stream socket failed: {e}");
        }
    }

    fn is_open(&self, socket: &WebSocket) -> bool {
        socket.as_ref().ready_state() == OPEN
    }

    fn is_closed(&self, socket: &WebSocket) -> bool {
        socket.as_ref().ready_state() == CLOSED
    }
}

/// Finishes the close handshake of a socket that closed with `code`. Only 1000 and the
/// application codes may be sent (1005, 1006, 1015 describe a close that happened); anything else
/// gets a normal close.
pub fn finish_close(ws: &WebSocket, code: CloseCode) {
    let reply = match code.code() {
        c @ (1000 | 3000..=4999) => c,
        _ => 1000,
    };
    let _ = ws.close(Some(reply), Some(code.reason()));
}

/// A stream socket's message, which is a request for the next replay page (the heartbeat ping is
/// answered by the runtime); anything else is logged and ignored.
pub fn next_page_in(message: &worker::WebSocketIncomingMessage) -> Option<NextPage> {
    use worker::WebSocketIncomingMessage::{Binary, String};
    let what = match message {
        String(text) => match NextPage::parse(text) {
            Some(next) => return Some(next),
            None => format!("text of {} bytes", text.len()),
        },
        Binary(b) => format!("binary of {} bytes", b.len()),
    };
    worker::console_error!("unexpected message on a stream socket ({what}); ignored");
    None
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = setTimeout)]
    fn set_timeout(callback: &JsValue, ms: i32) -> Result<JsValue, JsValue>;
}

/// Calls `callback` on the hub's next turn (a zero-delay timer): after the current request is
/// answered, and after whatever the runtime had already queued. A Durable Object's timers belong
/// to the object, not to the request that set them, so the turn comes after that request ends.
pub fn next_turn(callback: impl FnOnce() + 'static) -> Result<(), String> {
    after_ms(0, callback)
}

/// Calls `callback` in `ms` milliseconds (a timer of the object; while it is pending the object
/// does not hibernate).
pub fn after_ms(ms: i32, callback: impl FnOnce() + 'static) -> Result<(), String> {
    let callback = Closure::once_into_js(callback);
    set_timeout(&callback, ms).map(|_| ()).map_err(why)
}
