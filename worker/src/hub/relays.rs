//! The hub's side of the relay tier (`RELAYS_PER_ORG` of 2 or more): what it has handed each relay
//! that holds streams, and what it still has to (`Links`).
//!
//! Every event the hub takes from its outbox goes to each linked relay's `pending`, in id order.
//! A relay gets one hand-off at a time (`Deliver`: everything pending, after the last id it
//! confirmed); its answer confirms it, and what came meanwhile goes in the next one. So a slow
//! relay gets fewer, larger hand-offs, and the hub sends O(relays) messages per batch, not one per
//! stream. A failed hand-off is sent again (`RETRY_MS` later). A relay that falls more than
//! `MAX_PENDING` events behind is told to restart instead: its streams end and resume from the
//! hub's log, and the hub's memory stays bounded.
//!
//! Pure: the glue (`OrgHub`) posts what `next` gives and reports the answer (`answered`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::hub::log::Appended;
use crate::wire::hub_api::CloseCode;
use crate::wire::relay_api::{CloseStreams, Deliver, Delivered, Delivery, RelayAddress};

/// Events one relay may have pending before it is told to restart instead (each is its frame and
/// target: at most a few MiB for ordinary events).
pub const MAX_PENDING: usize = 4096;

/// How long after a failed hand-off the hub tries again.
pub const RETRY_MS: i32 = 1000;

#[derive(Debug, Default)]
struct Link {
    /// The last id the relay confirmed.
    acked: u64,
    /// Events after `acked` (or after `restart`) not confirmed yet, in id order.
    pending: Vec<Delivered>,
    /// The id the hand-off in flight goes through, until it is answered.
    in_flight: Option<u64>,
    /// The relay must restart its streams and go on after this id (it missed events).
    restart: Option<u64>,
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
}

impl Links {
    /// After waking: the relays that hold streams, which all confirmed `sent`; when the log goes
    /// further (`latest`: the hub stopped before it handed everything on), each restarts.
    pub fn woke(&self, org: Option<String>, relays: &[u32], sent: u64, latest: u64) {
        *self.org.borrow_mut() = org;
        self.taken.set(latest);
        let mut links = self.links.borrow_mut();
        for relay in relays {
            let restart = (sent < latest).then_some(latest);
            links.insert(*relay, Link { acked: sent, restart, ..Link::default() });
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

    /// Events taken from the outbox: pending for every linked relay.
    pub fn push(&self, events: &[Appended]) {
        let Some(last) = events.last().map(|e| e.id) else { return };
        self.taken.set(last);
        let mut links = self.links.borrow_mut();
        if links.is_empty() {
            return;
        }
        let delivered: Vec<Delivered> = events.iter().map(delivered).collect();
        for link in links.values_mut() {
            link.pending.extend(delivered.iter().cloned());
            if link.pending.len() > MAX_PENDING {
                link.pending.clear();
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
    pub fn next(&self) -> Vec<Deliver> {
        let Some(org) = self.org() else { return Vec::new() };
        let mut out = Vec::new();
        for (relay, link) in self.links.borrow_mut().iter_mut() {
            if link.in_flight.is_some() || (link.pending.is_empty() && link.restart.is_none()) {
                continue;
            }
            let after = link.restart.unwrap_or(link.acked);
            let events: Vec<Delivered> = link.pending.iter().filter(|e| e.id > after).cloned().collect();
            link.in_flight = Some(events.last().map_or(after, |e| e.id));
            out.push(Deliver {
                to: RelayAddress { org: org.clone(), relay: *relay },
                after,
                restart: link.restart.is_some(),
                events,
            });
        }
        out
    }

    /// A relay answered the hand-off that went through `through` (or failed to): whether one
    /// failed (the glue sends it again later).
    pub fn answered(&self, relay: u32, through: u64, answer: &Result<Delivery, String>) -> bool {
        let mut links = self.links.borrow_mut();
        let Some(link) = links.get_mut(&relay) else { return false };
        if link.in_flight != Some(through) {
            // An answer to a link made since (the relay was unlinked and linked again).
            return false;
        }
        link.in_flight = None;
        match answer {
            Ok(_) => {
                link.acked = link.acked.max(through);
                link.restart = None;
                link.pending.retain(|e| e.id > through);
                false
            }
            Err(_) => true,
        }
    }

    /// The last id every linked relay confirmed (what the hub may store as sent).
    pub fn settled(&self) -> u64 {
        let links = self.links.borrow();
        links.values().map(|l| l.acked).min().unwrap_or(self.taken.get()).min(self.taken.get())
    }
}

fn delivered(event: &Appended) -> Delivered {
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

    fn events(ids: std::ops::RangeInclusive<u64>) -> Vec<Appended> {
        ids.map(|id| Appended::new(id, 0, "t", "{}".into(), None)).collect()
    }

    fn ok() -> Result<Delivery, String> {
        Ok(Delivery { sent: 1, held: 1, ..Delivery::default() })
    }

    fn ids(d: &Deliver) -> Vec<u64> {
        d.events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn one_hand_off_at_a_time_per_relay_and_what_came_meanwhile_goes_next() {
        let links = Links::default();
        links.woke(Some("acme".into()), &[], 0, 0);
        assert_eq!(links.join(2, None), 0, "linked at the hub's position");
        links.push(&events(1..=2));
        let first = links.next();
        assert_eq!((first.len(), first[0].after, ids(&first[0])), (1, 0, vec![1, 2]));
        links.push(&events(3..=5));
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
    fn a_relay_linked_later_goes_on_from_the_hubs_position_and_one_that_knows_stays() {
        let links = Links::default();
        links.woke(Some("acme".into()), &[], 0, 0);
        links.push(&events(1..=3));
        assert_eq!(links.join(1, Some(0)), 3, "a new link starts where the hub hands on from");
        links.push(&events(4..=4));
        assert_eq!(links.join(1, Some(4)), 4, "a linked relay that knows where it is");
        assert_eq!(links.join(1, None), 3, "a linked relay that just started: its last confirmed id");
    }

    #[test]
    fn a_relay_too_far_behind_restarts_and_a_hub_that_stopped_unsent_restarts_its_relays() {
        let links = Links::default();
        links.woke(Some("acme".into()), &[0], 0, 0);
        links.push(&events(1..=(MAX_PENDING as u64 + 1)));
        let d = links.next();
        assert!(d[0].restart && d[0].events.is_empty() && d[0].after == MAX_PENDING as u64 + 1);
        links.answered(0, MAX_PENDING as u64 + 1, &ok());
        assert!(links.next().is_empty(), "restarted once");

        let woke = Links::default();
        woke.woke(Some("acme".into()), &[0, 3], 7, 9);
        let d = woke.next();
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.restart && d.after == 9));
        let fine = Links::default();
        fine.woke(Some("acme".into()), &[0], 9, 9);
        assert!(fine.next().is_empty());
    }

    #[test]
    fn an_unlinked_relay_gets_nothing_and_a_late_answer_changes_nothing() {
        let links = Links::default();
        links.woke(Some("acme".into()), &[4], 0, 0);
        links.push(&events(1..=1));
        assert_eq!(links.next().len(), 1);
        links.unlink(4);
        assert!(!links.answered(4, 1, &ok()));
        assert!(!links.any());
        links.push(&events(2..=2));
        assert!(links.next().is_empty());
        assert_eq!(links.settled(), 2, "no relay: everything taken is settled");
    }
}
