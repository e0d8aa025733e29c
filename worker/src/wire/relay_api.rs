//! What crosses between an org's hub and its relays (`RELAYS_PER_ORG` of 2 or more), in one place.
//!
//! A relay holds a share of the org's stream sockets; the hub stays the sequencer. The front
//! worker connects a stream to relay `index` exactly as it connects to a hub (`hub_api::Connect`,
//! the same socket messages). The relay asks the hub to admit it (`HubCall::RelayConnect`) and to
//! read each further replay page (`HubCall::RelayPage`), and tells it when a stream closed
//! (`HubCall::RelayClosed`). The hub hands each batch of appended events to every relay that holds
//! streams (`Deliver`, a `POST` to the relay, one at a time per relay), and asks a relay to close
//! streams another one replaced (`CloseStreams`).
//!
//! Positions: each relay is at an org id (`position`), the last event it was handed. A hand-off
//! says which id it follows (`after`); a relay behind it missed events, and its streams resume
//! from the hub's log (`restart` says the hub knows: the log no longer holds them). The hub's
//! answers to a relay's connect and page say where the relay is after them (`POSITION_HEADER`).

use serde::{Deserialize, Serialize};

/// The relays' Durable Object binding (wrangler.toml).
pub const RELAY_BINDING: &str = "ORG_RELAY";

/// The URL of a hand-off to a relay (the host is not used: the stub routes to the relay).
pub const DELIVER_URL: &str = "https://relay/deliver";
/// The URL that asks a relay to close some of its streams.
pub const CLOSE_URL: &str = "https://relay/close";
/// The URL that asks a relay which streams it holds (`Census`).
pub const CENSUS_URL: &str = "https://relay/census";
/// The URL of a stream's upgrade request to a relay; the query is the same as a hub's, plus
/// `RelayAddress` (`org`, `relay`).
pub const CONNECT_URL: &str = "https://relay/connect";

/// The hub's answer to a relay's connect or page: the stream's id (connect only) and the org id
/// the relay is at from now on.
pub const STREAM_HEADER: &str = "orgstream-stream";
pub const POSITION_HEADER: &str = "orgstream-position";

/// Which relay of which org: every request to a relay carries it (a relay that just woke knows
/// nothing else), and so does every stream socket's attachment.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RelayAddress {
    pub org: String,
    pub relay: u32,
}

impl RelayAddress {
    /// The relay object's name (`idFromName`); an org's hub is named by the org alone, in
    /// another namespace.
    pub fn object_name(&self) -> String {
        format!("{}/{}", self.relay, self.org)
    }
}

/// Picks the relay of a stream: by its request id when it has one (a tab that reconnects comes
/// back to the same relay, where the stream it replaces is), else by `random`. FNV-1a: stable
/// across builds and runtimes, which a std hasher is not.
pub fn pick(relays: u32, request_id: Option<&str>, random: u32) -> u32 {
    if relays <= 1 {
        return 0;
    }
    let Some(rid) = request_id else { return random % relays };
    let mut hash: u32 = 0x811c_9dc5;
    for b in rid.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % relays
}

/// A hand-off: the events appended after `after`, each with its frame and whom it is for, in id
/// order. With `restart`, a relay behind `after` (or that just woke) first closes its streams
/// (they resume from the hub's log): the log no longer holds what came before `after`, or could
/// not be read; a relay at `after` or past it goes on.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Deliver {
    pub to: RelayAddress,
    pub after: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
    pub events: Vec<Delivered>,
}

/// A hand-off as the hub writes it (its events are shared by every relay's queue, not copied).
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct DeliverOut<'a> {
    pub to: &'a RelayAddress,
    pub after: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
    pub events: Vec<&'a Delivered>,
}

/// One event of a hand-off.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    pub id: u64,
    /// The SSE frame, as every stream it is for gets it.
    pub frame: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The subject a targeted event is for (`None`: its request id's owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

/// A relay's answer to a hand-off: the frames it sent, the streams it holds (when it just woke, or
/// at most every `HELD_EVERY_MS`: counting reads every socket), whether it had just woken (its
/// first word to the hub since it was loaded), and whether it closed its streams so they resume
/// from the log (`restart`, or a hand-off it missed).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivery {
    pub sent: u64,
    #[serde(default)]
    pub held: Option<u64>,
    #[serde(default)]
    pub woke: bool,
    #[serde(default)]
    pub restarted: bool,
}

/// Close these streams of a relay (another stream replaced them).
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct CloseStreams {
    pub to: RelayAddress,
    pub streams: Vec<u64>,
    pub code: u16,
}

/// Which streams a relay holds: asked when it answers a hand-off holding fewer than the hub has
/// recorded (streams that ended without the relay telling, as when the runtime restarted it).
#[derive(Serialize, Deserialize, Debug)]
pub struct Census {
    pub to: RelayAddress,
}

/// A relay's answer to a census: the ids of its open streams.
#[derive(Serialize, Deserialize, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub streams: Vec<u64>,
}

/// How often a relay counts the streams it holds for the hub, and how often the hub asks one for a
/// census at most.
pub const HELD_EVERY_MS: u64 = 10_000;

/// A socket's tag on a relay: its stream's id, as the hub numbered it.
pub fn stream_tag(stream: u64) -> String {
    format!("sid:{stream}")
}

/// The stream id among a relay socket's tags.
pub fn stream_of(tags: &[String]) -> Option<u64> {
    tags.iter().find_map(|t| t.strip_prefix("sid:")?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_always_picks_the_same_relay_and_all_are_used() {
        assert_eq!(pick(1, Some("tab"), 7), 0);
        assert_eq!(pick(0, None, 7), 0);
        assert_eq!(pick(4, Some("tab-1"), 0), pick(4, Some("tab-1"), 3));
        assert_eq!(pick(4, None, 6), 2);
        let mut used = [0; 8];
        for i in 0..800 {
            used[pick(8, Some(&format!("tab-{i}")), 0) as usize] += 1;
        }
        assert!(used.iter().all(|n| *n > 50), "{used:?}");
    }

    #[test]
    fn a_hand_off_round_trips() {
        let deliver = Deliver {
            to: RelayAddress { org: "acme".into(), relay: 2 },
            after: 9,
            restart: false,
            events: vec![Delivered { id: 10, frame: "id: 10\n\n".into(), request_id: Some("tab".into()), sub: None }],
        };
        let json = serde_json::to_string(&deliver).unwrap();
        assert!(!json.contains("restart"));
        let out = DeliverOut { to: &deliver.to, after: 9, restart: false, events: deliver.events.iter().collect() };
        assert_eq!(serde_json::to_string(&out).unwrap(), json, "the hub's writing reads back as a hand-off");
        let back: Deliver = serde_json::from_str(&json).unwrap();
        assert_eq!((back.to, back.after, back.events), (deliver.to, 9, deliver.events));
        assert_eq!(RelayAddress { org: "a/b".into(), relay: 3 }.object_name(), "3/a/b");
        assert_eq!(stream_of(&["stream".into(), stream_tag(42)]), Some(42));
        assert_eq!(stream_of(&["sid:x".into()]), None);
    }
}
