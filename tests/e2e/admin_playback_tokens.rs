//! Entitlement tokens over real HTTP: `POST /oem/v2/entitlement` (the calling user) and
//! `POST /oem/v1/user/accounts/{userid}/entitlement` (support), with `tokentype` none, expressplay
//! (a real call to the ExpressPlay simulator) and akamai (checked by an EdgeAuth implementation written
//! independently in Python, and by Akamai's own Python SDK when `SEES_EDGEAUTH_PYTHON` names a Python
//! that has it); the stream lease held by `deviceID`; and every refusal with its status and code.

use std::process::Command;

use secrecy::SecretString;
use sees::admin::tokens::Role;
use sees::config::Settings;
use sees::expressplay::sim::{Behaviour, Fault};
use sees::ids::AssetId;
use sees::keys::KeyPolicy;
use serde_json::{json, Value};

use crate::harness::{self, assert_envelope, assert_error, t0, AdminWorld};

const AKAMAI_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778";
const PLAYBACK: &str = "https://cdn.example.test/live/event-7/master.m3u8?quality=hd";

fn jwt(sub: &str) -> String {
    harness::end_user_jwt(sub, t0().timestamp(), 86_400)
}

harness::admin_area!(
    /// The admin world at `t0()`, with the test identity provider and package `gold`.
    World
);

/// The world at `t0()` with an end-user issuer, the Akamai key when `akamai`, and `adjust`; package `gold`
/// holds assets `a1`, `a2` and `a3`; alice holds gold for 2029-2031, carol held it in 2020; `a1` is
/// protected by content key `c-a1`, `a3` by two keys.
async fn world(akamai: bool, adjust: impl FnOnce(&mut Settings)) -> World {
    let world = AdminWorld::start_with(t0(), |s| {
        s.auth.issuers = vec![harness::end_user_issuer()];
        if akamai {
            s.entitlement_tokens.akamai_key = Some(SecretString::from(AKAMAI_KEY.to_owned()));
        }
        adjust(s);
    })
    .await;
    let (server, admin, support) = (&world.server, &world.admin, &world.support);
    let body = json!({"package": {"id": "gold", "name": "Gold", "description": "all",
        "assetIDs": ["a1", "a2", "a3"], "billingPlanIDs": ["monthly"]}});
    let (status, answer) = server
        .admin("POST", "/oem/v1/user/packages", Some(admin), Some(body))
        .await;
    assert!(status == 200 || status == 201, "{answer}");
    for (uid, start, end) in [
        ("alice", "2029-01-01T00:00:00Z", "2031-01-01T00:00:00Z"),
        ("carol", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
    ] {
        let body = json!({"entitlement": {"packageID": "gold", "uid": uid,
            "startDate": start, "endDate": end}});
        let (status, answer) = server
            .admin(
                "POST",
                "/oem/v1/admin/entitlements",
                Some(support),
                Some(body),
            )
            .await;
        assert!(status == 200 || status == 201, "{answer}");
    }
    let protects = |asset: &str| KeyPolicy {
        asset_id: Some(AssetId::parse(asset).unwrap()),
        ..KeyPolicy::default()
    };
    server.add_key_with("c-a1", protects("a1")).await;
    server.add_key_with("c-a3-one", protects("a3")).await;
    server.add_key_with("c-a3-two", protects("a3")).await;
    World(world)
}

impl World {
    /// `POST /oem/v2/entitlement?{query}` as end user `sub` with `body`.
    async fn mine(&self, sub: &str, query: &str, body: Value) -> (u16, Value) {
        let token = jwt(sub);
        self.server
            .admin(
                "POST",
                &format!("/oem/v2/entitlement?{query}"),
                Some(&token),
                Some(body),
            )
            .await
    }

    /// The holders of `uid`'s live streams.
    async fn holders(&self, uid: &str) -> Vec<String> {
        let (status, answer) = self
            .server
            .admin(
                "GET",
                &format!("/oem/v1/admin/users/{uid}/streams"),
                Some(&self.admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["holder"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn body(asset: &str, device: Option<&str>) -> Value {
    let mut body = json!({"assetID": asset, "playbackUrl": PLAYBACK,
        "capabilities": {"widevineSecurityLevel": "L1"}});
    if let Some(device) = device {
        body["deviceID"] = json!(device);
    }
    body
}

#[tokio::test]
async fn expressplay_token_for_an_entitled_user_holds_a_lease_for_the_device() {
    let w = world(false, |_| {}).await;
    let (status, answer) = w
        .mine("alice", "tokentype=expressplay", body("a1", Some("ipad-1")))
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_envelope(&answer);
    assert_eq!(answer["entitled"], true);
    assert_eq!(answer["assetID"], "a1");
    assert_eq!(answer["tokenType"], "expressplay");
    let url = answer["entitlementToken"].as_str().unwrap();
    let prefix = format!(
        "http://{}/hms/fp/rights/?ExpressPlayToken=",
        w.server.sim.addr()
    );
    let token = url.strip_prefix(&prefix).expect("a simulator token URL");
    assert!(w.server.sim.issued_token(token).is_some(), "{url}");
    let sent = w.server.sim.recent_requests().pop().unwrap();
    let content = sees::ids::ContentId::parse("c-a1").unwrap();
    let expected_key = w.server.keys.get(&content).await;
    let expected_key = expected_key.unwrap().unwrap();
    assert_eq!(sent.params["contentKey"], *expected_key.key.cek_hex());
    assert!(!sent.params.contains_key("cookie"));
    assert_eq!(w.holders("alice").await, ["ipad-1"]);

    // The key material is never in the answer.
    assert!(!answer.to_string().contains(&*expected_key.key.cek_hex()));
}

#[tokio::test]
async fn none_decides_only_and_the_device_defaults_to_the_callers_address() {
    let w = world(false, |_| {}).await;
    let requests_before = w.server.sim.recent_requests().len();
    let (status, answer) = w.mine("alice", "tokentype=none", body("a2", None)).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["entitled"], true);
    assert_eq!(answer["entitlementToken"], "");
    assert_eq!(answer["tokenType"], "none");
    assert_eq!(w.server.sim.recent_requests().len(), requests_before);
    assert_eq!(w.holders("alice").await, ["127.0.0.1"]);
}

#[tokio::test]
async fn support_requests_a_token_for_a_user() {
    let w = world(false, |_| {}).await;
    let (status, answer) = w
        .server
        .admin(
            "POST",
            "/oem/v1/user/accounts/alice/entitlement?tokentype=none",
            Some(&w.support),
            Some(body("a1", Some("support-desk"))),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["entitled"], true);
    assert_eq!(w.holders("alice").await, ["support-desk"]);

    let (status, answer) = w
        .server
        .admin(
            "POST",
            "/oem/v1/user/accounts/bob/entitlement?tokentype=none",
            Some(&w.support),
            Some(body("a1", Some("support-desk"))),
        )
        .await;
    assert_error(status, &answer, 403, 1080);

    let reader = w.server.admin_token(Role::Reader).await;
    let (status, answer) = w
        .server
        .admin(
            "POST",
            "/oem/v1/user/accounts/alice/entitlement?tokentype=none",
            Some(&reader),
            Some(body("a1", None)),
        )
        .await;
    assert_error(status, &answer, 403, 1004);
    let user = jwt("alice");
    let (status, answer) = w
        .server
        .admin(
            "POST",
            "/oem/v1/user/accounts/alice/entitlement?tokentype=none",
            Some(&user),
            Some(body("a1", None)),
        )
        .await;
    assert_error(status, &answer, 403, 1004);
    let (status, answer) = w
        .server
        .admin(
            "POST",
            "/oem/v2/entitlement?tokentype=none",
            Some(&w.support),
            Some(body("a1", None)),
        )
        .await;
    assert_error(status, &answer, 403, 1003);
    let (status, answer) = w
        .server
        .admin(
            "POST",
            "/oem/v2/entitlement?tokentype=none",
            None,
            Some(body("a1", None)),
        )
        .await;
    assert_error(status, &answer, 401, 1001);
}

/// An EdgeAuth checker written from Akamai's published token format, sharing nothing with sees: it
/// re-derives the ACL from the playback URL, recomputes the HMAC-SHA256 over the fields under the hex
/// key and checks the window against the given time. Prints `ok` or why not.
const EDGEAUTH_CHECK: &str = r#"
import hashlib, hmac, sys, urllib.parse
token, key_hex, url, now, window = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
fields = token.split("~")
names = [f.split("=", 1)[0] for f in fields]
if names != ["st", "exp", "acl", "hmac"]:
    sys.exit("fields " + repr(names))
values = dict(f.split("=", 1) for f in fields)
path = urllib.parse.urlsplit(url).path
expected_acl = path[: path.rfind("/")] + "/*"
if values["acl"] != expected_acl:
    sys.exit("acl " + values["acl"] + " != " + expected_acl)
if int(values["st"]) != now or int(values["exp"]) != now + window:
    sys.exit("window " + values["st"] + ".." + values["exp"])
signed = "~".join(fields[:3]).encode()
mac = hmac.new(bytes.fromhex(key_hex), signed, hashlib.sha256).hexdigest()
if not hmac.compare_digest(mac, values["hmac"]):
    sys.exit("hmac mismatch")
print("ok")
"#;

/// Akamai's own SDK (`pip install akamai-edgeauth`) generating the token for the same inputs.
const EDGEAUTH_SDK: &str = r#"
import sys
from akamai.edgeauth import EdgeAuth
key, acl, start, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
print(EdgeAuth(key=key, start_time=start, window_seconds=window).generate_acl_token(acl))
"#;

fn python(interpreter: &str, script: &str, args: &[&str]) -> String {
    let output = Command::new(interpreter)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {interpreter} (python3 is needed by this test): {e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn akamai_tokens_verify_against_independent_edgeauth_implementations() {
    let w = world(true, |s| {
        s.entitlement_tokens.akamai_window = std::time::Duration::from_secs(600)
    })
    .await;
    let (status, answer) = w
        .mine("alice", "tokentype=akamai", body("a2", Some("tv-1")))
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["tokenType"], "akamai");
    let token = answer["entitlementToken"].as_str().unwrap();
    let now = t0().timestamp().to_string();
    assert_eq!(
        python(
            "python3",
            EDGEAUTH_CHECK,
            &[token, AKAMAI_KEY, PLAYBACK, &now, "600"]
        ),
        "ok"
    );
    // A token altered anywhere fails the same check (the check can fail).
    let tampered = token.replace("/live/event-7/*", "/live/*");
    let output = Command::new("python3")
        .args([
            "-c",
            EDGEAUTH_CHECK,
            &tampered,
            AKAMAI_KEY,
            PLAYBACK,
            &now,
            "600",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());

    match std::env::var("SEES_EDGEAUTH_PYTHON") {
        Ok(sdk_python) => assert_eq!(
            python(
                &sdk_python,
                EDGEAUTH_SDK,
                &[AKAMAI_KEY, "/live/event-7/*", &now, "600"]
            ),
            token
        ),
        Err(_) => eprintln!("SEES_EDGEAUTH_PYTHON is not set: Akamai's SDK cross-check skipped"),
    }
    assert!(!answer.to_string().contains(AKAMAI_KEY));

    // A playback URL whose path holds a reserved character is refused (no wider ACL).
    let mut wild = body("a2", None);
    wild["playbackUrl"] = json!("https://cdn.example.test/live/*/master.m3u8");
    let (status, answer) = w.mine("alice", "tokentype=akamai", wild).await;
    assert_error(status, &answer, 400, 1011);
}

#[tokio::test]
async fn token_types_that_are_not_offered_are_listed() {
    let w = world(false, |_| {}).await;
    for query in [
        "",
        "tokentype=turner-akamai",
        "tokentype=isp-atlas",
        "tokentype=akamai",
        "tokentype=drm",
        "tokentype=none&tokentype=none",
    ] {
        let (status, answer) = w.mine("alice", query, body("a1", None)).await;
        assert_error(status, &answer, 400, 1081);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.ends_with("this server offers tokentype none, expressplay"),
            "{query}: {message}"
        );
    }
    let (status, answer) = w
        .mine("alice", "tokentype=none&extra=1", body("a1", None))
        .await;
    assert_error(status, &answer, 400, 1017);
    assert!(w.holders("alice").await.is_empty());
}

#[tokio::test]
async fn refusals_have_their_status_and_code_and_hold_nothing() {
    let w = world(false, |_| {}).await;
    let check = |(status, answer): (u16, Value), http: u16, code: u64, text: &str| {
        assert_error(status, &answer, http, code);
        let message = answer["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(text), "{message} lacks {text}");
    };
    check(
        w.mine("bob", "tokentype=none", body("a1", None)).await,
        403,
        1080,
        "SEES 3001",
    );
    check(
        w.mine("carol", "tokentype=none", body("a1", None)).await,
        403,
        1080,
        "SEES 3002",
    );
    check(
        w.mine("alice", "tokentype=none", body("not-packaged", None))
            .await,
        404,
        1044,
        "not-packaged",
    );
    check(
        w.mine("alice", "tokentype=expressplay", body("a2", None))
            .await,
        404,
        1045,
        "a2",
    );
    check(
        w.mine("alice", "tokentype=expressplay", body("a3", None))
            .await,
        409,
        1082,
        "a3",
    );
    let mut bad_url = body("a1", None);
    bad_url["playbackUrl"] = json!("/relative/master.m3u8");
    check(
        w.mine("alice", "tokentype=none", bad_url).await,
        400,
        1011,
        "playbackUrl",
    );
    let mut bad_device = body("a1", None);
    bad_device["deviceID"] = json!("has spaces");
    check(
        w.mine("alice", "tokentype=none", bad_device).await,
        400,
        1011,
        "deviceID",
    );
    let mut unknown = body("a1", None);
    unknown["colour"] = json!("red");
    let (status, answer) = w.mine("alice", "tokentype=none", unknown).await;
    assert_error(status, &answer, 400, 1012);
    let mut level = body("a1", None);
    level["capabilities"] = json!({"widevineSecurityLevel": "L2"});
    let (status, answer) = w.mine("alice", "tokentype=none", level).await;
    assert!(status == 400, "{answer}");
    let (status, answer) = w
        .mine("alice", "tokentype=none", json!({"assetID": "a1"}))
        .await;
    assert_error(status, &answer, 400, 1011);
    assert!(w.holders("alice").await.is_empty());
    assert!(w.holders("bob").await.is_empty());
}

#[tokio::test]
async fn the_concurrency_limit_applies_and_a_failed_token_frees_its_lease() {
    let w = world(false, |s| s.concurrency.default_limit = 1).await;
    let (status, answer) = w
        .mine("alice", "tokentype=none", body("a1", Some("phone")))
        .await;
    assert_eq!(status, 201, "{answer}");
    // The same device again renews its stream.
    let (status, answer) = w
        .mine("alice", "tokentype=none", body("a1", Some("phone")))
        .await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = w
        .mine("alice", "tokentype=none", body("a2", Some("tablet")))
        .await;
    assert_error(status, &answer, 403, 1080);
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("SEES 3008"));
    assert_eq!(w.holders("alice").await, ["phone"]);

    let (status, answer) = w
        .server
        .admin(
            "DELETE",
            "/oem/v1/admin/users/alice/streams",
            Some(&w.support),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    w.server.sim.set_behaviour(Behaviour {
        fault: Some(Fault::Status { status: 500 }),
        ..Behaviour::default()
    });
    let (status, answer) = w
        .mine("alice", "tokentype=expressplay", body("a1", Some("tablet")))
        .await;
    assert_error(status, &answer, 502, 1083);
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("SEES 4003"));
    assert!(w.holders("alice").await.is_empty());
}
