//! Middleware that counts admin API answers by route template (never the raw path, which can hold
//! user IDs and session cookies), method and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::metrics::admin_answered;

/// Inside the router: copies the matched route template onto the response.
pub async fn mark_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(matched);
    }
    response
}

/// Outermost: counts the final answer under its route template (`unmatched` when no route matched).
pub async fn count_admin(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = bounded_method(request.method());
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    admin_answered(route, method, response.status().as_u16(), started);
    response
}

/// The method label: the standard ones, else `other`.
fn bounded_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
