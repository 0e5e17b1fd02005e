//! Operations: the ops listener (`/healthz`, `/readyz`, `/metrics`, plain HTTP, no client
//! certificate), readiness checks, and the metric names with their recording helpers.
//!
//! Never exposes a secret, a user, a cookie, a content ID or a messageID: not in answers, not in
//! metric labels.

pub mod health;
pub mod http;
pub mod metrics;
pub mod server;
pub mod settings;

pub use health::{Health, Readiness};
pub use server::{router, serve_plain, OpsState};
pub use settings::OpsSettings;
