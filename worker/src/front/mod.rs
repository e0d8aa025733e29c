//! The request side, in the front worker: the front door and each stream it holds.
//!
//! - `route_table`, `routes`: every route in one table, and the door that dispatches by it (CORS:
//!   `cors`); the handlers: `subscribe` (the stream, tickets: `ticket`), `events` (history, the
//!   newest kept event, publishing with its checks in `publish` and its `Idempotency-Key` in
//!   `once_key`, versions), `dev` (dev builds only); who is
//!   asking (`auth`), what they sent (`body`), and what they are told (`reply`: the hub's
//!   answer passed on untouched, or one made here).
//! - `stream`: `GET /v1/stream`, the SSE response and the socket to the hub, wired to its pure core
//!   `relay` (unread bytes, heartbeat, every way a stream ends), the response's pipe (`pipe`) and
//!   its timer (`interval`).

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod cors;
#[cfg(feature = "dev-routes")]
pub(crate) mod dev;
pub(crate) mod events;
pub(crate) mod hub_socket;
pub(crate) mod interval;
pub(crate) mod once_key;
pub(crate) mod pipe;
pub(crate) mod publish;
pub(crate) mod relay;
pub(crate) mod reply;
pub(crate) mod route_table;
pub(crate) mod routes;
pub(crate) mod stream;
pub(crate) mod subscribe;
pub(crate) mod ticket;
