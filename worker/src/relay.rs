//! One stream as the front worker holds it: the frames on their way from the org's hub to the
//! browser, the heartbeat, and how the stream ends.
//!
//! Pure: the glue (`stream.rs`) feeds it what happens (a message from the hub, the heartbeat's
//! answer, a timer tick, the hub closing the socket) and drains it as the client reads. Live
//! frames wait in a queue bounded by `QUEUE_MAX_FRAMES` and `QUEUE_MAX_BYTES`; a client that falls
//! that far behind gets what it had queued, then `stream.overflow`, then the end. Replayed pages
//! are not bounded here: the front worker asks for the next one only once the client has read the
//! last. The hub never buffers for one reader.

use std::collections::VecDeque;

use crate::clock::format_ts;
use crate::frame::Frame;
use crate::hub_api::CloseCode;

/// Bounds of one client's queue of live frames.
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
    /// The client went away.
    ClientLeft,
}

impl Ending {
    fn last_frame(self) -> Option<Frame> {
        match self {
            Ending::Overflow => Some(Frame::unnumbered("stream.overflow", "{}")),
            Ending::Replaced => Some(Frame::unnumbered("stream.replaced", "{}")),
            Ending::Expired | Ending::HubSilent | Ending::HubGone | Ending::ClientLeft => None,
        }
    }

    /// The close code that tells the hub why, when the front worker is the one closing.
    pub fn close_code(self) -> Option<CloseCode> {
        match self {
            Ending::Overflow => Some(CloseCode::Overflow),
            Ending::Expired => Some(CloseCode::Expired),
            Ending::HubSilent => Some(CloseCode::HubSilent),
            Ending::ClientLeft => Some(CloseCode::ClientLeft),
            Ending::Replaced | Ending::HubGone => None,
        }
    }
}

/// What the reader gets next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Bytes(Vec<u8>),
    /// Nothing yet: wait to be woken.
    Wait,
    /// The stream is over.
    End,
}

/// What a timer tick asks the glue to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    Nothing,
    /// Send the heartbeat ping to the hub.
    Ping,
    /// The stream ends now; tell the hub with this code.
    Close(CloseCode),
}

struct Chunk {
    bytes: Vec<u8>,
    frames: usize,
    live: bool,
}

pub struct Relay {
    queue: VecDeque<Chunk>,
    live_frames: usize,
    live_bytes: usize,
    limits: Limits,
    timing: Timing,
    opened_ms: u64,
    /// Set once the socket to the hub is open (after any replay pages).
    connected: bool,
    ping_sent_ms: Option<u64>,
    last_ping_ms: u64,
    last_queued_ms: u64,
    ending: Option<Ending>,
    last_written: bool,
}

impl Relay {
    pub fn new(limits: Limits, timing: Timing, opened_ms: u64) -> Relay {
        Relay {
            queue: VecDeque::new(),
            live_frames: 0,
            live_bytes: 0,
            limits,
            timing,
            opened_ms,
            connected: false,
            ping_sent_ms: None,
            last_ping_ms: opened_ms,
            last_queued_ms: opened_ms,
            ending: None,
            last_written: false,
        }
    }

    /// Queues frames the client must get whatever its pace (the opening, a replay page).
    pub fn write(&mut self, bytes: Vec<u8>, frames: usize, now_ms: u64) {
        if self.ending.is_none() && !bytes.is_empty() {
            self.queue.push_back(Chunk { bytes, frames, live: false });
            self.last_queued_ms = now_ms;
        }
    }

    /// The socket to the hub is open: live frames and heartbeats from now on.
    pub fn connected(&mut self) {
        self.connected = true;
    }

    /// Offers live frames. When they do not fit, the stream ends with `stream.overflow`; the
    /// returned code tells the hub. A client with nothing live queued has kept up, so whatever
    /// comes then is taken, however large (a full batch, a heartbeat with a tiny frame bound).
    pub fn offer(&mut self, bytes: Vec<u8>, frames: usize, now_ms: u64) -> Option<CloseCode> {
        if self.ending.is_some() {
            return None;
        }
        let kept_up = self.live_frames == 0 && self.live_bytes == 0;
        if !kept_up
            && (self.live_frames + frames > self.limits.max_frames || self.live_bytes + bytes.len() > self.limits.max_bytes)
        {
            return self.end(Ending::Overflow);
        }
        self.live_frames += frames;
        self.live_bytes += bytes.len();
        self.queue.push_back(Chunk { bytes, frames, live: true });
        self.last_queued_ms = now_ms;
        None
    }

    /// The hub answered the heartbeat ping: the client gets a heartbeat.
    pub fn pong(&mut self, now_ms: u64) -> Option<CloseCode> {
        self.ping_sent_ms = None;
        self.offer(Frame::heartbeat(&format_ts(now_ms)).as_bytes().to_vec(), 2, now_ms)
    }

    /// Called every `Timing::tick_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Tick {
        if self.ending.is_some() || !self.connected {
            return Tick::Nothing;
        }
        if now_ms.saturating_sub(self.opened_ms) >= self.timing.max_age_ms {
            return self.end(Ending::Expired).map_or(Tick::Nothing, Tick::Close);
        }
        // Timers fire a little early or late: a tick within half a tick of the due time counts.
        let slack = self.timing.tick_ms() / 2;
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
        if probe > 0 && now_ms.saturating_sub(self.last_queued_ms) + slack >= probe && self.queue.is_empty() {
            self.queue.push_back(Chunk { bytes: PROBE.to_vec(), frames: 0, live: false });
            self.last_queued_ms = now_ms;
        }
        Tick::Nothing
    }

    /// The hub closed the socket: replaced, or gone (restart, deploy).
    pub fn hub_closed(&mut self, code: CloseCode) {
        let ending = if code == CloseCode::Replaced { Ending::Replaced } else { Ending::HubGone };
        self.end(ending);
    }

    /// Ends the stream: nothing more is queued; the client gets what was, then the last frame.
    /// Returns the close code for the hub, the first time only.
    pub fn end(&mut self, ending: Ending) -> Option<CloseCode> {
        if self.ending.is_some() {
            return None;
        }
        self.ending = Some(ending);
        if ending == Ending::ClientLeft {
            self.queue.clear();
        }
        ending.close_code()
    }

    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// Whether the client has read everything queued (the moment to fetch the next replay page).
    pub fn is_drained(&self) -> bool {
        self.queue.is_empty()
    }

    /// What the client reads next.
    pub fn take_next(&mut self) -> Next {
        if let Some(chunk) = self.queue.pop_front() {
            if chunk.live {
                self.live_frames -= chunk.frames;
                self.live_bytes -= chunk.bytes.len();
            }
            return Next::Bytes(chunk.bytes);
        }
        match self.ending {
            None => Next::Wait,
            Some(_) if self.last_written => Next::End,
            Some(ending) => {
                self.last_written = true;
                match ending.last_frame() {
                    Some(frame) => Next::Bytes(frame.as_bytes().to_vec()),
                    None => Next::End,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_frames: 3, max_bytes: 100 };
    const TIMING: Timing = Timing { heartbeat_interval_ms: 1_000, max_age_ms: 60_000, probe_ms: 0 };

    fn live() -> Relay {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        r.connected();
        r
    }

    fn drain(r: &mut Relay) -> String {
        let mut out = String::new();
        while let Next::Bytes(b) = r.take_next() {
            out.push_str(std::str::from_utf8(&b).unwrap());
        }
        out
    }

    #[test]
    fn frames_reach_the_client_in_the_order_they_came() {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        r.write(b"retry: 1000\n:ok\n\n".to_vec(), 1, 0);
        r.write(b"id: 1\n\n".to_vec(), 1, 0);
        r.connected();
        assert_eq!(r.offer(b"id: 2\n\n".to_vec(), 1, 0), None);
        assert_eq!(drain(&mut r), "retry: 1000\n:ok\n\nid: 1\n\nid: 2\n\n");
        assert_eq!(r.take_next(), Next::Wait, "open, waiting for more");
    }

    #[test]
    fn a_client_that_falls_behind_gets_what_was_queued_then_stream_overflow_then_the_end() {
        let mut r = live();
        for id in 1..=3 {
            assert_eq!(r.offer(format!("id: {id}\n\n").into_bytes(), 1, 0), None);
        }
        assert_eq!(r.offer(b"id: 4\n\n".to_vec(), 1, 0), Some(CloseCode::Overflow), "the hub is told once");
        assert_eq!(r.offer(b"id: 5\n\n".to_vec(), 1, 0), None, "nothing after the end");
        assert_eq!(drain(&mut r), "id: 1\n\nid: 2\n\nid: 3\n\nevent: stream.overflow\ndata: {}\n\n");
        assert_eq!(r.take_next(), Next::End);
    }

    #[test]
    fn a_client_that_kept_up_takes_whatever_comes_next() {
        let mut r = live();
        assert_eq!(r.offer(vec![b'x'; 500], 100, 0), None, "a batch over both bounds, into an empty queue");
        assert_eq!(r.offer(b"id: 1\n\n".to_vec(), 1, 0), Some(CloseCode::Overflow), "but nothing after it");
        let mut r = Relay::new(Limits { max_frames: 1, max_bytes: 100 }, TIMING, 0);
        r.connected();
        assert_eq!(r.pong(1), None, "a heartbeat (two frames) with a one-frame bound");
    }

    #[test]
    fn the_byte_bound_counts_too_and_reading_frees_room() {
        let mut r = live();
        assert_eq!(r.offer(vec![b'x'; 60], 1, 0), None);
        assert!(matches!(r.take_next(), Next::Bytes(_)));
        assert_eq!(r.offer(vec![b'x'; 60], 1, 0), None, "the first 60 bytes were read");
        assert_eq!(r.offer(vec![b'x'; 60], 1, 0), Some(CloseCode::Overflow));
    }

    #[test]
    fn replay_pages_are_not_bounded_by_the_live_queue() {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        r.write(vec![b'x'; 1000], 50, 0);
        assert_eq!(r.ending(), None);
        r.connected();
        assert_eq!(r.offer(vec![b'y'; 10], 1, 0), None, "live room is untouched by the page");
        assert!(!r.is_drained());
    }

    #[test]
    fn heartbeats_ping_every_interval_and_the_answer_writes_the_frame() {
        let mut r = live();
        assert_eq!(r.tick(1_000), Tick::Ping);
        assert_eq!(r.tick(1_500), Tick::Nothing, "one ping at a time");
        assert_eq!(r.pong(1_510), None);
        let text = drain(&mut r);
        assert!(text.starts_with(":heartbeat\n\nevent: heartbeat\ndata: {\"ts\":\"1970-01-01T00:00:01.510Z\"}"), "{text}");
        assert_eq!(r.tick(2_000), Tick::Ping);
    }

    #[test]
    fn no_answer_within_two_intervals_ends_the_stream_without_a_frame() {
        let mut r = live();
        assert_eq!(r.tick(1_000), Tick::Ping);
        assert_eq!(r.tick(2_000), Tick::Nothing);
        assert_eq!(r.tick(3_000), Tick::Close(CloseCode::HubSilent));
        assert_eq!(r.take_next(), Next::End);
    }

    #[test]
    fn a_quiet_stream_gets_a_probe_so_that_a_departed_client_is_noticed() {
        let timing = Timing { probe_ms: 500, ..TIMING };
        assert_eq!(timing.tick_ms(), 500);
        let mut r = Relay::new(LIMITS, timing, 0);
        r.connected();
        assert_eq!(r.tick(500), Tick::Nothing);
        assert_eq!(drain(&mut r), ":\n", "quiet for 500 ms: one comment line");
        r.offer(b"id: 1\n\n".to_vec(), 1, 700);
        assert_eq!(r.tick(1_000), Tick::Ping, "the heartbeat is due first");
        assert_eq!(drain(&mut r), "id: 1\n\n", "written 300 ms ago: no probe");
        assert_eq!(r.pong(1_010), None);
        assert_eq!(r.tick(1_500), Tick::Nothing);
        assert!(drain(&mut r).starts_with(":heartbeat"), "the heartbeat was written 490 ms ago");
        assert_eq!(r.tick(2_000), Tick::Ping);
        assert_eq!(r.tick(2_500), Tick::Nothing);
        assert_eq!(drain(&mut r), ":\n");
    }

    #[test]
    fn a_tick_a_little_early_still_pings_on_time() {
        let mut r = live();
        assert_eq!(r.tick(990), Tick::Ping);
    }

    #[test]
    fn nothing_pings_before_the_socket_is_open() {
        let mut r = Relay::new(LIMITS, TIMING, 0);
        assert_eq!(r.tick(5_000), Tick::Nothing);
    }

    #[test]
    fn an_old_stream_ends_politely() {
        let mut r = live();
        r.offer(b"id: 1\n\n".to_vec(), 1, 0);
        assert_eq!(r.tick(60_000), Tick::Close(CloseCode::Expired));
        assert_eq!(drain(&mut r), "id: 1\n\n", "what was queued, and no notice");
        assert_eq!(r.take_next(), Next::End);
    }

    #[test]
    fn replaced_by_the_hub_the_client_gets_stream_replaced_last() {
        let mut r = live();
        r.offer(b"id: 1\n\n".to_vec(), 1, 0);
        r.hub_closed(CloseCode::Replaced);
        assert_eq!(drain(&mut r), "id: 1\n\nevent: stream.replaced\ndata: {}\n\n");
    }

    #[test]
    fn when_the_hub_goes_away_the_stream_just_ends() {
        let mut r = live();
        r.hub_closed(CloseCode::Other(1006));
        assert_eq!(r.take_next(), Next::End);
        assert_eq!(r.ending(), Some(Ending::HubGone));
    }

    #[test]
    fn when_the_client_leaves_nothing_more_is_kept() {
        let mut r = live();
        r.offer(b"id: 1\n\n".to_vec(), 1, 0);
        assert_eq!(r.end(Ending::ClientLeft), Some(CloseCode::ClientLeft));
        assert!(r.is_drained());
        assert_eq!(r.end(Ending::Overflow), None, "it ends once");
    }
}
