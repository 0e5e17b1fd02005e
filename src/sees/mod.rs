//! The SEES protocol: the wire format and its schema files, the error-number table, the flow that turns
//! a request into an answer (`service`), and its HTTP handler.
//!
//! Never logs key material, the authenticator or the customer cookie.

pub mod errors;
pub mod handler;
pub mod service;
pub mod wire;

pub use errors::ErrorCode;
pub use handler::{router, ClientIdentity};
pub use service::{
    DecisionNotes, EntitlementService, Outcome, PlaybackRefusal, PlaybackToken, TokenDefaults,
    UserPlayback,
};
pub use wire::{parse_request, EntitlementRequest, EntitlementResponse, RequestType};
