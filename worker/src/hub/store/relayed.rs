//! The org's streams its relays hold (`RELAYS_PER_ORG` of 2 or more): one row per stream, added
//! when the hub admits it and removed when its relay says it closed. The hub counts, replaces and
//! looks up streams here as it does in its own socket list, and hands events to the relays that
//! have a row. Also where the org's name is kept: the hub needs it to find its relays after a
//! restart.

use serde::Deserialize;
use worker::SqlStorage;

use super::{int, with_schema};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS relayed_streams (
    stream INTEGER PRIMARY KEY AUTOINCREMENT,
    relay INTEGER NOT NULL,
    sub TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS relayed_streams_rid ON relayed_streams (request_id);
CREATE INDEX IF NOT EXISTS relayed_streams_relay ON relayed_streams (relay);
CREATE TABLE IF NOT EXISTS relay_home (id INTEGER PRIMARY KEY CHECK (id = 0), org TEXT NOT NULL);";

/// A stream a relay holds.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    pub stream: u64,
    pub relay: u32,
    /// The subject's tag (`sockets::SubTag`).
    pub sub: String,
}

pub struct RelayedStreams {
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct Count {
    sub: String,
    n: u64,
}

impl RelayedStreams {
    pub fn open(sql: SqlStorage) -> worker::Result<RelayedStreams> {
        Ok(RelayedStreams { sql: with_schema(sql, SCHEMA)? })
    }

    /// Records a stream `relay` holds; its id.
    pub fn add(&self, relay: u32, sub: &str, request_id: Option<&str>) -> worker::Result<u64> {
        #[derive(Deserialize)]
        struct Id {
            stream: u64,
        }
        let rows: Vec<Id> = self
            .sql
            .exec(
                "INSERT INTO relayed_streams (relay, sub, request_id) VALUES (?, ?, ?) RETURNING stream",
                vec![int(u64::from(relay))?, sub.into(), request_id.map(str::to_string).into()],
            )?
            .to_array()?;
        rows.first().map(|r| r.stream).ok_or_else(|| worker::Error::RustError("no stream id".into()))
    }

    /// Forgets a stream that closed; its row, if it had one (a replaced stream's row went when it
    /// was replaced).
    pub fn remove(&self, stream: u64) -> worker::Result<Option<Relayed>> {
        let rows: Vec<Relayed> = self
            .sql
            .exec("DELETE FROM relayed_streams WHERE stream = ? RETURNING stream, relay, sub", vec![int(stream)?])?
            .to_array()?;
        Ok(rows.into_iter().next())
    }

    /// Open streams per subject tag.
    pub fn per_sub(&self) -> worker::Result<Vec<(String, u64)>> {
        let rows: Vec<Count> =
            self.sql.exec("SELECT sub, COUNT(*) AS n FROM relayed_streams GROUP BY sub", None)?.to_array()?;
        Ok(rows.into_iter().map(|c| (c.sub, c.n)).collect())
    }

    /// The streams of `sub` (a tag) with `request_id`.
    pub fn with_request_id(&self, sub: &str, request_id: &str) -> worker::Result<Vec<Relayed>> {
        self.sql
            .exec(
                "SELECT stream, relay, sub FROM relayed_streams WHERE request_id = ? AND sub = ?",
                vec![request_id.into(), sub.into()],
            )?
            .to_array()
    }

    /// Whether any stream has `request_id`.
    pub fn any_with(&self, request_id: &str) -> worker::Result<bool> {
        let rows: Vec<Relayed> = self
            .sql
            .exec(
                "SELECT stream, relay, sub FROM relayed_streams WHERE request_id = ? LIMIT 1",
                vec![request_id.into()],
            )?
            .to_array()?;
        Ok(!rows.is_empty())
    }

    /// The relays that hold streams.
    pub fn relays(&self) -> worker::Result<Vec<u32>> {
        #[derive(Deserialize)]
        struct Relay {
            relay: u32,
        }
        let rows: Vec<Relay> = self.sql.exec("SELECT DISTINCT relay FROM relayed_streams", None)?.to_array()?;
        Ok(rows.into_iter().map(|r| r.relay).collect())
    }

    /// How many streams `relay` holds.
    pub fn held_by(&self, relay: u32) -> worker::Result<u64> {
        let rows: Vec<Count> = self
            .sql
            .exec("SELECT '' AS sub, COUNT(*) AS n FROM relayed_streams WHERE relay = ?", vec![int(u64::from(relay))?])?
            .to_array()?;
        Ok(rows.first().map_or(0, |c| c.n))
    }

    /// The newest stream id (0: none yet).
    pub fn newest(&self) -> worker::Result<u64> {
        let rows: Vec<super::Value> =
            self.sql.exec("SELECT MAX(stream) AS value FROM relayed_streams", None)?.to_array()?;
        Ok(rows.first().and_then(|r| r.value).unwrap_or(0))
    }

    /// Forgets the streams of `relay` up to `newest` that it does not hold (`held`, its census);
    /// how many. Streams recorded after the census was asked for are left alone.
    pub fn forget_missing(&self, relay: u32, newest: u64, held: &[u64]) -> worker::Result<u64> {
        let rows: Vec<Relayed> = self
            .sql
            .exec(
                "SELECT stream, relay, sub FROM relayed_streams WHERE relay = ? AND stream <= ?",
                vec![int(u64::from(relay))?, int(newest)?],
            )?
            .to_array()?;
        let held: std::collections::HashSet<u64> = held.iter().copied().collect();
        let mut forgotten = 0;
        for row in rows.into_iter().filter(|r| !held.contains(&r.stream)) {
            forgotten += u64::from(self.remove(row.stream)?.is_some());
        }
        Ok(forgotten)
    }

    /// The org's name, once a relay told it.
    pub fn org(&self) -> worker::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Org {
            org: String,
        }
        let rows: Vec<Org> = self.sql.exec("SELECT org FROM relay_home", None)?.to_array()?;
        Ok(rows.into_iter().next().map(|o| o.org))
    }

    pub fn set_org(&self, org: &str) -> worker::Result<()> {
        self.sql.exec("INSERT OR REPLACE INTO relay_home (id, org) VALUES (0, ?)", vec![org.into()])?;
        Ok(())
    }
}
