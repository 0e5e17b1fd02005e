//! Entitlements on the admin listener, over real HTTP: grant, read, update, delete, the asset routes,
//! roles, date checks, the spec's 404 rules, and the calling-user routes.

use sees::admin::tokens::Role;
use serde_json::{json, Value};

use crate::harness::{self, assert_error, spawn_with, TestServer};

/// A server whose end users sign in with the test identity provider.
async fn world() -> World {
    world_on(
        spawn_with(|s| {
            s.auth.issuers = vec![harness::end_user_issuer()];
        })
        .await,
    )
    .await
}

/// A server and a token of each staff role.
struct World {
    server: TestServer,
    reader: String,
    support: String,
    admin: String,
}

async fn world_on(server: TestServer) -> World {
    World {
        reader: server.admin_token(Role::Reader).await,
        support: server.admin_token(Role::Support).await,
        admin: server.admin_token(Role::Admin).await,
        server,
    }
}

/// An end-user JWT for `sub`.
fn jwt(sub: &str) -> String {
    harness::end_user_jwt(sub, chrono::Utc::now().timestamp(), 300)
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

/// Where the staff entitlement routes live; [`Caller`] paths are relative to it.
const ENTITLEMENTS: &str = "/oem/v1/admin/entitlements";

/// One caller (a token, or none) of the staff entitlement routes.
struct Caller<'a> {
    server: &'a TestServer,
    token: Option<&'a str>,
}

impl World {
    /// A caller with `token`.
    fn at<'a>(&'a self, token: Option<&'a str>) -> Caller<'a> {
        Caller {
            server: &self.server,
            token,
        }
    }

    fn reader(&self) -> Caller<'_> {
        self.at(Some(&self.reader))
    }

    fn support(&self) -> Caller<'_> {
        self.at(Some(&self.support))
    }

    fn admin(&self) -> Caller<'_> {
        self.at(Some(&self.admin))
    }

    /// Creates a package as admin.
    async fn package(&self, id: &str, assets: &[&str], plans: &[&str]) {
        package(&self.server, &self.admin, id, assets, plans).await;
    }
}

impl Caller<'_> {
    /// `method` on `ENTITLEMENTS` + `path`.
    async fn send(&self, method: &str, path: &str, body: impl Into<Option<Value>>) -> (u16, Value) {
        let path = format!("{ENTITLEMENTS}{path}");
        self.server
            .admin(method, &path, self.token, body.into())
            .await
    }

    /// Sends one request and checks it answers 200; returns the answer.
    async fn ok(&self, method: &str, path: &str, body: impl Into<Option<Value>>) -> Value {
        let (status, answer) = self.send(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    /// Sends one request and checks it fails with `expected` and the error `code`.
    async fn fails(
        &self,
        method: &str,
        path: &str,
        body: impl Into<Option<Value>>,
        expected: u16,
        code: u64,
    ) {
        let (status, answer) = self.send(method, path, body).await;
        assert_error(status, &answer, expected, code);
    }

    /// Grants `package` to `uid` from `start` (to `end`).
    async fn grant(
        &self,
        uid: &str,
        package: &str,
        start: &str,
        end: Option<&str>,
    ) -> (u16, Value) {
        let body = grant_body(uid, package, start, end);
        self.send("POST", "", Some(body)).await
    }

    /// Grants, and checks it fails with `expected` and the error `code`.
    async fn grant_fails(
        &self,
        uid: &str,
        package: &str,
        start: &str,
        end: Option<&str>,
        expected: u16,
        code: u64,
    ) {
        let (status, answer) = self.grant(uid, package, start, end).await;
        assert_error(status, &answer, expected, code);
    }

    /// Grants, and checks it answers 200; returns the answer.
    async fn granted(&self, uid: &str, package: &str, start: &str, end: Option<&str>) -> Value {
        let (status, answer) = self.grant(uid, package, start, end).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }
}

/// Sends one admin request as `token` and checks it answers 200; returns the answer.
async fn ok(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let (status, answer) = server.admin(method, path, Some(token), body).await;
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

/// Sends one admin request and checks it fails with `expected` and the error `code`.
async fn fails(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    expected: u16,
    code: u64,
) {
    let (status, answer) = server.admin(method, path, token, body).await;
    assert_error(status, &answer, expected, code);
}

#[tokio::test]
async fn grant_read_update_and_delete_an_entitlement() {
    let w = world().await;
    let (reader, support) = (w.reader(), w.support());
    w.package("gold", &["a1"], &["monthly"]).await;

    let answer = support
        .granted("alice", "gold", "2020-01-01T00:00:00Z", None)
        .await;
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

    let answer = reader.ok("GET", "/alice", None).await;
    let listed = answer["entitlements"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{answer}");
    assert_eq!(listed[0]["packageID"], "gold");

    let answer = reader.ok("GET", "/alice/gold", None).await;
    assert_eq!(answer["entitlement"]["packageID"], "gold");

    // Support extends it; a trailing slash (as the spec writes the path) is fine.
    let update = json!({"entitlement": {"packageID": "gold", "uid": "alice",
        "startDate": "2020-01-01T00:00:00Z", "endDate": "2021-01-01T00:00:00+01:00"}});
    let answer = support.ok("PUT", "/alice/gold/", Some(update)).await;
    assert_eq!(answer["entitlement"]["endDate"], "2020-12-31T23:00:00Z");
    assert_eq!(
        answer["entitlement"]["active"], false,
        "ended in the past: {answer}"
    );

    let answer = support.ok("DELETE", "/alice/gold", None).await;
    assert_eq!(
        answer["message"],
        "Entitlement of alice to gold was successfully deleted."
    );
    let answer = reader.ok("GET", "/alice", None).await;
    assert_eq!(answer["entitlements"], json!([]));
}

#[tokio::test]
async fn readers_read_support_grants_and_admin_does_everything() {
    let w = world().await;
    let (reader, support, admin) = (w.reader(), w.support(), w.admin());
    w.package("gold", &["a1"], &[]).await;
    let start = "2020-01-01T00:00:00Z";

    // A reader may not write, whatever the body.
    reader
        .grant_fails("alice", "gold", start, None, 403, 1004)
        .await;
    reader
        .fails("POST", "", Some(json!({"nonsense": true})), 403, 1004)
        .await;

    admin.granted("alice", "gold", start, None).await;
    support.granted("bob", "gold", start, None).await;

    let update = json!({"entitlement": {"packageID": "gold", "uid": "alice",
        "startDate": start, "endDate": "2099-01-01T00:00:00Z"}});
    reader
        .fails("PUT", "/alice/gold", Some(update.clone()), 403, 1004)
        .await;
    let answer = admin.ok("PUT", "/alice/gold", Some(update)).await;
    assert_eq!(answer["entitlement"]["active"], true);

    reader.fails("DELETE", "/alice/gold", None, 403, 1004).await;
    let body = json!({"assetIDs": ["a1"]});
    reader
        .fails("PUT", "/alice/assets", Some(body), 403, 1004)
        .await;

    for caller in [&reader, &support, &admin] {
        for path in ["/alice", "/alice/gold"] {
            caller.ok("GET", path, None).await;
        }
        let body = Some(json!({"assetIDs": ["a1"]}));
        caller.ok("POST", "/alice/assets", body).await;
    }
    admin.ok("DELETE", "/alice/gold", None).await;

    // No token at all.
    w.at(None).fails("GET", "/alice", None, 401, 1001).await;
}

#[tokio::test]
async fn dates_must_be_rfc_3339_and_in_order() {
    let w = world().await;
    let support = w.support();
    w.package("gold", &[], &[]).await;
    for bad in ["2020-01-01", "yesterday", "2020-01-01 00:00:00", ""] {
        support
            .grant_fails("alice", "gold", bad, None, 400, 1013)
            .await;
    }
    let start = "2020-06-01T00:00:00Z";
    support
        .grant_fails(
            "alice",
            "gold",
            start,
            Some("2020-13-01T00:00:00Z"),
            400,
            1013,
        )
        .await;
    for end in ["2020-05-31T23:59:59Z", start, "2020-06-01T02:00:00+02:00"] {
        support
            .grant_fails("alice", "gold", start, Some(end), 400, 1014)
            .await;
    }
    let answer = support
        .granted("alice", "gold", start, Some("2020-06-01T00:00:01Z"))
        .await;
    assert_eq!(answer["entitlement"]["endDate"], "2020-06-01T00:00:01Z");

    let update = |end: &str| {
        json!({"entitlement": {"packageID": "gold", "uid": "alice",
            "startDate": start, "endDate": end}})
    };
    let assets = json!({"assetIDs": ["a1"], "startDate": start, "endDate": start});
    for (path, body, code) in [
        ("/alice/gold", update("2020-01-01T00:00:00Z"), 1014),
        ("/alice/gold", update("soon"), 1013),
        ("/alice/assets", assets, 1014),
    ] {
        support.fails("PUT", path, Some(body), 400, code).await;
    }
}

#[tokio::test]
async fn bodies_are_checked() {
    let w = world().await;
    let (reader, support) = (w.reader(), w.support());
    w.package("gold", &[], &[]).await;
    let start = "2020-01-01T00:00:00Z";
    for (body, code) in [
        (
            json!({"entitlement": {"packageID": "gold", "uid": "alice",
                "startDate": start, "startdate": start}}),
            1012,
        ),
        (
            json!({"entitlement": {"packageID": "gold", "uid": "alice",
                "startDate": start}, "extra": 1}),
            1012,
        ),
        (
            json!({"entitlement": {"packageID": "gold", "uid": " alice",
                "startDate": start}}),
            1011,
        ),
        (
            json!({"entitlement": {"packageID": "gold", "uid": "alice"}}),
            1011,
        ),
        (
            json!({"entitlement": {"packageID": "gold", "uid": "alice",
                "startDate": 1_577_836_800}}),
            1011,
        ),
    ] {
        support.fails("POST", "", Some(body), 400, code).await;
    }

    // The update's body must name the path's user and package, with an endDate.
    support.granted("alice", "gold", start, None).await;
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
        support.fails("PUT", "/alice/gold", body, 400, code).await;
    }
    // A path identifier that is not a valid ID.
    reader.fails("GET", "/a%2Cb", None, 400, 1011).await;
}

#[tokio::test]
async fn a_second_grant_of_the_same_package_is_a_conflict() {
    let w = world().await;
    let (reader, support) = (w.reader(), w.support());
    w.package("gold", &[], &[]).await;
    support
        .granted("alice", "gold", "2020-01-01T00:00:00Z", None)
        .await;
    support
        .grant_fails("alice", "gold", "2021-01-01T00:00:00Z", None, 409, 1051)
        .await;
    // The first grant is untouched.
    let (_, answer) = reader.send("GET", "/alice/gold", None).await;
    assert_eq!(answer["entitlement"]["startDate"], "2020-01-01T00:00:00Z");
}

#[tokio::test]
async fn unknown_packages_and_users_are_not_found() {
    let w = world().await;
    let (reader, support) = (w.reader(), w.support());
    w.package("gold", &[], &[]).await;
    w.package("silver", &[], &[]).await;
    let start = "2020-01-01T00:00:00Z";

    support
        .grant_fails("alice", "nope", start, None, 404, 1040)
        .await;
    support.granted("alice", "gold", start, None).await;

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
        let path = format!("/{uid}/{package}");
        let body = Some(update(uid, package));
        reader.fails("GET", &path, None, 404, code).await;
        support.fails("PUT", &path, body, 404, code).await;
        support.fails("DELETE", &path, None, 404, code).await;
    }
    // Listing a user without entitlements is an empty list, not an error.
    let answer = reader.ok("GET", "/nobody", None).await;
    assert_eq!(answer["entitlements"], json!([]));

    // A user known only through an asset grant is known.
    let body = json!({"assetIDs": ["x1"]});
    support.ok("PUT", "/carol/assets", body).await;
    reader.fails("GET", "/carol/gold", None, 404, 1040).await;
}

#[tokio::test]
async fn asset_entitlements_are_granted_and_listed() {
    let w = world().await;
    let (reader, support, admin) = (w.reader(), w.support(), w.admin());
    w.package("gold", &["a1", "a2"], &["monthly"]).await;
    w.package("silver", &["a2"], &[]).await;
    support
        .granted("alice", "silver", "2020-01-01T00:00:00Z", None)
        .await;

    // Granted from now by default, open-ended.
    let body = json!({"assetIDs": ["a1", "loose", "a1"]});
    let answer = support.ok("PUT", "/alice/assets", Some(body)).await;
    let grants = answer["assetEntitlements"].as_array().unwrap();
    assert_eq!(grants.len(), 2, "duplicates once: {answer}");
    assert_eq!(grants[0]["uid"], "alice");
    assert_eq!(grants[0]["assetID"], "a1");
    assert_eq!(grants[0]["active"], true);
    assert!(grants[0].get("endDate").is_none(), "{answer}");
    assert_eq!(grants[1]["assetID"], "loose");

    // Re-granting replaces the window: `loose` now ended in the past.
    let body = json!({"assetIDs": ["loose"], "startDate": "2019-01-01T00:00:00Z",
        "endDate": "2019-02-01T00:00:00Z"});
    let answer = admin.ok("PUT", "/alice/assets", Some(body)).await;
    assert_eq!(
        answer["assetEntitlements"][0]["endDate"],
        "2019-02-01T00:00:00Z"
    );
    assert_eq!(answer["assetEntitlements"][0]["active"], false);

    // The listing (reader): which packages hold the assets, which the user owns, active grants only.
    let body = json!({"assetIDs": ["a1", "a2", "loose", "nowhere"]});
    let answer = reader.ok("POST", "/alice/assets", Some(body)).await;
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
    let grants = answer["assetEntitlements"].as_array().unwrap();
    let grants: Vec<&str> = grants
        .iter()
        .map(|g| g["assetID"].as_str().unwrap())
        .collect();
    assert_eq!(grants, ["a1"], "{answer}");

    // Without assets: an empty listing.
    let answer = reader.ok("POST", "/alice/assets", Some(json!({}))).await;
    assert_eq!(answer["assetPackages"], json!([]));
    assert_eq!(answer["packages"], json!([]));

    let body = json!({"assetIds": ["a1"]});
    reader
        .fails("POST", "/alice/assets", Some(body), 400, 1012)
        .await;
}

#[tokio::test]
async fn free_packages_are_owned_by_everyone() {
    let w = world().await;
    let reader = w.reader();
    let body = json!({"package": {"id": "free", "name": "Free", "description": "free",
        "assetIDs": ["trailer"], "bypassEntitlementCheck": true}});
    let (status, answer) = w
        .server
        .admin("POST", "/oem/v1/user/packages", Some(&w.admin), Some(body))
        .await;
    assert!(status == 200 || status == 201, "{answer}");
    let body = json!({"assetIDs": ["trailer"]});
    let answer = reader.ok("POST", "/nobody/assets", Some(body)).await;
    assert_eq!(answer["packages"][0]["bypassEntitlementCheck"], true);
    assert_eq!(answer["packages"][0]["owned"], true, "{answer}");
}

#[tokio::test]
async fn a_package_named_assets_is_still_reachable() {
    let w = world().await;
    let (reader, support) = (w.reader(), w.support());
    w.package("assets", &["a1"], &[]).await;
    let start = "2020-01-01T00:00:00Z";
    support.granted("alice", "assets", start, None).await;
    let path = "/alice/assets";
    let answer = reader.ok("GET", path, None).await;
    assert_eq!(answer["entitlement"]["packageID"], "assets");
    let update = json!({"entitlement": {"packageID": "assets", "uid": "alice",
        "startDate": start, "endDate": "2030-01-01T00:00:00Z"}});
    let answer = support.ok("PUT", path, Some(update)).await;
    assert_eq!(answer["entitlement"]["endDate"], "2030-01-01T00:00:00Z");
    let answer = support.ok("DELETE", path, None).await;
    assert_eq!(
        answer["message"],
        "Entitlement of alice to assets was successfully deleted."
    );
}

#[tokio::test]
async fn calling_user_routes_serve_end_users_only() {
    let w = world().await;
    let support = w.support();
    w.package("gold", &["a1"], &[]).await;
    for uid in ["alice", "bob"] {
        support
            .granted(uid, "gold", "2020-01-01T00:00:00Z", None)
            .await;
    }
    let alice = jwt("alice");
    let answer = ok(&w.server, "GET", "/oem/v1/entitlements", &alice, None).await;
    let listed = answer["entitlements"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{answer}");
    assert_eq!(listed[0]["uid"], "alice");

    let answer = ok(
        &w.server,
        "GET",
        "/oem/v1/entitlements/assets?assetIDs=a1,a2",
        &alice,
        None,
    )
    .await;
    assert_eq!(
        answer["assetPackages"],
        json!([{"assetID": "a1", "packageIDs": ["gold"]}])
    );
    assert_eq!(answer["packages"][0]["owned"], true);

    let carol = jwt("carol");
    let answer = ok(
        &w.server,
        "GET",
        "/oem/v1/entitlements/assets?assetIDs=a1",
        &carol,
        None,
    )
    .await;
    assert_eq!(answer["packages"][0]["owned"], false);
    let answer = ok(&w.server, "GET", "/oem/v1/entitlements", &carol, None).await;
    assert_eq!(answer["entitlements"], json!([]));

    for query in ["", "?assetIDs=", "?assets=a1", "?assetIDs=a%01"] {
        let path = format!("/oem/v1/entitlements/assets{query}");
        fails(&w.server, "GET", &path, Some(&alice), None, 400, 1017).await;
    }

    // Staff tokens, whatever the role, do not reach the calling-user routes.
    for token in [&w.reader, &w.support, &w.admin] {
        for path in [
            "/oem/v1/entitlements",
            "/oem/v1/entitlements/assets?assetIDs=a1",
        ] {
            fails(&w.server, "GET", path, Some(token), None, 403, 1003).await;
        }
    }
    // And end users do not reach the staff routes.
    w.at(Some(&alice))
        .fails("GET", "/alice", None, 403, 1003)
        .await;
    w.at(Some(&alice))
        .grant_fails("alice", "gold", "2020-01-01T00:00:00Z", None, 403, 1004)
        .await;
}

#[tokio::test]
async fn long_asset_lists_are_refused() {
    let w = world_on(spawn_with(|s| s.admin.max_list_len = 2).await).await;
    let (reader, support) = (w.reader(), w.support());
    let too_many = json!({"assetIDs": ["a1", "a2", "a3"]});
    for (method, caller) in [("POST", &reader), ("PUT", &support)] {
        let body = Some(too_many.clone());
        caller.fails(method, "/alice/assets", body, 413, 1015).await;
    }
}
