//! The monetization entitlements API on the admin listener, over real HTTP: create (an offer ID is a
//! package ID), upsert, the field rules, list by user, delete, roles, the OEM view of the same
//! entitlement; and the catalogue's monetization functions directly on every backend (SQLite, and
//! PostgreSQL when `SEES_TEST_DATABASE_URL` names a server).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sees::admin::tokens::Role;
use sees::catalog::{Catalog, CatalogError, MonetizationGrant, Package};
use sees::ids::{PackageId, UserId};
use serde_json::{json, Value};

use crate::harness::{self, assert_envelope, assert_error, AdminWorld};

const PATH: &str = "/monetization/entitlements/v1";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 1, 12, 0, 0).unwrap()
}

fn at(seconds: i64) -> String {
    (t0() + Duration::seconds(seconds)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

harness::admin_area!(
    /// The admin world on this area's clock, with the packages `gold` and `silver`.
    Ctx
);

async fn ctx() -> Ctx {
    let world = AdminWorld::start(t0()).await;
    for id in ["gold", "silver"] {
        let body = json!({"package": {"id": id, "name": format!("Package {id}"),
            "description": "test package", "assetIDs": [format!("{id}-a1")], "billingPlanIDs": []}});
        let (status, answer) = world
            .server
            .admin(
                "POST",
                "/oem/v1/user/packages",
                Some(&world.admin),
                Some(body),
            )
            .await;
        assert!(status == 200 || status == 201, "{answer}");
    }
    Ctx(world)
}

impl Ctx {
    /// A call as support; checks the envelope of every answer.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(Some(&self.support), method, path, body).await
    }

    async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, answer) = self.server.admin(method, path, token, body).await;
        assert_envelope(&answer);
        (status, answer)
    }

    /// A `GET` as reader.
    async fn read(&self, path: &str) -> (u16, Value) {
        self.call_as(Some(&self.reader), "GET", path, None).await
    }

    /// Grants through the OEM routes (`POST /oem/v1/admin/entitlements`); must answer 200.
    async fn oem_grant(&self, grant: Value) {
        let (status, answer) = self
            .call("POST", "/oem/v1/admin/entitlements", Some(grant))
            .await;
        assert_eq!(status, 200, "{answer}");
    }

    async fn create(&self, body: Value) -> (u16, Value) {
        self.call("POST", PATH, Some(body)).await
    }

    /// `create` that must answer 200; the answer.
    async fn created(&self, body: Value) -> Value {
        let (status, answer) = self.create(body).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// The `entitlements` of `GET PATH?user_id=…`.
    async fn listed(&self, user: &str) -> Vec<Value> {
        let (status, answer) = self.read(&format!("{PATH}?user_id={user}")).await;
        assert_eq!(status, 200, "{answer}");
        answer["entitlements"].as_array().unwrap().clone()
    }
}

fn required_only(user: &str, offer: &str) -> Value {
    json!({"offer_id": offer, "project_id": "proj-1", "user_id": user})
}

fn all_fields(user: &str, offer: &str) -> Value {
    json!({
        "offer_id": offer,
        "project_id": "proj-1",
        "user_id": user,
        "concurrency_limit": "3",
        "expiration_time": at(86_400),
        "origin_country_code": "de",
        "source_id": "cleeng-T-123",
        "source_type": "cleeng",
    })
}

#[tokio::test]
async fn create_with_every_field_and_with_only_the_required_ones() {
    let c = ctx().await;

    let answer = c.created(all_fields("alice", "gold")).await;
    let e = answer["entitlement"].as_object().unwrap();
    let expected = json!({
        "id": "alice:gold",
        "offer_id": "gold",
        "project_id": "proj-1",
        "user_id": "alice",
        "concurrency_limit": "3",
        "expiration_time": at(86_400),
        "origin_country_code": "DE",
        "source_id": "cleeng-T-123",
        "source_type": "cleeng",
        "created_at": at(0),
        "updated_at": at(0),
        "active": true,
    });
    assert_eq!(Value::Object(e.clone()), expected);

    let answer = c.created(required_only("bob", "gold")).await;
    let expected = json!({
        "id": "bob:gold",
        "offer_id": "gold",
        "project_id": "proj-1",
        "user_id": "bob",
        "created_at": at(0),
        "updated_at": at(0),
        "active": true,
    });
    assert_eq!(answer["entitlement"], expected);

    // JSON nulls are absent fields; a trailing slash is fine.
    let mut body = required_only("carol", "silver");
    for field in [
        "concurrency_limit",
        "expiration_time",
        "origin_country_code",
        "source_id",
        "source_type",
    ] {
        body[field] = Value::Null;
    }
    let (status, answer) = c.call("POST", &format!("{PATH}/"), Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlement"]["id"], "carol:silver");
    assert!(answer["entitlement"].get("expiration_time").is_none());

    // Past its expiration, the entitlement is listed as inactive.
    c.at(86_400);
    let listed = c.listed("alice").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["active"], false);
    assert_eq!(c.listed("bob").await[0]["active"], true);
}

#[tokio::test]
async fn concurrency_limit_is_a_string_or_a_number() {
    let c = ctx().await;
    for (i, limit) in [json!("2"), json!(2), json!("02")].into_iter().enumerate() {
        let mut body = required_only(&format!("u{i}"), "gold");
        body["concurrency_limit"] = limit.clone();
        let (status, answer) = c.create(body).await;
        assert_eq!(status, 200, "{limit}: {answer}");
        assert_eq!(answer["entitlement"]["concurrency_limit"], "2", "{limit}");
    }
    for limit in [
        json!("0"),
        json!(0),
        json!("x"),
        json!(""),
        json!("-1"),
        json!(-1),
        json!(1.5),
        json!("4294967296"),
        json!(true),
    ] {
        let mut body = required_only("u9", "gold");
        body["concurrency_limit"] = limit.clone();
        let (status, answer) = c.create(body).await;
        assert_error(status, &answer, 400, 1011);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("concurrency_limit"), "{limit}: {message}");
    }
    // Nothing was written for the refused bodies.
    assert!(c.listed("u9").await.is_empty());
}

#[tokio::test]
async fn field_rules() {
    let c = ctx().await;
    for country in ["USA", "1A", "D", "", "ü1"] {
        let mut body = required_only("alice", "gold");
        body["origin_country_code"] = json!(country);
        let (status, answer) = c.create(body).await;
        assert_error(status, &answer, 400, 1011);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("origin_country_code"), "{message}");
    }

    // Required fields, types and identifiers: 1011 naming the field.
    for field in ["offer_id", "project_id", "user_id"] {
        let mut missing = required_only("alice", "gold");
        missing.as_object_mut().unwrap().remove(field);
        let mut wrong_type = required_only("alice", "gold");
        wrong_type[field] = json!(5);
        let mut blank = required_only("alice", "gold");
        blank[field] = json!("  ");
        for body in [missing, wrong_type, blank] {
            let (status, answer) = c.create(body.clone()).await;
            assert_error(status, &answer, 400, 1011);
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(field), "{body}: {message}");
        }
    }
    for field in ["source_id", "source_type"] {
        for bad in [json!(""), json!(7), json!("a\u{1}"), json!("x".repeat(257))] {
            let mut body = required_only("alice", "gold");
            body[field] = bad;
            let (status, answer) = c.create(body).await;
            assert_error(status, &answer, 400, 1011);
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(field), "{message}");
        }
    }
    let mut body = required_only("alice", "gold");
    body["offer_id"] = json!("a,b");
    let (status, answer) = c.create(body).await;
    assert_error(status, &answer, 400, 1011);

    // Unknown fields, non-objects, broken JSON.
    let mut body = required_only("alice", "gold");
    body["offerId"] = json!("gold");
    let (status, answer) = c.create(body).await;
    assert_error(status, &answer, 400, 1012);
    let (status, answer) = c.create(json!(["gold"])).await;
    assert_error(status, &answer, 400, 1011);

    // Dates: not RFC 3339 → 1013; not after now → 1014.
    for bad in [json!("2030-03-02"), json!("tomorrow"), json!(1_900_000_000)] {
        let mut body = required_only("alice", "gold");
        body["expiration_time"] = bad;
        let (status, answer) = c.create(body).await;
        assert_error(status, &answer, 400, 1013);
    }
    for past in [at(-1), at(0), "2020-01-01T00:00:00+02:00".to_owned()] {
        let mut body = required_only("alice", "gold");
        body["expiration_time"] = json!(past);
        let (status, answer) = c.create(body).await;
        assert_error(status, &answer, 400, 1014);
    }
    // An offset is accepted and shown in UTC.
    let mut body = required_only("alice", "gold");
    body["expiration_time"] = json!("2030-03-01T14:00:01+02:00");
    let answer = c.created(body).await;
    assert_eq!(answer["entitlement"]["expiration_time"], at(1));

    // An offer that names no package.
    let (status, answer) = c.create(required_only("alice", "platinum")).await;
    assert_error(status, &answer, 404, 1040);

    assert_eq!(c.listed("alice").await.len(), 1);
}

#[tokio::test]
async fn a_second_post_replaces_the_entitlement() {
    let c = ctx().await;
    c.created(all_fields("alice", "gold")).await;

    c.at(3_600);
    let mut renewal = required_only("alice", "gold");
    renewal["project_id"] = json!("proj-2");
    renewal["expiration_time"] = json!(at(30 * 86_400));
    renewal["source_type"] = json!("motto");
    let answer = c.created(renewal).await;
    let expected = json!({
        "id": "alice:gold",
        "offer_id": "gold",
        "project_id": "proj-2",
        "user_id": "alice",
        "expiration_time": at(30 * 86_400),
        "source_type": "motto",
        "created_at": at(0),
        "updated_at": at(3_600),
        "active": true,
    });
    assert_eq!(answer["entitlement"], expected);
    assert_eq!(c.listed("alice").await, [expected]);

    // It also replaces an entitlement granted through the OEM routes (which then becomes one of
    // this API's), window included.
    let grant = json!({"entitlement": {"packageID": "silver", "uid": "alice",
        "startDate": at(7_200), "endDate": at(10_800)}});
    c.oem_grant(grant).await;
    assert_eq!(
        c.listed("alice").await.len(),
        1,
        "OEM grants are not listed"
    );
    let answer = c.created(required_only("alice", "silver")).await;
    assert!(answer["entitlement"].get("expiration_time").is_none());
    assert_eq!(answer["entitlement"]["active"], true);
    let (status, answer) = c.read("/oem/v1/admin/entitlements/alice/silver").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entitlement"]["startDate"], at(3_600));
    assert!(answer["entitlement"].get("endDate").is_none());
    assert_eq!(c.listed("alice").await.len(), 2);
}

#[tokio::test]
async fn list_by_user() {
    let c = ctx().await;
    assert!(c.listed("alice").await.is_empty(), "unknown user: empty");
    c.create(required_only("alice", "silver")).await;
    c.at(1);
    c.create(required_only("alice", "gold")).await;
    c.create(required_only("bob", "gold")).await;
    let listed = c.listed("alice").await;
    let offers: Vec<&str> = listed
        .iter()
        .map(|e| e["offer_id"].as_str().unwrap())
        .collect();
    assert_eq!(offers, ["silver", "gold"], "oldest first");
    assert!(listed.iter().all(|e| e["user_id"] == "alice"));

    // Percent-encoded user IDs.
    c.create(required_only("a b+c", "gold")).await;
    assert_eq!(c.listed("a%20b%2Bc").await[0]["id"], "a b+c:gold");

    for query in [
        "",
        "?",
        "?userid=alice",
        "?user_id=",
        "?user_id=a&user_id=b",
    ] {
        let (status, answer) = c.read(&format!("{PATH}{query}")).await;
        assert_error(status, &answer, 400, 1017);
    }
}

#[tokio::test]
async fn delete_an_entitlement() {
    let c = ctx().await;
    c.create(all_fields("alice", "gold")).await;
    let path = format!("{PATH}/alice/gold");
    let (status, answer) = c.call_as(Some(&c.reader), "DELETE", &path, None).await;
    assert_error(status, &answer, 403, 1004);

    let (status, answer) = c.call("DELETE", &path, None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["message"].as_str().is_some(), "{answer}");
    assert!(c.listed("alice").await.is_empty());
    let (status, answer) = c.call("DELETE", &path, None).await;
    assert_error(status, &answer, 404, 1040);
    let (status, answer) = c.call("DELETE", &format!("{PATH}/alice/nope"), None).await;
    assert_error(status, &answer, 404, 1040);

    // An entitlement granted through the OEM routes is not this API's to delete.
    let grant = json!({"entitlement": {"packageID": "silver", "uid": "alice",
        "startDate": at(0)}});
    c.oem_grant(grant).await;
    let (status, answer) = c
        .call("DELETE", &format!("{PATH}/alice/silver"), None)
        .await;
    assert_error(status, &answer, 404, 1040);
    let (status, answer) = c.read("/oem/v1/admin/entitlements/alice/silver").await;
    assert_eq!(status, 200, "still there: {answer}");
}

#[tokio::test]
async fn roles() {
    let c = ctx().await;
    let (status, answer) = c
        .call_as(
            Some(&c.reader),
            "POST",
            PATH,
            Some(required_only("alice", "gold")),
        )
        .await;
    assert_error(status, &answer, 403, 1004);
    // The role is checked before the body is read.
    let (status, answer) = c
        .call_as(Some(&c.reader), "POST", PATH, Some(json!({"x": 1})))
        .await;
    assert_error(status, &answer, 403, 1004);

    for (method, path, body) in [
        (
            "POST",
            PATH.to_owned(),
            Some(required_only("alice", "gold")),
        ),
        ("GET", format!("{PATH}?user_id=alice"), None),
        ("DELETE", format!("{PATH}/alice/gold"), None),
    ] {
        let (status, answer) = c.call_as(None, method, &path, body.clone()).await;
        assert_error(status, &answer, 401, 1001);
        let (status, answer) = c
            .call_as(Some("sees_not-a-token"), method, &path, body)
            .await;
        assert_error(status, &answer, 401, 1001);
    }
    assert!(c.listed("alice").await.is_empty());

    // Admin may do what support may.
    let admin = c.server.admin_token(Role::Admin).await;
    let (status, answer) = c
        .call_as(
            Some(&admin),
            "POST",
            PATH,
            Some(required_only("alice", "gold")),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn the_entitlement_shows_in_the_oem_routes() {
    let c = ctx().await;
    c.created(all_fields("alice", "gold")).await;
    let (status, answer) = c.read("/oem/v1/admin/entitlements/alice").await;
    assert_eq!(status, 200, "{answer}");
    let listed = answer["entitlements"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{answer}");
    assert_eq!(listed[0]["uid"], "alice");
    assert_eq!(listed[0]["packageID"], "gold");
    assert_eq!(listed[0]["startDate"], at(0));
    assert_eq!(listed[0]["endDate"], at(86_400));
    assert_eq!(listed[0]["active"], true);
}

// ---------------------------------------------------------------------------------------------------
// The catalogue directly, on every backend
// ---------------------------------------------------------------------------------------------------

fn pid(raw: &str) -> PackageId {
    PackageId::parse(raw).unwrap()
}

fn uid(raw: &str) -> UserId {
    UserId::parse(raw).unwrap()
}

fn package(id: &str) -> Package {
    Package {
        id: pid(id),
        name: format!("Package {id}"),
        description: String::new(),
        bypass: false,
        asset_ids: Vec::new(),
        billing_plan_ids: Vec::new(),
        region_ids: Vec::new(),
        custom_data: BTreeMap::new(),
        drm_policy: Default::default(),
        created_at: t0(),
        modified_at: t0(),
    }
}

fn grant(user: &str, offer: &str) -> MonetizationGrant {
    MonetizationGrant {
        uid: uid(user),
        package_id: pid(offer),
        project_id: "proj-1".to_owned(),
        end: None,
        concurrency_limit: None,
        concurrency_policy: None,
        origin_country: None,
        source_id: None,
        source_type: None,
    }
}

#[tokio::test]
async fn catalog_monetization_functions_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in harness::backend_stores(dir.path()).await {
        let catalog = Catalog::new(store, 8);
        for id in ["gold", "silver"] {
            catalog.create_package(&package(id)).await.unwrap();
        }
        let now = t0() + Duration::microseconds(1_500); // cut to milliseconds when stored
        let full = MonetizationGrant {
            end: Some(t0() + Duration::days(1)),
            concurrency_limit: Some(u32::MAX),
            origin_country: Some("DE".to_owned()),
            source_id: Some("T-1".to_owned()),
            source_type: Some("cleeng".to_owned()),
            ..grant("alice", "gold")
        };
        let stored = catalog
            .upsert_monetization_entitlement(&full, now)
            .await
            .unwrap();
        let ms = t0() + Duration::milliseconds(1);
        assert_eq!(
            (stored.start, stored.created_at, stored.modified_at),
            (ms, ms, ms),
            "{backend}"
        );
        assert_eq!(stored.end, full.end, "{backend}");
        assert_eq!(stored.concurrency_limit, Some(u32::MAX), "{backend}");
        assert_eq!(stored.origin_country.as_deref(), Some("DE"), "{backend}");
        assert_eq!(stored.project_id.as_deref(), Some("proj-1"), "{backend}");
        assert_eq!(stored.source_id.as_deref(), Some("T-1"), "{backend}");
        assert_eq!(stored.source_type.as_deref(), Some("cleeng"), "{backend}");
        // Every reading path sees the same row.
        assert_eq!(
            catalog
                .entitlement(&uid("alice"), &pid("gold"))
                .await
                .unwrap(),
            Some(stored.clone()),
            "{backend}"
        );
        assert_eq!(
            catalog.entitlements_of(&uid("alice")).await.unwrap(),
            [stored],
            "{backend}"
        );

        // The upsert replaces the window and every monetization field, keeping created_at.
        let later = t0() + Duration::hours(1);
        let renewed = catalog
            .upsert_monetization_entitlement(&grant("alice", "gold"), later)
            .await
            .unwrap();
        assert_eq!(
            (
                renewed.start,
                renewed.end,
                renewed.created_at,
                renewed.modified_at
            ),
            (later, None, ms, later),
            "{backend}"
        );
        assert_eq!(
            (
                renewed.concurrency_limit,
                renewed.origin_country.clone(),
                renewed.source_id.clone(),
                renewed.source_type.clone()
            ),
            (None, None, None, None),
            "{backend}"
        );

        // OEM grants keep the monetization columns NULL and are not monetization entitlements.
        let oem = catalog
            .grant_entitlement(&uid("alice"), &pid("silver"), t0(), None, t0())
            .await
            .unwrap();
        assert_eq!(
            (oem.project_id, oem.concurrency_limit),
            (None, None),
            "{backend}"
        );
        assert_eq!(
            catalog
                .monetization_entitlements_of(&uid("alice"))
                .await
                .unwrap(),
            [renewed],
            "{backend}"
        );
        assert!(!catalog
            .revoke_monetization_entitlement(&uid("alice"), &pid("silver"))
            .await
            .unwrap());
        // The OEM update leaves the monetization fields as they are.
        let updated = catalog
            .update_entitlement(
                &uid("alice"),
                &pid("gold"),
                t0(),
                Some(later + Duration::days(2)),
                later,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated.project_id.as_deref(), Some("proj-1"), "{backend}");

        // Refusals.
        assert!(matches!(
            catalog
                .upsert_monetization_entitlement(&grant("bob", "platinum"), later)
                .await,
            Err(CatalogError::PackageNotFound(id)) if id == pid("platinum")
        ));
        let expired = MonetizationGrant {
            end: Some(later),
            ..grant("bob", "gold")
        };
        assert!(matches!(
            catalog
                .upsert_monetization_entitlement(&expired, later)
                .await,
            Err(CatalogError::DatesOutOfOrder)
        ));
        assert!(catalog
            .monetization_entitlements_of(&uid("bob"))
            .await
            .unwrap()
            .is_empty());

        // Delete: once.
        assert!(catalog
            .revoke_monetization_entitlement(&uid("alice"), &pid("gold"))
            .await
            .unwrap());
        assert!(!catalog
            .revoke_monetization_entitlement(&uid("alice"), &pid("gold"))
            .await
            .unwrap());
        assert_eq!(
            catalog.entitlements_of(&uid("alice")).await.unwrap().len(),
            1,
            "the OEM grant stays ({backend})"
        );
    }
}
