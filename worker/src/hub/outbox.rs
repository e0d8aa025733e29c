//! Events in the log that the org's live streams have not been sent yet, and how they are sent.
//!
//! A publish is answered once its events are in the log (durable); they reach the live streams on
//! the hub's next turn (a zero-delay timer), together with whatever was appended meanwhile. Under
//! load that is many events per message (one message per stream carries every queued frame for
//! it, in id order, at most `Coalesce` per message); an event published alone goes out at once,
//! with no added delay. The publisher's answer does not wait for the fan-out, so a fast publisher
//! feeds the queue instead of waiting on it.
//!
//! Anything that reads the log for a stream (a connect, the next page of one catching up) sends
//! the queue first: an event reaches a stream either in what it read or live, never both.
//!
//! The last id sent is stored beside the log. A hub that starts with appended events it never sent
//! (it stopped between an append and the next turn) closes its streams' sockets with 1012 (a
//! restart); their front workers end the streams and the clients resume by id from the log.
//!
//! Pure: the queue (`Outbox`) and the split into messages (`messages`, `send`); the hub schedules
//! the turn and stores the last id sent.

use std::cell::{Cell, RefCell};

use crate::config::Coalesce;
use crate::hub::log::Appended;
use crate::hub::sockets::{self, Sockets, STREAM_TAG};
use crate::wire::hub_api::CloseCode;

/// The appended events not sent yet, in id order, and whether a turn to send them is scheduled.
#[derive(Default)]
pub struct Outbox {
    queued: RefCell<Vec<Appended>>,
    /// Bytes of the frames queued.
    bytes: Cell<usize>,
    scheduled: Cell<bool>,
}

/// Messages' worth of events the queue holds at most before a publish sends it first (and so
/// waits for the fan-out, as every publish did before coalescing): the hub's memory stays bounded
/// (8 MiB with the default bound) when publishers outrun the fan-out.
pub const MAX_QUEUED_MESSAGES: usize = 16;

impl Outbox {
    /// Queues events just appended (ids above everything queued).
    pub fn push(&self, appended: Vec<Appended>) {
        self.bytes.set(self.bytes.get() + appended.iter().map(|a| a.frame.len()).sum::<usize>());
        self.queued.borrow_mut().extend(appended);
    }

    /// Whether the queue holds `MAX_QUEUED_MESSAGES` full messages' worth or more.
    pub fn is_full(&self, bound: Coalesce) -> bool {
        self.queued.borrow().len() >= bound.frames.saturating_mul(MAX_QUEUED_MESSAGES)
            || self.bytes.get() >= bound.bytes.saturating_mul(MAX_QUEUED_MESSAGES)
    }

    /// Whether a turn must be scheduled: something is queued and no turn is scheduled yet. When
    /// true, the turn counts as scheduled until `turn_came`.
    pub fn wants_turn(&self) -> bool {
        if self.scheduled.get() || self.queued.borrow().is_empty() {
            return false;
        }
        self.scheduled.set(true);
        true
    }

    /// Whether a turn is scheduled and has not come yet.
    pub fn turn_scheduled(&self) -> bool {
        self.scheduled.get()
    }

    /// The scheduled turn came (whatever it finds queued, possibly nothing: a connect may have
    /// sent the queue already).
    pub fn turn_came(&self) {
        self.scheduled.set(false);
    }

    /// Takes everything queued.
    pub fn take(&self) -> Vec<Appended> {
        self.bytes.set(0);
        std::mem::take(&mut *self.queued.borrow_mut())
    }
}

/// Splits queued events into messages: consecutive events, at most `bound.frames` frames and
/// `bound.bytes` bytes of frames each, and never empty (an event larger than the bound is a
/// message of its own).
pub fn messages(queued: &[Appended], bound: Coalesce) -> Vec<&[Appended]> {
    let mut out = Vec::new();
    let mut rest = queued;
    while !rest.is_empty() {
        let (mut count, mut bytes) = (0, 0usize);
        for event in rest {
            let len = event.frame.len();
            if count > 0 && (count >= bound.frames || bytes + len > bound.bytes) {
                break;
            }
            count += 1;
            bytes += len;
        }
        // At least one event each time, so this ends.
        let Some((message, after)) = rest.split_at_checked(count) else { break };
        out.push(message);
        rest = after;
    }
    out
}

/// Sends queued events to every stream they are for, a message at a time; the frames sent.
pub fn send<S: Sockets>(sockets: &S, queued: &[Appended], bound: Coalesce) -> u64 {
    messages(queued, bound).into_iter().map(|message| sockets::fan_out(sockets, message)).sum()
}

/// The close of a stream whose hub restarted (RFC 6455's "service restart"): its front worker
/// ends the stream and the client resumes by id.
pub const RESTART: CloseCode = CloseCode::Other(1012);

/// A hub that starts with events appended after the last id it sent: its open streams may have
/// missed them, so each is closed as a restart, and resumes by id from the log. How many closed.
pub fn restart_streams<S: Sockets>(sockets: &S) -> u64 {
    let mut closed = 0;
    for socket in sockets.tagged(STREAM_TAG) {
        if sockets.is_open(&socket) {
            sockets.close(&socket, RESTART);
            closed += 1;
        }
    }
    closed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::probes::Runtime;

    fn event(id: u64, data_bytes: usize) -> Appended {
        Appended::new(id, 0, "t", "x".repeat(data_bytes), None)
    }

    fn ids(messages: &[&[Appended]]) -> Vec<Vec<u64>> {
        messages.iter().map(|m| m.iter().map(|e| e.id).collect()).collect()
    }

    #[test]
    fn queued_events_go_together_up_to_the_frame_bound() {
        let queued: Vec<Appended> = (1..=5).map(|id| event(id, 10)).collect();
        let bound = Coalesce { frames: 2, bytes: 1 << 20 };
        assert_eq!(ids(&messages(&queued, bound)), vec![vec![1, 2], vec![3, 4], vec![5]]);
        let all = Coalesce { frames: 256, bytes: 1 << 20 };
        assert_eq!(ids(&messages(&queued, all)), vec![vec![1, 2, 3, 4, 5]]);
        assert!(messages(&[], all).is_empty());
    }

    #[test]
    fn the_byte_bound_splits_too_and_a_large_event_goes_alone() {
        let queued = vec![event(1, 100), event(2, 100), event(3, 5000), event(4, 10)];
        let one = queued[0].frame.len();
        let bound = Coalesce { frames: 100, bytes: 2 * one };
        assert_eq!(ids(&messages(&queued, bound)), vec![vec![1, 2], vec![3], vec![4]]);
    }

    #[test]
    fn one_message_per_stream_carries_every_queued_frame_in_order() {
        let rt = Runtime::default();
        let (a, b) = (rt.accept(None), rt.accept(Some("tab")));
        let outbox = Outbox::default();
        assert!(!outbox.wants_turn(), "nothing queued, no turn");
        outbox.push(vec![event(1, 1)]);
        assert!(outbox.wants_turn());
        outbox.push(vec![event(2, 1), event(3, 1)]);
        assert!(!outbox.wants_turn() && outbox.turn_scheduled(), "one turn is scheduled already");
        let queued = outbox.take();
        assert_eq!(send(&rt, &queued, Coalesce { frames: 256, bytes: 1 << 20 }), 6);
        assert_eq!((a.messages(), b.messages()), (1, 1));
        assert_eq!(a.event_ids(), vec![1, 2, 3]);
        outbox.turn_came();
        assert!(!outbox.wants_turn() && outbox.take().is_empty(), "sent already: the turn finds nothing");
    }

    #[test]
    fn the_queue_is_full_at_sixteen_messages_worth_of_frames_or_bytes() {
        let outbox = Outbox::default();
        let bound = Coalesce { frames: 2, bytes: 1 << 20 };
        outbox.push((1..=31).map(|id| event(id, 1)).collect());
        assert!(!outbox.is_full(bound));
        outbox.push(vec![event(32, 1)]);
        assert!(outbox.is_full(bound), "32 frames: 16 messages of 2");
        outbox.take();
        assert!(!outbox.is_full(bound));
        let small = Coalesce { frames: 1000, bytes: 1024 };
        outbox.push(vec![event(33, 16 * 1024)]);
        assert!(outbox.is_full(small), "16 KiB: 16 messages of 1 KiB");
    }

    #[test]
    fn a_restart_closes_every_open_stream_so_it_resumes_from_the_log() {
        let rt = Runtime::default();
        let (a, b) = (rt.accept(None), rt.accept(Some("tab")));
        b.close(CloseCode::ClientLeft);
        assert_eq!(restart_streams(&rt), 1);
        assert_eq!(a.closed_with(), Some(RESTART));
    }
}
