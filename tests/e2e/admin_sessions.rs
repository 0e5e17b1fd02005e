//! Playback sessions on the admin listener, over real HTTP: opening (the answer, the cookie's shape,
//! that only its hash is stored), revoking by cookie and by user, listing, expiry, bad input (nothing
//! half-written), roles; and the library on every backend.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sees::admin::tokens::Role;
use sees::catalog::{PlaybackSession, PlaybackSessions};
use sees::clock::FixedClock;
use sees::ids::{CustomerCookie, UserId};
use sees::keys::MasterKey;
use serde_json::{json, Value};
use sqlx::Row;

use crate::harness::{self, assert_envelope, assert_error, spawn_at, t0, TestServer};

const SESSIONS: &str = "/oem/v1/admin/playback-sessions";

/// A server whose clock stands at `t0()` until moved.
async fn server() -> (TestServer, Arc<FixedClock>) {
    spawn_at(t0(), |_| {}).await
}

fn user_path(uid: &str) -> String {
    format!("/oem/v1/admin/users/{uid}/playback-sessions")
}

/// Opens a session with `body`; the cookie.
async fn open(server: &TestServer, token: &str, body: Value) -> String {
    let (status, answer) = server
        .admin("POST", SESSIONS, Some(token), Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    answer["customerCookie"].as_str().unwrap().to_owned()
}

async fn revoke(server: &TestServer, token: &str, cookie: &str) -> (u16, Value) {
    server
        .admin("DELETE", &format!("{SESSIONS}/{cookie}"), Some(token), None)
        .await
}

async fn list(server: &TestServer, token: &str, uid: &str) -> Vec<Value> {
    let (status, answer) = server
        .admin("GET", &user_path(uid), Some(token), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    answer["sessions"].as_array().unwrap().clone()
}

/// The session library over the server's store.
async fn library(server: &TestServer) -> PlaybackSessions {
    let stores = sees::app::open_stores(&server.settings).await.unwrap();
    PlaybackSessions::new(stores.store, stores.master)
}

fn cookie(raw: &str) -> CustomerCookie {
    CustomerCookie::parse(raw).unwrap()
}

fn is_cookie_shaped(raw: &str) -> bool {
    raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[tokio::test]
async fn open_answers_a_fresh_cookie_and_the_session() {
    let (server, _clock) = server().await;
    let support = server.admin_token(Role::Support).await;
    let admin = server.admin_token(Role::Admin).await;

    let body =
        json!({"uid": "alice", "deviceID": "dev-1:abc+/=", "country": "de", "ttlSeconds": 3600});
    let (status, answer) = server
        .admin("POST", SESSIONS, Some(&support), Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    let first = answer["customerCookie"].as_str().unwrap().to_owned();
    assert!(is_cookie_shaped(&first), "{answer}");
    assert_eq!(answer["expiresAt"], "2030-01-01T01:00:00Z");
    assert_eq!(
        answer["session"],
        json!({"uid": "alice", "deviceID": "dev-1:abc+/=", "country": "DE",
            "createdAt": "2030-01-01T00:00:00Z", "expiresAt": "2030-01-01T01:00:00Z"})
    );

    // Defaults: four hours, no device, no country; admins may open too.
    let (status, answer) = server
        .admin(
            "POST",
            SESSIONS,
            Some(&admin),
            Some(json!({"uid": "alice"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let second = answer["customerCookie"].as_str().unwrap();
    assert!(is_cookie_shaped(second), "{answer}");
    assert_ne!(first, second, "two opens give different cookies");
    assert_eq!(answer["expiresAt"], "2030-01-01T04:00:00Z");
    assert_eq!(
        answer["session"],
        json!({"uid": "alice", "createdAt": "2030-01-01T00:00:00Z",
            "expiresAt": "2030-01-01T04:00:00Z"})
    );

    // The bounds of ttlSeconds are accepted; `null` is "not given".
    for (ttl, expires) in [
        (json!(60), "2030-01-01T00:01:00Z"),
        (json!(604_800), "2030-01-08T00:00:00Z"),
        (Value::Null, "2030-01-01T04:00:00Z"),
    ] {
        let body = json!({"uid": "alice", "ttlSeconds": ttl, "deviceID": null, "country": null});
        let (status, answer) = server
            .admin("POST", SESSIONS, Some(&support), Some(body))
            .await;
        assert_eq!(
            (status, &answer["expiresAt"]),
            (200, &json!(expires)),
            "{answer}"
        );
    }

    // The library resolves the cookie to the session.
    let sessions = library(&server).await;
    let found = sessions.resolve(&cookie(&first)).await.unwrap().unwrap();
    assert_eq!(found.uid.as_str(), "alice");
    assert_eq!(found.device_id.as_deref(), Some("dev-1:abc+/="));
    assert_eq!(found.country.as_deref(), Some("DE"));
    assert_eq!(found.expires_at, t0() + TimeDelta::hours(1));
    assert!(found.is_live(t0()));
}

#[tokio::test]
async fn the_cookie_is_stored_only_as_a_hash() {
    let (server, _clock) = server().await;
    let support = server.admin_token(Role::Support).await;
    let cookies = [
        open(
            &server,
            &support,
            json!({"uid": "alice", "deviceID": "d1", "country": "us"}),
        )
        .await,
        open(&server, &support, json!({"uid": "bob"})).await,
    ];

    let stores = sees::app::open_stores(&server.settings).await.unwrap();
    let rows = sqlx::query(
        "SELECT cookie_hash, uid, device_id, country, created_at, expires_at, revoked_at \
         FROM playback_sessions",
    )
    .fetch_all(stores.store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let mut hashes = Vec::new();
    for row in &rows {
        let mut text: Vec<String> = ["cookie_hash", "uid", "device_id", "country"]
            .iter()
            .filter_map(|c| row.try_get::<Option<String>, _>(*c).unwrap())
            .collect();
        for c in ["created_at", "expires_at", "revoked_at"] {
            if let Some(n) = row.try_get::<Option<i64>, _>(c).unwrap() {
                text.push(n.to_string());
            }
        }
        for cookie in &cookies {
            assert!(
                text.iter().all(|value| !value.contains(cookie.as_str())),
                "a column holds the cookie: {text:?}"
            );
        }
        let hash: String = row.try_get("cookie_hash").unwrap();
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
        hashes.push(hash);
    }
    // The hash is keyed by the master key.
    for cookie in &cookies {
        let keyed = stores
            .master
            .lookup_hash("playback-session-cookie", cookie.as_bytes());
        assert!(hashes.contains(&keyed));
    }
    stores.store.close().await;

    // Nor anywhere in the SQLite files (the database and its write-ahead log).
    if let Some(path) = server.settings.store.url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) else {
                continue;
            };
            for cookie in &cookies {
                assert!(
                    !bytes.windows(32).any(|w| w == cookie.as_bytes()),
                    "{path}{suffix} holds a cookie in clear"
                );
            }
        }
    }

    // The listing shows neither the cookie nor its hash.
    let reader = server.admin_token(Role::Reader).await;
    let listed = Value::Array(list(&server, &reader, "alice").await).to_string();
    for secret in cookies.iter().chain(&hashes) {
        assert!(!listed.contains(secret.as_str()), "{listed}");
    }
}

#[tokio::test]
async fn revoke_by_cookie_is_idempotent() {
    let (server, clock) = server().await;
    let support = server.admin_token(Role::Support).await;
    let sessions = library(&server).await;
    let first = open(&server, &support, json!({"uid": "alice"})).await;
    let other = open(&server, &support, json!({"uid": "alice"})).await;

    clock.set(t0() + TimeDelta::minutes(5));
    let (status, answer) = revoke(&server, &support, &first).await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    assert_eq!(answer["revoked"], 1, "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));

    let found = sessions.resolve(&cookie(&first)).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(t0() + TimeDelta::minutes(5)));
    assert!(!found.is_live(t0() + TimeDelta::minutes(5)));
    let untouched = sessions.resolve(&cookie(&other)).await.unwrap().unwrap();
    assert!(untouched.is_live(t0() + TimeDelta::minutes(5)));

    // Again, an unknown cookie, a cookie of another format: 200, revoked 0.
    let unknown = "A".repeat(32);
    for path_value in [
        first.as_str(),
        unknown.as_str(),
        "player-chosen-cookie",
        "%C3%84",
    ] {
        let (status, answer) = revoke(&server, &support, path_value).await;
        assert_eq!((status, &answer["revoked"]), (200, &json!(0)), "{answer}");
    }
    assert!(sessions.resolve(&cookie(&unknown)).await.unwrap().is_none());
    assert!(sessions
        .resolve(&cookie("player-chosen-cookie"))
        .await
        .unwrap()
        .is_none());

    // Not a customerCookie at all: 400 / 1011, without echoing the value.
    let long = "B".repeat(33);
    for path_value in [long.as_str(), "tab%09here", "%01", "%FF%FE"] {
        let (status, answer) = revoke(&server, &support, path_value).await;
        assert_error(status, &answer, 400, 1011);
        assert!(
            !answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(path_value),
            "{answer}"
        );
    }

    // The listing shows the revocation.
    let listed = list(&server, &support, "alice").await;
    let revoked: Vec<&Value> = listed.iter().filter(|s| s["live"] == false).collect();
    assert_eq!(revoked.len(), 1, "{listed:?}");
    assert_eq!(revoked[0]["revokedAt"], "2030-01-01T00:05:00Z");
}

#[tokio::test]
async fn revoke_by_user_revokes_every_live_session() {
    let (server, clock) = server().await;
    let support = server.admin_token(Role::Support).await;
    let sessions = library(&server).await;
    let mut bobs = Vec::new();
    for _ in 0..3 {
        bobs.push(open(&server, &support, json!({"uid": "bob"})).await);
    }
    let carols = open(&server, &support, json!({"uid": "carol"})).await;
    let (_, answer) = revoke(&server, &support, &bobs[0]).await;
    assert_eq!(answer["revoked"], 1);

    clock.set(t0() + TimeDelta::minutes(1));
    let (status, answer) = server
        .admin("DELETE", &user_path("bob"), Some(&support), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    assert_eq!(answer["revoked"], 2, "only the live ones: {answer}");
    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    for bob in &bobs {
        let found = sessions.resolve(&cookie(bob)).await.unwrap().unwrap();
        assert!(!found.is_live(t0() + TimeDelta::minutes(1)));
    }
    let carol = sessions.resolve(&cookie(&carols)).await.unwrap().unwrap();
    assert!(
        carol.is_live(t0() + TimeDelta::minutes(1)),
        "other users keep theirs"
    );

    // Again, and for a user without sessions: 0.
    for uid in ["bob", "nobody"] {
        let (status, answer) = server
            .admin("DELETE", &user_path(uid), Some(&support), None)
            .await;
        assert_eq!((status, &answer["revoked"]), (200, &json!(0)), "{answer}");
    }
    let listed = list(&server, &support, "bob").await;
    assert_eq!(listed.len(), 3);
    assert!(listed
        .iter()
        .all(|s| s["live"] == false && s.get("revokedAt").is_some()));
}

#[tokio::test]
async fn listing_is_newest_first_and_never_shows_the_cookie() {
    let (server, clock) = server().await;
    let support = server.admin_token(Role::Support).await;
    let reader = server.admin_token(Role::Reader).await;
    assert!(list(&server, &reader, "dora").await.is_empty());

    open(
        &server,
        &support,
        json!({"uid": "dora", "country": "FR", "ttlSeconds": 600}),
    )
    .await;
    clock.set(t0() + TimeDelta::minutes(1));
    let second = open(&server, &support, json!({"uid": "dora", "deviceID": "tv"})).await;
    clock.set(t0() + TimeDelta::minutes(2));
    open(&server, &support, json!({"uid": "someone-else"})).await;
    revoke(&server, &support, &second).await;

    let listed = list(&server, &reader, "dora").await;
    assert_eq!(
        listed,
        vec![
            json!({"uid": "dora", "deviceID": "tv", "createdAt": "2030-01-01T00:01:00Z",
                "expiresAt": "2030-01-01T04:01:00Z", "revokedAt": "2030-01-01T00:02:00Z",
                "live": false}),
            json!({"uid": "dora", "country": "FR", "createdAt": "2030-01-01T00:00:00Z",
                "expiresAt": "2030-01-01T00:10:00Z", "live": true}),
        ]
    );

    // A bad userid in the path: 400 / 1011.
    let (status, answer) = server
        .admin("GET", &user_path("%20padded"), Some(&reader), None)
        .await;
    assert_error(status, &answer, 400, 1011);
}

#[tokio::test]
async fn an_expired_session_is_not_live() {
    let (server, clock) = server().await;
    let support = server.admin_token(Role::Support).await;
    let sessions = library(&server).await;
    let short = open(&server, &support, json!({"uid": "erin", "ttlSeconds": 60})).await;

    let expiry = t0() + TimeDelta::seconds(60);
    let found = sessions.resolve(&cookie(&short)).await.unwrap().unwrap();
    assert!(found.is_live(expiry - TimeDelta::milliseconds(1)));
    assert!(!found.is_live(expiry), "live until, not at, expiresAt");

    clock.set(expiry);
    let listed = list(&server, &support, "erin").await;
    assert_eq!(listed[0]["live"], false, "{listed:?}");
    assert!(listed[0].get("revokedAt").is_none(), "{listed:?}");

    // Expired sessions are not revoked (nothing live to end), and stay as they were.
    let (_, answer) = revoke(&server, &support, &short).await;
    assert_eq!(answer["revoked"], 0, "{answer}");
    let (_, answer) = server
        .admin("DELETE", &user_path("erin"), Some(&support), None)
        .await;
    assert_eq!(answer["revoked"], 0, "{answer}");
    let found = sessions.resolve(&cookie(&short)).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, None);
    assert!(!found.is_live(expiry));
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let (server, _clock) = server().await;
    let support = server.admin_token(Role::Support).await;
    let long = "x".repeat(257);
    // What the refusals of a bad country and a bad ttlSeconds mention.
    const ISO: &str = "ISO 3166-1 alpha-2";
    const TTL: &str = "60 to 604800";
    let cases: Vec<(Value, u64, &str)> = vec![
        (json!({}), 1011, "uid"),
        (json!({"deviceID": "d"}), 1011, "uid"),
        (json!({"uid": ""}), 1011, ""),
        (json!({"uid": "   "}), 1011, ""),
        (json!({"uid": " padded"}), 1011, ""),
        (json!({"uid": "a,b"}), 1011, ""),
        (json!({"uid": "\u{1}\t"}), 1011, ""),
        (json!({"uid": long}), 1011, ""),
        (json!({"uid": 5}), 1011, ""),
        (json!({"uid": null}), 1011, ""),
        (json!({"uid": "v", "country": "USA"}), 1011, ISO),
        (json!({"uid": "v", "country": "1A"}), 1011, ISO),
        (json!({"uid": "v", "country": ""}), 1011, ISO),
        (json!({"uid": "v", "country": "u"}), 1011, ISO),
        (json!({"uid": "v", "country": "ÄÖ"}), 1011, ISO),
        (json!({"uid": "v", "country": 49}), 1011, ""),
        (json!({"uid": "v", "ttlSeconds": 10}), 1011, TTL),
        (json!({"uid": "v", "ttlSeconds": 59}), 1011, TTL),
        (json!({"uid": "v", "ttlSeconds": 604_801}), 1011, TTL),
        (
            json!({"uid": "v", "ttlSeconds": 1_000_000_000u64}),
            1011,
            TTL,
        ),
        (json!({"uid": "v", "ttlSeconds": -60}), 1011, ""),
        (json!({"uid": "v", "ttlSeconds": 60.5}), 1011, ""),
        (json!({"uid": "v", "ttlSeconds": "3600"}), 1011, ""),
        (
            json!({"uid": "v", "deviceID": "has space"}),
            1011,
            "deviceID",
        ),
        (json!({"uid": "v", "deviceID": ""}), 1011, "deviceID"),
        (json!({"uid": "v", "deviceID": long}), 1011, "deviceID"),
        (json!({"uid": "v", "ttl": 60}), 1012, "ttl"),
        (
            json!({"uid": "v", "customerCookie": "mine"}),
            1012,
            "customerCookie",
        ),
        (json!(["v"]), 1011, "object"),
    ];
    for (body, code, mentions) in cases {
        let (status, answer) = server
            .admin("POST", SESSIONS, Some(&support), Some(body.clone()))
            .await;
        assert_error(status, &answer, 400, code);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{body}: {message}");
    }
    // Not JSON at all.
    let response = reqwest::Client::new()
        .post(format!("http://{}{SESSIONS}", server.admin_addr))
        .bearer_auth(&support)
        .header("content-type", "application/json")
        .body("{\"uid\": ")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap();
    assert_error(status, &answer, 400, 1010);

    let stores = sees::app::open_stores(&server.settings).await.unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM playback_sessions")
        .fetch_one(stores.store.pool())
        .await
        .unwrap();
    assert_eq!(count, 0, "a refused request writes nothing");
    stores.store.close().await;
}

#[tokio::test]
async fn roles() {
    let (server, _clock) = server().await;
    let reader = server.admin_token(Role::Reader).await;
    let support = server.admin_token(Role::Support).await;
    let cookie = open(&server, &support, json!({"uid": "fay"})).await;

    // A reader lists but may neither open nor revoke (the role is checked before the body).
    assert_eq!(list(&server, &reader, "fay").await.len(), 1);
    for body in [json!({"uid": "fay"}), json!({"junk": true})] {
        let (status, answer) = server
            .admin("POST", SESSIONS, Some(&reader), Some(body))
            .await;
        assert_error(status, &answer, 403, 1004);
    }
    let (status, answer) = revoke(&server, &reader, &cookie).await;
    assert_error(status, &answer, 403, 1004);
    let (status, answer) = server
        .admin("DELETE", &user_path("fay"), Some(&reader), None)
        .await;
    assert_error(status, &answer, 403, 1004);

    // No token, or an unknown one: 401 everywhere.
    let cookie_path = format!("{SESSIONS}/{cookie}");
    let routes = [
        ("POST", SESSIONS, Some(json!({"uid": "fay"}))),
        ("DELETE", cookie_path.as_str(), None),
        ("DELETE", &user_path("fay"), None),
        ("GET", &user_path("fay"), None),
    ];
    for (method, path, body) in routes {
        for token in [None, Some("sees_not-a-real-token")] {
            let (status, answer) = server.admin(method, path, token, body.clone()).await;
            assert_error(status, &answer, 401, 1001);
        }
    }

    // Nothing changed.
    let listed = list(&server, &reader, "fay").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["live"], true);
}

#[tokio::test]
async fn sessions_work_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in harness::backend_stores(dir.path()).await {
        let sessions =
            PlaybackSessions::new(store.clone(), Arc::new(MasterKey::from_bytes(&[7; 32])));
        let other_key =
            PlaybackSessions::new(store.clone(), Arc::new(MasterKey::from_bytes(&[8; 32])));
        let alice = UserId::parse("alice").unwrap();
        let bob = UserId::parse("bob").unwrap();
        // Sub-millisecond parts are not kept.
        let now = t0() + TimeDelta::nanoseconds(1_234_567);
        let ms = t0() + TimeDelta::milliseconds(1);
        let hour = Duration::from_secs(3600);

        let (first, opened) = sessions
            .open(&alice, Some("dev-1"), Some("fr"), hour, now)
            .await
            .unwrap();
        assert!(is_cookie_shaped(first.expose()), "{backend}");
        assert_eq!(
            opened,
            PlaybackSession {
                uid: alice.clone(),
                device_id: Some("dev-1".to_owned()),
                country: Some("FR".to_owned()),
                created_at: ms,
                expires_at: ms + TimeDelta::hours(1),
                revoked_at: None,
            },
            "{backend}"
        );
        assert_eq!(
            sessions.resolve(&first).await.unwrap().as_ref(),
            Some(&opened),
            "{backend}"
        );
        assert!(
            other_key.resolve(&first).await.unwrap().is_none(),
            "{backend}: keyed hash"
        );
        assert!(sessions
            .resolve(&cookie("not-one-of-ours"))
            .await
            .unwrap()
            .is_none());

        // Three more of alice's: one expired, one revoked, one live; one of bob's.
        let later = now + TimeDelta::minutes(10);
        let (_expired, _) = sessions
            .open(
                &alice,
                None,
                None,
                Duration::from_secs(60),
                now + TimeDelta::minutes(1),
            )
            .await
            .unwrap();
        let (revoked, _) = sessions
            .open(&alice, None, None, hour, now + TimeDelta::minutes(2))
            .await
            .unwrap();
        let (_live, _) = sessions
            .open(&alice, None, Some("US"), hour, now + TimeDelta::minutes(3))
            .await
            .unwrap();
        let (bobs, _) = sessions.open(&bob, None, None, hour, now).await.unwrap();
        assert!(sessions.revoke(&revoked, later).await.unwrap(), "{backend}");
        assert!(
            !sessions.revoke(&revoked, later).await.unwrap(),
            "{backend}"
        );
        assert!(!other_key.revoke(&bobs, later).await.unwrap(), "{backend}");

        // The first and the live one remain: revoke_user counts them.
        assert_eq!(
            sessions.revoke_user(&alice, later).await.unwrap(),
            2,
            "{backend}"
        );
        assert_eq!(
            sessions.revoke_user(&alice, later).await.unwrap(),
            0,
            "{backend}"
        );
        assert!(sessions
            .resolve(&bobs)
            .await
            .unwrap()
            .unwrap()
            .is_live(later));

        let listed = sessions.sessions_of(&alice).await.unwrap();
        let created: Vec<DateTime<Utc>> = listed.iter().map(|s| s.created_at).collect();
        assert_eq!(
            created,
            [3, 2, 1, 0].map(|m| ms + TimeDelta::minutes(m)),
            "{backend}: newest first"
        );
        assert!(listed.iter().all(|s| !s.is_live(later)), "{backend}");
        let revoked_count = listed.iter().filter(|s| s.revoked_at.is_some()).count();
        assert_eq!(
            revoked_count, 3,
            "{backend}: the expired one is left as it was"
        );
        assert!(sessions
            .sessions_of(&UserId::parse("nobody").unwrap())
            .await
            .unwrap()
            .is_empty());
        store.close().await;
    }
}
