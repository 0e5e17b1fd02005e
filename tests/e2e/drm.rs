//! Every DRM's token end to end, through real TLS: the same Entitlement Request at the FairPlay,
//! Widevine and PlayReady paths gets each DRM's ExpressPlay token for the same key (the simulator
//! records exactly what it was asked for); package DRM policies make tokens stricter, the strictest
//! wins and the explanation names its package; the OEM token routes take `drm=` and refuse a device
//! below the Widevine security level demanded; KID-less keys, device binding off FairPlay, disabled
//! DRMs and each upstream error class have their own numbers; one DRM's failing service does not
//! open another's breaker.

use chrono::Utc;
use sees::drm::{Drm, PlayReadyRights};
use sees::expressplay::sim::{Behaviour, ForcedError};
use sees::keys::KeyPolicy;
use serde_json::{json, Value};

use crate::harness::{self, AdminWorld, TestServer};

const KID: [u8; 16] = [0x6a; 16];

fn body(message: &str, content: &str, request_type: Option<u8>, cookie: Option<&str>) -> String {
    let mut body = json!({"messageID": message, "version": 1, "contentID": content});
    if let Some(t) = request_type {
        body["requestType"] = json!(t);
    }
    if let Some(cookie) = cookie {
        body["customerCookie"] = json!(cookie);
    }
    body.to_string()
}

/// The path of `drm` under the default settings.
fn path(drm: Drm) -> &'static str {
    match drm {
        Drm::FairPlay => "/sees/v1/entitlement",
        Drm::Widevine => "/sees/v1/widevine",
        Drm::PlayReady => "/sees/v1/playready",
    }
}

async fn ask(server: &TestServer, drm: Drm, body: String) -> (u16, Value) {
    server.post_to(path(drm), body).await
}

fn with_kid() -> KeyPolicy {
    KeyPolicy {
        kid: Some(KID),
        ..KeyPolicy::default()
    }
}

#[tokio::test]
async fn each_drm_gets_its_token_for_the_same_key() {
    let server = harness::spawn().await;
    let key = server.add_key_with("movie-1", with_kid()).await;
    for drm in Drm::ALL {
        let (status, answer) = ask(&server, drm, body("m", "movie-1", None, None)).await;
        assert_eq!(
            (status, &answer["isAllowed"]),
            (200, &json!(true)),
            "{drm}: {answer}"
        );
        let url = answer["epTokenURL"].as_str().unwrap();
        let (token, issued) = server.sim.last_issued(drm).expect("a token was issued");
        assert_eq!(issued.drm, drm);
        assert_eq!(issued.content_key, *key.cek_hex(), "{drm}");
        match drm {
            Drm::FairPlay => {
                assert!(url.contains("/hms/fp/rights/"), "{url}");
                assert_eq!(issued.iv.as_deref(), Some(key.iv_hex().as_str()));
            }
            Drm::Widevine => {
                assert!(url.contains("/hms/wv/rights/?ExpressPlayToken="), "{url}");
                assert_eq!(issued.kid.as_deref(), Some(hex::encode(KID).as_str()));
                let wv = issued.widevine().unwrap();
                // The [drm] defaults: securityLevel 1, no HDCP, no licence duration.
                assert_eq!((wv.security_level, wv.hdcp_output_control), (1, 0));
                assert_eq!(wv.license_duration, None);
            }
            Drm::PlayReady => {
                // One URL: the licence acquisition URL with the token.
                assert_eq!(
                    url,
                    format!(
                        "http://{}/hms/pr/rights/?ExpressPlayToken={}",
                        server.sim.addr(),
                        urlencode(&token)
                    )
                );
                let pr = issued.playready().unwrap();
                assert_eq!(pr.rights, PlayReadyRights::BuyToOwn);
                assert!(!pr.persistent && pr.rental.is_none());
                assert_eq!(
                    (
                        pr.analog_video_opl,
                        pr.compressed_digital_audio_opl,
                        pr.compressed_digital_video_opl,
                        pr.uncompressed_digital_audio_opl,
                        pr.uncompressed_digital_video_opl
                    ),
                    (100, 100, 400, 100, 100)
                );
            }
        }
        // A Widevine or PlayReady token plays at its own DRM's licence server, not at another's
        // (FairPlay's redemption needs a device's request; it is tested with the simulator).
        if drm == Drm::FairPlay {
            continue;
        }
        let redeemed = reqwest::get(url).await.unwrap();
        assert_eq!(redeemed.status(), 200, "{drm}");
        let other = match drm {
            Drm::PlayReady => Drm::Widevine,
            _ => Drm::PlayReady,
        };
        let wrong = reqwest::get(format!(
            "{}?ExpressPlayToken={}",
            server.sim.rights_url_for(other),
            urlencode(&token)
        ))
        .await
        .unwrap();
        assert_eq!(
            wrong.status(),
            400,
            "{drm} token at the {other} licence server"
        );
    }
    // The answer's metrics and audit carry the DRM.
    let metrics = sees::ops::metrics::install().render();
    assert!(metrics.contains("drm=\"playready\""), "{metrics}");
}

/// The (kind, drm) pairs of the audit log, once the writer has caught up.
async fn audited_drms(server: &TestServer) -> Vec<(String, String)> {
    let store = sees::store::Store::connect(&server.settings.store.url, 1)
        .await
        .unwrap();
    let mut pairs = Vec::new();
    for _ in 0..50 {
        pairs = sqlx::query_as::<_, (String, String)>(
            "SELECT kind, drm FROM audit_events WHERE drm IS NOT NULL",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        if pairs.iter().any(|(kind, _)| kind == "sees-decision") && pairs.len() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    pairs
}

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

#[tokio::test]
async fn keys_without_kid_device_binding_and_disabled_drms_are_refused_with_their_numbers() {
    let server = harness::spawn_with(|s| {
        s.drm.enabled = vec![Drm::FairPlay, Drm::Widevine];
        s.devices.registration_content_ids = vec!["reg".to_owned()];
    })
    .await;
    server.add_key("no-kid").await;
    server.add_key_with("reg", with_kid()).await;
    let refused = |answer: &Value, number: i64| {
        assert_eq!(answer["isAllowed"], false, "{answer}");
        assert_eq!(answer["error"], number, "{answer}");
        assert_eq!(answer["epTokenURL"], "", "{answer}");
    };
    // A key without a KID: a Widevine token cannot name it (FairPlay does not need one).
    let (status, answer) = ask(&server, Drm::Widevine, body("m1", "no-kid", None, None)).await;
    assert_eq!(status, 200);
    refused(&answer, 2004);
    assert!(
        answer["errorText"].as_str().unwrap().contains("--kid"),
        "{answer}"
    );
    let (_, fairplay) = ask(&server, Drm::FairPlay, body("m2", "no-kid", None, None)).await;
    assert_eq!(fairplay["isAllowed"], true, "{fairplay}");
    // Device binding is FairPlay's only.
    for request_type in [2, 3] {
        let (status, answer) = ask(
            &server,
            Drm::Widevine,
            body("m3", "reg", Some(request_type), Some("cookie-1")),
        )
        .await;
        assert_eq!(status, 400, "{answer}");
        refused(&answer, 1018);
    }
    // A DRM not in drm.enabled.
    let (status, answer) = ask(&server, Drm::PlayReady, body("m4", "reg", None, None)).await;
    assert_eq!(status, 400, "{answer}");
    refused(&answer, 1017);
    assert_eq!(server.sim.issued_tokens_for(Drm::Widevine), 0);
    assert_eq!(server.sim.issued_tokens_for(Drm::PlayReady), 0);
}

#[tokio::test]
async fn each_upstream_error_class_has_its_number_and_one_drms_breaker_stays_its_own() {
    // Widevine on another origin (localhost, not 127.0.0.1): a service of its own.
    let server = harness::spawn_with(|s| {
        s.expressplay.widevine_token_url = s
            .expressplay
            .widevine_token_url
            .replace("127.0.0.1", "localhost");
        s.expressplay.breaker_failures = 2;
        s.expressplay.max_retries = 0;
    })
    .await;
    server.add_key_with("movie-1", with_kid()).await;
    let forced = |code: i64| Behaviour {
        force_error: Some(ForcedError {
            status: 400,
            code,
            text: "refused".to_owned(),
        }),
        ..Behaviour::default()
    };
    for (drm, code, number) in [
        (Drm::Widevine, -7004, 4020),
        (Drm::Widevine, -7006, 4021),
        (Drm::Widevine, -7007, 4022),
        (Drm::Widevine, -7008, 4023),
        (Drm::Widevine, -7011, 4025),
        (Drm::Widevine, -4022, 4018),
        (Drm::PlayReady, -2021, 4026),
        (Drm::PlayReady, -2022, 4027),
        (Drm::PlayReady, -5006, 4028),
        (Drm::PlayReady, -5003, 4029),
        (Drm::PlayReady, -5002, 4025),
        (Drm::PlayReady, -4019, 4019),
    ] {
        server.sim.set_behaviour_for(drm, forced(code));
        let (_, answer) = ask(&server, drm, body("m", "movie-1", None, None)).await;
        assert_eq!(answer["error"], number, "{drm} {code}: {answer}");
        assert_eq!(answer["epTokenURL"], "");
    }
    server
        .sim
        .set_behaviour_for(Drm::PlayReady, Behaviour::default());
    // Widevine's service fails: its breaker opens (4005 without a call) ...
    server.sim.set_behaviour_for(
        Drm::Widevine,
        Behaviour {
            force_error: Some(ForcedError {
                status: 503,
                code: -1,
                text: "down".to_owned(),
            }),
            ..Behaviour::default()
        },
    );
    for _ in 0..2 {
        let (_, answer) = ask(&server, Drm::Widevine, body("m", "movie-1", None, None)).await;
        assert_eq!(answer["isAllowed"], false, "{answer}");
    }
    let (_, open) = ask(&server, Drm::Widevine, body("m", "movie-1", None, None)).await;
    assert_eq!(open["error"], 4005, "{open}");
    // ... and FairPlay and PlayReady, on their own service, still play.
    for drm in [Drm::FairPlay, Drm::PlayReady] {
        let (_, answer) = ask(&server, drm, body("m", "movie-1", None, None)).await;
        assert_eq!(answer["isAllowed"], true, "{drm}: {answer}");
    }
}

/// A catalogue-mode world with the movie `movie` (a key with a KID) in two packages: `basic` (free
/// of policy but for Widevine level 2 and a 2 h licence) inside `gold` (Widevine level 5 and HDCP
/// v2, a PlayReady rental, a FairPlay rental of an hour); alice is entitled to `gold`.
async fn policy_world() -> (AdminWorld, String) {
    let w = AdminWorld::start_with(Utc::now(), |s| {
        s.decision.mode = sees::config::DecisionMode::Catalog;
    })
    .await;
    w.server.add_key_with("movie", with_kid()).await;
    let package = |id: &str, assets: &[&str], policy: Value| {
        json!({"package": {"id": id, "name": id, "description": "d", "assetIDs": assets,
            "billingPlanIDs": ["plan"], "drmPolicy": policy}})
    };
    for (body, what) in [
        (
            package(
                "basic",
                &["movie"],
                json!({"widevine": {"securityLevel": 2, "licenseDurationS": 7200}}),
            ),
            "basic",
        ),
        (
            package(
                "gold",
                &["movie"],
                json!({"widevine": {"securityLevel": 5, "hdcp": 2, "licenseDurationS": 86400},
                   "playready": {"rights": "Rental", "rentalPeriodS": 86400, "compressedDigitalVideoOpl": 500},
                   "fairplay": {"rentalDurationS": 3600}}),
            ),
            "gold",
        ),
    ] {
        let (status, answer) = w.call("POST", "/oem/v1/user/packages", Some(body)).await;
        assert_eq!(status, 200, "{what}: {answer}");
    }
    let start = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, answer) = w
        .call(
            "POST",
            "/oem/v1/admin/entitlements",
            Some(json!({"entitlement": {"packageID": "gold", "uid": "alice", "startDate": start}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let cookie = w.session("alice", None).await;
    (w, cookie)
}

#[tokio::test]
async fn package_policies_make_tokens_stricter_and_the_explanation_names_the_package() {
    let (w, cookie) = policy_world().await;
    let server = &w.server;
    for drm in Drm::ALL {
        let (_, answer) = ask(server, drm, body("m", "movie", None, Some(&cookie))).await;
        assert_eq!(answer["isAllowed"], true, "{drm}: {answer}");
    }
    let (_, wv) = server.sim.last_issued(Drm::Widevine).unwrap();
    let wv = wv.widevine().unwrap().clone();
    // gold demands more than basic and the defaults; alice's grant is through gold.
    assert_eq!((wv.security_level, wv.hdcp_output_control), (5, 2));
    assert_eq!(wv.license_duration, Some(86400));
    let (_, pr) = server.sim.last_issued(Drm::PlayReady).unwrap();
    let pr = pr.playready().unwrap().clone();
    assert_eq!(pr.rights, PlayReadyRights::Rental);
    assert!(pr.persistent, "rental licences are persistent");
    assert_eq!(pr.compressed_digital_video_opl, 500);
    let end = pr.rental.expect("a rental end").period_end;
    let expected = Utc::now() + chrono::Duration::seconds(86400);
    assert!((end - expected).num_seconds().abs() < 60, "{end}");
    let (_, fp) = server.sim.last_issued(Drm::FairPlay).unwrap();
    assert_eq!(fp.token.rental_duration, 3600);

    // The explanation shows each term and who set it.
    let (status, details) = w
        .call(
            "GET",
            "/oem/v1/admin/entitlements/alice/asset/movie/details",
            None,
        )
        .await;
    assert_eq!(status, 200, "{details}");
    let terms = &details["drmTerms"];
    assert_eq!(
        terms["widevine"]["securityLevel"],
        json!({"value": 5, "by": "package gold"}),
        "{details}"
    );
    assert_eq!(
        terms["playready"]["rights"],
        json!({"value": "Rental", "by": "package gold"})
    );
    assert_eq!(
        terms["playready"]["analogVideoOpl"],
        json!({"value": 100, "by": "configuration"})
    );
    assert_eq!(
        terms["fairplay"]["rentalDurationS"],
        json!({"value": 3600, "by": "package gold"})
    );
}

#[tokio::test]
async fn the_oem_token_routes_take_drm_and_refuse_a_device_below_the_policy() {
    let (w, _) = policy_world().await;
    let w = &w;
    let token = |query: &str, level: Option<&str>| {
        let mut body = json!({"assetID": "movie", "playbackUrl": "https://cdn.example.test/movie/master.m3u8",
            "deviceID": "device-1"});
        if let Some(level) = level {
            body["capabilities"] = json!({"widevineSecurityLevel": level});
        }
        let path = format!("/oem/v1/user/accounts/alice/entitlement?{query}");
        async move { w.call("POST", &path, Some(body)).await }
    };
    // An L3 device cannot meet gold's Widevine securityLevel 5: its own number, no token.
    let issued_before = w.server.sim.issued_tokens_for(Drm::Widevine);
    let (status, answer) = token("tokentype=expressplay&drm=widevine", Some("L3")).await;
    assert_eq!(status, 403, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("SEES 3010") && message.contains("package gold"),
        "{message}"
    );
    assert_eq!(w.server.sim.issued_tokens_for(Drm::Widevine), issued_before);
    // An L1 device gets a Widevine token; the same routes give PlayReady and (by default) FairPlay.
    for (query, level, path) in [
        (
            "tokentype=expressplay&drm=widevine",
            Some("L1"),
            "/hms/wv/rights/",
        ),
        (
            "tokentype=expressplay&drm=playready",
            None,
            "/hms/pr/rights/",
        ),
        ("tokentype=expressplay", None, "/hms/fp/rights/"),
    ] {
        let (status, answer) = token(query, level).await;
        assert_eq!(status, 201, "{query}: {answer}");
        let url = answer["entitlementToken"].as_str().unwrap();
        assert!(url.contains(path), "{query}: {url}");
    }
    // The audit log records the DRM of each token route's write and of each SEES decision.
    let (_, cookie_answer) = ask(
        &w.server,
        Drm::Widevine,
        body("m-audit", "movie", None, None),
    )
    .await;
    assert_eq!(cookie_answer["isAllowed"], false);
    let drms = audited_drms(&w.server).await;
    for (kind, drm) in [
        ("admin-write", "widevine"),
        ("admin-write", "playready"),
        ("admin-write", "fairplay"),
        ("sees-decision", "widevine"),
    ] {
        assert!(
            drms.contains(&(kind.to_owned(), drm.to_owned())),
            "{kind} {drm}: {drms:?}"
        );
    }
    // Bad input: an unknown DRM, drm without tokentype=expressplay, drm twice.
    for query in [
        "tokentype=expressplay&drm=clearkey",
        "tokentype=none&drm=widevine",
        "tokentype=expressplay&drm=widevine&drm=playready",
    ] {
        let (status, answer) = token(query, None).await;
        assert_eq!(status, 400, "{query}: {answer}");
    }
}

#[tokio::test]
async fn policies_no_licence_can_meet_together_deny_with_their_number() {
    let w = AdminWorld::start_with(Utc::now(), |s| {
        s.decision.mode = sees::config::DecisionMode::Catalog;
    })
    .await;
    w.server.add_key_with("film", with_kid()).await;
    // bundle (non-persistent PlayReady) → rentals (a PlayReady rental) → film; bob holds bundle.
    for (id, assets, policy) in [
        (
            "bundle",
            vec![],
            json!({"playready": {"persistent": false}}),
        ),
        (
            "rentals",
            vec!["film"],
            json!({"playready": {"rights": "Rental", "rentalPeriodS": 3600}}),
        ),
    ] {
        let body = json!({"package": {"id": id, "name": id, "description": "d", "assetIDs": assets,
            "billingPlanIDs": ["plan"], "drmPolicy": policy}});
        let (status, answer) = w.call("POST", "/oem/v1/user/packages", Some(body)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = w
        .call("PUT", "/oem/v1/packages/bundle/child/rentals", None)
        .await;
    assert_eq!(status, 200, "{answer}");
    let start = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let grant = json!({"entitlement": {"packageID": "bundle", "uid": "bob", "startDate": start}});
    let (status, answer) = w
        .call("POST", "/oem/v1/admin/entitlements", Some(grant))
        .await;
    assert_eq!(status, 200, "{answer}");
    let cookie = w.session("bob", None).await;
    let (_, answer) = ask(
        &w.server,
        Drm::PlayReady,
        body("m", "film", None, Some(&cookie)),
    )
    .await;
    assert_eq!(answer["error"], 3011, "{answer}");
    let text = answer["errorText"].as_str().unwrap();
    assert!(
        text.contains("package rentals") && text.contains("package bundle"),
        "{text}"
    );
    assert_eq!(w.server.sim.issued_tokens_for(Drm::PlayReady), 0);
    // Widevine and FairPlay are not concerned by PlayReady's conflict.
    let (_, answer) = ask(
        &w.server,
        Drm::Widevine,
        body("m", "film", None, Some(&cookie)),
    )
    .await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
}
