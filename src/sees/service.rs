//! From a valid Entitlement Request to an outcome: the content key, the token parameters, the
//! ExpressPlay token. No HTTP here; the handler turns an `Outcome` into a response.

use std::sync::Arc;

use crate::clock::Clock;
use crate::expressplay::{TokenLifetime, TokenRequest, TokenService, UpstreamError};
use crate::keys::{KeyStore, KeyStoreError};

use super::errors::ErrorCode;
use super::wire::{EntitlementRequest, RequestType};

/// Token parameters used when a content key has no override.
#[derive(Debug, Clone, Copy)]
pub struct TokenDefaults {
    pub lifetime: TokenLifetime,
    pub rental_duration_s: u32,
}

/// The decision on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Play: the ExpressPlay token URL.
    Allowed { token_url: String },
    /// Do not play: the error number and what happened (safe to show the client).
    Denied { code: ErrorCode, detail: String },
}

impl Outcome {
    fn denied(code: ErrorCode, detail: impl Into<String>) -> Self {
        Outcome::Denied {
            code,
            detail: detail.into(),
        }
    }
}

/// Everything one Entitlement Request needs.
pub struct EntitlementService {
    keys: Arc<KeyStore>,
    tokens: TokenService,
    defaults: TokenDefaults,
    clock: Arc<dyn Clock>,
}

impl EntitlementService {
    /// Wires the parts together.
    pub fn new(
        keys: Arc<KeyStore>,
        tokens: TokenService,
        defaults: TokenDefaults,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            keys,
            tokens,
            defaults,
            clock,
        }
    }

    /// Decides `request`. Every failure is a denial with its number; nothing here panics on input.
    pub async fn decide(&self, request: &EntitlementRequest) -> Outcome {
        if request.request_type != RequestType::TimeBased {
            return Outcome::denied(ErrorCode::RequestTypeNotSupported, "");
        }
        let stored = match self.keys.get(&request.content_id).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Outcome::denied(ErrorCode::UnknownContent, ""),
            Err(KeyStoreError::Unreadable(id)) => {
                tracing::error!(content_id = ?id.as_str(), "stored content key does not decrypt");
                return Outcome::denied(ErrorCode::KeyUnreadable, "");
            }
            Err(e) => {
                tracing::error!(error = %e, "key store failure");
                return Outcome::denied(ErrorCode::StoreUnavailable, "");
            }
        };
        let lifetime = stored
            .policy
            .token_lifetime
            .unwrap_or(self.defaults.lifetime);
        let expiration_time = match lifetime.expiration_param(self.clock.now()) {
            Ok(param) => param,
            Err(expired) => {
                return Outcome::denied(ErrorCode::ContentWindowClosed, expired.to_string())
            }
        };
        let token = TokenRequest {
            key: &stored.key,
            expiration_time,
            rental_duration_s: stored
                .policy
                .rental_duration_s
                .unwrap_or(self.defaults.rental_duration_s),
            cookie: request.customer_cookie.as_ref().map(|c| c.expose()),
        };
        match self.tokens.fairplay_token(&token).await {
            Ok(token_url) => Outcome::Allowed { token_url },
            Err(e) => {
                tracing::warn!(error = %e, "no token from ExpressPlay");
                let code = match e {
                    UpstreamError::Unreachable(_) => ErrorCode::UpstreamUnreachable,
                    UpstreamError::Timeout(_) => ErrorCode::UpstreamTimeout,
                    UpstreamError::Rejected { .. } => ErrorCode::UpstreamRejected,
                    UpstreamError::BadResponse(_) => ErrorCode::UpstreamBadResponse,
                };
                Outcome::denied(code, e.to_string())
            }
        }
    }
}
