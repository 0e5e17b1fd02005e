//! How a listener answers what it refuses before routing. `net` decides *when* (plaintext HTTP on the
//! TLS port, a client the gate refuses); the protocol the listener serves decides the *shape*, through
//! an [`EdgeAnswers`] the composition root hands in (`sees::SeesEdge` for SEES). So `net` never imports
//! a protocol module.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

/// Why the edge refused a request before routing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeRefusal {
    /// The client certificate is revoked by a current CRL.
    ClientRevoked,
    /// The client certificate is unreadable or not on the allow-list.
    ClientNotAllowed,
    /// The client exceeds its rate limit; it may retry after `retry_after_s` seconds.
    RateLimited { retry_after_s: u64 },
    /// The listener is shedding load (`shedding`); retry after `retry_after_s` seconds, here or on
    /// another node.
    Overloaded { retry_after_s: u64 },
}

/// A complete answer written on a raw connection (no HTTP stack is running yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainAnswer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// The protocol's answers to the edge's refusals.
pub trait EdgeAnswers: Send + Sync + 'static {
    /// The response to a request the edge refused (`net` adds `Retry-After` when rate limited or
    /// overloaded).
    fn refused(&self, refusal: EdgeRefusal) -> Response;
    /// What a plaintext HTTP client on the TLS port is told before the connection closes.
    fn plaintext(&self) -> PlainAnswer;
}

/// The response to `refusal`, in the protocol's shape, with `Retry-After` when rate limited or
/// overloaded.
pub(crate) fn refusal_response(answers: &dyn EdgeAnswers, refusal: EdgeRefusal) -> Response {
    let mut response = answers.refused(refusal);
    if let EdgeRefusal::RateLimited { retry_after_s } | EdgeRefusal::Overloaded { retry_after_s } =
        refusal
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    }
    response
}

/// `answer` as the bytes of an HTTP/1.1 response that closes the connection.
pub fn plaintext_bytes(answer: &PlainAnswer) -> Vec<u8> {
    let reason = StatusCode::from_u16(answer.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut bytes = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&answer.body);
    bytes
}

/// Splits the bytes of a plaintext answer into its head and its JSON body, checking that the
/// answer is HTTP/1.1 `400 Bad Request` and that `Content-Length` is the body's length (tests).
#[cfg(test)]
pub(crate) fn parse_plaintext_400(answer: &PlainAnswer) -> (String, serde_json::Value) {
    let answer = plaintext_bytes(answer);
    let text = std::str::from_utf8(&answer).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), length);
    (head.to_owned(), serde_json::from_str(body).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    struct Fixed;

    impl EdgeAnswers for Fixed {
        fn refused(&self, refusal: EdgeRefusal) -> Response {
            let status = match refusal {
                EdgeRefusal::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::FORBIDDEN,
            };
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            response
        }

        fn plaintext(&self) -> PlainAnswer {
            PlainAnswer {
                status: 400,
                content_type: "application/json",
                body: br#"{"error":1012}"#.to_vec(),
            }
        }
    }

    #[test]
    fn plaintext_answer_is_a_well_formed_http_response() {
        let (head, json) = parse_plaintext_400(&Fixed.plaintext());
        assert!(head.contains("Content-Type: application/json"));
        assert!(head.contains("Connection: close"));
        assert_eq!(json["error"], 1012);
    }

    #[test]
    fn only_a_rate_limit_refusal_carries_retry_after() {
        let limited = refusal_response(&Fixed, EdgeRefusal::RateLimited { retry_after_s: 3 });
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "3");
        let revoked = refusal_response(&Fixed, EdgeRefusal::ClientRevoked);
        assert!(revoked.headers().get(header::RETRY_AFTER).is_none());
    }
}
