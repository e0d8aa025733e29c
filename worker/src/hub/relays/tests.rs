//! `Links` under every order of pushes, answers, failures and overflows.

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
    links.woke(Some("acme".into()), relays, 0);
    links
}

/// A log that holds `ids` (retention dropped what came before).
fn log(ids: std::ops::RangeInclusive<u64>) -> impl Fn(u64, u64, usize) -> Result<Vec<Delivered>, String> {
    move |after, through, limit| {
        let from = (after + 1).max(*ids.start());
        Ok(events(from..=(*ids.end()).min(through).min(from + limit as u64 - 1)))
    }
}

fn no_log(_: u64, _: u64, _: usize) -> Result<Vec<Delivered>, String> {
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
fn a_relay_whose_missed_events_the_log_dropped_is_handed_on_past_the_gap_marked_restart() {
    let links = linked(&[0]);
    let over = MAX_PENDING as u64 + 1;
    links.push(over, events(1..=over));
    let d = links.next(log(100..=over));
    assert!(d[0].restart && d[0].after == 99, "a relay behind 99 restarts; one past it goes on");
    assert_eq!(ids(&d[0]).first(), Some(&100));
    links.answered(0, d[0].through(), &ok());
    let d = links.next(log(100..=over));
    assert!(!d[0].restart && d[0].after == 99 + HANDOFF_MAX_EVENTS as u64, "then pages as before");
    let emptied = linked(&[0]);
    emptied.push(over, events(1..=over));
    let d = emptied.next(log(over + 1..=over));
    assert!(d[0].restart && d[0].events.is_empty() && d[0].after == over, "nothing left to hand: restart");
    emptied.push(over + 1, events(over + 1..=over + 1));
    emptied.answered(0, over, &ok());
    let d = emptied.next(no_log);
    assert!(!d[0].restart && ids(&d[0]) == vec![over + 1], "what came meanwhile, once");
    let failed_read = linked(&[0]);
    failed_read.push(over, events(1..=over));
    assert!(failed_read.next(no_log)[0].restart, "a log that cannot be read: restarted, not stuck");
}

#[test]
fn a_failed_page_from_the_log_is_read_again_with_what_came_since() {
    let links = Links::default();
    links.start(9);
    links.woke(Some("acme".into()), &[0], 7);
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
fn after_a_wake_a_relay_linked_anew_goes_on_from_the_logs_latest_id() {
    // No relay held streams when the hub stopped: none is linked at wake, but the log goes on.
    let links = Links::default();
    links.start(9);
    assert_eq!(links.join(1, Some(0)), 9, "its stream's backlog is read from the log up to 9");
    assert_eq!(links.settled(), 9);
}

#[test]
fn a_hub_that_stopped_unsent_hands_the_logs_events_on_or_restarts_when_the_log_lost_them() {
    let woke = Links::default();
    woke.start(9);
    woke.woke(Some("acme".into()), &[0, 3], 7);
    let d = woke.next(log(1..=9));
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| !d.restart && d.after == 7 && ids(d) == vec![8, 9]));
    let pruned = Links::default();
    pruned.start(9);
    pruned.woke(Some("acme".into()), &[0], 7);
    let d = pruned.next(log(9..=9));
    assert!(d[0].restart && d[0].after == 8 && ids(&d[0]) == vec![9], "8 is gone: past it, marked");
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
