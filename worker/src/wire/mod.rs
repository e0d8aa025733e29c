//! What crosses between the front worker and an org's objects: the calls themselves (`call`), the
//! hub's typed calls, connects and socket messages (`hub_api`), the hub and its relays' hand-offs
//! (`relay_api`), the binary messages on a stream's socket (`frames`) and the SSE frames they
//! carry, encoded once (`frame`, with a reference parser for tests and fuzzing, `sse_reference`).

pub(crate) mod call;
pub mod frame;
pub(crate) mod frames;
pub(crate) mod hub_api;
pub(crate) mod relay_api;
#[cfg(any(test, fuzzing))]
pub mod sse_reference;
