//! Shared parts of the benchmark binaries: an SSE frame splitter, percentiles, process CPU.

pub mod sse {
    /// The marker every benchmark event carries in its data: `"taskId":"s<seq>"`.
    pub const MARKER: &[u8] = b"\"taskId\":\"s";

    /// Splits a byte stream into SSE frames (separated by a blank line), across chunk borders.
    #[derive(Default)]
    pub struct Splitter {
        buf: Vec<u8>,
    }

    impl Splitter {
        pub fn feed(&mut self, chunk: &[u8], mut on_frame: impl FnMut(&[u8])) {
            self.buf.extend_from_slice(chunk);
            let mut start = 0;
            while let Some(pos) = find(&self.buf[start..], b"\n\n") {
                on_frame(&self.buf[start..start + pos]);
                start += pos + 2;
            }
            self.buf.drain(..start);
        }
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        memchr::memmem::find(hay, needle)
    }

    /// The sequence number of a benchmark event frame; `None` for anything else (heartbeats,
    /// comments, other frames).
    pub fn seq(frame: &[u8]) -> Option<u64> {
        let at = find(frame, MARKER)? + MARKER.len();
        let digits = frame[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        std::str::from_utf8(&frame[at..at + digits]).ok()?.parse().ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn frames_split_across_chunks_and_carry_their_seq() {
            let mut s = Splitter::default();
            let mut seqs = Vec::new();
            let text = b":ok\n\nid: 1\nevent: task.progress\ndata: {\"data\":{\"taskId\":\"s17\",\"progress\":0.5}}\n\n:heartbeat\n\nevent: heartbeat\ndata: {}\n\n:\nid: 2\ndata: {\"taskId\":\"s18\"}\n\n";
            for chunk in text.chunks(7) {
                s.feed(chunk, |f| seqs.push(seq(f)));
            }
            assert_eq!(seqs, vec![None, Some(17), None, None, Some(18)]);
        }
    }
}

/// The hub's binary messages on a stream's socket, as orgstream's front worker reads them
/// (`worker/src/wire/frames.rs`): one byte for the kind (`C` catch-up, `L` live, `P` a replay
/// page), the frame count (4 bytes), for a catch-up or a page an id (8 bytes), for a live message
/// 12 bytes per frame (its id and end), then SSE frames.
pub mod hub {
    /// The SSE frames of a message; `None` for a message that is not frames.
    pub fn frames(message: &[u8]) -> Option<&[u8]> {
        let count = u32::from_le_bytes(message.get(1..5)?.try_into().ok()?) as usize;
        let header = match message.first()? {
            b'C' | b'P' => 13,
            b'L' => 5 + 12 * count,
            _ => return None,
        };
        message.get(header..)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_header_is_skipped_by_kind() {
            assert_eq!(super::frames(b"L\x01\0\0\0\x01\0\0\0\0\0\0\0\x07\0\0\0id: 1\n\n"), Some(&b"id: 1\n\n"[..]));
            assert_eq!(super::frames(b"P\x01\0\0\0\x09\0\0\0\0\0\0\0x"), Some(&b"x"[..]));
            assert_eq!(super::frames(b"C\0\0\0\0\0\0\0\0\0\0\0\0"), Some(&b""[..]));
            assert_eq!(super::frames(b"X\0\0\0\0"), None);
            assert_eq!(super::frames(b"L\x01"), None);
        }
    }
}

pub mod stats {
    /// The `p`th percentile (0..=100) of `xs`, nearest rank; 0 for none.
    pub fn percentile(sorted: &[f64], p: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn nearest_rank() {
            let xs: Vec<f64> = (1..=100).map(f64::from).collect();
            assert_eq!(super::percentile(&xs, 50.0), 50.0);
            assert_eq!(super::percentile(&xs, 99.0), 99.0);
            assert_eq!(super::percentile(&xs, 100.0), 100.0);
            assert_eq!(super::percentile(&[], 50.0), 0.0);
        }
    }
}

/// CPU seconds (user + system) this process has used.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
