//! The hub's calls: publish (append, then queue the same bytes for every stream), history,
//! pending versions, client error reports, metrics. Each answers with the public HTTP answer.

use schema_wasm::{EnvelopeOut, HistoryPage, PublishedEvent, RequestId, ResetReason};
use serde::Serialize;
use serde_json::value::RawValue;
use worker::Response;

use super::limits::{admit, Rate};
use super::once::{once, Answer};
use super::ownership;
use super::runtime::RuntimeSockets;
use super::Hub;
use crate::api_error::{internal, ApiError};
use crate::client_error::ClientError;
use crate::clock::{format_ts, now_ms};
use crate::http;
use crate::hub::connect::Reading;
use crate::hub::log::pager::{LogPages, Order, Span};
use crate::hub::log::Appended;
use crate::hub::metrics::{self, name, Gauges, Stored};
use crate::hub::relay_calls;
use crate::hub::request_owner;
use crate::hub::sockets::{self, Targeted};
use crate::hub::store::versions::ORG_WIDE;
use crate::replay;
use crate::wire::hub_api::{HistoryFrom, HubCall};

/// The bytes of envelopes one history page stops at (it still holds at least one event).
const HISTORY_PAGE_BYTES: u64 = 2 << 20;

pub fn handle(hub: &Hub, sockets: &RuntimeSockets, call: HubCall) -> Result<Response, ApiError> {
    match call {
        HubCall::Publish { sub, events, once: key } => admit(hub, Rate::Publish, &sub)
            .and_then(|()| once(hub, &sub, key.as_ref(), || publish(hub, sockets, events))),
        HubCall::PutVersion { sub, event, once: key } => admit(hub, Rate::Publish, &sub)
            .and_then(|()| once(hub, &sub, key.as_ref(), || put_version(hub, sockets, event))),
        HubCall::DeleteVersion { sub, request_id } => {
            admit(hub, Rate::Publish, &sub).and_then(|()| delete_version(hub, request_id))
        }
        HubCall::History { sub, from, limit, request_id, event_type } => admit(hub, Rate::History, &sub)
            .and_then(|()| history(hub, sockets, &sub, Page { from, limit, only: event_type.as_deref() }, request_id)),
        HubCall::Latest { sub, event_type } => admit(hub, Rate::History, &sub).and_then(|()| latest(hub, &event_type)),
        HubCall::Metrics => metrics(hub, sockets),
        HubCall::ClientErrors { limit, before } => client_errors(hub, limit, before),
        HubCall::ClientError { org, sub, report } => {
            admit(hub, Rate::Report, &sub).and_then(|()| client_error(hub, &org, &sub, &report))
        }
        HubCall::RelayConnect { from, position, connect, woke } => {
            relay_calls::woke(hub, &from, woke);
            relay_calls::connect(hub, sockets, from, position, connect)
        }
        HubCall::RelayPage { from, position, sub, request_id, exp, after, woke } => {
            relay_calls::woke(hub, &from, woke);
            let reading = Reading { sub: &sub, request_id: request_id.as_ref() };
            relay_calls::page(hub, sockets, from, position, reading, exp, after)
        }
        HubCall::RelayClosed { from, stream, code, woke } => {
            relay_calls::woke(hub, &from, woke);
            relay_calls::closed(hub, from, stream, code)
        }
    }
}

/// Assigns ids and appends to the log; `answer` reads what was appended, then the events are
/// queued for the live streams (`outbox`: sent on the hub's next turn, with whatever else is
/// queued by then). The answer waits for the append, not for the fan-out.
fn append<T>(
    hub: &Hub,
    sockets: &RuntimeSockets,
    events: Vec<PublishedEvent>,
    answer: impl FnOnce(&[Appended]) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    if hub.outbox.is_full(hub.config.coalesce) {
        // Publishers outran the fan-out: this one waits for it (`outbox::MAX_QUEUED_MESSAGES`).
        hub.send_queued(sockets);
    }
    let now = now_ms();
    let ts = format_ts(now);
    let first = hub.log.latest() + 1;
    let mut appended = Vec::with_capacity(events.len());
    for (offset, event) in events.into_iter().enumerate() {
        let id = first + offset as u64;
        let id_text = id.to_string();
        let envelope = EnvelopeOut {
            id: &id_text,
            type_name: event.type_name,
            ts: &ts,
            data: &event.data,
            target: event.target.as_ref(),
        };
        let envelope = serde_json::to_string(&envelope).map_err(internal("encoding an envelope"))?;
        let target = match event.target {
            Some(t) => {
                let owner = hub
                    .admission
                    .request_owner(t.request_id.as_str())
                    .map_err(internal("reading a request id's owner"))?;
                let sub = request_owner::target_subject(t.sub.as_ref().map(|s| s.as_str()), owner.as_deref())
                    .map(str::to_string);
                Some(Targeted { request_id: t.request_id, sub })
            }
            None => None,
        };
        appended.push(Appended::new(id, now, event.type_name, envelope, target));
    }
    hub.log.append(&appended).map_err(internal("appending to the event log"))?;
    for a in &appended {
        hub.tally.add(name::PUBLISHED, a.type_name, 1);
    }
    let answered = answer(&appended);
    // Stored events reach the live streams whatever the answer.
    hub.outbox.push(appended);
    // Best effort: the queue holds what the streams still need.
    if let Err(e) = hub.log.prune(hub.config.retention, now) {
        worker::console_error!("pruning the event log failed: {e}");
    }
    answered
}

fn publish(hub: &Hub, sockets: &RuntimeSockets, events: Vec<PublishedEvent>) -> Result<Answer, ApiError> {
    #[derive(Serialize)]
    struct Published {
        ids: Vec<String>,
    }
    append(hub, sockets, events, |appended| {
        let body = Published { ids: appended.iter().map(|a| a.id.to_string()).collect() };
        Ok(Answer { status: 202, body: serde_json::to_string(&body).map_err(internal("answering a publish"))? })
    })
}

/// `PUT /v1/versions`: publish a `version.available` event and keep it as the pending version
/// of its scope (the org, or its target request id), for every later connect.
fn put_version(hub: &Hub, sockets: &RuntimeSockets, event: PublishedEvent) -> Result<Answer, ApiError> {
    append(hub, sockets, vec![event], |appended| {
        let a = appended.first().ok_or("the version was not appended").map_err(internal("publishing a version"))?;
        keep_pending(hub, a)
    })
}

/// Keeps a published `version.available` as the pending version of its scope.
fn keep_pending(hub: &Hub, a: &Appended) -> Result<Answer, ApiError> {
    // The pending version is for whom the event was: its request id and the subject it was
    // stored for (named by the publisher, else the id's owner), as targeted events are.
    let (scope, target_sub) = match &a.target {
        Some(t) => (t.request_id.as_str(), t.sub.as_deref()),
        None => (ORG_WIDE, None),
    };
    // The event is published (and will be delivered); if it cannot be made pending, say so.
    hub.versions.set(scope, target_sub, &a.envelope).map_err(|e| {
        worker::console_error!("storing the pending version failed: {e}");
        ApiError::misconfigured(format!(
            "version.available {} was published but could not be stored as pending; retry the PUT",
            a.id
        ))
    })?;
    Ok(Answer { status: 200, body: format!(r#"{{"ids":["{}"],"event":{}}}"#, a.id, a.envelope) })
}

/// `DELETE /v1/versions[?requestId=]`: clear the pending version of that scope.
fn delete_version(hub: &Hub, request_id: Option<RequestId>) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct Cleared {
        cleared: bool,
    }
    let scope = request_id.as_ref().map_or(ORG_WIDE, |r| r.as_str());
    let cleared = hub.versions.clear(scope).map_err(internal("clearing the pending version"))?;
    let body = serde_json::to_string(&Cleared { cleared }).map_err(internal("answering a version"))?;
    http::json(200, body).map_err(internal("answering a version"))
}

/// A client error report (already checked by the front door and admitted by its rate limits):
/// logged, and kept in the org's log of client errors (the newest 1000).
fn client_error(hub: &Hub, org: &str, sub: &str, report: &ClientError) -> Result<Response, ApiError> {
    let now = now_ms();
    let report = serde_json::to_string(report).map_err(internal("encoding a client error"))?;
    // The report is JSON (its strings escaped); the subject comes from the token as it is (the org
    // matched ORG_PATTERN).
    worker::console_log!("client error from {} in org {org}: {report}", crate::api_error::loggable(sub));
    hub.reports.keep(now, sub, &report).map_err(internal("storing a client error"))?;
    http::json(202, r#"{"ok":true}"#.to_string()).map_err(internal("answering a client error"))
}

/// `GET /v1/client-errors`: kept reports, newest first; `hasMore` when older ones remain.
fn client_errors(hub: &Hub, limit: u64, before: Option<u64>) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct Report<'a> {
        id: String,
        ts: String,
        sub: &'a str,
        report: &'a RawValue,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Page<'a> {
        reports: Vec<Report<'a>>,
        has_more: bool,
    }
    let mut kept = hub.reports.newest(limit.saturating_add(1), before).map_err(internal("reading client errors"))?;
    let has_more = kept.len() as u64 > limit;
    kept.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut reports = Vec::with_capacity(kept.len());
    for k in &kept {
        let report: &RawValue =
            serde_json::from_str(&k.report).map_err(internal("a stored client error that is not JSON"))?;
        reports.push(Report { id: k.id.to_string(), ts: format_ts(k.ts_ms), sub: &k.sub, report });
    }
    let body = serde_json::to_string(&Page { reports, has_more }).map_err(internal("answering client errors"))?;
    http::json(200, body).map_err(internal("answering client errors"))
}

/// Which page of history: from where and which way, at most `limit`, only of type `only` when given.
struct Page<'a> {
    from: HistoryFrom,
    limit: u64,
    only: Option<&'a str>,
}

fn history(
    hub: &Hub,
    sockets: &RuntimeSockets,
    sub: &str,
    page: Page<'_>,
    request_id: Option<RequestId>,
) -> Result<Response, ApiError> {
    let Page { from, limit, only } = page;
    let now = now_ms();
    hub.log.prune(hub.config.retention, now).map_err(internal("pruning the event log"))?;
    let reader = match &request_id {
        Some(request_id) => {
            let claim = ownership::check(hub, sockets, request_id, sub, now)?;
            ownership::record(hub, &claim, now)?;
            Some(claim.reader)
        }
        None => None,
    };
    let window = hub.log.window().map_err(internal("reading the log window"))?;
    let (span, order) = match from {
        HistoryFrom::After(after) => (Span { after, until: window.latest, reader, only }, Order::OldestFirst),
        HistoryFrom::Before(before) => {
            let until = before.map_or(window.latest, |b| b.saturating_sub(1).min(window.latest));
            (Span { after: 0, until, reader, only }, Order::NewestFirst)
        }
    };
    let rows = hub.log.page(span, order, limit, HISTORY_PAGE_BYTES).map_err(internal("reading history"))?;
    // More beyond the last event of the page, in the direction read: newer, or older.
    let rest = match (order, rows.last()) {
        (Order::OldestFirst, last) => Span { after: last.map_or(span.after, |r| r.id), ..span },
        (Order::NewestFirst, Some(last)) => Span { until: last.id.saturating_sub(1), ..span },
        (Order::NewestFirst, None) => Span { until: 0, ..span },
    };
    let has_more = hub.log.has_after(rest).map_err(internal("reading history"))?;

    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        events.push(RawValue::from_string(row.envelope).map_err(internal("a stored envelope that is not JSON"))?);
    }
    // Envelopes are the stored bytes, exactly as the stream sends them.
    let window_ids = replay::resync_info(ResetReason::HistoryGap, window);
    let page = HistoryPage::<Box<RawValue>> {
        events,
        earliest_id: window_ids.earliest_id,
        latest_id: window_ids.latest_id,
        has_more,
        // Reading backward never skips: older events that retention dropped are simply not there.
        gap: match from {
            HistoryFrom::After(after) => replay::history_gap(after, window),
            HistoryFrom::Before(_) => false,
        },
    };
    let body = serde_json::to_string(&page).map_err(internal("encoding a history page"))?;
    http::json(200, body).map_err(internal("answering history"))
}

/// `{"event": <the newest broadcast event of the type> | null}`, kept beyond retention.
fn latest(hub: &Hub, event_type: &str) -> Result<Response, ApiError> {
    let envelope = hub.log.kept(event_type).map_err(internal("reading the kept events"))?;
    let body = match envelope {
        Some(envelope) => format!(r#"{{"event":{envelope}}}"#),
        None => r#"{"event":null}"#.to_string(),
    };
    http::json(200, body).map_err(internal("answering the latest event"))
}

/// Prometheus text for this org.
fn metrics(hub: &Hub, sockets: &RuntimeSockets) -> Result<Response, ApiError> {
    // What was counted so far in this call is stored first, so the answer includes it.
    hub.store();
    let history_events = hub.log.count().map_err(internal("counting the log"))?;
    let stored = Stored::from_rows(hub.counters.all().map_err(internal("reading counters"))?);
    let relayed = hub.relayed.per_sub().map_err(internal("counting the relays' streams"))?;
    let connections_active = sockets::active(sockets) + relayed.iter().map(|(_, n)| *n as usize).sum::<usize>();
    let gauges = Gauges { connections_active, history_events };
    http::text(200, "text/plain; version=0.0.4; charset=utf-8", metrics::render(&stored, gauges))
        .map_err(internal("answering metrics"))
}
