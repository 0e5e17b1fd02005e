//! The simulator's answers: error bodies in JSON or HTML, fault answers, and fresh tokens.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt as _;

use super::validate::ErrorFormat;
use super::{Fault, ForcedError, RightsError, TokenError};

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

impl From<RightsError> for ErrorReply {
    fn from(e: RightsError) -> Self {
        ErrorReply {
            status: e.status(),
            code: e.code(),
            text: e.to_string(),
        }
    }
}

impl From<&ForcedError> for ErrorReply {
    fn from(f: &ForcedError) -> Self {
        ErrorReply {
            status: final_status(f.status),
            code: f.code,
            text: f.text.clone(),
        }
    }
}

impl ErrorReply {
    /// The simulator's own failure (its random source failed), reported as an admin error (-2030).
    pub(super) fn internal() -> Self {
        ErrorReply {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: -2030,
            text: "Internal error".to_owned(),
        }
    }

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

/// A status a handler can answer with: 200..=599 as given, anything else (1xx, nonsense) as 500.
pub(super) fn final_status(status: u16) -> StatusCode {
    StatusCode::from_u16(status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The answer of a [`Fault`] other than [`Fault::Hang`] (which answers nothing; the caller handles it).
/// `content_type` and `partial` shape [`Fault::CloseMidResponse`]: the headers of a success and the
/// start of its body.
pub(super) fn fault_response(
    fault: &Fault,
    content_type: &'static str,
    partial: String,
) -> Response {
    match fault {
        Fault::Status { status } => final_status(*status).into_response(),
        Fault::Malformed {
            status,
            content_type,
            body,
        } => {
            let mut response = (final_status(*status), body.clone()).into_response();
            // An unusable header value is left out rather than answered as something else.
            match HeaderValue::from_str(content_type) {
                Ok(value) => response.headers_mut().insert(CONTENT_TYPE, value),
                Err(_) => response.headers_mut().remove(CONTENT_TYPE),
            };
            response
        }
        Fault::CloseMidResponse | Fault::Hang => close_mid_response(content_type, partial),
    }
}

/// Status 200, `content_type`, a `Content-Length` promising more than is sent, `partial`, then a body
/// error: hyper drops the connection and the client's body read fails.
pub(super) fn close_mid_response(content_type: &'static str, partial: String) -> Response {
    let promised = partial.len() + 1024;
    let first = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from(partial))]);
    // The pause makes hyper flush the headers and the first chunk before the error arrives.
    let failure = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated connection drop",
        ))
    });
    let mut response = Response::new(Body::from_stream(first.chain(failure)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(promised));
    response
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
