//! The request side, in the front worker: the front door and each stream it holds.
//!
//! - `route_table`, `routes`: every route in one table; authentication (`crate::token`), stream
//!   tickets (`ticket`), CORS (`cors`), publish checks (`publish`), then on to the org's hub.
//! - `stream`: `GET /v1/stream`, the SSE response and the socket to the hub, wired to its pure core
//!   `relay` (unread bytes, heartbeat, every way a stream ends), the response's pipe (`pipe`) and
//!   its timer (`interval`).

pub(crate) mod cors;
pub(crate) mod interval;
pub(crate) mod pipe;
pub(crate) mod publish;
pub(crate) mod relay;
pub(crate) mod route_table;
pub(crate) mod routes;
pub(crate) mod stream;
pub(crate) mod ticket;
