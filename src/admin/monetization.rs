//! Admin routes: monetization entitlements (placeholder until the implementation lands).

use std::sync::Arc;

use axum::Router;

use super::AdminState;

/// The monetization entitlements routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
}
