//! Idempotent publishing (`Idempotency-Key`, contract 4.2): the answer to each keyed publish of a
//! subject, kept so that a retry of the same request gets the same answer and stores nothing,
//! while the same key with another request is refused. Kept for `HISTORY_MAX_AGE_SECONDS` (the
//! events' own retention), and at most `MAX_IDEMPOTENCY_KEYS` per org (the oldest go first).

use serde::Deserialize;
use worker::SqlStorage;

use super::{int, with_schema, Value};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS idempotency (
  sub TEXT NOT NULL,
  key TEXT NOT NULL,
  request TEXT NOT NULL,
  status INTEGER NOT NULL,
  answer TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  PRIMARY KEY (sub, key)
);
DROP INDEX IF EXISTS idempotency_ts;
";

/// Keys one org keeps at most; past it, the oldest are forgotten first.
pub const MAX_IDEMPOTENCY_KEYS: u64 = 100_000;

/// What a key was used for before.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Never (or forgotten): go on, then keep the answer.
    New,
    /// For this same request: answer again what was answered then.
    Same { status: u16, answer: String },
    /// For another request.
    Different,
}

pub struct Idempotency {
    sql: SqlStorage,
}

impl Idempotency {
    pub fn open(sql: SqlStorage) -> worker::Result<Idempotency> {
        Ok(Idempotency { sql: with_schema(sql, SCHEMA)? })
    }

    /// What `sub`'s `key` was used for, given the digest of this request (`request`).
    pub fn seen(&self, sub: &str, key: &str, request: &str) -> worker::Result<Seen> {
        #[derive(Deserialize)]
        struct Row {
            request: String,
            status: u16,
            answer: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT request, status, answer FROM idempotency WHERE sub = ? AND key = ?",
                vec![sub.into(), key.into()],
            )?
            .to_array()?;
        Ok(match rows.into_iter().next() {
            None => Seen::New,
            Some(row) if row.request == request => Seen::Same { status: row.status, answer: row.answer },
            Some(_) => Seen::Different,
        })
    }

    /// Keeps the answer to `sub`'s keyed request.
    pub fn keep(&self, sub: &str, key: &str, request: &str, status: u16, answer: &str, now: u64) -> worker::Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO idempotency (sub, key, request, status, answer, ts_ms) VALUES (?, ?, ?, ?, ?, ?)",
            vec![sub.into(), key.into(), request.into(), int(u64::from(status))?, answer.into(), int(now)?],
        )?;
        Ok(())
    }

    /// Forgets keys older than `max_age_ms`, and the oldest beyond `MAX_IDEMPOTENCY_KEYS`.
    /// `keep` writes each answer as a new row (`INSERT OR REPLACE`), so rowids follow the time
    /// kept: both read the oldest rows by rowid, with no index on the time to keep up at every
    /// keyed publish.
    pub fn prune(&self, max_age_ms: u64, now: u64) -> worker::Result<()> {
        self.sql.exec(
            "DELETE FROM idempotency WHERE rowid < COALESCE(
               (SELECT rowid FROM idempotency WHERE ts_ms >= ? ORDER BY rowid LIMIT 1),
               (SELECT max(rowid) + 1 FROM idempotency))",
            vec![int(now.saturating_sub(max_age_ms))?],
        )?;
        // The rowids' span bounds the rows (only deletes leave gaps), read from the ends of the
        // table: the rows are counted past the cap only when there may be more.
        let span = self.sql.exec(
            "SELECT (SELECT max(rowid) FROM idempotency) - (SELECT min(rowid) FROM idempotency) + 1 AS value",
            None,
        )?;
        if span.one::<Value>()?.value.unwrap_or(0) > MAX_IDEMPOTENCY_KEYS {
            self.sql.exec(
                "DELETE FROM idempotency WHERE rowid <= (SELECT rowid FROM idempotency ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
                vec![int(MAX_IDEMPOTENCY_KEYS)?],
            )?;
        }
        Ok(())
    }
}
