//! The org's durable event log, in the Durable Object's SQLite storage.
//!
//! Ids come from `meta.latest_id`, not from the rows, so they are never reused even when
//! retention has dropped every row. Thin by design: the rules live in `replay`.

use std::cell::Cell;

use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use crate::rate_limit;
use crate::replay::{Retention, Window};
use crate::replay_pager::LogPages;
use crate::request_owner::may_see_sql;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  type TEXT NOT NULL,
  request_id TEXT,
  envelope TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts_ms);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('latest_id', 0);
CREATE TABLE IF NOT EXISTS pending_versions (scope TEXT PRIMARY KEY, envelope TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS client_errors (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL, sub TEXT NOT NULL, report TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT NOT NULL, label TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (name, label));
CREATE TABLE IF NOT EXISTS rate_windows (key TEXT PRIMARY KEY, start_ms INTEGER NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS request_owners (request_id TEXT PRIMARY KEY, sub TEXT NOT NULL, seen_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS request_owners_seen ON request_owners (seen_ms);
CREATE INDEX IF NOT EXISTS request_owners_sub ON request_owners (sub, seen_ms);
INSERT OR IGNORE INTO meta (key, value) VALUES ('owners_forgotten_ms', 0);
CREATE TABLE IF NOT EXISTS used_tickets (nonce TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS used_tickets_expiry ON used_tickets (expires_ms);
CREATE TABLE IF NOT EXISTS kept (type TEXT PRIMARY KEY, id INTEGER NOT NULL, envelope TEXT NOT NULL);
";

/// Added after the first release: the subject a targeted event, or a pending version, is for
/// (`NULL`: the owner of its request id, whoever that is). Added to logs made before it;
/// "duplicate column" means it is there.
const ADD_TARGET_SUB: [&str; 2] =
    ["ALTER TABLE events ADD COLUMN target_sub TEXT", "ALTER TABLE pending_versions ADD COLUMN target_sub TEXT"];

/// `scope` of the org-wide pending version (others are a request id).
pub const ORG_WIDE: &str = "";

/// Request ids of one org that may each keep a pending version (`set_pending_version`).
pub const MAX_PENDING_VERSIONS: u64 = 1000;

/// One row of the log.
#[derive(Deserialize)]
pub struct Stored {
    pub id: u64,
    /// Only the connection with this request id may see the event.
    pub request_id: Option<String>,
    /// The event's envelope, compact JSON (what `data:` carries and the history endpoint returns).
    pub envelope: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// One event to append.
pub struct Append<'a> {
    pub id: u64,
    pub ts_ms: u64,
    pub type_name: &'a str,
    pub request_id: Option<&'a str>,
    /// With `request_id`: only this subject's connection may see the event.
    pub target_sub: Option<&'a str>,
    pub envelope: &'a str,
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
}

#[derive(Deserialize)]
pub(crate) struct Value {
    pub(crate) value: Option<u64>,
}

fn reader_rid(reader: Option<Reader<'_>>) -> SqlStorageValue {
    reader.map(|r| r.request_id.to_string()).into()
}

fn reader_sub(reader: Option<Reader<'_>>) -> SqlStorageValue {
    reader.map(|r| r.sub.to_string()).into()
}

pub(crate) fn int(v: u64) -> worker::Result<SqlStorageValue> {
    SqlStorageValue::try_from_i64(i64::try_from(v).map_err(|_| worker::Error::RustError("id overflow".into()))?)
}

impl ReplayLog {
    pub fn open(sql: SqlStorage) -> worker::Result<ReplayLog> {
        sql.exec(SCHEMA, None)?;
        for add in ADD_TARGET_SUB {
            if let Err(e) = sql.exec(add, None) {
                if !e.to_string().contains("duplicate column") {
                    return Err(e);
                }
            }
        }
        let log = ReplayLog { sql, latest: Cell::new(0) };
        log.latest.set(log.stored_latest()?);
        Ok(log)
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
    pub fn append(&self, events: &[Append<'_>]) -> worker::Result<()> {
        let result = self.append_rows(events);
        if result.is_err() {
            // Rows written before the failure stay: never reuse their ids.
            if let Ok(latest) = self.stored_latest() {
                self.latest.set(latest);
            }
        }
        result
    }

    fn append_rows(&self, events: &[Append<'_>]) -> worker::Result<()> {
        let mut latest = self.latest.get();
        for e in events {
            self.sql.exec(
                "INSERT INTO events (id, ts_ms, type, request_id, target_sub, envelope) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    int(e.id)?,
                    int(e.ts_ms)?,
                    e.type_name.into(),
                    e.request_id.map(str::to_string).into(),
                    e.target_sub.map(str::to_string).into(),
                    e.envelope.into(),
                ],
            )?;
            if e.request_id.is_none() && schema_wasm::rules::KEPT_TYPES.contains(&e.type_name) {
                self.sql.exec(
                    "INSERT INTO kept (type, id, envelope) VALUES (?, ?, ?)
                     ON CONFLICT (type) DO UPDATE SET id = excluded.id, envelope = excluded.envelope",
                    vec![e.type_name.into(), int(e.id)?, e.envelope.into()],
                )?;
            }
            latest = latest.max(e.id);
        }
        self.sql.exec("UPDATE meta SET value = ? WHERE key = 'latest_id'", vec![int(latest)?])?;
        self.latest.set(latest);
        Ok(())
    }

    /// Events after `after` (at most `limit`, at most up to `until`), in id order, that `reader`
    /// may see: broadcast events, and events targeted at its request id (for its subject, or for
    /// no subject in particular).
    ///
    /// A page also stops before it passes `max_bytes` of envelopes (it always holds at least one
    /// event): events can be 64 KiB each, and a Durable Object has 128 MB in all. `only`: events of
    /// that type only (history's `?type=`).
    pub fn page(
        &self,
        after: u64,
        until: u64,
        limit: u64,
        max_bytes: u64,
        reader: Option<Reader<'_>>,
        only: Option<&str>,
    ) -> worker::Result<Vec<Stored>> {
        let after = after.min(until);
        self.sql
            .exec(
                concat!(r#"SELECT id, type, request_id, envelope FROM (
                   SELECT id, type, request_id, envelope,
                          SUM(LENGTH(CAST(envelope AS BLOB))) OVER (ORDER BY id) - LENGTH(CAST(envelope AS BLOB)) AS before
                   FROM (SELECT id, type, request_id, envelope FROM events
                         WHERE id > ? AND id <= ? AND (request_id IS NULL OR (request_id = ? AND "#, may_see_sql!(), r#"))
                         AND (? IS NULL OR type = ?)
                         ORDER BY id LIMIT ?))
                 WHERE before < ? ORDER BY id"#),
                vec![
                    int(after)?,
                    int(until)?,
                    reader_rid(reader),
                    reader_sub(reader),
                    only.into(),
                    only.into(),
                    int(limit)?,
                    int(max_bytes)?,
                ],
            )?
            .to_array()
    }

    /// The newest broadcast event of a kept type (`KEPT_TYPES`), retained or not.
    pub fn kept(&self, type_name: &str) -> worker::Result<Option<String>> {
        self.envelope("SELECT envelope FROM kept WHERE type = ?", type_name)
    }

    /// The `envelope` column of the one row `query` selects by `key`, if there is one.
    fn envelope(&self, query: &str, key: &str) -> worker::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            envelope: String,
        }
        let rows: Vec<Row> = self.sql.exec(query, vec![key.into()])?.to_array()?;
        Ok(rows.into_iter().next().map(|r| r.envelope))
    }

    /// Whether an event after `after` (up to `until`, of type `only` when given) exists for `reader`.
    pub fn has_after(
        &self,
        after: u64,
        until: u64,
        reader: Option<Reader<'_>>,
        only: Option<&str>,
    ) -> worker::Result<bool> {
        let after = after.min(until);
        let rows: Vec<Value> = self
            .sql
            .exec(
                concat!(
                    "SELECT id AS value FROM events WHERE id > ? AND id <= ?
                     AND (request_id IS NULL OR (request_id = ? AND ",
                    may_see_sql!(),
                    ")) AND (? IS NULL OR type = ?) LIMIT 1"
                ),
                vec![int(after)?, int(until)?, reader_rid(reader), reader_sub(reader), only.into(), only.into()],
            )?
            .to_array()?;
        Ok(!rows.is_empty())
    }

    /// Keeps one client error report; only the newest 1000 are kept.
    pub fn keep_client_error(&self, ts_ms: u64, sub: &str, report: &str) -> worker::Result<()> {
        self.sql.exec(
            "INSERT INTO client_errors (ts_ms, sub, report) VALUES (?, ?, ?)",
            vec![int(ts_ms)?, sub.into(), report.into()],
        )?;
        self.sql.exec("DELETE FROM client_errors WHERE id <= (SELECT MAX(id) FROM client_errors) - 1000", None)?;
        Ok(())
    }

    /// Events retained in the log.
    pub fn count(&self) -> worker::Result<u64> {
        let n = self.sql.exec("SELECT COUNT(*) AS value FROM events", None)?.one::<Value>()?;
        Ok(n.value.unwrap_or(0))
    }

    /// Makes `envelope` (a `version.available` event) the pending version of `scope`, for
    /// `target_sub` only when given (as a targeted event is).
    ///
    /// At most `MAX_PENDING_VERSIONS` request ids keep one: setting one more forgets the one set
    /// longest ago (the org-wide one is never forgotten). A replaced row gets a new rowid, so
    /// rowid order is the order in which they were set.
    pub fn set_pending_version(&self, scope: &str, target_sub: Option<&str>, envelope: &str) -> worker::Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO pending_versions (scope, target_sub, envelope) VALUES (?, ?, ?)",
            vec![scope.into(), target_sub.map(str::to_string).into(), envelope.into()],
        )?;
        self.sql.exec(
            "DELETE FROM pending_versions WHERE scope != '' AND rowid <=
             (SELECT rowid FROM pending_versions WHERE scope != '' ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
            vec![int(MAX_PENDING_VERSIONS)?],
        )?;
        Ok(())
    }

    /// The pending version envelope of `scope` that `sub` may see, if any.
    pub fn pending_version(&self, scope: &str, sub: &str) -> worker::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            envelope: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                concat!("SELECT envelope FROM pending_versions WHERE scope = ? AND ", may_see_sql!()),
                vec![scope.into(), sub.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| r.envelope))
    }

    /// Clears the pending version of `scope`; whether there was one.
    pub fn clear_pending_version(&self, scope: &str) -> worker::Result<bool> {
        let cursor = self.sql.exec("DELETE FROM pending_versions WHERE scope = ?", vec![scope.into()])?;
        Ok(cursor.rows_written() > 0)
    }

    /// Adds to stored counters (`metrics::Tally::take`).
    pub fn add_counters(&self, additions: &[(&'static str, String, u64)]) -> worker::Result<()> {
        for (name, label, n) in additions {
            self.sql.exec(
                "INSERT INTO counters (name, label, value) VALUES (?, ?, ?)
                 ON CONFLICT (name, label) DO UPDATE SET value = value + excluded.value",
                vec![(*name).into(), label.as_str().into(), int(*n)?],
            )?;
        }
        Ok(())
    }

    /// Every stored counter as `(name, label, value)`.
    pub fn counters(&self) -> worker::Result<Vec<(String, String, u64)>> {
        #[derive(Deserialize)]
        struct Row {
            name: String,
            label: String,
            value: u64,
        }
        let rows: Vec<Row> = self.sql.exec("SELECT name, label, value FROM counters", None)?.to_array()?;
        Ok(rows.into_iter().map(|r| (r.name, r.label, r.value)).collect())
    }

    /// The current rate-limit window of `key`, if any.
    pub fn rate_window(&self, key: &str) -> worker::Result<Option<rate_limit::Window>> {
        #[derive(Deserialize)]
        struct Row {
            start_ms: u64,
            count: u32,
        }
        let rows: Vec<Row> =
            self.sql.exec("SELECT start_ms, count FROM rate_windows WHERE key = ?", vec![key.into()])?.to_array()?;
        Ok(rows.into_iter().next().map(|r| rate_limit::Window { start_ms: r.start_ms, count: r.count }))
    }

    /// Stores `key`'s window; when it is a new one (its first request), also forgets windows that
    /// started before `forget_before_ms` (so this costs one statement per request, not two).
    pub fn set_rate_window(&self, key: &str, window: rate_limit::Window, forget_before_ms: u64) -> worker::Result<()> {
        if window.count == 1 {
            self.sql.exec("DELETE FROM rate_windows WHERE start_ms < ?", vec![int(forget_before_ms)?])?;
        }
        self.sql.exec(
            "INSERT INTO rate_windows (key, start_ms, count) VALUES (?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET start_ms = excluded.start_ms, count = excluded.count",
            vec![key.into(), int(window.start_ms)?, int(u64::from(window.count))?],
        )?;
        Ok(())
    }

    /// Drops events beyond the retention limits.
    pub fn prune(&self, retention: Retention, now_ms: u64) -> worker::Result<()> {
        self.sql.exec(
            "DELETE FROM events WHERE id < ? OR ts_ms < ?",
            vec![int(retention.keep_from_id(self.latest.get()))?, int(retention.keep_from_ms(now_ms))?],
        )?;
        Ok(())
    }
}

impl LogPages for ReplayLog {
    fn page(
        &self,
        after: u64,
        until: u64,
        limit: u64,
        max_bytes: u64,
        reader: Option<Reader<'_>>,
    ) -> worker::Result<Vec<Stored>> {
        ReplayLog::page(self, after, until, limit, max_bytes, reader, None)
    }

    fn has_after(&self, after: u64, until: u64, reader: Option<Reader<'_>>) -> worker::Result<bool> {
        ReplayLog::has_after(self, after, until, reader, None)
    }
}
