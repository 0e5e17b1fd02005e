//! Two sees nodes in one process on one PostgreSQL database (each with its own ports, PKI and admin
//! listener; the same store and master key; the same ExpressPlay simulator), with their caches on:
//! what one node writes, the other decides on — playback sessions and their revocation,
//! entitlements, packages and the package graph, content keys, the concurrency limit and the device
//! limit — under both consistency modes; a node whose notification connection is killed answers
//! correctly meanwhile and caches again once subscribed. Skipped, with a notice, when
//! `SEES_TEST_DATABASE_URL` is not set (CI sets it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sees::admin::tokens::Role;
use sees::clock::SystemClock;
use sees::config::{Consistency, DecisionMode, Settings};
use sees::expressplay::sim::SimConfig;
use sees::ids::{AssetId, ContentId};
use sees::keys::KeyPolicy;
use sees::sees::ErrorCode;
use serde_json::{json, Value};

use crate::harness::{self, spawn_custom, TestServer};

/// How long a bounded node may take to apply a notification in these tests (the measured p99 is
/// milliseconds; see bench/RESULTS.md).
const BOUNDED_DELAY: Duration = Duration::from_secs(2);

/// Nodes A and B, and an admin token both accept.
struct Cluster {
    a: TestServer,
    b: TestServer,
    admin: String,
    url: String,
    consistency: Consistency,
}

/// Both nodes, bounded consistency (the default).
async fn cluster() -> Option<Cluster> {
    cluster_with(Consistency::Bounded).await
}

/// Both nodes: catalogue mode, caches on, `consistency`, one stream and one device per user, on a
/// fresh PostgreSQL database; both subscribed to the store's notifications before this returns.
async fn cluster_with(consistency: Consistency) -> Option<Cluster> {
    let Ok(server) = std::env::var("SEES_TEST_DATABASE_URL") else {
        println!("multi-node: skipped (SEES_TEST_DATABASE_URL not set)");
        return None;
    };
    let url = sees::store::fresh_postgres_database(&server)
        .await
        .expect("a PostgreSQL test database");
    let store_url = url.clone();
    let shared = move |s: &mut Settings| {
        s.decision.mode = DecisionMode::Catalog;
        s.decision.consistency = consistency;
        s.decision.heartbeat = Duration::from_millis(200);
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
    for node in [&a, &b] {
        wait_until("the node subscribes", || node.coherence.caching()).await;
    }
    let cluster = Cluster {
        a,
        b,
        admin,
        url: store_url,
        consistency,
    };
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

    /// `DELETE path` through `node` as admin; must answer 200.
    async fn delete(&self, node: &TestServer, path: &str) -> Value {
        self.call(node, "DELETE", path, Value::Null).await
    }

    /// Runs `sql` on the store directly, as no sees node would: no notification is sent.
    async fn behind_their_backs(&self, sql: &str) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// Asserts that `node` answers `expected` for `cookie` at once (strict) or within the bounded
    /// delay, and keeps answering it.
    async fn sees(&self, node: &TestServer, cookie: &str, expected: (bool, i64)) {
        let started = Instant::now();
        if self.consistency == Consistency::Bounded {
            while play(node, cookie, 1).await != expected && started.elapsed() < BOUNDED_DELAY {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        for _ in 0..3 {
            assert_eq!(
                play(node, cookie, 1).await,
                expected,
                "after {:?} ({:?})",
                started.elapsed(),
                self.consistency
            );
        }
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

/// Waits up to ten seconds for `condition`.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn denied(code: ErrorCode) -> (bool, i64) {
    (false, i64::from(code.number()))
}

const ALLOWED: (bool, i64) = (true, 0);

/// Sessions and entitlements written on one node decide on the other.
async fn sessions_and_entitlements_cross_nodes(c: Cluster) {
    c.entitle(&c.a, "u-1").await;
    // A session opened through A plays on B; revoked on B, it is refused on A.
    let cookie = c.session(&c.a, "u-1", Some("tv-1")).await;
    c.sees(&c.b, &cookie, ALLOWED).await;
    c.sees(&c.a, &cookie, ALLOWED).await;
    c.delete(&c.b, &format!("/oem/v1/admin/playback-sessions/{cookie}"))
        .await;
    c.sees(&c.a, &cookie, denied(ErrorCode::SessionExpired))
        .await;
    c.sees(&c.b, &cookie, denied(ErrorCode::SessionExpired))
        .await;
    // An entitlement deleted on A denies on B; granted again on B, it plays on A.
    let cookie = c.session(&c.b, "u-1", Some("tv-1")).await;
    c.sees(&c.a, &cookie, ALLOWED).await;
    c.sees(&c.b, &cookie, ALLOWED).await;
    c.delete(&c.a, "/oem/v1/admin/entitlements/u-1/pkg").await;
    c.sees(&c.b, &cookie, denied(ErrorCode::NotEntitled)).await;
    c.entitle(&c.b, "u-1").await;
    c.sees(&c.a, &cookie, ALLOWED).await;
    // Every session of the user revoked on A (the end-user route's bulk revoke): refused on B.
    c.delete(&c.a, "/oem/v1/admin/users/u-1/playback-sessions")
        .await;
    c.sees(&c.b, &cookie, denied(ErrorCode::SessionExpired))
        .await;
}

#[tokio::test]
async fn sessions_revocations_and_entitlements_written_on_one_node_decide_on_the_other() {
    let Some(c) = cluster().await else { return };
    sessions_and_entitlements_cross_nodes(c).await;
}

#[tokio::test]
async fn under_strict_consistency_the_other_node_decides_on_a_write_at_once() {
    let Some(c) = cluster_with(Consistency::Strict).await else {
        return;
    };
    sessions_and_entitlements_cross_nodes(c).await;
}

#[tokio::test]
async fn caches_are_on_and_only_what_a_node_is_told_moves_them() {
    let Some(c) = cluster().await else { return };
    c.entitle(&c.a, "u-4").await;
    let cookie = c.session(&c.a, "u-4", None).await;
    c.sees(&c.b, &cookie, ALLOWED).await;
    // Deleted behind the nodes' backs (no notification): B's cache still allows — the caches are
    // really on, so what keeps them right below is the notifications.
    c.behind_their_backs("DELETE FROM entitlements WHERE uid = 'u-4'")
        .await;
    assert_eq!(
        play(&c.b, &cookie, 1).await,
        ALLOWED,
        "B decides from its cache"
    );
    // Granted and revoked through A: B follows.
    c.entitle(&c.a, "u-4").await;
    c.delete(&c.a, "/oem/v1/admin/entitlements/u-4/pkg").await;
    c.sees(&c.b, &cookie, denied(ErrorCode::NotEntitled)).await;
    // A notification B cannot read drops every entry of B's (and of A's) and makes them subscribe
    // again: the stale allow below is gone.
    c.entitle(&c.a, "u-4").await;
    c.sees(&c.b, &cookie, ALLOWED).await;
    c.behind_their_backs("DELETE FROM entitlements WHERE uid = 'u-4'")
        .await;
    assert_eq!(play(&c.b, &cookie, 1).await, ALLOWED, "still cached");
    c.behind_their_backs("SELECT pg_notify('sees_cache', 'no generation, unknown scope')")
        .await;
    c.sees(&c.b, &cookie, denied(ErrorCode::NotEntitled)).await;
    wait_until("B subscribes again", || c.b.coherence.caching()).await;
    c.sees(&c.b, &cookie, denied(ErrorCode::NotEntitled)).await;
}

#[tokio::test]
async fn package_and_graph_edits_on_one_node_decide_on_the_other() {
    let Some(c) = cluster().await else { return };
    // u-5 is entitled to "root"; root → pkg (which holds asset-1) makes c-1 playable.
    c.call(
        &c.a,
        "POST",
        "/oem/v1/user/packages",
        json!({"package": {"id": "root", "name": "root", "description": "d", "assetIDs": [], "billingPlanIDs": ["plan"]}}),
    )
    .await;
    c.call(
        &c.a,
        "POST",
        "/oem/v1/admin/entitlements",
        json!({"entitlement": {"packageID": "root", "uid": "u-5", "startDate": "2020-01-01T00:00:00Z"}}),
    )
    .await;
    let cookie = c.session(&c.a, "u-5", None).await;
    c.sees(&c.b, &cookie, denied(ErrorCode::NotEntitled)).await;
    c.call(&c.a, "PUT", "/oem/v1/packages/root/child/pkg", Value::Null)
        .await;
    c.sees(&c.b, &cookie, ALLOWED).await;
    // The edge removed on B: refused on A (cached there a moment ago).
    c.sees(&c.a, &cookie, ALLOWED).await;
    c.delete(&c.b, "/oem/v1/packages/root/child/pkg").await;
    c.sees(&c.a, &cookie, denied(ErrorCode::NotEntitled)).await;
    // A direct entitlement to pkg, then the asset taken out of pkg on A: refused on B.
    c.entitle(&c.a, "u-5").await;
    c.sees(&c.b, &cookie, ALLOWED).await;
    c.call(
        &c.a,
        "PUT",
        "/oem/v1/user/packages/pkg",
        json!({"package": {"id": "pkg", "assetIDs": []}}),
    )
    .await;
    c.sees(&c.b, &cookie, denied(ErrorCode::NotEntitled)).await;
    // Made free (bypassEntitlementCheck) with the asset back, on B: a user with no entitlement at
    // all plays on A.
    c.call(
        &c.b,
        "PUT",
        "/oem/v1/user/packages/pkg",
        json!({"package": {"id": "pkg", "assetIDs": ["asset-1"], "bypassEntitlementCheck": true}}),
    )
    .await;
    let stranger = c.session(&c.b, "u-nobody", None).await;
    c.sees(&c.a, &stranger, ALLOWED).await;
}

#[tokio::test]
async fn a_content_key_deleted_or_replaced_on_one_node_is_not_served_by_the_other() {
    let Some(c) = cluster().await else { return };
    let c1 = ContentId::parse("c-1").unwrap();
    let policy = KeyPolicy {
        asset_id: Some(AssetId::parse("asset-1").unwrap()),
        ..KeyPolicy::default()
    };
    let original = c.b.keys.get(&c1).await.unwrap().expect("c-1 has a key");
    // Cached on B: a read is a hit (once the notification of the key's own insert has come by).
    let started = Instant::now();
    loop {
        let (hits, _) = c.b.keys.cache_stats();
        c.b.keys.get(&c1).await.unwrap();
        if c.b.keys.cache_stats().0 > hits {
            break;
        }
        assert!(started.elapsed() < BOUNDED_DELAY, "B never caches the key");
    }
    // Replaced by a third process (the `sees keys add --replace` path: its own store, no cache):
    // B serves the new material, not its cached one.
    let mut replaced = None;
    let started = Instant::now();
    let new_key = {
        let stores = sees::app::open_stores(&c.a.settings).await.unwrap();
        let key = sees::keys::ContentKey::new([0x5a; 16], [0xa5; 16]);
        stores
            .keys
            .put(
                sees::keys::NewContentKey {
                    content_id: c1.clone(),
                    key: key.clone(),
                    policy: policy.clone(),
                },
                true,
            )
            .await
            .unwrap();
        stores.store.close().await;
        key
    };
    assert_ne!(original.key, new_key);
    while started.elapsed() < BOUNDED_DELAY {
        let current = c.b.keys.get(&c1).await.unwrap().unwrap();
        if current.key == new_key {
            replaced = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        replaced.is_some(),
        "B still serves the old key after {BOUNDED_DELAY:?} (keys.cache_ttl_ms is {} ms)",
        c.b.settings.keys.cache_ttl.as_millis()
    );
    // Deleted through A's key store: B answers "no key" (2001), not a token.
    let entitled = c.session(&c.a, "u-6", None).await;
    c.entitle(&c.a, "u-6").await;
    c.sees(&c.b, &entitled, ALLOWED).await;
    assert!(c.a.keys.delete(&c1).await.unwrap());
    c.sees(&c.b, &entitled, denied(ErrorCode::UnknownContent))
        .await;
}

#[tokio::test]
async fn a_node_whose_notification_connection_dies_answers_correctly_and_caches_again() {
    let Some(c) = cluster().await else { return };
    c.entitle(&c.a, "u-7").await;
    let cookie = c.session(&c.a, "u-7", None).await;
    c.sees(&c.b, &cookie, ALLOWED).await;
    // Both listening connections killed, then a revocation on A while they are (or were) gone.
    c.behind_their_backs(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = '{}'",
        sees::store::subscriber::LISTENER_APPLICATION_NAME
    ))
    .await;
    c.delete(&c.a, "/oem/v1/admin/entitlements/u-7/pkg").await;
    c.sees(&c.b, &cookie, denied(ErrorCode::NotEntitled)).await;
    // Subscribed again, B caches again: a delete behind its back is not seen once it has cached.
    wait_until("B subscribes again", || c.b.coherence.caching()).await;
    c.entitle(&c.b, "u-7").await;
    c.sees(&c.b, &cookie, ALLOWED).await;
    c.behind_their_backs("DELETE FROM entitlements WHERE uid = 'u-7'")
        .await;
    assert_eq!(play(&c.b, &cookie, 1).await, ALLOWED, "B caches again");
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
    let freed = c.delete(&c.b, "/oem/v1/admin/users/u-2/streams").await;
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
    c.delete(&c.b, "/oem/v1/admin/users/u-3/devices/DEVICE-1")
        .await;
    c.delete(&c.b, "/oem/v1/admin/users/u-3/streams").await;
    assert_eq!(play(&c.a, &second, 3).await, ALLOWED);
    assert_eq!(play(&c.b, &first, 3).await, denied(ErrorCode::DeviceLimit));
    assert_eq!(play(&c.a, &first, 3).await, denied(ErrorCode::DeviceLimit));
}

/// Forwards every connection accepted on `listener` to `target` (a stand-in for a PostgreSQL server
/// that comes up late).
async fn forward(listener: tokio::net::TcpListener, target: std::net::SocketAddr) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_started_before_postgresql_is_up_starts_once_it_is() {
    let Ok(server) = std::env::var("SEES_TEST_DATABASE_URL") else {
        println!("multi-node: skipped (SEES_TEST_DATABASE_URL not set)");
        return;
    };
    let database = sees::store::fresh_postgres_database(&server).await.unwrap();
    let real = reqwest::Url::parse(&database).unwrap();
    let target: std::net::SocketAddr = format!(
        "{}:{}",
        real.host_str().unwrap(),
        real.port().unwrap_or(5432)
    )
    .parse()
    .unwrap();
    // A port nothing listens on yet: the node's "PostgreSQL server".
    let late_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut late = real.clone();
    late.set_port(Some(late_port)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let pki = sees::tls::dev_pki::DevPki::generate(&[]).unwrap();
    let sim = harness::start_simulator().await;
    let settings = harness::test_settings(dir.path(), &pki, &sim);
    let path = |p: &std::path::Path| p.display().to_string();
    let env = [
        ("SEES__SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ("SEES__ADMIN__LISTEN", "127.0.0.1:0".to_owned()),
        ("SEES__OPS__LISTEN", "127.0.0.1:0".to_owned()),
        ("SEES__TLS__CERT", path(&settings.tls.cert)),
        ("SEES__TLS__KEY", path(&settings.tls.key)),
        ("SEES__TLS__CLIENT_CA", path(&settings.tls.client_ca)),
        ("SEES__STORE__URL", late.to_string()),
        (
            "SEES__KEYS__MASTER_KEY_FILE",
            path(&settings.keys.master_key_file),
        ),
        (
            "SEES__EXPRESSPLAY__TOKEN_URL",
            settings.expressplay.token_url.clone(),
        ),
        (
            "SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR",
            harness::AUTHENTICATOR.to_owned(),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut node = harness::process::SeesProcess::start(dir.path(), &["serve"], &env);
    node.wait_for("the store cannot be reached");
    // The server comes up: the waiting node starts, subscribes and is ready, without a restart.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", late_port))
        .await
        .unwrap();
    tokio::spawn(forward(listener, target));
    let ops = node.addr("ops listener ready");
    node.wait_for("cache coherence: subscribed");
    let ready = reqwest::get(format!("http://{ops}/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200, "{}", node.log());
    assert!(node.terminate(), "drains and exits 0:\n{}", node.log());
}
