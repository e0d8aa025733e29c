//! A runtime of probe sockets, for the host tests of the hub's pure parts (`sockets`, `outbox`).

use schema_wasm::RequestId;

use crate::hub::sockets::{tags, Sockets, SubTag};
use crate::wire::frames::{Frames, Kind, Unseen};
use crate::wire::hub_api::CloseCode;
use std::cell::RefCell;
use std::rc::Rc;

/// A socket that records what it was sent and how it was closed.
#[derive(Clone)]
pub struct Probe {
    pub tags: Vec<String>,
    pub got: Rc<RefCell<Vec<Vec<u8>>>>,
    pub closed: Rc<RefCell<Option<CloseCode>>>,
}

impl Probe {
    /// The ids of the event frames it received, in order.
    pub fn event_ids(&self) -> Vec<u64> {
        let mut ids = Vec::new();
        for message in self.got.borrow().iter() {
            let frames = Frames::decode(message).unwrap();
            assert_eq!(frames.kind, Kind::Live);
            let text = std::str::from_utf8(frames.bytes).unwrap();
            let found: Vec<u64> = text.lines().filter_map(|l| l.strip_prefix("id: ")?.parse().ok()).collect();
            assert_eq!(found.len() as u32, frames.count, "the count matches the frames");
            if let Unseen::From { from, last, .. } = frames.unseen(0) {
                assert_eq!((from, Some(last)), (0, found.last().copied()), "the entries match the frames");
            }
            ids.extend(found);
        }
        ids
    }
}

impl Probe {
    pub fn close(&self, code: CloseCode) {
        *self.closed.borrow_mut() = Some(code);
    }
    pub fn is_open(&self) -> bool {
        self.closed.borrow().is_none()
    }
    /// Messages received.
    pub fn messages(&self) -> usize {
        self.got.borrow().len()
    }
    pub fn closed_with(&self) -> Option<CloseCode> {
        *self.closed.borrow()
    }
}

#[derive(Default)]
pub struct Runtime {
    sockets: RefCell<Vec<Probe>>,
}

impl Runtime {
    pub fn accept(&self, request_id: Option<&str>) -> Probe {
        self.accept_of("user", request_id)
    }

    pub fn accept_of(&self, sub: &str, request_id: Option<&str>) -> Probe {
        let rid = request_id.map(|r| RequestId::parse(r).unwrap());
        let probe = Probe { tags: tags(&SubTag::of(sub), rid.as_ref()), got: Rc::default(), closed: Rc::default() };
        self.sockets.borrow_mut().push(probe.clone());
        probe
    }
}

impl Sockets for Runtime {
    type Socket = Probe;
    type Message = Vec<u8>;
    fn tagged(&self, tag: &str) -> Vec<Probe> {
        self.sockets.borrow().iter().filter(|s| s.tags.iter().any(|t| t == tag)).cloned().collect()
    }
    fn tags_of(&self, socket: &Probe) -> Vec<String> {
        socket.tags.clone()
    }
    fn message(&self, bytes: Vec<u8>) -> Vec<u8> {
        bytes
    }
    fn send(&self, socket: &Probe, message: &Vec<u8>) -> bool {
        if !socket.is_open() {
            return false;
        }
        socket.got.borrow_mut().push(message.clone());
        true
    }
    fn close(&self, socket: &Probe, code: CloseCode) {
        socket.close(code);
    }
    fn is_open(&self, socket: &Probe) -> bool {
        socket.is_open()
    }
    fn is_closed(&self, socket: &Probe) -> bool {
        !socket.is_open()
    }
}
