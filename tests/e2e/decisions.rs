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

    /// Grants `package` to `uid` from a day before the clock's time, open-ended.
    async fn since_yesterday(&self, uid: &str, package: &str) {
        let start = self.clock.now() - chrono::Duration::days(1);
        self.grant(uid, package, start, None).await;
    }

    /// The key `movie`, in the package `gold`, granted to `uid` since yesterday.
    async fn gold_movie_for(&self, uid: &str) {
        self.server.add_key("movie").await;
        self.package("gold", &["movie"], json!({})).await;
        self.since_yesterday(uid, "gold").await;
    }

    /// [`World::gold_movie_for`] alice, with a session on `TV-1` and one on `PHONE-1`; their cookies.
    async fn alice_on_tv_and_phone(&self) -> (String, String) {
        self.gold_movie_for("alice").await;
        let tv = self.session_on("alice", "TV-1").await;
        let phone = self.session_on("alice", "PHONE-1").await;
        (tv, phone)
    }

    /// A call with a support token; checks it answers 200.
    async fn as_support(&self, method: &str, path: &str) {
        let support = self.server.admin_token(Role::Support).await;
        let (status, answer) = self.server.admin(method, path, Some(&support), None).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
    }

    /// Checks that SEES allows `content` with `cookie`; `why` says what the case shows.
    async fn allowed(&self, content: &str, cookie: Option<&str>, why: &str) {
        let answer = self.play(content, cookie).await;
        assert_eq!(answer["isAllowed"], true, "{why}: {answer}");
    }

    /// Checks that SEES refuses `content` with `cookie` with the error `code`.
    async fn refused(&self, content: &str, cookie: Option<&str>, code: i64, why: &str) {
        let answer = self.play(content, cookie).await;
        assert_eq!(error(&answer), Some(code), "{why}: {answer}");
    }

    /// The decision for `content` with `cookie` as one number: 0 allowed, else the error code.
    async fn outcome(&self, content: &str, cookie: &str) -> i64 {
        let answer = self.play(content, Some(cookie)).await;
        match answer["isAllowed"].as_bool() {
            Some(true) => 0,
            _ => error(&answer).unwrap_or(-1),
        }
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

    w.allowed("free-movie", None, "").await;
    w.refused("paid-movie", None, 3005, "").await;
    w.refused(
        "paid-movie",
        Some("NotASessionCookieAtAll123456789"),
        3006,
        "",
    )
    .await;
    let cookie = w.session("alice", None).await;
    let answer = w.play("paid-movie", Some(&cookie)).await;
    assert_eq!(error(&answer), Some(3001), "{answer}");
    assert!(
        answer["errorText"].as_str().unwrap().contains("alice"),
        "{answer}"
    );
    w.refused("unknown-content", Some(&cookie), 2001, "").await;
}

#[tokio::test]
async fn entitlement_windows_with_the_skew_tolerance() {
    let w = world().await;
    w.server.add_key("movie").await;
    w.package("gold", &["movie"], json!({})).await;
    let now = w.clock.now();
    let (days, seconds) = (chrono::Duration::days, chrono::Duration::seconds);
    // (user, start, end, the decision's error)
    let windows = [
        ("alice", now - days(10), Some(now + days(10)), None),
        ("bob", now - days(10), Some(now - days(1)), Some(3002)),
        ("carol", now + days(1), None, Some(3003)),
        ("dave", now + seconds(30), None, None),
        ("erin", now - days(1), Some(now - seconds(30)), None),
    ];
    for (uid, start, end, _) in windows {
        w.grant(uid, "gold", start, end).await;
    }

    for (uid, _, _, expected) in windows {
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
    w.since_yesterday("alice", "season").await;

    let cookie = w.session("alice", None).await;
    w.allowed("match-1", Some(&cookie), "").await;
    let explained = w.explain("alice", "match-1", None).await;
    assert_eq!(explained["entitled"], true, "{explained}");
    assert_eq!(explained["path"], json!(["season", "league", "matchday"]));

    w.call("DELETE", "/oem/v1/packages/league/child/matchday", None)
        .await;
    w.refused("match-1", Some(&cookie), 3001, "the edge is gone at once")
        .await;
}

#[tokio::test]
async fn region_whitelists_admit_only_their_countries() {
    let w = world().await;
    w.server.add_key("movie").await;
    w.package("eu", &["movie"], json!({"regionWhitelist": ["SE", "DE"]}))
        .await;
    w.since_yesterday("alice", "eu").await;

    let in_sweden = w.session("alice", Some("se")).await;
    w.allowed("movie", Some(&in_sweden), "").await;
    let in_us = w.session("alice", Some("US")).await;
    w.refused("movie", Some(&in_us), 3004, "").await;
    let nowhere = w.session("alice", None).await;
    let why = "unknown country fails closed";
    w.refused("movie", Some(&nowhere), 3004, why).await;
}

#[tokio::test]
async fn sessions_expire_and_are_revoked_at_once() {
    let w = world().await;
    w.server.add_key("movie").await;
    w.package("free", &["other"], json!({"bypassEntitlementCheck": true}))
        .await;
    w.package("gold", &["movie"], json!({})).await;
    w.since_yesterday("alice", "gold").await;
    let cookie = w.session("alice", None).await;
    w.allowed("movie", Some(&cookie), "").await;

    w.clock.set(w.clock.now() + chrono::Duration::hours(2));
    w.refused("movie", Some(&cookie), 3007, "expired after its 1 h TTL")
        .await;

    let cookie = w.session("alice", None).await;
    w.allowed("movie", Some(&cookie), "").await;
    // Through the server (its session cache is on, as on every SQLite store).
    let sessions = "/oem/v1/admin/users/alice/playback-sessions";
    w.call("DELETE", sessions, None).await;
    w.refused("movie", Some(&cookie), 3007, "revoked at once")
        .await;
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
    w.refused("content-42", Some(&cookie), 3001, "").await;
    w.call(
        "PUT",
        "/oem/v1/admin/entitlements/alice/assets",
        Some(json!({"assetIDs": ["asset-42"]})),
    )
    .await;
    w.allowed("content-42", Some(&cookie), "the key protects asset-42")
        .await;
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
    w.since_yesterday("bob", "swedish-league").await;

    let alice_in_germany = w.session("alice", Some("DE")).await;
    w.allowed("match", Some(&alice_in_germany), "EU portability")
        .await;
    let explained = w.explain("alice", "match", Some("DE")).await;
    assert!(
        explained["trail"].to_string().contains("portability"),
        "{explained}"
    );
    let alice_in_us = w.session("alice", Some("US")).await;
    w.refused("match", Some(&alice_in_us), 3004, "").await;
    let bob_in_germany = w.session("bob", Some("DE")).await;
    let why = "no origin country, no travel";
    w.refused("match", Some(&bob_in_germany), 3004, why).await;
}

#[tokio::test]
async fn concurrency_blocks_a_new_stream_until_support_frees_the_user() {
    let w = world_with(|s| s.concurrency.default_limit = 1).await;
    let (tv, phone) = w.alice_on_tv_and_phone().await;

    w.allowed("movie", Some(&tv), "").await;
    w.allowed("movie", Some(&tv), "the same device renews its own stream")
        .await;
    let blocked = w.play("movie", Some(&phone)).await;
    assert_eq!(error(&blocked), Some(3008), "{blocked}");
    assert!(
        blocked["errorText"]
            .as_str()
            .unwrap()
            .contains("next slot frees at"),
        "{blocked}"
    );

    w.as_support("DELETE", "/oem/v1/admin/users/alice/streams")
        .await;
    w.allowed("movie", Some(&phone), "one call ends the lock-out")
        .await;

    w.clock.set(w.clock.now() + chrono::Duration::minutes(5));
    w.allowed("movie", Some(&tv), "expired leases never count")
        .await;
}

#[tokio::test]
async fn evict_oldest_and_the_entitlements_own_limit() {
    let w = world_with(|s| {
        s.concurrency.default_limit = 1;
        s.concurrency.policy = sees::catalog::ConcurrencyPolicy::EvictOldest;
    })
    .await;
    let (tv, phone) = w.alice_on_tv_and_phone().await;
    w.allowed("movie", Some(&tv), "").await;
    w.allowed("movie", Some(&phone), "the oldest stream is evicted")
        .await;
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
    limited.allowed("movie", Some(&one), "").await;
    limited
        .allowed("movie", Some(&two), "the entitlement allows 2")
        .await;
    limited.refused("movie", Some(&three), 3008, "").await;
}

#[tokio::test]
async fn a_user_may_register_only_so_many_devices() {
    let w = world_with(|s| s.devices.max_per_user = 1).await;
    w.gold_movie_for("alice").await;
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

    w.as_support("DELETE", "/oem/v1/admin/users/alice/devices/DEVICE-A")
        .await;
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
    w.allowed("movie", Some(&tablet), "").await;
    w.allowed(
        "movie",
        Some(&phone),
        "the entitlement evicts, the default would block",
    )
    .await;
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
    let edge = "/oem/v1/packages/series/child/episodes";
    let series = "/oem/v1/user/packages/series";
    let assets = "/oem/v1/packages/assets";
    let region =
        |countries: Value| Some(json!({"package": {"id": "series", "regionWhitelist": countries}}));
    let ep1_in = |package: &str| Some(json!({"packageIDs": [package], "assetIDs": ["ep-1"]}));
    // Each step: a write, then the decision it must change (the previous one is cached by then).
    assert_eq!(w.outcome("ep-1", &cookie).await, 3001);
    w.since_yesterday("carol", "series").await;
    assert_eq!(w.outcome("ep-1", &cookie).await, 0, "grant");
    w.call("DELETE", edge, None).await;
    assert_eq!(w.outcome("ep-1", &cookie).await, 3001, "edge removed");
    w.call("PUT", edge, None).await;
    assert_eq!(w.outcome("ep-1", &cookie).await, 0, "edge added");
    w.call("PUT", series, region(json!(["DE"]))).await;
    assert_ne!(w.outcome("ep-1", &cookie).await, 0, "region narrowed");
    w.call("PUT", series, region(json!([]))).await;
    assert_eq!(w.outcome("ep-1", &cookie).await, 0, "region opened");
    w.call("DELETE", assets, ep1_in("episodes")).await;
    assert_ne!(w.outcome("ep-1", &cookie).await, 0, "asset removed");
    w.call("PUT", assets, ep1_in("episodes")).await;
    assert_eq!(w.outcome("ep-1", &cookie).await, 0, "asset added back");
    w.call("DELETE", "/oem/v1/admin/entitlements/carol/series", None)
        .await;
    assert_eq!(w.outcome("ep-1", &cookie).await, 3001, "revoked");
    let carol_assets = "/oem/v1/admin/entitlements/carol/assets";
    let ep1 = json!({"assetIDs": ["ep-1"]});
    w.call("PUT", carol_assets, Some(ep1)).await;
    assert_eq!(w.outcome("ep-1", &cookie).await, 0, "asset grant");
    w.package("extras", &[], json!({"bypassEntitlementCheck": true}))
        .await;
    let other = w.session("dave", None).await;
    assert_eq!(w.outcome("ep-1", &other).await, 3001);
    w.call("PUT", assets, ep1_in("extras")).await;
    assert_eq!(w.outcome("ep-1", &other).await, 0, "now in a free package");
    w.call("DELETE", "/oem/v1/user/packages/extras", None).await;
    let why = "free package deleted";
    assert_eq!(w.outcome("ep-1", &other).await, 3001, "{why}");
}
