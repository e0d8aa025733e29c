//! orgstream's edge worker. The data flow reads top to bottom:
//!
//! - `routes`: the front door. Authenticates (`token`), checks and validates publishes
//!   (`publish`, with the `schema-wasm` catalog), and forwards to the org's hub.
//! - `hub`: the `OrgHub` Durable Object, one per org. Assigns ids, appends to its SQLite log
//!   (`log`), encodes each event's SSE `frame` once and hands the same bytes to every open
//!   connection (`connections`); replays from the log on reconnect (`replay`); sends heartbeats.

pub mod api_error;
pub mod config;
pub mod connections;
pub mod frame;
pub mod metrics;
pub mod observers;
pub mod publish;
pub mod rate_limit;
pub mod replay;
pub mod token;

pub mod client_error;
pub mod clock;
pub mod hub;
mod http;
pub mod log;
mod routes;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    routes::handle(req, env).await
}
