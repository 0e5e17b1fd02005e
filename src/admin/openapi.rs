//! The admin API's OpenAPI 3 document, served at `/openapi.json` (in progress).

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::envelope::Raw;
use super::AdminState;

/// The document.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /openapi.json` (no authentication: the document holds no data).
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> Response {
    let mut response = ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response();
    response.extensions_mut().insert(Raw);
    response
}
