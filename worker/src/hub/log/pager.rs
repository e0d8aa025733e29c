//! Catching a connecting stream up with the log, a page at a time (contract 4.1).
//!
//! A connect carries the client's last event id. If what it missed fits in one page, the hub
//! sends that page and makes the stream live in the same step (no `await` between reading the log
//! and joining the live sockets), so the seam has no gap and no duplicate. If more is missing, the
//! hub answers with one page and where to go on from; the front worker sends it to its client and
//! connects again once the client has read it. Neither side ever holds more than a page of the
//! backlog, however far behind the client is, and events published meanwhile are simply in a
//! later page. Retention that overtakes a slow replay shows up at the next connect as a gap, and
//! the client gets `stream.reset` rather than a silent hole.

use crate::hub::log::{Reader, Stored};
use crate::replay::{resync_info, Resume, Window};
use crate::wire::frame::Frame;
use schema_wasm::ResetReason;

/// Events one replay page holds at most, and the bytes of envelopes it stops at.
pub const PAGE_EVENTS: u64 = 256;
pub const PAGE_BYTES: u64 = 1 << 20;

/// Which events a read is about: those after `after` up to `until` that `reader` may see
/// (broadcast events, and events targeted at its request id for its subject or for no subject in
/// particular), of type `only` when given (history's `?type=`), in id order.
#[derive(Clone, Copy, Debug)]
pub struct Span<'a> {
    pub after: u64,
    pub until: u64,
    pub reader: Option<Reader<'a>>,
    pub only: Option<&'a str>,
}

/// Which end of a span a page starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Oldest first: replay, and history read forward (`after`).
    OldestFirst,
    /// Newest first: history read backward (`order=desc`, `before`).
    NewestFirst,
}

/// Reading the log, as the pager and history need it (the org's SQLite log; a vector in tests).
pub trait LogPages {
    /// The events of `span` from the end `order` says: at most `limit`, and stopping after the
    /// event that reaches `max_bytes` of envelopes (so a page holds at least one event, and at most
    /// `max_bytes` plus one envelope).
    fn page(&self, span: Span<'_>, order: Order, limit: u64, max_bytes: u64) -> worker::Result<Vec<Stored>>;
    /// Whether `span` holds an event.
    fn has_after(&self, span: Span<'_>) -> worker::Result<bool>;
}

/// How a connect goes on.
#[derive(Debug, PartialEq)]
pub enum CatchUp {
    /// Send these frames (the rest of the backlog, or a reset, or nothing), then live.
    Live { frames: Vec<Frame>, replayed: u64, reset: bool },
    /// Send this page; the client connects again after `resume_after`.
    Page { frames: Vec<Frame>, resume_after: u64 },
}

pub fn reset_frame(reason: ResetReason, window: Window) -> Frame {
    let data = serde_json::to_string(&resync_info(reason, window)).unwrap_or_else(|_| "{}".to_string());
    Frame::unnumbered(schema_wasm::ServerFrame::Reset.name(), &data)
}

/// Decides how a connect that resumes as `resume` goes on, given the log's `window` now.
pub fn catch_up(
    log: &impl LogPages,
    resume: Resume,
    window: Window,
    reader: Option<Reader<'_>>,
) -> worker::Result<CatchUp> {
    let after = match resume {
        Resume::Live => return Ok(CatchUp::Live { frames: Vec::new(), replayed: 0, reset: false }),
        Resume::Reset(reason) => {
            return Ok(CatchUp::Live { frames: vec![reset_frame(reason, window)], replayed: 0, reset: true })
        }
        Resume::After(after) => after,
    };
    let span = Span { after, until: window.latest, reader, only: None };
    let rows = log.page(span, Order::OldestFirst, PAGE_EVENTS, PAGE_BYTES)?;
    let frames: Vec<Frame> = rows.iter().map(|r| Frame::event(r.id, &r.type_name, &r.envelope)).collect();
    let Some(last) = rows.last().map(|r| r.id) else {
        return Ok(CatchUp::Live { frames, replayed: 0, reset: false });
    };
    if log.has_after(Span { after: last, ..span })? {
        Ok(CatchUp::Page { frames, resume_after: last })
    } else {
        let replayed = frames.len() as u64;
        Ok(CatchUp::Live { frames, replayed, reset: false })
    }
}

impl CatchUp {
    /// Events sent from the log by this step.
    pub fn replayed(&self) -> u64 {
        match self {
            CatchUp::Live { replayed, .. } => *replayed,
            CatchUp::Page { frames, .. } => frames.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{resume, LastEventId};

    /// A log of `n` events; events whose id is in `targeted` are for request id "mine" only.
    struct FakeLog {
        rows: Vec<(u64, Option<&'static str>, usize)>,
    }

    impl FakeLog {
        fn new(ids: std::ops::RangeInclusive<u64>) -> FakeLog {
            FakeLog { rows: ids.map(|id| (id, None, 10)).collect() }
        }
        fn window(&self) -> Window {
            Window { earliest: self.rows.first().map(|r| r.0), latest: self.rows.last().map_or(0, |r| r.0) }
        }
        fn visible<'a>(&'a self, span: Span<'a>) -> impl Iterator<Item = &'a (u64, Option<&'static str>, usize)> + 'a {
            let rid = span.reader.map(|r| r.request_id);
            self.rows.iter().filter(move |r| r.0 > span.after && r.0 <= span.until && (r.1.is_none() || r.1 == rid))
        }
    }

    impl LogPages for FakeLog {
        fn page(&self, span: Span<'_>, order: Order, limit: u64, max_bytes: u64) -> worker::Result<Vec<Stored>> {
            assert_eq!(order, Order::OldestFirst, "replay reads oldest first");
            let mut out = Vec::new();
            let mut bytes = 0;
            for (id, _target, size) in self.visible(span).take(limit as usize) {
                if bytes >= max_bytes {
                    break;
                }
                bytes += *size as u64;
                out.push(Stored { id: *id, envelope: "x".repeat(*size), type_name: "t".into() });
            }
            Ok(out)
        }
        fn has_after(&self, span: Span<'_>) -> worker::Result<bool> {
            Ok(self.visible(span).next().is_some())
        }
    }

    fn ids(frames: &[Frame]) -> Vec<u64> {
        frames
            .iter()
            .filter_map(|f| {
                std::str::from_utf8(f.as_bytes()).ok()?.strip_prefix("id: ")?.split('\n').next()?.parse().ok()
            })
            .collect()
    }

    /// Connects as the front worker does: again after every page, until live.
    fn connect_until_live(log: &FakeLog, last: &str, rid: Option<&str>) -> (Vec<u64>, usize) {
        let mut last = LastEventId::parse(last);
        let (mut got, mut pages) = (Vec::new(), 0);
        loop {
            let reader = rid.map(|request_id| Reader { request_id, sub: "user" });
            match catch_up(log, resume(last, log.window()), log.window(), reader).unwrap() {
                CatchUp::Page { frames, resume_after } => {
                    assert!(frames.len() as u64 <= PAGE_EVENTS);
                    got.extend(ids(&frames));
                    pages += 1;
                    last = Some(LastEventId::Id(resume_after));
                }
                CatchUp::Live { frames, .. } => {
                    got.extend(ids(&frames));
                    return (got, pages);
                }
            }
        }
    }

    #[test]
    fn a_backlog_that_fits_one_page_goes_live_in_the_same_step() {
        let log = FakeLog::new(1..=10);
        let step = catch_up(&log, Resume::After(7), log.window(), None).unwrap();
        assert!(matches!(&step, CatchUp::Live { replayed: 3, reset: false, .. }));
        let CatchUp::Live { frames, .. } = step else { unreachable!() };
        assert_eq!(ids(&frames), vec![8, 9, 10]);
    }

    #[test]
    fn a_long_backlog_comes_a_page_at_a_time_without_gap_or_duplicate() {
        let log = FakeLog::new(1..=10_000);
        let (got, pages) = connect_until_live(&log, "0", None);
        assert_eq!(got, (1..=10_000).collect::<Vec<_>>());
        assert_eq!(pages, 39, "10,000 events in pages of 256, the last one live");
    }

    #[test]
    fn pages_also_stop_at_their_byte_budget() {
        let log = FakeLog { rows: (1..=10).map(|id| (id, None, (PAGE_BYTES / 2) as usize)).collect() };
        let step = catch_up(&log, Resume::After(0), log.window(), None).unwrap();
        let CatchUp::Page { frames, resume_after } = step else { panic!("expected a page") };
        assert_eq!((frames.len(), resume_after), (2, 2), "the event that reaches the budget ends the page");
        assert_eq!(connect_until_live(&log, "0", None).0, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn events_published_between_pages_arrive_in_a_later_page() {
        let mut log = FakeLog::new(1..=300);
        let first = catch_up(&log, Resume::After(0), log.window(), None).unwrap();
        let CatchUp::Page { resume_after, .. } = first else { panic!("expected a page") };
        log.rows.extend((301..=310).map(|id| (id, None, 10)));
        let (rest, _) = connect_until_live(&log, &resume_after.to_string(), None);
        assert_eq!(rest, (257..=310).collect::<Vec<_>>());
    }

    #[test]
    fn targeted_events_of_other_connections_are_skipped_and_do_not_hold_the_stream_back() {
        let mut log = FakeLog::new(1..=5);
        log.rows.push((6, Some("other"), 10));
        log.rows.push((7, Some("mine"), 10));
        log.rows.push((8, Some("other"), 10));
        assert_eq!(connect_until_live(&log, "0", Some("mine")).0, vec![1, 2, 3, 4, 5, 7]);
        assert_eq!(connect_until_live(&log, "5", None).0, Vec::<u64>::new());
    }

    #[test]
    fn retention_overtaking_a_replay_is_a_reset_at_the_next_connect() {
        let mut log = FakeLog::new(1..=600);
        let CatchUp::Page { resume_after, .. } = catch_up(&log, Resume::After(0), log.window(), None).unwrap() else {
            panic!("expected a page")
        };
        log.rows.retain(|r| r.0 > 400);
        let next =
            catch_up(&log, resume(Some(LastEventId::Id(resume_after)), log.window()), log.window(), None).unwrap();
        let CatchUp::Live { frames, reset: true, .. } = next else { panic!("expected a reset, got {next:?}") };
        let text = String::from_utf8(frames[0].as_bytes().to_vec()).unwrap();
        assert!(
            text.starts_with("event: stream.reset\ndata: {\"reason\":\"history_gap\",\"earliestId\":\"401\""),
            "{text}"
        );
    }

    #[test]
    fn live_and_caught_up_connects_send_nothing() {
        let log = FakeLog::new(1..=3);
        assert_eq!(
            catch_up(&log, Resume::Live, log.window(), None).unwrap(),
            CatchUp::Live { frames: vec![], replayed: 0, reset: false }
        );
        assert_eq!(
            catch_up(&log, Resume::After(3), log.window(), None).unwrap(),
            CatchUp::Live { frames: vec![], replayed: 0, reset: false }
        );
    }
}
