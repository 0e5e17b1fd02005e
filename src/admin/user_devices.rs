//! Admin routes: user devices (placeholder until the implementation lands).

use std::sync::Arc;

use axum::Router;

use super::AdminState;

/// The user devices routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
}
