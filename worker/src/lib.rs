//! orgstream's edge worker. The data flow reads top to bottom:
//!
//! - `routes`: the front door. Authenticates (`token`), checks and validates publishes
//!   (`publish`, with the `schema-wasm` catalog), and calls the org's hub (`hub_api`: everything
//!   that crosses between the two, typed).
//! - `stream`: `GET /v1/stream`, held by the front worker: a WebSocket to the org's hub, the
//!   client's bounded queue and the heartbeat (`relay`).
//! - `hub`: the `OrgHub` Durable Object, one per org, asleep between events. Assigns ids, appends
//!   to its SQLite log (`log`), encodes each event's SSE `frame` once and sends the same bytes to
//!   every stream's hibernatable socket (`sockets`); catches reconnecting streams up a page at a
//!   time (`replay`, `replay_pager`); keeps its counters in SQLite (`metrics`).

pub mod api_error;
pub mod config;
pub mod cors;
pub mod frame;
pub mod hub_api;
pub mod json_object;
pub mod metrics;
pub mod observers;
pub mod publish;
pub mod rate_limit;
pub mod relay;
pub mod replay;
pub mod replay_pager;
pub mod request_owner;
pub mod sockets;
#[cfg(any(test, fuzzing))]
pub mod sse_reference;
pub mod ticket;
pub mod token;

pub mod client_error;
pub mod clock;
mod http;
pub mod hub;
mod interval;
pub mod log;
mod owner_store;
mod pipe;
mod route_table;
mod routes;
mod stream;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    routes::handle(req, env).await
}
