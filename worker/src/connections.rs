//! The set of open streams of one org, and delivery to them.
//!
//! Pure: a connection is anything that can be offered a frame without waiting (`Sink`). Offering
//! never blocks, so one slow or dead connection cannot hold up the others; a connection whose offer
//! fails (its queue is full, or its reader went away) is dropped on the spot. That is also how dead
//! connections are found: the runtime does not tell us when an SSE client leaves, but its next
//! heartbeat cannot be queued.

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
}

struct Connection<S> {
    request_id: Option<RequestId>,
    sink: S,
}

/// What one delivery did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub queued: usize,
    pub dropped: usize,
}

pub struct Connections<S> {
    open: Vec<Connection<S>>,
}

impl<S> Default for Connections<S> {
    fn default() -> Self {
        Connections { open: Vec::new() }
    }
}

impl<S: Sink> Connections<S> {
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    pub fn add(&mut self, request_id: Option<RequestId>, sink: S) {
        self.open.push(Connection { request_id, sink });
    }

    /// Offers `frame` to every connection it is meant for: all of them, or with `target` only the
    /// connections opened with that request id. Connections that cannot take it are dropped.
    pub fn deliver(&mut self, frame: &Frame, target: Option<&RequestId>) -> Delivery {
        let mut delivery = Delivery::default();
        self.open.retain_mut(|c| {
            if target.is_some_and(|t| c.request_id.as_ref() != Some(t)) {
                return true;
            }
            match c.sink.offer(frame) {
                Offer::Queued => {
                    delivery.queued += 1;
                    true
                }
                Offer::Full | Offer::Closed => {
                    delivery.dropped += 1;
                    false
                }
            }
        });
        delivery
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
        closed: Rc<RefCell<bool>>,
    }

    impl Probe {
        fn new(capacity: usize) -> Probe {
            Probe { taken: Rc::default(), capacity, closed: Rc::default() }
        }
        fn count(&self) -> usize {
            self.taken.borrow().len()
        }
    }

    impl Sink for Probe {
        fn offer(&mut self, frame: &Frame) -> Offer {
            if *self.closed.borrow() {
                return Offer::Closed;
            }
            if self.taken.borrow().len() >= self.capacity {
                return Offer::Full;
            }
            self.taken.borrow_mut().push(frame.clone());
            Offer::Queued
        }
    }

    fn rid(s: &str) -> RequestId {
        RequestId::parse(s).unwrap()
    }

    #[test]
    fn broadcast_reaches_everyone_in_order() {
        let mut set = Connections::default();
        let (a, b) = (Probe::new(10), Probe::new(10));
        set.add(None, a.clone());
        set.add(Some(rid("tab")), b.clone());
        for id in 1..=3 {
            let d = set.deliver(&Frame::event(id, "t", "{}"), None);
            assert_eq!(d, Delivery { queued: 2, dropped: 0 });
        }
        let ids = |p: &Probe| p.taken.borrow().iter().map(|f| f.as_bytes()[4]).collect::<Vec<_>>();
        assert_eq!(ids(&a), b"123");
        assert_eq!(ids(&b), b"123");
    }

    #[test]
    fn targeted_frames_reach_only_their_request_id() {
        let mut set = Connections::default();
        let (a, b, c) = (Probe::new(10), Probe::new(10), Probe::new(10));
        set.add(None, a.clone());
        set.add(Some(rid("one")), b.clone());
        set.add(Some(rid("two")), c.clone());
        set.deliver(&Frame::event(1, "t", "{}"), Some(&rid("two")));
        assert_eq!((a.count(), b.count(), c.count()), (0, 0, 1));
    }

    #[test]
    fn a_full_or_closed_connection_is_dropped_and_the_rest_carry_on() {
        let mut set = Connections::default();
        let (slow, gone, fine) = (Probe::new(1), Probe::new(10), Probe::new(10));
        set.add(None, slow.clone());
        set.add(None, gone.clone());
        set.add(None, fine.clone());
        *gone.closed.borrow_mut() = true;
        assert_eq!(set.deliver(&Frame::event(1, "t", "{}"), None), Delivery { queued: 2, dropped: 1 });
        assert_eq!(set.deliver(&Frame::event(2, "t", "{}"), None), Delivery { queued: 1, dropped: 1 });
        assert_eq!(set.len(), 1);
        assert_eq!(fine.count(), 2);
    }

    #[test]
    fn heartbeats_find_dead_connections() {
        let mut set = Connections::default();
        let p = Probe::new(10);
        set.add(None, p.clone());
        *p.closed.borrow_mut() = true;
        set.deliver(&Frame::heartbeat("t"), None);
        assert!(set.is_empty());
    }
}
