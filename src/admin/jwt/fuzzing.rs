//! Entry points for the JWT fuzz target (`fuzz/`) and its stable replay test: a verifier with one
//! HS256 and one RS256 issuer, and the same two as entitlement providers. Not an API.

use std::path::PathBuf;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use secrecy::SecretString;

use super::providers::EntitlementProviders;
use super::settings::{AuthSettings, EntitlementProviderSettings, IssuerSettings};
use super::JwtVerifier;

/// The HS256 secret of the fuzz issuer (a public test value, never a real one).
pub const HS256_SECRET: &str = "fuzz-only-hs256-secret-not-used-anywhere-else";
/// The `iss` of the HS256 issuer.
pub const HS256_ISSUER: &str = "https://hs.fuzz.invalid";
/// The `iss` of the RS256 issuer.
pub const RS256_ISSUER: &str = "https://rs.fuzz.invalid";
/// The `aud` both issuers require.
pub const AUDIENCE: &str = "sees-fuzz";
/// The most grants an entitlement token may carry here.
const MAX_GRANTS: usize = 100;

/// The verifiers a fuzz input goes through.
#[derive(Debug)]
pub struct JwtHarness {
    verifier: JwtVerifier,
    providers: EntitlementProviders,
}

impl JwtHarness {
    /// Configures both issuers; `rs256_public_pem` is written to a file under `dir` (key files are
    /// how RS256 keys are configured).
    pub fn new(rs256_public_pem: &str, dir: PathBuf) -> Result<Self, String> {
        let pem_path = dir.join(format!("sees-fuzz-rs256-{}.pem", std::process::id()));
        std::fs::write(&pem_path, rs256_public_pem).map_err(|e| e.to_string())?;
        let hs = IssuerSettings {
            issuer: HS256_ISSUER.to_owned(),
            audience: Some(AUDIENCE.to_owned()),
            algorithms: vec!["HS256".to_owned()],
            hs256_secret: Some(SecretString::from(HS256_SECRET.to_owned())),
            public_key_file: None,
            jwks_file: None,
        };
        let rs = IssuerSettings {
            issuer: RS256_ISSUER.to_owned(),
            algorithms: vec!["RS256".to_owned()],
            hs256_secret: None,
            public_key_file: Some(pem_path.clone()),
            ..hs.clone()
        };
        let provider = |name: &str, s: &IssuerSettings| EntitlementProviderSettings {
            name: name.to_owned(),
            issuer: s.issuer.clone(),
            audience: s.audience.clone(),
            algorithms: s.algorithms.clone(),
            hs256_secret: s.hs256_secret.clone(),
            public_key_file: s.public_key_file.clone(),
            jwks_file: None,
        };
        let settings = AuthSettings {
            clock_skew: std::time::Duration::from_secs(60),
            issuers: vec![hs.clone(), rs.clone()],
            entitlement_providers: vec![provider("hs", &hs), provider("rs", &rs)],
        };
        let verifier = JwtVerifier::from_settings(&settings).map_err(|e| e.to_string());
        let providers = EntitlementProviders::from_settings(&settings).map_err(|e| e.to_string());
        let _ = std::fs::remove_file(&pem_path);
        Ok(Self {
            verifier: verifier?,
            providers: providers?,
        })
    }

    /// Runs `token` through the end-user verifier and both entitlement providers at `now`; how many
    /// of the three accepted it.
    pub fn check(&self, token: &str, now: i64) -> usize {
        let user = self.verifier.verify(token, now).is_ok();
        let hs = self.providers.verify("hs", token, now, MAX_GRANTS).is_ok();
        let rs = self.providers.verify("rs", token, now, MAX_GRANTS).is_ok();
        usize::from(user) + usize::from(hs) + usize::from(rs)
    }
}

/// A compact JWS of `header` and `payload` (raw bytes, base64url-encoded here) signed with
/// [`HS256_SECRET`]: lets a fuzzer reach the claim checks behind the signature.
pub fn sign_hs256(header: &[u8], payload: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, HS256_SECRET.as_bytes());
    let tag = hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}
