//! Admin routes: streams and leases (placeholder until the implementation lands).

use std::sync::Arc;

use axum::Router;

use super::AdminState;

/// The stream routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
}
