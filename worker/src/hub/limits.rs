//! The hub's side of the per-subject limits (`config::SubLimits`): request rates, counted in
//! stored windows so that they hold while the hub sleeps, and open streams, counted from the
//! runtime's socket list. Over a limit: `429 rate_limited` with `retry-after`, and nothing changed.

use super::runtime::RuntimeSockets;
use super::Hub;
use crate::api_error::{internal, ApiError};
use crate::client_error::REPORTS_PER_MINUTE;
use crate::clock::now_ms;
use crate::hub::rate_limit::Limit;
use crate::hub::relay_calls;
use crate::hub::sockets::{self, Full, OpenStreams, SubTag};
use schema_wasm::RequestId;

const MINUTE_MS: u64 = 60_000;

/// Client error reports the whole org may send per minute, whoever sends them.
const ORG_REPORTS_PER_MINUTE: u32 = 10 * REPORTS_PER_MINUTE;

/// How long a client refused for lack of stream room should wait before trying again.
const STREAM_ROOM_RETRY_SECONDS: u64 = 5;

/// Kinds of request counted per subject per minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    Connect,
    History,
    Publish,
    Report,
}

impl Rate {
    fn name(self) -> &'static str {
        match self {
            Rate::Connect => "connect",
            Rate::History => "history",
            Rate::Publish => "publish",
            Rate::Report => "report",
        }
    }

    fn max(self, hub: &Hub) -> u32 {
        let limits = hub.config.limits;
        match self {
            Rate::Connect => limits.connects_per_minute,
            Rate::History => limits.history_per_minute,
            Rate::Publish => limits.publishes_per_minute,
            Rate::Report => REPORTS_PER_MINUTE,
        }
    }

    /// What the refusal says was too many, and which setting bounds it.
    fn what(self, max: u32) -> String {
        match self {
            Rate::Connect => {
                format!("stream connects by this token's subject (at most {max} a minute, SUB_CONNECTS_PER_MINUTE)")
            }
            Rate::History => {
                format!("history requests by this token's subject (at most {max} a minute, SUB_HISTORY_PER_MINUTE)")
            }
            Rate::Publish => {
                format!("publishes by this token's subject (at most {max} a minute, SUB_PUBLISHES_PER_MINUTE)")
            }
            Rate::Report => format!("client error reports by this token's subject (at most {max} a minute)"),
        }
    }
}

/// Counts one request of `rate` by `sub`, or refuses it.
pub fn admit(hub: &Hub, rate: Rate, sub: &str) -> Result<(), ApiError> {
    let max = rate.max(hub);
    count(hub, &format!("{}:{sub}", rate.name()), max, || rate.what(max))?;
    if rate == Rate::Report {
        // Fresh subjects cannot flood the org's log of reports either.
        // Its key has no `:`, so no subject's key (`<kind>:<sub>`) can be it.
        count(hub, "reports-of-the-org", ORG_REPORTS_PER_MINUTE, || {
            format!("client error reports in this org (at most {ORG_REPORTS_PER_MINUTE} a minute)")
        })?;
    }
    Ok(())
}

fn count(hub: &Hub, key: &str, max: u32, what: impl Fn() -> String) -> Result<(), ApiError> {
    let limit = Limit { window_ms: MINUTE_MS, max };
    let now = now_ms();
    let current = hub.admission.rate_window(key).map_err(internal("reading a rate limit"))?;
    let window = limit.admit(current, now).map_err(|retry_after| ApiError::rate_limited(retry_after, &what()))?;
    hub.admission.set_rate_window(key, window, limit.forget_before(now));
    Ok(())
}

/// Whether one more stream of `sub` fits the stream limits (one replacing its own request id's
/// stream always does).
pub fn room_for_stream(
    hub: &Hub,
    sockets: &RuntimeSockets,
    sub: &SubTag,
    request_id: Option<&RequestId>,
) -> Result<(), ApiError> {
    let limits = hub.config.limits.streams;
    // Streams the hub holds, and streams its relays hold (`relay_calls`).
    let replacing = sockets::replacing(sockets, sub, request_id) + relay_calls::replacing(hub, sub, request_id)?;
    let mut open = hub.open.borrow_mut();
    let open = match open.as_mut() {
        Some(open) => open,
        None => open.insert(relay_calls::count(hub, OpenStreams::count(sockets))?),
    };
    let room = open.room_for(sub, replacing, limits);
    if room.is_err() {
        // The relays' rows may count streams lost in a restart: they are counted again before
        // the client's retry (`relays::Links::recount`).
        hub.relays.recount(now_ms());
    }
    match room {
        Ok(()) => Ok(()),
        Err(Full::Sub(open)) => Err(ApiError::rate_limited(
            STREAM_ROOM_RETRY_SECONDS,
            &format!(
                "open streams for this token's subject ({open}; at most {}, MAX_STREAMS_PER_SUB): close one, or open it with the requestId of the one it replaces",
                limits.per_sub
            ),
        )),
        Err(Full::Org(open)) => Err(ApiError::rate_limited(
            STREAM_ROOM_RETRY_SECONDS,
            &format!("open streams in this org ({open}; at most {}, MAX_STREAMS_PER_ORG)", limits.per_org),
        )),
    }
}
