//! The package routes of the admin API (OEM v1 "Add/Update/Retrieve/List/Delete a package", free
//! packages, assets in packages) over the real HTTP listener, and the catalogue's package functions
//! directly on every backend (SQLite, and PostgreSQL when `SEES_TEST_DATABASE_URL` names a server).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sees::admin::tokens::Role;
use sees::catalog::{Catalog, CatalogError, Package};
use sees::ids::{AssetId, BillingPlanId, PackageId, RegionId};
use sees::store::Store;
use serde_json::{json, Value};

use crate::harness::{self, assert_error, spawn_with, AdminWorld};

const PACKAGES: &str = "/oem/v1/user/packages";
const ASSETS: &str = "/oem/v1/packages/assets";

/// The spec's own junk identifiers: control characters, blanks, and two IDs in one string.
const JUNK_IDS: [&str; 3] = ["\u{0001}\t", "       ", "a1,a2"];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2018, 6, 1, 18, 25, 58).unwrap()
}

fn at(seconds: i64) -> String {
    (t0() + Duration::seconds(seconds)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

harness::admin_area!(
    /// The admin world on this area's clock.
    Ctx
);

async fn ctx() -> Ctx {
    ctx_with(|_| {}).await
}

async fn ctx_with(adjust: impl FnOnce(&mut sees::config::Settings)) -> Ctx {
    Ctx(AdminWorld::start_with(t0(), adjust).await)
}

impl Ctx {
    /// Adds `package` (the inner object); asserts 200 and returns the answer's package.
    async fn add(&self, package: Value) -> Value {
        let (status, answer) = self
            .call("POST", PACKAGES, Some(json!({ "package": package })))
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["package"].clone()
    }

    async fn get(&self, id: &str) -> Value {
        let (status, answer) = self.call("GET", &format!("{PACKAGES}/{id}"), None).await;
        assert_eq!(status, 200, "{answer}");
        answer["package"].clone()
    }

    /// The listing at `query`: the packages' IDs and the metadata.
    async fn list(&self, query: &str) -> (Vec<String>, Value) {
        let (status, answer) = self.call("GET", &format!("{PACKAGES}?{query}"), None).await;
        assert_eq!(status, 200, "{query}: {answer}");
        let ids = answer["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, answer["metadata"].clone())
    }

    /// Each listing query is refused with 400 / 1017.
    async fn assert_bad_queries(&self, queries: &[&str]) {
        for query in queries {
            let (status, answer) = self.call("GET", &format!("{PACKAGES}?{query}"), None).await;
            assert_error(status, &answer, 400, 1017);
        }
    }

    async fn list_ids(&self, query: &str) -> Vec<String> {
        self.list(query).await.0
    }

    /// Runs `sql` with one text parameter on the server's store and returns the single count.
    async fn count(&self, sql: &'static str, value: &str) -> i64 {
        let store = Store::connect(&self.server.settings.store.url, 1)
            .await
            .unwrap();
        let (n,): (i64,) = sqlx::query_as(sql)
            .bind(value)
            .fetch_one(store.pool())
            .await
            .unwrap();
        store.close().await;
        n
    }
}

/// A paid package body.
fn paid(id: &str, assets: &[&str], plans: &[&str]) -> Value {
    json!({
        "id": id,
        "name": format!("Package {id}"),
        "description": format!("About {id}"),
        "assetIDs": assets,
        "billingPlanIDs": plans,
    })
}

fn with(mut package: Value, key: &str, value: Value) -> Value {
    package[key] = value;
    package
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_package_is_added_and_retrieved_with_its_product_ids() {
    let c = ctx().await;
    let added = c
        .add(json!({
            "id": "argentina",
            "name": "Argentina Test",
            "description": "Line one\nline two\twith a tab\r\n",
            "assetIDs": ["a1", "a2"],
            "billingPlanIDs": ["616ARS-Monthly-FreeTrial", "15DayFreeTrialMonthly_004"],
            "regionWhitelist": ["AR", "CL"],
            "customData": {"testfield": "TestCustomData", "Sport": "Football"},
        }))
        .await;
    let expected = json!({
        "id": "argentina",
        "name": "Argentina Test",
        "description": "Line one\nline two\twith a tab\r\n",
        "bypassEntitlementCheck": false,
        "assetIDs": ["a1", "a2"],
        "billingPlanIDs": ["616ARS-Monthly-FreeTrial", "15DayFreeTrialMonthly_004"],
        "productIDs": {
            "616ARS-Monthly-FreeTrial": "argentina_616ARS-Monthly-FreeTrial",
            "15DayFreeTrialMonthly_004": "argentina_15DayFreeTrialMonthly_004",
        },
        "regionWhitelist": ["AR", "CL"],
        "customData": {"Sport": "Football", "testfield": "TestCustomData"},
        "createdTimestamp": "2018-06-01T18:25:58Z",
        "modifiedTimestamp": "2018-06-01T18:25:58Z",
    });
    assert_eq!(added, expected);
    assert_eq!(c.get("argentina").await, expected);
    // The spec writes the add path with a trailing slash.
    let (status, answer) = c
        .call(
            "POST",
            &format!("{PACKAGES}/"),
            Some(json!({"package": paid("slash", &["a1"], &["p1"])})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_free_package_needs_no_billing_plans() {
    let c = ctx().await;
    let free = c
        .add(json!({
            "id": "free",
            "name": "Free",
            "description": "",
            "bypassEntitlementCheck": true,
            "assetIDs": ["f1", "f2"],
        }))
        .await;
    assert_eq!(free["bypassEntitlementCheck"], true);
    assert_eq!(free["billingPlanIDs"], json!([]));
    assert_eq!(free["productIDs"], json!({}));
    assert!(free.get("regionWhitelist").is_none() && free.get("customData").is_none());
    for bypass in [json!(false), Value::Null] {
        let mut body = json!({"id": "paid", "name": "Paid", "description": "d", "assetIDs": ["a"]});
        if !bypass.is_null() {
            body["bypassEntitlementCheck"] = bypass;
        }
        let (status, answer) = c
            .call("POST", PACKAGES, Some(json!({ "package": body })))
            .await;
        assert_error(status, &answer, 400, 1011);
        assert!(answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("billingPlanIDs"));
    }
    // Empty lists are lists: a package can be made empty and filled later.
    let empty = c.add(paid("empty", &[], &[])).await;
    assert_eq!(
        (empty["assetIDs"].clone(), empty["billingPlanIDs"].clone()),
        (json!([]), json!([]))
    );
}

#[tokio::test]
async fn missing_fields_and_wrong_types_are_refused() {
    let c = ctx().await;
    let base = paid("p", &["a"], &["b"]);
    let mut bodies = Vec::new();
    for field in ["id", "name", "description", "assetIDs"] {
        let mut package = base.clone();
        package.as_object_mut().unwrap().remove(field);
        bodies.push(json!({ "package": package }));
    }
    for (field, wrong) in [
        ("id", json!(5)),
        ("name", json!(["x"])),
        ("description", json!(false)),
        ("assetIDs", json!("a1")),
        ("assetIDs", json!([1, 2])),
        ("billingPlanIDs", json!({"a": "b"})),
        ("regionWhitelist", json!("AR")),
        ("bypassEntitlementCheck", json!("yes")),
        ("bypassEntitlementCheck", json!([true])),
        ("customData", json!({"a": 1})),
        ("customData", json!(["a"])),
    ] {
        bodies.push(json!({ "package": with(base.clone(), field, wrong) }));
    }
    bodies.push(json!({}));
    bodies.push(json!({"package": null}));
    for body in bodies {
        let (status, answer) = c.call("POST", PACKAGES, Some(body.clone())).await;
        assert_error(status, &answer, 400, 1011);
    }
    // The same on update.
    c.add(base.clone()).await;
    for (field, wrong) in [
        ("name", json!(1)),
        ("assetIDs", json!("a1")),
        ("bypassEntitlementCheck", json!("true")),
    ] {
        let (status, answer) = c
            .call(
                "PUT",
                &format!("{PACKAGES}/p"),
                Some(json!({"package": {"id": "p", field: wrong}})),
            )
            .await;
        assert_error(status, &answer, 400, 1011);
    }
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PACKAGES}/p"),
            Some(json!({"package": {"name": "x"}})),
        )
        .await;
    assert_error(status, &answer, 400, 1011);
}

#[tokio::test]
async fn the_specs_junk_ids_are_refused_everywhere() {
    let c = ctx().await;
    c.add(paid("good", &["a"], &["b"])).await;
    for junk in JUNK_IDS {
        for (field, value) in [
            ("id", json!(junk)),
            ("assetIDs", json!(["ok", junk])),
            ("billingPlanIDs", json!([junk])),
            ("regionWhitelist", json!([junk])),
        ] {
            let body = json!({ "package": with(paid("p", &["a"], &["b"]), field, value.clone()) });
            let (status, answer) = c.call("POST", PACKAGES, Some(body)).await;
            assert_error(status, &answer, 400, 1011);
            let (status, answer) = c
                .call(
                    "PUT",
                    &format!("{PACKAGES}/good"),
                    Some(json!({ "package": with(json!({"id": "good"}), field, value.clone()) })),
                )
                .await;
            assert_error(status, &answer, 400, 1011);
        }
        for body in [
            json!({"packageIDs": [junk], "assetIDs": ["a"]}),
            json!({"packageIDs": ["good"], "assetIDs": [junk]}),
        ] {
            for method in ["PUT", "DELETE"] {
                let (status, answer) = c.call(method, ASSETS, Some(body.clone())).await;
                assert_error(status, &answer, 400, 1011);
            }
        }
    }
    // In a path.
    for junk in ["%01%09", "%20%20%20%20", "a1,a2"] {
        for method in ["GET", "DELETE"] {
            let (status, answer) = c.call(method, &format!("{PACKAGES}/{junk}"), None).await;
            assert_error(status, &answer, 400, 1011);
        }
    }
    // The one good package is untouched.
    assert_eq!(strings(&c.get("good").await["assetIDs"]), ["a"]);
}

#[tokio::test]
async fn unknown_fields_and_malformed_json_are_refused() {
    let c = ctx().await;
    c.add(paid("p", &["a"], &["b"])).await;
    let typo = with(paid("q", &["a"], &["b"]), "asetIDs", json!(["a"]));
    for (method, path, body) in [
        ("POST", PACKAGES.to_owned(), json!({ "package": typo })),
        (
            "POST",
            PACKAGES.to_owned(),
            json!({ "package": paid("q", &["a"], &["b"]), "extra": 1 }),
        ),
        (
            "PUT",
            format!("{PACKAGES}/p"),
            json!({"package": {"id": "p", "title": "x"}}),
        ),
        (
            "PUT",
            ASSETS.to_owned(),
            json!({"packageIDs": ["p"], "assetIDs": ["a"], "force": true}),
        ),
        (
            "DELETE",
            ASSETS.to_owned(),
            json!({"packageIDs": ["p"], "assetIds": ["a"]}),
        ),
    ] {
        let (status, answer) = c.call(method, &path, Some(body)).await;
        assert_error(status, &answer, 400, 1012);
    }
    for (method, path) in [
        ("POST", PACKAGES.to_owned()),
        ("PUT", format!("{PACKAGES}/p")),
        ("PUT", ASSETS.to_owned()),
        ("DELETE", ASSETS.to_owned()),
    ] {
        for raw in ["{,}", "not json", "", "{\"", "{'package': 1}"] {
            let (status, answer) = c.raw(method, &path, raw).await;
            assert_error(status, &answer, 400, 1010);
        }
    }
    // A key given twice in customData is refused rather than silently resolved.
    let (status, answer) = c
        .raw(
            "POST",
            PACKAGES,
            r#"{"package": {"id": "q", "name": "n", "description": "d", "assetIDs": [],
                "billingPlanIDs": [], "customData": {"k": "1", "k": "2"}}}"#,
        )
        .await;
    assert_error(status, &answer, 400, 1011);
}

#[tokio::test]
async fn names_descriptions_and_custom_data_are_checked() {
    let c = ctx().await;
    let base = paid("p", &["a"], &["b"]);
    c.add(paid("existing", &["a"], &["b"])).await;
    let too_many: BTreeMap<String, String> = (0..101)
        .map(|i| (format!("k{i}"), "v".to_owned()))
        .collect();
    for (field, bad) in [
        ("name", json!("")),
        ("name", json!("   ")),
        ("name", json!("x".repeat(257))),
        ("name", json!("bell\u{0007}")),
        ("name", json!("two\nlines")),
        ("description", json!("d".repeat(4097))),
        ("description", json!("nul\u{0000}")),
        ("description", json!("esc\u{001b}[0m")),
        ("customData", json!({"": "v"})),
        ("customData", json!({"  ": "v"})),
        ("customData", json!({"k".repeat(129): "v"})),
        ("customData", json!({"k\u{0001}": "v"})),
        ("customData", json!({"k": "v".repeat(4097)})),
        ("customData", json!({"k": "\u{0002}"})),
        ("customData", json!(too_many)),
    ] {
        let body = json!({ "package": with(base.clone(), field, bad.clone()) });
        let (status, answer) = c.call("POST", PACKAGES, Some(body)).await;
        assert_error(status, &answer, 400, 1011);
        let (status, answer) = c
            .call(
                "PUT",
                &format!("{PACKAGES}/existing"),
                Some(json!({"package": {"id": "existing", field: bad}})),
            )
            .await;
        assert_error(status, &answer, 400, 1011);
    }
    assert_eq!(c.get("existing").await["name"], "Package existing");
    // The limits themselves are accepted.
    let at_limits: BTreeMap<String, String> = (0..100)
        .map(|i| (format!("{i:0>128}"), "v".repeat(4096)))
        .collect();
    let package = c
        .add(json!({
            "id": "limits",
            "name": "n".repeat(256),
            "description": "d".repeat(4096),
            "assetIDs": [],
            "billingPlanIDs": [],
            "customData": at_limits,
        }))
        .await;
    assert_eq!(package["customData"].as_object().unwrap().len(), 100);
}

#[tokio::test]
async fn a_duplicate_package_id_is_409() {
    let c = ctx().await;
    c.add(paid("p", &["a"], &["b"])).await;
    let (status, answer) = c
        .call(
            "POST",
            PACKAGES,
            Some(json!({"package": paid("p", &["other"], &["other"])})),
        )
        .await;
    assert_error(status, &answer, 409, 1050);
    assert_eq!(strings(&c.get("p").await["assetIDs"]), ["a"]);
}

#[tokio::test]
async fn lists_drop_repeats_and_oversized_lists_are_413() {
    let c = ctx_with(|s| s.admin.max_list_len = 3).await;
    let package = c
        .add(json!({
            "id": "p",
            "name": "n",
            "description": "d",
            "assetIDs": ["a2", "a1", "a2"],
            "billingPlanIDs": ["b", "b"],
            "regionWhitelist": ["r", "s", "r"],
        }))
        .await;
    assert_eq!(strings(&package["assetIDs"]), ["a2", "a1"]);
    assert_eq!(strings(&package["billingPlanIDs"]), ["b"]);
    assert_eq!(strings(&package["regionWhitelist"]), ["r", "s"]);
    let four = json!(["1", "2", "3", "4"]);
    for field in ["assetIDs", "billingPlanIDs", "regionWhitelist"] {
        let body = json!({ "package": with(paid("q", &[], &[]), field, four.clone()) });
        let (status, answer) = c.call("POST", PACKAGES, Some(body)).await;
        assert_error(status, &answer, 413, 1015);
        let (status, answer) = c
            .call(
                "PUT",
                &format!("{PACKAGES}/p"),
                Some(json!({"package": {"id": "p", field: four.clone()}})),
            )
            .await;
        assert_error(status, &answer, 413, 1015);
    }
    for body in [
        json!({"packageIDs": four.clone(), "assetIDs": ["a"]}),
        json!({"packageIDs": ["p"], "assetIDs": four.clone()}),
    ] {
        for method in ["PUT", "DELETE"] {
            let (status, answer) = c.call(method, ASSETS, Some(body.clone())).await;
            assert_error(status, &answer, 413, 1015);
        }
    }
    // An update list drops repeats too.
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PACKAGES}/p"),
            Some(json!({"package": {"id": "p", "assetIDs": ["x", "y", "x"]}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(strings(&answer["package"]["assetIDs"]), ["x", "y"]);
}

#[tokio::test]
async fn an_update_keeps_the_fields_it_does_not_name() {
    let c = ctx().await;
    let original = c
        .add(json!({
            "id": "p",
            "name": "Original",
            "description": "Described",
            "assetIDs": ["a1", "a2"],
            "billingPlanIDs": ["gold"],
            "regionWhitelist": ["AR"],
            "customData": {"Sport": "Curling"},
        }))
        .await;
    c.at(60);
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PACKAGES}/p"),
            Some(json!({"package": {"id": "p", "name": "Renamed", "description": null}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut expected = original.clone();
    expected["name"] = json!("Renamed");
    expected["modifiedTimestamp"] = json!(at(60));
    assert_eq!(answer["package"], expected);
    assert_eq!(c.get("p").await, expected);

    // Lists present replace the whole list; an empty list clears it.
    c.at(120);
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PACKAGES}/p/"),
            Some(json!({"package": {
                "id": "p",
                "assetIDs": ["a3", "a1"],
                "billingPlanIDs": ["silver", "gold"],
                "regionWhitelist": [],
                "customData": {"League": "NBA"},
                "bypassEntitlementCheck": true,
            }})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let package = &answer["package"];
    assert_eq!(strings(&package["assetIDs"]), ["a3", "a1"]);
    assert_eq!(strings(&package["billingPlanIDs"]), ["silver", "gold"]);
    assert_eq!(package["productIDs"]["silver"], "p_silver");
    assert!(package.get("regionWhitelist").is_none(), "{package}");
    assert_eq!(package["customData"], json!({"League": "NBA"}));
    assert_eq!(package["bypassEntitlementCheck"], true);
    assert_eq!(package["name"], "Renamed");
    assert_eq!(package["description"], "Described");
    assert_eq!(package["createdTimestamp"], at(0));
    assert_eq!(package["modifiedTimestamp"], at(120));

    // Only the ID: nothing changes but the modification time.
    c.at(180);
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PACKAGES}/p"),
            Some(json!({"package": {"id": "p"}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut expected = package.clone();
    expected["modifiedTimestamp"] = json!(at(180));
    assert_eq!(answer["package"], expected);
}

#[tokio::test]
async fn an_update_names_its_package_in_the_path_and_the_body() {
    let c = ctx().await;
    c.add(paid("p", &["a"], &["b"])).await;
    c.add(paid("q", &["a"], &["b"])).await;
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PACKAGES}/p"),
            Some(json!({"package": {"id": "q", "name": "stolen"}})),
        )
        .await;
    assert_error(status, &answer, 400, 1011);
    assert_eq!(c.get("q").await["name"], "Package q");
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PACKAGES}/nope"),
            Some(json!({"package": {"id": "nope", "name": "x"}})),
        )
        .await;
    assert_error(status, &answer, 404, 1040);
}

#[tokio::test]
async fn retrieve_answers_404_and_honours_exclude_fields() {
    let c = ctx().await;
    c.add(paid("p", &["a"], &["b"])).await;
    let (status, answer) = c.call("GET", &format!("{PACKAGES}/nope"), None).await;
    assert_error(status, &answer, 404, 1040);
    for value in ["assetids", "assetIDs", "ASSETIDS"] {
        let (status, answer) = c
            .call("GET", &format!("{PACKAGES}/p?excludeFields={value}"), None)
            .await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer["package"].get("assetIDs").is_none(), "{answer}");
        assert_eq!(answer["package"]["productIDs"], json!({"b": "p_b"}));
    }
    for query in [
        "excludeFields=name",
        "excludeFields=",
        "excludefields=assetids",
        "count=1",
    ] {
        let (status, answer) = c.call("GET", &format!("{PACKAGES}/p?{query}"), None).await;
        assert_error(status, &answer, 400, 1017);
    }
}

/// p1..p6, made a minute apart, with names out of ID order.
async fn filter_fixture(c: &Ctx) {
    let packages = [
        json!({"id": "p1", "name": "delta", "description": "", "assetIDs": ["a1"],
               "billingPlanIDs": ["gold"], "customData": {"Sport": "Basketball", "League": "NBA"}}),
        json!({"id": "p2", "name": "Bravo", "description": "", "assetIDs": ["a2"],
               "billingPlanIDs": ["silver"], "customData": {"Sport": "Basketball"}}),
        json!({"id": "p3", "name": "alpha", "description": "", "assetIDs": ["a3"],
               "billingPlanIDs": ["gold"], "bypassEntitlementCheck": true}),
        json!({"id": "p4", "name": "echo", "description": "", "assetIDs": ["a4"],
               "bypassEntitlementCheck": true}),
        json!({"id": "p5", "name": "charlie", "description": "", "assetIDs": [],
               "billingPlanIDs": []}),
        json!({"id": "p6", "name": "foxtrot", "description": "", "assetIDs": ["a6"],
               "billingPlanIDs": ["gold", "silver"], "customData": {"Sport": "Curling"}}),
    ];
    // Created in the order p4, p2, p6, p1, p5, p3.
    for (minute, index) in [3usize, 1, 5, 0, 4, 2].into_iter().enumerate() {
        c.at(60 * minute as i64);
        c.add(packages[index].clone()).await;
    }
}

#[tokio::test]
async fn listings_filter_and_combine_filters() {
    let c = ctx().await;
    filter_fixture(&c).await;
    let cases: &[(&str, &[&str])] = &[
        ("", &["p1", "p2", "p3", "p4", "p5", "p6"]),
        ("subscriptions", &["p1", "p2", "p6"]),
        ("subscriptions=", &["p1", "p2", "p6"]),
        ("subscriptions=false", &["p1", "p2", "p6"]),
        ("billingPlanIDs=gold", &["p1", "p3", "p6"]),
        ("billingPlanIDs=gold,silver", &["p1", "p2", "p3", "p6"]),
        (
            "billingPlanIDs=gold&billingPlanIDs=silver",
            &["p1", "p2", "p3", "p6"],
        ),
        ("billingPlanIDs=gold,%20silver", &["p1", "p2", "p3", "p6"]),
        ("billingPlanIDs=bronze", &[]),
        ("customData.Sport=Basketball", &["p1", "p2"]),
        ("customData.Sport=Basketball&customData.League=NBA", &["p1"]),
        ("customData.Sport=basketball", &[]),
        ("customData.League=NBA&customData.Sport=Curling", &[]),
        ("subscriptions&billingPlanIDs=gold", &["p1", "p6"]),
        (
            "subscriptions&billingPlanIDs=silver&customData.Sport=Basketball",
            &["p2"],
        ),
        (
            "subscriptions&billingPlanIDs=gold&customData.Sport=Curling",
            &["p6"],
        ),
        (
            "billingPlanIDs=gold&customData.Sport=Basketball&sort=-id",
            &["p1"],
        ),
    ];
    for (query, expected) in cases {
        let (ids, metadata) = c.list(query).await;
        assert_eq!(ids, *expected, "{query}");
        assert_eq!(
            metadata,
            json!({"count": expected.len(), "skip": 0, "totalCount": expected.len()}),
            "{query}"
        );
    }
    // Listed packages have no productIDs; excludeFields drops assetIDs.
    let (status, answer) = c
        .call("GET", &format!("{PACKAGES}?subscriptions"), None)
        .await;
    assert_eq!(status, 200);
    let first = &answer["packages"][0];
    assert_eq!(strings(&first["assetIDs"]), ["a1"]);
    assert!(first.get("productIDs").is_none(), "{first}");
    assert_eq!(
        first["customData"],
        json!({"League": "NBA", "Sport": "Basketball"})
    );
    assert_eq!(first["createdTimestamp"], at(180));
    let (_, answer) = c
        .call(
            "GET",
            &format!("{PACKAGES}?excludeFields=AssetIDs&customData.Sport=Curling"),
            None,
        )
        .await;
    assert!(answer["packages"][0].get("assetIDs").is_none(), "{answer}");
    assert_eq!(
        strings(&answer["packages"][0]["billingPlanIDs"]),
        ["gold", "silver"]
    );

    c.assert_bad_queries(&[
        "billingPlanIDs=",
        "billingPlanIDs=gold,",
        "billingPlanIDs=a1,%01%09",
        "customData.=x",
        "customData.%20=x",
        "customdata.Sport=x",
        "excludeFields=description",
        "subscription",
        "page=2",
    ])
    .await;
}

#[tokio::test]
async fn listings_sort_both_ways() {
    let c = ctx().await;
    filter_fixture(&c).await;
    // p5 changes last, p1 before it.
    c.at(600);
    c.call(
        "PUT",
        &format!("{PACKAGES}/p1"),
        Some(json!({"package": {"id": "p1"}})),
    )
    .await;
    c.at(660);
    c.call(
        "PUT",
        &format!("{PACKAGES}/p5"),
        Some(json!({"package": {"id": "p5"}})),
    )
    .await;
    let by_id = ["p1", "p2", "p3", "p4", "p5", "p6"];
    // Byte order: upper case before lower case.
    let by_name = ["p2", "p3", "p5", "p1", "p4", "p6"];
    let by_created = ["p4", "p2", "p6", "p1", "p5", "p3"];
    let by_modified = ["p4", "p2", "p6", "p3", "p1", "p5"];
    for (sort, expected) in [
        ("id", by_id),
        ("name", by_name),
        ("createdTimestamp", by_created),
        ("modifiedTimestamp", by_modified),
    ] {
        assert_eq!(
            c.list_ids(&format!("sort={sort}")).await,
            expected,
            "{sort}"
        );
        let mut reversed = expected;
        reversed.reverse();
        assert_eq!(
            c.list_ids(&format!("sort=-{sort}")).await,
            reversed,
            "-{sort}"
        );
    }
    assert_eq!(c.list_ids("").await, by_id);
    assert_eq!(c.list_ids("sort=NAME").await, by_name);
    assert_eq!(c.list_ids("sort=-name&count=2&skip=1").await, ["p4", "p1"]);
    c.assert_bad_queries(&[
        "sort=size",
        "sort=",
        "sort=--name",
        "sort=%2Bname",
        "sort=id&sort=name",
    ])
    .await;
}

#[tokio::test]
async fn listings_page_with_count_and_skip() {
    let c = ctx_with(|s| s.admin.max_page_size = 4).await;
    for i in 1..=6 {
        c.add(paid(&format!("p{i}"), &["a"], &["b"])).await;
    }
    let cases: &[(&str, &[&str], u64)] = &[
        ("count=2&skip=1", &["p2", "p3"], 1),
        ("count=2&skip=5", &["p6"], 5),
        ("skip=6", &[], 6),
        ("skip=100", &[], 100),
        ("count=0", &[], 0),
        ("count=-3", &[], 0),
        ("count=2&skip=-2", &["p1", "p2"], 0),
        // The page size is capped at admin.max_page_size (4 here).
        ("", &["p1", "p2", "p3", "p4"], 0),
        ("count=99999999999999", &["p1", "p2", "p3", "p4"], 0),
        ("count=4&skip=99999999999999", &[], 1_000_000_000),
        ("count=%201%20", &["p1"], 0),
    ];
    for (query, expected, skip) in cases {
        let (ids, metadata) = c.list(query).await;
        assert_eq!(ids, *expected, "{query}");
        assert_eq!(
            metadata,
            json!({"count": expected.len(), "skip": skip, "totalCount": 6}),
            "{query}"
        );
    }
    c.assert_bad_queries(&["count=ten", "skip=1.5", "count=2&count=3", "skip=0x10"])
        .await;
}

#[tokio::test]
async fn a_deleted_package_takes_its_lists_edges_and_entitlements_with_it() {
    let c = ctx().await;
    c.add(
        json!({"id": "gone", "name": "n", "description": "d", "assetIDs": ["a1"],
                 "billingPlanIDs": ["b"], "regionWhitelist": ["AR"], "customData": {"k": "v"}}),
    )
    .await;
    c.add(paid("kept", &["a1"], &["b"])).await;
    c.add(paid("parent", &[], &["b"])).await;
    // Edges and entitlements straight into the store (their routes are another module's).
    let store = Store::connect(&c.server.settings.store.url, 1)
        .await
        .unwrap();
    for (parent, child) in [("parent", "gone"), ("gone", "kept"), ("parent", "kept")] {
        sqlx::query(
            "INSERT INTO package_edges (parent_id, child_id, created_at) VALUES ($1, $2, 0)",
        )
        .bind(parent)
        .bind(child)
        .execute(store.pool())
        .await
        .unwrap();
    }
    for (uid, package) in [("u1", "gone"), ("u1", "kept"), ("u2", "gone")] {
        sqlx::query(
            "INSERT INTO entitlements (uid, package_id, start_at, end_at, created_at, modified_at) \
             VALUES ($1, $2, 0, NULL, 0, 0)",
        )
        .bind(uid)
        .bind(package)
        .execute(store.pool())
        .await
        .unwrap();
    }
    store.close().await;

    let (status, answer) = c.call("DELETE", &format!("{PACKAGES}/gone"), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["message"], "Package gone was successfully deleted.");
    let (status, answer) = c.call("GET", &format!("{PACKAGES}/gone"), None).await;
    assert_error(status, &answer, 404, 1040);
    let (status, answer) = c.call("DELETE", &format!("{PACKAGES}/gone"), None).await;
    assert_error(status, &answer, 404, 1040);
    assert_eq!(c.list_ids("").await, ["kept", "parent"]);

    for sql in [
        "SELECT COUNT(*) FROM package_assets WHERE package_id = $1",
        "SELECT COUNT(*) FROM package_billing_plans WHERE package_id = $1",
        "SELECT COUNT(*) FROM package_regions WHERE package_id = $1",
        "SELECT COUNT(*) FROM package_custom_data WHERE package_id = $1",
        "SELECT COUNT(*) FROM package_edges WHERE parent_id = $1 OR child_id = $1",
        "SELECT COUNT(*) FROM entitlements WHERE package_id = $1",
    ] {
        assert_eq!(c.count(sql, "gone").await, 0, "{sql}");
    }
    assert_eq!(
        c.count(
            "SELECT COUNT(*) FROM package_edges WHERE child_id = $1",
            "kept"
        )
        .await,
        1
    );
    assert_eq!(
        c.count(
            "SELECT COUNT(*) FROM entitlements WHERE package_id = $1",
            "kept"
        )
        .await,
        1
    );
    assert_eq!(strings(&c.get("kept").await["assetIDs"]), ["a1"]);
}

#[tokio::test]
async fn assets_are_added_to_and_removed_from_many_packages() {
    let c = ctx().await;
    c.add(paid("p1", &["a1"], &["b"])).await;
    c.add(paid("p2", &[], &["b"])).await;
    c.add(paid("p3", &["a9"], &["b"])).await;
    c.at(60);
    let (status, answer) = c
        .call(
            "PUT",
            ASSETS,
            Some(json!({"packageIDs": ["p1", "p2", "p1"], "assetIDs": ["a2", "a1", "a3", "a2"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(strings(&answer["packageIDs"]), ["p1", "p2"]);
    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    let p1 = c.get("p1").await;
    assert_eq!(strings(&p1["assetIDs"]), ["a1", "a2", "a3"]);
    assert_eq!(p1["modifiedTimestamp"], at(60));
    let p2 = c.get("p2").await;
    assert_eq!(strings(&p2["assetIDs"]), ["a2", "a1", "a3"]);
    assert_eq!(c.get("p3").await["modifiedTimestamp"], at(0));

    // Adding again changes nothing, not even the modification time.
    c.at(120);
    let (status, _) = c
        .call(
            "PUT",
            ASSETS,
            Some(json!({"packageIDs": ["p1"], "assetIDs": ["a3", "a1"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(c.get("p1").await, p1);

    // New assets go to the end.
    let (status, _) = c
        .call(
            "PUT",
            ASSETS,
            Some(json!({"packageIDs": ["p1"], "assetIDs": ["a0"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        strings(&c.get("p1").await["assetIDs"]),
        ["a1", "a2", "a3", "a0"]
    );

    // Removal, of present and absent assets alike.
    c.at(180);
    let (status, answer) = c
        .call(
            "DELETE",
            ASSETS,
            Some(json!({"packageIDs": ["p1", "p2", "p3"], "assetIDs": ["a1", "zz", "a0"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(strings(&answer["packageIDs"]), ["p1", "p2", "p3"]);
    let p1 = c.get("p1").await;
    assert_eq!(strings(&p1["assetIDs"]), ["a2", "a3"]);
    assert_eq!(p1["modifiedTimestamp"], at(180));
    assert_eq!(strings(&c.get("p2").await["assetIDs"]), ["a2", "a3"]);
    let p3 = c.get("p3").await;
    assert_eq!(strings(&p3["assetIDs"]), ["a9"]);
    assert_eq!(p3["modifiedTimestamp"], at(0));
    let (status, _) = c
        .call(
            "DELETE",
            ASSETS,
            Some(json!({"packageIDs": ["p1"], "assetIDs": ["a2"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(strings(&c.get("p1").await["assetIDs"]), ["a3"]);
}

#[tokio::test]
async fn an_asset_change_naming_an_unknown_package_changes_nothing() {
    let c = ctx().await;
    c.add(paid("p1", &["a1"], &["b"])).await;
    c.add(paid("p2", &["a2"], &["b"])).await;
    let before = (c.get("p1").await, c.get("p2").await);
    c.at(60);
    for (method, assets) in [("PUT", ["a3", "a2"]), ("DELETE", ["a1", "a2"])] {
        let (status, answer) = c
            .call(
                method,
                ASSETS,
                Some(json!({"packageIDs": ["p1", "ghost1", "p2", "ghost2"], "assetIDs": assets})),
            )
            .await;
        assert_error(status, &answer, 404, 1040);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("ghost1") && message.contains("ghost2") && !message.contains("p1"),
            "{message}"
        );
        assert_eq!((c.get("p1").await, c.get("p2").await), before, "{method}");
    }
}

#[tokio::test]
async fn asset_change_bodies_are_checked() {
    let c = ctx().await;
    c.add(paid("p", &["a"], &["b"])).await;
    for body in [
        json!({"packageIDs": [], "assetIDs": ["a"]}),
        json!({"packageIDs": ["p"], "assetIDs": []}),
        json!({"packageIDs": ["p"]}),
        json!({"assetIDs": ["a"]}),
        json!({"packageIDs": "p", "assetIDs": ["a"]}),
        json!({"packageIDs": ["p"], "assetIDs": [null]}),
        json!([]),
    ] {
        for method in ["PUT", "DELETE"] {
            let (status, answer) = c.call(method, ASSETS, Some(body.clone())).await;
            assert_error(status, &answer, 400, 1011);
        }
    }
    let (status, answer) = c.call("PATCH", ASSETS, Some(json!({}))).await;
    assert_error(status, &answer, 405, 1021);
}

#[tokio::test]
async fn readers_and_support_read_but_do_not_write() {
    let c = ctx().await;
    c.add(paid("p", &["a"], &["b"])).await;
    let writes = [
        (
            "POST",
            PACKAGES.to_owned(),
            Some(json!({"package": paid("q", &["a"], &["b"])})),
        ),
        // A bad body still gets 403: the role is checked first.
        ("POST", PACKAGES.to_owned(), Some(json!({"nonsense": true}))),
        (
            "PUT",
            format!("{PACKAGES}/p"),
            Some(json!({"package": {"id": "p", "name": "x"}})),
        ),
        ("DELETE", format!("{PACKAGES}/p"), None),
        ("DELETE", format!("{PACKAGES}/nope"), None),
        (
            "PUT",
            ASSETS.to_owned(),
            Some(json!({"packageIDs": ["p"], "assetIDs": ["z"]})),
        ),
        (
            "DELETE",
            ASSETS.to_owned(),
            Some(json!({"packageIDs": ["p"], "assetIDs": ["a"]})),
        ),
    ];
    for token in [&c.reader, &c.support] {
        for (method, path, body) in &writes {
            let (status, answer) = c.call_as(token, method, path, body.clone()).await;
            assert_error(status, &answer, 403, 1004);
        }
        let (status, answer) = c
            .call_as(token, "GET", &format!("{PACKAGES}/p"), None)
            .await;
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = c.call_as(token, "GET", PACKAGES, None).await;
        assert_eq!(
            (status, answer["packages"].as_array().unwrap().len()),
            (200, 1)
        );
    }
    let package = c.get("p").await;
    assert_eq!(
        (package["name"].clone(), strings(&package["assetIDs"])),
        (json!("Package p"), vec!["a".to_owned()])
    );
    for (method, path, body) in writes {
        let (status, answer) = c.server.admin(method, &path, None, body).await;
        assert_error(status, &answer, 401, 1001);
    }
}

/// A DRM policy that sets every setting of every DRM.
fn full_policy() -> Value {
    json!({
        "widevine": {"securityLevel": 5, "hdcp": 2, "licenseDurationS": 3600},
        "playready": {
            "analogVideoOpl": 100, "compressedDigitalAudioOpl": 150,
            "compressedDigitalVideoOpl": 500, "uncompressedDigitalAudioOpl": 250,
            "uncompressedDigitalVideoOpl": 300, "rights": "Rental", "rentalPeriodS": 86400,
            "rentalPlayDurationS": 7200, "persistent": true, "unknownOutput": "SDOnly"
        },
        "fairplay": {"rentalDurationS": 0}
    })
}

#[tokio::test]
async fn a_drm_policy_is_stored_shown_and_replaced() {
    let c = ctx().await;
    let added = c
        .add(with(
            paid("strict", &["a1"], &["gold"]),
            "drmPolicy",
            full_policy(),
        ))
        .await;
    assert_eq!(added["drmPolicy"], full_policy());
    assert_eq!(c.get("strict").await, added);
    let (status, listed) = c.call("GET", PACKAGES, None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["packages"][0]["drmPolicy"], full_policy());
    let (status, v2) = c.call("GET", "/oem/v2/packages/strict", None).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["package"]["drmPolicy"], full_policy());

    // Given, it replaces the whole policy (the PlayReady and FairPlay parts go).
    c.at(60);
    let widevine = json!({"widevine": {"securityLevel": 3}});
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PACKAGES}/strict"),
            Some(json!({"package": {"id": "strict", "drmPolicy": widevine}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["package"]["drmPolicy"], widevine);
    assert_eq!(answer["package"]["modifiedTimestamp"], at(60));
    assert_eq!(c.get("strict").await["drmPolicy"], widevine);

    // Left out or null, it stays.
    for body in [
        json!({"package": {"id": "strict", "name": "Renamed"}}),
        json!({"package": {"id": "strict", "drmPolicy": null}}),
    ] {
        let (status, answer) = c
            .call("PUT", &format!("{PACKAGES}/strict"), Some(body))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["package"]["drmPolicy"], widevine);
    }

    // `{}` removes it: the package answers as one that never had a policy.
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PACKAGES}/strict"),
            Some(json!({"package": {"id": "strict", "drmPolicy": {}}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["package"].get("drmPolicy").is_none(), "{answer}");
    assert!(c.get("strict").await.get("drmPolicy").is_none());
    assert_eq!(
        c.count(
            "SELECT COUNT(*) FROM packages WHERE id = $1 AND drm_policy IS NULL",
            "strict"
        )
        .await,
        1
    );

    // A package created without one (or with `{}`) has none, and shows no `drmPolicy`.
    for (id, package) in [
        ("plain", paid("plain", &["a1"], &["gold"])),
        (
            "empty",
            with(paid("empty", &["a1"], &["gold"]), "drmPolicy", json!({})),
        ),
        (
            "null",
            with(paid("null", &["a1"], &["gold"]), "drmPolicy", Value::Null),
        ),
    ] {
        let added = c.add(package).await;
        assert!(added.get("drmPolicy").is_none(), "{added}");
        assert!(c.get(id).await.get("drmPolicy").is_none());
    }
}

#[tokio::test]
async fn impossible_drm_policies_are_refused_and_nothing_is_stored() {
    let c = ctx().await;
    let kept = json!({"widevine": {"securityLevel": 2}});
    let before = c
        .add(with(paid("p", &["a"], &["b"]), "drmPolicy", kept.clone()))
        .await;
    c.at(60);
    for (policy, code, named) in [
        (
            json!({"widevine": {"securityLevel": 6}}),
            1011,
            "package.drmPolicy.widevine.securityLevel",
        ),
        (
            json!({"widevine": {"hdcp": 3}}),
            1011,
            "package.drmPolicy.widevine.hdcp",
        ),
        (
            json!({"widevine": {"licenseDurationS": 0}}),
            1011,
            "package.drmPolicy.widevine.licenseDurationS",
        ),
        (
            json!({"playready": {"analogVideoOpl": 1000}}),
            1011,
            "package.drmPolicy.playready.analogVideoOpl",
        ),
        (
            json!({"playready": {"rights": "Rental"}}),
            1011,
            "rentalPeriodS",
        ),
        (
            json!({"playready": {"rights": "Rental", "rentalPeriodS": 60, "persistent": false}}),
            1011,
            "persistent=false",
        ),
        (
            json!({"playready": {"rentalPeriodS": 60}}),
            1011,
            "need rights = Rental",
        ),
        (
            json!({"widevine": {"level": 1}}),
            1012,
            "package.drmPolicy.widevine.level",
        ),
        (
            json!({"widevine": {"securityLevel": 5}, "clearkey": {}}),
            1012,
            "package.drmPolicy.clearkey",
        ),
        (
            json!({"widevine": {"securityLevel": "5"}}),
            1011,
            "package.drmPolicy.widevine.securityLevel",
        ),
        (
            json!({"widevine": {"securityLevel": 256}}),
            1011,
            "package.drmPolicy.widevine.securityLevel",
        ),
        (
            json!({"playready": {"unknownOutput": "Maybe"}}),
            1011,
            "package.drmPolicy.playready.unknownOutput",
        ),
        (
            json!({"fairplay": 7200}),
            1011,
            "package.drmPolicy.fairplay",
        ),
        (json!(["widevine"]), 1011, "package.drmPolicy"),
    ] {
        let body = json!({"package": with(paid("q", &["a"], &["b"]), "drmPolicy", policy.clone())});
        let (status, answer) = c.call("POST", PACKAGES, Some(body)).await;
        assert_error(status, &answer, 400, code);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{policy}: {message}");
        let (status, answer) = c.call("GET", &format!("{PACKAGES}/q"), None).await;
        assert_error(status, &answer, 404, 1040);

        let body = json!({"package": {"id": "p", "name": "Changed", "drmPolicy": policy}});
        let (status, answer) = c.call("PUT", &format!("{PACKAGES}/p"), Some(body)).await;
        assert_error(status, &answer, 400, code);
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(named),
            "{answer}"
        );
        assert_eq!(c.get("p").await, before, "nothing changed");
    }
    assert_eq!(
        c.count("SELECT COUNT(*) FROM packages WHERE id <> $1", "p")
            .await,
        0
    );

    // Every problem of a policy is named in the one answer.
    let body = json!({"package": with(paid("q", &["a"], &["b"]), "drmPolicy",
        json!({"widevine": {"securityLevel": 6, "hdcp": 3}, "playready": {"analogVideoOpl": 1000}}))});
    let (status, answer) = c.call("POST", PACKAGES, Some(body)).await;
    assert_error(status, &answer, 400, 1011);
    let message = answer["error"]["message"].as_str().unwrap();
    for named in ["securityLevel", "hdcp", "analogVideoOpl"] {
        assert!(message.contains(named), "{message}");
    }
}

// ---------------------------------------------------------------------------------------------------
// The catalogue functions on every backend
// ---------------------------------------------------------------------------------------------------

fn pid(raw: &str) -> PackageId {
    PackageId::parse(raw).unwrap()
}

fn aid(raw: &str) -> AssetId {
    AssetId::parse(raw).unwrap()
}

fn plan(raw: &str) -> BillingPlanId {
    BillingPlanId::parse(raw).unwrap()
}

fn package(id: &str, name: &str, assets: &[&str], plans: &[&str], minute: i64) -> Package {
    let when = t0() + Duration::minutes(minute);
    Package {
        id: pid(id),
        name: name.to_owned(),
        description: format!("about {id}"),
        bypass: false,
        asset_ids: assets.iter().map(|a| aid(a)).collect(),
        billing_plan_ids: plans.iter().map(|p| plan(p)).collect(),
        region_ids: Vec::new(),
        custom_data: BTreeMap::new(),
        drm_policy: Default::default(),
        created_at: when,
        modified_at: when,
    }
}

fn ids(packages: &[Package]) -> Vec<&str> {
    packages.iter().map(|p| p.id.as_str()).collect()
}

#[tokio::test]
async fn catalog_package_functions_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<Store> = harness::backend_stores(dir.path())
        .await
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    for store in stores {
        let backend = store.backend();
        let catalog = Catalog::new(store.clone(), 8);

        let mut full = package("p1", "b-name", &["a1", "a2", "a1"], &["gold"], 0);
        full.region_ids = vec![RegionId::parse("AR").unwrap()];
        full.custom_data = BTreeMap::from([("Sport".to_owned(), "Basketball".to_owned())]);
        full.created_at += Duration::microseconds(1_500); // cut to milliseconds when stored
        let stored = catalog.create_package(&full).await.unwrap();
        assert_eq!(stored.asset_ids, [aid("a1"), aid("a2")], "{backend:?}");
        assert_eq!(stored.created_at, t0() + Duration::milliseconds(1));
        assert_eq!(
            catalog.package(&pid("p1")).await.unwrap(),
            stored,
            "{backend:?}"
        );
        assert!(matches!(
            catalog.create_package(&full).await,
            Err(CatalogError::DuplicatePackage(id)) if id == pid("p1")
        ));

        let mut free = package("p2", "B-name", &["a2"], &["gold"], 1);
        free.bypass = true;
        catalog.create_package(&free).await.unwrap();
        catalog
            .create_package(&package("p3", "a-name", &["a3"], &["silver"], 2))
            .await
            .unwrap();
        catalog
            .create_package(&package("p4", "c-name", &[], &[], 3))
            .await
            .unwrap();

        // Lookups keep the caller's order and skip unknown IDs.
        let found = catalog
            .packages_by_ids(&[pid("p3"), pid("zz"), pid("p1")])
            .await
            .unwrap();
        assert_eq!(ids(&found), ["p3", "p1"]);
        assert!(matches!(
            catalog.package(&pid("zz")).await,
            Err(CatalogError::PackageNotFound(_))
        ));
        assert_eq!(
            catalog
                .missing_packages(&[pid("zz"), pid("p1"), pid("yy"), pid("zz")])
                .await
                .unwrap(),
            [pid("zz"), pid("yy")]
        );
        assert_eq!(
            catalog
                .packages_containing(&[aid("a2"), aid("none"), aid("a1")])
                .await
                .unwrap(),
            [
                (aid("a2"), vec![pid("p1"), pid("p2")]),
                (aid("none"), vec![]),
                (aid("a1"), vec![pid("p1")]),
            ]
        );

        // Listing: filters, byte-order sorting on every backend, paging and the total.
        let list = |query, count, skip| {
            let catalog = catalog.clone();
            async move {
                let (page, total) = catalog.list_packages(&query, count, skip).await.unwrap();
                (
                    ids(&page)
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                    total,
                )
            }
        };
        assert_eq!(
            list(Package::query(), 20, 0).await,
            (vec!["p1".into(), "p2".into(), "p3".into(), "p4".into()], 4)
        );
        assert_eq!(
            list(Package::query().subscriptions_only(), 20, 0).await.0,
            ["p1", "p3"]
        );
        assert_eq!(
            list(
                Package::query().with_any_billing_plan([plan("gold")]),
                20,
                0
            )
            .await
            .0,
            ["p1", "p2"]
        );
        assert_eq!(
            list(
                Package::query().with_custom_data("Sport", "Basketball"),
                20,
                0
            )
            .await
            .0,
            ["p1"]
        );
        assert_eq!(
            list(Package::query().order_by_name(), 20, 0).await.0,
            ["p2", "p3", "p1", "p4"],
            "{backend:?}"
        );
        assert_eq!(
            list(Package::query().order_by_created().descending(true), 2, 1).await,
            (vec!["p3".into(), "p2".into()], 4)
        );
        assert_eq!(list(Package::query(), 20, 9).await, (vec![], 4));

        // Update: the closure's changes, a new modification time, ID and creation time kept.
        let later = t0() + Duration::hours(1);
        let updated = catalog
            .update_package(&pid("p1"), later, |p| {
                p.name = "renamed".into();
                p.asset_ids = vec![aid("a3"), aid("a3"), aid("a1")];
                p.custom_data.clear();
                p.id = pid("hijack");
                p.created_at = later;
            })
            .await
            .unwrap();
        assert_eq!(updated.id, pid("p1"));
        assert_eq!(updated.asset_ids, [aid("a3"), aid("a1")]);
        assert_eq!(
            (updated.created_at, updated.modified_at),
            (stored.created_at, later)
        );
        assert_eq!(catalog.package(&pid("p1")).await.unwrap(), updated);
        assert!(matches!(
            catalog.update_package(&pid("zz"), later, |_| {}).await,
            Err(CatalogError::PackageNotFound(_))
        ));

        // Assets in many packages: all or nothing.
        assert!(matches!(
            catalog.add_assets(&[pid("p4"), pid("zz")], &[aid("n1")], later).await,
            Err(CatalogError::PackageNotFound(id)) if id == pid("zz")
        ));
        assert!(catalog
            .package(&pid("p4"))
            .await
            .unwrap()
            .asset_ids
            .is_empty());
        let changed = catalog
            .add_assets(&[pid("p4"), pid("p3")], &[aid("n1"), aid("a3")], later)
            .await
            .unwrap();
        assert_eq!(changed, [pid("p4"), pid("p3")]);
        assert_eq!(
            catalog.package(&pid("p3")).await.unwrap().asset_ids,
            [aid("a3"), aid("n1")]
        );
        assert_eq!(
            catalog.package(&pid("p4")).await.unwrap().asset_ids,
            [aid("n1"), aid("a3")]
        );
        let changed = catalog
            .remove_assets(&[pid("p2"), pid("p3")], &[aid("n1")], later)
            .await
            .unwrap();
        assert_eq!(changed, [pid("p3")]);
        assert_eq!(
            catalog.package(&pid("p3")).await.unwrap().asset_ids,
            [aid("a3")]
        );

        // Delete cascades to the graph and the entitlements.
        sqlx::query(
            "INSERT INTO package_edges (parent_id, child_id, created_at) VALUES ($1, $2, 0)",
        )
        .bind("p2")
        .bind("p1")
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO entitlements (uid, package_id, start_at, end_at, created_at, modified_at) \
             VALUES ('u', $1, 0, NULL, 0, 0)",
        )
        .bind("p1")
        .execute(store.pool())
        .await
        .unwrap();
        catalog.delete_package(&pid("p1")).await.unwrap();
        assert!(matches!(
            catalog.delete_package(&pid("p1")).await,
            Err(CatalogError::PackageNotFound(_))
        ));
        for sql in [
            "SELECT COUNT(*) FROM package_edges",
            "SELECT COUNT(*) FROM entitlements",
            "SELECT COUNT(*) FROM package_custom_data",
            "SELECT COUNT(*) FROM package_regions",
        ] {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(store.pool()).await.unwrap();
            assert_eq!(n, 0, "{backend:?}: {sql}");
        }
        assert_eq!(list(Package::query(), 20, 0).await.1, 3);
        store.close().await;
    }
}

/// The HTTP tests' server may run on PostgreSQL (`SEES_TEST_STORE=postgres`); this one checks that
/// a package answered by the API is the package the catalogue reads back.
#[tokio::test]
async fn the_api_and_the_catalogue_agree() {
    let server = spawn_with(|_| {}).await;
    let token = server.admin_token(Role::Admin).await;
    let (status, answer) = server
        .admin(
            "POST",
            PACKAGES,
            Some(&token),
            Some(json!({"package": paid("agree", &["a1"], &["gold"])})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let store = Store::connect(&server.settings.store.url, 1).await.unwrap();
    let catalog = Catalog::new(store.clone(), 8);
    let package = catalog.package(&pid("agree")).await.unwrap();
    assert_eq!(
        sees::admin::packages::package_json(
            &package,
            sees::admin::packages::PackageView {
                exclude_assets: false,
                product_ids: true,
                products: &[],
            }
        ),
        answer["package"]
    );
    store.close().await;
}

/// A package's DRM policy written through the API is the policy the catalogue reads back (and the
/// decision's package rules carry), on the server's store.
#[tokio::test]
async fn the_api_and_the_catalogue_agree_on_drm_policies() {
    let server = spawn_with(|_| {}).await;
    let token = server.admin_token(Role::Admin).await;
    let (status, answer) = server
        .admin(
            "POST",
            PACKAGES,
            Some(&token),
            Some(json!({"package": with(paid("agree", &["a1"], &["gold"]), "drmPolicy", full_policy())})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let store = Store::connect(&server.settings.store.url, 1).await.unwrap();
    let catalog = Catalog::new(store.clone(), 8);
    let expected: sees::drm::DrmPolicy = serde_json::from_value(full_policy()).unwrap();
    assert_eq!(
        catalog.package(&pid("agree")).await.unwrap().drm_policy,
        expected
    );
    let rules = catalog.package_rules(&[pid("agree")]).await.unwrap();
    assert_eq!(rules[0].drm_policy, expected);
    store.close().await;
}
