//! The audit log: one structured event per SEES decision and per admin write (`event`), handed to a
//! bounded background writer that batches them into the store and, optionally, a JSON-lines file
//! (`writer`), and read back, newest first, by `sees audit query` (`query`).
//!
//! Never holds key material, cookies, bearer tokens, JWTs or request bodies: events are built from
//! identifiers, outcomes and the decision trail only.

mod event;
mod query;
pub mod settings;
mod writer;

pub use event::{AuditEvent, AuditOutcome, Kind, TrailStep};
pub use query::{prune, query, AuditFilter};
pub use settings::AuditSettings;
pub use writer::{AuditError, AuditLog};
