//! The SEES protocol: the wire format and its schema files, the error-number table (which also numbers
//! the application's refusals), the HTTP handler, and the answers the listener gives in the protocol's
//! shape to requests it refuses before routing (`edge`).
//!
//! It translates only: what to decide lives in `playback`, the listener in `net`. It must never hold
//! domain rules, and never logs key material, the authenticator or the customer cookie.

pub mod edge;
pub mod errors;
pub mod handler;
pub mod wire;

pub use edge::SeesEdge;
pub use errors::ErrorCode;
pub use handler::router;
pub use wire::{parse_request, EntitlementRequest, EntitlementResponse, RequestType};
