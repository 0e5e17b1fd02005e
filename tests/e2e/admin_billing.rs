//! The billing plan and product routes of the admin API (sees extensions) over the real HTTP
//! listener, and the `Billing` store's reads directly on every backend (SQLite, and PostgreSQL when
//! `SEES_TEST_DATABASE_URL` names a server).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sees::catalog::{Billing, BillingPlan, Catalog, CatalogError, Package, Period, Product};
use sees::ids::{BillingPlanId, PackageId, ProductId};
use sees::store::Store;
use serde_json::{json, Value};

use crate::harness::{self, assert_error, AdminWorld};

const PLANS: &str = "/oem/v1/billingplans";
const PRODUCTS: &str = "/oem/v1/products";
const PACKAGES: &str = "/oem/v1/user/packages";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2019, 10, 6, 11, 35, 54).unwrap()
}

harness::admin_area!(
    /// The admin world on this area's clock.
    Ctx
);

async fn ctx() -> Ctx {
    Ctx(AdminWorld::start(t0()).await)
}

impl Ctx {
    /// Plan `gold`, package `pkg` sold on it and their product `pkg_gold`.
    async fn add_pkg_gold(&self) {
        self.add_plan(plan("gold")).await;
        self.add_package("pkg", &["gold"]).await;
        self.add_product(product("pkg", "gold")).await;
    }

    /// `DELETE path` answers 200 with `message`; after it, `GET` and `DELETE` of `path` answer 404
    /// with error `code`.
    async fn assert_deleted_then_gone(&self, path: &str, message: &str, code: u64) {
        let (status, answer) = self.call("DELETE", path, None).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["message"], message);
        for method in ["GET", "DELETE"] {
            let (status, answer) = self.call(method, path, None).await;
            assert_error(status, &answer, 404, code);
        }
    }

    /// `POST` of a billing plan (the inner object): the status and the answer.
    async fn post_plan(&self, plan: Value) -> (u16, Value) {
        self.call("POST", PLANS, Some(json!({ "billingPlan": plan })))
            .await
    }

    /// `POST` of a product (the inner object): the status and the answer.
    async fn post_product(&self, product: Value) -> (u16, Value) {
        self.call("POST", PRODUCTS, Some(json!({ "product": product })))
            .await
    }

    /// Adds a billing plan (the inner object); asserts 200 and returns the answer's plan.
    async fn add_plan(&self, plan: Value) -> Value {
        let (status, answer) = self.post_plan(plan).await;
        assert_eq!(status, 200, "{answer}");
        answer["billingPlan"].clone()
    }

    /// Adds a product (the inner object); asserts 200 and returns the answer's product.
    async fn add_product(&self, product: Value) -> Value {
        let (status, answer) = self.post_product(product).await;
        assert_eq!(status, 200, "{answer}");
        answer["product"].clone()
    }

    /// Adds a paid package sold through `plans`.
    async fn add_package(&self, id: &str, plans: &[&str]) {
        let body = json!({"package": {
            "id": id, "name": format!("Package {id}"), "description": "",
            "assetIDs": ["a1"], "billingPlanIDs": plans,
        }});
        let (status, answer) = self.call("POST", PACKAGES, Some(body)).await;
        assert_eq!(status, 200, "{answer}");
    }

    async fn put_product(&self, id: &str, product: Value) -> (u16, Value) {
        self.call(
            "PUT",
            &format!("{PRODUCTS}/{id}"),
            Some(json!({ "product": product })),
        )
        .await
    }

    async fn get_product(&self, id: &str) -> Value {
        let (status, answer) = self.call("GET", &format!("{PRODUCTS}/{id}"), None).await;
        assert_eq!(status, 200, "{answer}");
        answer["product"].clone()
    }

    /// The listing at `path`: the IDs under `key` and the metadata.
    async fn list(&self, path: &str, key: &str) -> (Vec<String>, Value) {
        let (status, answer) = self.call("GET", path, None).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let ids = answer[key]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, answer["metadata"].clone())
    }

    /// How many products the server's store holds for `package`.
    async fn products_in_store(&self, package: &str) -> i64 {
        let store = Store::connect(&self.server.settings.store.url, 1)
            .await
            .unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM products WHERE package_id = $1")
            .bind(package)
            .fetch_one(store.pool())
            .await
            .unwrap();
        store.close().await;
        n
    }
}

/// The spec's `TESTBP_2776` billing plan.
fn spec_plan() -> Value {
    json!({
        "id": "TESTBP_2776",
        "description": "s111111111111111",
        "recurrence": "1y",
        "prices": {"Amazon": {"CAD": 0.02}, "Apple": {"CAD": 1.49, "USD": 3.99}},
        "trialperiod": {"cycleLength": "3d", "cycles": 1},
        "customData": {},
    })
}

fn plan(id: &str) -> Value {
    json!({"id": id, "recurrence": "1M", "prices": {"Vindicia": {"USD": 1.11}}})
}

fn product(package: &str, plan: &str) -> Value {
    json!({
        "packageID": package,
        "billingPlanID": plan,
        "name": {"en": format!("{package} via {plan}")},
    })
}

fn message(answer: &Value) -> String {
    answer["error"]["message"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_billing_plan_is_added_retrieved_updated_and_deleted() {
    let c = ctx().await;
    let added = c.add_plan(spec_plan()).await;
    assert_eq!(added, spec_plan());
    let (status, answer) = c.call("GET", &format!("{PLANS}/TESTBP_2776"), None).await;
    assert_eq!((status, answer["billingPlan"].clone()), (200, spec_plan()));

    // Only what is required: the rest is empty, as the spec's plans show it.
    let minimal = c
        .add_plan(json!({"id": "billing_all_access", "recurrence": "1M"}))
        .await;
    assert_eq!(
        minimal,
        json!({
            "id": "billing_all_access", "description": "", "recurrence": "1M",
            "prices": {}, "trialperiod": null, "customData": {},
        })
    );
    // Integers stay integers, as written.
    let prices = json!({"Amazon": {"BRL": 1, "CAD": 0, "USD": 0}, "Roku": {"USD": 12.5}});
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PLANS}/billing_all_access"),
            Some(json!({"billingPlan": {"prices": prices, "description": "Monthly All Access"}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["billingPlan"]["prices"], prices);
    assert_eq!(answer["billingPlan"]["description"], "Monthly All Access");
    assert_eq!(answer["billingPlan"]["recurrence"], "1M");

    // PUT replaces only what it names; `trialperiod: null` removes the trial.
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PLANS}/TESTBP_2776"),
            Some(json!({"billingPlan": {
                "id": "TESTBP_2776", "recurrence": "3M", "customData": {"tier": "gold"},
            }})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut expected = spec_plan();
    expected["recurrence"] = json!("3M");
    expected["customData"] = json!({"tier": "gold"});
    assert_eq!(answer["billingPlan"], expected);
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PLANS}/TESTBP_2776"),
            Some(json!({"billingPlan": {"trialperiod": null}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    expected["trialperiod"] = Value::Null;
    assert_eq!(answer["billingPlan"], expected);
    let (_, answer) = c.call("GET", &format!("{PLANS}/TESTBP_2776"), None).await;
    assert_eq!(answer["billingPlan"], expected);

    c.assert_deleted_then_gone(
        &format!("{PLANS}/TESTBP_2776"),
        "Billing plan TESTBP_2776 was successfully deleted.",
        1042,
    )
    .await;
    let (status, answer) = c
        .call(
            "PUT",
            &format!("{PLANS}/TESTBP_2776"),
            Some(json!({"billingPlan": {"description": "x"}})),
        )
        .await;
    assert_error(status, &answer, 404, 1042);
}

#[tokio::test]
async fn billing_plan_bodies_are_checked() {
    let c = ctx().await;
    c.add_plan(plan("p1")).await;
    let (status, answer) = c.post_plan(plan("p1")).await;
    assert_error(status, &answer, 409, 1052);

    let with = |key: &str, value: Value| {
        let mut body = plan("new");
        body[key] = value;
        json!({ "billingPlan": body })
    };
    let cases: Vec<(Value, u64, &str)> = vec![
        (with("recurrence", json!("1m")), 1011, "recurrence"),
        (with("recurrence", json!("0M")), 1011, "recurrence"),
        (with("recurrence", json!("1 month")), 1011, "recurrence"),
        (with("recurrence", json!(1)), 1011, ""),
        (with("prices", json!({"Apple": {"usd": 1}})), 1011, "usd"),
        (with("prices", json!({"Apple": {"US": 1}})), 1011, "US"),
        (
            with("prices", json!({"Apple": {"USD": -0.01}})),
            1011,
            "USD",
        ),
        (with("prices", json!({"Apple": {"USD": "1"}})), 1011, ""),
        (with("prices", json!({" ": {"USD": 1}})), 1011, "store"),
        (with("prices", json!({"Apple": 1})), 1011, ""),
        (
            with("trialperiod", json!({"cycleLength": "3x", "cycles": 1})),
            1011,
            "cycleLength",
        ),
        (
            with("trialperiod", json!({"cycleLength": "3d", "cycles": 0})),
            1011,
            "cycles",
        ),
        (
            with("trialperiod", json!({"cycleLength": "3d", "cycles": -1})),
            1011,
            "",
        ),
        (
            with(
                "trialperiod",
                json!({"cycleLength": "3d", "cycles": 1, "unit": "d"}),
            ),
            1012,
            "unit",
        ),
        (with("customData", json!({"": "v"})), 1011, "customData"),
        (with("customData", json!({"k": 1})), 1011, ""),
        (with("priceList", json!({})), 1012, "priceList"),
        (with("id", json!("a,b")), 1011, ""),
        (json!({"billingPlan": {"id": "x"}}), 1011, "recurrence"),
        (json!({"plan": plan("x")}), 1012, "plan"),
    ];
    for (body, code, needle) in cases {
        let (status, answer) = c.call("POST", PLANS, Some(body.clone())).await;
        assert_error(status, &answer, 400, code);
        assert!(message(&answer).contains(needle), "{body}: {answer}");
    }
    // A key given twice is refused, in prices as in customData.
    let (status, answer) = c
        .raw(
            "POST",
            PLANS,
            r#"{"billingPlan": {"id": "x", "recurrence": "1M", "prices": {"Apple": {"USD": 1, "USD": 2}}}}"#,
        )
        .await;
    assert_error(status, &answer, 400, 1011);
    assert!(message(&answer).contains("twice"), "{answer}");
    // Nothing of the refused bodies was stored.
    let (ids, _) = c.list(PLANS, "billingPlans").await;
    assert_eq!(ids, ["p1"]);

    // Updates check the same way, and the body's id must be the path's.
    for (patch, code) in [
        (json!({"recurrence": "12"}), 1011),
        (json!({"prices": {"Apple": {"EUR": -5}}}), 1011),
        (json!({"id": "other"}), 1011),
        (json!({"recurence": "1M"}), 1012),
    ] {
        let (status, answer) = c
            .call(
                "PUT",
                &format!("{PLANS}/p1"),
                Some(json!({ "billingPlan": patch })),
            )
            .await;
        assert_error(status, &answer, 400, code);
    }
    let (_, answer) = c.call("GET", &format!("{PLANS}/p1"), None).await;
    assert_eq!(
        answer["billingPlan"]["prices"],
        json!({"Vindicia": {"USD": 1.11}})
    );
    let (status, answer) = c.call("GET", &format!("{PLANS}/%20x"), None).await;
    assert_error(status, &answer, 400, 1011);
}

#[tokio::test]
async fn a_product_gets_the_default_id_and_counts_its_changes() {
    let c = ctx().await;
    c.add_plan(spec_plan()).await;
    c.add_package("00ae74f0", &["TESTBP_2776"]).await;
    let body = json!({
        "packageID": "00ae74f0",
        "billingPlanID": "TESTBP_2776",
        "name": {"en": "test empty"},
        "shortDesc": {"en": "test empty"},
        "longDesc": {"en": "test empty", "pt-BR": "teste\nvazio"},
        "storeData": {"Apple": {"storeProductID": "TEST_Trial_Delete_This"}},
    });
    let added = c.add_product(body).await;
    let expected = json!({
        "id": "00ae74f0_TESTBP_2776",
        "packageID": "00ae74f0",
        "billingPlanID": "TESTBP_2776",
        "name": {"en": "test empty"},
        "shortDesc": {"en": "test empty"},
        "longDesc": {"en": "test empty", "pt-BR": "teste\nvazio"},
        "storeData": {"Apple": {"storeProductID": "TEST_Trial_Delete_This", "customData": {}}},
        "version": 1,
        "created": "2019-10-06T11:35:54.000Z",
        "modified": "2019-10-06T11:35:54.000Z",
    });
    assert_eq!(added, expected);
    assert_eq!(c.get_product("00ae74f0_TESTBP_2776").await, expected);
    // The same ID the package routes show.
    let (_, answer) = c.call("GET", &format!("{PACKAGES}/00ae74f0"), None).await;
    assert_eq!(
        answer["package"]["productIDs"]["TESTBP_2776"],
        expected["id"]
    );

    // Each change raises the version by one and sets `modified`; fields not named stay.
    c.at_ms(1_038);
    let (status, answer) = c
        .put_product(
            "00ae74f0_TESTBP_2776",
            json!({"name": {"en": "asdfsdfsdf"}, "version": 1}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut v2 = expected.clone();
    v2["name"] = json!({"en": "asdfsdfsdf"});
    v2["version"] = json!(2);
    v2["modified"] = json!("2019-10-06T11:35:55.038Z");
    assert_eq!(answer["product"], v2);
    c.at_ms(2_000);
    let (status, answer) = c
        .put_product(
            "00ae74f0_TESTBP_2776",
            json!({"storeData": {
                "Apple": {"storeProductID": "DTV_TEST", "customData": {"k": "v"}},
                "Roku": {"storeProductID": "5", "customData": {}},
            }}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["product"]["version"], 3);
    assert_eq!(answer["product"]["modified"], "2019-10-06T11:35:56.000Z");
    assert_eq!(
        answer["product"]["storeData"]["Apple"],
        json!({"storeProductID": "DTV_TEST", "customData": {"k": "v"}})
    );
    assert_eq!(answer["product"]["name"], v2["name"]);
    let v3 = answer["product"].clone();

    // A PUT that changes nothing leaves the version and `modified` alone; so does repeating the
    // product's own package and plan.
    c.at_ms(3_000);
    let (status, answer) = c
        .put_product(
            "00ae74f0_TESTBP_2776",
            json!({
                "id": "00ae74f0_TESTBP_2776", "packageID": "00ae74f0",
                "billingPlanID": "TESTBP_2776", "name": {"en": "asdfsdfsdf"},
            }),
        )
        .await;
    assert_eq!((status, answer["product"].clone()), (200, v3.clone()));
    assert_eq!(c.get_product("00ae74f0_TESTBP_2776").await, v3);

    // An explicit ID is kept.
    c.add_plan(plan("latestandgreatstbilling")).await;
    let mut explicit = product("00ae74f0", "latestandgreatstbilling");
    explicit["id"] = json!("82710733-f741-453b-986f-37e30b7fd020");
    let added = c.add_product(explicit).await;
    assert_eq!(added["id"], "82710733-f741-453b-986f-37e30b7fd020");
    assert_eq!(added["version"], 1);

    c.assert_deleted_then_gone(
        &format!("{PRODUCTS}/{}", added["id"].as_str().unwrap()),
        "Product 82710733-f741-453b-986f-37e30b7fd020 was successfully deleted.",
        1043,
    )
    .await;
    let (status, answer) = c.put_product("nope", json!({"name": {"en": "x"}})).await;
    assert_error(status, &answer, 404, 1043);
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_and_changes_nothing() {
    let c = ctx().await;
    c.add_pkg_gold().await;
    // Two editors read version 1; the first one wins.
    let (status, answer) = c
        .put_product("pkg_gold", json!({"name": {"en": "First"}, "version": 1}))
        .await;
    assert_eq!(
        (status, answer["product"]["version"].clone()),
        (200, json!(2))
    );
    for stale in [1, 3, 0] {
        let (status, answer) = c
            .put_product(
                "pkg_gold",
                json!({"name": {"en": "Second"}, "version": stale}),
            )
            .await;
        assert_error(status, &answer, 409, 1055);
        assert!(message(&answer).contains("version 2"), "{answer}");
    }
    let current = c.get_product("pkg_gold").await;
    assert_eq!(
        (current["name"].clone(), current["version"].clone()),
        (json!({"en": "First"}), json!(2))
    );
    // Without a version the last writer wins.
    let (status, answer) = c
        .put_product("pkg_gold", json!({"name": {"en": "Second"}}))
        .await;
    assert_eq!(
        (status, answer["product"]["version"].clone()),
        (200, json!(3))
    );
    let (status, answer) = c.put_product("pkg_gold", json!({"version": "3"})).await;
    assert_error(status, &answer, 400, 1011);
}

#[tokio::test]
async fn product_bodies_are_checked() {
    let c = ctx().await;
    c.add_plan(plan("gold")).await;
    c.add_plan(plan("silver")).await;
    c.add_package("pkg", &["gold", "silver"]).await;
    c.add_product(product("pkg", "gold")).await;

    // Unknown package, unknown plan.
    let (status, answer) = c.post_product(product("nope", "gold")).await;
    assert_error(status, &answer, 404, 1040);
    let (status, answer) = c.post_product(product("pkg", "bronze")).await;
    assert_error(status, &answer, 404, 1042);
    // The same ID twice; a second product for the same package and plan.
    let mut taken = product("pkg", "silver");
    taken["id"] = json!("pkg_gold");
    let (status, answer) = c.post_product(taken).await;
    assert_error(status, &answer, 409, 1053);
    let mut again = product("pkg", "gold");
    again["id"] = json!("another");
    let (status, answer) = c.post_product(again).await;
    assert_error(status, &answer, 409, 1054);
    assert!(message(&answer).contains("pkg_gold"), "{answer}");

    let with = |key: &str, value: Value| {
        let mut body = product("pkg", "silver");
        body[key] = value;
        json!({ "product": body })
    };
    let cases: Vec<(Value, u64, &str)> = vec![
        (with("name", json!({})), 1011, "name"),
        (with("name", json!({"en": "  "})), 1011, "name"),
        (with("name", json!({"en": "a\tb"})), 1011, "control"),
        (with("name", json!({"en_US": "x"})), 1011, "language"),
        (with("name", json!(["x"])), 1011, ""),
        (
            with("shortDesc", json!({"en": "x".repeat(4097)})),
            1011,
            "4097",
        ),
        (with("longDesc", json!({"e n": "x"})), 1011, "language"),
        (
            with("storeData", json!({"Apple": {"storeProductID": ""}})),
            1011,
            "storeProductID",
        ),
        (
            with("storeData", json!({"Apple": {"storeProductId": "x"}})),
            1012,
            "storeProductId",
        ),
        (
            with(
                "storeData",
                json!({"Apple": {"storeProductID": "x", "customData": {"k": 5}}}),
            ),
            1011,
            "",
        ),
        (with("version", json!(1)), 1012, "version"),
        (
            with("created", json!("2019-10-06T11:35:54.701Z")),
            1012,
            "created",
        ),
        (with("packageID", json!("")), 1011, ""),
        (
            json!({"product": {"packageID": "pkg", "billingPlanID": "silver"}}),
            1011,
            "name",
        ),
        (
            json!({"products": product("pkg", "silver")}),
            1012,
            "products",
        ),
    ];
    for (body, code, needle) in cases {
        let (status, answer) = c.call("POST", PRODUCTS, Some(body.clone())).await;
        assert_error(status, &answer, 400, code);
        assert!(message(&answer).contains(needle), "{body}: {answer}");
    }
    // A default ID longer than an identifier may be: the caller must give one.
    let long_package = "p".repeat(200);
    let long_plan = "b".repeat(200);
    c.add_plan(plan(&long_plan)).await;
    c.add_package(&long_package, &[&long_plan]).await;
    let (status, answer) = c.post_product(product(&long_package, &long_plan)).await;
    assert_error(status, &answer, 400, 1011);
    assert!(message(&answer).contains("give product.id"), "{answer}");

    // A product's package and plan cannot change.
    for patch in [
        json!({"packageID": "other"}),
        json!({"billingPlanID": "silver"}),
    ] {
        let (status, answer) = c.put_product("pkg_gold", patch).await;
        assert_error(status, &answer, 400, 1011);
        assert!(message(&answer).contains("cannot change"), "{answer}");
    }
    let (status, answer) = c.put_product("pkg_gold", json!({"id": "pkg_silver"})).await;
    assert_error(status, &answer, 400, 1011);
    let (status, answer) = c
        .put_product("pkg_gold", json!({"name": {"en": "x"}, "colour": "red"}))
        .await;
    assert_error(status, &answer, 400, 1012);
    let (status, answer) = c
        .raw(
            "PUT",
            &format!("{PRODUCTS}/pkg_gold"),
            r#"{"product": {"name": {"en": "a", "en": "b"}}}"#,
        )
        .await;
    assert_error(status, &answer, 400, 1011);
    // Nothing of the refused bodies was stored.
    assert_eq!(c.get_product("pkg_gold").await["version"], 1);
    let (ids, _) = c.list(PRODUCTS, "products").await;
    assert_eq!(ids, ["pkg_gold"]);
}

#[tokio::test]
async fn a_billing_plan_in_use_is_not_deleted() {
    let c = ctx().await;
    c.add_plan(plan("gold")).await;
    c.add_plan(plan("unused")).await;
    c.add_package("sold", &["gold"]).await;
    c.add_package("lists-only", &["gold"]).await;
    c.add_product(product("sold", "gold")).await;

    let (status, answer) = c.call("DELETE", &format!("{PLANS}/gold"), None).await;
    assert_error(status, &answer, 409, 1056);
    let text = message(&answer);
    assert!(
        text.contains("sold_gold") && text.contains("sold") && text.contains("lists-only"),
        "{answer}"
    );
    // Without the product, the packages' billingPlanIDs still hold it.
    let (status, _) = c
        .call("DELETE", &format!("{PRODUCTS}/sold_gold"), None)
        .await;
    assert_eq!(status, 200);
    let (status, answer) = c.call("DELETE", &format!("{PLANS}/gold"), None).await;
    assert_error(status, &answer, 409, 1056);
    assert!(!message(&answer).contains("sold_gold"), "{answer}");
    for package in ["sold", "lists-only"] {
        let (status, answer) = c
            .call(
                "PUT",
                &format!("{PACKAGES}/{package}"),
                Some(json!({"package": {"id": package, "billingPlanIDs": []}})),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = c.call("DELETE", &format!("{PLANS}/gold"), None).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = c.call("DELETE", &format!("{PLANS}/unused"), None).await;
    assert_eq!(status, 200);
    let (ids, _) = c.list(PLANS, "billingPlans").await;
    assert!(ids.is_empty(), "{ids:?}");
}

#[tokio::test]
async fn deleting_a_package_deletes_its_products() {
    let c = ctx().await;
    c.add_plan(plan("gold")).await;
    c.add_plan(plan("silver")).await;
    c.add_package("doomed", &["gold", "silver"]).await;
    c.add_package("kept", &["gold"]).await;
    c.add_product(product("doomed", "gold")).await;
    c.add_product(product("doomed", "silver")).await;
    c.add_product(product("kept", "gold")).await;
    assert_eq!(c.products_in_store("doomed").await, 2);

    let (status, answer) = c.call("DELETE", &format!("{PACKAGES}/doomed"), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(c.products_in_store("doomed").await, 0);
    let (status, answer) = c
        .call("GET", &format!("{PRODUCTS}/doomed_gold"), None)
        .await;
    assert_error(status, &answer, 404, 1043);
    let (ids, _) = c.list(PRODUCTS, "products").await;
    assert_eq!(ids, ["kept_gold"]);
    // A package of the same ID starts without products, and the plan "silver" is free to go.
    c.add_package("doomed", &[]).await;
    let (ids, _) = c
        .list(&format!("{PRODUCTS}?packageID=doomed"), "products")
        .await;
    assert!(ids.is_empty());
    let (status, _) = c.call("DELETE", &format!("{PLANS}/silver"), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn lists_page_and_filter() {
    let c = ctx().await;
    for id in ["p3", "p1", "p5", "p2", "p4"] {
        c.add_plan(plan(id)).await;
    }
    let (ids, meta) = c.list(PLANS, "billingPlans").await;
    assert_eq!(ids, ["p1", "p2", "p3", "p4", "p5"]);
    assert_eq!(meta, json!({"count": 5, "skip": 0, "totalCount": 5}));
    let (ids, meta) = c
        .list(&format!("{PLANS}?count=2&skip=1"), "billingPlans")
        .await;
    assert_eq!(ids, ["p2", "p3"]);
    assert_eq!(meta, json!({"count": 2, "skip": 1, "totalCount": 5}));
    let (ids, meta) = c.list(&format!("{PLANS}?skip=9"), "billingPlans").await;
    assert!(ids.is_empty());
    assert_eq!(meta["totalCount"], 5);
    let (ids, _) = c.list(&format!("{PLANS}?count=0"), "billingPlans").await;
    assert!(ids.is_empty());

    c.add_package("a", &["p1", "p2"]).await;
    c.add_package("b", &["p1"]).await;
    for (package, plan_id) in [("a", "p1"), ("a", "p2"), ("b", "p1")] {
        c.add_product(product(package, plan_id)).await;
    }
    let (ids, meta) = c.list(PRODUCTS, "products").await;
    assert_eq!(ids, ["a_p1", "a_p2", "b_p1"]);
    assert_eq!(meta["totalCount"], 3);
    let (ids, meta) = c.list(&format!("{PRODUCTS}?packageID=a"), "products").await;
    assert_eq!(
        (ids, meta["totalCount"].clone()),
        (vec!["a_p1".to_owned(), "a_p2".to_owned()], json!(2))
    );
    let (ids, _) = c
        .list(&format!("{PRODUCTS}?billingPlanID=p1"), "products")
        .await;
    assert_eq!(ids, ["a_p1", "b_p1"]);
    let (ids, _) = c
        .list(
            &format!("{PRODUCTS}?billingPlanID=p1&packageID=b&count=5"),
            "products",
        )
        .await;
    assert_eq!(ids, ["b_p1"]);
    let (ids, meta) = c
        .list(
            &format!("{PRODUCTS}?billingPlanID=p1&count=1&skip=1"),
            "products",
        )
        .await;
    assert_eq!(ids, ["b_p1"]);
    assert_eq!(meta, json!({"count": 1, "skip": 1, "totalCount": 2}));
    let (ids, _) = c
        .list(&format!("{PRODUCTS}?packageID=zzz"), "products")
        .await;
    assert!(ids.is_empty());

    for bad in [
        format!("{PLANS}?count=ten"),
        format!("{PLANS}?count=1&count=2"),
        format!("{PLANS}?sort=id"),
        format!("{PRODUCTS}?packageID=a&packageID=b"),
        format!("{PRODUCTS}?packageID=a,b"),
        format!("{PRODUCTS}?billingPlanID=%20"),
        format!("{PRODUCTS}?package=a"),
    ] {
        let (status, answer) = c.call("GET", &bad, None).await;
        assert_error(status, &answer, 400, 1017);
    }
}

#[tokio::test]
async fn readers_read_and_only_admins_write() {
    let c = ctx().await;
    c.add_pkg_gold().await;
    let writes: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            PLANS.to_owned(),
            Some(json!({"billingPlan": plan("x")})),
        ),
        (
            "PUT",
            format!("{PLANS}/gold"),
            Some(json!({"billingPlan": {"description": "x"}})),
        ),
        ("DELETE", format!("{PLANS}/gold"), None),
        (
            "POST",
            PRODUCTS.to_owned(),
            Some(json!({"product": product("pkg", "gold")})),
        ),
        (
            "PUT",
            format!("{PRODUCTS}/pkg_gold"),
            Some(json!({"product": {"name": {"en": "x"}}})),
        ),
        ("DELETE", format!("{PRODUCTS}/pkg_gold"), None),
        // The role is checked before the body is read.
        ("POST", PLANS.to_owned(), Some(json!({"junk": true}))),
    ];
    for token in [&c.reader, &c.support] {
        for (method, path, body) in &writes {
            let (status, answer) = c.call_as(token, method, path, body.clone()).await;
            assert_error(status, &answer, 403, 1004);
        }
        for path in [
            PLANS.to_owned(),
            format!("{PLANS}/gold"),
            PRODUCTS.to_owned(),
            format!("{PRODUCTS}/pkg_gold"),
        ] {
            let (status, answer) = c.call_as(token, "GET", &path, None).await;
            assert_eq!(status, 200, "{path}: {answer}");
        }
    }
    for (method, path, body) in &writes {
        let (status, answer) = c.server.admin(method, path, None, body.clone()).await;
        assert_error(status, &answer, 401, 1001);
    }
    let (status, answer) = c.server.admin("GET", PLANS, Some("sees_nope"), None).await;
    assert_error(status, &answer, 401, 1001);
    // Nothing changed.
    assert_eq!(c.get_product("pkg_gold").await["version"], 1);
    let (ids, _) = c.list(PLANS, "billingPlans").await;
    assert_eq!(ids, ["gold"]);
}

fn pid(id: &str) -> PackageId {
    PackageId::parse(id).unwrap()
}

fn bid(id: &str) -> BillingPlanId {
    BillingPlanId::parse(id).unwrap()
}

fn store_plan(id: &str) -> BillingPlan {
    BillingPlan {
        id: bid(id),
        description: format!("plan {id}"),
        recurrence: Period::parse("1M").unwrap(),
        prices: serde_json::from_value(json!({"Apple": {"USD": 1.5}})).unwrap(),
        trial_period: None,
        custom_data: BTreeMap::new(),
    }
}

/// A bare package named after its id, for the store-level tests.
fn store_package(id: &str) -> Package {
    Package {
        id: pid(id),
        name: id.into(),
        description: String::new(),
        bypass: false,
        asset_ids: vec![],
        billing_plan_ids: vec![],
        region_ids: vec![],
        custom_data: BTreeMap::new(),
        drm_policy: Default::default(),
        created_at: t0(),
        modified_at: t0(),
    }
}

fn store_product(package: &str, plan: &str) -> Product {
    Product {
        id: Product::default_id(&pid(package), &bid(plan)).unwrap(),
        package_id: pid(package),
        billing_plan_id: bid(plan),
        name: BTreeMap::from([("en".to_owned(), format!("{package} {plan}"))]),
        short_desc: BTreeMap::new(),
        long_desc: BTreeMap::new(),
        store_data: BTreeMap::new(),
        version: 7,
        created: t0() + Duration::microseconds(1_500),
        modified: t0(),
    }
}

#[tokio::test]
async fn billing_store_reads_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in harness::backend_stores(dir.path()).await {
        let catalog = Catalog::new(store.clone(), 8);
        let billing = Billing::new(store.clone());
        for id in ["b", "a", "c"] {
            billing.create_plan(&store_plan(id)).await.unwrap();
        }
        assert!(matches!(
            billing.create_plan(&store_plan("a")).await,
            Err(CatalogError::DuplicateBillingPlan(id)) if id == bid("a")
        ));
        // `plans`: those that exist, in the order given, each once.
        let got: Vec<String> = billing
            .plans(&[bid("c"), bid("zz"), bid("a"), bid("c")])
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id.to_string())
            .collect();
        assert_eq!(got, ["c", "a"], "{backend}");
        assert_eq!(billing.plan(&bid("b")).await.unwrap(), store_plan("b"));

        for id in ["p2", "p1", "p3"] {
            catalog.create_package(&store_package(id)).await.unwrap();
        }
        for (package, plan) in [
            ("p2", "b"),
            ("p1", "c"),
            ("p2", "a"),
            ("p1", "a"),
            ("p3", "b"),
        ] {
            let stored = billing
                .create_product(&store_product(package, plan))
                .await
                .unwrap();
            // Version 1 and times to the millisecond, whatever the caller sent.
            assert_eq!(stored.version, 1, "{backend}");
            assert_eq!(stored.created, t0() + Duration::milliseconds(1));
            assert_eq!(stored.modified, stored.created);
            assert_eq!(billing.product(&stored.id).await.unwrap(), stored);
        }
        assert!(matches!(
            billing.create_product(&store_product("p9", "a")).await,
            Err(CatalogError::PackageNotFound(_))
        ));
        assert!(matches!(
            billing.create_product(&store_product("p1", "zz")).await,
            Err(CatalogError::BillingPlanNotFound(_))
        ));
        // `products_for_packages`: by package, then billing plan.
        let got: Vec<String> = billing
            .products_for_packages(&[pid("p2"), pid("nope"), pid("p1")])
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id.to_string())
            .collect();
        assert_eq!(got, ["p1_a", "p1_c", "p2_a", "p2_b"], "{backend}");

        // Version checks and the no-op update.
        let id = ProductId::parse("p1_a").unwrap();
        let later = t0() + Duration::seconds(5);
        let same = billing
            .update_product(&id, Some(1), later, |_| {})
            .await
            .unwrap();
        assert_eq!(
            (same.version, same.modified),
            (1, t0() + Duration::milliseconds(1))
        );
        let changed = billing
            .update_product(&id, None, later, |p| {
                p.short_desc.insert("en".into(), "short".into());
                p.version = 99; // ignored
            })
            .await
            .unwrap();
        assert_eq!((changed.version, changed.modified), (2, later), "{backend}");
        assert!(matches!(
            billing.update_product(&id, Some(1), later, |_| {}).await,
            Err(CatalogError::VersionConflict {
                expected: 1,
                current: 2,
                ..
            })
        ));

        // A plan in use names its users; a package's deletion takes its products.
        match billing.delete_plan(&bid("a")).await {
            Err(CatalogError::BillingPlanInUse { users, .. }) => {
                assert_eq!(users.product_count, 2, "{backend}");
                assert_eq!(users.package_count, 0);
            }
            other => panic!("{backend}: {other:?}"),
        }
        catalog.delete_package(&pid("p1")).await.unwrap();
        let (page, total) = billing
            .list_products(&Default::default(), 10, 0)
            .await
            .unwrap();
        assert_eq!(total, 3, "{backend}");
        assert_eq!(
            page.iter().map(|p| p.id.to_string()).collect::<Vec<_>>(),
            ["p2_a", "p2_b", "p3_b"]
        );
        billing
            .delete_product(&ProductId::parse("p2_a").unwrap())
            .await
            .unwrap();
        billing.delete_plan(&bid("a")).await.unwrap();
        assert!(matches!(
            billing.plan(&bid("a")).await,
            Err(CatalogError::BillingPlanNotFound(_))
        ));
        store.close().await;
    }
}

#[tokio::test]
async fn a_plan_deleted_while_a_product_is_added_never_leaves_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in harness::backend_stores(dir.path()).await {
        let catalog = Catalog::new(store.clone(), 8);
        let billing = Billing::new(store.clone());
        catalog.create_package(&store_package("pkg")).await.unwrap();
        for round in 0..10 {
            let plan_id = format!("race{round}");
            billing.create_plan(&store_plan(&plan_id)).await.unwrap();
            let product = store_product("pkg", &plan_id);
            let plan = bid(&plan_id);
            let (added, deleted) =
                tokio::join!(billing.create_product(&product), billing.delete_plan(&plan));
            // Exactly one wins, and the loser gets its own domain error (never a store failure).
            match (added, deleted) {
                (Ok(_), Err(CatalogError::BillingPlanInUse { .. })) => {
                    assert!(billing.plan(&bid(&plan_id)).await.is_ok(), "{backend}");
                }
                (Err(CatalogError::BillingPlanNotFound(_)), Ok(())) => {
                    assert!(matches!(
                        billing.product(&product.id).await,
                        Err(CatalogError::ProductNotFound(_))
                    ));
                }
                other => panic!("{backend} round {round}: {other:?}"),
            }
        }
        store.close().await;
    }
}
