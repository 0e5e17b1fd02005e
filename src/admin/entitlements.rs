//! Admin routes: entitlements (in progress).

use std::sync::Arc;

use axum::Router;

use super::AdminState;

/// The entitlements routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
}
