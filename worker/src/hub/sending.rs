//! The hub's sending turns: a fan-out of what is queued (`outbox`, `fan_out`), in one turn or by
//! turns (each a zero-delay timer) while the hub is busy; the hand-off of what it takes to the
//! relays; and, once every stream has what was taken, the store of the last id sent.

use std::rc::Rc;

use worker::ObjectNamespace;

use super::outbox::Pace;
use super::runtime::{self, RuntimeSockets};
use super::{relay_links, relays, Hub};
use crate::clock::now_ms;
use crate::hub::metrics::name;

impl Hub {
    /// Sends every queued event to the live streams it is for (`outbox`) now: the rest of the
    /// fan-out under way, then everything queued. Called before anything reads the log for a
    /// stream (and by a publish that finds the queue full).
    pub(crate) fn send_queued(&self, sockets: &RuntimeSockets) {
        // The first finishes the fan-out under way (when there is one), the second sends the
        // queue; with neither, both find nothing.
        self.send_turn(sockets, Pace::Now);
        self.send_turn(sockets, Pace::Now);
    }

    /// One turn of sending (`outbox::Outbox::turn`) at `pace`; the events taken
    /// for a new fan-out are handed to the relays, and the last id sent is stored once the
    /// fan-out has reached every stream.
    pub(super) fn send_turn(&self, sockets: &RuntimeSockets, pace: Pace) {
        let turn = self.outbox.turn(sockets, self.config.coalesce, pace, now_ms());
        self.tally.add(name::FRAMES_SENT, "", turn.frames);
        if let Some(last) = turn.taken.last().map(|a| a.id) {
            // And to the relays, each in one hand-off (`relay_links::kick`).
            let linked = self.relays.any();
            let delivered = if linked { turn.taken.iter().map(relays::delivered).collect() } else { Vec::new() };
            for relay in self.relays.push(last, delivered) {
                worker::console_log!(
                    "relay {relay} fell {} events or {} bytes behind; handed on from the log",
                    relays::MAX_PENDING,
                    relays::MAX_PENDING_BYTES
                );
            }
        }
        let Some(started) = turn.ended else { return };
        // The runtime's clock advances only across I/O, so a fan-out sent in one turn reads as 0
        // in production; the histogram still counts fan-outs (see docs/protocol.md).
        self.tally.send_duration(now_ms().saturating_sub(started) as f64 / 1000.0);
        // Stored by `store`, after the sends: the runtime holds a message sent in a turn that
        // writes until the write is durable, so a turn that sends writes nothing.
        self.sent_unstored.set(Some(self.sent_through()));
    }

    /// The last id every stream was sent: with relays, what they all confirmed; without,
    /// everything taken; and never into a fan-out of the hub's own streams still under way
    /// (the relays may confirm events its last turns have not sent yet).
    pub(crate) fn sent_through(&self) -> u64 {
        let settled = self.relays.settled();
        match self.outbox.sending_from() {
            Some(first) => settled.min(first.saturating_sub(1)),
            None => settled,
        }
    }
}

/// Schedules the hub's next sending turn (`Hub::send_turn`, `outbox::Pace::ByTurns`); it
/// schedules the one after while a fan-out is under way or events are queued, and when all is
/// sent, the store of what it counted.
pub(super) fn schedule_turn(hub: &Rc<Hub>, sockets: &Rc<RuntimeSockets>, relay_objects: &Rc<Option<ObjectNamespace>>) {
    let (turn_hub, turn_sockets, turn_relays) = (hub.clone(), sockets.clone(), relay_objects.clone());
    let scheduled = runtime::next_turn(move || {
        turn_hub.outbox.turn_came();
        turn_hub.send_turn(&turn_sockets, Pace::ByTurns);
        relay_links::kick(&turn_hub, &turn_relays);
        if turn_hub.outbox.wants_turn() {
            schedule_turn(&turn_hub, &turn_sockets, &turn_relays);
        } else {
            store_soon(&turn_hub);
        }
    });
    if let Err(e) = scheduled {
        // Send now rather than never.
        worker::console_error!("scheduling the fan-out failed ({e}); sending at once");
        hub.outbox.turn_came();
        hub.send_queued(sockets);
        hub.store();
    }
}

/// What the hub counted (metrics, rate windows) and how far it sent are stored `STORE_AFTER_MS`
/// after a sending turn was scheduled, or earlier by a request that finds no turn to come (in
/// the same commit as that request's own writes). Not by the sending turn: a turn that writes
/// holds its messages until the write is durable (measured: an event alone reached 1000
/// subscribers about 5 ms later at the median). Not on the turn right after either: each commit
/// costs the hub CPU (measured: about one commit per publish more than the floor,
/// `npm run bench -- --scenarios small`).
pub(super) fn store_soon(hub: &Rc<Hub>) {
    if hub.store_scheduled.replace(true) {
        return;
    }
    let store_hub = hub.clone();
    let scheduled = runtime::after_ms(STORE_AFTER_MS, move || {
        store_hub.store_scheduled.set(false);
        store_hub.store();
    });
    if let Err(e) = scheduled {
        worker::console_error!("scheduling a store failed ({e}); storing at once");
        hub.store_scheduled.set(false);
        hub.store();
    }
}

/// How long what a sending turn counted may wait for a request to store it with (the hub stays
/// awake that long after its last publish: about 0.25 s of billed duration per lone publish).
const STORE_AFTER_MS: i32 = 250;
