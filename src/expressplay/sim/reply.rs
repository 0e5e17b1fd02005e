//! The simulator's answers: error bodies in JSON or HTML, and fresh tokens.

use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::validate::{ErrorFormat, TokenError};
use super::ForcedError;

/// An error answer: status, ExpressPlay code and text. The text never contains submitted values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ErrorReply {
    pub(super) status: StatusCode,
    pub(super) code: i64,
    pub(super) text: String,
}

impl From<TokenError> for ErrorReply {
    fn from(e: TokenError) -> Self {
        ErrorReply {
            status: e.status(),
            code: e.code(),
            text: e.to_string(),
        }
    }
}

impl From<&ForcedError> for ErrorReply {
    fn from(f: &ForcedError) -> Self {
        let status = StatusCode::from_u16(f.status)
            .ok()
            .filter(|s| (200..=599).contains(&s.as_u16()))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ErrorReply {
            status,
            code: f.code,
            text: f.text.clone(),
        }
    }
}

impl ErrorReply {
    pub(super) fn render(&self, format: ErrorFormat) -> Response {
        match format {
            ErrorFormat::Json => {
                let body = serde_json::json!({ "errorCode": self.code, "errorText": self.text });
                (
                    self.status,
                    [(CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response()
            }
            ErrorFormat::Html => {
                let reason = self.status.canonical_reason().unwrap_or("Error");
                let body = format!(
                    "<html><head><title>{status} {reason}</title></head><body><h1>Error {code}</h1>\
                     <p>{text}</p></body></html>",
                    status = self.status.as_u16(),
                    code = self.code,
                    text = html_escape(&self.text),
                );
                (self.status, [(CONTENT_TYPE, "text/html")], body).into_response()
            }
        }
    }
}

pub(super) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A fresh token: URL-safe base64 without padding of 32 random bytes.
pub(super) fn new_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
