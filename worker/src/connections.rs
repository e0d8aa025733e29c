//! The open streams of one org: registration (one per request id), delivery, and closing.
//!
//! Pure: a connection is anything that can be offered a frame without waiting (`Sink`). Offering
//! never blocks, so one slow or dead connection cannot hold up the others. A connection whose
//! queue is full is closed with `stream.overflow`; one whose reader is gone is dropped; one opened
//! with the request id of an open one replaces it, and the old one is closed with
//! `stream.replaced`. Each connection has its own id, so a late disconnect of a replaced
//! connection never removes its successor.

use schema_wasm::RequestId;

use crate::frame::Frame;

/// The result of offering a frame to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The connection's queue is full: it fell too far behind.
    Full,
    /// The reader is gone.
    Closed,
}

/// Where a connection's frames go.
pub trait Sink {
    fn offer(&mut self, frame: &Frame) -> Offer;
    /// Ends the connection once what is queued is sent, with `last` as its final frame.
    fn close(&mut self, last: Option<Frame>);
}

/// Identifies one connection for its whole life; never reused within a hub.
pub type ConnectionId = u64;

struct Connection<S> {
    id: ConnectionId,
    request_id: Option<RequestId>,
    opened_ms: u64,
    sink: S,
}

/// Lifetime counts, for metrics (`orgstream_connections_total{action}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub connect: u64,
    pub disconnect: u64,
    pub replaced: u64,
    pub overflow: u64,
    pub expired: u64,
    pub frames_sent: u64,
}

pub struct Connections<S> {
    next_id: ConnectionId,
    open: Vec<Connection<S>>,
    counts: Counts,
}

impl<S> Default for Connections<S> {
    fn default() -> Self {
        Connections { next_id: 1, open: Vec::new(), counts: Counts::default() }
    }
}

impl<S: Sink> Connections<S> {
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Registers a connection. An open connection with the same request id is closed with
    /// `stream.replaced` and dropped first.
    pub fn open(&mut self, request_id: Option<RequestId>, opened_ms: u64, sink: S) -> ConnectionId {
        if let Some(rid) = &request_id {
            if let Some(at) = self.open.iter().position(|c| c.request_id.as_ref() == Some(rid)) {
                let mut old = self.open.swap_remove(at);
                old.sink.close(Some(Frame::unnumbered("stream.replaced", "{}")));
                self.counts.replaced += 1;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.push(Connection { id, request_id, opened_ms, sink });
        self.counts.connect += 1;
        id
    }

    /// Forgets a connection whose reader went away. A no-op for a connection already gone
    /// (replaced, overflowed, expired): it never touches another connection.
    pub fn remove(&mut self, id: ConnectionId) -> bool {
        let before = self.open.len();
        self.open.retain(|c| c.id != id);
        let removed = self.open.len() < before;
        if removed {
            self.counts.disconnect += 1;
        }
        removed
    }

    /// Offers `frame` to every connection it is meant for: all of them, or with `target` only the
    /// connection opened with that request id.
    pub fn deliver(&mut self, frame: &Frame, target: Option<&RequestId>) -> usize {
        let mut queued = 0;
        let counts = &mut self.counts;
        self.open.retain_mut(|c| {
            if target.is_some_and(|t| c.request_id.as_ref() != Some(t)) {
                return true;
            }
            let offer = c.sink.offer(frame);
            queued += usize::from(offer == Offer::Queued);
            settle(counts, c, offer)
        });
        queued
    }

    /// Offers frames to one connection only (what observers send on connect).
    pub fn deliver_to(&mut self, id: ConnectionId, frames: &[Frame]) {
        let Some(at) = self.open.iter().position(|c| c.id == id) else { return };
        for frame in frames {
            let Some(c) = self.open.get_mut(at) else { return };
            let offer = c.sink.offer(frame);
            if !settle(&mut self.counts, c, offer) {
                self.open.swap_remove(at);
                return;
            }
        }
    }

    /// Closes, politely (no error, the client just reconnects), every connection opened before
    /// `now_ms - max_age_ms`: clients refresh their connections and undetected dead ones go.
    pub fn expire(&mut self, now_ms: u64, max_age_ms: u64) -> usize {
        let cutoff = now_ms.saturating_sub(max_age_ms);
        let before = self.open.len();
        self.open.retain_mut(|c| {
            if c.opened_ms > cutoff {
                return true;
            }
            c.sink.close(None);
            false
        });
        let expired = before - self.open.len();
        self.counts.expired += expired as u64;
        expired
    }
}

/// What an offer means for a connection: counted, and whether it stays. One that overflowed is
/// closed with `stream.overflow`; one whose reader is gone is just dropped.
fn settle<S: Sink>(counts: &mut Counts, c: &mut Connection<S>, offer: Offer) -> bool {
    match offer {
        Offer::Queued => {
            counts.frames_sent += 1;
            true
        }
        Offer::Full => {
            c.sink.close(Some(Frame::unnumbered("stream.overflow", "{}")));
            counts.overflow += 1;
            false
        }
        Offer::Closed => {
            counts.disconnect += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A sink that records what it took, holds at most `capacity` frames and can be closed.
    #[derive(Clone)]
    struct Probe {
        taken: Rc<RefCell<Vec<Frame>>>,
        capacity: usize,
        gone: Rc<RefCell<bool>>,
        closed_with: Rc<RefCell<Option<Option<String>>>>,
    }

    impl Probe {
        fn new(capacity: usize) -> Probe {
            Probe { taken: Rc::default(), capacity, gone: Rc::default(), closed_with: Rc::default() }
        }
        fn count(&self) -> usize {
            self.taken.borrow().len()
        }
        fn last_event(&self) -> Option<Option<String>> {
            self.closed_with.borrow().clone()
        }
    }

    impl Sink for Probe {
        fn offer(&mut self, frame: &Frame) -> Offer {
            if *self.gone.borrow() {
                return Offer::Closed;
            }
            if self.taken.borrow().len() >= self.capacity {
                return Offer::Full;
            }
            self.taken.borrow_mut().push(frame.clone());
            Offer::Queued
        }
        fn close(&mut self, last: Option<Frame>) {
            let name = last.map(|f| {
                let text = String::from_utf8(f.as_bytes().to_vec()).unwrap();
                text.lines().next().unwrap().trim_start_matches("event: ").to_string()
            });
            *self.closed_with.borrow_mut() = Some(name);
        }
    }

    fn rid(s: &str) -> RequestId {
        RequestId::parse(s).unwrap()
    }

    #[test]
    fn broadcast_reaches_everyone_in_order() {
        let mut set = Connections::default();
        let (a, b) = (Probe::new(10), Probe::new(10));
        set.open(None, 0, a.clone());
        set.open(Some(rid("tab")), 0, b.clone());
        for id in 1..=3 {
            assert_eq!(set.deliver(&Frame::event(id, "t", "{}"), None), 2);
        }
        let ids = |p: &Probe| p.taken.borrow().iter().map(|f| f.as_bytes()[4]).collect::<Vec<_>>();
        assert_eq!(ids(&a), b"123");
        assert_eq!(ids(&b), b"123");
        assert_eq!(set.counts().frames_sent, 6);
    }

    #[test]
    fn a_second_connection_with_the_same_request_id_replaces_the_first() {
        let mut set = Connections::default();
        let (old, new, other) = (Probe::new(10), Probe::new(10), Probe::new(10));
        let old_id = set.open(Some(rid("tab")), 0, old.clone());
        set.open(Some(rid("other")), 0, other.clone());
        let new_id = set.open(Some(rid("tab")), 0, new.clone());
        assert_ne!(old_id, new_id);
        assert_eq!(old.last_event(), Some(Some("stream.replaced".to_string())));
        assert_eq!(set.len(), 2);
        assert_eq!(set.counts().replaced, 1);
        set.deliver(&Frame::event(1, "t", "{}"), Some(&rid("tab")));
        assert_eq!((old.count(), new.count(), other.count()), (0, 1, 0));
    }

    #[test]
    fn a_late_disconnect_of_the_replaced_connection_leaves_the_new_one() {
        let mut set = Connections::default();
        let old_id = set.open(Some(rid("tab")), 0, Probe::new(10));
        let new = Probe::new(10);
        set.open(Some(rid("tab")), 0, new.clone());
        assert!(!set.remove(old_id), "the old one is already gone");
        assert_eq!(set.len(), 1);
        set.deliver(&Frame::event(1, "t", "{}"), Some(&rid("tab")));
        assert_eq!(new.count(), 1);
        assert_eq!(set.counts().disconnect, 0);
    }

    #[test]
    fn targeted_frames_reach_only_their_request_id() {
        let mut set = Connections::default();
        let (a, b, c) = (Probe::new(10), Probe::new(10), Probe::new(10));
        set.open(None, 0, a.clone());
        set.open(Some(rid("one")), 0, b.clone());
        set.open(Some(rid("two")), 0, c.clone());
        set.deliver(&Frame::event(1, "t", "{}"), Some(&rid("two")));
        assert_eq!((a.count(), b.count(), c.count()), (0, 0, 1));
    }

    #[test]
    fn an_overflowing_connection_gets_stream_overflow_and_the_rest_carry_on() {
        let mut set = Connections::default();
        let (slow, gone, fine) = (Probe::new(1), Probe::new(10), Probe::new(10));
        set.open(None, 0, slow.clone());
        set.open(None, 0, gone.clone());
        set.open(None, 0, fine.clone());
        *gone.gone.borrow_mut() = true;
        assert_eq!(set.deliver(&Frame::event(1, "t", "{}"), None), 2);
        assert_eq!(set.deliver(&Frame::event(2, "t", "{}"), None), 1);
        assert_eq!(slow.last_event(), Some(Some("stream.overflow".to_string())));
        assert_eq!(set.len(), 1);
        assert_eq!(fine.count(), 2);
        let c = set.counts();
        assert_eq!((c.overflow, c.disconnect), (1, 1));
    }

    #[test]
    fn heartbeats_find_dead_connections() {
        let mut set = Connections::default();
        let p = Probe::new(10);
        set.open(None, 0, p.clone());
        *p.gone.borrow_mut() = true;
        set.deliver(&Frame::heartbeat("t"), None);
        assert!(set.is_empty());
    }

    #[test]
    fn old_connections_expire_politely() {
        let mut set = Connections::default();
        let (old, young) = (Probe::new(10), Probe::new(10));
        set.open(None, 1_000, old.clone());
        set.open(None, 5_000, young.clone());
        assert_eq!(set.expire(4_000, 3_000), 1);
        assert_eq!(old.last_event(), Some(None), "closed without an error frame");
        assert_eq!(young.last_event(), None);
        assert_eq!(set.counts().expired, 1);
    }

    #[test]
    fn deliver_to_reaches_one_connection() {
        let mut set = Connections::default();
        let (a, b) = (Probe::new(10), Probe::new(1));
        let a_id = set.open(None, 0, a.clone());
        let b_id = set.open(None, 0, b.clone());
        set.deliver_to(a_id, &[Frame::unnumbered("version.available", "{}")]);
        assert_eq!((a.count(), b.count()), (1, 0));
        set.deliver_to(b_id, &[Frame::unnumbered("x", "{}"), Frame::unnumbered("y", "{}")]);
        assert_eq!(b.last_event(), Some(Some("stream.overflow".to_string())));
        assert_eq!(set.len(), 1);
    }
}
