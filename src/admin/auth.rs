//! Who is calling the admin API: staff with a bearer token from `sees tokens create` (role reader,
//! support or admin), or an end user with a JWT from the customer's identity provider (only the
//! calling-user routes, only their own data). Missing or bad credentials → 401 (1001); a role that
//! does not reach → 403 with 1003 (read) or 1004 (write).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::audit::AuditSlot;
use super::credentials::{Role, TokenInfo, TOKEN_PREFIX};
use super::envelope::ApiError;
use super::errors::AdminCode;
use super::jwt::EndUser;
use super::AdminState;
use crate::ids::UserId;

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read anything: reader and up.
    Read,
    /// Grant, extend and delete entitlements: support and up.
    EntitlementWrite,
    /// Change packages, assets and the package graph: admin.
    CatalogWrite,
}

impl Access {
    fn minimum(self) -> Role {
        match self {
            Access::Read => Role::Reader,
            Access::EntitlementWrite => Role::Support,
            Access::CatalogWrite => Role::Admin,
        }
    }

    fn refusal(self) -> AdminCode {
        match self {
            Access::Read => AdminCode::ForbiddenRead,
            Access::EntitlementWrite | Access::CatalogWrite => AdminCode::ForbiddenWrite,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    Staff(TokenInfo),
    EndUser(EndUser),
}

impl Caller {
    /// The request's `input` once the caller may do `access`: the role is checked first, so a
    /// caller without it is refused before the input is looked at.
    pub fn allowed<T>(&self, access: Access, input: Result<T, ApiError>) -> Result<T, ApiError> {
        self.allow(access)?;
        input
    }

    /// Passes when the caller is staff with a role that reaches `access`.
    pub fn allow(&self, access: Access) -> Result<(), ApiError> {
        match self {
            Caller::Staff(token) if token.role >= access.minimum() => Ok(()),
            Caller::Staff(token) => Err(ApiError::new(
                access.refusal(),
                format!("the {} role may not do this", token.role),
            )),
            Caller::EndUser(_) => Err(ApiError::new(
                access.refusal(),
                "an end-user token reaches only the calling-user routes",
            )),
        }
    }

    /// The caller as the audit log shows it (token name and role, or end-user id; never the token),
    /// and the end user's id.
    fn audit_identity(&self) -> (String, Option<String>) {
        match self {
            Caller::Staff(token) => (format!("token {} ({})", token.name, token.role), None),
            Caller::EndUser(user) => (
                format!("end-user {}", user.user_id),
                Some(user.user_id.clone()),
            ),
        }
    }

    /// The calling end user, for the calling-user routes.
    pub fn end_user(&self) -> Result<UserId, ApiError> {
        match self {
            Caller::EndUser(user) => UserId::parse(user.user_id.clone()).map_err(|e| {
                ApiError::new(AdminCode::Unauthorized, format!("the token's sub {e}"))
            }),
            Caller::Staff(_) => Err(ApiError::new(
                AdminCode::ForbiddenRead,
                "calling-user routes need an end-user token; staff use the /oem/v1/admin routes",
            )),
        }
    }
}

impl FromRequestParts<Arc<AdminState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AdminState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state).await?;
        if let Some(slot) = parts.extensions.get::<AuditSlot>() {
            let (who, user) = caller.audit_identity();
            slot.note_caller(who, user);
        }
        Ok(caller)
    }
}

/// The caller the Authorization header names.
async fn authenticate(parts: &Parts, state: &Arc<AdminState>) -> Result<Caller, ApiError> {
    let unauthorized = |why: &str| ApiError::new(AdminCode::Unauthorized, why.to_owned());
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| unauthorized("an Authorization: Bearer header is required"))?
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not text"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    if token.starts_with(TOKEN_PREFIX) {
        return match state.identity.tokens.authenticate(token).await {
            Ok(Some(info)) => Ok(Caller::Staff(info)),
            Ok(None) => Err(unauthorized("unknown or revoked token")),
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                Err(ApiError::plain(AdminCode::StoreUnavailable))
            }
        };
    }
    if !state.identity.end_users.is_configured() {
        return Err(unauthorized(
            "unknown token (no end-user identity provider is configured)",
        ));
    }
    let now = state.clock.now().timestamp();
    state
        .identity
        .end_users
        .verify(token, now)
        .map(Caller::EndUser)
        .map_err(|e| ApiError::new(AdminCode::Unauthorized, e.to_string()))
}
