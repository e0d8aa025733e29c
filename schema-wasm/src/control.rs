//! The server's answers a client reads besides events: why it must resync (the data of a
//! `stream.reset` frame) and a page of history. Declared here, next to the catalog, so the worker
//! writes them from these types and the TypeScript the client reads them with is generated from
//! the same ones (`npm run gen:schema`).

use serde::{Deserialize, Serialize};

/// Why a client must resync: what it asked to resume from is not in the org's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// Events after the given id were already dropped by retention.
    HistoryGap,
    /// The given id was never issued for this org (greater than the latest, or not a number).
    UnknownId,
}

/// What a client needs to resync (contract 3, `stream.reset`): why, and the ids the org's log
/// holds now (`null`: none retained, or none ever issued).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResyncInfo {
    pub reason: ResetReason,
    pub earliest_id: Option<String>,
    pub latest_id: Option<String>,
}

/// One page of `GET /v1/events` (contract 4.4): events in id order, the log's window, whether more
/// follow, and whether the page cannot continue `after` exactly (`gap`: resync).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage<E> {
    pub events: Vec<E>,
    pub earliest_id: Option<String>,
    pub latest_id: Option<String>,
    pub has_more: bool,
    pub gap: bool,
}
