//! JWTs from configured issuers: end users' tokens for the admin API's "calling user" routes
//! (`auth.issuers`) and entitlement providers' tokens for `PUT /oem/v1/entitlements/token`
//! (`auth.entitlement_providers`, see [`providers`]). One verifier serves both.
//!
//! [`JwtVerifier::from_issuers`] reads a list of issuers once at start: each issuer names its `iss`,
//! an optional audience, an allow-list of algorithms (`HS256`, `RS256`, `ES256`; never `none`) and
//! exactly one key source: an HS256 secret (at least 32 bytes), a PEM public key, or a JWKS file whose
//! `kid`s select the key (list the old and the new key to rotate). Every mistake is a startup error
//! ([`JwtConfigError`]) that names the issuer and never the secret.
//!
//! [`JwtVerifier::verify_claims`] refuses a token ([`JwtError`], short and safe to show a client; it
//! never echoes the token) unless:
//!
//! - it is at most [`MAX_TOKEN_BYTES`] long and a compact JWS (three base64url parts);
//! - its header's `alg` is not `none`, is in the allow-list of the issuer found by the token's
//!   (still unverified) `iss`, and matches the family of the key selected (by `kid` in a JWKS; a JWKS
//!   with one key also serves tokens without `kid`). An HS256 token is never checked against an RSA or
//!   EC public key used as an HMAC secret (the key-confusion attack): HS256 is only ever allowed for an
//!   issuer configured with a shared secret and nothing else. A header with `crit` is refused;
//!   `jku`, `jwk`, `x5u` and `x5c` are ignored (keys come from the configuration only);
//! - the signature verifies;
//! - `exp` is present and not passed, and `nbf` and `iat` (when present) are not in the future, each
//!   with `auth.clock_skew_s` of leeway, judged against the `now` the caller passes (jsonwebtoken only
//!   knows the system clock, so its own time checks are switched off and done here);
//! - `aud` contains the issuer's audience, when one is configured (without one, `aud` is not looked at).
//!
//! It answers the verified claims; [`JwtVerifier::verify`] (end users) also requires `sub` to be a
//! string of 1 to [`MAX_SUBJECT_CHARS`] characters without control characters.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::Value;

pub use settings::{AuthSettings, EntitlementProviderSettings, IssuerSettings};

/// Longest token accepted; longer ones are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Shortest accepted HS256 secret, in bytes (RFC 7518 §3.2: a key at least as long as the hash).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Longest accepted `sub`, in characters.
pub const MAX_SUBJECT_CHARS: usize = 256;

/// Largest PEM or JWKS file read at start.
const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

/// Accepted RSA modulus sizes, in bytes (2048 to 8192 bits, what aws-lc-rs verifies).
const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=1024;

/// The claims of a token whose signature, algorithm, issuer, audience and times were verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims {
    /// The configured issuer that signed it (its `iss`).
    pub issuer: String,
    /// Every claim of the payload, as signed.
    pub claims: serde_json::Map<String, Value>,
}

/// A verified end user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUser {
    /// The `sub` claim.
    pub user_id: String,
    /// The `iss` claim: the configured issuer that vouched for the user.
    pub issuer: String,
}

/// A mistake in `auth.issuers`, found at start. Names the issuer and what is wrong, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("auth.issuers: an issuer has an empty `issuer`")]
    EmptyIssuer,
    #[error("auth.issuers: issuer {issuer:?} is listed more than once")]
    DuplicateIssuer { issuer: String },
    #[error("issuer {issuer:?}: `audience` is set but empty")]
    EmptyAudience { issuer: String },
    #[error("issuer {issuer:?}: `algorithms` is empty; list HS256, RS256 or ES256")]
    NoAlgorithms { issuer: String },
    #[error(
        "issuer {issuer:?}: algorithm {algorithm:?} is not supported (accepted: HS256, RS256, ES256; \
         unsigned tokens, `none`, never are)"
    )]
    UnsupportedAlgorithm { issuer: String, algorithm: String },
    #[error(
        "issuer {issuer:?}: no key source; set exactly one of hs256_secret, public_key_file, jwks_file"
    )]
    NoKeySource { issuer: String },
    #[error(
        "issuer {issuer:?}: several key sources ({sources}); set exactly one of hs256_secret, \
         public_key_file, jwks_file"
    )]
    SeveralKeySources { issuer: String, sources: String },
    #[error("issuer {issuer:?}: {algorithm} needs {needs}")]
    AlgorithmNeedsOtherKey {
        issuer: String,
        algorithm: &'static str,
        needs: &'static str,
    },
    #[error(
        "issuer {issuer:?}: hs256_secret has {len} bytes; at least {MIN_HS256_SECRET_BYTES} are required"
    )]
    ShortSecret { issuer: String, len: usize },
    #[error("issuer {issuer:?}: cannot read {}: {source}", path.display())]
    ReadKeyFile {
        issuer: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("issuer {issuer:?}: {}: {reason}", path.display())]
    BadKeyFile {
        issuer: String,
        path: PathBuf,
        reason: String,
    },
}

/// Why a token is refused. Short and safe to return to a client: never echoes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("no token issuer is configured")]
    NotConfigured,
    #[error("token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("token is not a well-formed JWT")]
    Malformed,
    #[error("unsigned tokens (alg none) are refused")]
    Unsigned,
    #[error("token header lists critical extensions (crit), which are not supported")]
    CriticalHeader,
    #[error("token algorithm is not allowed for its issuer")]
    AlgorithmNotAllowed,
    #[error("token algorithm does not match the type of its issuer's key")]
    AlgorithmKeyMismatch,
    #[error("token issuer is not trusted")]
    UnknownIssuer,
    #[error("token key id (kid) matches no key of its issuer")]
    UnknownKey,
    #[error("token has no key id (kid) and its issuer has several keys")]
    MissingKeyId,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    #[error("token is issued in the future (iat)")]
    IssuedInFuture,
    #[error("token audience (aud) does not include this service")]
    WrongAudience,
    #[error("token has no `{0}` claim")]
    MissingClaim(&'static str),
    #[error("token claim `{0}` is invalid")]
    InvalidClaim(&'static str),
}

/// Verifies JWTs against a list of configured issuers. `Debug` prints no key material.
#[derive(Clone)]
pub struct JwtVerifier {
    clock_skew_s: i64,
    issuers: BTreeMap<String, Issuer>,
}

/// One configured issuer, ready to verify.
#[derive(Clone)]
struct Issuer {
    name: String,
    audience: Option<String>,
    algorithms: Vec<Algorithm>,
    keys: KeySource,
}

#[derive(Clone)]
enum KeySource {
    /// The HS256 shared secret.
    Secret(VerifyKey),
    /// A PEM public key: the token's `kid` is not looked at.
    Pem(VerifyKey),
    /// A JWKS: `kid` selects the key; with one key, a token without `kid` uses it.
    Jwks(Vec<VerifyKey>),
}

#[derive(Clone)]
struct VerifyKey {
    kid: Option<String>,
    /// The one algorithm this key verifies (HS256, RS256 or ES256).
    alg: Algorithm,
    key: DecodingKey,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("clock_skew_s", &self.clock_skew_s)
            .field("issuers", &self.issuers.values().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("name", &self.name)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("keys", &self.keys)
            .finish()
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret([redacted])"),
            Self::Pem(key) => write!(f, "Pem({:?})", key.alg),
            Self::Jwks(keys) => f
                .debug_list()
                .entries(keys.iter().map(|k| (k.kid.as_deref().unwrap_or(""), k.alg)))
                .finish(),
        }
    }
}

impl JwtVerifier {
    /// Checks `auth.issuers` and reads their PEM and JWKS files (once: a rotated file needs a restart).
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, JwtConfigError> {
        Self::from_issuers(&settings.issuers, settings.clock_skew.as_secs())
    }

    /// Checks `issuers` and reads their PEM and JWKS files; `clock_skew_s` is the leeway on `exp`,
    /// `nbf` and `iat`.
    pub fn from_issuers(
        issuers_settings: &[IssuerSettings],
        clock_skew_s: u64,
    ) -> Result<Self, JwtConfigError> {
        ensure_crypto_provider();
        let mut issuers = BTreeMap::new();
        for issuer_settings in issuers_settings {
            let issuer = load_issuer(issuer_settings)?;
            if issuers.contains_key(&issuer.name) {
                return Err(JwtConfigError::DuplicateIssuer {
                    issuer: issuer.name,
                });
            }
            tracing::debug!(issuer = %issuer.name, keys = ?issuer.keys, "token issuer loaded");
            issuers.insert(issuer.name.clone(), issuer);
        }
        Ok(Self {
            clock_skew_s: i64::try_from(clock_skew_s).unwrap_or(i64::MAX),
            issuers,
        })
    }

    /// The leeway on `exp`, `nbf` and `iat`, in seconds.
    pub fn clock_skew_s(&self) -> i64 {
        self.clock_skew_s
    }

    /// Whether any issuer is configured (without one, every token is refused).
    pub fn is_configured(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// Verifies an end user's `token` (the compact JWS, without `Bearer `) at `now` (Unix seconds):
    /// [`Self::verify_claims`], then `sub`.
    pub fn verify(&self, token: &str, now: i64) -> Result<EndUser, JwtError> {
        let verified = self.verify_claims(token, now)?;
        let user_id = subject(&verified.claims)?;
        Ok(EndUser {
            user_id,
            issuer: verified.issuer,
        })
    }

    /// Verifies `token` (the compact JWS) at `now` (Unix seconds): everything but `sub` (see the
    /// module documentation); the verified claims.
    pub fn verify_claims(&self, token: &str, now: i64) -> Result<VerifiedClaims, JwtError> {
        if self.issuers.is_empty() {
            return Err(JwtError::NotConfigured);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::TooLong);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };

        // Nothing read here is trusted: the header picks the algorithm and key only within what the
        // issuer's configuration allows, and the payload's `iss` only picks the issuer.
        let header = decode_json_object(header_b64)?;
        let alg = header_algorithm(&header)?;
        if header.contains_key("crit") {
            return Err(JwtError::CriticalHeader);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(JwtError::Malformed),
        };
        let unverified = decode_json_object(payload_b64)?;
        let iss = match unverified.get("iss") {
            None => return Err(JwtError::MissingClaim("iss")),
            Some(Value::String(iss)) => iss,
            Some(_) => return Err(JwtError::InvalidClaim("iss")),
        };
        let issuer = self.issuers.get(iss).ok_or(JwtError::UnknownIssuer)?;
        if !issuer.algorithms.contains(&alg) {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        let key = issuer.key_for(kid)?;
        if key.alg != alg || key.key.family() != alg.family() {
            return Err(JwtError::AlgorithmKeyMismatch);
        }

        let claims = verify_signature(token, key)?;
        // The signed payload is the one read above, but the claims checked are the verified ones.
        if claims.get("iss").and_then(Value::as_str) != Some(issuer.name.as_str()) {
            return Err(JwtError::UnknownIssuer);
        }
        self.check_times(&claims, now)?;
        if let Some(audience) = &issuer.audience {
            check_audience(&claims, audience)?;
        }
        Ok(VerifiedClaims {
            issuer: issuer.name.clone(),
            claims,
        })
    }

    fn check_times(
        &self,
        claims: &serde_json::Map<String, Value>,
        now: i64,
    ) -> Result<(), JwtError> {
        let skew = self.clock_skew_s;
        let exp = match claims.get("exp") {
            None => return Err(JwtError::MissingClaim("exp")),
            Some(v) => numeric_date(v, Rounding::Down).ok_or(JwtError::InvalidClaim("exp"))?,
        };
        // RFC 7519 §4.1.4: the current time must be before `exp`.
        if now >= exp.saturating_add(skew) {
            return Err(JwtError::Expired);
        }
        if let Some(v) = claims.get("nbf") {
            let nbf = numeric_date(v, Rounding::Up).ok_or(JwtError::InvalidClaim("nbf"))?;
            if nbf > now.saturating_add(skew) {
                return Err(JwtError::NotYetValid);
            }
        }
        if let Some(v) = claims.get("iat") {
            let iat = numeric_date(v, Rounding::Up).ok_or(JwtError::InvalidClaim("iat"))?;
            if iat > now.saturating_add(skew) {
                return Err(JwtError::IssuedInFuture);
            }
        }
        Ok(())
    }
}

impl Issuer {
    fn key_for(&self, kid: Option<&str>) -> Result<&VerifyKey, JwtError> {
        match (&self.keys, kid) {
            (KeySource::Secret(key) | KeySource::Pem(key), _) => Ok(key),
            (KeySource::Jwks(keys), Some(kid)) => keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(JwtError::UnknownKey),
            (KeySource::Jwks(keys), None) => match keys.as_slice() {
                [only] => Ok(only),
                _ => Err(JwtError::MissingKeyId),
            },
        }
    }
}

/// jsonwebtoken 11 picks its crypto backend from its features (here `aws_lc_rs` only); installing it
/// explicitly keeps verification working should another crate ever enable `rust_crypto` as well.
fn ensure_crypto_provider() {
    // Fails only when a provider is already installed, which is fine.
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
}

/// Checks the signature with exactly one algorithm and one key; jsonwebtoken's claim checks are off
/// (they read the system clock and refuse any `aud` when no audience is configured): done by the caller.
fn verify_signature(
    token: &str,
    key: &VerifyKey,
) -> Result<serde_json::Map<String, Value>, JwtError> {
    let mut validation = Validation::new(key.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
        Ok(data) => match data.claims {
            Value::Object(claims) => Ok(claims),
            _ => Err(JwtError::Malformed),
        },
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind;
            Err(match e.kind() {
                ErrorKind::InvalidSignature => JwtError::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => {
                    JwtError::AlgorithmKeyMismatch
                }
                ErrorKind::InvalidToken
                | ErrorKind::Base64(_)
                | ErrorKind::Json(_)
                | ErrorKind::Utf8(_) => JwtError::Malformed,
                _ => JwtError::BadSignature,
            })
        }
    }
}

/// Decodes one base64url part of a compact JWS into a JSON object.
fn decode_json_object(part: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(JwtError::Malformed),
    }
}

/// The header's `alg`, if it is one this module can ever accept.
fn header_algorithm(header: &serde_json::Map<String, Value>) -> Result<Algorithm, JwtError> {
    let Some(Value::String(alg)) = header.get("alg") else {
        return Err(JwtError::Malformed);
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(JwtError::Unsigned);
    }
    supported_algorithm(alg).ok_or(JwtError::AlgorithmNotAllowed)
}

fn supported_algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "HS256" => Some(Algorithm::HS256),
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        _ => "another algorithm",
    }
}

#[derive(Clone, Copy)]
enum Rounding {
    Down,
    Up,
}

/// A NumericDate (RFC 7519 §2): seconds, possibly fractional; rounded the cautious way.
fn numeric_date(value: &Value, rounding: Rounding) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    if value.as_u64().is_some() {
        return Some(i64::MAX);
    }
    let f = value.as_f64().filter(|f| f.is_finite())?;
    let rounded = match rounding {
        Rounding::Down => f.floor(),
        Rounding::Up => f.ceil(),
    };
    // `as` saturates at the i64 bounds.
    Some(rounded as i64)
}

fn check_audience(claims: &serde_json::Map<String, Value>, audience: &str) -> Result<(), JwtError> {
    match claims.get("aud") {
        None => Err(JwtError::MissingClaim("aud")),
        Some(Value::String(aud)) if aud == audience => Ok(()),
        Some(Value::String(_)) => Err(JwtError::WrongAudience),
        Some(Value::Array(auds)) => {
            if auds.iter().all(Value::is_string) {
                if auds.iter().any(|a| a.as_str() == Some(audience)) {
                    Ok(())
                } else {
                    Err(JwtError::WrongAudience)
                }
            } else {
                Err(JwtError::InvalidClaim("aud"))
            }
        }
        Some(_) => Err(JwtError::InvalidClaim("aud")),
    }
}

fn subject(claims: &serde_json::Map<String, Value>) -> Result<String, JwtError> {
    let sub = match claims.get("sub") {
        None => return Err(JwtError::MissingClaim("sub")),
        Some(Value::String(sub)) => sub,
        Some(_) => return Err(JwtError::InvalidClaim("sub")),
    };
    if sub.is_empty()
        || sub.chars().count() > MAX_SUBJECT_CHARS
        || sub.chars().any(char::is_control)
    {
        return Err(JwtError::InvalidClaim("sub"));
    }
    Ok(sub.clone())
}

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

fn load_issuer(s: &IssuerSettings) -> Result<Issuer, JwtConfigError> {
    if s.issuer.trim().is_empty() {
        return Err(JwtConfigError::EmptyIssuer);
    }
    let name = s.issuer.clone();
    let issuer = || name.clone();
    if s.audience.as_deref().is_some_and(|a| a.trim().is_empty()) {
        return Err(JwtConfigError::EmptyAudience { issuer: issuer() });
    }

    if s.algorithms.is_empty() {
        return Err(JwtConfigError::NoAlgorithms { issuer: issuer() });
    }
    let mut algorithms = Vec::new();
    for raw in &s.algorithms {
        let alg = supported_algorithm(raw).ok_or_else(|| JwtConfigError::UnsupportedAlgorithm {
            issuer: issuer(),
            algorithm: raw.clone(),
        })?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }

    let sources: Vec<&str> = [
        s.hs256_secret.as_ref().map(|_| "hs256_secret"),
        s.public_key_file.as_ref().map(|_| "public_key_file"),
        s.jwks_file.as_ref().map(|_| "jwks_file"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match sources.len() {
        0 => return Err(JwtConfigError::NoKeySource { issuer: issuer() }),
        1 => {}
        _ => {
            return Err(JwtConfigError::SeveralKeySources {
                issuer: issuer(),
                sources: sources.join(", "),
            })
        }
    }

    let keys = if let Some(secret) = &s.hs256_secret {
        if let Some(&other) = algorithms.iter().find(|a| **a != Algorithm::HS256) {
            return Err(JwtConfigError::AlgorithmNeedsOtherKey {
                issuer: issuer(),
                algorithm: algorithm_name(other),
                needs: "a public_key_file or a jwks_file (an hs256_secret serves HS256 only)",
            });
        }
        let secret = secret.expose_secret().as_bytes();
        if secret.len() < MIN_HS256_SECRET_BYTES {
            return Err(JwtConfigError::ShortSecret {
                issuer: issuer(),
                len: secret.len(),
            });
        }
        KeySource::Secret(VerifyKey {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(secret),
        })
    } else {
        if algorithms.contains(&Algorithm::HS256) {
            // Never let a public key double as an HMAC secret.
            return Err(JwtConfigError::AlgorithmNeedsOtherKey {
                issuer: issuer(),
                algorithm: "HS256",
                needs: "an hs256_secret (a public key is never used as an HMAC secret)",
            });
        }
        if let Some(path) = &s.public_key_file {
            KeySource::Pem(load_pem(&name, path, &algorithms)?)
        } else if let Some(path) = &s.jwks_file {
            KeySource::Jwks(load_jwks(&name, path, &algorithms)?)
        } else {
            return Err(JwtConfigError::NoKeySource { issuer: issuer() });
        }
    };

    Ok(Issuer {
        name,
        audience: s.audience.clone(),
        algorithms,
        keys,
    })
}

fn read_key_file(issuer: &str, path: &Path) -> Result<Vec<u8>, JwtConfigError> {
    let read_error = |source| JwtConfigError::ReadKeyFile {
        issuer: issuer.to_owned(),
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_error)?.len();
    if len > MAX_KEY_FILE_BYTES {
        return Err(JwtConfigError::BadKeyFile {
            issuer: issuer.to_owned(),
            path: path.to_owned(),
            reason: format!(
                "{len} bytes is too large for a key file (at most {MAX_KEY_FILE_BYTES})"
            ),
        });
    }
    std::fs::read(path).map_err(read_error)
}

fn load_pem(
    issuer: &str,
    path: &Path,
    algorithms: &[Algorithm],
) -> Result<VerifyKey, JwtConfigError> {
    let bad = |reason: String| JwtConfigError::BadKeyFile {
        issuer: issuer.to_owned(),
        path: path.to_owned(),
        reason,
    };
    let alg = match algorithms {
        [alg] => *alg,
        _ => {
            return Err(bad(
                "one PEM key serves one algorithm (RS256 or ES256); use a jwks_file for both"
                    .into(),
            ))
        }
    };
    let bytes = read_key_file(issuer, path)?;
    let text = String::from_utf8_lossy(&bytes);
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("-----BEGIN "))
        .filter_map(|rest| rest.strip_suffix("-----"))
        .collect();
    match labels.as_slice() {
        ["PUBLIC KEY"] => {}
        ["RSA PUBLIC KEY"] if alg == Algorithm::RS256 => {}
        ["RSA PUBLIC KEY"] => {
            return Err(bad("holds an RSA key; ES256 needs an EC P-256 key".into()))
        }
        [label] if label.contains("PRIVATE KEY") => {
            return Err(bad(
                "holds a private key; give the issuer's public key (-----BEGIN PUBLIC KEY-----)"
                    .into(),
            ))
        }
        ["CERTIFICATE"] => {
            return Err(bad(
                "holds a certificate; give its public key (openssl x509 -pubkey -noout)".into(),
            ))
        }
        [] => return Err(bad("holds no PEM block".into())),
        [_] => {
            return Err(bad(
                "is not a PEM public key (-----BEGIN PUBLIC KEY-----)".into()
            ))
        }
        _ => {
            return Err(bad(
                "holds several PEM blocks; give exactly one public key".into()
            ))
        }
    }
    let key = match alg {
        Algorithm::RS256 => {
            let key = DecodingKey::from_rsa_pem(&bytes)
                .map_err(|_| bad("is not an RSA public key, which RS256 needs".into()))?;
            let der = key
                .try_get_as_bytes()
                .map_err(|_| bad("unreadable RSA key".into()))?;
            let parsed = aws_lc_rs::rsa::PublicKey::from_der(der)
                .map_err(|_| bad("is not a valid RSA public key".into()))?;
            if !RSA_MODULUS_BYTES.contains(&parsed.modulus_len()) {
                return Err(bad(format!(
                    "RSA key of {} bits; 2048 to 8192 are accepted",
                    parsed.modulus_len() * 8
                )));
            }
            key
        }
        Algorithm::ES256 => {
            let key = DecodingKey::from_ec_pem(&bytes)
                .map_err(|_| bad("is not an EC public key, which ES256 needs".into()))?;
            let point = key
                .try_get_as_bytes()
                .map_err(|_| bad("unreadable EC key".into()))?;
            check_p256_point(point).map_err(|()| bad("is not an EC P-256 public key".into()))?;
            key
        }
        _ => unreachable!("HS256 was refused before"),
    };
    Ok(VerifyKey {
        kid: None,
        alg,
        key,
    })
}

fn check_p256_point(point: &[u8]) -> Result<(), ()> {
    aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        point,
    )
    .map(|_| ())
    .map_err(|_| ())
}

fn load_jwks(
    issuer: &str,
    path: &Path,
    algorithms: &[Algorithm],
) -> Result<Vec<VerifyKey>, JwtConfigError> {
    let bad = |reason: String| JwtConfigError::BadKeyFile {
        issuer: issuer.to_owned(),
        path: path.to_owned(),
        reason,
    };
    let bytes = read_key_file(issuer, path)?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "is not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let Some(raw_keys) = doc.get("keys").and_then(Value::as_array) else {
        return Err(bad("is not a JWKS: no \"keys\" array".into()));
    };
    if raw_keys.is_empty() {
        return Err(bad("the JWKS has no keys".into()));
    }

    let mut keys: Vec<VerifyKey> = Vec::with_capacity(raw_keys.len());
    for (index, raw) in raw_keys.iter().enumerate() {
        let kid = raw.get("kid").and_then(Value::as_str);
        let which = match kid {
            Some(kid) => format!("key {kid:?}"),
            None => format!("key #{}", index + 1),
        };
        let key_bad = |what: &str| bad(format!("{which}: {what}"));
        let Some(object) = raw.as_object() else {
            return Err(key_bad("is not a JSON object"));
        };
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|member| object.contains_key(*member))
        {
            return Err(key_bad(
                "holds private or symmetric key material; a JWKS file lists public keys only",
            ));
        }
        if raw_keys.len() > 1 && kid.is_none() {
            return Err(key_bad(
                "has no \"kid\", which a JWKS with several keys needs",
            ));
        }
        if let Some(kid) = kid {
            if keys.iter().any(|k| k.kid.as_deref() == Some(kid)) {
                return Err(key_bad("its kid is used twice"));
            }
        }
        let jwk: Jwk =
            serde_json::from_value(raw.clone()).map_err(|_| key_bad("is not a valid JWK"))?;
        let (alg, key) = decoding_key_from_jwk(&jwk).map_err(|what| key_bad(&what))?;
        if !algorithms.contains(&alg) {
            return Err(key_bad(&format!(
                "is an {} key, but the issuer's algorithms do not list {}",
                if alg == Algorithm::RS256 { "RSA" } else { "EC" },
                algorithm_name(alg)
            )));
        }
        match &jwk.common.public_key_use {
            None | Some(PublicKeyUse::Signature) => {}
            Some(_) => return Err(key_bad("is not a signature key (\"use\" is not \"sig\")")),
        }
        match jwk.common.key_algorithm {
            None => {}
            Some(KeyAlgorithm::RS256) if alg == Algorithm::RS256 => {}
            Some(KeyAlgorithm::ES256) if alg == Algorithm::ES256 => {}
            Some(_) => {
                return Err(key_bad(&format!(
                    "its \"alg\" is not {}, the only algorithm accepted for this key type",
                    algorithm_name(alg)
                )))
            }
        }
        keys.push(VerifyKey {
            kid: kid.map(str::to_owned),
            alg,
            key,
        });
    }
    Ok(keys)
}

/// The algorithm an RSA (RS256) or EC P-256 (ES256) JWK serves, and its key, checked.
fn decoding_key_from_jwk(jwk: &Jwk) -> Result<(Algorithm, DecodingKey), String> {
    let b64 = |name: &str, value: &str| {
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| format!("\"{name}\" is not base64url"))
    };
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = b64("n", &rsa.n)?;
            let e = b64("e", &rsa.e)?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            if !RSA_MODULUS_BYTES.contains(&n.len()) {
                return Err(format!(
                    "RSA key of {} bits; 2048 to 8192 are accepted",
                    n.len() * 8
                ));
            }
            if e.is_empty() || e.len() > 8 {
                return Err("RSA exponent \"e\" is invalid".into());
            }
            Ok((Algorithm::RS256, DecodingKey::from_rsa_raw_components(n, e)))
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            if ec.curve != EllipticCurve::P256 {
                return Err("EC keys must use the P-256 curve (ES256)".into());
            }
            let x = b64("x", &ec.x)?;
            let y = b64("y", &ec.y)?;
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates must be 32 bytes each".into());
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            check_p256_point(&point).map_err(|()| "is not a point on P-256".to_owned())?;
            Ok((Algorithm::ES256, DecodingKey::from_ec_der(&point)))
        }
        _ => Err("unsupported key type; RSA (RS256) and EC P-256 (ES256) are accepted".into()),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

pub mod entitlement_claims;
#[doc(hidden)]
pub mod fuzzing;
pub mod providers;
pub mod settings;

#[cfg(test)]
mod tests;
