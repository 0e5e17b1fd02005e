//! The SEES listener's answers to what `net` refuses before routing, in the protocol's shape: a
//! revoked (1014) or unlisted (1015) client certificate, a client over its rate limit (1016), a
//! request shed under overload (5004), and plaintext HTTP on the TLS port (1012). `net` decides when; this decides what is said.

use axum::response::Response;

use super::errors::ErrorCode;
use super::handler::refuse;
use super::wire::{EntitlementResponse, PROTOCOL_VERSION};
use crate::net::{EdgeAnswers, EdgeRefusal, PlainAnswer};

/// The SEES shape of the edge's refusals.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeesEdge;

impl EdgeAnswers for SeesEdge {
    fn refused(&self, refusal: EdgeRefusal) -> Response {
        match refusal {
            EdgeRefusal::ClientRevoked => refuse(ErrorCode::ClientRevoked, ""),
            EdgeRefusal::ClientNotAllowed => refuse(ErrorCode::ClientNotAllowed, ""),
            EdgeRefusal::RateLimited { retry_after_s } => refuse(
                ErrorCode::RateLimited,
                &format!("retry after {retry_after_s} s"),
            ),
            EdgeRefusal::Overloaded { retry_after_s } => refuse(
                ErrorCode::Overloaded,
                &format!("retry after {retry_after_s} s"),
            ),
        }
    }

    fn plaintext(&self) -> PlainAnswer {
        let code = ErrorCode::TlsRequired;
        let body = serde_json::to_vec(&EntitlementResponse::denied(
            String::new(),
            PROTOCOL_VERSION,
            code,
            "use https:// with a client certificate",
        ))
        .unwrap_or_default();
        PlainAnswer {
            status: code.http_status(),
            content_type: "application/json",
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::answers::parse_plaintext_400;

    #[test]
    fn plaintext_answer_is_a_well_formed_http_response() {
        let (_, json) = parse_plaintext_400(&SeesEdge.plaintext());
        assert_eq!(json["error"], ErrorCode::TlsRequired.number());
        assert_eq!(json["messageID"], "");
        assert_eq!(json["isAllowed"], false);
    }

    #[test]
    fn refusals_carry_their_numbers_and_statuses() {
        for (refusal, status) in [
            (EdgeRefusal::ClientRevoked, 403),
            (EdgeRefusal::ClientNotAllowed, 403),
            (EdgeRefusal::RateLimited { retry_after_s: 2 }, 429),
            (EdgeRefusal::Overloaded { retry_after_s: 1 }, 503),
        ] {
            assert_eq!(SeesEdge.refused(refusal).status().as_u16(), status);
        }
    }
}
