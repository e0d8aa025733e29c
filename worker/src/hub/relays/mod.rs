//! The hub's side of the relay tier (`RELAYS_PER_ORG` of 2 or more): what it has handed each relay
//! that holds streams, and what it still has to (`Links`).
//!
//! Every event the hub takes from its outbox goes to each linked relay's `pending`, in id order
//! (one copy of each event, shared by every relay's queue). A relay gets one hand-off at a time
//! (`Handoff`: what is pending after the last id it confirmed, at most `HANDOFF_MAX_EVENTS` /
//! `HANDOFF_MAX_BYTES`); its answer confirms it, and what came meanwhile goes in the next. So a
//! slow relay gets fewer, larger hand-offs, and the hub sends O(relays) messages per batch, not
//! one per stream. A failed hand-off is sent again (at the next `next`, or `RETRY_MS` later). A
//! relay that falls more than `MAX_PENDING` events or `MAX_PENDING_BYTES` behind is handed on from
//! the hub's log instead (its pending events are dropped, so the hub's memory stays bounded), a
//! page at a time (read up to `HANDOFF_MAX_*`), until it has caught up; so is every relay after
//! the hub restarted with events it had not confirmed. When the log no longer holds what a relay
//! may have missed (retention), or cannot be read, the hand-off is marked `restart`: a relay
//! behind it (the hub knows only what it confirmed) ends its streams, which resume from the log by
//! id, each as any late reader does.
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
    /// The relay must restart its streams, unless it is at this id or past it, and go on after
    /// it: the log holds nothing it may have missed, or could not be read.
    restart: Option<u64>,
    /// When a census of this relay was last asked for (ms).
    census_at: Option<u64>,
}

impl Link {
    /// The next page from the log for a relay handed on from it: the events after what it
    /// confirmed, through `taken` at most, and the id they follow (past `acked` when retention
    /// dropped the events right after it). `None` when there is none to send: it has caught up
    /// (and is handed on from `pending` again), or the log holds nothing it missed or cannot be
    /// read (then it is to restart after `taken`).
    fn read_log(
        &mut self,
        read_log: &impl Fn(u64, u64, usize) -> Result<Vec<Delivered>, String>,
        taken: u64,
    ) -> Option<(u64, Vec<Rc<Delivered>>)> {
        if self.acked >= taken {
            self.from_log = false;
            return None;
        }
        let page = read_log(self.acked, taken, HANDOFF_MAX_EVENTS).unwrap_or_default();
        let Some(first) = page.first().map(|e| e.id).filter(|id| *id > self.acked) else {
            // Its streams resume from the log by id.
            self.from_log = false;
            self.restart = Some(taken);
            return None;
        };
        let events = bounded(page.into_iter().filter(|e| e.id <= taken).map(Rc::new));
        if events.last().is_some_and(|e| e.id >= taken) {
            // What comes next is pending like any relay's.
            self.from_log = false;
        }
        Some((first - 1, events))
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
    /// After waking, whatever else: the log's latest id counts as taken from the outbox (it is
    /// empty), so a relay linked from now on goes on from there and a stream that joins gets its
    /// backlog from the log up to it.
    pub fn start(&self, latest: u64) {
        self.taken.set(latest);
    }

    /// After waking (`start`): the relays that hold streams, which all confirmed `sent`. Events
    /// after `sent` (the hub stopped before it had handed them on, or before it had stored that
    /// the relays confirmed them) are handed on from the log.
    pub fn woke(&self, org: Option<String>, relays: &[u32], sent: u64) {
        *self.org.borrow_mut() = org;
        let latest = self.taken.get();
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
    /// `read_log(after, through, limit)` reads the log for relays handed on from it: the events
    /// after `after` through `through`, oldest first, at most `limit` (and about one hand-off's
    /// bytes).
    pub fn next(&self, read_log: impl Fn(u64, u64, usize) -> Result<Vec<Delivered>, String>) -> Vec<Handoff> {
        let Some(org) = self.org() else { return Vec::new() };
        let taken = self.taken.get();
        let mut out = Vec::new();
        for (relay, link) in self.links.borrow_mut().iter_mut() {
            if link.in_flight.is_some() {
                continue;
            }
            if link.from_log && link.restart.is_none() {
                if let Some((after, events)) = link.read_log(&read_log, taken) {
                    // Past a gap (the log dropped what followed `acked`): a relay behind it
                    // restarts, one already past it goes on (`relay::position`).
                    let restart = after > link.acked;
                    let handoff =
                        Handoff { to: RelayAddress { org: org.clone(), relay: *relay }, after, restart, events };
                    link.in_flight = Some(InFlight { through: handoff.through(), restart, from_log: true });
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
mod tests;
