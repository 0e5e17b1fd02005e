//! The test end-user identity provider: its issuer entry for `auth.issuers` and JWTs it signs.

use secrecy::SecretString;
use serde_json::json;

/// The `iss` of the test end-user identity provider.
pub const END_USER_ISSUER: &str = "https://login.example.test/";
/// Its HS256 secret.
pub const END_USER_SECRET: &str = "a-test-secret-of-more-than-32-bytes!!";

/// `auth.issuers` entry for the test identity provider (HS256, no audience).
pub fn end_user_issuer() -> sees::config::IssuerSettings {
    sees::config::IssuerSettings {
        issuer: END_USER_ISSUER.to_owned(),
        audience: None,
        algorithms: vec!["HS256".to_owned()],
        hs256_secret: Some(SecretString::from(END_USER_SECRET.to_owned())),
        public_key_file: None,
        jwks_file: None,
    }
}

/// As [`end_user_issuer`], requiring the audience `audience`.
pub fn end_user_issuer_for(audience: &str) -> sees::config::IssuerSettings {
    sees::config::IssuerSettings {
        audience: Some(audience.to_owned()),
        ..end_user_issuer()
    }
}

/// An end-user JWT of the test provider for `sub`, issued at `now` (Unix seconds), valid `ttl_s`.
pub fn end_user_jwt(sub: &str, now: i64, ttl_s: i64) -> String {
    sign(json!({"iss": END_USER_ISSUER, "sub": sub, "iat": now, "exp": now + ttl_s}))
}

/// As [`end_user_jwt`], for the audience `audience`.
pub fn end_user_jwt_for(audience: &str, sub: &str, now: i64, ttl_s: i64) -> String {
    sign(
        json!({"iss": END_USER_ISSUER, "sub": sub, "iat": now, "exp": now + ttl_s, "aud": audience}),
    )
}

/// `claims` signed with the provider's HS256 secret.
fn sign(claims: serde_json::Value) -> String {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(END_USER_SECRET.as_bytes()),
    )
    .expect("signing a test JWT")
}
