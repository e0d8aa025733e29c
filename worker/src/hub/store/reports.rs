//! Client error reports (`POST /v1/audit/client-error`): the org's newest 1000.

use serde::Deserialize;
use worker::SqlStorage;

use super::{int, with_schema};

/// One kept report.
#[derive(Deserialize)]
pub struct Kept {
    pub id: u64,
    pub ts_ms: u64,
    pub sub: String,
    /// The report as it was checked and stored (JSON).
    pub report: String,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS client_errors (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL, sub TEXT NOT NULL, report TEXT NOT NULL);";

pub struct Reports {
    sql: SqlStorage,
}

impl Reports {
    pub fn open(sql: SqlStorage) -> worker::Result<Reports> {
        Ok(Reports { sql: with_schema(sql, SCHEMA)? })
    }

    /// Keeps one client error report; only the newest 1000 are kept.
    pub fn keep(&self, ts_ms: u64, sub: &str, report: &str) -> worker::Result<()> {
        self.sql.exec(
            "INSERT INTO client_errors (ts_ms, sub, report) VALUES (?, ?, ?)",
            vec![int(ts_ms)?, sub.into(), report.into()],
        )?;
        self.sql.exec("DELETE FROM client_errors WHERE id <= (SELECT MAX(id) FROM client_errors) - 1000", None)?;
        Ok(())
    }

    /// At most `limit` kept reports, newest first, with an id below `before` when given.
    pub fn newest(&self, limit: u64, before: Option<u64>) -> worker::Result<Vec<Kept>> {
        let rows = match before {
            Some(before) => self.sql.exec(
                "SELECT id, ts_ms, sub, report FROM client_errors WHERE id < ? ORDER BY id DESC LIMIT ?",
                vec![int(before)?, int(limit)?],
            )?,
            None => self
                .sql
                .exec("SELECT id, ts_ms, sub, report FROM client_errors ORDER BY id DESC LIMIT ?", vec![int(limit)?])?,
        };
        rows.to_array()
    }
}
