//! Two sees nodes in one process on one PostgreSQL database (each with its own ports, PKI and admin
//! listener; the same store and master key; the same ExpressPlay simulator): what one node writes,
//! the other decides on at once — playback sessions and their revocation, entitlements, the
//! concurrency limit and the device limit. Skipped, with a notice, when `SEES_TEST_DATABASE_URL` is
//! not set (CI sets it).

mod common;

use std::sync::Arc;

use common::{spawn_custom, TestServer};
use sees::admin::tokens::Role;
use sees::clock::SystemClock;
use sees::config::{DecisionMode, Settings};
use sees::expressplay::sim::SimConfig;
use sees::ids::AssetId;
use sees::keys::KeyPolicy;
use sees::sees::ErrorCode;
use serde_json::{json, Value};

/// Nodes A and B, and an admin token both accept.
struct Cluster {
    a: TestServer,
    b: TestServer,
    admin: String,
}

/// Both nodes: catalogue mode, one stream and one device per user, on a fresh PostgreSQL database.
async fn cluster() -> Option<Cluster> {
    let Ok(server) = std::env::var("SEES_TEST_DATABASE_URL") else {
        println!("multi-node: skipped (SEES_TEST_DATABASE_URL not set)");
        return None;
    };
    let url = sees::store::fresh_postgres_database(&server)
        .await
        .expect("a PostgreSQL test database");
    let shared = move |s: &mut Settings| {
        s.decision.mode = DecisionMode::Catalog;
        s.store.url = url.clone();
        s.concurrency.default_limit = 1;
        s.devices.max_per_user = 1;
    };
    let shared_b = shared.clone();
    let a = spawn_custom(SimConfig::default(), Arc::new(SystemClock), shared).await;
    let (master, token_url, record_url) = (
        a.settings.keys.master_key_file.clone(),
        a.settings.expressplay.token_url.clone(),
        a.settings.expressplay.record_url.clone(),
    );
    let b = spawn_custom(SimConfig::default(), Arc::new(SystemClock), move |s| {
        shared_b(s);
        s.keys.master_key_file = master;
        s.expressplay.token_url = token_url;
        s.expressplay.record_url = record_url;
    })
    .await;
    assert_eq!(a.settings.store.url, b.settings.store.url);
    assert_ne!(a.addr, b.addr);
    let admin = a.admin_token(Role::Admin).await;
    let cluster = Cluster { a, b, admin };
    cluster
        .call(
            &cluster.a,
            "POST",
            "/oem/v1/user/packages",
            json!({"package": {"id": "pkg", "name": "pkg", "description": "d", "assetIDs": ["asset-1"], "billingPlanIDs": ["plan"]}}),
        )
        .await;
    cluster
        .a
        .add_key_with(
            "c-1",
            KeyPolicy {
                asset_id: Some(AssetId::parse("asset-1").unwrap()),
                ..KeyPolicy::default()
            },
        )
        .await;
    Some(cluster)
}

impl Cluster {
    /// An admin call on `node` that must succeed; its answer.
    async fn call(&self, node: &TestServer, method: &str, path: &str, body: Value) -> Value {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = node.admin(method, path, Some(&self.admin), body).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    async fn entitle(&self, node: &TestServer, uid: &str) {
        self.call(
            node,
            "POST",
            "/oem/v1/admin/entitlements",
            json!({"entitlement": {"packageID": "pkg", "uid": uid, "startDate": "2020-01-01T00:00:00Z"}}),
        )
        .await;
    }

    /// A playback session opened through `node`'s admin API; its cookie.
    async fn session(&self, node: &TestServer, uid: &str, device: Option<&str>) -> String {
        let mut body = json!({"uid": uid});
        if let Some(device) = device {
            body["deviceID"] = json!(device);
        }
        let answer = self
            .call(node, "POST", "/oem/v1/admin/playback-sessions", body)
            .await;
        answer["customerCookie"].as_str().unwrap().to_owned()
    }
}

/// The SEES answer of `node` for c-1 with `cookie` and `request_type`: (allowed, error number).
async fn play(node: &TestServer, cookie: &str, request_type: u8) -> (bool, i64) {
    let body = json!({"messageID": "m", "version": 1, "requestType": request_type,
                      "contentID": "c-1", "customerCookie": cookie});
    let (status, answer) = node.post(body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    (
        answer["isAllowed"].as_bool().unwrap(),
        answer["error"].as_i64().unwrap_or(0),
    )
}

fn denied(code: ErrorCode) -> (bool, i64) {
    (false, i64::from(code.number()))
}

const ALLOWED: (bool, i64) = (true, 0);

#[tokio::test]
async fn sessions_revocations_and_entitlements_written_on_one_node_decide_on_the_other() {
    let Some(c) = cluster().await else { return };
    c.entitle(&c.a, "u-1").await;
    // A session opened through A plays on B at once; revoked on B, it is refused on A at once.
    let cookie = c.session(&c.a, "u-1", Some("tv-1")).await;
    assert_eq!(play(&c.b, &cookie, 1).await, ALLOWED);
    assert_eq!(play(&c.a, &cookie, 1).await, ALLOWED);
    c.call(
        &c.b,
        "DELETE",
        &format!("/oem/v1/admin/playback-sessions/{cookie}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        play(&c.a, &cookie, 1).await,
        denied(ErrorCode::SessionExpired)
    );
    assert_eq!(
        play(&c.b, &cookie, 1).await,
        denied(ErrorCode::SessionExpired)
    );
    // An entitlement deleted on A denies on B at once; granted again on B, it plays on A.
    let cookie = c.session(&c.b, "u-1", Some("tv-1")).await;
    assert_eq!(play(&c.a, &cookie, 1).await, ALLOWED);
    c.call(
        &c.a,
        "DELETE",
        "/oem/v1/admin/entitlements/u-1/pkg",
        Value::Null,
    )
    .await;
    assert_eq!(play(&c.b, &cookie, 1).await, denied(ErrorCode::NotEntitled));
    c.entitle(&c.b, "u-1").await;
    assert_eq!(play(&c.a, &cookie, 1).await, ALLOWED);
}

#[tokio::test]
async fn a_concurrency_limit_of_one_holds_across_nodes() {
    let Some(c) = cluster().await else { return };
    c.entitle(&c.a, "u-2").await;
    let tv = c.session(&c.a, "u-2", Some("tv-1")).await;
    let phone = c.session(&c.b, "u-2", Some("phone-1")).await;
    // A stream on A blocks a second device on B; the first device keeps playing on either node.
    assert_eq!(play(&c.a, &tv, 1).await, ALLOWED);
    assert_eq!(
        play(&c.b, &phone, 1).await,
        denied(ErrorCode::ConcurrencyLimit)
    );
    assert_eq!(play(&c.b, &tv, 1).await, ALLOWED);
    // Freed through B, the slot is A's to give to the other device; then the first one waits.
    let freed = c
        .call(
            &c.b,
            "DELETE",
            "/oem/v1/admin/users/u-2/streams",
            Value::Null,
        )
        .await;
    assert_eq!(freed["freed"], 1, "{freed}");
    assert_eq!(play(&c.a, &phone, 1).await, ALLOWED);
    assert_eq!(
        play(&c.b, &tv, 1).await,
        denied(ErrorCode::ConcurrencyLimit)
    );
    assert_eq!(
        play(&c.a, &tv, 1).await,
        denied(ErrorCode::ConcurrencyLimit)
    );
}

#[tokio::test]
async fn a_device_limit_of_one_holds_across_nodes() {
    let Some(c) = cluster().await else { return };
    c.entitle(&c.a, "u-3").await;
    let first = c.session(&c.a, "u-3", None).await;
    let second = c.session(&c.b, "u-3", None).await;
    c.a.sim.log_device(&first, "DEVICE-1");
    c.a.sim.log_device(&second, "DEVICE-2");
    // Device-bound playback: DEVICE-1 through A takes the user's only device slot; DEVICE-2 through
    // B is refused.
    assert_eq!(play(&c.a, &first, 3).await, ALLOWED);
    assert_eq!(play(&c.b, &second, 3).await, denied(ErrorCode::DeviceLimit));
    // Support removes DEVICE-1 (and its stream) through B; DEVICE-2 then plays through A, and
    // DEVICE-1 is the one refused, on either node.
    c.call(
        &c.b,
        "DELETE",
        "/oem/v1/admin/users/u-3/devices/DEVICE-1",
        Value::Null,
    )
    .await;
    c.call(
        &c.b,
        "DELETE",
        "/oem/v1/admin/users/u-3/streams",
        Value::Null,
    )
    .await;
    assert_eq!(play(&c.a, &second, 3).await, ALLOWED);
    assert_eq!(play(&c.b, &first, 3).await, denied(ErrorCode::DeviceLimit));
    assert_eq!(play(&c.a, &first, 3).await, denied(ErrorCode::DeviceLimit));
}
