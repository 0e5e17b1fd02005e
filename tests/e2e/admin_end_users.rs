//! End users on the admin listener: a JWT from a configured identity provider reaches the calling-user
//! routes and only that user's data; it never reaches the staff routes.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use sees::admin::tokens::Role;
use serde_json::json;

use crate::harness::{self, spawn_with, TestServer, END_USER_ISSUER as ISSUER};

fn jwt(sub: &str, exp_offset: i64) -> String {
    harness::end_user_jwt_for("sees", sub, chrono::Utc::now().timestamp(), exp_offset)
}

async fn server() -> TestServer {
    spawn_with(|s| {
        s.auth.issuers = vec![harness::end_user_issuer_for("sees")];
    })
    .await
}

#[tokio::test]
async fn an_end_user_sees_only_their_own_entitlements() {
    let server = server().await;
    let admin = server.admin_token(Role::Admin).await;
    let package = json!({"package": {"id": "gold", "name": "Gold", "description": "Gold tier",
        "assetIDs": ["a1", "a2"], "billingPlanIDs": ["monthly"]}});
    let (status, answer) = server
        .admin("POST", "/oem/v1/user/packages", Some(&admin), Some(package))
        .await;
    assert_eq!(status, 200, "{answer}");
    for uid in ["alice", "bob"] {
        let grant = json!({"entitlement": {"packageID": "gold", "uid": uid, "startDate": "2020-01-01T00:00:00Z"}});
        let (status, answer) = server
            .admin(
                "POST",
                "/oem/v1/admin/entitlements",
                Some(&admin),
                Some(grant),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }

    let alice = jwt("alice", 300);
    let (status, answer) = server
        .admin("GET", "/oem/v1/entitlements", Some(&alice), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    let owners: Vec<&str> = answer["entitlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["alice"], "{answer}");

    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/entitlements/assets?assetIDs=a1",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["packages"][0]["owned"], true, "{answer}");

    let (status, answer) = server
        .admin("GET", "/oem/v1/admin/entitlements/bob", Some(&alice), None)
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_u64()),
        (403, Some(1003)),
        "{answer}"
    );
    let (status, answer) = server
        .admin("DELETE", "/oem/v1/user/packages/gold", Some(&alice), None)
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_u64()),
        (403, Some(1004)),
        "{answer}"
    );
}

#[tokio::test]
async fn bad_end_user_tokens_are_refused() {
    let server = server().await;
    let expired = jwt("alice", -3600);
    let (status, answer) = server
        .admin("GET", "/oem/v1/entitlements", Some(&expired), None)
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_u64()),
        (401, Some(1001)),
        "{answer}"
    );

    let forged = {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({"iss": ISSUER, "sub": "alice", "exp": now + 300, "aud": "sees"});
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"another-secret-of-more-than-32-bytes"),
        )
        .unwrap()
    };
    let (status, _) = server
        .admin("GET", "/oem/v1/entitlements", Some(&forged), None)
        .await;
    assert_eq!(status, 401);
    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/entitlements",
            Some(&expired[..expired.len() - 2]),
            None,
        )
        .await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        !answer.to_string().contains(&expired[..20]),
        "the token is not echoed"
    );

    let staff = server.admin_token(Role::Admin).await;
    let (status, answer) = server
        .admin("GET", "/oem/v1/entitlements", Some(&staff), None)
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_u64()),
        (403, Some(1003)),
        "{answer}"
    );
}
