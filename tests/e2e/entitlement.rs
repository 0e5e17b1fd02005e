//! The SEES endpoint end to end: real TLS, a real SQLite file, the ExpressPlay simulator upstream.

use sees::config::UpstreamMethod;
use sees::expressplay::sim::{Behaviour, ForcedError};
use sees::expressplay::TokenLifetime;
use sees::keys::KeyPolicy;
use serde_json::{json, Value};

use crate::harness::{self, request, spawn, spawn_with};

fn response_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(sees::sees::wire::RESPONSE_SCHEMA).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[tokio::test]
async fn allowed_answer_echoes_the_message_id_and_sends_the_documented_parameters() {
    let server = spawn().await;
    let key = server.add_key("6f1c2b9e-4d0a-4c47-9a57-0c1e8d2f7b31").await;
    let message_id = "a7d0f6e2-1b6c-4c7e-8f0a-5a9d1e2b3c4d";

    let (status, answer) = server
        .post(request(message_id, "6f1c2b9e-4d0a-4c47-9a57-0c1e8d2f7b31"))
        .await;

    assert_eq!(status, 200, "{answer}");
    assert!(response_validator().is_valid(&answer), "{answer}");
    assert_eq!(answer["messageID"], message_id);
    assert_eq!(answer["version"], 1);
    assert_eq!(answer["isAllowed"], true);
    let token_url = answer["epTokenURL"].as_str().unwrap();
    assert!(
        token_url.starts_with(&format!(
            "http://{}/hms/fp/rights/?ExpressPlayToken=",
            server.sim.addr()
        )),
        "{token_url}"
    );
    assert!(answer.get("error").is_none());

    let sent = server
        .sim
        .recent_requests()
        .pop()
        .expect("the simulator saw the token request");
    assert_eq!(sent.status, 200);
    assert_eq!(sent.method, "GET");
    assert_eq!(sent.params["customerAuthenticator"], harness::AUTHENTICATOR);
    assert_eq!(sent.params["errorFormat"], "json");
    assert_eq!(sent.params["contentKey"], *key.cek_hex());
    assert_eq!(sent.params["iv"], *key.iv_hex());
    assert_eq!(sent.params["rentalDuration"], "0");
    assert_eq!(sent.params["expirationTime"], "+600");
    assert!(
        sent.raw_query.contains("expirationTime=%2B600"),
        "{}",
        sent.raw_query
    );
    assert!(!sent.params.contains_key("cookie"));
}

#[tokio::test]
async fn the_reference_servlet_path_and_bees_style_versions_are_answered() {
    let server = spawn().await;
    server.add_key("c-1").await;

    let (status, answer) = server
        .post_to(
            "/sees/SEESServlet",
            json!({"messageID": "m-servlet", "version": "1", "contentID": "c-1"}).to_string(),
        )
        .await;
    assert_eq!(
        (status, answer["isAllowed"].clone()),
        (200, json!(true)),
        "{answer}"
    );
    assert_eq!(answer["messageID"], "m-servlet");

    let (_, newer) = server
        .post(
            json!({"messageID": "m-v2", "version": 2, "requestType": 1, "contentID": "c-1"})
                .to_string(),
        )
        .await;
    assert_eq!(newer["version"], 1, "never above what we speak");
    assert_eq!(newer["isAllowed"], true);
}

#[tokio::test]
async fn the_customer_cookie_travels_to_expressplay() {
    let server = spawn().await;
    server.add_key("c-1").await;
    let (_, answer) = server
        .post(json!({"messageID": "m", "version": 1, "contentID": "c-1", "customerCookie": "viewer+42&x=y"}).to_string())
        .await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
    let sent = server.sim.recent_requests().pop().unwrap();
    assert_eq!(
        sent.params["cookie"], "viewer+42&x=y",
        "decoded exactly as sent"
    );
    assert!(
        sent.raw_query.contains("cookie=viewer%2B42%26x%3Dy"),
        "{}",
        sent.raw_query
    );
}

#[tokio::test]
async fn every_validation_rule_answers_in_the_protocol_shape_and_the_server_keeps_serving() {
    let server = spawn().await;
    server.add_key("c-1").await;
    let long_cookie = "c".repeat(33);
    let cases: Vec<(String, u16, i64)> = vec![
        ("{not json".to_owned(), 400, 1001),
        ("".to_owned(), 400, 1001),
        ("[]".to_owned(), 400, 1002),
        (json!({"messageID": "m", "contentID": "c-1"}).to_string(), 400, 1002),
        (json!({"messageID": "m", "version": 1}).to_string(), 400, 1002),
        (json!({"version": 1, "contentID": "c-1"}).to_string(), 400, 1002),
        (json!({"messageID": "m", "version": [1], "contentID": "c-1"}).to_string(), 400, 1002),
        (json!({"messageID": "m", "version": "abc", "contentID": "c-1"}).to_string(), 400, 1002),
        (json!({"messageID": "m", "version": 1, "contentID": "c-1", "requestType": "x"}).to_string(), 400, 1002),
        (json!({"messageID": "", "version": 1, "contentID": "c-1"}).to_string(), 400, 1003),
        (json!({"messageID": "m\u{0}", "version": 1, "contentID": "c-1"}).to_string(), 400, 1003),
        (json!({"messageID": "m", "version": 0, "contentID": "c-1"}).to_string(), 400, 1004),
        (json!({"messageID": "m", "version": 1, "contentID": "c-1", "requestType": 4}).to_string(), 400, 1005),
        (json!({"messageID": "m", "version": 1, "contentID": "c\u{0}1"}).to_string(), 400, 1006),
        (json!({"messageID": "m", "version": 1, "contentID": "c\u{1b}[31m"}).to_string(), 400, 1006),
        (json!({"messageID": "m", "version": 1, "contentID": "x".repeat(300)}).to_string(), 400, 1006),
        (json!({"messageID": "m", "version": 1, "contentID": "c-1", "customerCookie": long_cookie}).to_string(), 400, 1007),
        (json!({"messageID": "m", "version": 1, "contentID": "c-1", "requestType": 2}).to_string(), 400, 1013),
    ];
    let validator = response_validator();
    for (body, status, error) in &cases {
        let (got_status, answer) = server.post(body.clone()).await;
        assert_eq!(
            (got_status, answer["error"].as_i64()),
            (*status, Some(*error)),
            "{body} → {answer}"
        );
        assert_eq!(answer["isAllowed"], false);
        assert_eq!(answer["epTokenURL"], "");
        assert!(validator.is_valid(&answer), "{answer}");
        assert!(answer["errorText"].as_str().is_some_and(|t| !t.is_empty()));
        if body.contains(r#""messageID":"m""#) {
            assert_eq!(answer["messageID"], "m", "{body}");
        }
        assert!(
            !answer.to_string().contains(&"c".repeat(33)),
            "the cookie is not echoed"
        );
    }
    let (status, answer) = server.post(request("after", "c-1")).await;
    assert_eq!((status, answer["isAllowed"].clone()), (200, json!(true)));
    assert_eq!(
        server.sim.recent_requests().len(),
        1,
        "no refused request reached ExpressPlay"
    );
}

#[tokio::test]
async fn oversized_bodies_unknown_paths_and_wrong_methods() {
    let server = spawn().await;
    let padding = "x".repeat(server.settings.server.max_body_bytes);
    let (status, answer) = server
        .post(json!({"messageID": "m", "version": 1, "contentID": "c", "pad": padding}).to_string())
        .await;
    assert_eq!(
        (status, answer["error"].as_i64()),
        (413, Some(1008)),
        "{answer}"
    );

    let (status, answer) = server.post_to("/elsewhere", request("m", "c")).await;
    assert_eq!((status, answer["error"].as_i64()), (404, Some(1009)));

    let response = server
        .client()
        .get(server.url("/sees/v1/entitlement"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], 1010);
}

#[tokio::test]
async fn unknown_content_is_denied_without_calling_expressplay() {
    let server = spawn().await;
    let (status, answer) = server.post(request("m-unknown", "no-such-content")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["isAllowed"], false);
    assert_eq!(answer["error"], 2001);
    assert_eq!(answer["messageID"], "m-unknown");
    assert!(server.sim.recent_requests().is_empty());
}

/// A key policy for no particular asset: its token lifetime and rental duration.
fn policy(token_lifetime: Option<TokenLifetime>, rental_duration_s: Option<u32>) -> KeyPolicy {
    KeyPolicy {
        asset_id: None,
        token_lifetime,
        rental_duration_s,
        ..KeyPolicy::default()
    }
}

#[tokio::test]
async fn per_content_lifetime_and_rental_override_the_defaults() {
    let server = spawn_with(|s| {
        s.expressplay.token_lifetime = TokenLifetime::Relative(900);
        s.expressplay.rental_duration_s = 60;
    })
    .await;
    server.add_key("default").await;
    server
        .add_key_with(
            "override",
            policy(Some(TokenLifetime::Relative(120)), Some(7200)),
        )
        .await;
    let far_future = "2100-01-01T00:00:00Z".parse().unwrap();
    server
        .add_key_with("absolute", policy(Some(far_future), None))
        .await;
    let past = "2001-01-01T00:00:00Z".parse().unwrap();
    server
        .add_key_with("expired", policy(Some(past), None))
        .await;

    for (content, lifetime, rental) in [("default", "+900", "60"), ("override", "+120", "7200")] {
        let (_, answer) = server.post(request("m", content)).await;
        assert_eq!(answer["isAllowed"], true, "{answer}");
        let sent = server.sim.recent_requests().pop().unwrap();
        assert_eq!(
            (
                sent.params["expirationTime"].as_str(),
                sent.params["rentalDuration"].as_str()
            ),
            (lifetime, rental)
        );
    }

    let (_, answer) = server.post(request("m", "absolute")).await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
    let sent = server.sim.recent_requests().pop().unwrap();
    let capped = chrono::DateTime::parse_from_rfc3339(&sent.params["expirationTime"]).unwrap();
    let thirty_days = chrono::Utc::now() + chrono::Duration::days(30);
    assert!(
        (capped.timestamp() - thirty_days.timestamp()).abs() < 60,
        "capped at 30 days: {capped}"
    );

    let (status, answer) = server.post(request("m", "expired")).await;
    assert_eq!(
        (status, answer["error"].as_i64()),
        (200, Some(2002)),
        "{answer}"
    );
}

#[tokio::test]
async fn post_method_sends_the_parameters_as_a_form() {
    let server = spawn_with(|s| s.expressplay.method = UpstreamMethod::Post).await;
    let key = server.add_key("c-1").await;
    let (_, answer) = server.post(request("m", "c-1")).await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
    let sent = server.sim.recent_requests().pop().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.params["contentKey"], *key.cek_hex());
    assert_eq!(sent.params["expirationTime"], "+600");
}

#[tokio::test]
async fn an_authenticator_expressplay_refuses_is_a_denial_carrying_its_code() {
    let server = spawn_with(|s| {
        s.expressplay.customer_authenticator =
            "99,ffffffffffffffffffffffffffffffff".to_owned().into();
    })
    .await;
    server.add_key("c-1").await;
    let (status, answer) = server.post(request("m-auth", "c-1")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["isAllowed"], false);
    assert_eq!(answer["error"], 4012, "-2018 is the authenticator refusal");
    let text = answer["errorText"].as_str().unwrap();
    assert!(text.contains("-2018"), "{text}");
    assert!(!text.contains("ffffffffffffffff"), "{text}");
    assert_eq!(answer["epTokenURL"], "");
}

#[tokio::test]
async fn upstream_html_errors_and_non_token_bodies_are_denials() {
    let server = spawn().await;
    let key = server.add_key("c-1").await;

    server.sim.set_behaviour(Behaviour {
        force_error: Some(ForcedError {
            status: 503,
            code: -2030,
            text: "Admin error".to_owned(),
        }),
        force_html: true,
        ..Behaviour::default()
    });
    let (_, answer) = server.post(request("m-html", "c-1")).await;
    assert_eq!(
        answer["error"], 4014,
        "-2030 is an account problem: {answer}"
    );
    let text = answer["errorText"].as_str().unwrap();
    assert!(
        text.contains("-2030") && text.contains("Admin error") && text.contains("503"),
        "{text}"
    );
    assert!(!text.contains(key.cek_hex().as_str()));

    server.sim.set_behaviour(Behaviour {
        force_error: Some(ForcedError {
            status: 200,
            code: -1,
            text: "not a token".to_owned(),
        }),
        ..Behaviour::default()
    });
    let (_, answer) = server.post(request("m-bad", "c-1")).await;
    assert_eq!(answer["error"], 4004, "{answer}");
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn() {
    let server = spawn().await;
    server.add_key("c-1").await;
    let client = harness::client_with(harness::tls_client_config(
        &server.pki,
        Some(harness::ClientCert::Dev),
        &[b"h2"],
    ));
    let response = client
        .post(server.url("/sees/v1/entitlement"))
        .body(request("m-h2", "c-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["isAllowed"], true);
}

#[tokio::test]
async fn concurrent_requests_on_one_keep_alive_client() {
    let server = spawn().await;
    server.add_key("c-1").await;
    let client = server.client();
    let url = server.url("/sees/v1/entitlement");
    let answers = futures_util::future::join_all((0..50).map(|i| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let answer = harness::post_json(&client, &url, request(&format!("m-{i}"), "c-1")).await;
            (i, answer)
        }
    }))
    .await;
    for (i, answer) in answers {
        assert_eq!(answer["messageID"], format!("m-{i}"));
        assert_eq!(answer["isAllowed"], true);
    }
}

#[tokio::test]
async fn start_up_refuses_a_missing_or_wrong_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = sees::tls::dev_pki::DevPki::generate(&[]).unwrap();
    let sim = harness::start_simulator().await;
    let settings = harness::test_settings(dir.path(), &pki, &sim);
    let app = sees::app::Application::build(&settings).await.unwrap();
    drop(app);

    let master = &settings.keys.master_key_file;
    std::fs::remove_file(master).unwrap();
    let missing = sees::app::Application::build(&settings)
        .await
        .err()
        .unwrap();
    assert!(missing.to_string().contains("no master key"), "{missing}");

    sees::keys::MasterKey::generate_file(master).unwrap();
    let wrong = sees::app::Application::build(&settings)
        .await
        .err()
        .unwrap();
    assert!(
        wrong.to_string().contains("master key does not open"),
        "{wrong}"
    );
}
