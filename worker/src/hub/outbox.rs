//! Events in the log that the org's live streams have not been sent yet, and how they are sent.
//!
//! A publish is answered once its events are in the log (durable); they reach the live streams on
//! the hub's next turn (a zero-delay timer), together with whatever was appended meanwhile. Under
//! load that is many events per message (one message per stream carries every queued frame for
//! it, in id order, at most `Coalesce` per message); an event published alone goes out at once,
//! with no added delay. The publisher's answer does not wait for the fan-out, so a fast publisher
//! feeds the queue instead of waiting on it.
//!
//! A fan-out that starts within `QUIET_MS` of the end of the last one and of the runtime's work
//! on it (`SEND_US` per send) finds the hub busy, and is sent `SENDS_PER_TURN` messages per turn
//! (`fan_out`): a publish that arrives while it is under way is appended and answered between two
//! turns, and its events are queued for the next fan-out, with every other event that arrives
//! meanwhile. Without the turns, a lone publisher's next event always arrived after the whole
//! fan-out and went out alone. A fan-out that finds the hub quiet goes in one turn: each turn
//! costs the runtime a timer, so an event alone reaches every stream soonest that way.
//!
//! Anything that reads the log for a stream (a connect, the next page of one catching up) sends
//! the queue first: an event reaches a stream either in what it read or live, never both.
//!
//! The last id sent to every stream is stored beside the log. A hub that starts with appended
//! events it never sent (it stopped between an append and the end of the fan-out that sends it) closes its streams' sockets with 1012 (a
//! restart); their front workers end the streams and the clients resume by id from the log.
//!
//! Pure: the queue and the fan-out under way (`Outbox`) and the split into messages (`messages`,
//! `send`); the hub schedules the turns and stores the last id sent.

use std::cell::{Cell, RefCell};

use crate::config::Coalesce;
use crate::hub::fan_out::FanOut;
use crate::hub::log::Appended;
use crate::hub::sockets::{Sockets, STREAM_TAG};
use crate::wire::hub_api::CloseCode;

/// The appended events not sent yet, in id order, the fan-out under way, and whether a turn to
/// send them is scheduled.
pub struct Outbox<S: Sockets> {
    queued: RefCell<Vec<Appended>>,
    /// Bytes of the frames queued.
    bytes: Cell<usize>,
    scheduled: Cell<bool>,
    /// The fan-out under way.
    sending: RefCell<Option<Sending<S>>>,
    /// When the last fan-out ended (ms), and its sends.
    ended_at: Cell<Option<(u64, usize)>>,
}

/// The sends of the events taken last, not all made yet.
struct Sending<S: Sockets> {
    plan: FanOut<S>,
    /// When it started (ms).
    started: u64,
    /// Sends per turn.
    per_turn: usize,
    /// Sends planned.
    sends: usize,
    /// The first id it carries.
    first: u64,
}

impl<S: Sockets> Default for Outbox<S> {
    fn default() -> Self {
        Outbox {
            queued: RefCell::default(),
            bytes: Cell::default(),
            scheduled: Cell::default(),
            sending: RefCell::default(),
            ended_at: Cell::default(),
        }
    }
}

/// Sends per turn of a fan-out: a publish that arrives meanwhile waits for at most this many
/// sends (about 0.7 ms of the hub's time at the 6-7 us per send measured by `npm run bench:roles`)
/// rather than for every stream's.
pub const SENDS_PER_TURN: usize = 100;

/// A fan-out that starts this long after the last one ended (and the runtime's work on it,
/// `SEND_US`) finds the hub quiet, and goes in one turn. Longer than a closed-loop publisher's round trip (a few ms locally), so that a publisher
/// sending one event after another keeps the hub busy.
pub const QUIET_MS: u64 = 50;

/// The runtime's own work per send, after the turn that sent it (writing the message out; about
/// 38 us measured locally, docs/scale.md's `c`): a hub is quiet `QUIET_MS` after that work too,
/// so a fan-out to 5000 streams keeps it busy for about 0.2 s more.
pub const SEND_US: u64 = 40;

/// Whether a fan-out starting at `now` finds the hub busy, after the last one (when and its sends).
fn busy(now: u64, last: Option<(u64, usize)>) -> bool {
    last.is_some_and(|(ended, sends)| {
        let work_ms = (sends as u64).saturating_mul(SEND_US) / 1000;
        now.saturating_sub(ended) < work_ms.saturating_add(QUIET_MS)
    })
}

/// How much of a fan-out a turn sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// `SENDS_PER_TURN` when the fan-out started with the hub busy, else all of it.
    ByTurns,
    /// All of it, now (before anything reads the log for a stream).
    Now,
}

/// What a turn of sending did.
#[derive(Default)]
pub struct Turn {
    /// The events taken from the queue for a new fan-out (nothing when it went on with the one
    /// under way, or nothing was queued).
    pub taken: Vec<Appended>,
    /// Frames sent to the streams.
    pub frames: u64,
    /// When the fan-out that ended in this turn started (ms); `None` while it goes on.
    pub ended: Option<u64>,
}

/// Messages' worth of events the queue holds at most before a publish sends it first (and so
/// waits for the fan-out, as every publish did before coalescing): the hub's memory stays bounded
/// when publishers outrun the fan-out (8 MiB of frames queued with the default bound, and as much
/// again in the fan-out under way, which holds the frames it carries and one encoded message).
pub const MAX_QUEUED_MESSAGES: usize = 16;

impl<S: Sockets> Outbox<S> {
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

    /// Whether a turn must be scheduled: something is queued or a fan-out is under way, and no
    /// turn is scheduled yet. When true, the turn counts as scheduled until `turn_came`.
    pub fn wants_turn(&self) -> bool {
        if self.scheduled.get() || (self.queued.borrow().is_empty() && self.sending.borrow().is_none()) {
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

    /// The first id of the fan-out under way: the streams may not have been sent it yet.
    pub fn sending_from(&self) -> Option<u64> {
        self.sending.borrow().as_ref().map(|s| s.first)
    }

    /// Takes everything queued.
    fn take(&self) -> Vec<Appended> {
        self.bytes.set(0);
        std::mem::take(&mut *self.queued.borrow_mut())
    }

    /// One turn's sending (`pace`): of the fan-out under way, or, when none is, of a new one with
    /// everything queued (`now`: the clock, in ms).
    pub fn turn(&self, sockets: &S, bound: Coalesce, pace: Pace, now: u64) -> Turn {
        let mut sending = self.sending.borrow_mut();
        let mut turn = Turn::default();
        if sending.is_none() {
            turn.taken = self.take();
            if turn.taken.is_empty() {
                return turn;
            }
            let mut plan = FanOut::default();
            for message in messages(&turn.taken, bound) {
                plan.plan(sockets, message);
            }
            let sends = plan.len();
            let per_turn = if busy(now, self.ended_at.get()) { SENDS_PER_TURN } else { usize::MAX };
            let first = turn.taken.first().map_or(0, |a| a.id);
            *sending = Some(Sending { plan, started: now, per_turn, sends, first });
        }
        if let Some(under_way) = sending.as_mut() {
            let at_most = match pace {
                Pace::ByTurns => under_way.per_turn,
                Pace::Now => usize::MAX,
            };
            turn.frames = under_way.plan.send(sockets, at_most);
            if under_way.plan.is_done() {
                turn.ended = Some(under_way.started);
                self.ended_at.set(Some((now, under_way.sends)));
            }
        }
        if turn.ended.is_some() {
            *sending = None;
        }
        turn
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

/// Sends queued events to every stream they are for at once, a message at a time; the frames
/// sent. (The relays send so; the hub by turns, `Outbox::turn`.)
pub fn send<S: Sockets>(sockets: &S, queued: &[Appended], bound: Coalesce) -> u64 {
    let mut plan = FanOut::default();
    for message in messages(queued, bound) {
        plan.plan(sockets, message);
    }
    plan.send(sockets, usize::MAX)
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

    const ALL: Coalesce = Coalesce { frames: 256, bytes: 1 << 20 };

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
        let outbox: Outbox<Runtime> = Outbox::default();
        assert!(!outbox.wants_turn(), "nothing queued, no turn");
        outbox.push(vec![event(1, 1)]);
        assert!(outbox.wants_turn());
        outbox.push(vec![event(2, 1), event(3, 1)]);
        assert!(!outbox.wants_turn() && outbox.turn_scheduled(), "one turn is scheduled already");
        outbox.turn_came();
        let turn = outbox.turn(&rt, ALL, Pace::ByTurns, 7);
        assert_eq!((turn.taken.len(), turn.frames, turn.ended), (3, 6, Some(7)));
        assert_eq!((a.messages(), b.messages()), (1, 1));
        assert_eq!(a.event_ids(), vec![1, 2, 3]);
        assert!(!outbox.wants_turn(), "all sent: no turn");
        let nothing = outbox.turn(&rt, ALL, Pace::ByTurns, 8);
        assert_eq!((nothing.taken.len(), nothing.frames, nothing.ended), (0, 0, None), "a turn finds nothing");
    }

    /// A turn of `outbox`: (events taken, frames sent, whether its fan-out ended).
    fn turn_at(outbox: &Outbox<Runtime>, rt: &Runtime, pace: Pace, now: u64) -> (usize, u64, bool) {
        let turn = outbox.turn(rt, ALL, pace, now);
        (turn.taken.len(), turn.frames, turn.ended.is_some())
    }

    #[test]
    fn a_busy_hub_fans_out_by_turns_and_what_is_published_meanwhile_waits_for_the_next_one() {
        let rt = Runtime::default();
        let streams: Vec<_> = (0..150).map(|_| rt.accept(None)).collect();
        let outbox: Outbox<Runtime> = Outbox::default();
        outbox.push(vec![event(1, 1)]);
        assert_eq!(turn_at(&outbox, &rt, Pace::ByTurns, 0), (1, 150, true), "the hub was quiet: one turn");
        outbox.push(vec![event(2, 1)]);
        let busy = QUIET_MS - 1;
        assert_eq!(turn_at(&outbox, &rt, Pace::ByTurns, busy), (1, SENDS_PER_TURN as u64, false), "busy: by turns");
        assert_eq!(outbox.sending_from(), Some(2), "event 2 is under way");
        assert!(streams[SENDS_PER_TURN].event_ids() == vec![1], "the rest wait for the next turn");
        // Published between two turns of the fan-out.
        outbox.push(vec![event(3, 1)]);
        outbox.push(vec![event(4, 1)]);
        assert!(outbox.wants_turn(), "the fan-out goes on at the next turn");
        outbox.turn_came();
        assert_eq!(turn_at(&outbox, &rt, Pace::ByTurns, busy + 1), (0, 50, true), "the rest of event 2, only");
        assert_eq!(outbox.sending_from(), None, "every stream has event 2");
        assert!(outbox.wants_turn(), "3 and 4 are queued");
        outbox.turn_came();
        assert_eq!(turn_at(&outbox, &rt, Pace::ByTurns, busy + 2), (2, 2 * SENDS_PER_TURN as u64, false));
        // Anything that reads the log first sends everything under way.
        assert_eq!(turn_at(&outbox, &rt, Pace::Now, busy + 2), (0, 100, true));
        for stream in &streams {
            assert_eq!(stream.event_ids(), vec![1, 2, 3, 4]);
            assert_eq!(stream.messages(), 3, "3 and 4 went together");
        }
        outbox.push(vec![event(5, 1)]);
        let quiet = busy + 2 + QUIET_MS + 150 * SEND_US / 1000;
        assert_eq!(turn_at(&outbox, &rt, Pace::ByTurns, quiet), (1, 150, true), "quiet again");
    }

    #[test]
    fn a_larger_fan_out_keeps_the_hub_busy_for_longer() {
        assert!(!busy(0, None), "the first fan-out finds the hub quiet");
        assert!(busy(1000 + QUIET_MS - 1, Some((1000, 10))));
        assert!(!busy(1000 + QUIET_MS, Some((1000, 10))));
        // 5000 sends: about 0.2 s of the runtime's work after the turn.
        assert!(busy(1000 + 200 + QUIET_MS - 1, Some((1000, 5000))));
        assert!(!busy(1000 + 200 + QUIET_MS, Some((1000, 5000))));
    }

    #[test]
    fn the_queue_is_full_at_sixteen_messages_worth_of_frames_or_bytes() {
        let outbox: Outbox<Runtime> = Outbox::default();
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
