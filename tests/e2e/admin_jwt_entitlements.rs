//! `PUT /oem/v1/entitlements/token` over real HTTP, with real signed tokens: HS256 with a secret,
//! RS256 and ES256 with keys generated for this run. Success, renewal, every refusal (each followed by
//! a check that nothing was granted), replay (also across a restart) and the forgetting of expired
//! token ids.

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use sees::admin::tokens::Role;
use sees::clock::FixedClock;
use sees::config::{EntitlementProviderSettings, IssuerSettings};
use serde_json::{json, Value};

use crate::harness::{assert_envelope, assert_error, spawn_at, TestServer};

const PATH: &str = "/oem/v1/entitlements/token";

/// End users' identity provider (their session tokens).
const LOGIN_ISSUER: &str = "https://login.example.test/";
const LOGIN_SECRET: &str = "the-login-secret-of-more-than-32-bytes";

/// The entitlement providers.
const HS: &str = "hs-tenant";
const HS_ISSUER: &str = "https://hs.billing.test/";
const HS_SECRET: &str = "the-hs-tenant-secret-of-more-than-32-bytes";
const RSA: &str = "rsa-tenant";
const RSA_ISSUER: &str = "https://rsa.billing.test/";
const EC: &str = "ec-tenant";
const EC_ISSUER: &str = "https://ec.billing.test/";
const EC_KID: &str = "ec-2030";
const AUDIENCE: &str = "sees";
const SKEW: i64 = 60;
/// `admin.max_list_len` of the test server.
const MAX_LIST: usize = 4;

/// Keys generated once per run: the RSA and EC providers' keys, and strangers of the same kinds.
struct Keys {
    rsa: EncodingKey,
    rsa_public_pem: String,
    rsa_stranger: EncodingKey,
    ec: EncodingKey,
    ec_jwk: Jwk,
    ec_stranger: EncodingKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let rsa_stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        let ec_stranger =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        let rsa_signing = |pair: &rcgen::KeyPair| {
            EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).expect("RSA signing key")
        };
        let ec_signing = |pair: &rcgen::KeyPair| {
            EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("EC signing key")
        };
        let ec_key = ec_signing(&ec);
        let mut ec_jwk = Jwk::from_encoding_key(&ec_key, Algorithm::ES256).expect("EC JWK");
        ec_jwk.common.key_id = Some(EC_KID.to_owned());
        Keys {
            rsa: rsa_signing(&rsa),
            rsa_public_pem: rsa.public_key_pem(),
            rsa_stranger: rsa_signing(&rsa_stranger),
            ec: ec_key,
            ec_jwk,
            ec_stranger: ec_signing(&ec_stranger),
        }
    })
}

/// A running server with three entitlement providers, the packages `gold` and `silver`, a fixed clock
/// and an admin token.
struct Fixture {
    server: TestServer,
    clock: Arc<FixedClock>,
    now: i64,
    admin: String,
    /// The providers' key files; read again by a restart.
    _key_files: tempfile::TempDir,
}

fn provider(name: &str, issuer: &str, algorithm: &str) -> EntitlementProviderSettings {
    EntitlementProviderSettings {
        name: name.to_owned(),
        issuer: issuer.to_owned(),
        audience: Some(AUDIENCE.to_owned()),
        algorithms: vec![algorithm.to_owned()],
        hs256_secret: None,
        public_key_file: None,
        jwks_file: None,
    }
}

async fn fixture() -> Fixture {
    let key_files = tempfile::tempdir().expect("temporary directory");
    let rsa_pem = key_files.path().join("rsa.pem");
    std::fs::write(&rsa_pem, &keys().rsa_public_pem).expect("writing the RSA key");
    let jwks = key_files.path().join("ec-jwks.json");
    let set = JwkSet {
        keys: vec![keys().ec_jwk.clone()],
    };
    std::fs::write(&jwks, serde_json::to_string(&set).unwrap()).expect("writing the JWKS");

    let now = Utc::now().timestamp();
    let (server, clock) = spawn_at(at(now), |s| {
        s.admin.max_list_len = MAX_LIST;
        s.auth.issuers = vec![IssuerSettings {
            issuer: LOGIN_ISSUER.to_owned(),
            audience: None,
            algorithms: vec!["HS256".to_owned()],
            hs256_secret: Some(SecretString::from(LOGIN_SECRET.to_owned())),
            public_key_file: None,
            jwks_file: None,
        }];
        s.auth.entitlement_providers = vec![
            EntitlementProviderSettings {
                hs256_secret: Some(SecretString::from(HS_SECRET.to_owned())),
                ..provider(HS, HS_ISSUER, "HS256")
            },
            EntitlementProviderSettings {
                public_key_file: Some(rsa_pem),
                ..provider(RSA, RSA_ISSUER, "RS256")
            },
            EntitlementProviderSettings {
                jwks_file: Some(jwks),
                ..provider(EC, EC_ISSUER, "ES256")
            },
        ];
    })
    .await;
    let admin = server.admin_token(Role::Admin).await;
    for id in ["gold", "silver"] {
        let package = json!({"package": {"id": id, "name": id, "description": id,
            "assetIDs": [format!("{id}-asset")], "billingPlanIDs": ["monthly"]}});
        let (status, answer) = server
            .admin("POST", "/oem/v1/user/packages", Some(&admin), Some(package))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    Fixture {
        server,
        clock,
        now,
        admin,
        _key_files: key_files,
    }
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).expect("a time")
}

fn rfc3339(unix: i64) -> String {
    at(unix).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Fixture {
    /// An end user's session token (their identity provider's JWT).
    fn session(&self, sub: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &json!({"iss": LOGIN_ISSUER, "sub": sub, "iat": self.now, "exp": self.now + 3600}),
            &EncodingKey::from_secret(LOGIN_SECRET.as_bytes()),
        )
        .unwrap()
    }

    /// Valid claims of `issuer` for `sub`, granting `packages` for the year ahead.
    fn claims(&self, issuer: &str, sub: &str, jti: &str, packages: &[&str]) -> Value {
        let grants: Vec<Value> = packages
            .iter()
            .map(|p| grant(p, self.now - 3600, self.now + 365 * 86_400))
            .collect();
        json!({
            "iss": issuer, "aud": AUDIENCE, "sub": sub, "jti": jti,
            "iat": self.now, "exp": self.now + 600,
            "entitlements": grants,
            "note": "unknown claims are ignored"
        })
    }

    /// `PUT /oem/v1/entitlements/token` with `token` of `provider`, as the caller of `bearer`.
    async fn apply(&self, bearer: &str, provider: &str, token: &str) -> (u16, Value) {
        self.server
            .admin(
                "PUT",
                PATH,
                Some(bearer),
                Some(json!({"entitlementToken": token, "provider": provider})),
            )
            .await
    }

    /// `uid`'s entitlements as staff see them.
    async fn entitlements(&self, uid: &str) -> Vec<Value> {
        let (status, answer) = self
            .server
            .admin(
                "GET",
                &format!("/oem/v1/admin/entitlements/{uid}"),
                Some(&self.admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["entitlements"].as_array().expect("a list").clone()
    }

    /// Asserts that `uid` holds no entitlement.
    async fn assert_nothing_granted(&self, uid: &str) {
        let held = self.entitlements(uid).await;
        assert!(held.is_empty(), "{uid} holds {held:?}");
    }

    /// Refused with `status` and `code`; the message contains `says`; nothing granted to alice.
    async fn assert_refused(
        &self,
        provider: &str,
        token: &str,
        status: u16,
        code: u64,
        says: &str,
    ) {
        let (got, answer) = self.apply(&self.session("alice"), provider, token).await;
        assert_error(got, &answer, status, code);
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message:?} should say {says:?}");
        for part in token.split('.').filter(|p| p.len() > 3) {
            assert!(!message.contains(part), "{message:?} echoes the token");
        }
        self.assert_nothing_granted("alice").await;
    }

    /// The `jti`s the store remembers.
    async fn remembered_jtis(&self) -> Vec<String> {
        let stores = sees::app::open_stores(&self.server.settings)
            .await
            .expect("opening the store");
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT jti FROM entitlement_token_jtis ORDER BY jti")
                .fetch_all(stores.store.pool())
                .await
                .expect("reading the token ids");
        stores.store.close().await;
        rows.into_iter().map(|(jti,)| jti).collect()
    }
}

fn grant(package: &str, start: i64, end: i64) -> Value {
    json!({"packageID": package, "startDate": rfc3339(start), "endDate": rfc3339(end)})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).expect("signing")
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        claims,
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, None, claims, &keys().rsa)
}

fn es256(claims: &Value) -> String {
    sign(Algorithm::ES256, Some(EC_KID), claims, &keys().ec)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn without(mut claims: Value, claim: &str) -> Value {
    claims.as_object_mut().unwrap().remove(claim);
    claims
}

fn packages_of(entitlements: &[Value]) -> Vec<&str> {
    entitlements
        .iter()
        .map(|e| e["packageID"].as_str().unwrap())
        .collect()
}

// --- success ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_end_user_applies_their_own_token() {
    let f = fixture().await;
    let claims = f.claims(HS_ISSUER, "alice", "order-1", &["silver", "gold"]);
    let (status, answer) = f.apply(&f.session("alice"), HS, &hs256(&claims)).await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    let granted = answer["entitlements"].as_array().unwrap();
    assert_eq!(packages_of(granted), ["silver", "gold"], "{answer}");
    for e in granted {
        assert_eq!(e["uid"], "alice");
        assert_eq!(e["startDate"], rfc3339(f.now - 3600));
        assert_eq!(e["endDate"], rfc3339(f.now + 365 * 86_400));
        assert_eq!(e["active"], true);
        assert_eq!(e["createdTimestamp"], rfc3339(f.now));
        assert_eq!(e["modifiedTimestamp"], rfc3339(f.now));
    }
    // The same entitlements as the staff routes show them.
    let mut held = f.entitlements("alice").await;
    held.sort_by_key(|e| e["packageID"].as_str().unwrap().to_owned());
    let mut expected = granted.clone();
    expected.sort_by_key(|e| e["packageID"].as_str().unwrap().to_owned());
    assert_eq!(held, expected);
    f.assert_nothing_granted("bob").await;
}

#[tokio::test]
async fn staff_apply_rs256_and_es256_tokens_for_any_user() {
    let f = fixture().await;
    let support = f.server.admin_token(Role::Support).await;
    let (status, answer) = f
        .apply(
            &support,
            RSA,
            &rs256(&f.claims(RSA_ISSUER, "bob", "r-1", &["gold"])),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        packages_of(answer["entitlements"].as_array().unwrap()),
        ["gold"]
    );
    let (status, answer) = f
        .apply(
            &support,
            EC,
            &es256(&f.claims(EC_ISSUER, "carol", "e-1", &["silver"])),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlements"][0]["uid"], "carol", "{answer}");
    assert_eq!(packages_of(&f.entitlements("bob").await), ["gold"]);
    assert_eq!(packages_of(&f.entitlements("carol").await), ["silver"]);

    // A reader may not.
    let reader = f.server.admin_token(Role::Reader).await;
    let token = hs256(&f.claims(HS_ISSUER, "dave", "h-1", &["gold"]));
    let (status, answer) = f.apply(&reader, HS, &token).await;
    assert_error(status, &answer, 403, 1004);
    f.assert_nothing_granted("dave").await;
    // Nor may anyone without a session.
    let (status, answer) = f
        .server
        .admin(
            "PUT",
            PATH,
            None,
            Some(json!({"entitlementToken": token, "provider": HS})),
        )
        .await;
    assert_error(status, &answer, 401, 1001);
    f.assert_nothing_granted("dave").await;
}

#[tokio::test]
async fn a_renewal_replaces_the_window() {
    let f = fixture().await;
    // An entitlement granted by support, ending soon.
    let granted = json!({"entitlement": {"packageID": "gold", "uid": "alice",
        "startDate": rfc3339(f.now - 86_400), "endDate": rfc3339(f.now + 3600)}});
    let (status, answer) = f
        .server
        .admin(
            "POST",
            "/oem/v1/admin/entitlements",
            Some(&f.admin),
            Some(granted),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let created = answer["entitlement"]["createdTimestamp"].clone();

    f.clock.set(at(f.now + 60));
    let mut claims = f.claims(HS_ISSUER, "alice", "renewal-1", &[]);
    claims["entitlements"] = json!([grant("gold", f.now, f.now + 30 * 86_400)]);
    let (status, answer) = f.apply(&f.session("alice"), HS, &hs256(&claims)).await;
    assert_eq!(status, 200, "{answer}");
    let renewed = &answer["entitlements"][0];
    assert_eq!(renewed["startDate"], rfc3339(f.now), "{answer}");
    assert_eq!(renewed["endDate"], rfc3339(f.now + 30 * 86_400), "{answer}");
    assert_eq!(renewed["createdTimestamp"], created, "{answer}");
    assert_eq!(
        renewed["modifiedTimestamp"],
        rfc3339(f.now + 60),
        "{answer}"
    );

    // The next month's token, with a new jti, extends it again.
    let mut claims = f.claims(HS_ISSUER, "alice", "renewal-2", &[]);
    claims["entitlements"] = json!([grant("gold", f.now, f.now + 60 * 86_400)]);
    let (status, answer) = f.apply(&f.session("alice"), HS, &hs256(&claims)).await;
    assert_eq!(status, 200, "{answer}");
    let held = f.entitlements("alice").await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["endDate"], rfc3339(f.now + 60 * 86_400));
}

// --- refusals --------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_provider_is_refused() {
    let f = fixture().await;
    let token = hs256(&f.claims(HS_ISSUER, "alice", "j", &["gold"]));
    f.assert_refused("no-such-tenant", &token, 400, 1070, "provider")
        .await;
    // Provider names are exact.
    f.assert_refused("HS-TENANT", &token, 400, 1070, "provider")
        .await;
}

#[tokio::test]
async fn a_malformed_token_is_refused() {
    let f = fixture().await;
    let good = hs256(&f.claims(HS_ISSUER, "alice", "j", &["gold"]));
    for bad in [
        "",
        "not-a-jwt",
        "a.b.c",
        &good[..good.len() - 1],
        &format!("{good}.extra"),
    ] {
        f.assert_refused(HS, bad, 403, 1071, "refused").await;
    }
    let (status, answer) = f
        .server
        .admin(
            "PUT",
            PATH,
            Some(&f.session("alice")),
            Some(json!({"entitlementToken": good, "provider": HS, "uid": "alice"})),
        )
        .await;
    assert_error(status, &answer, 400, 1012);
    f.assert_nothing_granted("alice").await;
}

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    let f = fixture().await;
    let claims = f.claims(HS_ISSUER, "alice", "j", &["gold"]);
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "typ": "JWT"})),
            b64(&claims)
        );
        f.assert_refused(HS, &token, 403, 1071, "unsigned").await;
    }
}

#[tokio::test]
async fn an_algorithm_the_provider_does_not_allow_is_refused() {
    let f = fixture().await;
    let hs384 = sign(
        Algorithm::HS384,
        None,
        &f.claims(HS_ISSUER, "alice", "j", &["gold"]),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    );
    f.assert_refused(HS, &hs384, 403, 1071, "algorithm").await;
    // An ES256 token for the RS256 provider.
    let es = sign(
        Algorithm::ES256,
        None,
        &f.claims(RSA_ISSUER, "alice", "j", &["gold"]),
        &keys().ec,
    );
    f.assert_refused(RSA, &es, 403, 1071, "algorithm").await;
}

#[tokio::test]
async fn key_confusion_is_refused() {
    let f = fixture().await;
    // HS256 with the RS256 provider's public key (its PEM text) as the HMAC secret.
    let token = sign(
        Algorithm::HS256,
        None,
        &f.claims(RSA_ISSUER, "alice", "j", &["gold"]),
        &EncodingKey::from_secret(keys().rsa_public_pem.as_bytes()),
    );
    f.assert_refused(RSA, &token, 403, 1071, "algorithm").await;
}

#[tokio::test]
async fn a_wrong_signature_is_refused() {
    let f = fixture().await;
    let other_secret = sign(
        Algorithm::HS256,
        None,
        &f.claims(HS_ISSUER, "alice", "j", &["gold"]),
        &EncodingKey::from_secret(b"another-secret-of-more-than-32-bytes!!"),
    );
    f.assert_refused(HS, &other_secret, 403, 1071, "signature")
        .await;
    let stranger_rsa = sign(
        Algorithm::RS256,
        None,
        &f.claims(RSA_ISSUER, "alice", "j", &["gold"]),
        &keys().rsa_stranger,
    );
    f.assert_refused(RSA, &stranger_rsa, 403, 1071, "signature")
        .await;
    let stranger_ec = sign(
        Algorithm::ES256,
        Some(EC_KID),
        &f.claims(EC_ISSUER, "alice", "j", &["gold"]),
        &keys().ec_stranger,
    );
    f.assert_refused(EC, &stranger_ec, 403, 1071, "signature")
        .await;
    // A signed token whose payload was swapped for another user's grant.
    let genuine = hs256(&f.claims(HS_ISSUER, "bob", "j", &["gold"]));
    let parts: Vec<&str> = genuine.split('.').collect();
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        b64(&f.claims(HS_ISSUER, "alice", "j", &["gold", "silver"])),
        parts[2]
    );
    f.assert_refused(HS, &swapped, 403, 1071, "signature").await;
    // A token of one provider presented as another's.
    let rsa_token = rs256(&f.claims(RSA_ISSUER, "alice", "j", &["gold"]));
    f.assert_refused(EC, &rsa_token, 403, 1071, "refused").await;
}

#[tokio::test]
async fn a_wrong_issuer_or_audience_is_refused() {
    let f = fixture().await;
    let other_issuer = hs256(&f.claims(RSA_ISSUER, "alice", "j", &["gold"]));
    f.assert_refused(HS, &other_issuer, 403, 1071, "issuer")
        .await;
    let mut claims = f.claims(HS_ISSUER, "alice", "j", &["gold"]);
    claims["aud"] = json!("another-service");
    f.assert_refused(HS, &hs256(&claims), 403, 1071, "audience")
        .await;
    f.assert_refused(HS, &hs256(&without(claims, "aud")), 403, 1071, "aud")
        .await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let f = fixture().await;
    let mut claims = f.claims(HS_ISSUER, "alice", "j", &["gold"]);
    claims["iat"] = json!(f.now - 7200);
    claims["exp"] = json!(f.now - SKEW);
    f.assert_refused(HS, &hs256(&claims), 403, 1071, "expired")
        .await;
    // Within the skew it is still good.
    claims["exp"] = json!(f.now - SKEW + 1);
    let (status, answer) = f.apply(&f.session("alice"), HS, &hs256(&claims)).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let f = fixture().await;
    let mut claims = f.claims(HS_ISSUER, "alice", "j", &["gold"]);
    claims["nbf"] = json!(f.now + SKEW + 1);
    f.assert_refused(HS, &hs256(&claims), 403, 1071, "nbf")
        .await;
    claims["nbf"] = json!(f.now + SKEW);
    let (status, answer) = f.apply(&f.session("alice"), HS, &hs256(&claims)).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let f = fixture().await;
    let mut claims = f.claims(HS_ISSUER, "alice", "j", &["gold"]);
    claims["iat"] = json!(f.now + SKEW + 1);
    f.assert_refused(HS, &hs256(&claims), 403, 1071, "iat")
        .await;
    claims["iat"] = json!(f.now + SKEW);
    let (status, answer) = f.apply(&f.session("alice"), HS, &hs256(&claims)).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_token_without_jti_iat_or_exp_is_refused() {
    let f = fixture().await;
    for claim in ["jti", "iat", "exp"] {
        let claims = without(f.claims(HS_ISSUER, "alice", "j", &["gold"]), claim);
        f.assert_refused(HS, &hs256(&claims), 403, 1071, &format!("`{claim}`"))
            .await;
    }
    for bad in [json!(""), json!(42), json!("x".repeat(257))] {
        let mut claims = f.claims(HS_ISSUER, "alice", "j", &["gold"]);
        claims["jti"] = bad;
        f.assert_refused(HS, &hs256(&claims), 403, 1071, "`jti`")
            .await;
    }
}

#[tokio::test]
async fn a_token_with_bad_subject_or_entitlements_is_refused() {
    let f = fixture().await;
    let support = f.server.admin_token(Role::Support).await;
    for sub in [json!("a,b"), json!(" alice"), json!(7)] {
        let mut claims = f.claims(HS_ISSUER, "alice", "j", &["gold"]);
        claims["sub"] = sub;
        let (status, answer) = f.apply(&support, HS, &hs256(&claims)).await;
        assert_error(status, &answer, 403, 1071);
    }
    let mut claims = f.claims(HS_ISSUER, "alice", "j", &[]);
    f.assert_refused(HS, &hs256(&claims), 403, 1071, "at least one")
        .await;
    claims["entitlements"] = json!([{"packageID": "gold", "startDate": rfc3339(f.now),
        "endDate": rfc3339(f.now + 60), "concurrencyLimit": 3}]);
    f.assert_refused(HS, &hs256(&claims), 403, 1071, "unknown field")
        .await;
    claims["entitlements"] = json!([{"packageID": "gold", "startDate": "tomorrow",
        "endDate": rfc3339(f.now + 60)}]);
    f.assert_refused(HS, &hs256(&claims), 400, 1013, "startDate")
        .await;
    let too_many = f.claims(
        HS_ISSUER,
        "alice",
        "j",
        &["gold", "silver", "p3", "p4", "p5"][..MAX_LIST + 1],
    );
    f.assert_refused(HS, &hs256(&too_many), 413, 1015, "at most 4")
        .await;
}

#[tokio::test]
async fn dates_out_of_order_are_refused() {
    let f = fixture().await;
    let mut claims = f.claims(HS_ISSUER, "alice", "j", &[]);
    claims["entitlements"] = json!([
        grant("gold", f.now, f.now + 60),
        grant("silver", f.now + 60, f.now + 60),
    ]);
    f.assert_refused(HS, &hs256(&claims), 400, 1014, "silver")
        .await;
    claims["entitlements"] = json!([grant("gold", f.now, f.now - 1)]);
    f.assert_refused(
        HS,
        &hs256(&claims),
        400,
        1014,
        "endDate must be after startDate",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_package_grants_nothing() {
    let f = fixture().await;
    let claims = f.claims(
        HS_ISSUER,
        "alice",
        "order-7",
        &["gold", "bronze", "silver", "tin"],
    );
    let token = hs256(&claims);
    f.assert_refused(HS, &token, 404, 1040, "bronze, tin").await;
    assert!(f.remembered_jtis().await.is_empty());

    // All or nothing: once the packages exist, the same token (its jti unused) grants all four.
    for id in ["bronze", "tin"] {
        let package = json!({"package": {"id": id, "name": id, "description": id,
            "assetIDs": [], "billingPlanIDs": ["monthly"]}});
        let (status, answer) = f
            .server
            .admin(
                "POST",
                "/oem/v1/user/packages",
                Some(&f.admin),
                Some(package),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = f.apply(&f.session("alice"), HS, &token).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        packages_of(answer["entitlements"].as_array().unwrap()),
        ["gold", "bronze", "silver", "tin"]
    );
}

#[tokio::test]
async fn another_users_token_is_refused_to_an_end_user() {
    let f = fixture().await;
    let token = hs256(&f.claims(HS_ISSUER, "bob", "order-9", &["gold"]));
    f.assert_refused(HS, &token, 403, 1004, "another user")
        .await;
    f.assert_nothing_granted("bob").await;
    // The token is still good for bob himself.
    let (status, answer) = f.apply(&f.session("bob"), HS, &token).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(packages_of(&f.entitlements("bob").await), ["gold"]);
}

#[tokio::test]
async fn a_replayed_token_is_refused() {
    let f = fixture().await;
    let claims = f.claims(HS_ISSUER, "alice", "order-3", &["gold"]);
    let (status, answer) = f.apply(&f.session("alice"), HS, &hs256(&claims)).await;
    assert_eq!(status, 200, "{answer}");
    let before = f.entitlements("alice").await;

    f.clock.set(at(f.now + 5));
    let (status, answer) = f.apply(&f.session("alice"), HS, &hs256(&claims)).await;
    assert_error(status, &answer, 409, 1072);
    // The same jti with other grants is a replay too, and changes nothing.
    let mut other = f.claims(HS_ISSUER, "alice", "order-3", &["silver"]);
    other["entitlements"][0]["endDate"] = json!(rfc3339(f.now + 999_999));
    let (status, answer) = f.apply(&f.session("alice"), HS, &hs256(&other)).await;
    assert_error(status, &answer, 409, 1072);
    assert_eq!(f.entitlements("alice").await, before);

    // The jti is the provider's: another provider may use the same one.
    let (status, answer) = f
        .apply(
            &f.session("alice"),
            RSA,
            &rs256(&f.claims(RSA_ISSUER, "alice", "order-3", &["silver"])),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_token_is_remembered_across_a_restart() {
    let f = fixture().await;
    let token = es256(&f.claims(EC_ISSUER, "alice", "order-5", &["gold"]));
    let (status, answer) = f.apply(&f.session("alice"), EC, &token).await;
    assert_eq!(status, 200, "{answer}");
    let before = f.entitlements("alice").await;

    let Fixture {
        server,
        clock,
        now,
        admin,
        _key_files,
    } = f;
    let f = Fixture {
        server: server.restart().await,
        clock,
        now,
        admin,
        _key_files,
    };
    let (status, answer) = f.apply(&f.session("alice"), EC, &token).await;
    assert_error(status, &answer, 409, 1072);
    assert_eq!(f.entitlements("alice").await, before);
}

#[tokio::test]
async fn expired_token_ids_are_forgotten() {
    let f = fixture().await;
    let first = hs256(&f.claims(HS_ISSUER, "alice", "first", &["gold"]));
    let (status, answer) = f.apply(&f.session("alice"), HS, &first).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(f.remembered_jtis().await, ["first"]);

    // Past the first token's exp plus the skew, a new token's application forgets it…
    let later = f.now + 600 + SKEW + 1;
    f.clock.set(at(later));
    let mut claims = f.claims(HS_ISSUER, "alice", "second", &["silver"]);
    claims["iat"] = json!(later);
    claims["exp"] = json!(later + 600);
    let session = encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": LOGIN_ISSUER, "sub": "alice", "iat": later, "exp": later + 600}),
        &EncodingKey::from_secret(LOGIN_SECRET.as_bytes()),
    )
    .unwrap();
    let (status, answer) = f.apply(&session, HS, &hs256(&claims)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(f.remembered_jtis().await, ["second"]);

    // …and the first token is refused as expired, not applied again.
    let (status, answer) = f.apply(&session, HS, &first).await;
    assert_error(status, &answer, 403, 1071);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{answer}"
    );
}
