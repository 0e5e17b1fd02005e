//! Entitlement providers (`auth.entitlement_providers`): the issuers of the JWTs that
//! `PUT /oem/v1/entitlements/token` applies, by name (the body's `provider`).
//!
//! Each provider gets a [`JwtVerifier`] of its own that knows only the provider's issuer, so a token
//! verifies only with that provider's `iss`, algorithms, key and audience; the same checks as end
//! users' tokens (signature, `alg`, `kid`, `exp`/`nbf`/`iat` with `auth.clock_skew_s`). The verified
//! claims are then read as an [`EntitlementToken`]. Never logs or echoes a token or a secret.

use std::collections::BTreeMap;

use super::entitlement_claims::{read_claims, ClaimError, EntitlementToken};
use super::{JwtConfigError, JwtError, JwtVerifier};
use crate::config::AuthSettings;

/// A mistake in `auth.entitlement_providers`, found at start. Never shows a secret.
#[derive(Debug, thiserror::Error)]
pub enum ProviderConfigError {
    #[error("auth.entitlement_providers: a provider has an empty `name`")]
    EmptyName,
    #[error("auth.entitlement_providers: provider {name:?} is listed more than once")]
    DuplicateName { name: String },
    #[error("auth.entitlement_providers: provider {name:?}: {source}")]
    Issuer {
        name: String,
        #[source]
        source: JwtConfigError,
    },
}

/// Why an entitlement token is refused. Safe to show a client: never echoes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("no entitlement provider of this name is configured")]
    UnknownProvider,
    #[error(transparent)]
    Token(#[from] JwtError),
    #[error(transparent)]
    Claims(#[from] ClaimError),
}

/// The configured entitlement providers, by name. `Debug` prints no key material.
#[derive(Debug, Clone, Default)]
pub struct EntitlementProviders {
    providers: BTreeMap<String, JwtVerifier>,
}

impl EntitlementProviders {
    /// Checks `auth.entitlement_providers` and reads their key files (once, at start).
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, ProviderConfigError> {
        let mut providers = BTreeMap::new();
        for provider in &settings.entitlement_providers {
            let name = provider.name.clone();
            if name.trim().is_empty() {
                return Err(ProviderConfigError::EmptyName);
            }
            if providers.contains_key(&name) {
                return Err(ProviderConfigError::DuplicateName { name });
            }
            let verifier =
                JwtVerifier::from_issuers(&[provider.issuer_settings()], settings.clock_skew_s)
                    .map_err(|source| ProviderConfigError::Issuer {
                        name: name.clone(),
                        source,
                    })?;
            providers.insert(name, verifier);
        }
        Ok(Self { providers })
    }

    /// Verifies `token` as one of `provider`'s at `now` (Unix seconds) and reads its claims; at most
    /// `max_grants` entitlements.
    pub fn verify(
        &self,
        provider: &str,
        token: &str,
        now: i64,
        max_grants: usize,
    ) -> Result<EntitlementToken, TokenRefusal> {
        let (name, verifier) = self
            .providers
            .get_key_value(provider)
            .ok_or(TokenRefusal::UnknownProvider)?;
        let verified = verifier.verify_claims(token, now)?;
        Ok(read_claims(
            name,
            &verified.claims,
            verifier.clock_skew_s(),
            max_grants,
        )?)
    }
}
