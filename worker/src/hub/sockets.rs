//! The open streams of one org, as the hub sees them: the runtime's list of hibernatable
//! sockets, each tagged when it was accepted. Nothing here lives in the hub's memory, so all of it
//! works the same after the hub slept and woke up.
//!
//! Pure: a socket is anything that can be sent bytes and closed (`Socket`), and the list is
//! anything that can find sockets, all or by tag (`SocketList`). Sending never waits, so one slow
//! or dead stream cannot hold up the others: the front worker that holds each stream bounds its
//! own unread bytes. A stream opened with the request id of an open one replaces it: the old one is
//! closed with `Replaced` and its front worker ends it with `stream.replaced`.

use std::collections::HashMap;

use schema_wasm::RequestId;

use crate::config::StreamLimits;
use crate::wire::hub_api::CloseCode;

/// Every stream socket carries this tag.
pub const STREAM_TAG: &str = "stream";

/// The runtime refuses a tag longer than this, and (in workers-rs) panics on it: every tag is
/// built to fit, whatever the token says (`SubTag`, and request ids are at most 128 ASCII bytes).
pub const MAX_TAG_BYTES: usize = 256;

/// The runtime's list of stream sockets, as the hub uses it. A message is prepared once and
/// sent to many sockets (in the runtime: one JS buffer, not a copy per socket).
pub trait Sockets {
    type Socket;
    type Message;
    fn tagged(&self, tag: &str) -> Vec<Self::Socket>;
    fn tags_of(&self, socket: &Self::Socket) -> Vec<String>;
    fn message(&self, bytes: Vec<u8>) -> Self::Message;
    /// Sends one message; false when the socket can no longer take it (closing or closed).
    fn send(&self, socket: &Self::Socket, message: &Self::Message) -> bool;
    fn close(&self, socket: &Self::Socket, code: CloseCode);
    /// Open, not closing.
    fn is_open(&self, socket: &Self::Socket) -> bool;
    /// Closed for good: its close was seen by the hub already (closing is not closed yet).
    fn is_closed(&self, socket: &Self::Socket) -> bool;
}

/// The tag that finds the stream of a request id.
pub fn request_tag(request_id: &RequestId) -> String {
    format!("rid:{}", request_id.as_str())
}

/// A token subject as the hub tags and counts its streams: `sub:` and the SHA-256 of the subject,
/// in hex (68 bytes, whatever the subject). A subject is up to 256 bytes (`token::MAX_SUB_BYTES`);
/// tagged as it is, a long one made the runtime refuse the tag and workers-rs panic, which froze
/// every stream of every org in the isolate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SubTag(String);

impl SubTag {
    pub fn of(sub: &str) -> SubTag {
        SubTag(format!("sub:{}", crate::digest::sha256_hex(&[sub.as_bytes()])))
    }

    /// A subject tag as stored (`store::relayed`).
    pub fn stored(tag: String) -> Option<SubTag> {
        tag.starts_with("sub:").then_some(SubTag(tag))
    }

    /// The subject tag among a socket's tags.
    pub fn among(tags: &[String]) -> Option<SubTag> {
        tags.iter().find(|t| t.starts_with("sub:")).map(|t| SubTag(t.clone()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tags a new stream is accepted with.
pub fn tags(sub: &SubTag, request_id: Option<&RequestId>) -> Vec<String> {
    let mut tags = vec![STREAM_TAG.to_string(), sub.as_str().to_string()];
    tags.extend(request_id.map(request_tag));
    tags
}

/// Why a new stream does not fit, with the open streams counted.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    Sub(usize),
    Org(usize),
}

/// The open streams of the org, in all and per subject. Counting them from the runtime's list
/// reads every socket, so the hub counts once (when it wakes, or after a socket error) and then
/// keeps the count as it accepts streams and sees them close. A stream still catching up counts
/// from its first page: it holds its socket from the start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenStreams {
    total: usize,
    per_sub: HashMap<SubTag, usize>,
}

impl OpenStreams {
    /// Counts the streams not closed yet: a closing one is counted, since the hub will see its
    /// close (and count it down) later.
    pub fn count(sockets: &impl Sockets) -> OpenStreams {
        let mut open = OpenStreams::default();
        for socket in sockets.tagged(STREAM_TAG) {
            if !sockets.is_closed(&socket) {
                open.opened(SubTag::among(&sockets.tags_of(&socket)).as_ref());
            }
        }
        open
    }

    /// `n` streams of `sub` held elsewhere (by the org's relays).
    pub fn add(&mut self, sub: SubTag, n: usize) {
        self.total += n;
        *self.per_sub.entry(sub).or_default() += n;
    }

    /// A stream was accepted.
    pub fn opened(&mut self, sub: Option<&SubTag>) {
        self.total += 1;
        if let Some(sub) = sub {
            *self.per_sub.entry(sub.clone()).or_default() += 1;
        }
    }

    /// A stream closed.
    pub fn closed(&mut self, sub: Option<&SubTag>) {
        self.total = self.total.saturating_sub(1);
        if let Some(sub) = sub {
            if let Some(n) = self.per_sub.get_mut(sub) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_sub.remove(sub);
                }
            }
        }
    }

    /// Whether one more stream of `sub` fits, when it replaces `replacing` open streams of the
    /// same subject (its own request id's): replacing never needs room.
    pub fn room_for(&self, sub: &SubTag, replacing: usize, limits: StreamLimits) -> Result<(), Full> {
        let of_sub = self.per_sub.get(sub).copied().unwrap_or(0).saturating_sub(replacing);
        if of_sub >= limits.per_sub {
            return Err(Full::Sub(of_sub));
        }
        let of_org = self.total.saturating_sub(replacing);
        if of_org >= limits.per_org {
            return Err(Full::Org(of_org));
        }
        Ok(())
    }
}

/// Open streams of `sub` with `request_id`: the ones a new stream of `sub` with that id replaces
/// (never another subject's).
pub fn replaceable<S: Sockets>(sockets: &S, sub: &SubTag, request_id: &RequestId) -> Vec<S::Socket> {
    sockets
        .tagged(&request_tag(request_id))
        .into_iter()
        .filter(|s| sockets.is_open(s) && SubTag::among(&sockets.tags_of(s)).as_ref() == Some(sub))
        .collect()
}

/// How many open streams a new stream of `sub` with `request_id` replaces.
pub fn replacing(sockets: &impl Sockets, sub: &SubTag, request_id: Option<&RequestId>) -> usize {
    request_id.map_or(0, |rid| replaceable(sockets, sub, rid).len())
}

/// Open streams.
pub fn active(sockets: &impl Sockets) -> usize {
    sockets.tagged(STREAM_TAG).iter().filter(|s| sockets.is_open(s)).count()
}

/// Closes `old` streams (`replaceable`, found before the new one was accepted) as replaced; how
/// many there were.
pub fn replace<S: Sockets>(sockets: &S, old: &[S::Socket]) -> u64 {
    for socket in old {
        sockets.close(socket, CloseCode::Replaced);
    }
    old.len() as u64
}

/// Where a targeted frame goes: the stream of a request id, and only if that stream belongs to
/// `sub` when there is one (`request_owner`).
#[derive(Clone, Debug)]
pub struct Targeted {
    pub request_id: RequestId,
    pub sub: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::fan_out::fan_out;
    use crate::hub::log::Appended;
    use crate::hub::probes::Runtime;

    fn rid(s: &str) -> RequestId {
        RequestId::parse(s).unwrap()
    }

    fn to(request_id: &str) -> Option<Targeted> {
        Some(Targeted { request_id: rid(request_id), sub: None })
    }

    /// Event `id`, for everyone (`None`) or for `target`.
    fn event(id: u64, target: Option<Targeted>) -> Appended {
        Appended::new(id, 0, "t", "{}".to_string(), target)
    }

    #[test]
    fn a_new_stream_with_the_same_request_id_closes_the_old_one_as_replaced() {
        let rt = Runtime::default();
        let (old, other) = (rt.accept(Some("tab")), rt.accept(Some("other")));
        assert_eq!(replace(&rt, &replaceable(&rt, &SubTag::of("user"), &rid("tab"))), 1);
        assert_eq!(*old.closed.borrow(), Some(CloseCode::Replaced));
        assert!(other.is_open());
        let new = rt.accept(Some("tab"));
        assert_eq!(replace(&rt, &replaceable(&rt, &SubTag::of("user"), &rid("nobody"))), 0);
        fan_out(&rt, &[event(9, to("tab"))]);
        assert_eq!((old.event_ids(), new.event_ids()), (vec![], vec![9]), "the closed one gets nothing");
    }

    #[test]
    fn a_subject_replaces_only_its_own_streams() {
        let rt = Runtime::default();
        let anns = rt.accept_of("ann", Some("tab"));
        let bobs = rt.accept_of("bob", Some("tab"));
        assert_eq!(replace(&rt, &replaceable(&rt, &SubTag::of("bob"), &rid("tab"))), 1);
        assert!(anns.is_open(), "ann's stream with the same id stays open");
        assert_eq!(*bobs.closed.borrow(), Some(CloseCode::Replaced));
    }

    proptest::proptest! {
        /// Every token that verifies can open a stream: whatever its subject, the socket's tags
        /// fit the runtime (which refuses longer ones, and workers-rs panics on that).
        #[test]
        fn every_token_that_verifies_can_open_a_stream(sub in "\\PC{0,140}", wide in "[\u{80}-\u{10FFFF}]{0,140}") {
            use crate::token::{sign, verify, MAX_SUB_BYTES};
            const SECRET: &[u8] = b"test-secret";
            let longest_id = rid(&"r".repeat(schema_wasm::rules::MAX_REQUEST_ID_LEN));
            for sub in [sub, wide] {
                let claims = serde_json::json!({"org": "acme", "sub": sub, "scope": "subscribe", "exp": 2_000_000_000});
                if let Ok(claims) = verify(&sign(&claims, SECRET).unwrap(), SECRET, 1_800_000_000) {
                    proptest::prop_assert!(claims.sub.len() <= MAX_SUB_BYTES);
                    for tag in tags(&SubTag::of(&claims.sub), Some(&longest_id)) {
                        proptest::prop_assert!(tag.len() <= MAX_TAG_BYTES);
                    }
                }
            }
        }
    }

    #[test]
    fn every_tag_fits_the_runtime_whatever_the_subject() {
        let longest_id = "r".repeat(schema_wasm::rules::MAX_REQUEST_ID_LEN);
        for sub in ["a", "ann", &"\u{1F600}".repeat(64), &"x".repeat(100_000)] {
            for tag in tags(&SubTag::of(sub), Some(&rid(&longest_id))) {
                assert!(tag.len() <= MAX_TAG_BYTES, "{} bytes", tag.len());
            }
        }
        assert_eq!(SubTag::of("ann"), SubTag::of("ann"));
        assert_ne!(SubTag::of("ann"), SubTag::of("bob"));
        assert_eq!(
            SubTag::of("abc").as_str(),
            "sub:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sub: and the SHA-256 of the subject in hex"
        );
    }

    #[test]
    fn closing_streams_do_not_count_as_active_and_are_not_counted_as_sent() {
        let rt = Runtime::default();
        let (a, _b) = (rt.accept(None), rt.accept(None));
        a.close(CloseCode::ClientLeft);
        assert_eq!(active(&rt), 1);
        assert_eq!(fan_out(&rt, &[event(1, None)]), 1);
    }

    #[test]
    fn a_frame_targeted_at_a_subject_reaches_the_request_id_only_if_it_belongs_to_that_subject() {
        let rt = Runtime::default();
        let anns = rt.accept_of("ann", Some("tab"));
        let for_sub = |sub: &str| Some(Targeted { request_id: rid("tab"), sub: Some(sub.to_string()) });
        let batch = [event(1, for_sub("ann")), event(2, for_sub("bob")), event(3, to("tab"))];
        assert_eq!(fan_out(&rt, &batch), 2);
        assert_eq!(anns.event_ids(), vec![1, 3], "not the one for bob");
    }

    const LIMITS: StreamLimits = StreamLimits { per_sub: 2, per_org: 3 };

    fn room(rt: &Runtime, sub: &str, request_id: Option<&str>) -> Result<(), Full> {
        let rid = request_id.map(rid);
        let sub = SubTag::of(sub);
        OpenStreams::count(rt).room_for(&sub, replacing(rt, &sub, rid.as_ref()), LIMITS)
    }

    #[test]
    fn a_subject_may_hold_per_sub_streams_and_the_org_per_org() {
        let rt = Runtime::default();
        rt.accept_of("ann", None);
        assert_eq!(room(&rt, "ann", None), Ok(()));
        rt.accept_of("ann", Some("tab-2"));
        assert_eq!(room(&rt, "ann", None), Err(Full::Sub(2)), "ann holds two");
        assert_eq!(room(&rt, "bob", None), Ok(()), "bob holds none");
        rt.accept_of("bob", None);
        assert_eq!(room(&rt, "cy", None), Err(Full::Org(3)), "the org holds three");
    }

    #[test]
    fn replacing_a_stream_of_ones_own_needs_no_room() {
        let rt = Runtime::default();
        rt.accept_of("ann", Some("tab-1"));
        rt.accept_of("ann", Some("tab-2"));
        assert_eq!(room(&rt, "ann", Some("tab-2")), Ok(()), "tab-2 replaces itself");
        assert_eq!(room(&rt, "ann", Some("tab-3")), Err(Full::Sub(2)));
        rt.accept_of("bob", Some("bobs"));
        assert_eq!(
            replacing(&rt, &SubTag::of("ann"), Some(&rid("bobs"))),
            0,
            "another subject's stream is not one's own"
        );
    }

    #[test]
    fn closed_streams_leave_room() {
        let rt = Runtime::default();
        let a = rt.accept_of("ann", None);
        rt.accept_of("ann", None);
        a.close(CloseCode::ClientLeft);
        assert_eq!(room(&rt, "ann", None), Ok(()));
    }

    #[test]
    fn a_kept_count_follows_accepts_and_closes_like_a_recount() {
        let rt = Runtime::default();
        let mut kept = OpenStreams::count(&rt);
        let a = rt.accept_of("ann", None);
        kept.opened(Some(&SubTag::of("ann")));
        rt.accept_of("bob", None);
        kept.opened(Some(&SubTag::of("bob")));
        a.close(CloseCode::ClientLeft);
        kept.closed(SubTag::among(&a.tags).as_ref());
        assert_eq!(kept, OpenStreams::count(&rt));
        kept.closed(Some(&SubTag::of("ann")));
        kept.closed(Some(&SubTag::of("nobody")));
        assert_eq!(kept.room_for(&SubTag::of("ann"), 0, LIMITS), Ok(()), "a close seen twice never goes below zero");
    }
}
