//! Pending versions (`PUT /v1/versions`): the org's, and one per request id, kept in SQLite until
//! cleared, replaced, pushed out by the 1000-per-org bound, or forgotten with their request id.

use worker::SqlStorage;

use super::{add_column, int, one_envelope, with_schema};
use crate::hub::request_owner::may_see_sql;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS pending_versions (scope TEXT PRIMARY KEY, envelope TEXT NOT NULL);";
/// Added after the first release: the subject a pending version is for (`NULL`: its request id's
/// owner, whoever that is).
const ADD_TARGET_SUB: &str = "ALTER TABLE pending_versions ADD COLUMN target_sub TEXT";

/// `scope` of the org-wide pending version (others are a request id).
pub const ORG_WIDE: &str = "";

/// Request ids of one org that may each keep a pending version (`set`).
pub const MAX_PENDING_VERSIONS: u64 = 1000;

pub struct Versions {
    sql: SqlStorage,
}

impl Versions {
    pub fn open(sql: SqlStorage) -> worker::Result<Versions> {
        let sql = with_schema(sql, SCHEMA)?;
        add_column(&sql, ADD_TARGET_SUB)?;
        Ok(Versions { sql })
    }

    /// Makes `envelope` (a `version.available` event) the pending version of `scope`, for
    /// `target_sub` only when given (as a targeted event is).
    ///
    /// At most `MAX_PENDING_VERSIONS` request ids keep one: setting one more forgets the one set
    /// longest ago (the org-wide one is never forgotten). A replaced row gets a new rowid, so
    /// rowid order is the order in which they were set.
    pub fn set(&self, scope: &str, target_sub: Option<&str>, envelope: &str) -> worker::Result<()> {
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
    pub fn get(&self, scope: &str, sub: &str) -> worker::Result<Option<String>> {
        let query = concat!("SELECT envelope FROM pending_versions WHERE scope = ? AND ", may_see_sql!());
        one_envelope(&self.sql, query, vec![scope.into(), sub.into()])
    }

    /// Clears the pending version of `scope`; whether there was one.
    pub fn clear(&self, scope: &str) -> worker::Result<bool> {
        let cursor = self.sql.exec("DELETE FROM pending_versions WHERE scope = ?", vec![scope.into()])?;
        Ok(cursor.rows_written() > 0)
    }

    /// Forgets the pending versions of `request_ids` (their ownership went).
    pub fn forget(&self, request_ids: &[String]) -> worker::Result<()> {
        for rid in request_ids {
            self.sql.exec("DELETE FROM pending_versions WHERE scope = ?", vec![rid.as_str().into()])?;
        }
        Ok(())
    }
}
