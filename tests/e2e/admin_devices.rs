//! Per-user device limits: the admin routes over real HTTP (listing, removing one or all, roles, bad
//! input, a removal freeing a slot), and the library on every backend (the limit, re-registration,
//! removal, and concurrent registrations that never pass the limit).

use std::sync::Arc;

use chrono::TimeDelta;
use sees::admin::tokens::Role;
use sees::catalog::{DeviceAdmission, UserDevices};
use sees::ids::{DeviceId, UserId};
use serde_json::{json, Value};

use crate::harness::{self, assert_envelope, assert_error, spawn_at, t0, TestServer};

fn uid(raw: &str) -> UserId {
    UserId::parse(raw).unwrap()
}

fn device(raw: &str) -> DeviceId {
    DeviceId::parse(raw).unwrap()
}

fn devices_path(uid: &str) -> String {
    format!("/oem/v1/admin/users/{uid}/devices")
}

/// A server whose clock stands at `t0()`.
async fn server() -> TestServer {
    spawn_at(t0(), |_| {}).await.0
}

/// The device library over the server's store.
async fn library(server: &TestServer) -> UserDevices {
    let stores = sees::app::open_stores(&server.settings).await.unwrap();
    UserDevices::new(stores.store)
}

/// Registers `devices` for `user` without a limit, a second apart from `t0()`.
async fn register_all(devices: &UserDevices, user: &str, ids: &[&str]) {
    for (i, id) in ids.iter().enumerate() {
        let at = t0() + TimeDelta::seconds(i as i64);
        assert_eq!(
            devices
                .register(&uid(user), &device(id), None, at)
                .await
                .unwrap(),
            DeviceAdmission::Admitted
        );
    }
}

/// The devices `GET` lists for `user`, as (deviceID, registeredAt).
async fn listed(server: &TestServer, token: &str, user: &str) -> Vec<(String, String)> {
    let (status, answer) = server
        .admin("GET", &devices_path(user), Some(token), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    answer["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d.as_object().unwrap().len(), 2, "{d}");
            (
                d["deviceID"].as_str().unwrap().to_owned(),
                d["registeredAt"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `DELETE path` as `token`: the status and the answer.
async fn remove(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    server.admin("DELETE", path, Some(token), None).await
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(d, at)| ((*d).to_owned(), (*at).to_owned()))
        .collect()
}

#[tokio::test]
async fn support_lists_and_removes_a_users_devices() {
    let server = server().await;
    let reader = server.admin_token(Role::Reader).await;
    let support = server.admin_token(Role::Support).await;
    let devices = library(&server).await;

    // A user with no device: an empty list, and removals that remove nothing.
    assert!(listed(&server, &reader, "nobody").await.is_empty());
    let (status, answer) = remove(&server, &support, &devices_path("nobody")).await;
    assert_eq!((status, &answer["removed"]), (200, &json!(0)), "{answer}");
    assert_envelope(&answer);

    // `/`, `+` and `=` are device-id characters: percent-encoded in a path.
    register_all(&devices, "alice", &["dev-a", "b64/x+y=", "dev-c"]).await;
    register_all(&devices, "bob", &["dev-a"]).await;
    assert_eq!(
        listed(&server, &reader, "alice").await,
        pairs(&[
            ("dev-a", "2030-01-01T00:00:00Z"),
            ("b64/x+y=", "2030-01-01T00:00:01Z"),
            ("dev-c", "2030-01-01T00:00:02Z"),
        ])
    );

    let one = format!("{}/b64%2Fx%2By%3D", devices_path("alice"));
    let (status, answer) = remove(&server, &support, &one).await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    assert_eq!(answer["removed"], 1, "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    // Idempotent: gone already.
    let (status, answer) = remove(&server, &support, &one).await;
    assert_eq!((status, &answer["removed"]), (200, &json!(0)), "{answer}");
    // A trailing `/` is ignored like everywhere in the admin API.
    let (status, answer) = remove(
        &server,
        &support,
        &format!("{}/dev-c/", devices_path("alice")),
    )
    .await;
    assert_eq!((status, &answer["removed"]), (200, &json!(1)), "{answer}");
    assert_eq!(
        listed(&server, &reader, "alice").await,
        pairs(&[("dev-a", "2030-01-01T00:00:00Z")])
    );

    register_all(&devices, "alice", &["dev-d", "dev-e"]).await;
    let (status, answer) = remove(&server, &support, &devices_path("alice")).await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer);
    assert_eq!(answer["removed"], 3, "{answer}");
    assert!(listed(&server, &reader, "alice").await.is_empty());
    // Bob's device of the same id is his own.
    assert_eq!(
        listed(&server, &support, "bob").await,
        pairs(&[("dev-a", "2030-01-01T00:00:00Z")])
    );
}

#[tokio::test]
async fn a_removal_frees_a_slot() {
    let server = server().await;
    let support = server.admin_token(Role::Support).await;
    let devices = library(&server).await;
    register_all(&devices, "carol", &["one", "two"]).await;
    let refused = devices
        .register(&uid("carol"), &device("three"), Some(2), t0())
        .await
        .unwrap();
    assert_eq!(
        refused,
        DeviceAdmission::LimitReached {
            limit: 2,
            devices: vec!["one".into(), "two".into()]
        }
    );

    let (status, answer) =
        remove(&server, &support, &format!("{}/one", devices_path("carol"))).await;
    assert_eq!((status, &answer["removed"]), (200, &json!(1)), "{answer}");
    assert_eq!(
        devices
            .register(&uid("carol"), &device("three"), Some(2), t0())
            .await
            .unwrap(),
        DeviceAdmission::Admitted
    );
}

#[tokio::test]
async fn roles_and_bad_input() {
    let server = server().await;
    let reader = server.admin_token(Role::Reader).await;
    let support = server.admin_token(Role::Support).await;
    let devices = library(&server).await;
    register_all(&devices, "dave", &["keep-me"]).await;
    let one = format!("{}/keep-me", devices_path("dave"));

    for (method, path) in [
        ("GET", devices_path("dave")),
        ("DELETE", devices_path("dave")),
        ("DELETE", one.clone()),
    ] {
        let (status, answer) = server.admin(method, &path, None, None).await;
        assert_error(status, &answer, 401, 1001);
        let (status, answer) = server.admin(method, &path, Some("not-a-token"), None).await;
        assert_error(status, &answer, 401, 1001);
    }
    // A reader reads but does not remove.
    for path in [devices_path("dave"), one.clone()] {
        let (status, answer) = remove(&server, &reader, &path).await;
        assert_error(status, &answer, 403, 1004);
    }
    // Methods the routes do not take.
    for (method, path) in [("POST", devices_path("dave")), ("GET", one.clone())] {
        let (status, answer) = server
            .admin(method, &path, Some(&support), Some(json!({})))
            .await;
        assert_error(status, &answer, 405, 1021);
    }
    // Identifiers that are not valid: a blank or spaced user id, a device id with a character outside
    // the device-id alphabet, one that is too long.
    let long = "d".repeat(DeviceId::MAX_CHARS + 1);
    for (method, path) in [
        ("GET", devices_path("%20dave")),
        ("DELETE", devices_path("%20")),
        ("DELETE", format!("{}/keep%21me", devices_path("dave"))),
        ("DELETE", format!("{}/keep%20me", devices_path("dave"))),
        ("DELETE", format!("{}/{long}", devices_path("dave"))),
        ("DELETE", format!("{}/keep-me", devices_path("a,b"))),
    ] {
        let (status, answer) = server.admin(method, &path, Some(&support), None).await;
        assert_error(status, &answer, 400, 1011);
    }
    // Nothing was removed on the way.
    assert_eq!(
        listed(&server, &reader, "dave").await,
        pairs(&[("keep-me", "2030-01-01T00:00:00Z")])
    );
}

/// The devices of `user` as ids, in listing order.
async fn ids_of(devices: &UserDevices, user: &str) -> Vec<String> {
    devices
        .list(&uid(user))
        .await
        .unwrap()
        .into_iter()
        .map(|(d, _)| d.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn device_limits_work_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in harness::backend_stores(dir.path()).await {
        let devices = UserDevices::new(store.clone());
        let alice = uid("alice");
        let at = |s: i64| t0() + TimeDelta::seconds(s);
        let register = |d: &'static str, limit: Option<u32>, s: i64| {
            let devices = devices.clone();
            let alice = alice.clone();
            async move {
                devices
                    .register(&alice, &device(d), limit, at(s))
                    .await
                    .unwrap()
            }
        };

        for (i, d) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(
                register(d, Some(3), i as i64).await,
                DeviceAdmission::Admitted,
                "{backend}"
            );
        }
        // Full: a new device is refused, naming the devices, and nothing is written.
        let before = devices.list(&alice).await.unwrap();
        assert_eq!(
            register("d", Some(3), 10).await,
            DeviceAdmission::LimitReached {
                limit: 3,
                devices: vec!["a".into(), "b".into(), "c".into()]
            },
            "{backend}"
        );
        assert_eq!(devices.list(&alice).await.unwrap(), before, "{backend}");

        // A known device is admitted at the limit (and below a lowered one); its time is refreshed.
        // Times keep milliseconds only.
        let refreshed = at(20) + TimeDelta::nanoseconds(1_234_567);
        assert_eq!(
            devices
                .register(&alice, &device("a"), Some(2), refreshed)
                .await
                .unwrap(),
            DeviceAdmission::Admitted,
            "{backend}"
        );
        assert_eq!(
            devices.list(&alice).await.unwrap(),
            vec![
                (device("b"), at(1)),
                (device("c"), at(2)),
                (device("a"), at(20) + TimeDelta::milliseconds(1)),
            ],
            "{backend}"
        );
        // A lowered limit refuses new devices; `Some(0)` refuses every new one; `None` has no limit.
        assert!(
            matches!(
                register("d", Some(2), 21).await,
                DeviceAdmission::LimitReached { limit: 2, ref devices } if devices.len() == 3
            ),
            "{backend}"
        );
        let bob = uid("bob");
        assert_eq!(
            devices
                .register(&bob, &device("a"), Some(0), at(0))
                .await
                .unwrap(),
            DeviceAdmission::LimitReached {
                limit: 0,
                devices: vec![]
            },
            "{backend}"
        );
        assert!(devices.list(&bob).await.unwrap().is_empty(), "{backend}");
        assert_eq!(
            register("d", None, 22).await,
            DeviceAdmission::Admitted,
            "{backend}"
        );
        assert_eq!(
            ids_of(&devices, "alice").await,
            ["b", "c", "a", "d"],
            "{backend}"
        );

        // Users are counted apart: the same device id for another user is another slot.
        assert_eq!(
            devices
                .register(&bob, &device("a"), Some(1), at(0))
                .await
                .unwrap(),
            DeviceAdmission::Admitted,
            "{backend}"
        );

        // Removal frees a slot; removing again removes nothing.
        assert!(
            devices.remove(&alice, &device("b")).await.unwrap(),
            "{backend}"
        );
        assert!(
            !devices.remove(&alice, &device("b")).await.unwrap(),
            "{backend}"
        );
        assert!(
            !devices.remove(&alice, &device("zz")).await.unwrap(),
            "{backend}"
        );
        assert_eq!(
            ids_of(&devices, "alice").await,
            ["c", "a", "d"],
            "{backend}"
        );
        assert!(
            matches!(
                register("e", Some(3), 30).await,
                DeviceAdmission::LimitReached { .. }
            ),
            "{backend}: three devices, limit 3"
        );
        assert!(
            devices.remove(&alice, &device("d")).await.unwrap(),
            "{backend}"
        );
        assert_eq!(
            register("e", Some(3), 30).await,
            DeviceAdmission::Admitted,
            "{backend}"
        );
        assert_eq!(
            ids_of(&devices, "alice").await,
            ["c", "a", "e"],
            "{backend}"
        );

        assert_eq!(devices.remove_all(&alice).await.unwrap(), 3, "{backend}");
        assert_eq!(devices.remove_all(&alice).await.unwrap(), 0, "{backend}");
        assert!(devices.list(&alice).await.unwrap().is_empty(), "{backend}");
        assert_eq!(ids_of(&devices, "bob").await, ["a"], "{backend}");

        concurrent_registrations_never_pass_the_limit(backend, &devices).await;
        store.close().await;
    }
}

/// How many registrations `register_at_once` starts together.
const AT_ONCE: usize = 8;

/// `AT_ONCE` registrations for `user` (the i-th of `device_of(i)`, under `limit`), released together
/// by a barrier; their answers.
async fn register_at_once(
    devices: &UserDevices,
    user: &UserId,
    limit: u32,
    device_of: fn(usize) -> DeviceId,
) -> Vec<DeviceAdmission> {
    let barrier = Arc::new(tokio::sync::Barrier::new(AT_ONCE));
    let tasks: Vec<_> = (0..AT_ONCE)
        .map(|i| {
            let (devices, user, barrier) = (devices.clone(), user.clone(), barrier.clone());
            let id = device_of(i);
            tokio::spawn(async move {
                barrier.wait().await;
                devices
                    .register(&user, &id, Some(limit), t0())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(AT_ONCE);
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Eight registrations at once, for several users: distinct devices with limit 3 admit exactly three;
/// the same new device eight times admits all eight and stores one row.
async fn concurrent_registrations_never_pass_the_limit(backend: &str, devices: &UserDevices) {
    const LIMIT: u32 = 3;
    for round in 0..5 {
        let user = uid(&format!("racer-{round}"));
        let answers =
            register_at_once(devices, &user, LIMIT, |i| device(&format!("dev-{i}"))).await;
        let mut admitted = 0;
        for answer in answers {
            match answer {
                DeviceAdmission::Admitted => admitted += 1,
                DeviceAdmission::LimitReached { limit, devices } => {
                    assert_eq!(limit, LIMIT, "{backend}");
                    assert_eq!(devices.len(), LIMIT as usize, "{backend}: {devices:?}");
                }
            }
        }
        assert_eq!(admitted, LIMIT, "{backend}: round {round}");
        assert_eq!(
            devices.list(&user).await.unwrap().len(),
            LIMIT as usize,
            "{backend}: round {round}"
        );

        let same = uid(&format!("same-device-{round}"));
        for answer in register_at_once(devices, &same, 1, |_| device("only")).await {
            assert_eq!(answer, DeviceAdmission::Admitted, "{backend}");
        }
        assert_eq!(ids_of(devices, same.as_str()).await, ["only"], "{backend}");
    }
}

#[tokio::test]
async fn the_listing_answer_has_its_documented_shape() {
    let server = server().await;
    let reader = server.admin_token(Role::Reader).await;
    let devices = library(&server).await;
    register_all(&devices, "erin", &["x"]).await;
    let (status, answer) = server
        .admin("GET", &devices_path("erin"), Some(&reader), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut answer = answer;
    let object = answer.as_object_mut().unwrap();
    object.remove("requestID");
    object.remove("timestamp");
    assert_eq!(
        Value::Object(object.clone()),
        json!({"devices": [{"deviceID": "x", "registeredAt": "2030-01-01T00:00:00Z"}]})
    );
}
