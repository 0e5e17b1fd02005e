//! Tests of the end-user JWT verifier: keys generated at run time, every refusal checked.
use std::path::PathBuf;
use std::sync::OnceLock;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{EncodingKey, Header};
use secrecy::SecretString;
use serde_json::json;

use super::*;

const NOW: i64 = 1_800_000_000;
const SKEW: u64 = 60;
const SECRET: &str = "an-hs256-test-secret-of-44-bytes-long-enough";

/// An asymmetric test key: PEM private key for signing, PEM public key, JWK (public).
struct TestKey {
    signing: EncodingKey,
    public_pem: String,
    jwk: Jwk,
}

struct TestKeys {
    rsa_a: TestKey,
    rsa_b: TestKey,
    ec_a: TestKey,
    ec_b: TestKey,
}

fn rsa_key() -> TestKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    test_key(pair, Algorithm::RS256)
}

fn ec_key() -> TestKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    test_key(pair, Algorithm::ES256)
}

fn test_key(pair: rcgen::KeyPair, alg: Algorithm) -> TestKey {
    let private_pem = pair.serialize_pem();
    let signing = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem.as_bytes()),
        _ => EncodingKey::from_ec_pem(private_pem.as_bytes()),
    }
    .expect("signing key");
    let jwk = Jwk::from_encoding_key(&signing, alg).expect("JWK");
    TestKey {
        signing,
        public_pem: pair.public_key_pem(),
        jwk,
    }
}

/// Generated once per test run; never stored anywhere but the test's temporary directories.
fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        ensure_crypto_provider();
        TestKeys {
            rsa_a: rsa_key(),
            rsa_b: rsa_key(),
            ec_a: ec_key(),
            ec_b: ec_key(),
        }
    })
}

fn jwk_with_kid(key: &TestKey, kid: Option<&str>) -> Jwk {
    let mut jwk = key.jwk.clone();
    jwk.common.key_id = kid.map(str::to_owned);
    jwk
}

/// The DER inside a one-block PEM.
fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body")
}

/// The PKCS#1 `RSAPublicKey` DER of an RSA `PUBLIC KEY` PEM.
fn pkcs1_der(spki_pem: &str) -> Vec<u8> {
    let key = DecodingKey::from_rsa_pem(spki_pem.as_bytes()).expect("RSA PEM");
    key.try_get_as_bytes().expect("DER").to_vec()
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

fn write(dir: &tempfile::TempDir, name: &str, contents: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write key file");
    path
}

/// `jwks.json` in `dir`: the public keys, each under its kid.
fn write_jwks(dir: &tempfile::TempDir, keys: &[(&TestKey, Option<&str>)]) -> PathBuf {
    let keys = keys
        .iter()
        .map(|(key, kid)| jwk_with_kid(key, *kid))
        .collect();
    write(
        dir,
        "jwks.json",
        &serde_json::to_string(&JwkSet { keys }).expect("JWKS"),
    )
}

fn issuer(name: &str, algorithms: &[&str]) -> IssuerSettings {
    IssuerSettings {
        issuer: name.to_owned(),
        audience: None,
        algorithms: algorithms.iter().map(|a| (*a).to_owned()).collect(),
        hs256_secret: None,
        public_key_file: None,
        jwks_file: None,
    }
}

fn hs_issuer(name: &str) -> IssuerSettings {
    IssuerSettings {
        hs256_secret: Some(SecretString::from(SECRET)),
        ..issuer(name, &["HS256"])
    }
}

fn pem_issuer(name: &str, alg: &str, path: PathBuf) -> IssuerSettings {
    IssuerSettings {
        public_key_file: Some(path),
        ..issuer(name, &[alg])
    }
}

fn jwks_issuer(name: &str, algorithms: &[&str], path: PathBuf) -> IssuerSettings {
    IssuerSettings {
        jwks_file: Some(path),
        ..issuer(name, algorithms)
    }
}

fn build(issuers: Vec<IssuerSettings>) -> Result<JwtVerifier, JwtConfigError> {
    JwtVerifier::from_settings(&AuthSettings {
        clock_skew: std::time::Duration::from_secs(SKEW),
        issuers,
        ..AuthSettings::default()
    })
}

fn verifier(issuers: Vec<IssuerSettings>) -> JwtVerifier {
    build(issuers).expect("valid auth settings")
}

fn config_error(issuers: Vec<IssuerSettings>) -> JwtConfigError {
    build(issuers).expect_err("auth settings should be refused")
}

fn claims(iss: &str) -> Value {
    json!({ "iss": iss, "sub": "user-42", "exp": NOW + 300, "iat": NOW - 10 })
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

/// A token with the usual claims for `iss`, signed with `key`.
fn signed(alg: Algorithm, kid: Option<&str>, iss: &str, key: &TestKey) -> String {
    sign(alg, kid, &claims(iss), &key.signing)
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Verifies that `token` is refused and that the refusal does not echo any part of it.
fn refused(v: &JwtVerifier, token: &str, now: i64) -> JwtError {
    let err = v.verify(token, now).expect_err("token should be refused");
    let text = err.to_string();
    for part in token.split('.').filter(|p| p.len() > 3) {
        assert!(!text.contains(part), "{text:?} echoes the token");
    }
    assert!(!text.contains(SECRET));
    err
}

fn user(issuer: &str) -> EndUser {
    EndUser {
        user_id: "user-42".into(),
        issuer: issuer.into(),
    }
}

// --- valid tokens -----------------------------------------------------------------------------

#[test]
fn hs256_token_verifies() {
    let v = verifier(vec![hs_issuer("https://idp.example")]);
    assert!(v.is_configured());
    let token = hs256(&claims("https://idp.example"));
    assert_eq!(v.verify(&token, NOW), Ok(user("https://idp.example")));
}

#[test]
fn rs256_and_es256_with_pem_verify() {
    let dir = tempfile::tempdir().unwrap();
    for (alg, key, other_key, iss) in [
        (Algorithm::RS256, &keys().rsa_a, &keys().rsa_b, "rsa-idp"),
        (Algorithm::ES256, &keys().ec_a, &keys().ec_b, "ec-idp"),
    ] {
        let name = format!("{alg:?}");
        let pem = write(&dir, &format!("{name}.pem"), &key.public_pem);
        let v = verifier(vec![pem_issuer(iss, &name, pem)]);
        let token = signed(alg, None, iss, key);
        assert_eq!(v.verify(&token, NOW), Ok(user(iss)), "{name}");
        // Another key of the same family does not verify.
        let other = signed(alg, None, iss, other_key);
        assert_eq!(refused(&v, &other, NOW), JwtError::BadSignature, "{name}");
    }
}

#[test]
fn rs256_with_a_pkcs1_pem_verifies() {
    // The PKCS#1 form (`BEGIN RSA PUBLIC KEY`) works as well.
    let dir = tempfile::tempdir().unwrap();
    let pkcs1 = to_pem("RSA PUBLIC KEY", &pkcs1_der(&keys().rsa_a.public_pem));
    let pkcs1 = write(&dir, "rsa-pkcs1.pem", &pkcs1);
    let v = verifier(vec![pem_issuer("rsa-idp", "RS256", pkcs1)]);
    let token = signed(Algorithm::RS256, None, "rsa-idp", &keys().rsa_a);
    assert_eq!(v.verify(&token, NOW), Ok(user("rsa-idp")));
}

#[test]
fn rs256_and_es256_with_jwks_verify() {
    for (alg, key, kid, iss) in [
        (Algorithm::RS256, &keys().rsa_a, "r1", "rsa-idp"),
        (Algorithm::ES256, &keys().ec_a, "e1", "ec-idp"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let jwks = write_jwks(&dir, &[(key, Some(kid))]);
        let v = verifier(vec![jwks_issuer(iss, &[&format!("{alg:?}")], jwks)]);
        let with_kid = signed(alg, Some(kid), iss, key);
        assert_eq!(v.verify(&with_kid, NOW), Ok(user(iss)), "{alg:?}");
        // A JWKS with exactly one key also serves tokens without a kid.
        let without_kid = signed(alg, None, iss, key);
        assert_eq!(v.verify(&without_kid, NOW), Ok(user(iss)), "{alg:?}");
    }
}

#[test]
fn several_issuers_are_told_apart_by_iss() {
    let dir = tempfile::tempdir().unwrap();
    let pem = write(&dir, "ec.pem", &keys().ec_a.public_pem);
    let v = verifier(vec![
        hs_issuer("hs-idp"),
        pem_issuer("ec-idp", "ES256", pem),
    ]);
    let hs = hs256(&claims("hs-idp"));
    let ec = signed(Algorithm::ES256, None, "ec-idp", &keys().ec_a);
    assert_eq!(v.verify(&hs, NOW), Ok(user("hs-idp")));
    assert_eq!(v.verify(&ec, NOW), Ok(user("ec-idp")));
    // The ES256 issuer's name on an HS256 token does not let the HMAC secret in, nor the reverse.
    let hs_as_ec = hs256(&claims("ec-idp"));
    assert_eq!(refused(&v, &hs_as_ec, NOW), JwtError::AlgorithmNotAllowed);
    let ec_as_hs = signed(Algorithm::ES256, None, "hs-idp", &keys().ec_a);
    assert_eq!(refused(&v, &ec_as_hs, NOW), JwtError::AlgorithmNotAllowed);
}

#[test]
fn key_rotation_with_two_kids() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = write_jwks(
        &dir,
        &[
            (&keys().rsa_a, Some("2024")),
            (&keys().rsa_b, Some("2025")),
            (&keys().ec_a, Some("ec-2025")),
        ],
    );
    let v = verifier(vec![jwks_issuer("idp", &["RS256", "ES256"], jwks)]);
    let c = claims("idp");
    let old = sign(Algorithm::RS256, Some("2024"), &c, &keys().rsa_a.signing);
    let new = sign(Algorithm::RS256, Some("2025"), &c, &keys().rsa_b.signing);
    let ec = sign(Algorithm::ES256, Some("ec-2025"), &c, &keys().ec_a.signing);
    assert_eq!(v.verify(&old, NOW), Ok(user("idp")));
    assert_eq!(v.verify(&new, NOW), Ok(user("idp")));
    assert_eq!(v.verify(&ec, NOW), Ok(user("idp")));
    // The kid selects the key: the old key's signature under the new kid fails.
    let swapped = sign(Algorithm::RS256, Some("2025"), &c, &keys().rsa_a.signing);
    assert_eq!(refused(&v, &swapped, NOW), JwtError::BadSignature);
    // Several keys: a token must name one.
    let no_kid = sign(Algorithm::RS256, None, &c, &keys().rsa_a.signing);
    assert_eq!(refused(&v, &no_kid, NOW), JwtError::MissingKeyId);
    // An ES256 header pointing at an RSA key.
    let cross = sign(Algorithm::ES256, Some("2024"), &c, &keys().ec_a.signing);
    assert_eq!(refused(&v, &cross, NOW), JwtError::AlgorithmKeyMismatch);
}

#[test]
fn unknown_kid_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = write_jwks(&dir, &[(&keys().rsa_a, Some("r1"))]);
    let v = verifier(vec![jwks_issuer("idp", &["RS256"], jwks)]);
    let token = signed(Algorithm::RS256, Some("r2"), "idp", &keys().rsa_a);
    assert_eq!(refused(&v, &token, NOW), JwtError::UnknownKey);
}

// --- time -------------------------------------------------------------------------------------

#[test]
fn expired_token_is_refused() {
    let v = verifier(vec![hs_issuer("idp")]);
    let token = hs256(&json!({ "iss": "idp", "sub": "u", "exp": NOW - 3600 }));
    assert_eq!(refused(&v, &token, NOW), JwtError::Expired);
    // The injected clock decides, not the system's: the same token was fine an hour earlier.
    assert!(v.verify(&token, NOW - 3700).is_ok());
}

#[test]
fn token_without_exp_is_refused() {
    let v = verifier(vec![hs_issuer("idp")]);
    let token = hs256(&json!({ "iss": "idp", "sub": "u" }));
    assert_eq!(refused(&v, &token, NOW), JwtError::MissingClaim("exp"));
    let token = hs256(&json!({ "iss": "idp", "sub": "u", "exp": "tomorrow" }));
    assert_eq!(refused(&v, &token, NOW), JwtError::InvalidClaim("exp"));
}

#[test]
fn token_not_yet_valid_is_refused() {
    let v = verifier(vec![hs_issuer("idp")]);
    let token = hs256(&json!({ "iss": "idp", "sub": "u", "exp": NOW + 7200, "nbf": NOW + 3600 }));
    assert_eq!(refused(&v, &token, NOW), JwtError::NotYetValid);
    assert!(v.verify(&token, NOW + 3600).is_ok());
}

#[test]
fn token_issued_in_the_future_is_refused() {
    let v = verifier(vec![hs_issuer("idp")]);
    let token = hs256(&json!({ "iss": "idp", "sub": "u", "exp": NOW + 7200, "iat": NOW + 600 }));
    assert_eq!(refused(&v, &token, NOW), JwtError::IssuedInFuture);
}

#[test]
fn clock_skew_is_tolerated_on_both_sides() {
    let v = verifier(vec![hs_issuer("idp")]);
    let skew = SKEW as i64;
    let at = |exp: i64, nbf: i64, iat: i64| {
        hs256(&json!({ "iss": "idp", "sub": "u", "exp": exp, "nbf": nbf, "iat": iat }))
    };
    // Expired less than the skew ago: accepted; more: refused.
    assert!(v
        .verify(&at(NOW - skew + 1, NOW - 600, NOW - 600), NOW)
        .is_ok());
    assert_eq!(
        refused(&v, &at(NOW - skew, NOW - 600, NOW - 600), NOW),
        JwtError::Expired
    );
    assert_eq!(
        refused(&v, &at(NOW - skew - 1, NOW - 600, NOW - 600), NOW),
        JwtError::Expired
    );
    // Valid from, or issued at, up to the skew ahead of us: accepted; beyond: refused.
    assert!(v
        .verify(&at(NOW + 600, NOW + skew, NOW + skew), NOW)
        .is_ok());
    assert_eq!(
        refused(&v, &at(NOW + 600, NOW + skew + 1, NOW), NOW),
        JwtError::NotYetValid
    );
    assert_eq!(
        refused(&v, &at(NOW + 600, NOW, NOW + skew + 1), NOW),
        JwtError::IssuedInFuture
    );
    // Without skew, no tolerance.
    let strict = JwtVerifier::from_settings(&AuthSettings {
        clock_skew: std::time::Duration::ZERO,
        issuers: vec![hs_issuer("idp")],
        ..AuthSettings::default()
    })
    .unwrap();
    assert_eq!(refused(&strict, &at(NOW, NOW, NOW), NOW), JwtError::Expired);
    assert_eq!(
        refused(&strict, &at(NOW + 60, NOW + 1, NOW), NOW),
        JwtError::NotYetValid
    );
    assert!(strict.verify(&at(NOW + 1, NOW, NOW), NOW).is_ok());
}

#[test]
fn fractional_and_huge_numeric_dates() {
    let v = verifier(vec![hs_issuer("idp")]);
    let token = hs256(&json!({ "iss": "idp", "sub": "u", "exp": (NOW + 10) as f64 + 0.5 }));
    assert!(v.verify(&token, NOW).is_ok());
    let token = hs256(&json!({ "iss": "idp", "sub": "u", "exp": u64::MAX }));
    assert!(v.verify(&token, NOW).is_ok());
    let token = hs256(&json!({ "iss": "idp", "sub": "u", "exp": NOW + 600, "iat": u64::MAX }));
    assert_eq!(refused(&v, &token, NOW), JwtError::IssuedInFuture);
}

// --- claims -----------------------------------------------------------------------------------

#[test]
fn unknown_or_missing_issuer_is_refused() {
    let v = verifier(vec![hs_issuer("idp")]);
    assert_eq!(
        refused(&v, &hs256(&claims("other-idp")), NOW),
        JwtError::UnknownIssuer
    );
    let token = hs256(&json!({ "sub": "u", "exp": NOW + 60 }));
    assert_eq!(refused(&v, &token, NOW), JwtError::MissingClaim("iss"));
    let token = hs256(&json!({ "iss": ["idp"], "sub": "u", "exp": NOW + 60 }));
    assert_eq!(refused(&v, &token, NOW), JwtError::InvalidClaim("iss"));
}

#[test]
fn audience_is_checked_when_configured() {
    let v = verifier(vec![IssuerSettings {
        audience: Some("sees-admin".into()),
        ..hs_issuer("idp")
    }]);
    let with_aud =
        |aud: Value| hs256(&json!({ "iss": "idp", "sub": "user-42", "exp": NOW + 60, "aud": aud }));
    assert_eq!(
        v.verify(&with_aud(json!("sees-admin")), NOW),
        Ok(user("idp"))
    );
    assert_eq!(
        v.verify(&with_aud(json!(["other", "sees-admin"])), NOW),
        Ok(user("idp"))
    );
    assert_eq!(
        refused(&v, &with_aud(json!("other")), NOW),
        JwtError::WrongAudience
    );
    assert_eq!(
        refused(&v, &with_aud(json!(["a", "b"])), NOW),
        JwtError::WrongAudience
    );
    assert_eq!(
        refused(&v, &with_aud(json!(7)), NOW),
        JwtError::InvalidClaim("aud")
    );
    assert_eq!(
        refused(&v, &hs256(&claims("idp")), NOW),
        JwtError::MissingClaim("aud")
    );

    // Without a configured audience, `aud` is not looked at.
    let open = verifier(vec![hs_issuer("idp")]);
    assert!(open.verify(&with_aud(json!("anything")), NOW).is_ok());
    assert!(open.verify(&hs256(&claims("idp")), NOW).is_ok());
}

#[test]
fn subject_is_required_and_checked() {
    let v = verifier(vec![hs_issuer("idp")]);
    let with_sub = |sub: Option<Value>| {
        let mut c = json!({ "iss": "idp", "exp": NOW + 60 });
        if let Some(sub) = sub {
            c["sub"] = sub;
        }
        hs256(&c)
    };
    assert_eq!(
        refused(&v, &with_sub(None), NOW),
        JwtError::MissingClaim("sub")
    );
    assert_eq!(
        refused(&v, &with_sub(Some(json!(""))), NOW),
        JwtError::InvalidClaim("sub")
    );
    assert_eq!(
        refused(&v, &with_sub(Some(json!(42))), NOW),
        JwtError::InvalidClaim("sub")
    );
    assert_eq!(
        refused(&v, &with_sub(Some(json!("a\nb"))), NOW),
        JwtError::InvalidClaim("sub")
    );
    let long = "é".repeat(MAX_SUBJECT_CHARS + 1);
    assert_eq!(
        refused(&v, &with_sub(Some(json!(long))), NOW),
        JwtError::InvalidClaim("sub")
    );
    let longest = "é".repeat(MAX_SUBJECT_CHARS);
    assert_eq!(
        v.verify(&with_sub(Some(json!(longest.clone()))), NOW),
        Ok(EndUser {
            user_id: longest,
            issuer: "idp".into()
        })
    );
}

// --- algorithms and attacks -------------------------------------------------------------------

#[test]
fn algorithm_outside_the_allow_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = write_jwks(&dir, &[(&keys().rsa_a, Some("r1"))]);
    let v = verifier(vec![jwks_issuer("idp", &["RS256"], jwks)]);
    let es = signed(Algorithm::ES256, Some("r1"), "idp", &keys().ec_a);
    assert_eq!(refused(&v, &es, NOW), JwtError::AlgorithmNotAllowed);
    // Algorithms this module never accepts, even correctly signed.
    let hs = hs256(&claims("idp"));
    assert_eq!(refused(&v, &hs, NOW), JwtError::AlgorithmNotAllowed);
    let hs384 = sign(
        Algorithm::HS384,
        None,
        &claims("idp"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    );
    assert_eq!(refused(&v, &hs384, NOW), JwtError::AlgorithmNotAllowed);
    let ps256 = signed(Algorithm::PS256, Some("r1"), "idp", &keys().rsa_a);
    assert_eq!(refused(&v, &ps256, NOW), JwtError::AlgorithmNotAllowed);
}

#[test]
fn unsigned_tokens_are_refused() {
    let v = verifier(vec![hs_issuer("idp")]);
    let payload = b64(&claims("idp"));
    for alg in ["none", "None", "NONE"] {
        let header = b64(&json!({ "alg": alg, "typ": "JWT" }));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            let err = refused(&v, &token, NOW);
            assert!(
                matches!(err, JwtError::Unsigned | JwtError::Malformed),
                "{alg}: {err:?}"
            );
        }
        assert_eq!(
            refused(&v, &format!("{header}.{payload}."), NOW),
            JwtError::Unsigned
        );
    }
    let no_alg = format!("{}.{payload}.", b64(&json!({ "typ": "JWT" })));
    assert_eq!(refused(&v, &no_alg, NOW), JwtError::Malformed);
}

#[test]
fn key_confusion_hs256_signed_with_the_rsa_public_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pem_text = &keys().rsa_a.public_pem;
    let pem = write(&dir, "rsa.pem", pem_text);
    let jwks = write_jwks(&dir, &[(&keys().rsa_a, Some("r1"))]);
    let v = verifier(vec![
        pem_issuer("pem-idp", "RS256", pem),
        jwks_issuer("jwks-idp", &["RS256"], jwks),
    ]);
    // The classic attack: HMAC with the public key's PEM bytes (as the file holds them) as secret.
    let forged_key = EncodingKey::from_secret(pem_text.as_bytes());
    for (iss, kid) in [("pem-idp", None), ("jwks-idp", Some("r1"))] {
        let forged = sign(Algorithm::HS256, kid, &claims(iss), &forged_key);
        assert_eq!(
            refused(&v, &forged, NOW),
            JwtError::AlgorithmNotAllowed,
            "{iss}"
        );
    }
    // Also with the key's DER bytes (SubjectPublicKeyInfo and PKCS#1) as the secret.
    for secret in [pem_body(pem_text), pkcs1_der(pem_text)] {
        let forged_key = EncodingKey::from_secret(&secret);
        let forged = sign(Algorithm::HS256, None, &claims("pem-idp"), &forged_key);
        assert_eq!(refused(&v, &forged, NOW), JwtError::AlgorithmNotAllowed);
    }
}

#[test]
fn key_family_is_checked_even_past_the_allow_list() {
    // Defence in depth: should an allow-list ever contain the token's alg, a key of another
    // family is still never used.
    let dir = tempfile::tempdir().unwrap();
    let pem = write(&dir, "rsa.pem", &keys().rsa_a.public_pem);
    let mut v = verifier(vec![pem_issuer("idp", "RS256", pem)]);
    v.issuers
        .get_mut("idp")
        .unwrap()
        .algorithms
        .push(Algorithm::HS256);
    let forged = sign(
        Algorithm::HS256,
        None,
        &claims("idp"),
        &EncodingKey::from_secret(keys().rsa_a.public_pem.as_bytes()),
    );
    assert_eq!(refused(&v, &forged, NOW), JwtError::AlgorithmKeyMismatch);
}

#[test]
fn tampered_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pem = write(&dir, "rsa.pem", &keys().rsa_a.public_pem);
    let v = verifier(vec![
        hs_issuer("hs-idp"),
        pem_issuer("rsa-idp", "RS256", pem),
    ]);
    for token in [
        hs256(&claims("hs-idp")),
        signed(Algorithm::RS256, None, "rsa-idp", &keys().rsa_a),
    ] {
        let parts: Vec<&str> = token.split('.').collect();
        let mut evil: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        evil["sub"] = json!("admin");
        let tampered = format!("{}.{}.{}", parts[0], b64(&evil), parts[2]);
        assert_eq!(refused(&v, &tampered, NOW), JwtError::BadSignature);
        // A flipped signature, and none at all.
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[0] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
        assert_eq!(refused(&v, &flipped, NOW), JwtError::BadSignature);
        let stripped = format!("{}.{}.", parts[0], parts[1]);
        assert_eq!(refused(&v, &stripped, NOW), JwtError::BadSignature);
    }
}

#[test]
fn critical_header_extensions_are_refused() {
    let v = verifier(vec![hs_issuer("idp")]);
    let header = b64(&json!({ "alg": "HS256", "crit": ["exp"], "exp": 1 }));
    let token = hs256(&claims("idp"));
    let body = token.split_once('.').unwrap().1;
    assert_eq!(
        refused(&v, &format!("{header}.{body}"), NOW),
        JwtError::CriticalHeader
    );
}

#[test]
fn malformed_and_oversized_tokens_are_refused() {
    let v = verifier(vec![hs_issuer("idp")]);
    let good = hs256(&claims("idp"));
    for token in [
        "",
        "garbage",
        "a.b",
        "a.b.c.d.e",
        "!!!.???.***",
        &format!("{good}.extra"),
        &format!("e30.{}", good.split('.').nth(1).unwrap()),
    ] {
        assert_eq!(refused(&v, token, NOW), JwtError::Malformed, "{token:?}");
    }
    // A header that is JSON but not an object, a payload that is not JSON.
    let bad_header = format!("{}.{}.x", b64(&json!(["HS256"])), b64(&claims("idp")));
    assert_eq!(refused(&v, &bad_header, NOW), JwtError::Malformed);
    let bad_payload = format!(
        "{}.{}.x",
        b64(&json!({"alg": "HS256"})),
        URL_SAFE_NO_PAD.encode("nope")
    );
    assert_eq!(refused(&v, &bad_payload, NOW), JwtError::Malformed);

    let padded = json!({
        "iss": "idp", "sub": "u", "exp": NOW + 60, "pad": "x".repeat(MAX_TOKEN_BYTES)
    });
    let big = hs256(&padded);
    assert_eq!(refused(&v, &big, NOW), JwtError::TooLong);
    assert_eq!(
        refused(&v, &"a".repeat(MAX_TOKEN_BYTES + 1), NOW),
        JwtError::TooLong
    );
}

#[test]
fn without_issuers_every_token_is_refused() {
    let v = verifier(Vec::new());
    assert!(!v.is_configured());
    assert_eq!(
        refused(&v, &hs256(&claims("idp")), NOW),
        JwtError::NotConfigured
    );
}

// --- configuration ----------------------------------------------------------------------------

#[test]
fn issuer_needs_exactly_one_key_source() {
    for alg in ["RS256", "HS256"] {
        let err = config_error(vec![issuer("idp", &[alg])]);
        assert!(
            matches!(err, JwtConfigError::NoKeySource { ref issuer } if issuer == "idp"),
            "{err}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let pem = write(&dir, "rsa.pem", &keys().rsa_a.public_pem);
    let err = config_error(vec![IssuerSettings {
        hs256_secret: Some(SecretString::from(SECRET)),
        ..pem_issuer("idp", "RS256", pem.clone())
    }]);
    assert!(
        matches!(err, JwtConfigError::SeveralKeySources { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("hs256_secret, public_key_file"), "{text}");
    assert!(!text.contains(SECRET), "{text}");

    let err = config_error(vec![IssuerSettings {
        jwks_file: Some(pem.clone()),
        ..pem_issuer("idp", "RS256", pem)
    }]);
    assert!(
        matches!(err, JwtConfigError::SeveralKeySources { .. }),
        "{err}"
    );
}

#[test]
fn hs256_needs_a_secret_and_a_secret_serves_only_hs256() {
    let dir = tempfile::tempdir().unwrap();
    let pem = write(&dir, "rsa.pem", &keys().rsa_a.public_pem);
    let jwks = write_jwks(&dir, &[(&keys().rsa_a, None)]);
    for (issuer, needing_another_key) in [
        (pem_issuer("idp", "HS256", pem.clone()), "HS256"),
        (
            IssuerSettings {
                public_key_file: Some(pem),
                ..issuer("idp", &["RS256", "HS256"])
            },
            "HS256",
        ),
        (jwks_issuer("idp", &["HS256"], jwks), "HS256"),
        (
            IssuerSettings {
                algorithms: vec!["HS256".into(), "RS256".into()],
                ..hs_issuer("idp")
            },
            "RS256",
        ),
    ] {
        let err = config_error(vec![issuer]);
        assert!(
            matches!(
                err,
                JwtConfigError::AlgorithmNeedsOtherKey { algorithm, .. }
                    if algorithm == needing_another_key
            ),
            "{err}"
        );
        assert!(!err.to_string().contains(SECRET));
    }
}

#[test]
fn algorithm_names_are_checked() {
    for bad in ["none", "hs256", "RS384", "PS256", "EdDSA", ""] {
        let err = config_error(vec![IssuerSettings {
            algorithms: vec!["HS256".into(), bad.into()],
            ..hs_issuer("idp")
        }]);
        assert!(
            matches!(err, JwtConfigError::UnsupportedAlgorithm { ref algorithm, .. } if algorithm == bad),
            "{bad}: {err}"
        );
    }
    let err = config_error(vec![IssuerSettings {
        algorithms: Vec::new(),
        ..hs_issuer("idp")
    }]);
    assert!(matches!(err, JwtConfigError::NoAlgorithms { .. }), "{err}");
}

#[test]
fn short_secret_is_refused_without_being_shown() {
    let short = "only-31-bytes-of-secret-is-bad!";
    assert_eq!(short.len(), 31);
    let err = config_error(vec![IssuerSettings {
        hs256_secret: Some(SecretString::from(short)),
        ..hs_issuer("idp")
    }]);
    assert!(
        matches!(err, JwtConfigError::ShortSecret { len: 31, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains(short));
    assert!(!format!("{err:?}").contains(short));
    // 32 bytes is enough.
    verifier(vec![IssuerSettings {
        hs256_secret: Some(SecretString::from("x".repeat(MIN_HS256_SECRET_BYTES))),
        ..hs_issuer("idp")
    }]);
}

#[test]
fn duplicate_and_empty_issuers_are_refused() {
    let err = config_error(vec![hs_issuer("idp"), hs_issuer("idp")]);
    assert!(
        matches!(err, JwtConfigError::DuplicateIssuer { ref issuer } if issuer == "idp"),
        "{err}"
    );
    let err = config_error(vec![hs_issuer(" ")]);
    assert!(matches!(err, JwtConfigError::EmptyIssuer), "{err}");
    let err = config_error(vec![IssuerSettings {
        audience: Some(String::new()),
        ..hs_issuer("idp")
    }]);
    assert!(matches!(err, JwtConfigError::EmptyAudience { .. }), "{err}");
}

#[test]
fn pem_must_hold_the_right_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = write(&dir, "rsa.pem", &keys().rsa_a.public_pem);
    let ec = write(&dir, "ec.pem", &keys().ec_a.public_pem);
    let bad_file = |s: IssuerSettings| match config_error(vec![s]) {
        JwtConfigError::BadKeyFile { issuer, reason, .. } => {
            assert_eq!(issuer, "idp");
            reason
        }
        other => panic!("unexpected error {other}"),
    };
    assert!(bad_file(pem_issuer("idp", "RS256", ec.clone())).contains("not an RSA public key"));
    assert!(bad_file(pem_issuer("idp", "ES256", rsa.clone())).contains("not an EC public key"));
    let both = IssuerSettings {
        public_key_file: Some(rsa),
        ..issuer("idp", &["RS256", "ES256"])
    };
    assert!(bad_file(both).contains("one algorithm"));

    let private = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let private_path = write(&dir, "private.pem", &private);
    let reason = bad_file(pem_issuer("idp", "ES256", private_path.clone()));
    assert!(reason.contains("private key"), "{reason}");
    // The error names the file, never its contents.
    let text = config_error(vec![pem_issuer("idp", "ES256", private_path)]).to_string();
    assert!(text.contains("private.pem"), "{text}");
    let body = private.lines().nth(1).unwrap();
    assert!(!text.contains(body), "{text}");

    let junk = write(&dir, "junk.pem", "not a key");
    assert!(bad_file(pem_issuer("idp", "RS256", junk)).contains("no PEM block"));
    let two = write(
        &dir,
        "two.pem",
        &format!("{}{}", keys().ec_a.public_pem, keys().ec_b.public_pem),
    );
    assert!(bad_file(pem_issuer("idp", "ES256", two)).contains("several PEM blocks"));

    let missing = dir.path().join("missing.pem");
    let err = config_error(vec![pem_issuer("idp", "RS256", missing)]);
    assert!(matches!(err, JwtConfigError::ReadKeyFile { .. }), "{err}");
    assert!(err.to_string().contains("missing.pem"), "{err}");
}

#[test]
fn jwks_must_parse_and_name_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let bad_jwks = |name: &str, contents: &str, algorithms: &[&str]| {
        let path = write(&dir, name, contents);
        match config_error(vec![jwks_issuer("idp", algorithms, path)]) {
            JwtConfigError::BadKeyFile { reason, .. } => reason,
            other => panic!("unexpected error {other}"),
        }
    };
    let rsa = |kid: Option<&str>| serde_json::to_value(jwk_with_kid(&keys().rsa_a, kid)).unwrap();
    let rsa_b = |kid: Option<&str>| serde_json::to_value(jwk_with_kid(&keys().rsa_b, kid)).unwrap();

    assert!(bad_jwks("a.json", "{", &["RS256"]).contains("not JSON"));
    assert!(bad_jwks("b.json", "{}", &["RS256"]).contains("no \"keys\""));
    assert!(bad_jwks("c.json", r#"{"keys":[]}"#, &["RS256"]).contains("no keys"));
    let unnamed = json!({ "keys": [rsa(Some("r1")), rsa_b(None)] }).to_string();
    assert!(bad_jwks("d.json", &unnamed, &["RS256"]).contains("no \"kid\""));
    let twice = json!({ "keys": [rsa(Some("r1")), rsa_b(Some("r1"))] }).to_string();
    assert!(bad_jwks("e.json", &twice, &["RS256"]).contains("used twice"));
    let oct =
        json!({ "keys": [{ "kty": "oct", "kid": "s", "k": URL_SAFE_NO_PAD.encode(SECRET) }] });
    let reason = bad_jwks("f.json", &oct.to_string(), &["RS256"]);
    assert!(reason.contains("symmetric"), "{reason}");
    assert!(!reason.contains(&URL_SAFE_NO_PAD.encode(SECRET)));
    let ec_only =
        json!({ "keys": [serde_json::to_value(jwk_with_kid(&keys().ec_a, Some("e"))).unwrap()] });
    assert!(bad_jwks("g.json", &ec_only.to_string(), &["RS256"]).contains("do not list ES256"));
    // One key with one member changed.
    for (key, kid, member, value, algorithm, expected) in [
        (
            &keys().rsa_a,
            "r1",
            "use",
            json!("enc"),
            "RS256",
            "not a signature key",
        ),
        (&keys().ec_a, "e", "crv", json!("P-384"), "ES256", "P-256"),
        (
            &keys().ec_a,
            "e",
            "y",
            json!(URL_SAFE_NO_PAD.encode([7u8; 32])),
            "ES256",
            "not a point on P-256",
        ),
        (
            &keys().rsa_a,
            "r1",
            "n",
            json!(URL_SAFE_NO_PAD.encode([0xc5u8; 128])),
            "RS256",
            "1024 bits",
        ),
        (
            &keys().rsa_a,
            "r1",
            "alg",
            json!("RS384"),
            "RS256",
            "\"alg\"",
        ),
    ] {
        let mut changed = serde_json::to_value(jwk_with_kid(key, Some(kid))).unwrap();
        changed[member] = value;
        let contents = json!({ "keys": [changed] }).to_string();
        let reason = bad_jwks(&format!("{member}.json"), &contents, &[algorithm]);
        assert!(reason.contains(expected), "{member}: {reason}");
    }
}

#[test]
fn debug_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = write_jwks(&dir, &[(&keys().rsa_a, Some("r1"))]);
    let v = verifier(vec![
        hs_issuer("hs-idp"),
        jwks_issuer("jwks-idp", &["RS256"], jwks),
    ]);
    let debug = format!("{v:?}");
    assert!(debug.contains("hs-idp") && debug.contains("r1"), "{debug}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(!debug.contains(&URL_SAFE_NO_PAD.encode(SECRET)), "{debug}");
    let bytes = format!("{:?}", SECRET.as_bytes());
    assert!(!debug.contains(&bytes[1..bytes.len() - 1]), "{debug}");
    let alt = format!("{v:#?}");
    assert!(!alt.contains(SECRET), "{alt}");
}

#[test]
fn verify_claims_answers_every_signed_claim_and_does_not_need_sub() {
    let v = verifier(vec![hs_issuer("idp")]);
    let mut c = claims("idp");
    c.as_object_mut().unwrap().remove("sub");
    c["entitlements"] = json!([{ "packageID": "gold" }]);
    let verified = v.verify_claims(&hs256(&c), NOW).expect("verified claims");
    assert_eq!(verified.issuer, "idp");
    assert_eq!(Value::Object(verified.claims), c);
    // `verify` builds on it and adds the `sub` rule.
    assert_eq!(refused(&v, &hs256(&c), NOW), JwtError::MissingClaim("sub"));
    // The same refusals as `verify`.
    assert_eq!(
        v.verify_claims(&hs256(&c), NOW + 3600),
        Err(JwtError::Expired)
    );
    let other = JwtVerifier::from_issuers(&[hs_issuer("other")], SKEW).unwrap();
    assert_eq!(
        other.verify_claims(&hs256(&c), NOW),
        Err(JwtError::UnknownIssuer)
    );
}
