//! orgstream's edge worker, in four rooms and what they share:
//!
//! - `front`: the request side, in the front worker. Routes (`route_table`, `routes`), checks
//!   tokens and tickets, validates publishes with the `schema-wasm` catalog (`publish`), and holds
//!   each SSE stream (`stream`, with its pure core `relay`).
//! - `wire`: what crosses between the front worker and an org's hub, typed (`hub_api`), and the
//!   SSE frames it carries (`frame`). The only thing both sides import from each other's world.
//! - `hub`: the `OrgHub` Durable Object, one per org, asleep between events. Assigns ids, appends
//!   to its SQLite log (`log`), sends each event's frame once to every stream's hibernatable socket
//!   (`sockets`), catches streams up a page at a time (`replay_pager`), keeps its limits, owners
//!   and counters in SQLite.
//! - `relay`: the `OrgRelay` Durable Object (`RELAYS_PER_ORG` of 2 or more per org): holds a
//!   share of the org's stream sockets and fans out what the hub hands it; the hub stays the
//!   sequencer.
//! - Shared at the top: settings (`config`), errors and answers (`api_error`, `http`), tokens
//!   (`token`), the replay rules (`replay`), client error reports (`client_error`), the clock,
//!   SHA-256 in hex (`digest`).

pub(crate) mod api_error;
pub(crate) mod client_error;
pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod digest;
pub(crate) mod front;
pub(crate) mod http;
pub(crate) mod hub;
pub(crate) mod json_object;
pub(crate) mod relay;
pub(crate) mod replay;
pub mod token;
pub mod wire;

use worker::{event, Context, Env, Request, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<worker::web_sys::Response> {
    front::routes::handle(req, env).await
}

#[cfg(test)]
mod rooms {
    use std::path::Path;

    fn sources(room: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(room)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        found
    }

    #[test]
    fn the_front_and_the_hub_meet_only_in_the_wire() {
        for (path, text) in sources("front") {
            assert!(!text.contains("crate::hub"), "{path} imports the hub");
        }
        for (path, text) in sources("hub") {
            assert!(!text.contains("crate::front"), "{path} imports the front");
        }
        for (path, text) in sources("wire") {
            assert!(!text.contains("crate::hub") && !text.contains("crate::front"), "{path} imports a room");
        }
    }
}
