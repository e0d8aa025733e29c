//! What the hub keeps to decide whether a request may go on (`hub::limits`, `hub::ownership`):
//! rate-limit windows, the stream tickets already used, and the owner of each request id.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use super::{int, with_schema, Value};
use crate::hub::rate_limit;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rate_windows (key TEXT PRIMARY KEY, start_ms INTEGER NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS used_tickets (nonce TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS used_tickets_expiry ON used_tickets (expires_ms);
CREATE TABLE IF NOT EXISTS request_owners (request_id TEXT PRIMARY KEY, sub TEXT NOT NULL, seen_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS request_owners_seen ON request_owners (seen_ms);
CREATE INDEX IF NOT EXISTS request_owners_sub ON request_owners (sub, seen_ms);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('owners_forgotten_ms', 0);
";

/// How long a used ticket's nonce is kept past the ticket's expiry: a replay that a front worker
/// with a slower clock still lets through is refused as used, not taken as new.
pub const TICKET_MARGIN_MS: u64 = 60_000;

pub struct Admission {
    sql: SqlStorage,
    /// The rate windows read or counted since the hub woke (the hub alone writes them): a busy
    /// subject's window is read from SQLite once, not at every request.
    windows: RefCell<HashMap<String, Option<rate_limit::Window>>>,
    /// Rate windows counted and not stored yet (`store_rate_windows`), and the oldest start a
    /// stored window may keep (windows that started before it are forgotten there).
    unstored: RefCell<Unstored>,
    /// Windows that started before this were forgotten last (`None`: not since the hub woke).
    windows_forgotten_before: Cell<Option<u64>>,
}

#[derive(Default)]
struct Unstored {
    keys: HashSet<String>,
    forget_before_ms: Option<u64>,
}

impl Admission {
    pub fn open(sql: SqlStorage) -> worker::Result<Admission> {
        Ok(Admission {
            sql: with_schema(sql, SCHEMA)?,
            windows: RefCell::default(),
            unstored: RefCell::default(),
            windows_forgotten_before: Cell::new(None),
        })
    }

    /// The current rate-limit window of `key`, if any.
    pub fn rate_window(&self, key: &str) -> worker::Result<Option<rate_limit::Window>> {
        #[derive(Deserialize)]
        struct Row {
            start_ms: u64,
            count: u32,
        }
        if let Some(window) = self.windows.borrow().get(key) {
            return Ok(*window);
        }
        let rows: Vec<Row> =
            self.sql.exec("SELECT start_ms, count FROM rate_windows WHERE key = ?", vec![key.into()])?.to_array()?;
        let window = rows.into_iter().next().map(|r| rate_limit::Window { start_ms: r.start_ms, count: r.count });
        self.windows.borrow_mut().insert(key.to_string(), window);
        Ok(window)
    }

    /// Counts `key`'s window in memory; `store_rate_windows` writes it with the hub's next store
    /// (one statement per subject per store, not one per request). When it is a new window (its
    /// first request), windows that started before `forget_before_ms` are forgotten too, when
    /// `rate_limit::forget_due` says (a window kept longer is over all the same: `Limit::admit`
    /// starts a new one).
    pub fn set_rate_window(&self, key: &str, window: rate_limit::Window, forget_before_ms: u64) {
        let mut windows = self.windows.borrow_mut();
        let mut unstored = self.unstored.borrow_mut();
        if window.count == 1 && rate_limit::forget_due(self.windows_forgotten_before.get(), forget_before_ms) {
            self.windows_forgotten_before.set(Some(forget_before_ms));
            windows.retain(|_, w| w.is_some_and(|w| w.start_ms >= forget_before_ms));
            unstored.keys.retain(|k| windows.contains_key(k));
            unstored.forget_before_ms = unstored.forget_before_ms.max(Some(forget_before_ms));
        }
        windows.insert(key.to_string(), Some(window));
        unstored.keys.insert(key.to_string());
    }

    /// Writes the rate windows counted since the last store. What fails to be written stays
    /// counted in memory and is written again by the next store.
    pub fn store_rate_windows(&self) -> worker::Result<()> {
        let Unstored { keys, forget_before_ms } = std::mem::take(&mut *self.unstored.borrow_mut());
        let stored = self.write_rate_windows(&keys, forget_before_ms);
        if stored.is_err() {
            let mut unstored = self.unstored.borrow_mut();
            unstored.keys.extend(keys);
            unstored.forget_before_ms = unstored.forget_before_ms.max(forget_before_ms);
        }
        stored
    }

    fn write_rate_windows(&self, keys: &HashSet<String>, forget_before_ms: Option<u64>) -> worker::Result<()> {
        if let Some(before) = forget_before_ms {
            self.sql.exec("DELETE FROM rate_windows WHERE start_ms < ?", vec![int(before)?])?;
        }
        let windows = self.windows.borrow();
        for key in keys {
            let Some(Some(window)) = windows.get(key) else { continue };
            self.sql.exec(
                "INSERT INTO rate_windows (key, start_ms, count) VALUES (?, ?, ?)
                 ON CONFLICT (key) DO UPDATE SET start_ms = excluded.start_ms, count = excluded.count",
                vec![key.as_str().into(), int(window.start_ms)?, int(u64::from(window.count))?],
            )?;
        }
        Ok(())
    }

    /// Whether a stream ticket's nonce was used already.
    pub fn ticket_used(&self, nonce: &str) -> worker::Result<bool> {
        let rows: Vec<Value> =
            self.sql.exec("SELECT 1 AS value FROM used_tickets WHERE nonce = ?", vec![nonce.into()])?.to_array()?;
        Ok(!rows.is_empty())
    }

    /// Records a stream ticket's use (`ticket_used` said it was not). Nonces are forgotten
    /// `TICKET_MARGIN_MS` after their ticket expired.
    pub fn use_ticket(&self, nonce: &str, expires_ms: u64, now_ms: u64) -> worker::Result<()> {
        self.sql.exec(
            "DELETE FROM used_tickets WHERE expires_ms <= ?",
            vec![int(now_ms.saturating_sub(TICKET_MARGIN_MS))?],
        )?;
        self.sql.exec(
            "INSERT OR IGNORE INTO used_tickets (nonce, expires_ms) VALUES (?, ?)",
            vec![nonce.into(), int(expires_ms)?],
        )?;
        Ok(())
    }

    /// The subject that owns `request_id`.
    pub fn request_owner(&self, request_id: &str) -> worker::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            sub: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT sub FROM request_owners WHERE request_id = ?", vec![request_id.into()])?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| r.sub))
    }

    /// The request ids `sub` owns, least recently seen first, at most `limit` (the index on
    /// `(sub, seen_ms)` reads only these).
    pub fn request_ids_of(&self, sub: &str, limit: u64) -> worker::Result<Vec<String>> {
        self.request_ids(
            "SELECT request_id FROM request_owners WHERE sub = ? ORDER BY seen_ms LIMIT ?",
            vec![sub.into(), int(limit)?],
        )
    }

    /// Records that `sub` used `request_id` now (it owns it; `request_owner::claim` decided).
    pub fn own_request(&self, request_id: &str, sub: &str, now_ms: u64) -> worker::Result<()> {
        self.sql.exec(
            "INSERT INTO request_owners (request_id, sub, seen_ms) VALUES (?, ?, ?)
             ON CONFLICT (request_id) DO UPDATE SET seen_ms = excluded.seen_ms",
            vec![request_id.into(), sub.into(), int(now_ms)?],
        )?;
        Ok(())
    }

    /// When unused request ids were last forgotten (ms since the epoch; 0: never).
    pub fn owners_forgotten_ms(&self) -> worker::Result<u64> {
        let row = self.sql.exec("SELECT value FROM meta WHERE key = 'owners_forgotten_ms'", None)?;
        Ok(row.one::<Value>()?.value.unwrap_or(0))
    }

    /// Up to `limit` request ids not seen since `before_ms` (oldest first, by the index).
    pub fn unused_request_ids(&self, before_ms: u64, limit: u64) -> worker::Result<Vec<String>> {
        self.request_ids(
            "SELECT request_id FROM request_owners WHERE seen_ms < ? ORDER BY seen_ms LIMIT ?",
            vec![int(before_ms)?, int(limit)?],
        )
    }

    fn request_ids(&self, query: &str, params: Vec<SqlStorageValue>) -> worker::Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            request_id: String,
        }
        let rows: Vec<Row> = self.sql.exec(query, params)?.to_array()?;
        Ok(rows.into_iter().map(|r| r.request_id).collect())
    }

    /// Forgets the owners of `request_ids` (their pending versions are `Versions::forget`'s).
    pub fn forget_request_ids(&self, request_ids: &[String]) -> worker::Result<()> {
        for rid in request_ids {
            self.sql.exec("DELETE FROM request_owners WHERE request_id = ?", vec![rid.as_str().into()])?;
        }
        Ok(())
    }

    /// Marks `in_use` (ids of open streams) as seen now, and notes that unused ids were forgotten
    /// now.
    pub fn seen_in_use(&self, in_use: &[String], now_ms: u64) -> worker::Result<()> {
        for rid in in_use {
            self.sql.exec(
                "UPDATE request_owners SET seen_ms = ? WHERE request_id = ?",
                vec![int(now_ms)?, rid.as_str().into()],
            )?;
        }
        self.sql.exec("UPDATE meta SET value = ? WHERE key = 'owners_forgotten_ms'", vec![int(now_ms)?])?;
        Ok(())
    }
}
