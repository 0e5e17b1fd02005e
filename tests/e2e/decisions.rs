//! Decisions from the catalogue, end to end through real TLS: free packages, playback sessions,
//! entitlement windows, the package graph, regions, direct asset grants — and the explanation routes
//! answer exactly what the SEES endpoint decides.

use chrono::Utc;
use sees::admin::tokens::Role;
use sees::clock::Clock;
use sees::config::DecisionMode;
use sees::keys::KeyPolicy;
use serde_json::{json, Value};

use crate::harness::{self, AdminWorld};

harness::admin_area!(
    /// The admin world in catalogue mode, its clock at the time the test started.
    World
);

async fn world() -> World {
    World(
        AdminWorld::start_with(Utc::now(), |s| {
            s.decision.mode = DecisionMode::Catalog;
            s.decision.clock_skew = std::time::Duration::from_secs(60);
        })
        .await,
    )
}

impl World {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self
            .server
            .admin(method, path, Some(&self.admin), body)
            .await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    async fn package(&self, id: &str, assets: &[&str], extra: Value) {
        let mut package = json!({"id": id, "name": id, "description": "test", "assetIDs": assets, "billingPlanIDs": ["plan"]});
        package
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.call(
            "POST",
            "/oem/v1/user/packages",
            Some(json!({"package": package})),
        )
        .await;
    }

    async fn grant(
        &self,
        uid: &str,
        package: &str,
        start: chrono::DateTime<Utc>,
        end: Option<chrono::DateTime<Utc>>,
    ) {
        let mut entitlement =
            json!({"packageID": package, "uid": uid, "startDate": start.to_rfc3339()});
        if let Some(end) = end {
            entitlement["endDate"] = json!(end.to_rfc3339());
        }
        self.call(
            "POST",
            "/oem/v1/admin/entitlements",
            Some(json!({"entitlement": entitlement})),
        )
        .await;
    }

    /// The SEES answer for `content` with `cookie`.
    async fn play(&self, content: &str, cookie: Option<&str>) -> Value {
        let mut body = json!({"messageID": "m", "version": 1, "contentID": content});
        if let Some(cookie) = cookie {
            body["customerCookie"] = json!(cookie);
        }
        let (status, answer) = self.server.post(body.to_string()).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// The explanation for `uid` and `asset`.
    async fn explain(&self, uid: &str, asset: &str, country: Option<&str>) -> Value {
        let query = country.map(|c| format!("?country={c}")).unwrap_or_default();
        self.call(
            "GET",
            &format!("/oem/v1/admin/entitlements/{uid}/asset/{asset}/details{query}"),
            None,
        )
        .await
    }
}

fn error(answer: &Value) -> Option<i64> {
    answer["error"].as_i64()
}

#[tokio::test]
async fn free_packages_need_no_session_and_everything_else_needs_one() {
    let w = world().await;
    w.server.add_key("free-movie").await;
    w.server.add_key("paid-movie").await;
    w.package(
        "free",
        &["free-movie"],
        json!({"bypassEntitlementCheck": true}),
    )
    .await;
    w.package("gold", &["paid-movie"], json!({})).await;

    assert_eq!(w.play("free-movie", None).await["isAllowed"], true);
    assert_eq!(error(&w.play("paid-movie", None).await), Some(3005));
    assert_eq!(
        error(
            &w.play("paid-movie", Some("NotASessionCookieAtAll123456789"))
                .await
        ),
        Some(3006)
    );
    let cookie = w.session("alice", None).await;
    let answer = w.play("paid-movie", Some(&cookie)).await;
    assert_eq!(error(&answer), Some(3001), "{answer}");
    assert!(
        answer["errorText"].as_str().unwrap().contains("alice"),
        "{answer}"
    );
    assert_eq!(
        error(&w.play("unknown-content", Some(&cookie)).await),
        Some(2001)
    );
}

#[tokio::test]
async fn entitlement_windows_with_the_skew_tolerance() {
    let w = world().await;
    w.server.add_key("movie").await;
    w.package("gold", &["movie"], json!({})).await;
    let now = w.clock.now();
    w.grant(
        "alice",
        "gold",
        now - chrono::Duration::days(10),
        Some(now + chrono::Duration::days(10)),
    )
    .await;
    w.grant(
        "bob",
        "gold",
        now - chrono::Duration::days(10),
        Some(now - chrono::Duration::days(1)),
    )
    .await;
    w.grant("carol", "gold", now + chrono::Duration::days(1), None)
        .await;
    w.grant("dave", "gold", now + chrono::Duration::seconds(30), None)
        .await;
    w.grant(
        "erin",
        "gold",
        now - chrono::Duration::days(1),
        Some(now - chrono::Duration::seconds(30)),
    )
    .await;

    for (uid, expected) in [
        ("alice", None),
        ("bob", Some(3002)),
        ("carol", Some(3003)),
        ("dave", None),
        ("erin", None),
    ] {
        let cookie = w.session(uid, None).await;
        let answer = w.play("movie", Some(&cookie)).await;
        assert_eq!(error(&answer), expected, "{uid}: {answer}");
    }
}

#[tokio::test]
async fn an_entitlement_to_a_parent_covers_the_child_and_the_trail_says_how() {
    let w = world().await;
    w.server.add_key("match-1").await;
    w.package("season", &[], json!({})).await;
    w.package("league", &[], json!({})).await;
    w.package("matchday", &["match-1"], json!({})).await;
    w.call("PUT", "/oem/v1/packages/season/child/league", None)
        .await;
    w.call("PUT", "/oem/v1/packages/league/child/matchday", None)
        .await;
    w.grant(
        "alice",
        "season",
        w.clock.now() - chrono::Duration::days(1),
        None,
    )
    .await;

    let cookie = w.session("alice", None).await;
    assert_eq!(w.play("match-1", Some(&cookie)).await["isAllowed"], true);
    let explained = w.explain("alice", "match-1", None).await;
    assert_eq!(explained["entitled"], true, "{explained}");
    assert_eq!(explained["path"], json!(["season", "league", "matchday"]));

    w.call("DELETE", "/oem/v1/packages/league/child/matchday", None)
        .await;
    assert_eq!(
        error(&w.play("match-1", Some(&cookie)).await),
        Some(3001),
        "the edge is gone at once"
    );
}

#[tokio::test]
async fn region_whitelists_admit_only_their_countries() {
    let w = world().await;
    w.server.add_key("movie").await;
    w.package("eu", &["movie"], json!({"regionWhitelist": ["SE", "DE"]}))
        .await;
    w.grant(
        "alice",
        "eu",
        w.clock.now() - chrono::Duration::days(1),
        None,
    )
    .await;

    let in_sweden = w.session("alice", Some("se")).await;
    assert_eq!(w.play("movie", Some(&in_sweden)).await["isAllowed"], true);
    let in_us = w.session("alice", Some("US")).await;
    let answer = w.play("movie", Some(&in_us)).await;
    assert_eq!(error(&answer), Some(3004), "{answer}");
    let nowhere = w.session("alice", None).await;
    assert_eq!(
        error(&w.play("movie", Some(&nowhere)).await),
        Some(3004),
        "unknown country fails closed"
    );
}

#[tokio::test]
async fn sessions_expire_and_are_revoked_at_once() {
    let w = world().await;
    w.server.add_key("movie").await;
    w.package("free", &["other"], json!({"bypassEntitlementCheck": true}))
        .await;
    w.package("gold", &["movie"], json!({})).await;
    w.grant(
        "alice",
        "gold",
        w.clock.now() - chrono::Duration::days(1),
        None,
    )
    .await;
    let cookie = w.session("alice", None).await;
    assert_eq!(w.play("movie", Some(&cookie)).await["isAllowed"], true);

    w.clock.set(w.clock.now() + chrono::Duration::hours(2));
    assert_eq!(
        error(&w.play("movie", Some(&cookie)).await),
        Some(3007),
        "expired after its 1 h TTL"
    );

    let cookie = w.session("alice", None).await;
    assert_eq!(w.play("movie", Some(&cookie)).await["isAllowed"], true);
    // Through the server (its session cache is on, as on every SQLite store).
    w.call(
        "DELETE",
        "/oem/v1/admin/users/alice/playback-sessions",
        None,
    )
    .await;
    assert_eq!(
        error(&w.play("movie", Some(&cookie)).await),
        Some(3007),
        "revoked at once"
    );
}

#[tokio::test]
async fn direct_asset_grants_and_content_to_asset_mapping() {
    let w = world().await;
    w.server
        .add_key_with(
            "content-42",
            KeyPolicy {
                asset_id: Some(sees::ids::AssetId::parse("asset-42").unwrap()),
                ..KeyPolicy::default()
            },
        )
        .await;
    let cookie = w.session("alice", None).await;
    assert_eq!(
        error(&w.play("content-42", Some(&cookie)).await),
        Some(3001)
    );
    w.call(
        "PUT",
        "/oem/v1/admin/entitlements/alice/assets",
        Some(json!({"assetIDs": ["asset-42"]})),
    )
    .await;
    assert_eq!(
        w.play("content-42", Some(&cookie)).await["isAllowed"],
        true,
        "the key protects asset-42"
    );
}

#[tokio::test]
async fn registration_needs_a_live_session_in_catalogue_mode() {
    let w = world().await;
    w.server.add_key("sees-device-registration").await;
    let body = |cookie: &str| {
        json!({"messageID": "r", "version": 1, "requestType": 2, "contentID": "sees-device-registration", "customerCookie": cookie})
            .to_string()
    };
    let (_, answer) = w.server.post(body("NotASessionCookieAtAll123456789")).await;
    assert_eq!(error(&answer), Some(3006), "{answer}");
    let cookie = w.session("alice", None).await;
    let (_, answer) = w.server.post(body(&cookie)).await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
}

/// A small xorshift generator: the randomized catalogues are reproducible from their seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test]
async fn the_explanation_always_agrees_with_the_sees_decision_on_random_catalogues() {
    for seed in [0x5EE5_2026, 7, 0xC0FFEE] {
        agree_on_a_random_catalogue(seed).await;
    }
}

/// One randomized catalogue (packages, assets, regions, a free package, graph edges, live and expired
/// entitlements); every (user, country, asset) is asked through SEES and through the explanation route.
async fn agree_on_a_random_catalogue(seed: u64) {
    let w = world().await;
    let mut rng = Rng(seed);
    let packages: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    let assets: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
    for asset in &assets {
        w.server.add_key(asset).await;
    }
    for (i, package) in packages.iter().enumerate() {
        let held: Vec<&str> = assets
            .iter()
            .filter(|_| rng.next(3) == 0)
            .map(String::as_str)
            .collect();
        let mut extra = json!({});
        if rng.next(4) == 0 {
            extra = json!({"regionWhitelist": ["SE"]});
        }
        if i == 7 {
            extra = json!({"bypassEntitlementCheck": true});
        }
        w.package(package, &held, extra).await;
    }
    for _ in 0..8 {
        let (parent, child) = (rng.next(8) as usize, rng.next(8) as usize);
        if parent < child {
            let _ = w
                .server
                .admin(
                    "PUT",
                    &format!(
                        "/oem/v1/packages/{}/child/{}",
                        packages[parent], packages[child]
                    ),
                    Some(&w.admin),
                    None,
                )
                .await;
        }
    }
    let now = w.clock.now();
    let users = ["u0", "u1", "u2", "u3"];
    for uid in users {
        for package in &packages {
            match rng.next(4) {
                0 => {
                    w.grant(uid, package, now - chrono::Duration::days(1), None)
                        .await
                }
                1 => {
                    w.grant(
                        uid,
                        package,
                        now - chrono::Duration::days(5),
                        Some(now - chrono::Duration::days(2)),
                    )
                    .await
                }
                _ => {}
            }
        }
    }
    let mut compared = 0;
    let mut allowed = 0;
    for uid in users {
        for country in [Some("SE"), Some("US")] {
            let cookie = w.session(uid, country).await;
            for asset in &assets {
                let sees = w.play(asset, Some(&cookie)).await;
                let explained = w.explain(uid, asset, country).await;
                assert_eq!(
                    sees["isAllowed"], explained["entitled"],
                    "seed {seed}: {uid} {country:?} {asset}: SEES {sees} vs explanation {explained}"
                );
                compared += 1;
                allowed += usize::from(sees["isAllowed"] == true);
            }
        }
    }
    assert_eq!(compared, 48);
    assert!(
        allowed > 0 && allowed < compared,
        "both answers occur: {allowed} of {compared} allowed"
    );
}

/// A world with its own settings.
async fn world_with(adjust: impl FnOnce(&mut sees::config::Settings)) -> World {
    World(
        AdminWorld::start_with(Utc::now(), |s| {
            s.decision.mode = DecisionMode::Catalog;
            adjust(s);
        })
        .await,
    )
}

impl World {
    /// A playback session for `uid` on `device`; its cookie.
    async fn session_on(&self, uid: &str, device: &str) -> String {
        let (status, answer) = self
            .server
            .admin(
                "POST",
                "/oem/v1/admin/playback-sessions",
                Some(&self.admin),
                Some(json!({"uid": uid, "deviceID": device})),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["customerCookie"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn an_eu_purchase_travels_to_another_member_state_but_not_beyond() {
    let w = world().await;
    w.server.add_key("match").await;
    w.package(
        "swedish-league",
        &["match"],
        json!({"regionWhitelist": ["SE"]}),
    )
    .await;
    w.call(
        "POST",
        "/monetization/entitlements/v1",
        Some(json!({"offer_id": "swedish-league", "project_id": "p1", "user_id": "alice", "origin_country_code": "SE"})),
    )
    .await;
    w.grant(
        "bob",
        "swedish-league",
        w.clock.now() - chrono::Duration::days(1),
        None,
    )
    .await;

    let alice_in_germany = w.session("alice", Some("DE")).await;
    assert_eq!(
        w.play("match", Some(&alice_in_germany)).await["isAllowed"],
        true,
        "EU portability"
    );
    let explained = w.explain("alice", "match", Some("DE")).await;
    assert!(
        explained["trail"].to_string().contains("portability"),
        "{explained}"
    );
    let alice_in_us = w.session("alice", Some("US")).await;
    assert_eq!(
        error(&w.play("match", Some(&alice_in_us)).await),
        Some(3004)
    );
    let bob_in_germany = w.session("bob", Some("DE")).await;
    assert_eq!(
        error(&w.play("match", Some(&bob_in_germany)).await),
        Some(3004),
        "no origin country, no travel"
    );
}

#[tokio::test]
async fn concurrency_blocks_a_new_stream_until_support_frees_the_user() {
    let w = world_with(|s| s.concurrency.default_limit = 1).await;
    w.server.add_key("movie").await;
    w.package("gold", &["movie"], json!({})).await;
    w.grant(
        "alice",
        "gold",
        w.clock.now() - chrono::Duration::days(1),
        None,
    )
    .await;
    let tv = w.session_on("alice", "TV-1").await;
    let phone = w.session_on("alice", "PHONE-1").await;

    assert_eq!(w.play("movie", Some(&tv)).await["isAllowed"], true);
    assert_eq!(
        w.play("movie", Some(&tv)).await["isAllowed"],
        true,
        "the same device renews its own stream"
    );
    let blocked = w.play("movie", Some(&phone)).await;
    assert_eq!(error(&blocked), Some(3008), "{blocked}");
    assert!(
        blocked["errorText"]
            .as_str()
            .unwrap()
            .contains("next slot frees at"),
        "{blocked}"
    );

    let support = w.server.admin_token(Role::Support).await;
    let (status, answer) = w
        .server
        .admin(
            "DELETE",
            "/oem/v1/admin/users/alice/streams",
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        w.play("movie", Some(&phone)).await["isAllowed"],
        true,
        "one call ends the lock-out"
    );

    w.clock.set(w.clock.now() + chrono::Duration::minutes(5));
    assert_eq!(
        w.play("movie", Some(&tv)).await["isAllowed"],
        true,
        "expired leases never count"
    );
}

#[tokio::test]
async fn evict_oldest_and_the_entitlements_own_limit() {
    let w = world_with(|s| {
        s.concurrency.default_limit = 1;
        s.concurrency.policy = sees::catalog::ConcurrencyPolicy::EvictOldest;
    })
    .await;
    w.server.add_key("movie").await;
    w.package("gold", &["movie"], json!({})).await;
    w.grant(
        "alice",
        "gold",
        w.clock.now() - chrono::Duration::days(1),
        None,
    )
    .await;
    let tv = w.session_on("alice", "TV-1").await;
    let phone = w.session_on("alice", "PHONE-1").await;
    assert_eq!(w.play("movie", Some(&tv)).await["isAllowed"], true);
    assert_eq!(
        w.play("movie", Some(&phone)).await["isAllowed"],
        true,
        "the oldest stream is evicted"
    );
    let (_, streams) = w
        .server
        .admin(
            "GET",
            "/oem/v1/admin/users/alice/streams",
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(streams["streams"].as_array().unwrap().len(), 1, "{streams}");

    let limited = world_with(|s| s.concurrency.default_limit = 1).await;
    limited.server.add_key("movie").await;
    limited.package("family", &["movie"], json!({})).await;
    limited
        .call(
            "POST",
            "/monetization/entitlements/v1",
            Some(json!({"offer_id": "family", "project_id": "p", "user_id": "carol", "concurrency_limit": "2"})),
        )
        .await;
    let one = limited.session_on("carol", "D1").await;
    let two = limited.session_on("carol", "D2").await;
    let three = limited.session_on("carol", "D3").await;
    assert_eq!(limited.play("movie", Some(&one)).await["isAllowed"], true);
    assert_eq!(
        limited.play("movie", Some(&two)).await["isAllowed"],
        true,
        "the entitlement allows 2"
    );
    assert_eq!(
        error(&limited.play("movie", Some(&three)).await),
        Some(3008)
    );
}

#[tokio::test]
async fn a_user_may_register_only_so_many_devices() {
    let w = world_with(|s| s.devices.max_per_user = 1).await;
    w.server.add_key("movie").await;
    w.package("gold", &["movie"], json!({})).await;
    w.grant(
        "alice",
        "gold",
        w.clock.now() - chrono::Duration::days(1),
        None,
    )
    .await;
    let first = w.session("alice", None).await;
    let second = w.session("alice", None).await;
    w.server.sim.log_device(&first, "DEVICE-A");
    w.server.sim.log_device(&second, "DEVICE-B");
    let bound = |cookie: &str| {
        json!({"messageID": "b", "version": 1, "requestType": 3, "contentID": "movie", "customerCookie": cookie}).to_string()
    };
    let (_, answer) = w.server.post(bound(&first)).await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
    let (_, answer) = w.server.post(bound(&second)).await;
    assert_eq!(error(&answer), Some(3009), "{answer}");

    let support = w.server.admin_token(Role::Support).await;
    let (status, answer) = w
        .server
        .admin(
            "DELETE",
            "/oem/v1/admin/users/alice/devices/DEVICE-A",
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, answer) = w.server.post(bound(&second)).await;
    assert_eq!(
        answer["isAllowed"], true,
        "a removed device frees a slot: {answer}"
    );
}

#[tokio::test]
async fn an_entitlement_may_set_its_own_concurrency_policy() {
    let w = world_with(|s| s.concurrency.default_limit = 1).await;
    w.server.add_key("movie").await;
    w.package("kids", &["movie"], json!({})).await;
    w.call(
        "POST",
        "/monetization/entitlements/v1",
        Some(json!({"offer_id": "kids", "project_id": "p", "user_id": "dana", "concurrency_limit": "1", "concurrency_policy": "evict-oldest"})),
    )
    .await;
    let tablet = w.session_on("dana", "TABLET").await;
    let phone = w.session_on("dana", "PHONE").await;
    assert_eq!(w.play("movie", Some(&tablet)).await["isAllowed"], true);
    assert_eq!(
        w.play("movie", Some(&phone)).await["isAllowed"],
        true,
        "the entitlement evicts, the default would block"
    );
    let (_, answer) = w
        .server
        .admin("POST", "/monetization/entitlements/v1", Some(&w.admin), Some(json!({"offer_id": "kids", "project_id": "p", "user_id": "dana", "concurrency_policy": "sometimes"})))
        .await;
    assert_eq!(answer["error"]["code"], 1011, "{answer}");
}

/// Every kind of catalogue write is seen by the very next decision with the decision cache on (it is
/// on by default on SQLite; forced on here so the PostgreSQL run checks the cached path too).
#[tokio::test]
async fn every_catalogue_write_is_seen_by_the_next_decision_through_the_cache() {
    let w = world_with(|s| s.decision.cache = sees::config::DecisionCacheMode::On).await;
    w.server.add_key("ep-1").await;
    w.package("series", &[], json!({})).await;
    w.package("episodes", &["ep-1"], json!({})).await;
    w.call("PUT", "/oem/v1/packages/series/child/episodes", None)
        .await;
    let cookie = w.session("carol", Some("SE")).await;
    let outcome = |answer: Value| match answer["isAllowed"].as_bool() {
        Some(true) => 0,
        _ => error(&answer).unwrap_or(-1),
    };
    // Each step: a write, then the decision it must change (the previous one is cached by then).
    assert_eq!(outcome(w.play("ep-1", Some(&cookie)).await), 3001);
    w.grant(
        "carol",
        "series",
        w.clock.now() - chrono::Duration::days(1),
        None,
    )
    .await;
    assert_eq!(outcome(w.play("ep-1", Some(&cookie)).await), 0, "grant");
    w.call("DELETE", "/oem/v1/packages/series/child/episodes", None)
        .await;
    assert_eq!(
        outcome(w.play("ep-1", Some(&cookie)).await),
        3001,
        "edge removed"
    );
    w.call("PUT", "/oem/v1/packages/series/child/episodes", None)
        .await;
    assert_eq!(
        outcome(w.play("ep-1", Some(&cookie)).await),
        0,
        "edge added"
    );
    w.call(
        "PUT",
        "/oem/v1/user/packages/series",
        Some(json!({"package": {"id": "series", "regionWhitelist": ["DE"]}})),
    )
    .await;
    assert_ne!(
        outcome(w.play("ep-1", Some(&cookie)).await),
        0,
        "region narrowed"
    );
    w.call(
        "PUT",
        "/oem/v1/user/packages/series",
        Some(json!({"package": {"id": "series", "regionWhitelist": []}})),
    )
    .await;
    assert_eq!(
        outcome(w.play("ep-1", Some(&cookie)).await),
        0,
        "region opened"
    );
    w.call(
        "DELETE",
        "/oem/v1/packages/assets",
        Some(json!({"packageIDs": ["episodes"], "assetIDs": ["ep-1"]})),
    )
    .await;
    assert_ne!(
        outcome(w.play("ep-1", Some(&cookie)).await),
        0,
        "asset removed"
    );
    w.call(
        "PUT",
        "/oem/v1/packages/assets",
        Some(json!({"packageIDs": ["episodes"], "assetIDs": ["ep-1"]})),
    )
    .await;
    assert_eq!(
        outcome(w.play("ep-1", Some(&cookie)).await),
        0,
        "asset added back"
    );
    w.call("DELETE", "/oem/v1/admin/entitlements/carol/series", None)
        .await;
    assert_eq!(
        outcome(w.play("ep-1", Some(&cookie)).await),
        3001,
        "revoked"
    );
    w.call(
        "PUT",
        "/oem/v1/admin/entitlements/carol/assets",
        Some(json!({"assetIDs": ["ep-1"]})),
    )
    .await;
    assert_eq!(
        outcome(w.play("ep-1", Some(&cookie)).await),
        0,
        "asset grant"
    );
    w.package("extras", &[], json!({"bypassEntitlementCheck": true}))
        .await;
    let other = w.session("dave", None).await;
    assert_eq!(outcome(w.play("ep-1", Some(&other)).await), 3001);
    w.call(
        "PUT",
        "/oem/v1/packages/assets",
        Some(json!({"packageIDs": ["extras"], "assetIDs": ["ep-1"]})),
    )
    .await;
    assert_eq!(
        outcome(w.play("ep-1", Some(&other)).await),
        0,
        "now in a free package"
    );
    w.call("DELETE", "/oem/v1/user/packages/extras", None).await;
    assert_eq!(
        outcome(w.play("ep-1", Some(&other)).await),
        3001,
        "free package deleted"
    );
}
