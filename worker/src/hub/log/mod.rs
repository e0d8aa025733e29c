//! The org's durable event log, in the Durable Object's SQLite storage: the events, the id
//! sequence and the newest event of each kept type, read a page at a time by `pager`.
//!
//! Ids come from `meta.latest_id`, not from the rows, so they are never reused even when
//! retention has dropped every row. Thin by design: the rules live in `replay`.

pub(crate) mod pager;

use std::cell::Cell;

use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use super::store::{add_column, int, one_envelope, Value};
use crate::hub::request_owner::may_see_sql;
use crate::hub::sockets::Targeted;
use crate::replay::{Retention, Window};
use crate::wire::frame::Frame;
use crate::wire::relay_api::Delivered;
use pager::{LogPages, Order, Span};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  type TEXT NOT NULL,
  request_id TEXT,
  envelope TEXT NOT NULL
);
DROP INDEX IF EXISTS events_ts;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('latest_id', 0);
CREATE TABLE IF NOT EXISTS kept (type TEXT PRIMARY KEY, id INTEGER NOT NULL, envelope TEXT NOT NULL);
";

/// Added after the first release: the subject a targeted event is for (`NULL`: the owner of its
/// request id, whoever that is).
const ADD_TARGET_SUB: &str = "ALTER TABLE events ADD COLUMN target_sub TEXT";

/// One row of the log.
#[derive(Deserialize)]
pub struct Stored {
    pub id: u64,
    /// The event's envelope, compact JSON (what `data:` carries and the history endpoint returns).
    pub envelope: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// One event as the hub appends it: its id and time, its envelope (what the log keeps and the
/// history endpoint returns), its SSE frame (what every stream it is for gets), and whom it is
/// for (`None`: everyone).
pub struct Appended {
    pub id: u64,
    pub ts_ms: u64,
    pub type_name: &'static str,
    pub envelope: String,
    pub frame: Frame,
    pub target: Option<Targeted>,
}

impl Appended {
    pub fn new(id: u64, ts_ms: u64, type_name: &'static str, envelope: String, target: Option<Targeted>) -> Appended {
        let frame = Frame::event(id, type_name, &envelope);
        Appended { id, ts_ms, type_name, envelope, frame, target }
    }
}

/// Who reads the log, as far as targeted events go: a connection's request id and its subject
/// (which owns the request id: `request_owner`). Without one, a reader sees broadcast events only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reader<'a> {
    pub request_id: &'a str,
    pub sub: &'a str,
}

pub struct ReplayLog {
    pub(crate) sql: SqlStorage,
    latest: Cell<u64>,
    /// The oldest retained event's id and time, once read (`None`: not known, read it).
    oldest: Cell<Option<Oldest>>,
}

/// The oldest retained event, or none.
#[derive(Clone, Copy, Debug)]
enum Oldest {
    Empty,
    At { id: u64, ts_ms: u64 },
}

impl ReplayLog {
    pub fn open(sql: SqlStorage) -> worker::Result<ReplayLog> {
        sql.exec(SCHEMA, None)?;
        add_column(&sql, ADD_TARGET_SUB)?;
        let log = ReplayLog { sql, latest: Cell::new(0), oldest: Cell::new(None) };
        log.latest.set(log.stored_latest()?);
        // An org stored before the hub kept the last id sent had sent everything it appended.
        log.sql.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('sent_id', ?)", vec![int(log.latest())?])?;
        Ok(log)
    }

    /// The last id sent to the live streams (`outbox`).
    pub fn sent(&self) -> worker::Result<u64> {
        let sent = self.sql.exec("SELECT value FROM meta WHERE key = 'sent_id'", None)?.one::<Value>()?;
        Ok(sent.value.unwrap_or(0))
    }

    /// Every event up to `id` was sent to the live streams.
    pub fn mark_sent(&self, id: u64) -> worker::Result<()> {
        self.sql.exec("UPDATE meta SET value = ? WHERE key = 'sent_id'", vec![int(id)?])?;
        Ok(())
    }

    /// The events after `after` through `through`, oldest first: at most `limit` of them and,
    /// past the first, `max_bytes` of envelopes (events can be 64 KiB each, and an object has
    /// 128 MB in all), each as a relay is handed it (`relays`: a relay handed on from the log).
    /// Whether the log still holds the event right after `after` is the caller's to check
    /// (retention drops the oldest).
    pub fn handed_after(&self, after: u64, through: u64, limit: u64, max_bytes: u64) -> worker::Result<Vec<Delivered>> {
        #[derive(Deserialize)]
        struct Row {
            id: u64,
            #[serde(rename = "type")]
            type_name: String,
            envelope: String,
            request_id: Option<String>,
            target_sub: Option<String>,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT id, type, envelope, request_id, target_sub FROM (
                   SELECT id, type, envelope, request_id, target_sub,
                          SUM(LENGTH(CAST(envelope AS BLOB))) OVER (ORDER BY id) - LENGTH(CAST(envelope AS BLOB)) AS before
                     FROM (SELECT id, type, envelope, request_id, target_sub FROM events
                            WHERE id > ? AND id <= ? ORDER BY id LIMIT ?))
                 WHERE before < ? ORDER BY id",
                vec![int(after)?, int(through)?, int(limit)?, int(max_bytes)?],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| Delivered {
                id: r.id,
                frame: String::from_utf8_lossy(Frame::event(r.id, &r.type_name, &r.envelope).as_bytes()).into_owned(),
                request_id: r.request_id,
                sub: r.target_sub,
            })
            .collect())
    }

    /// The latest id as stored: the counter, or a row beyond it left by an append that failed
    /// halfway (its rows are not rolled back), so an id is never handed out twice.
    fn stored_latest(&self) -> worker::Result<u64> {
        let counter = self.sql.exec("SELECT value FROM meta WHERE key = 'latest_id'", None)?.one::<Value>()?;
        let rows = self.sql.exec("SELECT MAX(id) AS value FROM events", None)?.one::<Value>()?;
        Ok(counter.value.unwrap_or(0).max(rows.value.unwrap_or(0)))
    }

    pub fn latest(&self) -> u64 {
        self.latest.get()
    }

    pub fn window(&self) -> worker::Result<Window> {
        let earliest = self.sql.exec("SELECT MIN(id) AS value FROM events", None)?.one::<Value>()?;
        Ok(Window { earliest: earliest.value, latest: self.latest.get() })
    }

    /// Appends events whose ids continue from `latest()`. All rows and the new latest id are
    /// written without an `await` in between, so the Durable Object commits them together.
    pub fn append(&self, events: &[Appended]) -> worker::Result<()> {
        let result = self.append_rows(events);
        if result.is_err() {
            // Rows written before the failure stay: never reuse their ids.
            if let Ok(latest) = self.stored_latest() {
                self.latest.set(latest);
            }
        }
        result
    }

    fn append_rows(&self, events: &[Appended]) -> worker::Result<()> {
        let mut latest = self.latest.get();
        for e in events {
            self.sql.exec(
                "INSERT INTO events (id, ts_ms, type, request_id, target_sub, envelope) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    int(e.id)?,
                    int(e.ts_ms)?,
                    e.type_name.into(),
                    e.target.as_ref().map(|t| t.request_id.as_str().to_string()).into(),
                    e.target.as_ref().and_then(|t| t.sub.clone()).into(),
                    e.envelope.as_str().into(),
                ],
            )?;
            if e.target.is_none() && schema_wasm::rules::KEPT_TYPES.contains(&e.type_name) {
                self.sql.exec(
                    "INSERT INTO kept (type, id, envelope) VALUES (?, ?, ?)
                     ON CONFLICT (type) DO UPDATE SET id = excluded.id, envelope = excluded.envelope",
                    vec![e.type_name.into(), int(e.id)?, e.envelope.as_str().into()],
                )?;
            }
            latest = latest.max(e.id);
        }
        // `meta.latest_id` is written when pruning (which may drop every row), not here: the
        // latest id is the larger of it and the newest row (`stored_latest`).
        if let (Some(Oldest::Empty), Some(first)) = (self.oldest.get(), events.first()) {
            self.oldest.set(Some(Oldest::At { id: first.id, ts_ms: first.ts_ms }));
        }
        self.latest.set(latest);
        Ok(())
    }

    /// The newest broadcast event of a kept type (`KEPT_TYPES`), retained or not.
    pub fn kept(&self, type_name: &str) -> worker::Result<Option<String>> {
        one_envelope(&self.sql, "SELECT envelope FROM kept WHERE type = ?", vec![type_name.into()])
    }

    /// Events retained in the log.
    pub fn count(&self) -> worker::Result<u64> {
        let n = self.sql.exec("SELECT COUNT(*) AS value FROM events", None)?.one::<Value>()?;
        Ok(n.value.unwrap_or(0))
    }

    /// Drops events beyond the retention limits, once the log is due (`Retention::due`): at most
    /// a 64th of either limit more is kept meanwhile.
    pub fn prune(&self, retention: Retention, now_ms: u64) -> worker::Result<()> {
        let oldest = match self.oldest.get() {
            Some(oldest) => oldest,
            None => {
                #[derive(Deserialize)]
                struct Row {
                    id: u64,
                    ts_ms: u64,
                }
                let rows: Vec<Row> =
                    self.sql.exec("SELECT id, ts_ms FROM events ORDER BY id LIMIT 1", None)?.to_array()?;
                let oldest = rows.first().map_or(Oldest::Empty, |r| Oldest::At { id: r.id, ts_ms: r.ts_ms });
                self.oldest.set(Some(oldest));
                oldest
            }
        };
        let Oldest::At { id, ts_ms } = oldest else { return Ok(()) };
        let latest = self.latest.get();
        if !retention.due(id, ts_ms, latest, now_ms) {
            return Ok(());
        }
        // Ids are never handed out again, even when this drops every row.
        self.sql.exec("UPDATE meta SET value = ? WHERE key = 'latest_id'", vec![int(latest)?])?;
        // Ids follow the hub's clock, so the events too old are the ones before the first young
        // enough, found by reading the log from its oldest: no index on the time to keep up at
        // every append (a hub restarted on a machine whose clock is behind keeps some a while).
        self.sql.exec(
            "DELETE FROM events WHERE id < max(?, COALESCE((SELECT id FROM events WHERE ts_ms >= ? ORDER BY id LIMIT 1), ?))",
            vec![
                int(retention.keep_from_id(latest))?,
                int(retention.keep_from_ms(now_ms))?,
                int(latest.saturating_add(1))?,
            ],
        )?;
        self.oldest.set(None);
        Ok(())
    }
}

/// The `WHERE` of a `Span`, over `events`: its six parameters are `span_params`.
macro_rules! span_sql {
    () => {
        concat!(
            "id > ? AND id <= ? AND (request_id IS NULL OR (request_id = ? AND ",
            may_see_sql!(),
            ")) AND (? IS NULL OR type = ?)"
        )
    };
}

fn span_params(span: Span<'_>) -> worker::Result<Vec<SqlStorageValue>> {
    let Span { after, until, reader, only } = span;
    Ok(vec![
        int(after.min(until))?,
        int(until)?,
        reader.map(|r| r.request_id.to_string()).into(),
        reader.map(|r| r.sub.to_string()).into(),
        only.into(),
        only.into(),
    ])
}

impl LogPages for ReplayLog {
    /// A page also stops before it passes `max_bytes` of envelopes (it always holds at least one
    /// event): events can be 64 KiB each, and a Durable Object has 128 MB in all.
    fn page(&self, span: Span<'_>, order: Order, limit: u64, max_bytes: u64) -> worker::Result<Vec<Stored>> {
        let mut params = span_params(span)?;
        params.extend([int(limit)?, int(max_bytes)?]);
        // The same query either way but for the direction: the bytes before each event are
        // counted from the end the page starts at.
        macro_rules! page_query {
            ($dir:literal) => {
                concat!(
                    "SELECT id, type, envelope FROM (
                       SELECT id, type, envelope,
                              SUM(LENGTH(CAST(envelope AS BLOB))) OVER (ORDER BY id ",
                    $dir,
                    ") - LENGTH(CAST(envelope AS BLOB)) AS before
                       FROM (SELECT id, type, envelope FROM events WHERE ",
                    span_sql!(),
                    " ORDER BY id ",
                    $dir,
                    " LIMIT ?))
                     WHERE before < ? ORDER BY id ",
                    $dir
                )
            };
        }
        let query = match order {
            Order::OldestFirst => page_query!("ASC"),
            Order::NewestFirst => page_query!("DESC"),
        };
        self.sql.exec(query, params)?.to_array()
    }

    fn has_after(&self, span: Span<'_>) -> worker::Result<bool> {
        let query = concat!("SELECT id AS value FROM events WHERE ", span_sql!(), " LIMIT 1");
        let rows: Vec<Value> = self.sql.exec(query, span_params(span)?)?.to_array()?;
        Ok(!rows.is_empty())
    }
}
