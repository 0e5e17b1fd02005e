//! Entitlement providers (`auth.entitlement_providers`): the issuers of the JWTs that
//! `PUT /oem/v1/entitlements/token` applies, by name (the body's `provider`).
//!
//! Each provider gets a [`JwtVerifier`] of its own that knows only the provider's issuer, so a token
//! verifies only with that provider's `iss`, algorithms, key and audience; the same checks as end
//! users' tokens (signature, `alg`, `kid`, `exp`/`nbf`/`iat` with `auth.clock_skew_s`). The verified
//! claims are then read as an [`EntitlementToken`]. Never logs or echoes a token or a secret.

use std::collections::BTreeMap;

use super::entitlement_claims::{read_claims, ClaimError, EntitlementToken};
use super::settings::AuthSettings;
use super::{JwtConfigError, JwtError, JwtVerifier};

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
            let verifier = JwtVerifier::from_issuers(
                &[provider.issuer_settings()],
                settings.clock_skew.as_secs(),
            )
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

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use secrecy::SecretString;
    use serde_json::json;

    use super::*;
    use crate::admin::jwt::EntitlementProviderSettings;

    const NOW: i64 = 1_800_000_000;
    const SECRET: &str = "a-provider-secret-of-at-least-32-bytes";

    fn provider(name: &str, issuer: &str) -> EntitlementProviderSettings {
        EntitlementProviderSettings {
            name: name.to_owned(),
            issuer: issuer.to_owned(),
            audience: None,
            algorithms: vec!["HS256".to_owned()],
            hs256_secret: Some(SecretString::from(SECRET)),
            public_key_file: None,
            jwks_file: None,
        }
    }

    fn load(
        providers: Vec<EntitlementProviderSettings>,
    ) -> Result<EntitlementProviders, ProviderConfigError> {
        EntitlementProviders::from_settings(&AuthSettings {
            entitlement_providers: providers,
            ..AuthSettings::default()
        })
    }

    fn token(iss: &str) -> String {
        let claims = json!({"iss": iss, "sub": "alice", "jti": "j", "iat": NOW, "exp": NOW + 60,
            "entitlements": [{"packageID": "gold", "startDate": "2030-01-01T00:00:00Z",
                              "endDate": "2030-02-01T00:00:00Z"}]});
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn a_token_verifies_only_for_its_own_provider() {
        // Two providers sharing a secret: the issuer still tells them apart.
        let providers = load(vec![provider("a", "iss-a"), provider("b", "iss-b")]).unwrap();
        let read = providers.verify("a", &token("iss-a"), NOW, 10).unwrap();
        assert_eq!((read.provider.as_str(), read.user.as_str()), ("a", "alice"));
        assert_eq!(
            providers.verify("b", &token("iss-a"), NOW, 10),
            Err(TokenRefusal::Token(JwtError::UnknownIssuer))
        );
        assert_eq!(
            providers.verify("c", &token("iss-a"), NOW, 10),
            Err(TokenRefusal::UnknownProvider)
        );
        assert_eq!(
            providers.verify("a", &token("iss-a"), NOW + 120, 10),
            Err(TokenRefusal::Token(JwtError::Expired))
        );
        assert_eq!(
            providers.verify("a", &token("iss-a"), NOW, 0),
            Err(TokenRefusal::Claims(ClaimError::TooMany { len: 1, max: 0 }))
        );
        assert_eq!(
            EntitlementProviders::default().verify("a", &token("iss-a"), NOW, 10),
            Err(TokenRefusal::UnknownProvider)
        );
    }

    #[test]
    fn configuration_mistakes_name_the_provider_and_never_the_secret() {
        let err = load(vec![provider(" ", "iss")]).unwrap_err();
        assert!(matches!(err, ProviderConfigError::EmptyName), "{err}");
        let err = load(vec![provider("a", "iss-1"), provider("a", "iss-2")]).unwrap_err();
        assert!(
            matches!(err, ProviderConfigError::DuplicateName { ref name } if name == "a"),
            "{err}"
        );
        let short = EntitlementProviderSettings {
            hs256_secret: Some(SecretString::from("short-secret")),
            ..provider("acme", "iss")
        };
        let text = load(vec![short]).unwrap_err().to_string();
        assert!(
            text.contains("\"acme\"") && text.contains("12 bytes"),
            "{text}"
        );
        assert!(!text.contains("short-secret"), "{text}");
        let both = EntitlementProviderSettings {
            algorithms: vec!["HS256".to_owned(), "RS256".to_owned()],
            ..provider("acme", "iss")
        };
        assert!(matches!(
            load(vec![both]).unwrap_err(),
            ProviderConfigError::Issuer {
                source: JwtConfigError::AlgorithmNeedsOtherKey { .. },
                ..
            }
        ));
    }

    #[test]
    fn debug_shows_no_secret() {
        let providers = load(vec![provider("acme", "iss")]).unwrap();
        let debug = format!("{providers:?}");
        assert!(debug.contains("acme"), "{debug}");
        assert!(!debug.contains(SECRET), "{debug}");
    }
}
