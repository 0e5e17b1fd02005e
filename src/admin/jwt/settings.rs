//! `[auth]`: the JWT issuers — end users' identity providers and entitlement providers — and the
//! clock-skew leeway on their tokens' times. Its own defaults and checks (the key files are read and
//! checked when the verifiers are built); `config` only assembles it. Secrets are `SecretString`s.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::settings_format::secs;

/// JWTs: end users' tokens from the customer's identity providers, and entitlement tokens from
/// entitlement providers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Tolerance applied to `exp`, `nbf` and `iat` (`clock_skew_s`).
    #[serde(rename = "clock_skew_s", with = "secs")]
    pub clock_skew: Duration,
    /// Accepted issuers; none = end-user routes refuse every token.
    pub issuers: Vec<IssuerSettings>,
    /// Issuers of entitlement tokens (`PUT /oem/v1/entitlements/token`); none = every one is refused.
    pub entitlement_providers: Vec<EntitlementProviderSettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            clock_skew: Duration::from_secs(60),
            issuers: Vec::new(),
            entitlement_providers: Vec::new(),
        }
    }
}

impl AuthSettings {
    /// Everything wrong with `[auth]` that can be seen without reading key files (nothing today: the
    /// verifiers check the issuers when they are built).
    pub fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One entitlement provider: the `provider` named in `PUT /oem/v1/entitlements/token` and how its
/// tokens are verified (the fields of [`IssuerSettings`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementProviderSettings {
    /// The name callers give as `provider` (the spec's tenant name).
    pub name: String,
    /// The `iss` claim this provider signs with.
    pub issuer: String,
    /// When set, the `aud` claim must contain it.
    #[serde(default)]
    pub audience: Option<String>,
    /// Allowed algorithms: `HS256`, `RS256`, `ES256` (never `none`).
    pub algorithms: Vec<String>,
    /// Shared secret for HS256.
    #[serde(default)]
    pub hs256_secret: Option<SecretString>,
    /// A PEM public key (RSA or EC) for RS256/ES256.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// A JWKS file; the token's `kid` picks the key (rotation: list old and new keys).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
}

impl EntitlementProviderSettings {
    /// The issuer settings its tokens are verified with.
    pub fn issuer_settings(&self) -> IssuerSettings {
        IssuerSettings {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            algorithms: self.algorithms.clone(),
            hs256_secret: self.hs256_secret.clone(),
            public_key_file: self.public_key_file.clone(),
            jwks_file: self.jwks_file.clone(),
        }
    }
}

/// One identity provider. Exactly one of `hs256_secret`, `public_key_file` and `jwks_file` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The `iss` claim this provider signs with.
    pub issuer: String,
    /// When set, the `aud` claim must contain it.
    #[serde(default)]
    pub audience: Option<String>,
    /// Allowed algorithms: `HS256`, `RS256`, `ES256` (never `none`).
    pub algorithms: Vec<String>,
    /// Shared secret for HS256.
    #[serde(default)]
    pub hs256_secret: Option<SecretString>,
    /// A PEM public key (RSA or EC) for RS256/ES256.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// A JWKS file; the token's `kid` picks the key (rotation: list old and new keys).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_is_verified_as_its_issuer() {
        assert!(AuthSettings::default().problems().is_empty());
        let provider = EntitlementProviderSettings {
            name: "tenant".to_owned(),
            issuer: "https://idp.example".to_owned(),
            audience: Some("sees".to_owned()),
            algorithms: vec!["RS256".to_owned()],
            hs256_secret: None,
            public_key_file: Some(PathBuf::from("idp.pem")),
            jwks_file: None,
        };
        let issuer = provider.issuer_settings();
        assert_eq!(issuer.issuer, "https://idp.example");
        assert_eq!(issuer.audience.as_deref(), Some("sees"));
        assert_eq!(issuer.public_key_file, Some(PathBuf::from("idp.pem")));
    }
}
