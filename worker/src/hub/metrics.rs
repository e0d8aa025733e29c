//! The org's counters, and their Prometheus text exposition (`GET /v1/metrics`).
//!
//! Counters are stored in the org's SQLite log, so they survive the hub sleeping between events
//! (and restarts): Prometheus never sees a reset when an org goes idle. The hub adds to them in
//! memory while it handles one thing (`Tally`) and writes the sums once at the end of it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write;

use crate::wire::hub_api::CloseCode;

/// Upper bounds (seconds) of the fan-out duration histogram.
pub const SEND_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0];

/// The stored counters: a name, and a label value (empty when the series has none).
pub mod name {
    pub const CONNECTIONS: &str = "connections_total";
    pub const PUBLISHED: &str = "events_published_total";
    pub const FRAMES_SENT: &str = "frames_sent_total";
    pub const REPLAYED: &str = "replayed_events_total";
    pub const RESETS: &str = "stream_resets_total";
    pub const WAKEUPS: &str = "hub_wakeups_total";
    pub const IDEMPOTENT_REPLAYS: &str = "idempotent_replays_total";
    pub const IDEMPOTENCY_CONFLICTS: &str = "idempotency_conflicts_total";
    /// One row per bucket (label: its index), not cumulative; rendered cumulative.
    pub const SEND_BUCKET: &str = "send_duration_bucket";
    pub const SEND_COUNT: &str = "send_duration_count";
    pub const SEND_SUM_US: &str = "send_duration_sum_us";
    /// Per relay (label: its index).
    pub const RELAY_HANDOFFS: &str = "relay_handoffs_total";
    pub const RELAY_WAKEUPS: &str = "relay_wakeups_total";
    pub const RELAY_RESTARTS: &str = "relay_restarts_total";
}

/// How a stream's life is counted (`orgstream_connections_total{action}`). One list, read both
/// where streams are counted and where the counters are rendered (a reason counted but not in
/// the list would be stored and never shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Connect,
    Disconnect,
    Replaced,
    Overflow,
    Expired,
    TokenExpired,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Connect,
        Action::Disconnect,
        Action::Replaced,
        Action::Overflow,
        Action::Expired,
        Action::TokenExpired,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::Disconnect => "disconnect",
            Action::Replaced => "replaced",
            Action::Overflow => "overflow",
            Action::Expired => "expired",
            Action::TokenExpired => "token_expired",
        }
    }

    /// How a socket closing with `code` is counted; `None` for a replaced stream, counted when it
    /// was replaced.
    pub fn of_close(code: CloseCode) -> Option<Action> {
        match code {
            CloseCode::Replaced => None,
            CloseCode::Overflow => Some(Action::Overflow),
            CloseCode::Expired => Some(Action::Expired),
            CloseCode::TokenExpired => Some(Action::TokenExpired),
            CloseCode::ClientLeft | CloseCode::HubSilent | CloseCode::Other(_) => Some(Action::Disconnect),
        }
    }
}

/// Additions not yet stored.
#[derive(Default)]
pub struct Tally(RefCell<BTreeMap<(&'static str, String), u64>>);

impl Tally {
    pub fn add(&self, name: &'static str, label: &str, n: u64) {
        if n > 0 {
            *self.0.borrow_mut().entry((name, label.to_string())).or_insert(0) += n;
        }
    }

    pub fn connections(&self, action: Action, n: u64) {
        self.add(name::CONNECTIONS, action.label(), n);
    }

    /// Counts a stream's socket closing, by why it closed.
    pub fn closed(&self, code: CloseCode) {
        if let Some(action) = Action::of_close(code) {
            self.connections(action, 1);
        }
    }

    /// Records one fan-out (the delivery of one published batch to every stream).
    pub fn send_duration(&self, seconds: f64) {
        let bucket = SEND_BUCKETS.iter().position(|bound| seconds <= *bound).unwrap_or(SEND_BUCKETS.len());
        self.add(name::SEND_BUCKET, &bucket.to_string(), 1);
        self.add(name::SEND_COUNT, "", 1);
        self.add(name::SEND_SUM_US, "", (seconds * 1e6).round() as u64);
    }

    /// Takes what was added, to store it.
    pub fn take(&self) -> Vec<(&'static str, String, u64)> {
        std::mem::take(&mut *self.0.borrow_mut()).into_iter().map(|((n, l), v)| (n, l, v)).collect()
    }
}

/// Stored counter values.
#[derive(Default)]
pub struct Stored(BTreeMap<(String, String), u64>);

impl Stored {
    pub fn from_rows(rows: impl IntoIterator<Item = (String, String, u64)>) -> Stored {
        Stored(rows.into_iter().map(|(n, l, v)| ((n, l), v)).collect())
    }

    fn get(&self, name: &str, label: &str) -> u64 {
        self.0.get(&(name.to_string(), label.to_string())).copied().unwrap_or(0)
    }

    fn labels<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        self.0.iter().filter(move |((n, _), _)| n == name).map(|((_, l), v)| (l.as_str(), *v))
    }
}

/// Values read at exposition time.
pub struct Gauges {
    pub connections_active: usize,
    pub history_events: u64,
}

pub fn render(stored: &Stored, gauges: Gauges) -> String {
    let mut out = String::new();
    fn family(out: &mut String, name: &str, kind: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    family(&mut out, "orgstream_connections_active", "gauge", "Open streams of this org.");
    let _ = writeln!(out, "orgstream_connections_active {}", gauges.connections_active);
    family(&mut out, "orgstream_connections_total", "counter", "Stream lifecycle events, by action.");
    for action in Action::ALL.map(Action::label) {
        let _ = writeln!(
            out,
            "orgstream_connections_total{{action=\"{action}\"}} {}",
            stored.get(name::CONNECTIONS, action)
        );
    }
    family(&mut out, "orgstream_events_published_total", "counter", "Events published, by type.");
    for (type_name, n) in stored.labels(name::PUBLISHED) {
        let _ = writeln!(out, "orgstream_events_published_total{{type=\"{type_name}\"}} {n}");
    }
    family(
        &mut out,
        "orgstream_frames_sent_total",
        "counter",
        "Frames the hub sent to streams (events, replayed events, on-connect frames).",
    );
    let _ = writeln!(out, "orgstream_frames_sent_total {}", stored.get(name::FRAMES_SENT, ""));
    family(&mut out, "orgstream_send_duration_seconds", "histogram", "Duration of one fan-out of a published batch.");
    let mut cumulative = 0;
    for (i, bound) in SEND_BUCKETS.iter().enumerate() {
        cumulative += stored.get(name::SEND_BUCKET, &i.to_string());
        let _ = writeln!(out, "orgstream_send_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let count = stored.get(name::SEND_COUNT, "");
    let _ = writeln!(out, "orgstream_send_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "orgstream_send_duration_seconds_sum {}", stored.get(name::SEND_SUM_US, "") as f64 / 1e6);
    let _ = writeln!(out, "orgstream_send_duration_seconds_count {count}");
    family(&mut out, "orgstream_replayed_events_total", "counter", "Events sent from the log to reconnecting streams.");
    let _ = writeln!(out, "orgstream_replayed_events_total {}", stored.get(name::REPLAYED, ""));
    family(&mut out, "orgstream_stream_resets_total", "counter", "stream.reset frames sent.");
    let _ = writeln!(out, "orgstream_stream_resets_total {}", stored.get(name::RESETS, ""));
    family(&mut out, "orgstream_history_events", "gauge", "Events retained in this org's log.");
    let _ = writeln!(out, "orgstream_history_events {}", gauges.history_events);
    family(
        &mut out,
        "orgstream_hub_wakeups_total",
        "counter",
        "Times the org's hub was loaded into memory (first use, after sleeping, after a restart).",
    );
    let _ = writeln!(out, "orgstream_hub_wakeups_total {}", stored.get(name::WAKEUPS, ""));
    family(
        &mut out,
        "orgstream_idempotent_replays_total",
        "counter",
        "Keyed publishes answered again from the kept answer (a retry of a publish that had been stored).",
    );
    let _ = writeln!(out, "orgstream_idempotent_replays_total {}", stored.get(name::IDEMPOTENT_REPLAYS, ""));
    family(
        &mut out,
        "orgstream_idempotency_conflicts_total",
        "counter",
        "Keyed publishes refused with 409: the key had been used with another request.",
    );
    let _ = writeln!(out, "orgstream_idempotency_conflicts_total {}", stored.get(name::IDEMPOTENCY_CONFLICTS, ""));
    // Per relay (`RELAYS_PER_ORG`); no series without relays.
    for (family_name, help) in [
        (name::RELAY_HANDOFFS, "Hand-offs of appended events each relay confirmed."),
        (name::RELAY_WAKEUPS, "Times each relay was loaded into memory, as it reported them."),
        (name::RELAY_RESTARTS, "Times each relay closed its streams so they resume from the hub's log by id: it missed events the log no longer holds, the hub could not read its log for it, or it lost its place."),
    ] {
        let full = format!("orgstream_{family_name}");
        family(&mut out, &full, "counter", help);
        for (relay, n) in stored.labels(family_name) {
            let _ = writeln!(out, "{full}{{relay=\"{relay}\"}} {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a store does with a tally: add it to what it holds.
    fn store(into: &mut Vec<(String, String, u64)>, tally: &Tally) {
        for (n, l, v) in tally.take() {
            match into.iter_mut().find(|(n2, l2, _)| n2 == n && *l2 == l) {
                Some(row) => row.2 += v,
                None => into.push((n.to_string(), l, v)),
            }
        }
    }

    #[test]
    fn exposition_has_every_family_and_cumulative_buckets() {
        let t = Tally::default();
        t.add(name::PUBLISHED, "task.progress", 2);
        t.send_duration(0.002);
        t.send_duration(0.3);
        t.add(name::REPLAYED, "", 3);
        t.connections(Action::Connect, 2);
        t.add(name::FRAMES_SENT, "", 5);
        t.add(name::WAKEUPS, "", 1);
        t.add(name::RELAY_HANDOFFS, "3", 4);
        t.add(name::RELAY_WAKEUPS, "3", 1);
        let mut rows = Vec::new();
        store(&mut rows, &t);
        let text = render(&Stored::from_rows(rows), Gauges { connections_active: 1, history_events: 7 });
        for line in [
            "orgstream_connections_active 1",
            "orgstream_connections_total{action=\"connect\"} 2",
            "orgstream_connections_total{action=\"overflow\"} 0",
            "orgstream_events_published_total{type=\"task.progress\"} 2",
            "orgstream_frames_sent_total 5",
            "orgstream_send_duration_seconds_bucket{le=\"0.001\"} 0",
            "orgstream_send_duration_seconds_bucket{le=\"0.0025\"} 1",
            "orgstream_send_duration_seconds_bucket{le=\"1\"} 2",
            "orgstream_send_duration_seconds_bucket{le=\"+Inf\"} 2",
            "orgstream_send_duration_seconds_sum 0.302",
            "orgstream_send_duration_seconds_count 2",
            "orgstream_replayed_events_total 3",
            "orgstream_stream_resets_total 0",
            "orgstream_history_events 7",
            "orgstream_hub_wakeups_total 1",
            "orgstream_relay_handoffs_total{relay=\"3\"} 4",
            "orgstream_relay_wakeups_total{relay=\"3\"} 1",
            "# TYPE orgstream_relay_restarts_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn tallies_add_up_across_stores_and_are_taken_once() {
        let mut rows = Vec::new();
        for _ in 0..3 {
            let t = Tally::default();
            t.add(name::WAKEUPS, "", 1);
            store(&mut rows, &t);
            assert!(t.take().is_empty());
        }
        assert_eq!(Stored::from_rows(rows).get(name::WAKEUPS, ""), 3);
    }

    #[test]
    fn closes_are_counted_by_why() {
        let t = Tally::default();
        for code in [
            CloseCode::ClientLeft,
            CloseCode::Other(1006),
            CloseCode::Overflow,
            CloseCode::Expired,
            CloseCode::Replaced,
            CloseCode::TokenExpired,
        ] {
            t.closed(code);
        }
        let stored = Stored::from_rows(t.take().into_iter().map(|(n, l, v)| (n.to_string(), l, v)));
        let counts: Vec<u64> = Action::ALL.iter().map(|a| stored.get(name::CONNECTIONS, a.label())).collect();
        assert_eq!(counts, vec![0, 2, 0, 1, 1, 1], "replaced is counted when it happens, not on close");
    }

    #[test]
    fn every_way_a_stream_closes_is_rendered() {
        let t = Tally::default();
        let codes = [1000, 1006, 4001, 4002, 4003, 4004, 4010]
            .map(CloseCode::from_code)
            .into_iter()
            .chain([CloseCode::Other(1011)]);
        for code in codes {
            t.closed(code);
            if let Some(action) = Action::of_close(code) {
                assert!(Action::ALL.contains(&action), "{code:?} is counted as {action:?}, which is listed");
            }
        }
        let mut rows = Vec::new();
        store(&mut rows, &t);
        let text = render(&Stored::from_rows(rows), Gauges { connections_active: 0, history_events: 0 });
        assert!(text.contains("orgstream_connections_total{action=\"token_expired\"} 1"), "{text}");
    }
}
