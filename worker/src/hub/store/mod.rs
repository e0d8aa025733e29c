//! The hub's small stores, one per concern, in the org's SQLite beside the event log (`hub::log`):
//! what decides whether a request may go on (`admission`), pending versions (`versions`),
//! counters (`counters`), client error reports (`reports`) and the answers to keyed publishes
//! (`idempotency`). Each creates its own tables.

pub(crate) mod admission;
pub(crate) mod counters;
pub(crate) mod idempotency;
pub(crate) mod relayed;
pub(crate) mod reports;
pub(crate) mod versions;

use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

/// A row of one number (`SELECT ... AS value`).
#[derive(Deserialize)]
pub(crate) struct Value {
    pub(crate) value: Option<u64>,
}

/// A number as SQLite takes it (an id or a time past `i64` is an error, never a wrap).
pub(crate) fn int(v: u64) -> worker::Result<SqlStorageValue> {
    SqlStorageValue::try_from_i64(i64::try_from(v).map_err(|_| worker::Error::RustError("id overflow".into()))?)
}

/// The `envelope` column of the one row `query` selects, if there is one (a kept event, a pending
/// version).
pub(crate) fn one_envelope(
    sql: &SqlStorage,
    query: &str,
    params: Vec<SqlStorageValue>,
) -> worker::Result<Option<String>> {
    #[derive(Deserialize)]
    struct Row {
        envelope: String,
    }
    let rows: Vec<Row> = sql.exec(query, params)?.to_array()?;
    Ok(rows.into_iter().next().map(|r| r.envelope))
}

/// Makes a store's tables (if they are not there yet) and hands back the storage to keep.
pub(crate) fn with_schema(sql: SqlStorage, schema: &str) -> worker::Result<SqlStorage> {
    sql.exec(schema, None)?;
    Ok(sql)
}

/// Adds a column to a table made before it existed; "duplicate column" means it is there.
pub(crate) fn add_column(sql: &SqlStorage, alter: &str) -> worker::Result<()> {
    match sql.exec(alter, None) {
        Err(e) if !e.to_string().contains("duplicate column") => Err(e),
        _ => Ok(()),
    }
}
