//! One stream as the front worker holds it: the frames on their way from the org's hub to the
//! browser, the heartbeat, and how the stream ends.
//!
//! Pure: the glue (`stream.rs`) feeds it what happens (a message from the hub, the heartbeat's
//! answer, a timer tick, the hub closing the socket) and asks it, for every chunk, whether to
//! write it to the response. The glue writes at once; the response keeps what the client has not
//! read yet, and tells the glue how many bytes that is (`observe`). The relay keeps a ledger of
//! the chunks written, so it knows how many live frames and bytes the client has not read: a
//! client that falls more than `MAX_UNREAD_FRAMES` or `MAX_UNREAD_BYTES` behind gets
//! `stream.overflow` after what it had, then the end. Replayed pages are not bounded here: the
//! front worker asks for the next one only once the client has read the last, and drops live
//! frames until the stream has caught up (they are in the pages still to come). The token's expiry
//! and the age limit end a stream whether it is catching up or live. The hub never buffers for one
//! reader.

use std::collections::VecDeque;

use schema_wasm::ServerFrame;

use crate::clock::format_ts;
use crate::wire::frame::Frame;
use crate::wire::hub_api::CloseCode;

/// Bounds of one client's unread live frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_frames: usize,
    pub max_bytes: usize,
}

/// Timing of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub heartbeat_interval_ms: u64,
    pub max_age_ms: u64,
    /// Nothing written for this long: write a probe (0: never).
    pub probe_ms: u64,
    /// When the stream's token stops being valid (its `exp` plus the allowed clock skew), in ms
    /// since the epoch: the stream ends then with `stream.expired`.
    pub token_expires_ms: u64,
}

impl Timing {
    /// How often the glue calls `tick`: often enough for both the heartbeat and the probe.
    pub fn tick_ms(&self) -> u64 {
        match self.probe_ms {
            0 => self.heartbeat_interval_ms,
            probe => probe.min(self.heartbeat_interval_ms),
        }
    }
}

/// The probe: an empty SSE comment line. Clients ignore it; writing it is how the runtime tells
/// the front worker that a client left (it notices only at a write).
pub const PROBE: &[u8] = b":\n";

/// Why a stream ends; what its client is told, and what the hub is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client fell too far behind: `stream.overflow`.
    Overflow,
    /// A newer stream with the same request id: `stream.replaced`.
    Replaced,
    /// `MAX_CONNECTION_AGE_SECONDS` reached: no frame, the client reconnects and resumes.
    Expired,
    /// No heartbeat answer within two intervals: no frame, the client reconnects and resumes.
    HubSilent,
    /// The hub's socket closed (restart, deploy) or could not be opened: the client resumes.
    HubGone,
    /// The token expired: `stream.expired`; the client resumes with a fresh token.
    TokenExpired,
    /// The client went away.
    ClientLeft,
}

impl Ending {
    /// The frame the client gets last, after everything written before it.
    pub fn last_frame(self) -> Option<Frame> {
        match self {
            Ending::Overflow => Some(Frame::unnumbered(ServerFrame::Overflow.name(), "{}")),
            Ending::Replaced => Some(Frame::unnumbered(ServerFrame::Replaced.name(), "{}")),
            Ending::TokenExpired => Some(Frame::unnumbered(ServerFrame::Expired.name(), "{}")),
            Ending::Expired | Ending::HubSilent | Ending::HubGone | Ending::ClientLeft => None,
        }
    }

    /// The close code that tells the hub why, when the front worker is the one closing.
    pub fn close_code(self) -> Option<CloseCode> {
        match self {
            Ending::Overflow => Some(CloseCode::Overflow),
            Ending::Expired => Some(CloseCode::Expired),
            Ending::HubSilent => Some(CloseCode::HubSilent),
            Ending::TokenExpired => Some(CloseCode::TokenExpired),
            Ending::ClientLeft => Some(CloseCode::ClientLeft),
            Ending::Replaced | Ending::HubGone => None,
        }
    }
}

/// What to do with a chunk offered to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write it to the response now.
    Write,
    /// The stream has ended: nothing more is written.
    Drop,
    /// It does not fit: the stream ends now with `stream.overflow` (tell the hub `Overflow`).
    Overflow,
}

/// What a timer tick asks the glue to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    Nothing,
    /// Send the heartbeat ping to the hub.
    Ping,
    /// Write `PROBE` to the response.
    Probe,
    /// The stream ends now; tell the hub with this code.
    Close(CloseCode),
}

/// A chunk written to the response and not known to be read yet.
struct Written {
    bytes: usize,
    frames: usize,
    live: bool,
}

pub struct Relay {
    /// Chunks written whose last byte the client may not have read, oldest first.
    unread: VecDeque<Written>,
    /// Bytes of `unread`'s first chunk the client has read.
    front_read: usize,
    unread_bytes: usize,
    live_frames: usize,
    live_bytes: usize,
    limits: Limits,
    timing: Timing,
    opened_ms: u64,
    /// Set once the stream has caught up (after any replay pages).
    connected: bool,
    /// When the front worker asked the hub for the next replay page, until it comes.
    page_asked_ms: Option<u64>,
    ping_sent_ms: Option<u64>,
    last_ping_ms: u64,
    last_written_ms: u64,
    ending: Option<Ending>,
}

impl Relay {
    pub fn new(limits: Limits, timing: Timing, opened_ms: u64) -> Relay {
        Relay {
            unread: VecDeque::new(),
            front_read: 0,
            unread_bytes: 0,
            live_frames: 0,
            live_bytes: 0,
            limits,
            timing,
            opened_ms,
            connected: false,
            page_asked_ms: None,
            ping_sent_ms: None,
            last_ping_ms: opened_ms,
            last_written_ms: opened_ms,
            ending: None,
        }
    }

    /// The response holds `unread` bytes the client has not read: everything written before
    /// them was read. (More than was written, or more than before, cannot happen; it is ignored.)
    pub fn observe(&mut self, unread: usize) {
        let mut read = self.unread_bytes.saturating_sub(unread);
        self.unread_bytes -= read;
        while let Some(front) = self.unread.front() {
            let left = front.bytes - self.front_read;
            if read < left {
                self.front_read += read;
                break;
            }
            read -= left;
            self.front_read = 0;
            if front.live {
                self.live_frames -= front.frames;
                self.live_bytes -= front.bytes;
            }
            self.unread.pop_front();
        }
    }

    /// Frames the client must get whatever its pace (the opening, a replay page): `Write`, or
    /// `Drop` once the stream has ended.
    pub fn write(&mut self, bytes: usize, frames: usize, now_ms: u64) -> Verdict {
        self.page_asked_ms = None;
        if self.ending.is_some() {
            return Verdict::Drop;
        }
        self.written(bytes, frames, false, now_ms);
        Verdict::Write
    }

    /// The front worker asked the hub for the next replay page: with no page (nor the opening)
    /// within two heartbeat intervals, the hub is taken as silent.
    pub fn asked_for_page(&mut self, now_ms: u64) {
        self.page_asked_ms = Some(now_ms);
    }

    /// The stream has caught up (the hub sent its opening): live frames and heartbeats from now on.
    pub fn connected(&mut self) {
        self.connected = true;
    }

    /// Offers live frames. When they do not fit, the stream ends with `stream.overflow`. A client
    /// with nothing live unread has kept up, so whatever comes then is taken, however large (a
    /// full batch, a heartbeat with a tiny frame bound).
    ///
    /// Before the stream is live (while it catches up a page at a time) live frames are dropped:
    /// they are in the pages still to come.
    pub fn offer(&mut self, bytes: usize, frames: usize, now_ms: u64) -> Verdict {
        if self.ending.is_some() || !self.connected {
            return Verdict::Drop;
        }
        let kept_up = self.live_frames == 0 && self.live_bytes == 0;
        if !kept_up
            && (self.live_frames + frames > self.limits.max_frames || self.live_bytes + bytes > self.limits.max_bytes)
        {
            self.end(Ending::Overflow);
            return Verdict::Overflow;
        }
        self.written(bytes, frames, true, now_ms);
        Verdict::Write
    }

    fn written(&mut self, bytes: usize, frames: usize, live: bool, now_ms: u64) {
        if bytes == 0 {
            return;
        }
        if live {
            self.live_frames += frames;
            self.live_bytes += bytes;
        }
        self.unread.push_back(Written { bytes, frames, live });
        self.unread_bytes += bytes;
        self.last_written_ms = now_ms;
    }

    /// The hub answered the heartbeat ping: the client gets this heartbeat frame, if it fits.
    pub fn pong(&mut self, now_ms: u64) -> (Frame, Verdict) {
        self.ping_sent_ms = None;
        let frame = Frame::heartbeat(&format_ts(now_ms));
        let verdict = self.offer(frame.len(), 2, now_ms);
        (frame, verdict)
    }

    /// Called every `Timing::tick_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Tick {
        if self.ending.is_some() {
            return Tick::Nothing;
        }
        // The token's expiry and the age limit end a stream whether it is catching up or live.
        if now_ms >= self.timing.token_expires_ms {
            return self.end(Ending::TokenExpired).map_or(Tick::Nothing, Tick::Close);
        }
        if now_ms.saturating_sub(self.opened_ms) >= self.timing.max_age_ms {
            return self.end(Ending::Expired).map_or(Tick::Nothing, Tick::Close);
        }
        // Timers fire a little early or late: a tick within half a tick of the due time counts.
        let slack = self.timing.tick_ms() / 2;
        if !self.connected {
            let silent = self
                .page_asked_ms
                .is_some_and(|asked| now_ms.saturating_sub(asked) + slack >= 2 * self.timing.heartbeat_interval_ms);
            if silent {
                return self.end(Ending::HubSilent).map_or(Tick::Nothing, Tick::Close);
            }
            return Tick::Nothing;
        }
        match self.ping_sent_ms {
            Some(sent) if now_ms.saturating_sub(sent) + slack >= 2 * self.timing.heartbeat_interval_ms => {
                return self.end(Ending::HubSilent).map_or(Tick::Nothing, Tick::Close);
            }
            Some(_) => {}
            None if now_ms.saturating_sub(self.last_ping_ms) + slack >= self.timing.heartbeat_interval_ms => {
                self.ping_sent_ms = Some(now_ms);
                self.last_ping_ms = now_ms;
                return Tick::Ping;
            }
            None => {}
        }
        let probe = self.timing.probe_ms;
        if probe > 0 && now_ms.saturating_sub(self.last_written_ms) + slack >= probe && self.unread.is_empty() {
            self.written(PROBE.len(), 0, false, now_ms);
            return Tick::Probe;
        }
        Tick::Nothing
    }

    /// The hub closed the socket: replaced, its token expired (the hub checks too), or gone (restart,
    /// deploy).
    pub fn hub_closed(&mut self, code: CloseCode) {
        let ending = match code {
            CloseCode::Replaced => Ending::Replaced,
            CloseCode::TokenExpired => Ending::TokenExpired,
            _ => Ending::HubGone,
        };
        self.end(ending);
    }

    /// Ends the stream: nothing more is written but `Ending::last_frame`. Returns the close code
    /// for the hub, the first time only.
    pub fn end(&mut self, ending: Ending) -> Option<CloseCode> {
        if self.ending.is_some() {
            return None;
        }
        self.ending = Some(ending);
        if ending == Ending::ClientLeft {
            self.unread.clear();
            self.unread_bytes = 0;
            self.front_read = 0;
            self.live_frames = 0;
            self.live_bytes = 0;
        }
        ending.close_code()
    }

    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// Bytes written that the client has not read, as last observed.
    #[cfg(test)]
    pub fn unread_bytes(&self) -> usize {
        self.unread_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_frames: 3, max_bytes: 100 };
    const TIMING: Timing =
        Timing { heartbeat_interval_ms: 1_000, max_age_ms: 60_000, probe_ms: 0, token_expires_ms: u64::MAX };

    fn live() -> Relay {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        r.connected();
        r
    }

    #[test]
    fn frames_are_written_at_once_and_counted_until_read() {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        assert_eq!(r.write(17, 1, 0), Verdict::Write, "the opening");
        r.connected();
        assert_eq!(r.offer(7, 1, 0), Verdict::Write);
        assert_eq!(r.unread_bytes(), 24);
        r.observe(7);
        assert_eq!(r.unread_bytes(), 7, "the opening was read");
        r.observe(0);
        assert_eq!(r.unread_bytes(), 0);
    }

    #[test]
    fn a_client_that_falls_behind_gets_stream_overflow_once_and_nothing_after() {
        let mut r = live();
        for _ in 1..=3 {
            assert_eq!(r.offer(7, 1, 0), Verdict::Write);
        }
        assert_eq!(r.offer(7, 1, 0), Verdict::Overflow, "a fourth unread frame does not fit");
        assert_eq!(r.ending(), Some(Ending::Overflow));
        assert_eq!(
            Ending::Overflow.last_frame().map(|f| f.as_bytes().to_vec()),
            Some(b"event: stream.overflow\ndata: {}\n\n".to_vec())
        );
        assert_eq!(r.offer(7, 1, 0), Verdict::Drop, "nothing after the end");
        assert_eq!(r.write(7, 1, 0), Verdict::Drop);
    }

    #[test]
    fn a_client_that_kept_up_takes_whatever_comes_next() {
        let mut r = live();
        assert_eq!(r.offer(500, 100, 0), Verdict::Write, "a batch over both bounds, when nothing is unread");
        assert_eq!(r.offer(7, 1, 0), Verdict::Overflow, "but nothing after it until it is read");
        let mut r = Relay::new(Limits { max_frames: 1, max_bytes: 100 }, TIMING, 0);
        r.connected();
        assert_eq!(r.pong(1).1, Verdict::Write, "a heartbeat (two frames) with a one-frame bound");
    }

    #[test]
    fn the_byte_bound_counts_too_and_reading_frees_room() {
        let mut r = live();
        assert_eq!(r.offer(60, 1, 0), Verdict::Write);
        r.observe(0);
        assert_eq!(r.offer(60, 1, 0), Verdict::Write, "the first 60 bytes were read");
        assert_eq!(r.offer(60, 1, 0), Verdict::Overflow);
    }

    #[test]
    fn a_chunk_read_in_part_still_counts_as_unread() {
        let behind = || {
            let mut r = live();
            r.offer(60, 1, 0);
            r.offer(30, 1, 0);
            r
        };
        let mut r = behind();
        r.observe(80);
        assert_eq!(r.unread_bytes(), 80);
        assert_eq!(r.offer(15, 1, 0), Verdict::Overflow, "the first chunk, read in part, counts whole: 105 bytes");
        let mut r = behind();
        r.observe(30);
        assert_eq!(r.unread_bytes(), 30, "the first chunk is read");
        assert_eq!(r.offer(15, 1, 0), Verdict::Write, "45 bytes, 2 frames");
    }

    #[test]
    fn an_impossible_report_changes_nothing() {
        let mut r = live();
        r.offer(10, 1, 0);
        r.observe(1_000);
        assert_eq!(r.unread_bytes(), 10, "more unread than written");
    }

    #[test]
    fn replay_pages_are_not_bounded_by_the_live_limits() {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        assert_eq!(r.write(1000, 50, 0), Verdict::Write);
        assert_eq!(r.ending(), None);
        r.connected();
        assert_eq!(r.offer(10, 1, 0), Verdict::Write, "live room is untouched by the page");
        assert_eq!(r.offer(10, 1, 0), Verdict::Write, "live frames count apart from the page");
        assert_eq!(r.unread_bytes(), 1020);
    }

    #[test]
    fn heartbeats_ping_every_interval_and_the_answer_is_the_frame() {
        let mut r = live();
        assert_eq!(r.tick(1_000), Tick::Ping);
        assert_eq!(r.tick(1_500), Tick::Nothing, "one ping at a time");
        let (frame, verdict) = r.pong(1_510);
        assert_eq!(verdict, Verdict::Write);
        let text = std::str::from_utf8(frame.as_bytes()).unwrap_or_default().to_string();
        assert!(
            text.starts_with(":heartbeat\n\nevent: heartbeat\ndata: {\"ts\":\"1970-01-01T00:00:01.510Z\"}"),
            "{text}"
        );
        assert_eq!(r.tick(2_000), Tick::Ping);
    }

    #[test]
    fn no_answer_within_two_intervals_ends_the_stream_without_a_frame() {
        let mut r = live();
        assert_eq!(r.tick(1_000), Tick::Ping);
        assert_eq!(r.tick(2_000), Tick::Nothing);
        assert_eq!(r.tick(3_000), Tick::Close(CloseCode::HubSilent));
        assert_eq!(r.ending().and_then(Ending::last_frame), None);
    }

    #[test]
    fn a_quiet_stream_gets_a_probe_so_that_a_departed_client_is_noticed() {
        let timing = Timing { probe_ms: 500, ..TIMING };
        assert_eq!(timing.tick_ms(), 500);
        let mut r = Relay::new(LIMITS, timing, 0);
        r.connected();
        assert_eq!(r.tick(500), Tick::Probe, "quiet for 500 ms: one comment line");
        r.observe(0);
        r.offer(7, 1, 700);
        assert_eq!(r.tick(1_000), Tick::Ping, "the heartbeat is due first");
        r.observe(0);
        assert_eq!(r.pong(1_010).1, Verdict::Write);
        r.observe(0);
        assert_eq!(r.tick(1_200), Tick::Nothing, "the heartbeat was written 190 ms ago");
        assert_eq!(r.tick(1_500), Tick::Probe, "490 ms ago: due within half a tick");
        r.observe(0);
        assert_eq!(r.tick(2_000), Tick::Ping);
    }

    #[test]
    fn no_probe_while_the_client_has_not_read_what_it_has() {
        let mut r = Relay::new(LIMITS, Timing { probe_ms: 500, ..TIMING }, 0);
        r.connected();
        r.offer(7, 1, 0);
        assert_eq!(r.tick(500), Tick::Nothing, "a probe would not tell more than the unread frame");
        r.observe(0);
        assert_eq!(r.tick(600), Tick::Probe);
    }

    #[test]
    fn a_tick_a_little_early_still_pings_on_time() {
        let mut r = live();
        assert_eq!(r.tick(990), Tick::Ping);
    }

    #[test]
    fn nothing_pings_before_the_stream_has_caught_up() {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        assert_eq!(r.tick(5_000), Tick::Nothing);
    }

    #[test]
    fn a_stream_catching_up_drops_live_frames_the_pages_will_bring() {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        assert_eq!(r.write(500, 256, 0), Verdict::Write, "a page");
        assert_eq!(r.offer(7, 1, 0), Verdict::Drop, "a live frame before the stream caught up");
        assert_eq!(r.ending(), None, "the stream goes on");
        r.connected();
        assert_eq!(r.offer(7, 1, 0), Verdict::Write);
    }

    #[test]
    fn a_stream_catching_up_still_ends_with_its_token_or_at_its_age() {
        let mut r = Relay::new(LIMITS, Timing { token_expires_ms: 30_000, ..TIMING }, 0);
        r.write(1_000_000, 256, 0);
        assert_eq!(r.tick(30_000), Tick::Close(CloseCode::TokenExpired), "never connected, still ended");
        let mut r = Relay::new(LIMITS, TIMING, 0);
        assert_eq!(r.tick(60_000), Tick::Close(CloseCode::Expired));
    }

    #[test]
    fn a_page_asked_for_and_never_sent_ends_the_stream_as_the_hub_gone_silent() {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        r.write(500, 256, 0);
        assert_eq!(r.tick(10_000), Tick::Nothing, "a page the client takes long to read is fine");
        r.asked_for_page(10_000);
        assert_eq!(r.tick(11_000), Tick::Nothing);
        r.write(500, 256, 11_500);
        assert_eq!(r.tick(13_000), Tick::Nothing, "the page came");
        r.asked_for_page(13_000);
        assert_eq!(r.tick(15_000), Tick::Close(CloseCode::HubSilent), "two intervals and no page");
    }

    #[test]
    fn the_hub_ending_a_stream_for_its_token_tells_the_client_stream_expired() {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        r.hub_closed(CloseCode::TokenExpired);
        assert_eq!(r.ending(), Some(Ending::TokenExpired));
    }

    #[test]
    fn an_old_stream_ends_politely() {
        let mut r = live();
        r.offer(7, 1, 0);
        assert_eq!(r.tick(60_000), Tick::Close(CloseCode::Expired));
        assert_eq!(r.ending().and_then(Ending::last_frame), None, "what was written, and no notice");
    }

    #[test]
    fn a_stream_ends_when_its_token_does_with_stream_expired() {
        let mut r = Relay::new(LIMITS, Timing { token_expires_ms: 30_000, ..TIMING }, 0);
        r.connected();
        assert_eq!(r.tick(29_990), Tick::Ping, "valid until then");
        assert_eq!(r.tick(30_000), Tick::Close(CloseCode::TokenExpired));
        let last = r.ending().and_then(Ending::last_frame).map(|f| f.as_bytes().to_vec());
        assert_eq!(
            last,
            Some(b"event: stream.expired\ndata: {}\n\n".to_vec()),
            "the client fetches a fresh token and resumes"
        );
    }

    #[test]
    fn replaced_by_the_hub_the_client_gets_stream_replaced_last() {
        let mut r = live();
        r.hub_closed(CloseCode::Replaced);
        let last = r.ending().and_then(Ending::last_frame).map(|f| f.as_bytes().to_vec());
        assert_eq!(last, Some(b"event: stream.replaced\ndata: {}\n\n".to_vec()));
    }

    #[test]
    fn when_the_hub_goes_away_the_stream_just_ends() {
        let mut r = live();
        r.hub_closed(CloseCode::Other(1006));
        assert_eq!(r.ending(), Some(Ending::HubGone));
        assert_eq!(Ending::HubGone.close_code(), None, "the hub knows already");
    }

    #[test]
    fn when_the_client_leaves_nothing_more_is_kept() {
        let mut r = live();
        r.offer(7, 1, 0);
        assert_eq!(r.end(Ending::ClientLeft), Some(CloseCode::ClientLeft));
        assert_eq!(r.unread_bytes(), 0);
        assert_eq!(r.end(Ending::Overflow), None, "it ends once");
    }
}
