//! The org's counters, and their Prometheus text exposition (`GET /v1/metrics`).
//! They live in the org's Durable Object: a restart or eviction of the object resets them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write;

use crate::connections::Counts;

/// Upper bounds (seconds) of the fan-out duration histogram.
pub const SEND_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0];

#[derive(Default)]
pub struct Metrics {
    pub published: RefCell<BTreeMap<String, u64>>,
    pub replayed: Cell<u64>,
    pub resets: Cell<u64>,
    send_buckets: RefCell<[u64; SEND_BUCKETS.len()]>,
    send_count: Cell<u64>,
    send_sum: Cell<f64>,
}

/// Values read at exposition time.
pub struct Gauges {
    pub connections_active: usize,
    pub history_events: u64,
}

impl Metrics {
    pub fn published(&self, type_name: &str) {
        *self.published.borrow_mut().entry(type_name.to_string()).or_insert(0) += 1;
    }

    pub fn add(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get() + n);
    }

    /// Records one fan-out (the delivery of one published batch to every connection).
    pub fn send_duration(&self, seconds: f64) {
        let mut buckets = self.send_buckets.borrow_mut();
        for (bound, count) in SEND_BUCKETS.iter().zip(buckets.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.send_count.set(self.send_count.get() + 1);
        self.send_sum.set(self.send_sum.get() + seconds);
    }

    pub fn render(&self, counts: Counts, gauges: Gauges) -> String {
        let mut out = String::new();
        fn family(out: &mut String, name: &str, kind: &str, help: &str) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
        family(&mut out, "orgstream_connections_active", "gauge", "Open streams of this org.");
        let _ = writeln!(out, "orgstream_connections_active {}", gauges.connections_active);
        family(&mut out, "orgstream_connections_total", "counter", "Stream lifecycle events, by action.");
        for (action, n) in [
            ("connect", counts.connect),
            ("disconnect", counts.disconnect),
            ("replaced", counts.replaced),
            ("overflow", counts.overflow),
            ("expired", counts.expired),
        ] {
            let _ = writeln!(out, "orgstream_connections_total{{action=\"{action}\"}} {n}");
        }
        family(&mut out, "orgstream_events_published_total", "counter", "Events published, by type.");
        for (type_name, n) in self.published.borrow().iter() {
            let _ = writeln!(out, "orgstream_events_published_total{{type=\"{type_name}\"}} {n}");
        }
        family(&mut out, "orgstream_frames_sent_total", "counter", "Frames queued to connections (events, heartbeats, on-connect frames).");
        let _ = writeln!(out, "orgstream_frames_sent_total {}", counts.frames_sent);
        family(&mut out, "orgstream_send_duration_seconds", "histogram", "Duration of one fan-out of a published batch.");
        let buckets = self.send_buckets.borrow();
        for (bound, n) in SEND_BUCKETS.iter().zip(buckets.iter()) {
            let _ = writeln!(out, "orgstream_send_duration_seconds_bucket{{le=\"{bound}\"}} {n}");
        }
        let count = self.send_count.get();
        let _ = writeln!(out, "orgstream_send_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "orgstream_send_duration_seconds_sum {}", self.send_sum.get());
        let _ = writeln!(out, "orgstream_send_duration_seconds_count {count}");
        family(&mut out, "orgstream_replayed_events_total", "counter", "Events sent from the log to reconnecting streams.");
        let _ = writeln!(out, "orgstream_replayed_events_total {}", self.replayed.get());
        family(&mut out, "orgstream_stream_resets_total", "counter", "stream.reset frames sent.");
        let _ = writeln!(out, "orgstream_stream_resets_total {}", self.resets.get());
        family(&mut out, "orgstream_history_events", "gauge", "Events retained in this org's log.");
        let _ = writeln!(out, "orgstream_history_events {}", gauges.history_events);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family_and_cumulative_buckets() {
        let m = Metrics::default();
        m.published("task.progress");
        m.published("task.progress");
        m.send_duration(0.002);
        m.send_duration(0.3);
        Metrics::add(&m.replayed, 3);
        let text = m.render(Counts { connect: 2, frames_sent: 5, ..Counts::default() }, Gauges { connections_active: 1, history_events: 7 });
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
            "orgstream_send_duration_seconds_count 2",
            "orgstream_replayed_events_total 3",
            "orgstream_stream_resets_total 0",
            "orgstream_history_events 7",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
