//! The audit log end to end: SEES decisions (allowed, denied, upstream error) and admin writes
//! (applied and refused) become events in the store and the JSON-lines file; `sees audit query`
//! filters them through the real binary; retention prunes by the injected clock; no event holds the
//! content key, the cookie or the admin token.

use std::process::Command;

use chrono::{DateTime, Utc};
use sees::admin::tokens::Role;
use sees::clock::Clock;
use sees::config::DecisionMode;
use sees::expressplay::sim::{Behaviour, Fault};
use sees::ids::AssetId;
use sees::keys::KeyPolicy;
use serde_json::{json, Value};

use crate::harness::{self, sees_binary, AdminWorld};

harness::admin_area!(
    /// The admin world in catalogue mode at 2026-03-01T12:00:00Z.
    World
);

async fn world(adjust: impl FnOnce(&mut sees::config::Settings)) -> World {
    let t0 = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    World(
        AdminWorld::start_with(t0, |s| {
            s.decision.mode = DecisionMode::Catalog;
            s.expressplay.breaker_failures = 1000;
            adjust(s);
        })
        .await,
    )
}

impl World {
    /// A playback session for `uid`; its cookie.
    async fn session(&self, uid: &str) -> String {
        self.0.session(uid, None).await
    }

    async fn play(&self, message_id: &str, content: &str, cookie: &str) -> Value {
        let body = json!({"messageID": message_id, "version": 1, "contentID": content, "customerCookie": cookie});
        let (status, answer) = self.server.post(body.to_string()).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// `sees audit query ARGS --json` against the server's store; the events.
    async fn query(&self, args: &[&str]) -> Vec<Value> {
        self.server.state.audit.flush().await;
        let output = self.cli(&[args, &["--json"]].concat());
        output
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// `sees audit query ARGS`; stdout.
    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(sees_binary())
            .args(["audit", "query"])
            .args(args)
            .env("SEES__STORE__URL", &self.server.settings.store.url)
            .env_remove("SEES_CONFIG")
            .current_dir(self.server.dir.path())
            .output()
            .expect("running sees");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "sees audit query {args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

fn field<'a>(event: &'a Value, name: &str) -> &'a str {
    event[name].as_str().unwrap_or_default()
}

#[tokio::test]
async fn decisions_and_writes_are_events_that_query_filters_and_that_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("audit.jsonl");
    let jsonl_for_settings = jsonl.clone();
    let w = world(move |s| s.audit.jsonl_path = Some(jsonl_for_settings)).await;
    let start = w.clock.now();

    // Admin writes: applied, refused for the role, refused without a token; a read is not audited.
    let package = json!({"package": {"id": "pkg", "name": "pkg", "description": "d", "assetIDs": ["asset-1"], "billingPlanIDs": ["plan"]}});
    let (status, created) = w
        .server
        .admin(
            "POST",
            "/oem/v1/user/packages",
            Some(&w.admin),
            Some(package.clone()),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let reader = w.server.admin_token(Role::Reader).await;
    let (status, _) = w
        .server
        .admin(
            "POST",
            "/oem/v1/user/packages",
            Some(&reader),
            Some(package.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = w
        .server
        .admin("DELETE", "/oem/v1/admin/entitlements/u-1/pkg", None, None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = w
        .server
        .admin("GET", "/oem/v1/user/packages", Some(&w.admin), None)
        .await;
    assert_eq!(status, 200);
    let entitlement = json!({"entitlement": {"packageID": "pkg", "uid": "u-1", "startDate": (start - chrono::Duration::days(1)).to_rfc3339()}});
    let (status, answer) = w
        .server
        .admin(
            "POST",
            "/oem/v1/admin/entitlements",
            Some(&w.admin),
            Some(entitlement),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    // SEES decisions, one minute later: allowed, denied (no entitlement), upstream error.
    w.clock.set(start + chrono::Duration::minutes(1));
    let key = w
        .server
        .add_key_with(
            "c-1",
            KeyPolicy {
                asset_id: Some(AssetId::parse("asset-1").unwrap()),
                ..KeyPolicy::default()
            },
        )
        .await;
    let cookie = w.session("u-1").await;
    let other = w.session("u-2").await;
    let allowed = w.play("m-allowed", "c-1", &cookie).await;
    assert_eq!(allowed["isAllowed"], true, "{allowed}");
    let denied = w.play("m-denied", "c-1", &other).await;
    assert_eq!(denied["isAllowed"], false, "{denied}");
    w.server.sim.set_behaviour(Behaviour {
        fault: Some(Fault::Status { status: 500 }),
        ..Behaviour::default()
    });
    let failed = w.play("m-error", "c-1", &cookie).await;
    w.server.sim.set_behaviour(Behaviour::default());
    let failed_number = failed["error"].as_i64().unwrap();
    assert!(failed_number >= 4000, "{failed}");

    let all = w.query(&[]).await;
    assert_eq!(all.len(), 7, "{all:#?}");
    // Newest first.
    let times: Vec<&str> = all.iter().map(|e| field(e, "time")).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);

    let sees_events = w.query(&["--kind", "sees-decision"]).await;
    assert_eq!(sees_events.len(), 3);
    let by_message = |id: &str| {
        sees_events
            .iter()
            .find(|e| e["message_id"] == id)
            .unwrap_or_else(|| panic!("no event for {id}: {sees_events:#?}"))
            .clone()
    };
    let ok = by_message("m-allowed");
    assert_eq!(ok["outcome"], "allowed");
    assert_eq!(ok["error"], Value::Null);
    assert_eq!(ok["content_id"], "c-1");
    assert_eq!(ok["asset"], "asset-1");
    assert_eq!(ok["user"], "u-1");
    assert!(
        field(&ok, "client_subject").contains("CN=sees-dev-client"),
        "{ok}"
    );
    assert!(!field(&ok, "client_serial").is_empty(), "{ok}");
    let trail = ok["trail"].as_array().unwrap();
    assert!(
        trail
            .iter()
            .any(|s| s["rule"] == "entitlement" && s["passed"] == true),
        "{ok}"
    );
    assert_eq!(
        field(&ok, "time"),
        (start + chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );

    let no = by_message("m-denied");
    assert_eq!(no["outcome"], "denied");
    // The session named the user, so the denial records them too.
    assert_eq!(no["user"], "u-2");
    assert_eq!(no["error"], denied["error"]);
    let trail = no["trail"].as_array().unwrap();
    assert_eq!(trail.last().unwrap()["passed"], false, "{no}");

    let error = by_message("m-error");
    assert_eq!(error["outcome"], "error");
    assert_eq!(error["error"], failed_number);

    let writes = w.query(&["--kind", "admin-write"]).await;
    assert_eq!(writes.len(), 4, "{writes:#?}");
    let applied: Vec<&Value> = writes.iter().filter(|e| e["status"] == 200).collect();
    assert_eq!(applied.len(), 2);
    assert!(applied.iter().all(|e| e["outcome"] == "allowed"
        && field(e, "caller").starts_with("token admin-")
        && field(e, "caller").ends_with("(admin)")
        && e["method"] == "POST"
        && field(e, "request_id").len() == 36));
    assert!(applied
        .iter()
        .any(|e| e["route"] == "/oem/v1/admin/entitlements"));
    let forbidden = writes.iter().find(|e| e["status"] == 403).unwrap();
    assert_eq!(forbidden["outcome"], "denied");
    assert_eq!(forbidden["error"], 1004);
    assert!(field(forbidden, "caller").ends_with("(reader)"));
    assert_eq!(forbidden["route"], "/oem/v1/user/packages");
    let anonymous = writes.iter().find(|e| e["status"] == 401).unwrap();
    assert_eq!(anonymous["error"], 1001);
    assert_eq!(anonymous["caller"], Value::Null);
    assert_eq!(anonymous["method"], "DELETE");
    assert_eq!(
        anonymous["route"],
        "/oem/v1/admin/entitlements/{userid}/{packageID}"
    );
    assert_eq!(anonymous["user"], "u-1");

    // Filters.
    let of_user = w.query(&["--user", "u-1"]).await;
    assert_eq!(of_user.len(), 3, "{of_user:#?}");
    assert_eq!(w.query(&["--content", "c-1"]).await.len(), 3);
    assert_eq!(w.query(&["--content", "c-2"]).await.len(), 0);
    let denials = w.query(&["--outcome", "denied"]).await;
    assert_eq!(denials.len(), 3, "{denials:#?}");
    assert_eq!(w.query(&["--outcome", "error"]).await.len(), 1);
    let later = (start + chrono::Duration::seconds(30)).to_rfc3339();
    assert_eq!(w.query(&["--since", &later]).await.len(), 3);
    assert_eq!(w.query(&["--until", &later]).await.len(), 4);
    let newest = w.query(&["--limit", "1"]).await;
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0]["time"], all[0]["time"]);
    let table = w.cli(&["--kind", "admin-write"]);
    assert!(table.starts_with("TIME"), "{table}");
    assert!(
        table.contains("POST /oem/v1/user/packages → 403"),
        "{table}"
    );
    assert!(table.trim_end().ends_with("4 events"), "{table}");

    // The JSON lines carry the same events.
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(lines.lines().count(), 7, "{lines}");
    for line in lines.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        assert!(all.iter().any(|e| e["id"] == event["id"]), "{line}");
    }

    // No secret anywhere: the content key, the cookies, the tokens.
    let stored = w.cli(&["--json", "--limit", "1000"]);
    for secret in [
        key.cek_hex().to_string(),
        key.iv_hex().to_string(),
        cookie.clone(),
        other.clone(),
        w.admin.clone(),
        reader.clone(),
    ] {
        let lower = secret.to_lowercase();
        assert!(
            !stored.to_lowercase().contains(&lower),
            "store holds a secret"
        );
        assert!(
            !lines.to_lowercase().contains(&lower),
            "JSON lines hold a secret"
        );
    }
    let rows = raw_rows(&w.server.settings.store.url).await;
    assert_eq!(rows.len(), 7);
    for row in rows {
        let row = row.to_lowercase();
        for secret in [
            key.cek_hex().as_str(),
            key.iv_hex().as_str(),
            &cookie.to_lowercase(),
            &w.admin.to_lowercase(),
        ] {
            assert!(!row.contains(secret), "a stored event holds a secret");
        }
    }
}

/// Every column of every stored event, as text (the grep target for secrets).
async fn raw_rows(url: &str) -> Vec<String> {
    use sqlx::Row;
    let store = sees::store::Store::connect(url, 1).await.unwrap();
    let rows = sqlx::query(
        "SELECT id, kind, outcome, COALESCE(client, ''), COALESCE(serial, ''), COALESCE(caller, ''), \
         COALESCE(message_id, ''), COALESCE(request_id, ''), COALESCE(content_id, ''), \
         COALESCE(user_id, ''), COALESCE(asset_id, ''), COALESCE(method, ''), COALESCE(route, ''), trail \
         FROM audit_events",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let text = rows
        .iter()
        .map(|row| {
            (0..14)
                .map(|i| row.try_get::<String, _>(i).unwrap())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    store.close().await;
    text
}

#[tokio::test]
async fn retention_prunes_events_older_than_the_setting_by_the_clock() {
    let w = world(|s| s.audit.retention = std::time::Duration::from_secs(30 * 24 * 3600)).await;
    let start = w.clock.now();
    let refuse = || async {
        let (status, _) = w
            .server
            .admin("POST", "/oem/v1/user/packages", None, Some(json!({})))
            .await;
        assert_eq!(status, 401);
    };
    refuse().await;
    w.clock.set(start + chrono::Duration::days(20));
    refuse().await;
    assert_eq!(w.query(&[]).await.len(), 2);
    // 31 days after the first event: it is past the retention, the second is not.
    w.clock.set(start + chrono::Duration::days(31));
    refuse().await;
    let kept = w.query(&[]).await;
    let times: Vec<&str> = kept.iter().map(|e| field(e, "time")).collect();
    let at = |days: i64| {
        (start + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    assert_eq!(times, [at(31), at(20)]);
}

#[tokio::test]
async fn a_disabled_audit_log_records_nothing() {
    let w = world(|s| s.audit.enabled = false).await;
    let (status, _) = w
        .server
        .admin("POST", "/oem/v1/user/packages", None, Some(json!({})))
        .await;
    assert_eq!(status, 401);
    assert!(!w.server.state.audit.is_enabled());
    assert_eq!(w.query(&[]).await.len(), 0);
}
