//! The replay and retention rules (contract 4.1 and 4.4), as pure functions of the log's window.

use schema_wasm::{ResetReason, ResyncInfo};
use serde::{Deserialize, Serialize};

/// What the log holds: the earliest retained id (none when nothing is retained) and the latest id
/// ever assigned (0 before the first event). Retention drops events from the front only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub earliest: Option<u64>,
    pub latest: u64,
}

impl Window {
    /// Whether every event after `after` is still retained.
    fn holds_everything_after(&self, after: u64) -> bool {
        match self.earliest {
            Some(earliest) => after.saturating_add(1) >= earliest,
            None => after >= self.latest,
        }
    }
}

/// How a new connection starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// No last event id: live events only.
    Live,
    /// Replay every retained event with an id greater than this, then live.
    After(u64),
    /// Send `stream.reset` with this reason, then live.
    Reset(ResetReason),
}

/// Parses a position (a last event id, `after`): an event id as the server writes them, or `0`
/// (`schema_wasm::ids`, the one rule the browser module and the TypeScript share).
pub fn parse_id(raw: &str) -> Option<u64> {
    schema_wasm::ids::parse_position(raw)
}

/// A client's last event id as it arrived (`Last-Event-ID` or `lastEventId`), parsed once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LastEventId {
    Id(u64),
    /// Not a decimal number: never issued, so the client must resync.
    NotAnId,
}

impl LastEventId {
    /// `None` for an empty value: browsers never send an empty `Last-Event-ID`, so it means none.
    pub fn parse(raw: &str) -> Option<LastEventId> {
        if raw.is_empty() {
            return None;
        }
        Some(parse_id(raw).map_or(LastEventId::NotAnId, LastEventId::Id))
    }
}

/// Decides how to resume a stream given the client's last event id.
pub fn resume(last_event_id: Option<LastEventId>, window: Window) -> Resume {
    let id = match last_event_id {
        None => return Resume::Live,
        Some(LastEventId::NotAnId) => return Resume::Reset(ResetReason::UnknownId),
        Some(LastEventId::Id(id)) => id,
    };
    if id > window.latest {
        return Resume::Reset(ResetReason::UnknownId);
    }
    if !window.holds_everything_after(id) {
        return Resume::Reset(ResetReason::HistoryGap);
    }
    Resume::After(id)
}

/// `gap` of the history endpoint: true when the page cannot be an exact continuation of `after`,
/// because events after it were dropped, or because `after` was never issued (a client that is
/// ahead of the server, e.g. after the org's log was wiped, must resync just the same).
pub fn history_gap(after: u64, window: Window) -> bool {
    after > window.latest || !window.holds_everything_after(after)
}

/// What a client resyncing for `reason` is told of `window` (`stream.reset`'s data, contract 3).
pub fn resync_info(reason: ResetReason, window: Window) -> ResyncInfo {
    ResyncInfo {
        reason,
        earliest_id: window.earliest.map(|id| id.to_string()),
        latest_id: (window.latest > 0).then(|| window.latest.to_string()),
    }
}

/// Retention limits (`HISTORY_MAX_EVENTS`, `HISTORY_MAX_AGE_SECONDS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub max_events: u64,
    pub max_age_ms: u64,
}

impl Retention {
    /// Events with an id below this are dropped.
    pub fn keep_from_id(&self, latest: u64) -> u64 {
        latest.saturating_sub(self.max_events).saturating_add(1)
    }

    /// Events stored before this time (ms since the epoch) are dropped.
    pub fn keep_from_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.max_age_ms)
    }

    /// Whether the log whose oldest event has `oldest_id`, stored at `oldest_ms`, is due for
    /// pruning: once it holds a 64th more than either limit (so the hub prunes once in many
    /// appends, not at every one; with fewer than 64 events, or under 64 ms, at once).
    pub fn due(&self, oldest_id: u64, oldest_ms: u64, latest: u64, now_ms: u64) -> bool {
        oldest_id.saturating_add(self.max_events / 64) < self.keep_from_id(latest)
            || oldest_ms.saturating_add(self.max_age_ms / 64) < self.keep_from_ms(now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_pruned_once_it_holds_a_64th_more_than_a_limit() {
        let r = Retention { max_events: 6400, max_age_ms: 64_000 };
        // Events 1..=6500 are retained; 6400 are allowed, 100 more are tolerated.
        assert!(!r.due(1, 0, 6500, 0));
        assert!(r.due(1, 0, 6501, 0), "101 too many");
        assert!(!r.due(1, 10_000, 10, 75_000), "1000 ms past the age limit is tolerated");
        assert!(r.due(1, 10_000, 10, 75_001));
        let exact = Retention { max_events: 5, max_age_ms: 63 };
        assert!(!r.due(1, 0, 5, 0) && exact.due(1, 0, 6, 0), "small limits are exact");
        assert!(exact.due(1, 0, 1, 64) && !exact.due(1, 0, 1, 63));
    }

    const W: Window = Window { earliest: Some(5), latest: 10 };

    #[test]
    fn no_id_means_live() {
        assert_eq!(resume(None, W), Resume::Live);
        assert_eq!(resume(LastEventId::parse(""), W), Resume::Live);
    }

    #[test]
    fn exact_replay_inside_the_window() {
        assert_eq!(resume(LastEventId::parse("7"), W), Resume::After(7));
        assert_eq!(resume(LastEventId::parse("10"), W), Resume::After(10), "caught up: nothing to replay");
    }

    #[test]
    fn the_seam_earliest_minus_one_is_still_exact() {
        assert_eq!(resume(LastEventId::parse("4"), W), Resume::After(4));
        assert_eq!(resume(LastEventId::parse("3"), W), Resume::Reset(ResetReason::HistoryGap));
        assert_eq!(resume(LastEventId::parse("0"), W), Resume::Reset(ResetReason::HistoryGap));
    }

    #[test]
    fn from_zero_replays_all_when_nothing_was_dropped() {
        let w = Window { earliest: Some(1), latest: 3 };
        assert_eq!(resume(LastEventId::parse("0"), w), Resume::After(0));
    }

    #[test]
    fn greater_than_latest_is_unknown() {
        assert_eq!(resume(LastEventId::parse("11"), W), Resume::Reset(ResetReason::UnknownId));
        let empty = Window { earliest: None, latest: 0 };
        assert_eq!(resume(LastEventId::parse("1"), empty), Resume::Reset(ResetReason::UnknownId));
        assert_eq!(resume(LastEventId::parse("0"), empty), Resume::After(0));
    }

    #[test]
    fn non_numeric_is_unknown() {
        for raw in ["abc", "-1", "+5", "5 ", " 5", "1e3", "0x10", "99999999999999999999999"] {
            assert_eq!(resume(LastEventId::parse(raw), W), Resume::Reset(ResetReason::UnknownId), "{raw:?}");
        }
    }

    #[test]
    fn everything_expired() {
        let w = Window { earliest: None, latest: 10 };
        assert_eq!(resume(LastEventId::parse("10"), w), Resume::After(10));
        assert_eq!(resume(LastEventId::parse("9"), w), Resume::Reset(ResetReason::HistoryGap));
    }

    #[test]
    fn history_gap_rules() {
        assert!(!history_gap(4, W));
        assert!(!history_gap(10, W));
        assert!(history_gap(3, W));
        assert!(history_gap(11, W));
        assert!(!history_gap(0, Window { earliest: Some(1), latest: 3 }));
        assert!(!history_gap(0, Window { earliest: None, latest: 0 }));
    }

    #[test]
    fn reset_data_shape() {
        let d = serde_json::to_string(&resync_info(ResetReason::HistoryGap, W)).unwrap();
        assert_eq!(d, r#"{"reason":"history_gap","earliestId":"5","latestId":"10"}"#);
        let d =
            serde_json::to_string(&resync_info(ResetReason::UnknownId, Window { earliest: None, latest: 0 })).unwrap();
        assert_eq!(d, r#"{"reason":"unknown_id","earliestId":null,"latestId":null}"#);
    }

    #[test]
    fn retention_bounds() {
        let r = Retention { max_events: 3, max_age_ms: 1000 };
        assert_eq!(r.keep_from_id(10), 8);
        assert_eq!(r.keep_from_id(2), 1);
        assert_eq!(r.keep_from_ms(5000), 4000);
        assert_eq!(r.keep_from_ms(500), 0);
    }
}
