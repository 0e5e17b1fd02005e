//! Admin routes: graphs (in progress).

use std::sync::Arc;

use axum::Router;

use super::AdminState;

/// The graphs routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
}
