//! `PUT /oem/v1/entitlements/token` (OEM v1 "Update entitlements with token"): grants package
//! entitlements from a JWT signed by a configured entitlement provider (`auth.entitlement_providers`;
//! the body's `provider` names it). The token's claims are read by `jwt::entitlement_claims`; the
//! grants and the record of the token's `jti` commit together, so a token grants once, all or nothing.
//!
//! Callers: an end user applies only a token whose `sub` is themselves (403 / 1004 otherwise); staff
//! need the support role and may apply any user's token. Never logs the token.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::routing::put;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{Access, Caller};
use super::entitlements::entitlement_json;
use super::envelope::{decode_body, AdminJson, ApiError, ApiOk};
use super::errors::AdminCode;
use super::jwt::entitlement_claims::ClaimError;
use super::jwt::providers::TokenRefusal;
use super::AdminState;

/// The route.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new().route("/oem/v1/entitlements/token", put(apply))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    #[serde(rename = "entitlementToken")]
    entitlement_token: String,
    provider: String,
}

/// Fuzzing: a body decoded as `PUT /oem/v1/entitlements/token` does (the token itself has its own
/// target).
pub(super) fn fuzz_token_body(bytes: &[u8]) -> Result<(), ApiError> {
    decode_body::<TokenBody>(bytes).map(drop)
}

/// `PUT /oem/v1/entitlements/token`: answers the resulting entitlements, in the token's order.
async fn apply(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    request: Request,
) -> Result<ApiOk, ApiError> {
    if let Caller::Staff(_) = caller {
        caller.allow(Access::EntitlementWrite)?;
    }
    let body = AdminJson::<TokenBody>::read(request).await?;
    let now = state.clock.now();
    let token = state
        .identity
        .entitlement_providers
        .verify(
            &body.provider,
            &body.entitlement_token,
            now.timestamp(),
            state.limits.max_list_len,
        )
        .map_err(refusal)?;
    if let Caller::EndUser(_) = caller {
        if caller.end_user()? != token.user {
            return Err(ApiError::new(
                AdminCode::ForbiddenWrite,
                "the entitlement token is for another user (its sub is not the caller)",
            ));
        }
    }
    let (provider, jti, uid) = (
        token.provider.clone(),
        token.jti.clone(),
        token.user.clone(),
    );
    let granted = state
        .catalog
        .apply_token_grants(&token.into_grants(), now)
        .await
        .map_err(|e| {
            let error = ApiError::from(e);
            ApiError::new(
                error.code,
                format!("{}; nothing was granted", error.message),
            )
        })?;
    tracing::info!(
        provider = %provider,
        jti = ?jti,
        uid = %uid,
        grants = granted.len(),
        "entitlement token applied"
    );
    let entitlements: Vec<Value> = granted.iter().map(|e| entitlement_json(e, now)).collect();
    Ok(ApiOk::ok(json!({ "entitlements": entitlements })))
}

/// A refused token as an admin error: the reason is in the message.
fn refusal(e: TokenRefusal) -> ApiError {
    let code = match &e {
        TokenRefusal::UnknownProvider => AdminCode::UnknownEntitlementProvider,
        TokenRefusal::Token(_)
        | TokenRefusal::Claims(ClaimError::Missing(_) | ClaimError::Invalid { .. }) => {
            AdminCode::EntitlementTokenRefused
        }
        TokenRefusal::Claims(ClaimError::TooMany { .. }) => AdminCode::ListTooLong,
        TokenRefusal::Claims(ClaimError::InvalidDate { .. }) => AdminCode::InvalidDate,
        TokenRefusal::Claims(ClaimError::DatesOutOfOrder { .. }) => AdminCode::DatesOutOfOrder,
    };
    let message = match code {
        AdminCode::UnknownEntitlementProvider => e.to_string(),
        _ => format!("the entitlement token is refused: {e}"),
    };
    ApiError::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::jwt::JwtError;
    use crate::ids::PackageId;

    #[test]
    fn refusals_map_to_their_codes() {
        let cases = [
            (TokenRefusal::UnknownProvider, 1070, 400),
            (TokenRefusal::Token(JwtError::Expired), 1071, 403),
            (TokenRefusal::Token(JwtError::Unsigned), 1071, 403),
            (TokenRefusal::Claims(ClaimError::Missing("jti")), 1071, 403),
            (
                TokenRefusal::Claims(ClaimError::TooMany { len: 3, max: 2 }),
                1015,
                413,
            ),
            (
                TokenRefusal::Claims(ClaimError::InvalidDate {
                    index: 0,
                    field: "endDate",
                }),
                1013,
                400,
            ),
            (
                TokenRefusal::Claims(ClaimError::DatesOutOfOrder {
                    index: 1,
                    package: PackageId::parse("gold").unwrap(),
                }),
                1014,
                400,
            ),
        ];
        for (refused, number, status) in cases {
            let error = refusal(refused.clone());
            assert_eq!(
                (error.code.number(), error.code.status()),
                (number, status),
                "{refused:?}"
            );
            assert!(error.message.contains(&refused.to_string()), "{error:?}");
        }
        let expired = refusal(TokenRefusal::Token(JwtError::Expired)).message;
        assert_eq!(
            expired,
            "the entitlement token is refused: token has expired"
        );
    }
}
