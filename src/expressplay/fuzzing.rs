//! Entry points for the fuzz targets (`fuzz/`) and their stable replay test: the readers of
//! ExpressPlay's answers, without HTTP. Not an API.

use super::upstream_error::{playready_url_from_body, rejection, token_url_from_body};
use super::UpstreamError;

/// Reads `body` as a 200 token answer (`text/uri-list`), as the client does.
pub fn token_response(body: &str) -> Result<String, UpstreamError> {
    token_url_from_body(body)
}

/// Reads `body` as a 200 PlayReady token answer (JSON or `text/uri-list`), as the client does.
pub fn playready_response(body: &str) -> Result<String, UpstreamError> {
    playready_url_from_body(body)
}

/// Reads an error answer as the client does, removing every string of `secrets` from its text.
pub fn error_response(
    status: u16,
    content_type: &str,
    body: &str,
    secrets: &[&str],
) -> UpstreamError {
    rejection(status, content_type, body, secrets)
}
