//! The admin listener: authentication, roles, the envelope, and its refusals, over real HTTP.

use sees::admin::tokens::Role;
use serde_json::Value;

use crate::harness::{self, assert_error, spawn};

#[tokio::test]
async fn every_route_needs_a_valid_bearer_token() {
    let server = spawn().await;
    for (token, why) in [
        (None, "no header"),
        (Some("sees_not-a-real-token"), "unknown token"),
        (Some("garbage"), "not a token at all"),
    ] {
        let (status, answer) = server
            .admin("GET", "/oem/v1/user/packages", token, None)
            .await;
        assert_error(status, &answer, 401, 1001);
        let _ = why;
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let server = spawn().await;
    let token = server.admin_token(Role::Reader).await;
    let (status, answer) = server
        .admin("GET", "/oem/v1/nowhere", Some(&token), None)
        .await;
    assert_error(status, &answer, 404, 1020);
}

#[tokio::test]
async fn the_openapi_document_is_served_raw() {
    let server = spawn().await;
    let (status, answer) = server.admin("GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(
        answer["openapi"].as_str().unwrap().starts_with("3."),
        "{answer}"
    );
    assert!(answer.get("requestID").is_none());
}

#[tokio::test]
async fn a_revoked_token_stops_working() {
    let server = spawn().await;
    let token = server.admin_token(Role::Admin).await;
    let (status, _) = server
        .admin("GET", "/openapi.json", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    let stores = sees::app::open_stores(&server.settings).await.unwrap();
    let tokens = sees::admin::tokens::ApiTokens::new(stores.store.clone());
    let listed = tokens.list().await.unwrap();
    tokens
        .revoke(&listed[0].id, chrono::Utc::now())
        .await
        .unwrap();
    let (status, answer) = server
        .admin("GET", "/oem/v1/user/packages", Some(&token), None)
        .await;
    assert_error(status, &answer, 401, 1001);
}

#[tokio::test]
async fn the_admin_listener_can_require_tls_and_client_certificates() {
    let server = harness::spawn_with(|s| {
        s.admin.tls_cert = Some(s.tls.cert.clone());
        s.admin.tls_key = Some(s.tls.key.clone());
        s.admin.client_ca = Some(s.tls.client_ca.clone());
    })
    .await;
    let token = server.admin_token(Role::Reader).await;
    let url = format!(
        "https://localhost:{}/oem/v1/user/packages",
        server.admin_addr.port()
    );

    let with_cert = harness::client_with(harness::tls_client_config(
        &server.pki,
        Some(harness::ClientCert::Dev),
        &[b"http/1.1"],
    ));
    let answer: Value = with_cert
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer["packages"].is_array(), "{answer}");

    let without_cert = harness::client_with(harness::tls_client_config(
        &server.pki,
        None,
        &[b"http/1.1"],
    ));
    assert!(
        without_cert
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .is_err(),
        "no client certificate, no admin API"
    );

    let plain = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/oem/v1/user/packages",
            server.admin_addr.port()
        ))
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP is not served on a TLS admin listener"
    );
}

#[test]
fn plain_http_off_loopback_is_a_configuration_error() {
    let problems = sees::config::Settings::load_with_env(
        None,
        false,
        vec![("SEES__ADMIN__LISTEN".to_owned(), "0.0.0.0:8444".to_owned())],
    )
    .unwrap_err()
    .to_string();
    assert!(problems.contains("admin.tls_cert"), "{problems}");
}

#[tokio::test]
async fn a_json_array_is_not_a_body() {
    let server = spawn().await;
    let token = server.admin_token(Role::Admin).await;
    let body = serde_json::json!([{"entitlement": {"packageID": "p", "uid": "u", "startDate": "2020-01-01T00:00:00Z"}}]);
    let (status, answer) = server
        .admin(
            "POST",
            "/oem/v1/admin/entitlements",
            Some(&token),
            Some(body),
        )
        .await;
    assert_error(status, &answer, 400, 1011);
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/u1/assets",
            Some(&token),
            Some(serde_json::json!([["x"]])),
        )
        .await;
    assert_error(status, &answer, 400, 1011);
}
