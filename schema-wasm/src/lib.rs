//! orgstream's event catalog: every publishable event type declared once (`catalog.rs`), as the
//! table one validator walks while it reads the JSON text (`shape.rs`, `walk/`). The worker
//! uses it to validate publishes (strictly); the browser uses the same code compiled to wasm to
//! validate what arrives (tolerating fields added later).

pub mod catalog;
pub mod control;
pub mod error;
pub mod event;
pub mod formats;
pub mod ids;
pub mod json_text;
pub mod rules;
pub mod shape;
mod walk;

pub use catalog::{ServerFrame, EVENT_TYPES, SERVER_FRAME_TYPES};
pub use control::{HistoryPage, ResetReason, ResyncInfo};
pub use error::{ErrorCode, ValidationError};
pub use event::{event_from_parts, parse_published, EnvelopeOut, PublishedEvent, Target};
pub use event::{validate_data, validate_envelope};
pub use formats::{RequestId, Subject};

/// The catalog's version: bumped whenever a type or a rule changes (the browser module reports it).
pub const SCHEMA_VERSION: &str = "1.0.1";

#[cfg(feature = "browser")]
pub mod browser;

#[cfg(feature = "schema")]
mod schema;
