//! Client error reports (`POST /v1/audit/client-error`): the org's newest 1000.

use worker::SqlStorage;

use super::{int, with_schema};

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
}
