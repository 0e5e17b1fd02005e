//! Device registration (requestType 2) and device-bound tokens (requestType 3) end to end: sees over
//! real TLS, the simulator's token, redemption and record services, a real SQLite file.

use std::sync::Arc;

use chrono::Utc;
use sees::clock::{Clock, FixedClock, SystemClock};
use sees::expressplay::sim::{Behaviour, Fault, SimConfig};
use serde_json::{json, Value};

use crate::harness::{spawn, spawn_custom, spawn_with, TestServer};

const REGISTRATION: &str = "sees-device-registration";

fn typed(message_id: &str, request_type: u8, content_id: &str, cookie: &str) -> String {
    json!({"messageID": message_id, "version": 1, "requestType": request_type,
           "contentID": content_id, "customerCookie": cookie})
    .to_string()
}

/// Redeems `token_url` at the simulator as device `device`: the HTTP status.
async fn redeem(token_url: &str, device: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{token_url}&deviceId={device}"))
        .send()
        .await
        .expect("redemption request")
        .status()
        .as_u16()
}

/// Registers `cookie` and redeems the registration token on `device`.
async fn register(server: &TestServer, cookie: &str, device: &str) {
    let (status, answer) = server.post(typed("m-reg", 2, REGISTRATION, cookie)).await;
    assert_eq!(
        (status, answer["isAllowed"].clone()),
        (200, json!(true)),
        "{answer}"
    );
    let token_url = answer["epTokenURL"].as_str().unwrap();
    assert_eq!(redeem(token_url, device).await, 200);
}

async fn ready(server: &TestServer) {
    server.add_key(REGISTRATION).await;
    server.add_key("movie").await;
}

fn last_token_params(server: &TestServer) -> std::collections::BTreeMap<String, String> {
    server
        .sim
        .recent_requests()
        .into_iter()
        .rev()
        .find(|r| r.path.contains("/hms/fp/token"))
        .expect("a token request")
        .params
}

/// A device-bound token request (requestType 3) for `movie` with `cookie`: the answer.
async fn movie(server: &TestServer, cookie: &str) -> Value {
    let (_, answer) = server.post(typed("m", 3, "movie", cookie)).await;
    answer
}

/// Asks a device-bound token for `movie` with `cookie`: the device the token was asked for.
async fn device_bound_for(server: &TestServer, cookie: &str) -> String {
    server.post(typed("m", 3, "movie", cookie)).await;
    last_token_params(server)["deviceid"].clone()
}

#[tokio::test]
async fn registration_then_redemption_then_a_token_only_that_device_can_redeem() {
    let server = spawn().await;
    ready(&server).await;

    let (_, registration) = server.post(typed("m-1", 2, REGISTRATION, "viewer-1")).await;
    assert_eq!(registration["isAllowed"], true, "{registration}");
    assert_eq!(last_token_params(&server)["cookie"], "viewer-1");
    assert!(!last_token_params(&server).contains_key("deviceid"));
    assert_eq!(
        redeem(registration["epTokenURL"].as_str().unwrap(), "DEVICE-A").await,
        200
    );

    let (status, bound) = server.post(typed("m-2", 3, "movie", "viewer-1")).await;
    assert_eq!(
        (status, bound["isAllowed"].clone()),
        (200, json!(true)),
        "{bound}"
    );
    assert_eq!(bound["messageID"], "m-2");
    let params = last_token_params(&server);
    assert_eq!(params["cookie"], "viewer-1");
    assert_eq!(params["deviceid"], "DEVICE-A");
    assert_eq!(params["expirationTime"], "+600");

    let token_url = bound["epTokenURL"].as_str().unwrap();
    assert_eq!(
        redeem(token_url, "DEVICE-A").await,
        200,
        "the registered device plays"
    );
    assert_eq!(
        redeem(token_url, "DEVICE-B").await,
        403,
        "another device does not"
    );
}

#[tokio::test]
async fn no_device_several_devices_and_bad_device_ids_are_denied_and_not_cached() {
    let server = spawn().await;
    ready(&server).await;

    let answer = movie(&server, "never-registered").await;
    assert_eq!(answer["error"], 3101, "{answer}");

    server.sim.log_device("shared", "DEVICE-A");
    server.sim.log_device("shared", "DEVICE-B");
    let answer = movie(&server, "shared").await;
    assert_eq!(answer["error"], 3102, "{answer}");

    server.sim.log_device("odd", "not a device id!");
    let answer = movie(&server, "odd").await;
    assert_eq!(answer["error"], 3103, "{answer}");
    server.sim.clear_records();
    server.sim.log_device("odd", "DEVICE-C");
    let answer = movie(&server, "odd").await;
    assert_eq!(
        answer["isAllowed"], true,
        "nothing was cached from the bad answer: {answer}"
    );

    server.sim.set_record_behaviour(Behaviour {
        fault: Some(Fault::Malformed {
            status: 200,
            content_type: "application/json".into(),
            body: "{garbage".into(),
        }),
        ..Behaviour::default()
    });
    let answer = movie(&server, "fresh-cookie").await;
    assert_eq!(answer["error"], 4004, "{answer}");
    let answer = movie(&server, "odd").await;
    assert_eq!(
        answer["isAllowed"], true,
        "the learned binding needs no record call: {answer}"
    );
    let record_calls: Vec<_> = server
        .sim
        .recent_requests()
        .into_iter()
        .filter(|r| r.path.contains("cmiapi"))
        .collect();
    assert!(!record_calls.is_empty());
    assert!(
        record_calls
            .iter()
            .all(|r| !r.params.contains_key("contentKey")),
        "no key material goes to the record service"
    );
}

#[tokio::test]
async fn requests_that_cannot_be_served_say_why() {
    let server = spawn().await;
    ready(&server).await;
    for request_type in [2, 3] {
        let body = json!({"messageID": "m", "version": 1, "requestType": request_type, "contentID": "movie"});
        let (status, answer) = server.post(body.to_string()).await;
        assert_eq!(
            (status, answer["error"].as_i64()),
            (400, Some(1013)),
            "{answer}"
        );
    }
    let (_, answer) = server.post(typed("m", 2, "movie", "viewer")).await;
    assert_eq!(
        answer["error"], 2003,
        "movie is not a registration content: {answer}"
    );
    let (_, answer) = server.post(typed("m", 2, REGISTRATION, "has space")).await;
    assert_eq!(
        answer["error"], 4015,
        "ExpressPlay refuses the cookie (-2033): {answer}"
    );
    assert!(answer["errorText"].as_str().unwrap().contains("-2033"));
    assert!(!answer["errorText"].as_str().unwrap().contains("has space"));
}

#[tokio::test]
async fn an_account_without_device_binding_is_a_documented_denial() {
    let server = spawn_custom(
        SimConfig {
            device_binding: false,
            ..SimConfig::default()
        },
        Arc::new(SystemClock),
        |_| {},
    )
    .await;
    ready(&server).await;
    register(&server, "viewer", "DEVICE-A").await;
    let answer = movie(&server, "viewer").await;
    assert_eq!(answer["error"], 4017, "{answer}");
    assert_eq!(
        answer["epTokenURL"], "",
        "never a token without the binding"
    );
}

#[tokio::test]
async fn the_learned_binding_survives_a_restart() {
    let server = spawn().await;
    ready(&server).await;
    register(&server, "viewer", "DEVICE-A").await;
    let answer = movie(&server, "viewer").await;
    assert_eq!(answer["isAllowed"], true, "{answer}");

    let server = server.restart().await;
    server.sim.clear_records();
    server.sim.set_record_behaviour(Behaviour {
        fault: Some(Fault::Status { status: 503 }),
        ..Behaviour::default()
    });
    let answer = movie(&server, "viewer").await;
    assert_eq!(
        answer["isAllowed"], true,
        "served from the stored binding: {answer}"
    );
    assert_eq!(last_token_params(&server)["deviceid"], "DEVICE-A");
}

#[tokio::test]
async fn a_binding_is_asked_again_after_its_ttl_and_after_a_new_registration() {
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let server = spawn_custom(SimConfig::default(), clock.clone(), |s| {
        s.devices.binding_ttl = std::time::Duration::from_secs(3600)
    })
    .await;
    ready(&server).await;
    register(&server, "viewer", "DEVICE-A").await;
    let device = device_bound_for(&server, "viewer").await;
    assert_eq!(device, "DEVICE-A");

    server.sim.clear_records();
    server.sim.log_device("viewer", "DEVICE-B");
    clock.set(clock.now() + chrono::Duration::minutes(59));
    let device = device_bound_for(&server, "viewer").await;
    assert_eq!(device, "DEVICE-A", "still within the TTL");

    clock.set(clock.now() + chrono::Duration::minutes(2));
    let device = device_bound_for(&server, "viewer").await;
    assert_eq!(device, "DEVICE-B", "asked again after the TTL");

    server.sim.clear_records();
    register(&server, "viewer", "DEVICE-C").await;
    let answer = movie(&server, "viewer").await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
    assert_eq!(
        last_token_params(&server)["deviceid"],
        "DEVICE-C",
        "a registration forgets the old device"
    );
}

#[tokio::test]
async fn registration_content_is_configurable() {
    let server = spawn_with(|s| s.devices.registration_content_ids = vec!["reg-2".into()]).await;
    server.add_key("reg-2").await;
    server.add_key(REGISTRATION).await;
    let (_, answer) = server.post(typed("m", 2, "reg-2", "viewer")).await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
    let (_, answer) = server.post(typed("m", 2, REGISTRATION, "viewer")).await;
    assert_eq!(answer["error"], 2003, "{answer}");
}
