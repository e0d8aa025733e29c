//! The runtime's hibernatable sockets of one hub, as `sockets::Sockets`.

use worker::{js_sys, State, WebSocket};

use crate::hub_api::CloseCode;
use crate::sockets::Sockets;

/// `WebSocket.OPEN`.
const OPEN: u16 = 1;

pub struct RuntimeSockets<'a>(pub &'a State);

impl Sockets for RuntimeSockets<'_> {
    type Socket = WebSocket;
    type Message = js_sys::ArrayBuffer;

    fn tagged(&self, tag: &str) -> Vec<WebSocket> {
        self.0.get_websockets_with_tag(tag)
    }

    fn tags_of(&self, socket: &WebSocket) -> Vec<String> {
        self.0.get_tags(socket)
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
}
