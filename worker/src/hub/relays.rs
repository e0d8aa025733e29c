//! The hub's side of the relay tier (`RELAYS_PER_ORG` of 2 or more): what it has handed each relay
//! that holds streams, and what it still has to (`Links`).
//!
//! Every event the hub takes from its outbox goes to each linked relay's `pending`, in id order
//! (one copy of each event, shared by every relay's queue). A relay gets one hand-off at a time
//! (`Handoff`: what is pending after the last id it confirmed, at most `HANDOFF_MAX_EVENTS` /
//! `HANDOFF_MAX_BYTES`); its answer confirms it, and what came meanwhile goes in the next. So a
//! slow relay gets fewer, larger hand-offs, and the hub sends O(relays) messages per batch, not
//! one per stream. A failed hand-off is sent again (`RETRY_MS` later). A relay that falls more
//! than `MAX_PENDING` events or `MAX_PENDING_BYTES` behind is told to restart instead: its
//! streams end and resume from the hub's log, and the hub's memory stays bounded.
//!
//! Pure: the glue (`relay_links`) posts what `next` gives and reports the answer (`answered`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::hub::log::Appended;
use crate::wire::hub_api::CloseCode;
use crate::wire::relay_api::{CloseStreams, Delivered, Delivery, RelayAddress, HELD_EVERY_MS};

/// Events one relay may have pending before it is told to restart instead.
pub const MAX_PENDING: usize = 4096;
/// Bytes of frames one relay may have pending before it is told to restart instead (the hub's
/// memory: each event is held once, however many relays wait for it).
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

#[derive(Debug, Default)]
struct Link {
    /// The last id the relay confirmed.
    acked: u64,
    /// Events after `acked` (or after `restart`) not confirmed yet, in id order.
    pending: Vec<Rc<Delivered>>,
    /// Bytes of frames in `pending`.
    pending_bytes: usize,
    /// The hand-off in flight: the id it goes through, and whether it carried the restart.
    in_flight: Option<(u64, bool)>,
    /// The relay must restart its streams and go on after this id (it missed events).
    restart: Option<u64>,
    /// When a census of this relay was last asked for (ms).
    census_at: Option<u64>,
}

impl Link {
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
    /// After waking: the relays that hold streams, which all confirmed `sent`, and the events the
    /// log holds after it (`unsent`, read from the log: the hub stopped before it had handed them
    /// on, or before it had stored that the relays confirmed them). Each relay is handed them, and
    /// restarts only when the log no longer holds them all (`complete` false).
    pub fn woke(
        &self,
        org: Option<String>,
        relays: &[u32],
        sent: u64,
        latest: u64,
        unsent: Vec<Delivered>,
        complete: bool,
    ) {
        *self.org.borrow_mut() = org;
        self.taken.set(latest);
        let unsent: Vec<Rc<Delivered>> = unsent.into_iter().map(Rc::new).collect();
        let mut links = self.links.borrow_mut();
        for relay in relays {
            let mut link = Link { acked: sent, ..Link::default() };
            if complete {
                link.pending_bytes = unsent.iter().map(|e| e.frame.len()).sum();
                link.pending = unsent.clone();
            } else {
                link.restart = Some(latest);
            }
            links.insert(*relay, link);
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
    /// in id order; empty when no relay is linked, see `delivered`).
    pub fn push(&self, last: u64, events: Vec<Delivered>) {
        self.taken.set(self.taken.get().max(last));
        let mut links = self.links.borrow_mut();
        if links.is_empty() || events.is_empty() {
            return;
        }
        let bytes: usize = events.iter().map(|e| e.frame.len()).sum();
        let shared: Vec<Rc<Delivered>> = events.into_iter().map(Rc::new).collect();
        for link in links.values_mut() {
            link.pending.extend(shared.iter().cloned());
            link.pending_bytes += bytes;
            if link.pending.len() > MAX_PENDING || link.pending_bytes > MAX_PENDING_BYTES {
                link.pending.clear();
                link.pending_bytes = 0;
                link.restart = Some(last);
            }
        }
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
    pub fn next(&self) -> Vec<Handoff> {
        let Some(org) = self.org() else { return Vec::new() };
        let mut out = Vec::new();
        for (relay, link) in self.links.borrow_mut().iter_mut() {
            if link.in_flight.is_some() || (link.pending.is_empty() && link.restart.is_none()) {
                continue;
            }
            let after = link.restart.unwrap_or(link.acked);
            let mut events = Vec::new();
            let mut bytes = 0;
            for event in link.pending.iter().filter(|e| e.id > after) {
                if !events.is_empty()
                    && (events.len() >= HANDOFF_MAX_EVENTS || bytes + event.frame.len() > HANDOFF_MAX_BYTES)
                {
                    break;
                }
                bytes += event.frame.len();
                events.push(event.clone());
            }
            let handoff = Handoff {
                to: RelayAddress { org: org.clone(), relay: *relay },
                after,
                restart: link.restart.is_some(),
                events,
            };
            link.in_flight = Some((handoff.through(), handoff.restart));
            out.push(handoff);
        }
        out
    }

    /// A relay answered the hand-off that went through `through` (or failed to): whether one
    /// failed (the glue sends it again later).
    pub fn answered(&self, relay: u32, through: u64, answer: &Result<Delivery, String>) -> bool {
        let mut links = self.links.borrow_mut();
        let Some(link) = links.get_mut(&relay) else { return false };
        let Some((in_flight, carried_restart)) = link.in_flight else { return false };
        if in_flight != through {
            // An answer to a link made since (the relay was unlinked and linked again).
            return false;
        }
        link.in_flight = None;
        match answer {
            Ok(_) => {
                link.acked = link.acked.max(through);
                // A restart asked for while this hand-off was out is still to be sent.
                if carried_restart && link.restart.is_some_and(|at| at <= through) {
                    link.restart = None;
                }
                link.drop_pending(through);
                false
            }
            Err(_) => true,
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
        links.woke(Some("acme".into()), relays, 0, 0, Vec::new(), true);
        links
    }

    #[test]
    fn one_hand_off_at_a_time_per_relay_and_what_came_meanwhile_goes_next() {
        let links = linked(&[]);
        assert_eq!(links.join(2, None), 0, "linked at the hub's position");
        links.push(2, events(1..=2));
        let first = links.next();
        assert_eq!((first.len(), first[0].after, ids(&first[0])), (1, 0, vec![1, 2]));
        links.push(5, events(3..=5));
        assert!(links.next().is_empty(), "one in flight");
        assert!(!links.answered(2, 2, &ok()));
        assert_eq!(links.settled(), 2);
        let second = links.next();
        assert_eq!((second[0].after, ids(&second[0])), (2, vec![3, 4, 5]));
        assert!(links.answered(2, 5, &Err("down".into())), "failed: to be sent again");
        let again = links.next();
        assert_eq!((again[0].after, ids(&again[0])), (2, vec![3, 4, 5]), "the same, after the same id");
        links.answered(2, 5, &ok());
        assert!(links.next().is_empty());
        assert_eq!(links.settled(), 5);
    }

    #[test]
    fn a_hand_off_is_bounded_and_the_rest_goes_next() {
        let links = linked(&[1]);
        links.push(HANDOFF_MAX_EVENTS as u64 + 5, events(1..=HANDOFF_MAX_EVENTS as u64 + 5));
        let first = links.next();
        assert_eq!(first[0].events.len(), HANDOFF_MAX_EVENTS);
        links.answered(1, first[0].through(), &ok());
        let second = links.next();
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
    fn a_relay_too_far_behind_restarts() {
        let links = linked(&[0]);
        let over = MAX_PENDING as u64 + 1;
        links.push(over, events(1..=over));
        let d = links.next();
        assert!(d[0].restart && d[0].events.is_empty() && d[0].after == over);
        links.answered(0, over, &ok());
        assert!(links.next().is_empty(), "restarted once");
        let big = Links::default();
        big.woke(Some("acme".into()), &[0], 0, 0, Vec::new(), true);
        let huge = Delivered { id: 1, frame: "x".repeat(MAX_PENDING_BYTES + 1), request_id: None, sub: None };
        big.push(1, vec![huge]);
        assert!(big.next()[0].restart, "bytes bound it too");
    }

    #[test]
    fn a_restart_asked_for_while_a_hand_off_is_out_is_not_lost() {
        // The review's case: 1..=100 in flight, then the relay falls too far behind.
        let links = linked(&[7]);
        links.push(100, events(1..=100));
        let first = links.next();
        assert_eq!(first[0].through(), 100);
        links.push(MAX_PENDING as u64 + 101, events(101..=MAX_PENDING as u64 + 101));
        links.answered(7, 100, &ok());
        links.push(MAX_PENDING as u64 + 102, events(MAX_PENDING as u64 + 102..=MAX_PENDING as u64 + 102));
        let next = links.next();
        assert!(next[0].restart, "the relay is told to restart: it never got 101..");
        assert_eq!(next[0].after, MAX_PENDING as u64 + 101);
        assert_eq!(ids(&next[0]), vec![MAX_PENDING as u64 + 102]);
        links.answered(7, MAX_PENDING as u64 + 102, &ok());
        links.push(MAX_PENDING as u64 + 103, events(MAX_PENDING as u64 + 103..=MAX_PENDING as u64 + 103));
        assert!(!links.next()[0].restart, "and only once");
    }

    #[test]
    fn a_hub_that_stopped_unsent_hands_the_logs_events_on_or_restarts_when_the_log_lost_them() {
        let woke = Links::default();
        woke.woke(Some("acme".into()), &[0, 3], 7, 9, events(8..=9), true);
        let d = woke.next();
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| !d.restart && d.after == 7 && ids(d) == vec![8, 9]));
        let pruned = Links::default();
        pruned.woke(Some("acme".into()), &[0], 7, 9, Vec::new(), false);
        let d = pruned.next();
        assert!(d[0].restart && d[0].after == 9);
        let fine = linked(&[0]);
        assert!(fine.next().is_empty());
    }

    #[test]
    fn an_unlinked_relay_gets_nothing_and_a_late_answer_changes_nothing() {
        let links = linked(&[4]);
        links.push(1, events(1..=1));
        assert_eq!(links.next().len(), 1);
        links.unlink(4);
        assert!(!links.answered(4, 1, &ok()));
        assert!(!links.any());
        links.push(2, events(2..=2));
        assert!(links.next().is_empty());
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
