//! Entitlements on the admin listener, over real HTTP: grant, read, update, delete, the asset routes,
//! roles, date checks, the spec's 404 rules, and the calling-user routes.

use sees::admin::tokens::Role;
use serde_json::{json, Value};

use crate::harness::{self, assert_error, spawn_with, TestServer};

/// A server whose end users sign in with the test identity provider.
async fn server() -> TestServer {
    spawn_with(|s| {
        s.auth.issuers = vec![harness::end_user_issuer()];
    })
    .await
}

/// An end-user JWT for `sub`.
fn jwt(sub: &str) -> String {
    harness::end_user_jwt(sub, chrono::Utc::now().timestamp(), 300)
}

/// Staff tokens for every role.
struct Tokens {
    reader: String,
    support: String,
    admin: String,
}

async fn tokens(server: &TestServer) -> Tokens {
    Tokens {
        reader: server.admin_token(Role::Reader).await,
        support: server.admin_token(Role::Support).await,
        admin: server.admin_token(Role::Admin).await,
    }
}

/// Creates a package through the admin API.
async fn package(server: &TestServer, admin: &str, id: &str, assets: &[&str], plans: &[&str]) {
    let body = json!({"package": {"id": id, "name": format!("Package {id}"),
        "description": "test package", "assetIDs": assets, "billingPlanIDs": plans}});
    let (status, answer) = server
        .admin("POST", "/oem/v1/user/packages", Some(admin), Some(body))
        .await;
    assert!(status == 200 || status == 201, "{answer}");
}

fn grant_body(uid: &str, package: &str, start: &str, end: Option<&str>) -> Value {
    let mut entitlement = json!({"packageID": package, "uid": uid, "startDate": start});
    if let Some(end) = end {
        entitlement["endDate"] = json!(end);
    }
    json!({ "entitlement": entitlement })
}

async fn grant(
    server: &TestServer,
    token: &str,
    uid: &str,
    package: &str,
    start: &str,
    end: Option<&str>,
) -> (u16, Value) {
    server
        .admin(
            "POST",
            "/oem/v1/admin/entitlements",
            Some(token),
            Some(grant_body(uid, package, start, end)),
        )
        .await
}

#[tokio::test]
async fn grant_read_update_and_delete_an_entitlement() {
    let server = server().await;
    let t = tokens(&server).await;
    package(&server, &t.admin, "gold", &["a1"], &["monthly"]).await;

    let (status, answer) = grant(
        &server,
        &t.support,
        "alice",
        "gold",
        "2020-01-01T00:00:00Z",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let e = &answer["entitlement"];
    assert_eq!(e["uid"], "alice");
    assert_eq!(e["packageID"], "gold");
    assert_eq!(e["startDate"], "2020-01-01T00:00:00Z");
    assert!(
        e.get("endDate").is_none(),
        "open-ended: no endDate: {answer}"
    );
    assert_eq!(e["active"], true);
    for stamp in ["createdTimestamp", "modifiedTimestamp"] {
        let at = e[stamp].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{answer}");
    }

    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/admin/entitlements/alice",
            Some(&t.reader),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let listed = answer["entitlements"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{answer}");
    assert_eq!(listed[0]["packageID"], "gold");

    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/admin/entitlements/alice/gold",
            Some(&t.reader),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlement"]["packageID"], "gold");

    // Support extends it; a trailing slash (as the spec writes the path) is fine.
    let update = json!({"entitlement": {"packageID": "gold", "uid": "alice",
        "startDate": "2020-01-01T00:00:00Z", "endDate": "2021-01-01T00:00:00+01:00"}});
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/alice/gold/",
            Some(&t.support),
            Some(update),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlement"]["endDate"], "2020-12-31T23:00:00Z");
    assert_eq!(
        answer["entitlement"]["active"], false,
        "ended in the past: {answer}"
    );

    let (status, answer) = server
        .admin(
            "DELETE",
            "/oem/v1/admin/entitlements/alice/gold",
            Some(&t.support),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["message"],
        "Entitlement of alice to gold was successfully deleted."
    );
    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/admin/entitlements/alice",
            Some(&t.reader),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlements"], json!([]));
}

#[tokio::test]
async fn readers_read_support_grants_and_admin_does_everything() {
    let server = server().await;
    let t = tokens(&server).await;
    package(&server, &t.admin, "gold", &["a1"], &[]).await;
    let start = "2020-01-01T00:00:00Z";

    // A reader may not write, whatever the body.
    let (status, answer) = grant(&server, &t.reader, "alice", "gold", start, None).await;
    assert_error(status, &answer, 403, 1004);
    let (status, answer) = server
        .admin(
            "POST",
            "/oem/v1/admin/entitlements",
            Some(&t.reader),
            Some(json!({"nonsense": true})),
        )
        .await;
    assert_error(status, &answer, 403, 1004);

    let (status, answer) = grant(&server, &t.admin, "alice", "gold", start, None).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = grant(&server, &t.support, "bob", "gold", start, None).await;
    assert_eq!(status, 200, "{answer}");

    let update = json!({"entitlement": {"packageID": "gold", "uid": "alice",
        "startDate": start, "endDate": "2099-01-01T00:00:00Z"}});
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/alice/gold",
            Some(&t.reader),
            Some(update.clone()),
        )
        .await;
    assert_error(status, &answer, 403, 1004);
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/alice/gold",
            Some(&t.admin),
            Some(update),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlement"]["active"], true);

    let (status, answer) = server
        .admin(
            "DELETE",
            "/oem/v1/admin/entitlements/alice/gold",
            Some(&t.reader),
            None,
        )
        .await;
    assert_error(status, &answer, 403, 1004);
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/alice/assets",
            Some(&t.reader),
            Some(json!({"assetIDs": ["a1"]})),
        )
        .await;
    assert_error(status, &answer, 403, 1004);

    for token in [&t.reader, &t.support, &t.admin] {
        for path in [
            "/oem/v1/admin/entitlements/alice",
            "/oem/v1/admin/entitlements/alice/gold",
        ] {
            let (status, answer) = server.admin("GET", path, Some(token), None).await;
            assert_eq!(status, 200, "{path}: {answer}");
        }
        let (status, answer) = server
            .admin(
                "POST",
                "/oem/v1/admin/entitlements/alice/assets",
                Some(token),
                Some(json!({"assetIDs": ["a1"]})),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = server
        .admin(
            "DELETE",
            "/oem/v1/admin/entitlements/alice/gold",
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    // No token at all.
    let (status, answer) = server
        .admin("GET", "/oem/v1/admin/entitlements/alice", None, None)
        .await;
    assert_error(status, &answer, 401, 1001);
}

#[tokio::test]
async fn dates_must_be_rfc_3339_and_in_order() {
    let server = server().await;
    let t = tokens(&server).await;
    package(&server, &t.admin, "gold", &[], &[]).await;
    for bad in ["2020-01-01", "yesterday", "2020-01-01 00:00:00", ""] {
        let (status, answer) = grant(&server, &t.support, "alice", "gold", bad, None).await;
        assert_error(status, &answer, 400, 1013);
    }
    let start = "2020-06-01T00:00:00Z";
    let (status, answer) = grant(
        &server,
        &t.support,
        "alice",
        "gold",
        start,
        Some("2020-13-01T00:00:00Z"),
    )
    .await;
    assert_error(status, &answer, 400, 1013);
    for end in ["2020-05-31T23:59:59Z", start, "2020-06-01T02:00:00+02:00"] {
        let (status, answer) = grant(&server, &t.support, "alice", "gold", start, Some(end)).await;
        assert_error(status, &answer, 400, 1014);
    }
    let (status, answer) = grant(
        &server,
        &t.support,
        "alice",
        "gold",
        start,
        Some("2020-06-01T00:00:01Z"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlement"]["endDate"], "2020-06-01T00:00:01Z");

    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/alice/gold",
            Some(&t.support),
            Some(json!({"entitlement": {"packageID": "gold", "uid": "alice",
                "startDate": start, "endDate": "2020-01-01T00:00:00Z"}})),
        )
        .await;
    assert_error(status, &answer, 400, 1014);
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/alice/gold",
            Some(&t.support),
            Some(json!({"entitlement": {"packageID": "gold", "uid": "alice",
                "startDate": start, "endDate": "soon"}})),
        )
        .await;
    assert_error(status, &answer, 400, 1013);
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/alice/assets",
            Some(&t.support),
            Some(json!({"assetIDs": ["a1"], "startDate": start, "endDate": start})),
        )
        .await;
    assert_error(status, &answer, 400, 1014);
}

#[tokio::test]
async fn bodies_are_checked() {
    let server = server().await;
    let t = tokens(&server).await;
    package(&server, &t.admin, "gold", &[], &[]).await;
    let start = "2020-01-01T00:00:00Z";
    let post = |body: Value| {
        let server = &server;
        let token = t.support.clone();
        async move {
            server
                .admin(
                    "POST",
                    "/oem/v1/admin/entitlements",
                    Some(&token),
                    Some(body),
                )
                .await
        }
    };
    let (status, answer) = post(json!({"entitlement": {"packageID": "gold", "uid": "alice",
        "startDate": start, "startdate": start}}))
    .await;
    assert_error(status, &answer, 400, 1012);
    let (status, answer) = post(json!({"entitlement": {"packageID": "gold", "uid": "alice",
        "startDate": start}, "extra": 1}))
    .await;
    assert_error(status, &answer, 400, 1012);
    let (status, answer) = post(json!({"entitlement": {"packageID": "gold", "uid": " alice",
        "startDate": start}}))
    .await;
    assert_error(status, &answer, 400, 1011);
    let (status, answer) =
        post(json!({"entitlement": {"packageID": "gold", "uid": "alice"}})).await;
    assert_error(status, &answer, 400, 1011);
    let (status, answer) = post(json!({"entitlement": {"packageID": "gold", "uid": "alice",
        "startDate": 1_577_836_800}}))
    .await;
    assert_error(status, &answer, 400, 1011);

    // The update's body must name the path's user and package, with an endDate.
    let (status, answer) = grant(&server, &t.support, "alice", "gold", start, None).await;
    assert_eq!(status, 200, "{answer}");
    for (body, code) in [
        (
            json!({"entitlement": {"packageID": "gold", "uid": "bob", "startDate": start,
            "endDate": "2030-01-01T00:00:00Z"}}),
            1011,
        ),
        (
            json!({"entitlement": {"packageID": "silver", "uid": "alice", "startDate": start,
            "endDate": "2030-01-01T00:00:00Z"}}),
            1011,
        ),
        (
            json!({"entitlement": {"packageID": "gold", "uid": "alice", "startDate": start}}),
            1011,
        ),
        (
            json!({"entitlement": {"packageID": "gold", "uid": "alice", "startDate": start,
            "endDate": "2030-01-01T00:00:00Z", "active": true}}),
            1012,
        ),
    ] {
        let (status, answer) = server
            .admin(
                "PUT",
                "/oem/v1/admin/entitlements/alice/gold",
                Some(&t.support),
                Some(body),
            )
            .await;
        assert_error(status, &answer, 400, code);
    }
    // A path identifier that is not a valid ID.
    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/admin/entitlements/a%2Cb",
            Some(&t.reader),
            None,
        )
        .await;
    assert_error(status, &answer, 400, 1011);
}

#[tokio::test]
async fn a_second_grant_of_the_same_package_is_a_conflict() {
    let server = server().await;
    let t = tokens(&server).await;
    package(&server, &t.admin, "gold", &[], &[]).await;
    let (status, answer) = grant(
        &server,
        &t.support,
        "alice",
        "gold",
        "2020-01-01T00:00:00Z",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = grant(
        &server,
        &t.support,
        "alice",
        "gold",
        "2021-01-01T00:00:00Z",
        None,
    )
    .await;
    assert_error(status, &answer, 409, 1051);
    // The first grant is untouched.
    let (_, answer) = server
        .admin(
            "GET",
            "/oem/v1/admin/entitlements/alice/gold",
            Some(&t.reader),
            None,
        )
        .await;
    assert_eq!(answer["entitlement"]["startDate"], "2020-01-01T00:00:00Z");
}

#[tokio::test]
async fn unknown_packages_and_users_are_not_found() {
    let server = server().await;
    let t = tokens(&server).await;
    package(&server, &t.admin, "gold", &[], &[]).await;
    package(&server, &t.admin, "silver", &[], &[]).await;
    let start = "2020-01-01T00:00:00Z";

    let (status, answer) = grant(&server, &t.support, "alice", "nope", start, None).await;
    assert_error(status, &answer, 404, 1040);
    let (status, answer) = grant(&server, &t.support, "alice", "gold", start, None).await;
    assert_eq!(status, 200, "{answer}");

    let update = |uid: &str, package: &str| {
        json!({"entitlement": {"packageID": package, "uid": uid, "startDate": start,
            "endDate": "2030-01-01T00:00:00Z"}})
    };
    // (user, package, expected code): unknown package first, then a user with no entitlements at all,
    // then a known user without an entitlement to this (existing) package.
    for (uid, package, code) in [
        ("alice", "nope", 1040),
        ("nobody", "nope", 1040),
        ("nobody", "gold", 1041),
        ("alice", "silver", 1040),
    ] {
        let path = format!("/oem/v1/admin/entitlements/{uid}/{package}");
        let (status, answer) = server.admin("GET", &path, Some(&t.reader), None).await;
        assert_error(status, &answer, 404, code);
        let (status, answer) = server
            .admin("PUT", &path, Some(&t.support), Some(update(uid, package)))
            .await;
        assert_error(status, &answer, 404, code);
        let (status, answer) = server.admin("DELETE", &path, Some(&t.support), None).await;
        assert_error(status, &answer, 404, code);
    }
    // Listing a user without entitlements is an empty list, not an error.
    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/admin/entitlements/nobody",
            Some(&t.reader),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlements"], json!([]));

    // A user known only through an asset grant is known.
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/carol/assets",
            Some(&t.support),
            Some(json!({"assetIDs": ["x1"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/admin/entitlements/carol/gold",
            Some(&t.reader),
            None,
        )
        .await;
    assert_error(status, &answer, 404, 1040);
}

#[tokio::test]
async fn asset_entitlements_are_granted_and_listed() {
    let server = server().await;
    let t = tokens(&server).await;
    package(&server, &t.admin, "gold", &["a1", "a2"], &["monthly"]).await;
    package(&server, &t.admin, "silver", &["a2"], &[]).await;
    let (status, answer) = grant(
        &server,
        &t.support,
        "alice",
        "silver",
        "2020-01-01T00:00:00Z",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    // Granted from now by default, open-ended.
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/alice/assets",
            Some(&t.support),
            Some(json!({"assetIDs": ["a1", "loose", "a1"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let grants = answer["assetEntitlements"].as_array().unwrap();
    assert_eq!(grants.len(), 2, "duplicates once: {answer}");
    assert_eq!(grants[0]["uid"], "alice");
    assert_eq!(grants[0]["assetID"], "a1");
    assert_eq!(grants[0]["active"], true);
    assert!(grants[0].get("endDate").is_none(), "{answer}");
    assert_eq!(grants[1]["assetID"], "loose");

    // Re-granting replaces the window: `loose` now ended in the past.
    let (status, answer) = server
        .admin(
            "PUT",
            "/oem/v1/admin/entitlements/alice/assets",
            Some(&t.admin),
            Some(
                json!({"assetIDs": ["loose"], "startDate": "2019-01-01T00:00:00Z",
                "endDate": "2019-02-01T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["assetEntitlements"][0]["endDate"],
        "2019-02-01T00:00:00Z"
    );
    assert_eq!(answer["assetEntitlements"][0]["active"], false);

    // The listing (reader): which packages hold the assets, which the user owns, active grants only.
    let (status, answer) = server
        .admin(
            "POST",
            "/oem/v1/admin/entitlements/alice/assets",
            Some(&t.reader),
            Some(json!({"assetIDs": ["a1", "a2", "loose", "nowhere"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["assetPackages"],
        json!([
            {"assetID": "a1", "packageIDs": ["gold"]},
            {"assetID": "a2", "packageIDs": ["gold", "silver"]},
        ])
    );
    let packages = answer["packages"].as_array().unwrap();
    let owned: Vec<(&str, bool)> = packages
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["owned"].as_bool().unwrap()))
        .collect();
    assert_eq!(owned, [("gold", false), ("silver", true)], "{answer}");
    assert_eq!(
        packages[0]["productIDs"],
        json!({"monthly": "gold_monthly"})
    );
    assert_eq!(answer["products"], json!([]));
    assert_eq!(answer["billingPlans"], json!([]));
    let grants: Vec<&str> = answer["assetEntitlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["assetID"].as_str().unwrap())
        .collect();
    assert_eq!(grants, ["a1"], "{answer}");

    // Without assets: an empty listing.
    let (status, answer) = server
        .admin(
            "POST",
            "/oem/v1/admin/entitlements/alice/assets",
            Some(&t.reader),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["assetPackages"], json!([]));
    assert_eq!(answer["packages"], json!([]));

    let (status, answer) = server
        .admin(
            "POST",
            "/oem/v1/admin/entitlements/alice/assets",
            Some(&t.reader),
            Some(json!({"assetIds": ["a1"]})),
        )
        .await;
    assert_error(status, &answer, 400, 1012);
}

#[tokio::test]
async fn free_packages_are_owned_by_everyone() {
    let server = server().await;
    let t = tokens(&server).await;
    let body = json!({"package": {"id": "free", "name": "Free", "description": "free",
        "assetIDs": ["trailer"], "bypassEntitlementCheck": true}});
    let (status, answer) = server
        .admin("POST", "/oem/v1/user/packages", Some(&t.admin), Some(body))
        .await;
    assert!(status == 200 || status == 201, "{answer}");
    let (status, answer) = server
        .admin(
            "POST",
            "/oem/v1/admin/entitlements/nobody/assets",
            Some(&t.reader),
            Some(json!({"assetIDs": ["trailer"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["packages"][0]["bypassEntitlementCheck"], true);
    assert_eq!(answer["packages"][0]["owned"], true, "{answer}");
}

#[tokio::test]
async fn a_package_named_assets_is_still_reachable() {
    let server = server().await;
    let t = tokens(&server).await;
    package(&server, &t.admin, "assets", &["a1"], &[]).await;
    let start = "2020-01-01T00:00:00Z";
    let (status, answer) = grant(&server, &t.support, "alice", "assets", start, None).await;
    assert_eq!(status, 200, "{answer}");
    let path = "/oem/v1/admin/entitlements/alice/assets";
    let (status, answer) = server.admin("GET", path, Some(&t.reader), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlement"]["packageID"], "assets");
    let update = json!({"entitlement": {"packageID": "assets", "uid": "alice",
        "startDate": start, "endDate": "2030-01-01T00:00:00Z"}});
    let (status, answer) = server
        .admin("PUT", path, Some(&t.support), Some(update))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlement"]["endDate"], "2030-01-01T00:00:00Z");
    let (status, answer) = server.admin("DELETE", path, Some(&t.support), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["message"],
        "Entitlement of alice to assets was successfully deleted."
    );
}

#[tokio::test]
async fn calling_user_routes_serve_end_users_only() {
    let server = server().await;
    let t = tokens(&server).await;
    package(&server, &t.admin, "gold", &["a1"], &[]).await;
    for uid in ["alice", "bob"] {
        let (status, answer) = grant(
            &server,
            &t.support,
            uid,
            "gold",
            "2020-01-01T00:00:00Z",
            None,
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }
    let alice = jwt("alice");
    let (status, answer) = server
        .admin("GET", "/oem/v1/entitlements", Some(&alice), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    let listed = answer["entitlements"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{answer}");
    assert_eq!(listed[0]["uid"], "alice");

    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/entitlements/assets?assetIDs=a1,a2",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["assetPackages"],
        json!([{"assetID": "a1", "packageIDs": ["gold"]}])
    );
    assert_eq!(answer["packages"][0]["owned"], true);

    let carol = jwt("carol");
    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/entitlements/assets?assetIDs=a1",
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["packages"][0]["owned"], false);
    let (status, answer) = server
        .admin("GET", "/oem/v1/entitlements", Some(&carol), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlements"], json!([]));

    for query in ["", "?assetIDs=", "?assets=a1", "?assetIDs=a%01"] {
        let path = format!("/oem/v1/entitlements/assets{query}");
        let (status, answer) = server.admin("GET", &path, Some(&alice), None).await;
        assert_error(status, &answer, 400, 1017);
    }

    // Staff tokens, whatever the role, do not reach the calling-user routes.
    for token in [&t.reader, &t.support, &t.admin] {
        for path in [
            "/oem/v1/entitlements",
            "/oem/v1/entitlements/assets?assetIDs=a1",
        ] {
            let (status, answer) = server.admin("GET", path, Some(token), None).await;
            assert_error(status, &answer, 403, 1003);
        }
    }
    // And end users do not reach the staff routes.
    let (status, answer) = server
        .admin(
            "GET",
            "/oem/v1/admin/entitlements/alice",
            Some(&alice),
            None,
        )
        .await;
    assert_error(status, &answer, 403, 1003);
    let (status, answer) = grant(
        &server,
        &alice,
        "alice",
        "gold",
        "2020-01-01T00:00:00Z",
        None,
    )
    .await;
    assert_error(status, &answer, 403, 1004);
}

#[tokio::test]
async fn long_asset_lists_are_refused() {
    let server = spawn_with(|s| s.admin.max_list_len = 2).await;
    let t = tokens(&server).await;
    for (method, token) in [("POST", &t.reader), ("PUT", &t.support)] {
        let (status, answer) = server
            .admin(
                method,
                "/oem/v1/admin/entitlements/alice/assets",
                Some(token),
                Some(json!({"assetIDs": ["a1", "a2", "a3"]})),
            )
            .await;
        assert_error(status, &answer, 413, 1015);
    }
}
