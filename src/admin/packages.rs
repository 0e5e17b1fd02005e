//! Admin routes: packages (in progress).

use std::sync::Arc;

use axum::Router;

use super::AdminState;

/// The packages routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
}
