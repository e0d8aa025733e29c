//! The binary messages on a stream's socket: SSE frames ready to write, and where the stream
//! stands in the org's sequence of event ids once they are written.
//!
//! Each message says how far it takes the stream: a catch-up ends at `through` (the org's id the
//! stream is at when it goes live, whatever it replayed), a page at `resume_after`, and a live
//! message lists the id and end of each of its frames. The front worker keeps that position and
//! writes only live frames past it, so an event that reaches one stream twice (an object holding
//! the socket resent it after a restart, or the client moved to an object behind the one it came
//! from) is written once: ids reach the client strictly increasing whatever the path did.
//!
//! Encoded as one byte for the kind (`C` catch-up, `P` page, `L` live), the frame count (4 bytes,
//! little endian), then for a catch-up `through` and for a page `resume_after` (8 bytes each),
//! for a live message `count` entries of the frame's id (8 bytes) and the offset where it ends
//! in the bytes (4 bytes), then the bytes.

/// What the frames of a message are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The stream's opening (the rest of its backlog, a reset, the pending versions): the client
    /// must get them whatever its pace; the stream is live from now on, at `through`.
    CatchUp { through: u64 },
    /// A replay page of a stream that is far behind: the client must get it; once it has read
    /// it, the front worker asks for the next (`NextPage` after `resume_after`). Live frames
    /// that arrive meanwhile are dropped: they are in the pages still to come.
    Page { resume_after: u64 },
    /// Live frames, bounded by what the client leaves unread.
    Live,
}

/// The bytes before a message's header that say how long the header is: kind and count.
pub const FIXED_HEADER: usize = 5;
/// Bytes of one live frame's entry: its id and where it ends.
const ENTRY: usize = 12;

/// A decoded message: its kind, frame count, for a live message the entries, and the frames.
#[derive(Debug, PartialEq, Eq)]
pub struct Frames<'a> {
    pub kind: Kind,
    pub count: u32,
    entries: &'a [u8],
    pub bytes: &'a [u8],
}

/// What of a live message a stream at some position writes.
#[derive(Debug, PartialEq, Eq)]
pub enum Unseen {
    /// Every frame is at or before the position: nothing.
    Nothing,
    /// The frames from byte `from` on (`frames` of them), ending at id `last`.
    From { from: usize, frames: u32, last: u64 },
}

impl Kind {
    fn tag(self) -> u8 {
        match self {
            Kind::CatchUp { .. } => b'C',
            Kind::Page { .. } => b'P',
            Kind::Live => b'L',
        }
    }
}

impl<'a> Frames<'a> {
    /// A catch-up or a page (`kind` is not `Live`: a live message is `encode_live`).
    pub fn encode(kind: Kind, parts: &[&[u8]]) -> Vec<u8> {
        let len = parts.iter().map(|p| p.len()).sum::<usize>();
        let mut out = Vec::with_capacity(FIXED_HEADER + 8 + len);
        out.push(kind.tag());
        out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
        match kind {
            Kind::CatchUp { through } => out.extend_from_slice(&through.to_le_bytes()),
            Kind::Page { resume_after } => out.extend_from_slice(&resume_after.to_le_bytes()),
            Kind::Live => {}
        }
        for part in parts {
            out.extend_from_slice(part);
        }
        out
    }

    /// Live frames, `(id, frame)` in increasing id order.
    pub fn encode_live(parts: &[(u64, &[u8])]) -> Vec<u8> {
        let len = parts.iter().map(|(_, p)| p.len()).sum::<usize>();
        let mut out = Vec::with_capacity(FIXED_HEADER + ENTRY * parts.len() + len);
        out.push(Kind::Live.tag());
        out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
        let mut end = 0u32;
        for (id, part) in parts {
            end = end.saturating_add(part.len() as u32);
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&end.to_le_bytes());
        }
        for (_, part) in parts {
            out.extend_from_slice(part);
        }
        out
    }

    /// The length of a message's whole header, from its first `FIXED_HEADER` bytes.
    pub fn header_len(fixed: &[u8]) -> Option<usize> {
        let (kind, rest) = fixed.split_first()?;
        let (count, _) = rest.split_first_chunk::<4>()?;
        match kind {
            b'C' | b'P' => Some(FIXED_HEADER + 8),
            b'L' => (u32::from_le_bytes(*count) as usize).checked_mul(ENTRY)?.checked_add(FIXED_HEADER),
            _ => None,
        }
    }

    /// Decodes a message, or its header alone (then `bytes` is empty).
    pub fn decode(message: &'a [u8]) -> Option<Frames<'a>> {
        let (tag, rest) = message.split_first()?;
        let (count, rest) = rest.split_first_chunk::<4>()?;
        let count = u32::from_le_bytes(*count);
        let (kind, entries, bytes) = match tag {
            b'C' | b'P' => {
                let (at, rest) = rest.split_first_chunk::<8>()?;
                let at = u64::from_le_bytes(*at);
                let kind = if *tag == b'C' { Kind::CatchUp { through: at } } else { Kind::Page { resume_after: at } };
                (kind, &[][..], rest)
            }
            b'L' => {
                let (entries, rest) = rest.split_at_checked((count as usize).checked_mul(ENTRY)?)?;
                (Kind::Live, entries, rest)
            }
            _ => return None,
        };
        Some(Frames { kind, count, entries, bytes })
    }

    /// The live frames past `position` (an org id): entries are in increasing id order, so they
    /// are the message's tail.
    pub fn unseen(&self, position: u64) -> Unseen {
        let entry = |i: usize| {
            let e = self.entries.get(i * ENTRY..(i + 1) * ENTRY)?;
            let (id, end) = e.split_first_chunk::<8>()?;
            Some((u64::from_le_bytes(*id), u32::from_le_bytes(end.try_into().ok()?) as usize))
        };
        let count = self.entries.len() / ENTRY;
        let Some((last, _)) = count.checked_sub(1).and_then(entry) else { return Unseen::Nothing };
        if last <= position {
            return Unseen::Nothing;
        }
        let mut from = 0;
        for i in 0..count {
            match entry(i) {
                Some((id, _)) if id > position => {
                    return Unseen::From { from, frames: (count - i) as u32, last };
                }
                Some((_, end)) => from = end,
                None => break,
            }
        }
        Unseen::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catch_up_and_a_page_carry_their_position() {
        let message = Frames::encode(Kind::CatchUp { through: 7 }, &[]);
        assert_eq!(Frames::header_len(&message[..FIXED_HEADER]), Some(message.len()));
        let decoded = Frames::decode(&message).unwrap();
        assert_eq!((decoded.kind, decoded.count, decoded.bytes), (Kind::CatchUp { through: 7 }, 0, &b""[..]));
        let page = Kind::Page { resume_after: 300 };
        let message = Frames::encode(page, &[b"id: 299\n\n", b"id: 300\n\n"]);
        let decoded = Frames::decode(&message).unwrap();
        assert_eq!((decoded.kind, decoded.count, decoded.bytes), (page, 2, &b"id: 299\n\nid: 300\n\n"[..]));
    }

    #[test]
    fn a_live_message_lists_each_frame_and_the_header_alone_tells_its_length() {
        let message = Frames::encode_live(&[(4, b"id: 4\n\n"), (9, b"id: 9\n\n")]);
        let header = Frames::header_len(&message[..FIXED_HEADER]).unwrap();
        assert_eq!(header, FIXED_HEADER + 2 * ENTRY);
        let alone = Frames::decode(&message[..header]).unwrap();
        assert_eq!((alone.kind, alone.count, alone.bytes), (Kind::Live, 2, &b""[..]));
        let whole = Frames::decode(&message).unwrap();
        assert_eq!(whole.bytes, b"id: 4\n\nid: 9\n\n");
    }

    #[test]
    fn only_frames_past_the_position_are_unseen() {
        let message = Frames::encode_live(&[(4, b"id: 4\n\n"), (9, b"id: 9\n\n"), (10, b"id: 10\n\n")]);
        let live = Frames::decode(&message).unwrap();
        assert_eq!(live.unseen(0), Unseen::From { from: 0, frames: 3, last: 10 });
        assert_eq!(live.unseen(4), Unseen::From { from: 7, frames: 2, last: 10 });
        assert_eq!(live.unseen(8), Unseen::From { from: 7, frames: 2, last: 10 });
        assert_eq!(live.unseen(9), Unseen::From { from: 14, frames: 1, last: 10 });
        assert_eq!(&live.bytes[14..], b"id: 10\n\n");
        assert_eq!(live.unseen(10), Unseen::Nothing);
        assert_eq!(live.unseen(u64::MAX), Unseen::Nothing);
        assert_eq!(Frames::decode(&Frames::encode_live(&[])).unwrap().unseen(0), Unseen::Nothing);
    }

    #[test]
    fn malformed_messages_do_not_decode() {
        assert_eq!(Frames::decode(b"Labc"), None, "too short for a count");
        assert_eq!(Frames::decode(b"P\x01\0\0\0\x01"), None, "a page too short for its end");
        assert_eq!(Frames::decode(b"L\x02\0\0\0\x01"), None, "a live message too short for its entries");
        assert_eq!(Frames::decode(b"X\x01\0\0\0id"), None, "an unknown kind");
        assert_eq!(Frames::decode(b""), None);
        assert_eq!(Frames::header_len(b"L\xff\xff\xff\xff"), Some(FIXED_HEADER + 0xffff_ffff * ENTRY));
        assert_eq!(Frames::header_len(b"Q\0\0\0\0"), None);
    }

    proptest::proptest! {
        /// Whatever the message and position: unseen frames are a tail of the bytes, and never
        /// one at or before the position.
        #[test]
        fn unseen_is_a_tail_past_the_position(gaps in proptest::collection::vec(1u64..5, 0..20), lens in proptest::collection::vec(1usize..30, 20), position in 0u64..60) {
            let mut id = 0;
            let frames: Vec<(u64, Vec<u8>)> = gaps.iter().zip(&lens).map(|(g, l)| { id += g; (id, vec![b'x'; *l]) }).collect();
            let parts: Vec<(u64, &[u8])> = frames.iter().map(|(id, f)| (*id, f.as_slice())).collect();
            let message = Frames::encode_live(&parts);
            let live = Frames::decode(&message).unwrap();
            let past: Vec<&(u64, Vec<u8>)> = frames.iter().filter(|(id, _)| *id > position).collect();
            match live.unseen(position) {
                Unseen::Nothing => proptest::prop_assert!(past.is_empty()),
                Unseen::From { from, frames: n, last } => {
                    let tail: usize = past.iter().map(|(_, f)| f.len()).sum();
                    proptest::prop_assert_eq!(live.bytes.len() - from, tail);
                    proptest::prop_assert_eq!(n as usize, past.len());
                    proptest::prop_assert_eq!(Some(last), past.last().map(|(id, _)| *id));
                }
            }
        }
    }
}
