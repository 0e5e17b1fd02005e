//! Concurrency leases: the library on every backend (the limit and when the next slot frees, renewal
//! without double counting, expiry, evict-oldest, concurrent acquisitions that never pass the limit,
//! renew/stop/live/free_all), and the stream routes over real HTTP (the player's heartbeat and stop,
//! support listing and freeing a locked-out user, roles, bad input).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sees::admin::tokens::Role;
use sees::catalog::ConcurrencyPolicy;
use sees::catalog::{Admission, Lease, StreamLeases};
use sees::clock::FixedClock;
use sees::ids::{AssetId, UserId};
use sees::store::Store;
use serde_json::json;

use crate::harness::{
    self, assert_envelope, assert_error, backend_stores, spawn_at, t0, TestServer,
};

const BLOCK: ConcurrencyPolicy = ConcurrencyPolicy::BlockNew;
const EVICT: ConcurrencyPolicy = ConcurrencyPolicy::EvictOldest;
/// The lease duration of every test (the default `concurrency.lease_seconds`).
const LEASE: Duration = Duration::from_secs(120);

/// `t0()` + `s` seconds.
fn at(s: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(s)
}

fn uid(raw: &str) -> UserId {
    UserId::parse(raw).unwrap()
}

fn asset(raw: &str) -> AssetId {
    AssetId::parse(raw).unwrap()
}

const GRANTED: Admission = Admission::Granted { evicted: None };

/// The refusal at the limit `limit`, the next slot freeing at `at(next_free_s)`.
fn limit_reached(limit: u32, next_free_s: i64) -> Admission {
    Admission::LimitReached {
        limit,
        next_free_at: at(next_free_s),
    }
}

/// `acquire` for `user` of (`holder`, `asset_id`) at `at(s)`.
async fn acquire(
    leases: &StreamLeases,
    user: &str,
    holder: &str,
    asset_id: &str,
    limit: Option<u32>,
    policy: ConcurrencyPolicy,
    s: i64,
) -> Admission {
    leases
        .acquire(
            &uid(user),
            holder,
            &asset(asset_id),
            limit,
            policy,
            LEASE,
            at(s),
        )
        .await
        .unwrap()
}

/// `acquire` with the same arguments must answer `GRANTED` (nothing evicted).
macro_rules! assert_granted {
    ($($arg:expr),+ $(,)?) => {
        assert_eq!(acquire($($arg),+).await, GRANTED, "acquire({})", stringify!($($arg),+))
    };
}

/// `renew` for `user` of (`holder`, `asset_id`) at `at(s)`: whether a live lease was renewed.
async fn renew(leases: &StreamLeases, user: &str, holder: &str, asset_id: &str, s: i64) -> bool {
    leases
        .renew(&uid(user), holder, &asset(asset_id), LEASE, at(s))
        .await
        .unwrap()
}

/// The live leases of `user` at `at(s)` as (holder, asset).
async fn live(leases: &StreamLeases, user: &str, s: i64) -> Vec<(String, String)> {
    leases
        .live(&uid(user), at(s))
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.holder, l.asset_id.as_str().to_owned()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(h, a)| (h.to_string(), a.to_string()))
        .collect()
}

async fn each_backend() -> (tempfile::TempDir, Vec<(&'static str, StreamLeases)>) {
    let dir = tempfile::tempdir().unwrap();
    let stores = backend_stores(dir.path())
        .await
        .into_iter()
        .map(|(name, store)| (name, StreamLeases::new(store)))
        .collect();
    (dir, stores)
}

#[tokio::test]
async fn over_the_limit_a_new_stream_is_blocked_until_the_earliest_expiry() {
    let (_dir, backends) = each_backend().await;
    for (backend, leases) in &backends {
        let l = Some(2);
        assert_granted!(leases, "u", "d1", "m1", l, BLOCK, 0);
        assert_granted!(leases, "u", "d2", "m2", l, BLOCK, 10);
        assert_eq!(
            acquire(leases, "u", "d3", "m3", l, BLOCK, 20).await,
            limit_reached(2, 120),
            "{backend}"
        );
        // The denial wrote nothing; another user is not affected.
        assert_eq!(
            live(leases, "u", 20).await,
            pairs(&[("d1", "m1"), ("d2", "m2")]),
            "{backend}"
        );
        assert_granted!(leases, "v", "d3", "m3", l, BLOCK, 20);
        // The first lease renewed: the earliest expiry is now the second one's.
        assert!(renew(leases, "u", "d1", "m1", 30).await);
        assert_eq!(
            acquire(leases, "u", "d3", "m3", l, BLOCK, 40).await,
            limit_reached(2, 130),
            "{backend}"
        );
        // At the expiry the slot is free (a lease is live while now < expires_at).
        assert_granted!(leases, "u", "d3", "m3", l, BLOCK, 130);
        assert_eq!(
            live(leases, "u", 130).await,
            pairs(&[("d1", "m1"), ("d3", "m3")]),
            "{backend}"
        );
        // No limit: anything goes.
        for i in 0..5 {
            let holder = format!("x{i}");
            assert_granted!(leases, "w", &holder, "m", None, BLOCK, 0);
        }
        assert_eq!(live(leases, "w", 0).await.len(), 5, "{backend}");
    }
}

#[tokio::test]
async fn the_same_stream_renews_without_counting_twice() {
    let (_dir, backends) = each_backend().await;
    for (backend, leases) in &backends {
        let l = Some(1);
        assert_granted!(leases, "u", "d1", "m1", l, BLOCK, 0);
        assert_granted!(leases, "u", "d1", "m1", l, BLOCK, 30);
        assert_granted!(leases, "u", "d1", "m1", l, EVICT, 40);
        let listed = leases.live(&uid("u"), at(40)).await.unwrap();
        assert_eq!(
            listed,
            [Lease {
                uid: uid("u"),
                holder: "d1".into(),
                asset_id: asset("m1"),
                started_at: at(0),
                renewed_at: at(40),
                expires_at: at(160),
            }],
            "{backend}"
        );
        // Another asset on the same device, or the same asset on another device, is another stream.
        for (holder, asset_id) in [("d1", "m2"), ("d2", "m1")] {
            assert_eq!(
                acquire(leases, "u", holder, asset_id, l, BLOCK, 50).await,
                limit_reached(1, 160),
                "{backend} {holder} {asset_id}"
            );
        }
    }
}

#[tokio::test]
async fn expired_leases_never_count() {
    let (_dir, backends) = each_backend().await;
    for (backend, leases) in &backends {
        let l = Some(1);
        assert_granted!(leases, "u", "d1", "m1", l, BLOCK, 0);
        assert_eq!(live(leases, "u", 119).await.len(), 1, "{backend}");
        assert!(live(leases, "u", 120).await.is_empty(), "{backend}");
        // An expired lease cannot be renewed, and does not block a new stream.
        assert!(!renew(leases, "u", "d1", "m1", 121).await);
        assert_granted!(leases, "u", "d2", "m2", l, BLOCK, 121);
        assert_eq!(
            live(leases, "u", 121).await,
            pairs(&[("d2", "m2")]),
            "{backend}"
        );
        // The expired stream starting again is a new lease: it starts now.
        assert_granted!(leases, "u", "d1", "m1", None, BLOCK, 300);
        let listed = leases.live(&uid("u"), at(300)).await.unwrap();
        assert_eq!(listed.len(), 1, "{backend}");
        assert_eq!(
            (listed[0].started_at, listed[0].expires_at),
            (at(300), at(420))
        );
    }
}

#[tokio::test]
async fn evict_oldest_ends_the_stream_with_the_oldest_heartbeat() {
    let (_dir, backends) = each_backend().await;
    for (backend, leases) in &backends {
        let l = Some(2);
        assert_granted!(leases, "u", "a", "m", l, EVICT, 0);
        assert_granted!(leases, "u", "b", "m", l, EVICT, 10);
        // `a` started first but `b` has the older heartbeat.
        assert!(renew(leases, "u", "a", "m", 20).await);
        assert_eq!(
            acquire(leases, "u", "c", "m", l, EVICT, 30).await,
            Admission::Granted {
                evicted: Some(Lease {
                    uid: uid("u"),
                    holder: "b".into(),
                    asset_id: asset("m"),
                    started_at: at(10),
                    renewed_at: at(10),
                    expires_at: at(130),
                })
            },
            "{backend}"
        );
        assert_eq!(
            live(leases, "u", 30).await,
            pairs(&[("a", "m"), ("c", "m")]),
            "{backend}"
        );
        // The evicted player's heartbeat finds nothing.
        assert!(!renew(leases, "u", "b", "m", 31).await);
        // A limit lowered under the running streams: as many go as needed, oldest reported.
        let Admission::Granted {
            evicted: Some(oldest),
        } = acquire(leases, "u", "d", "m", Some(1), EVICT, 40).await
        else {
            panic!("{backend}: expected a grant with an eviction");
        };
        assert_eq!(oldest.holder, "a", "{backend}");
        assert_eq!(
            live(leases, "u", 40).await,
            pairs(&[("d", "m")]),
            "{backend}"
        );
        // A limit of 0 admits nothing under either policy and ends nothing.
        for policy in [BLOCK, EVICT] {
            assert_eq!(
                acquire(leases, "u", "e", "m", Some(0), policy, 50).await,
                Admission::LimitReached {
                    limit: 0,
                    next_free_at: DateTime::<Utc>::MAX_UTC
                },
                "{backend}"
            );
        }
        assert_eq!(
            live(leases, "u", 50).await,
            pairs(&[("d", "m")]),
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acquisitions_never_pass_the_limit() {
    let (_dir, backends) = each_backend().await;
    for (backend, leases) in &backends {
        for (user, policy) in [("block", BLOCK), ("evict", EVICT)] {
            let tasks: Vec<_> = (0..10)
                .map(|i| {
                    let leases = leases.clone();
                    tokio::spawn(async move {
                        leases
                            .acquire(
                                &uid(user),
                                &format!("device-{i}"),
                                &asset("movie"),
                                Some(3),
                                policy,
                                LEASE,
                                at(0),
                            )
                            .await
                    })
                })
                .collect();
            let mut granted = 0;
            let mut evicted = 0;
            for task in tasks {
                match task.await.unwrap().unwrap() {
                    Admission::Granted { evicted: e } => {
                        granted += 1;
                        evicted += usize::from(e.is_some());
                    }
                    Admission::LimitReached {
                        limit,
                        next_free_at,
                    } => {
                        assert_eq!((limit, next_free_at), (3, at(120)), "{backend}");
                    }
                }
            }
            let running = live(leases, user, 0).await.len();
            match policy {
                ConcurrencyPolicy::BlockNew => assert_eq!(granted, 3, "{backend}"),
                ConcurrencyPolicy::EvictOldest => {
                    assert_eq!((granted, evicted), (10, 7), "{backend}")
                }
            }
            assert_eq!(running, 3, "{backend} {user}");
        }
    }
}

#[tokio::test]
async fn an_unlimited_stream_opens_renews_restarts_and_is_swept() {
    let (_dir, backends) = each_backend().await;
    for (backend, leases) in &backends {
        let (u, m) = (uid("u"), asset("m1"));
        let open = |s: i64| leases.open_unlimited(&u, "d1", &m, LEASE, at(s));
        assert!(open(0).await.unwrap(), "{backend}: a new stream");
        assert!(!open(30).await.unwrap(), "{backend}: a renewal");
        let listed = leases.live(&u, at(40)).await.unwrap();
        assert_eq!(
            (
                listed[0].started_at,
                listed[0].renewed_at,
                listed[0].expires_at
            ),
            (at(0), at(30), at(30) + TimeDelta::from_std(LEASE).unwrap()),
            "{backend}: a renewal keeps its start"
        );
        // After it expired, the same stream starts again.
        let later = 30 + LEASE.as_secs() as i64 + 1;
        assert!(open(later).await.unwrap(), "{backend}: expired, so new");
        assert_eq!(
            leases.live(&u, at(later)).await.unwrap()[0].started_at,
            at(later)
        );
        // The sweep deletes what expired by then, and only that.
        acquire(leases, "v", "d2", "m2", None, BLOCK, later).await;
        let beyond = later + LEASE.as_secs() as i64;
        assert_eq!(
            leases.sweep_expired(at(beyond)).await.unwrap(),
            2,
            "{backend}"
        );
        assert_eq!(
            leases.sweep_expired(at(beyond)).await.unwrap(),
            0,
            "{backend}"
        );
        assert!(live(leases, "v", 0).await.is_empty(), "{backend}");
    }
}

#[tokio::test]
async fn concurrent_unlimited_opens_are_written_together_and_each_stream_is_new_once() {
    let (_dir, backends) = each_backend().await;
    for (backend, leases) in &backends {
        // 50 streams (10 users × 5 assets), each opened 4 times at once: 200 opens in flight.
        let opens = |s: i64| {
            let tasks: Vec<_> = (0..200)
                .map(|i| {
                    let leases = leases.clone();
                    let (user, stream) = (format!("u{}", i % 10), format!("m{}", (i / 10) % 5));
                    tokio::spawn(async move {
                        let opened = leases
                            .open_unlimited(&uid(&user), "d1", &asset(&stream), LEASE, at(s))
                            .await
                            .unwrap();
                        (user, stream, opened)
                    })
                })
                .collect();
            async move {
                let mut new = std::collections::BTreeMap::new();
                for task in tasks {
                    let (user, stream, opened) = task.await.unwrap();
                    *new.entry((user, stream)).or_insert(0) += usize::from(opened);
                }
                new
            }
        };
        let first = opens(0).await;
        assert_eq!(first.len(), 50, "{backend}");
        assert!(first.values().all(|&n| n == 1), "{backend}: {first:?}");
        let again = opens(10).await;
        assert!(again.values().all(|&n| n == 0), "{backend}: {again:?}");
        for u in 0..10 {
            assert_eq!(
                live(leases, &format!("u{u}"), 20).await.len(),
                5,
                "{backend}"
            );
        }
    }
}

#[tokio::test]
async fn renew_stop_live_and_free_all() {
    let (_dir, backends) = each_backend().await;
    for (backend, leases) in &backends {
        let (u, m) = (uid("u"), asset("m1"));
        assert!(!leases.renew(&u, "d1", &m, LEASE, at(0)).await.unwrap());
        assert!(!leases.stop(&u, "d1", &m).await.unwrap());
        assert!(live(leases, "u", 0).await.is_empty(), "{backend}");

        assert_granted!(leases, "u", "d1", "m1", None, BLOCK, 0);
        assert!(leases.renew(&u, "d1", &m, LEASE, at(100)).await.unwrap());
        let listed = leases.live(&u, at(200)).await.unwrap();
        assert_eq!(
            (
                listed[0].started_at,
                listed[0].renewed_at,
                listed[0].expires_at
            ),
            (at(0), at(100), at(220)),
            "{backend}"
        );
        // Another user's or another stream's names find nothing.
        assert!(!renew(leases, "v", "d1", "m1", 101).await);
        assert!(!leases.renew(&u, "d2", &m, LEASE, at(101)).await.unwrap());
        assert!(leases.stop(&u, "d1", &m).await.unwrap());
        assert!(!leases.stop(&u, "d1", &m).await.unwrap());
        assert!(live(leases, "u", 101).await.is_empty(), "{backend}");

        for holder in ["d1", "d2", "d3"] {
            assert_granted!(leases, "u", holder, "m1", None, BLOCK, 200);
        }
        assert_granted!(leases, "v", "d1", "m1", None, BLOCK, 200);
        assert_eq!(leases.free_all(&u).await.unwrap(), 3, "{backend}");
        assert_eq!(leases.free_all(&u).await.unwrap(), 0, "{backend}");
        assert!(live(leases, "u", 200).await.is_empty(), "{backend}");
        assert_eq!(live(leases, "v", 200).await.len(), 1, "{backend}");
        // Freed, the user starts again at once even at a limit of 1.
        assert_granted!(leases, "u", "d9", "m1", Some(1), BLOCK, 201);
    }
}

// ---- HTTP ----

/// An end-user JWT for `sub`, valid for a day from `t0()` (the server's clock).
fn jwt(sub: &str) -> String {
    harness::end_user_jwt_for("sees", sub, t0().timestamp(), 86_400)
}

/// A server whose clock stands at `t0()` (moved through the returned handle), with an end-user
/// issuer and 120-second leases; and the lease library over its store.
async fn server() -> (TestServer, Arc<FixedClock>, StreamLeases) {
    let (server, clock) = spawn_at(t0(), |s| {
        s.concurrency.lease = LEASE;
        s.auth.issuers = vec![harness::end_user_issuer_for("sees")];
    })
    .await;
    let store = Store::connect(&server.settings.store.url, 2).await.unwrap();
    (server, clock, StreamLeases::new(store))
}

fn stream_path(asset_id: &str, device: &str) -> String {
    format!("/oem/v2/streams/{asset_id}?device={device}")
}

/// `method` on the support route of `user`'s streams as `token`: the status and the answer.
async fn user_streams_call(
    server: &TestServer,
    method: &str,
    user: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    server
        .admin(method, &user_streams(user), Some(token), None)
        .await
}

fn user_streams(user: &str) -> String {
    format!("/oem/v1/admin/users/{user}/streams")
}

#[tokio::test]
async fn a_heartbeat_renews_a_running_stream_and_says_when_none_runs() {
    let (server, clock, leases) = server().await;
    let alice = jwt("alice");
    assert_granted!(&leases, "alice", "tv-1", "movie", Some(1), BLOCK, 0);

    clock.set(at(60));
    let (status, answer) = server
        .admin("PUT", &stream_path("movie", "tv-1"), Some(&alice), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    assert_eq!(answer["renewed"], true, "{answer}");
    assert_eq!(answer["expiresAt"], "2030-01-01T00:03:00Z", "{answer}");
    assert_eq!(
        (answer["assetID"].as_str(), answer["device"].as_str()),
        (Some("movie"), Some("tv-1"))
    );
    let listed = leases.live(&uid("alice"), at(60)).await.unwrap();
    assert_eq!(
        (listed[0].renewed_at, listed[0].expires_at),
        (at(60), at(180))
    );

    // No such stream: another device, another asset, another user's token — the documented answer,
    // the same on every retry, and nothing written.
    let bob = jwt("bob");
    for (path, token) in [
        (stream_path("movie", "tv-2"), &alice),
        (stream_path("other", "tv-1"), &alice),
        (stream_path("movie", "tv-1"), &bob),
        (stream_path("movie", "tv-2"), &alice),
    ] {
        let (status, answer) = server.admin("PUT", &path, Some(token), None).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_envelope(&answer);
        assert_eq!(answer["renewed"], false, "{answer}");
        assert!(answer.get("expiresAt").is_none(), "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains("start playback again"), "{message}");
    }
    assert_eq!(leases.live(&uid("alice"), at(60)).await.unwrap().len(), 1);
    assert!(leases.live(&uid("bob"), at(60)).await.unwrap().is_empty());

    // Past its expiry (no heartbeat for the lease duration) the stream is gone.
    clock.set(at(180));
    let (status, answer) = server
        .admin("PUT", &stream_path("movie", "tv-1"), Some(&alice), None)
        .await;
    assert_eq!(
        (status, &answer["renewed"]),
        (200, &json!(false)),
        "{answer}"
    );

    // Device ids with `+`, `/` and `=` travel percent-encoded.
    assert_granted!(&leases, "alice", "a+b/c=", "movie", None, BLOCK, 180);
    let (status, answer) = server
        .admin(
            "PUT",
            &stream_path("movie", "a%2Bb%2Fc%3D"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (status, &answer["renewed"]),
        (200, &json!(true)),
        "{answer}"
    );
    assert_eq!(answer["device"], "a+b/c=", "{answer}");
}

#[tokio::test]
async fn a_player_stops_its_stream_and_frees_its_slot() {
    let (server, _clock, leases) = server().await;
    let alice = jwt("alice");
    assert_granted!(&leases, "alice", "tv-1", "movie", Some(1), BLOCK, 0);
    assert!(matches!(
        acquire(&leases, "alice", "phone", "movie", Some(1), BLOCK, 1).await,
        Admission::LimitReached { .. }
    ));
    let (status, answer) = server
        .admin("DELETE", &stream_path("movie", "tv-1"), Some(&alice), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    assert_eq!(answer["stopped"], true, "{answer}");
    assert!(leases.live(&uid("alice"), at(1)).await.unwrap().is_empty());
    assert_granted!(&leases, "alice", "phone", "movie", Some(1), BLOCK, 2);

    // Idempotent: stopping again, or a stream that never ran, says so.
    for path in [stream_path("movie", "tv-1"), stream_path("never", "tv-1")] {
        let (status, answer) = server.admin("DELETE", &path, Some(&alice), None).await;
        assert_eq!(
            (status, &answer["stopped"]),
            (200, &json!(false)),
            "{answer}"
        );
    }
    // Another user cannot stop alice's stream.
    let (status, answer) = server
        .admin(
            "DELETE",
            &stream_path("movie", "phone"),
            Some(&jwt("bob")),
            None,
        )
        .await;
    assert_eq!(
        (status, &answer["stopped"]),
        (200, &json!(false)),
        "{answer}"
    );
    assert_eq!(leases.live(&uid("alice"), at(2)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn support_lists_and_frees_a_locked_out_user_in_one_call() {
    let (server, clock, leases) = server().await;
    let reader = server.admin_token(Role::Reader).await;
    let support = server.admin_token(Role::Support).await;
    let l = Some(2);
    assert_granted!(&leases, "alice", "tv-1", "m1", l, BLOCK, 0);
    assert_granted!(&leases, "alice", "tv-2", "m2", l, BLOCK, 5);
    assert_granted!(&leases, "bob", "tv-9", "m1", l, BLOCK, 5);
    // Locked out: a third stream is blocked.
    assert_eq!(
        acquire(&leases, "alice", "phone", "m3", l, BLOCK, 10).await,
        limit_reached(2, 120)
    );

    clock.set(at(10));
    let (status, answer) = user_streams_call(&server, "GET", "alice", &reader).await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    assert_eq!(
        answer["streams"],
        json!([
            {"assetID": "m1", "holder": "tv-1", "startedAt": "2030-01-01T00:00:00Z",
             "renewedAt": "2030-01-01T00:00:00Z", "expiresAt": "2030-01-01T00:02:00Z"},
            {"assetID": "m2", "holder": "tv-2", "startedAt": "2030-01-01T00:00:05Z",
             "renewedAt": "2030-01-01T00:00:05Z", "expiresAt": "2030-01-01T00:02:05Z"},
        ]),
        "{answer}"
    );

    // A reader may not free them.
    let (status, answer) = user_streams_call(&server, "DELETE", "alice", &reader).await;
    assert_error(status, &answer, 403, 1004);

    let (status, answer) = user_streams_call(&server, "DELETE", "alice", &support).await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    assert_eq!(answer["freed"], 2, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("alice"),
        "{answer}"
    );
    let (status, answer) = user_streams_call(&server, "GET", "alice", &reader).await;
    assert_eq!((status, &answer["streams"]), (200, &json!([])), "{answer}");
    // Bob's stream is untouched; alice starts again at once.
    assert_eq!(leases.live(&uid("bob"), at(10)).await.unwrap().len(), 1);
    assert_granted!(&leases, "alice", "phone", "m3", l, BLOCK, 11);

    // Freeing again: nothing to free. Expired streams are not listed.
    let (status, answer) = user_streams_call(&server, "DELETE", "nobody", &support).await;
    assert_eq!((status, &answer["freed"]), (200, &json!(0)), "{answer}");
    clock.set(at(131));
    let (status, answer) = user_streams_call(&server, "GET", "alice", &reader).await;
    assert_eq!((status, &answer["streams"]), (200, &json!([])), "{answer}");
}

#[tokio::test]
async fn roles_and_bad_input_are_refused() {
    let (server, _clock, leases) = server().await;
    let alice = jwt("alice");
    let reader = server.admin_token(Role::Reader).await;
    let admin = server.admin_token(Role::Admin).await;
    assert_granted!(&leases, "alice", "tv-1", "movie", None, BLOCK, 0);

    // No token, a bad token.
    for (method, path) in [
        ("PUT", stream_path("movie", "tv-1")),
        ("DELETE", stream_path("movie", "tv-1")),
        ("GET", user_streams("alice")),
        ("DELETE", user_streams("alice")),
    ] {
        let (status, answer) = server.admin(method, &path, None, None).await;
        assert_error(status, &answer, 401, 1001);
        let (status, answer) = server
            .admin(method, &path, Some("sees_not-a-token"), None)
            .await;
        assert_error(status, &answer, 401, 1001);
    }
    // Staff use the admin routes; end users only their own streams.
    for method in ["PUT", "DELETE"] {
        let (status, answer) = server
            .admin(method, &stream_path("movie", "tv-1"), Some(&admin), None)
            .await;
        assert_error(status, &answer, 403, 1003);
    }
    let (status, answer) = user_streams_call(&server, "GET", "alice", &alice).await;
    assert_error(status, &answer, 403, 1003);
    let (status, answer) = user_streams_call(&server, "DELETE", "alice", &alice).await;
    assert_error(status, &answer, 403, 1004);

    // The device: missing, empty, repeated, malformed (a raw `+` is a space), too long.
    let long = format!("?device={}", "d".repeat(257));
    for query in [
        "",
        "?device=",
        "?devices=tv-1",
        "?device=tv-1&device=tv-2",
        "?device=bad%20id",
        "?device=a+b",
        "?device=%C3%A9",
        long.as_str(),
    ] {
        for method in ["PUT", "DELETE"] {
            let path = format!("/oem/v2/streams/movie{query}");
            let (status, answer) = server.admin(method, &path, Some(&alice), None).await;
            assert_error(status, &answer, 400, 1017);
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("device"),
                "{answer}"
            );
        }
    }
    // The asset and the user id.
    let (status, answer) = server
        .admin("PUT", &stream_path("a%2Cb", "tv-1"), Some(&alice), None)
        .await;
    assert_error(status, &answer, 400, 1011);
    let (status, answer) = server
        .admin("GET", &user_streams("%20alice"), Some(&reader), None)
        .await;
    assert_error(status, &answer, 400, 1011);
    // Unknown methods.
    let (status, answer) = server
        .admin("POST", &stream_path("movie", "tv-1"), Some(&alice), None)
        .await;
    assert_error(status, &answer, 405, 1021);
    // None of it touched the lease.
    let listed = leases.live(&uid("alice"), at(0)).await.unwrap();
    assert_eq!((listed.len(), listed[0].renewed_at), (1, at(0)));
}
