//! The org's counters (`metrics`), stored so that they survive the hub sleeping and restarts.

use serde::Deserialize;
use worker::SqlStorage;

use super::{int, with_schema};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS counters (name TEXT NOT NULL, label TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (name, label));";

pub struct Counters {
    sql: SqlStorage,
}

impl Counters {
    pub fn open(sql: SqlStorage) -> worker::Result<Counters> {
        Ok(Counters { sql: with_schema(sql, SCHEMA)? })
    }

    /// Adds to stored counters (`metrics::Tally::take`): one statement for up to 30 of them (a
    /// statement takes at most 100 parameters), since each statement is a call out of wasm.
    pub fn add(&self, additions: &[(&'static str, String, u64)]) -> worker::Result<()> {
        for chunk in additions.chunks(30) {
            let rows = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let mut params = Vec::with_capacity(chunk.len() * 3);
            for (name, label, n) in chunk {
                params.extend([(*name).into(), label.as_str().into(), int(*n)?]);
            }
            self.sql.exec(
                &format!(
                    "INSERT INTO counters (name, label, value) VALUES {rows}
                     ON CONFLICT (name, label) DO UPDATE SET value = value + excluded.value"
                ),
                params,
            )?;
        }
        Ok(())
    }

    /// Every stored counter as `(name, label, value)`.
    pub fn all(&self) -> worker::Result<Vec<(String, String, u64)>> {
        #[derive(Deserialize)]
        struct Row {
            name: String,
            label: String,
            value: u64,
        }
        let rows: Vec<Row> = self.sql.exec("SELECT name, label, value FROM counters", None)?.to_array()?;
        Ok(rows.into_iter().map(|r| (r.name, r.label, r.value)).collect())
    }
}
