//! The hub's side of the relay tier (`RELAYS_PER_ORG` of 2 or more): what it has handed each relay
//! that holds streams, and what it still has to (`Links`).
//!
//! Every event the hub takes from its outbox goes to each linked relay's `pending`, in id order
//! (one copy of each event, shared by every relay's queue). A relay gets one hand-off at a time
//! (`Handoff`: what is pending after the last id it confirmed, at most `HANDOFF_MAX_EVENTS` /
//! `HANDOFF_MAX_BYTES`); its answer confirms it, and what came meanwhile goes in the next. So a
//! slow relay gets fewer, larger hand-offs, and the hub sends O(relays) messages per batch, not
//! one per stream. A failed hand-off is sent again (`RETRY_MS` later). A relay that falls more
//! than `MAX_PENDING` events or `MAX_PENDING_BYTES` behind is handed on from the hub's log
//! instead (its pending events are dropped, so the hub's memory stays bounded), a page at a time,
//! until it has caught up; so is every relay after the hub restarted with events it had not
//! confirmed. Only when the log no longer holds what a relay missed (retention) is the relay told
//! to restart: its streams end and resume from the log by id, each as any late reader does.
//!
//! Pure: the glue (`relay_links`) posts what `next` gives (reading the log through the function
//! it is given) and reports the answer (`answered`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::hub::log::Appended;
use crate::wire::hub_api::CloseCode;
use crate::wire::relay_api::{CloseStreams, Delivered, Delivery, RelayAddress, HELD_EVERY_MS};

/// Events one relay may have pending before it is handed on from the log instead.
pub const MAX_PENDING: usize = 4096;
/// Bytes of frames one relay may have pending before it is handed on from the log instead (the
/// hub's memory: each event is held once, however many relays wait for it).
pub const MAX_PENDING_BYTES: usize = 8 * 1024 * 1024;
/// The most one hand-off carries; the rest goes in the next.
pub const HANDOFF_MAX_EVENTS: usize = 1024;
pub const HANDOFF_MAX_BYTES: usize = 2 * 1024 * 1024;

/// How long after a failed hand-off the hub tries again.
pub const RETRY_MS: i32 = 1000;

/// A hand-off to post: the events after `after`, to `relay`.
#[derive(Debug)]
pub struct Handoff {
    pub to: RelayAddress,
    pub after: u64,
    pub restart: bool,
    pub events: Vec<Rc<Delivered>>,
}

impl Handoff {
    /// The id it goes through.
    pub fn through(&self) -> u64 {
        self.events.last().map_or(self.after, |e| e.id)
    }
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    /// The id it goes through.
    through: u64,
    /// Whether it carried the restart.
    restart: bool,
    /// Whether it was read from the log (failed, the relay is handed on from the log again).
    from_log: bool,
}

#[derive(Debug, Default)]
struct Link {
    /// The last id the relay confirmed.
    acked: u64,
    /// Events after `acked` (or after `restart`) not confirmed yet, in id order.
    pending: Vec<Rc<Delivered>>,
    /// Bytes of frames in `pending`.
    pending_bytes: usize,
    /// The hand-off in flight.
    in_flight: Option<InFlight>,
    /// The relay is handed on from the log, not from `pending` (which stays empty): it fell too
    /// far behind, or the hub restarted before it confirmed everything.
    from_log: bool,
    /// The relay must restart its streams and go on after this id (it missed events the log no
    /// longer holds).
    restart: Option<u64>,
    /// When a census of this relay was last asked for (ms).
    census_at: Option<u64>,
}

impl Link {
    /// The next page from the log for a relay handed on from it: the events after what it
    /// confirmed, through `taken` at most. `None` when there is none to send: it has caught up
    /// (and is handed on from `pending` again), or the log no longer holds the event right after
    /// what it confirmed (then it is to restart after `taken`).
    fn read_log(
        &mut self,
        read_log: &impl Fn(u64, usize) -> Result<Vec<Delivered>, String>,
        taken: u64,
    ) -> Option<Vec<Rc<Delivered>>> {
        if self.acked >= taken {
            self.from_log = false;
            return None;
        }
        let page = read_log(self.acked, HANDOFF_MAX_EVENTS).unwrap_or_default();
        if page.first().is_none_or(|e| e.id != self.acked + 1) {
            // Dropped by retention (or the read failed): its streams resume from the log by id.
            self.from_log = false;
            self.restart = Some(taken);
            return None;
        }
        let events = bounded(page.into_iter().filter(|e| e.id <= taken).map(Rc::new));
        if events.last().is_some_and(|e| e.id >= taken) {
            // What comes next is pending like any relay's.
            self.from_log = false;
        }
        Some(events)
    }

    /// Whether a census may be asked for now (at most one every `HELD_EVERY_MS`); if so, it is.
    fn census(&mut self, now_ms: u64) -> bool {
        if self.census_at.is_some_and(|at| now_ms < at.saturating_add(HELD_EVERY_MS)) {
            return false;
        }
        self.census_at = Some(now_ms);
        true
    }

    fn drop_pending(&mut self, through: u64) {
        self.pending.retain(|e| e.id > through);
        self.pending_bytes = self.pending.iter().map(|e| e.frame.len()).sum();
    }
}

/// The relays the hub hands events to.
#[derive(Default)]
pub struct Links {
    org: RefCell<Option<String>>,
    links: RefCell<BTreeMap<u32, Link>>,
    /// The last id taken from the outbox: a relay linked now goes on from there.
    taken: Cell<u64>,
    /// Streams replaced on a relay, to be closed there.
    closing: RefCell<BTreeMap<u32, Vec<u64>>>,
    /// Relays to ask which streams they hold (`recount`).
    censuses: RefCell<BTreeSet<u32>>,
}

impl Links {
    /// After waking: the relays that hold streams, which all confirmed `sent`; the log's latest
    /// id is `latest`. Events after `sent` (the hub stopped before it had handed them on, or
    /// before it had stored that the relays confirmed them) are handed on from the log.
    pub fn woke(&self, org: Option<String>, relays: &[u32], sent: u64, latest: u64) {
        *self.org.borrow_mut() = org;
        self.taken.set(latest);
        let mut links = self.links.borrow_mut();
        for relay in relays {
            links.insert(*relay, Link { acked: sent, from_log: sent < latest, ..Link::default() });
        }
    }

    pub fn org(&self) -> Option<String> {
        self.org.borrow().clone()
    }

    pub fn set_org(&self, org: &str) {
        *self.org.borrow_mut() = Some(org.to_string());
    }

    /// Whether any relay is linked.
    pub fn any(&self) -> bool {
        !self.links.borrow().is_empty()
    }

    /// Events taken from the outbox, through `last`: pending for every linked relay (`events`,
    /// in id order; empty when no relay is linked, see `delivered`), but those handed on from the
    /// log. The relays that fell too far behind with these, now handed on from the log.
    pub fn push(&self, last: u64, events: Vec<Delivered>) -> Vec<u32> {
        self.taken.set(self.taken.get().max(last));
        let mut links = self.links.borrow_mut();
        if links.is_empty() || events.is_empty() {
            return Vec::new();
        }
        let bytes: usize = events.iter().map(|e| e.frame.len()).sum();
        let shared: Vec<Rc<Delivered>> = events.into_iter().map(Rc::new).collect();
        let mut behind = Vec::new();
        for (relay, link) in links.iter_mut().filter(|(_, l)| !l.from_log) {
            link.pending.extend(shared.iter().cloned());
            link.pending_bytes += bytes;
            if link.pending.len() > MAX_PENDING || link.pending_bytes > MAX_PENDING_BYTES {
                link.pending.clear();
                link.pending_bytes = 0;
                link.from_log = true;
                behind.push(*relay);
            }
        }
        behind
    }

    /// Where a relay that opens a stream is from now on: where it says it is, if it knows and is
    /// linked already; else where the hub hands on from (a relay just linked holds no stream, so
    /// it misses nothing by starting there).
    pub fn join(&self, relay: u32, position: Option<u64>) -> u64 {
        let mut links = self.links.borrow_mut();
        match links.get(&relay) {
            Some(link) => position.unwrap_or(link.acked),
            None => {
                let taken = self.taken.get();
                links.insert(relay, Link { acked: taken, ..Link::default() });
                taken
            }
        }
    }

    /// A relay holds no stream any more: nothing more is handed to it.
    pub fn unlink(&self, relay: u32) {
        self.links.borrow_mut().remove(&relay);
    }

    /// A stream relay `relay` holds was replaced: it is to be closed there (`take_closing`).
    pub fn close_later(&self, relay: u32, stream: u64) {
        self.closing.borrow_mut().entry(relay).or_default().push(stream);
    }

    /// The streams to close, per relay.
    pub fn take_closing(&self) -> Vec<CloseStreams> {
        let Some(org) = self.org() else { return Vec::new() };
        let closing = std::mem::take(&mut *self.closing.borrow_mut());
        closing
            .into_iter()
            .map(|(relay, streams)| CloseStreams {
                to: RelayAddress { org: org.clone(), relay },
                streams,
                code: CloseCode::Replaced.code(),
            })
            .collect()
    }

    /// The hand-offs to post now: to each relay with something pending and none in flight.
    /// `read_log(after, limit)` reads the log for relays handed on from it: the events after
    /// `after`, oldest first, at most `limit`.
    pub fn next(&self, read_log: impl Fn(u64, usize) -> Result<Vec<Delivered>, String>) -> Vec<Handoff> {
        let Some(org) = self.org() else { return Vec::new() };
        let taken = self.taken.get();
        let mut out = Vec::new();
        for (relay, link) in self.links.borrow_mut().iter_mut() {
            if link.in_flight.is_some() {
                continue;
            }
            if link.from_log && link.restart.is_none() {
                if let Some(events) = link.read_log(&read_log, taken) {
                    let handoff = Handoff {
                        to: RelayAddress { org: org.clone(), relay: *relay },
                        after: link.acked,
                        restart: false,
                        events,
                    };
                    link.in_flight = Some(InFlight { through: handoff.through(), restart: false, from_log: true });
                    out.push(handoff);
                    continue;
                }
            }
            if link.pending.is_empty() && link.restart.is_none() {
                continue;
            }
            let after = link.restart.unwrap_or(link.acked);
            let events = bounded(link.pending.iter().filter(|e| e.id > after).cloned());
            let handoff = Handoff {
                to: RelayAddress { org: org.clone(), relay: *relay },
                after,
                restart: link.restart.is_some(),
                events,
            };
            link.in_flight = Some(InFlight { through: handoff.through(), restart: handoff.restart, from_log: false });
            out.push(handoff);
        }
        out
    }

    /// A relay answered the hand-off that went through `through` (or failed to): whether one
    /// failed (the glue sends it again later).
    pub fn answered(&self, relay: u32, through: u64, answer: &Result<Delivery, String>) -> bool {
        let mut links = self.links.borrow_mut();
        let Some(link) = links.get_mut(&relay) else { return false };
        let Some(in_flight) = link.in_flight else { return false };
        if in_flight.through != through {
            // An answer to a link made since (the relay was unlinked and linked again).
            return false;
        }
        link.in_flight = None;
        match answer {
            Ok(_) => {
                link.acked = link.acked.max(through);
                // A restart asked for while this hand-off was out is still to be sent.
                if in_flight.restart && link.restart.is_some_and(|at| at <= through) {
                    link.restart = None;
                }
                link.drop_pending(through);
                false
            }
            Err(_) => {
                if in_flight.from_log {
                    // Its events may be in no relay's `pending` (the page reached what was taken):
                    // read again, with everything after them.
                    link.from_log = true;
                    link.pending.clear();
                    link.pending_bytes = 0;
                }
                true
            }
        }
    }

    /// Whether to ask `relay` which streams it holds: it holds fewer than `recorded`, and it was
    /// not asked in the last `HELD_EVERY_MS`.
    pub fn census_due(&self, relay: u32, held: u64, recorded: u64, now_ms: u64) -> bool {
        held < recorded && self.links.borrow_mut().get_mut(&relay).is_some_and(|link| link.census(now_ms))
    }

    /// A connect was refused for lack of stream room: every linked relay not asked in the last
    /// `HELD_EVERY_MS` is to be asked which streams it holds (`take_censuses`). Streams a relay
    /// lost without a word (the runtime restarted it) would otherwise count against the limits
    /// until the org's next event, however long it is quiet.
    pub fn recount(&self, now_ms: u64) {
        let due: Vec<u32> =
            self.links.borrow_mut().iter_mut().filter_map(|(r, link)| link.census(now_ms).then_some(*r)).collect();
        self.censuses.borrow_mut().extend(due);
    }

    /// The relays to ask which streams they hold.
    pub fn take_censuses(&self) -> Vec<RelayAddress> {
        let Some(org) = self.org() else { return Vec::new() };
        let due = std::mem::take(&mut *self.censuses.borrow_mut());
        due.into_iter().map(|relay| RelayAddress { org: org.clone(), relay }).collect()
    }

    /// The last id every linked relay confirmed (what the hub may store as sent).
    pub fn settled(&self) -> u64 {
        let links = self.links.borrow();
        links.values().map(|l| l.acked).min().unwrap_or(self.taken.get()).min(self.taken.get())
    }
}

/// The first of `events` that fit one hand-off (`HANDOFF_MAX_EVENTS`, `HANDOFF_MAX_BYTES`; one
/// event always does).
fn bounded(events: impl Iterator<Item = Rc<Delivered>>) -> Vec<Rc<Delivered>> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for event in events {
        if !out.is_empty() && (out.len() >= HANDOFF_MAX_EVENTS || bytes + event.frame.len() > HANDOFF_MAX_BYTES) {
            break;
        }
        bytes += event.frame.len();
        out.push(event);
    }
    out
}

/// An appended event as a relay is handed it.
pub fn delivered(event: &Appended) -> Delivered {
    Delivered {
        id: event.id,
        // Frames are text: built from strings (`Frame::event`).
        frame: String::from_utf8_lossy(event.frame.as_bytes()).into_owned(),
        request_id: event.target.as_ref().map(|t| t.request_id.as_str().to_string()),
        sub: event.target.as_ref().and_then(|t| t.sub.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(ids: std::ops::RangeInclusive<u64>) -> Vec<Delivered> {
        ids.map(|id| Delivered { id, frame: format!("id: {id}\n\n"), request_id: None, sub: None }).collect()
    }

    fn ok() -> Result<Delivery, String> {
        Ok(Delivery { sent: 1, held: Some(1), ..Delivery::default() })
    }

    fn ids(d: &Handoff) -> Vec<u64> {
        d.events.iter().map(|e| e.id).collect()
    }

    fn linked(relays: &[u32]) -> Links {
        let links = Links::default();
        links.woke(Some("acme".into()), relays, 0, 0);
        links
    }

    /// A log that holds `ids` (retention dropped what came before).
    fn log(ids: std::ops::RangeInclusive<u64>) -> impl Fn(u64, usize) -> Result<Vec<Delivered>, String> {
        move |after, limit| {
            let from = (after + 1).max(*ids.start());
            Ok(events(from..=(*ids.end()).min(from + limit as u64 - 1)))
        }
    }

    fn no_log(_: u64, _: usize) -> Result<Vec<Delivered>, String> {
        Err("not read".into())
    }

    #[test]
    fn one_hand_off_at_a_time_per_relay_and_what_came_meanwhile_goes_next() {
        let links = linked(&[2]);
        links.push(2, events(1..=2));
        let first = links.next(no_log);
        assert_eq!((first.len(), first[0].after, ids(&first[0])), (1, 0, vec![1, 2]));
        links.push(5, events(3..=5));
        assert!(links.next(no_log).is_empty(), "one in flight");
        assert!(!links.answered(2, 2, &ok()));
        assert_eq!(links.settled(), 2);
        let second = links.next(no_log);
        assert_eq!((second[0].after, ids(&second[0])), (2, vec![3, 4, 5]));
        assert!(links.answered(2, 5, &Err("down".into())), "failed: to be sent again");
        let again = links.next(no_log);
        assert_eq!((again[0].after, ids(&again[0])), (2, vec![3, 4, 5]), "the same, after the same id");
        links.answered(2, 5, &ok());
        assert!(links.next(no_log).is_empty());
        assert_eq!(links.settled(), 5);
    }

    #[test]
    fn a_hand_off_is_bounded_and_the_rest_goes_next() {
        let links = linked(&[1]);
        links.push(HANDOFF_MAX_EVENTS as u64 + 5, events(1..=HANDOFF_MAX_EVENTS as u64 + 5));
        let first = links.next(no_log);
        assert_eq!(first[0].events.len(), HANDOFF_MAX_EVENTS);
        links.answered(1, first[0].through(), &ok());
        let second = links.next(no_log);
        assert_eq!((second[0].after, second[0].events.len()), (HANDOFF_MAX_EVENTS as u64, 5));
    }

    #[test]
    fn a_relay_linked_later_goes_on_from_the_hubs_position_and_one_that_knows_stays() {
        let links = linked(&[]);
        links.push(3, events(1..=3));
        assert_eq!(links.join(1, Some(0)), 3, "a new link starts where the hub hands on from");
        links.push(4, events(4..=4));
        assert_eq!(links.join(1, Some(4)), 4, "a linked relay that knows where it is");
        assert_eq!(links.join(1, None), 3, "a linked relay that just started: its last confirmed id");
    }

    #[test]
    fn a_relay_too_far_behind_is_handed_on_from_the_log_a_page_at_a_time_and_then_from_pending() {
        let links = linked(&[0, 1]);
        let over = MAX_PENDING as u64 + 1;
        // Relay 1 keeps up; relay 0 does not answer.
        links.push(1, events(1..=1));
        let first = links.next(no_log);
        links.answered(1, 1, &ok());
        assert_eq!(links.push(over, events(2..=over)), vec![0], "relay 0 fell behind");
        links.answered(0, first[0].through(), &ok());
        let mut handed = Vec::new();
        while let Some(d) = links.next(log(1..=over)).into_iter().find(|d| d.to.relay == 0) {
            assert!(!d.restart && d.events.len() <= HANDOFF_MAX_EVENTS);
            handed.extend(ids(&d));
            links.answered(0, d.through(), &ok());
        }
        assert_eq!(handed, (2..=over).collect::<Vec<_>>(), "every event, from the log, in order");
        links.push(over + 1, events(over + 1..=over + 1));
        let d = links.next(no_log);
        assert!(d.iter().any(|d| d.to.relay == 0 && ids(d) == vec![over + 1]), "then from pending again");
        let big = linked(&[0]);
        let huge = Delivered { id: 1, frame: "x".repeat(MAX_PENDING_BYTES + 1), request_id: None, sub: None };
        assert_eq!(big.push(1, vec![huge]), vec![0], "bytes bound it too");
    }

    #[test]
    fn a_relay_whose_missed_events_the_log_dropped_restarts() {
        let links = linked(&[0]);
        let over = MAX_PENDING as u64 + 1;
        links.push(over, events(1..=over));
        let d = links.next(log(100..=over));
        assert!(d[0].restart && d[0].events.is_empty() && d[0].after == over);
        links.push(over + 1, events(over + 1..=over + 1));
        links.answered(0, over, &ok());
        let d = links.next(no_log);
        assert!(!d[0].restart && ids(&d[0]) == vec![over + 1], "what came meanwhile, once");
        let failed_read = linked(&[0]);
        failed_read.push(over, events(1..=over));
        assert!(failed_read.next(no_log)[0].restart, "a log that cannot be read: restarted, not stuck");
    }

    #[test]
    fn a_failed_page_from_the_log_is_read_again_with_what_came_since() {
        let links = Links::default();
        links.woke(Some("acme".into()), &[0], 7, 9);
        let d = links.next(log(1..=9));
        assert_eq!((d[0].after, ids(&d[0])), (7, vec![8, 9]), "through what was taken: pending from now on");
        links.push(10, events(10..=10));
        assert!(links.answered(0, 9, &Err("down".into())));
        let d = links.next(log(1..=10));
        assert_eq!((d[0].after, ids(&d[0])), (7, vec![8, 9, 10]), "8 and 9 were in no queue: read again");
        links.answered(0, 10, &ok());
        links.push(11, events(11..=11));
        assert_eq!(ids(&links.next(no_log)[0]), vec![11]);
    }

    #[test]
    fn a_hub_that_stopped_unsent_hands_the_logs_events_on_or_restarts_when_the_log_lost_them() {
        let woke = Links::default();
        woke.woke(Some("acme".into()), &[0, 3], 7, 9);
        let d = woke.next(log(1..=9));
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| !d.restart && d.after == 7 && ids(d) == vec![8, 9]));
        let pruned = Links::default();
        pruned.woke(Some("acme".into()), &[0], 7, 9);
        let d = pruned.next(log(9..=9));
        assert!(d[0].restart && d[0].after == 9);
        let fine = linked(&[0]);
        assert!(fine.next(no_log).is_empty());
    }

    /// Pushes, answers, failures and overflows in a pseudo-random order: the relay is handed
    /// every event once, in order, with no gap, and never told to restart (the log holds all).
    #[test]
    fn whatever_the_order_a_relay_gets_every_event_once_in_order() {
        for seed in 1..200u64 {
            let mut rng = seed;
            let mut roll = |n: u64| {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (rng >> 33) % n
            };
            let links = linked(&[5]);
            let (mut latest, mut position, mut received) = (0u64, 0u64, Vec::new());
            let mut out: Option<Handoff> = None;
            for _ in 0..60 {
                match roll(4) {
                    0 => {
                        let n = if roll(5) == 0 { MAX_PENDING as u64 + roll(3000) } else { 1 + roll(50) };
                        links.push(latest + n, events(latest + 1..=latest + n));
                        latest += n;
                    }
                    1 | 2 if out.is_some() => {
                        let Some(d) = out.take() else { continue };
                        if roll(3) == 0 {
                            assert!(links.answered(5, d.through(), &Err("down".into())));
                            continue;
                        }
                        assert!(!d.restart, "seed {seed}: told to restart");
                        assert!(d.after <= position, "seed {seed}: a gap after {position}: {}", d.after);
                        let base = position;
                        for e in d.events.iter().filter(|e| e.id > base) {
                            received.push(e.id);
                            position = e.id;
                        }
                        links.answered(5, d.through(), &ok());
                    }
                    _ => {
                        if out.is_none() {
                            out = links.next(log(1..=latest)).into_iter().next();
                        }
                    }
                }
            }
            if let Some(d) = out.take() {
                links.answered(5, d.through(), &Err("down".into()));
            }
            while let Some(d) = links.next(log(1..=latest)).into_iter().next() {
                assert!(!d.restart && d.after <= position, "seed {seed}");
                received.extend(d.events.iter().map(|e| e.id).filter(|id| *id > position));
                position = position.max(d.through());
                links.answered(5, d.through(), &ok());
            }
            assert_eq!(received, (1..=latest).collect::<Vec<_>>(), "seed {seed}");
        }
    }

    #[test]
    fn an_unlinked_relay_gets_nothing_and_a_late_answer_changes_nothing() {
        let links = linked(&[4]);
        links.push(1, events(1..=1));
        assert_eq!(links.next(no_log).len(), 1);
        links.unlink(4);
        assert!(!links.answered(4, 1, &ok()));
        assert!(!links.any());
        links.push(2, events(2..=2));
        assert!(links.next(no_log).is_empty());
        assert_eq!(links.settled(), 2, "no relay: everything taken is settled");
    }

    #[test]
    fn a_census_is_asked_for_when_a_relay_holds_fewer_at_most_every_ten_seconds() {
        let links = linked(&[1]);
        assert!(!links.census_due(1, 5, 5, 0));
        assert!(links.census_due(1, 4, 5, 1000));
        assert!(!links.census_due(1, 4, 5, 2000), "not again so soon");
        assert!(links.census_due(1, 4, 5, 1000 + HELD_EVERY_MS));
        assert!(!links.census_due(9, 0, 5, 0), "not a linked relay");
    }

    #[test]
    fn a_refused_connect_asks_every_linked_relay_for_a_census_at_most_every_ten_seconds() {
        let links = linked(&[1, 2]);
        assert!(links.take_censuses().is_empty());
        assert!(links.census_due(1, 4, 5, 1000));
        links.recount(2000);
        let asked: Vec<u32> = links.take_censuses().iter().map(|to| to.relay).collect();
        assert_eq!(asked, vec![2], "relay 1 was asked a second ago");
        assert!(links.take_censuses().is_empty(), "taken once");
        links.recount(3000);
        assert!(links.take_censuses().is_empty(), "not again so soon");
        links.recount(2000 + HELD_EVERY_MS);
        let asked: Vec<u32> = links.take_censuses().iter().map(|to| to.relay).collect();
        assert_eq!(asked, vec![1, 2]);
        assert!(!links.census_due(2, 0, 5, 2000 + HELD_EVERY_MS), "the recount counts as the census");
    }
}
