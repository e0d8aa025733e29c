//! What crosses between the front worker and an org's hub, in one place.
//!
//! Calls (`HubCall`) are JSON in the body of a `POST` to the hub; a stream opens with a WebSocket
//! upgrade whose `Connect` parameters are JSON in one query parameter. The hub answers calls with
//! the public HTTP answer itself (status, JSON body), which the front worker passes on unchanged.
//! On an open stream the hub sends binary messages (`frames`: SSE frames written to the client as
//! they are, and where they take the stream in the org's ids); the front worker sends the heartbeat ping, which the runtime
//! answers without waking the hub, the request for the next replay page of a stream that is far
//! behind (`NextPage`), and a close code saying why the stream ended (`CloseCode`).
//! Each side parses what it receives once, here, and passes typed values inward.

use schema_wasm::{PublishedEvent, RequestId};
use serde::{Deserialize, Serialize};

use crate::client_error::ClientError;
use crate::replay::LastEventId;
use crate::wire::relay_api::RelayAddress;

/// The hubs' Durable Object binding (wrangler.toml).
pub const HUB_BINDING: &str = "ORG_HUB";

/// The URL of a call to the hub (the host is not used: the stub routes to the org's object).
pub const CALL_URL: &str = "https://hub/call";
/// The URL of a stream's upgrade request; the `Connect` JSON is the `connect` query parameter.
pub const CONNECT_URL: &str = "https://hub/connect";
const CONNECT_PARAM: &str = "connect";
const RELAY_PARAM: &str = "to";

/// The heartbeat ping the front worker sends, and the answer the runtime gives for the hub
/// (`setWebSocketAutoResponse`) without waking it.
pub const PING: &str = "ping";
pub const PONG: &str = "pong";

/// Everything the front worker asks of a hub other than opening a stream.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub enum HubCall {
    /// `POST /v1/events`: append and fan out (already validated). `sub`: the token's subject
    /// (every call carries it where a per-subject limit applies). `once`: the request's
    /// `Idempotency-Key`, if it has one.
    Publish {
        sub: String,
        events: Vec<PublishedEvent>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        once: Option<OnceKey>,
    },
    /// `PUT /v1/versions`: publish and keep as the pending version of its scope.
    PutVersion {
        sub: String,
        event: PublishedEvent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        once: Option<OnceKey>,
    },
    /// `DELETE /v1/versions`: clear the pending version of the org, or of a request id.
    #[serde(rename_all = "camelCase")]
    DeleteVersion { sub: String, request_id: Option<RequestId> },
    /// `GET /v1/events`; `event_type`: only events of this catalog type (`?type=`).
    #[serde(rename_all = "camelCase")]
    History { sub: String, from: HistoryFrom, limit: u64, request_id: Option<RequestId>, event_type: Option<String> },
    /// `GET /v1/events/latest`: the newest event of a kept type.
    #[serde(rename_all = "camelCase")]
    Latest { sub: String, event_type: String },
    /// `GET /v1/metrics`.
    Metrics,
    /// `GET /v1/client-errors`: kept reports, newest first, before the report id `before`.
    ClientErrors { limit: u64, before: Option<u64> },
    /// `POST /v1/audit/client-error` (the report is already checked).
    #[serde(rename_all = "camelCase")]
    ClientError { org: String, sub: String, report: ClientError },
    /// A relay opens a stream for a front worker (`relay_api`): the checks of a connect, then the
    /// stream's backlog up to the relay's `position` (`None`: it just started and does not know).
    /// `woke`, here and below: the relay's first word to the hub since it was loaded (counted).
    RelayConnect {
        from: RelayAddress,
        position: Option<u64>,
        connect: Connect,
        #[serde(default)]
        woke: bool,
    },
    /// A relay's stream that is catching up asks for its next page.
    #[serde(rename_all = "camelCase")]
    RelayPage {
        from: RelayAddress,
        position: Option<u64>,
        sub: String,
        request_id: Option<RequestId>,
        exp: i64,
        after: u64,
        #[serde(default)]
        woke: bool,
    },
    /// A relay's stream closed, with this code.
    RelayClosed {
        from: RelayAddress,
        stream: u64,
        code: u16,
        #[serde(default)]
        woke: bool,
    },
}

impl HubCall {
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn parse(text: &str) -> Result<HubCall, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// A publish's `Idempotency-Key`, and the digest of the request it came with (its route and
/// body), so that a repeat of the same request is told from another request under the same key.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct OnceKey {
    pub key: String,
    pub request: String,
}

/// Where a history page starts, and which way it reads.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum HistoryFrom {
    /// Oldest first: the events after this id (`after`, default 0).
    After(u64),
    /// Newest first (`order=desc`): the events before this id (`before`), or from the newest.
    Before(Option<u64>),
}

/// The parameters of a stream, checked by the front worker.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Connect {
    /// Where the client is (`Last-Event-ID`); `None`: live only.
    pub last_event_id: Option<LastEventId>,
    pub request_id: Option<RequestId>,
    /// The token's subject and expiry (seconds), kept with the socket.
    pub sub: String,
    pub exp: i64,
    /// The stream ticket the stream opened with, if any: the hub lets each be used once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<UsedTicket>,
}

/// A stream ticket's nonce and expiry, for the hub's single-use check.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UsedTicket {
    pub nonce: String,
    pub expires_ms: u64,
}

impl UsedTicket {
    /// What the caller of a stream with a ticket past its expiry is told (by the front worker, or
    /// by the hub when it gets there later).
    pub const EXPIRED: &'static str = "ticket expired (they last 60 s); get a new one with POST /v1/stream/ticket";
    /// What the caller of a stream with a ticket used before is told.
    pub const USED: &'static str = "this ticket was used already; get a new one with POST /v1/stream/ticket";
}

impl Connect {
    /// The upgrade request's URL to the org's hub, or to one of its relays (`relay_api`).
    pub fn to_url_at(&self, relay: Option<&RelayAddress>) -> Result<String, serde_json::Error> {
        let json = serde_json::to_string(self)?;
        let base = if relay.is_some() { crate::wire::relay_api::CONNECT_URL } else { CONNECT_URL };
        let mut url = format!("{base}?{CONNECT_PARAM}=");
        url.extend(url::form_urlencoded::byte_serialize(json.as_bytes()));
        if let Some(relay) = relay {
            url.push_str(&format!("&{RELAY_PARAM}="));
            url.extend(url::form_urlencoded::byte_serialize(serde_json::to_string(relay)?.as_bytes()));
        }
        Ok(url)
    }

    /// Which relay an upgrade request is for (`to_url_at`).
    pub fn relay_from_url(url: &url::Url) -> Result<RelayAddress, String> {
        let json = url
            .query_pairs()
            .find(|(k, _)| k == RELAY_PARAM)
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| format!("the upgrade request has no `{RELAY_PARAM}` parameter"))?;
        serde_json::from_str(&json).map_err(|e| format!("the relay address is not valid: {e}"))
    }

    /// Reads the parameters back from the upgrade request's URL.
    pub fn from_url(url: &url::Url) -> Result<Connect, String> {
        let json = url
            .query_pairs()
            .find(|(k, _)| k == CONNECT_PARAM)
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| format!("the upgrade request has no `{CONNECT_PARAM}` parameter"))?;
        serde_json::from_str(&json).map_err(|e| format!("the connect parameters are not valid: {e}"))
    }
}

/// The front worker's request for the next replay page of a stream that is catching up, sent on
/// the stream's socket once its client has read the last page (`page <after>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextPage {
    pub after: u64,
}

impl NextPage {
    const PREFIX: &'static str = "page ";

    pub fn to_text(self) -> String {
        format!("{}{}", Self::PREFIX, self.after)
    }

    pub fn parse(text: &str) -> Option<NextPage> {
        let after = text.strip_prefix(Self::PREFIX)?;
        after.bytes().all(|b| b.is_ascii_digit()).then(|| after.parse().ok()).flatten().map(|after| NextPage { after })
    }
}

/// Why a stream's socket was closed: the code travels with the close, so the other side counts
/// and reacts without another message. Codes 4000-4999 are for applications (RFC 6455 7.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// The browser went away (or the front worker ended the response for another reason).
    ClientLeft,
    /// The client fell too far behind; it got `stream.overflow` (front worker).
    Overflow,
    /// The stream reached `MAX_CONNECTION_AGE_SECONDS` (front worker).
    Expired,
    /// No heartbeat answer within two intervals: the hub is unreachable (front worker).
    HubSilent,
    /// The stream's token expired; the client got `stream.expired` (front worker).
    TokenExpired,
    /// A newer stream with the same request id replaced this one (hub).
    Replaced,
    /// Anything else: the runtime dropped the socket, a restart, a deploy.
    Other(u16),
}

impl CloseCode {
    pub fn code(self) -> u16 {
        match self {
            CloseCode::ClientLeft => 1000,
            CloseCode::Overflow => 4001,
            CloseCode::Expired => 4002,
            CloseCode::HubSilent => 4003,
            CloseCode::TokenExpired => 4004,
            CloseCode::Replaced => 4010,
            CloseCode::Other(code) => code,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::ClientLeft => "client left",
            CloseCode::Overflow => "overflow",
            CloseCode::Expired => "expired",
            CloseCode::HubSilent => "hub silent",
            CloseCode::TokenExpired => "token expired",
            CloseCode::Replaced => "replaced",
            CloseCode::Other(_) => "closed",
        }
    }

    pub fn from_code(code: u16) -> CloseCode {
        match code {
            1000 => CloseCode::ClientLeft,
            4001 => CloseCode::Overflow,
            4002 => CloseCode::Expired,
            4003 => CloseCode::HubSilent,
            4004 => CloseCode::TokenExpired,
            4010 => CloseCode::Replaced,
            other => CloseCode::Other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_wasm::Target;
    use serde_json::value::RawValue;

    #[test]
    fn a_call_round_trips_with_its_raw_data_intact() {
        let event = PublishedEvent {
            type_name: "task.progress",
            data: RawValue::from_string(r#"{"taskId":"a","progress":0.50}"#.into()).unwrap(),
            target: Some(Target { request_id: RequestId::parse("tab-1").unwrap(), sub: None }),
        };
        let json = HubCall::Publish { sub: "s".into(), events: vec![event], once: None }.to_json().unwrap();
        let HubCall::Publish { events, .. } = HubCall::parse(&json).unwrap() else { panic!("not a publish") };
        assert_eq!(events[0].data.get(), r#"{"taskId":"a","progress":0.50}"#);
        assert_eq!(events[0].target.as_ref().unwrap().request_id.as_str(), "tab-1");
        let history = HubCall::History {
            sub: "s".into(),
            from: HistoryFrom::After(4),
            limit: 10,
            request_id: None,
            event_type: Some("org.entitlements.changed".into()),
        }
        .to_json()
        .unwrap();
        let HubCall::History { from: HistoryFrom::After(4), limit: 10, request_id: None, event_type, .. } =
            HubCall::parse(&history).unwrap()
        else {
            panic!("not the history call")
        };
        assert_eq!(event_type.as_deref(), Some("org.entitlements.changed"));
    }

    #[test]
    fn connect_parameters_survive_the_url() {
        let c = Connect {
            last_event_id: Some(LastEventId::NotAnId),
            request_id: Some(RequestId::parse("tab_1").unwrap()),
            sub: "user é & co".into(),
            exp: 1_800_000_000,
            ticket: Some(UsedTicket { nonce: "n-1".into(), expires_ms: 42 }),
        };
        let url = url::Url::parse(&c.to_url_at(None).unwrap()).unwrap();
        assert_eq!(Connect::from_url(&url).unwrap(), c);
        let c = Connect {
            last_event_id: Some(LastEventId::Id(42)),
            request_id: None,
            sub: "s".into(),
            exp: 1,
            ticket: None,
        };
        assert_eq!(Connect::from_url(&url::Url::parse(&c.to_url_at(None).unwrap()).unwrap()).unwrap(), c);
        assert!(Connect::from_url(&url::Url::parse(CONNECT_URL).unwrap()).is_err());
    }

    #[test]
    fn page_requests_read_back() {
        for after in [0, 7, u64::MAX] {
            assert_eq!(NextPage::parse(&NextPage { after }.to_text()), Some(NextPage { after }));
        }
        for bad in ["page", "page ", "page -1", "page +1", "page 1 ", "ping", "page 99999999999999999999"] {
            assert_eq!(NextPage::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn close_codes_read_back() {
        for c in [
            CloseCode::ClientLeft,
            CloseCode::Overflow,
            CloseCode::Expired,
            CloseCode::HubSilent,
            CloseCode::TokenExpired,
            CloseCode::Replaced,
        ] {
            assert_eq!(CloseCode::from_code(c.code()), c);
        }
        assert_eq!(CloseCode::from_code(1006), CloseCode::Other(1006));
    }
}
