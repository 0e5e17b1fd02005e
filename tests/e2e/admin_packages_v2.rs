//! OEM v2 packages over real HTTP: list and retrieve with `include=products,billingplans,entitlements`,
//! the v1 filters (`billingPlanIDs`, `subscriptions`, `customData.<key>`), `sort`, `excludeFields` and
//! paging, the calling user's `entitled` list (direct, through the package graph, free packages) with
//! `metadata.entitlementsAvailable`, and bad queries.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::harness::{self, assert_envelope, assert_error, AdminWorld};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn jwt(sub: &str) -> String {
    harness::end_user_jwt(sub, t0().timestamp(), 3_600)
}

harness::admin_area!(
    /// The admin world at `t0()`, with the test identity provider.
    World
);

impl World {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.server.admin(method, path, Some(token), body).await;
        assert!(status == 200 || status == 201, "{method} {path}: {answer}");
        answer
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let answer = self.call("GET", path, token, None).await;
        assert_envelope(&answer);
        answer
    }
}

/// Plans `monthly` and `annual`; packages `gold` (a1, a2; monthly and annual; sport=soccer), `silver`
/// (a3; monthly), `free` (free, a4), `kids` (a5, below gold in the graph), `news` (a6, no plans);
/// products `gold_monthly` (default ID) and `gold-annual-sku`; alice holds gold now, bob held it in 2020.
async fn world() -> World {
    let w = World(
        AdminWorld::start_with(t0(), |s| {
            s.auth.issuers = vec![harness::end_user_issuer()];
        })
        .await,
    );
    let admin = w.admin.clone();
    for (id, recurrence) in [("monthly", "1M"), ("annual", "1y")] {
        let plan = json!({"billingPlan": {"id": id, "description": format!("{id} plan"),
            "recurrence": recurrence, "prices": {"Apple": {"USD": 4.99}}}});
        w.call("POST", "/oem/v1/billingplans", &admin, Some(plan))
            .await;
    }
    let packages = [
        json!({"id": "gold", "name": "Gold", "description": "everything", "assetIDs": ["a1", "a2"],
            "billingPlanIDs": ["monthly", "annual"], "customData": {"sport": "soccer"}}),
        json!({"id": "silver", "name": "Silver", "description": "some", "assetIDs": ["a3"],
            "billingPlanIDs": ["monthly"], "customData": {"sport": "hockey"}}),
        json!({"id": "free", "name": "Free", "description": "trailers", "assetIDs": ["a4"],
            "bypassEntitlementCheck": true}),
        json!({"id": "kids", "name": "Kids", "description": "cartoons", "assetIDs": ["a5"],
            "billingPlanIDs": []}),
        json!({"id": "news", "name": "News", "description": "news", "assetIDs": ["a6"],
            "billingPlanIDs": []}),
    ];
    for package in packages {
        w.call(
            "POST",
            "/oem/v1/user/packages",
            &admin,
            Some(json!({ "package": package })),
        )
        .await;
    }
    w.call("PUT", "/oem/v1/packages/gold/child/kids", &admin, None)
        .await;
    for product in [
        json!({"packageID": "gold", "billingPlanID": "monthly", "name": {"en": "Gold monthly"}}),
        json!({"id": "gold-annual-sku", "packageID": "gold", "billingPlanID": "annual",
            "name": {"en": "Gold annual"}}),
    ] {
        w.call(
            "POST",
            "/oem/v1/products",
            &admin,
            Some(json!({ "product": product })),
        )
        .await;
    }
    for (uid, start, end) in [
        ("alice", "2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"),
        ("bob", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
    ] {
        let body = json!({"entitlement": {"packageID": "gold", "uid": uid,
            "startDate": start, "endDate": end}});
        w.call("POST", "/oem/v1/admin/entitlements", &admin, Some(body))
            .await;
    }
    w
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_calling_user_sees_products_plans_and_what_they_are_entitled_to() {
    let w = world().await;
    let alice = jwt("alice");
    let answer = w
        .get(
            "/oem/v2/packages?include=products,billingplans,entitlements&sort=id",
            &alice,
        )
        .await;
    assert_eq!(
        ids(&answer["packages"], "id"),
        ["free", "gold", "kids", "news", "silver"]
    );
    let gold = &answer["packages"][1];
    assert_eq!(
        strings(&gold["productIDs"]),
        ["gold-annual-sku", "gold_monthly"]
    );
    assert_eq!(strings(&gold["assetIDs"]), ["a1", "a2"]);
    assert_eq!(gold["customData"]["sport"], "soccer");
    assert_eq!(strings(&answer["packages"][4]["productIDs"]).len(), 0);
    assert_eq!(
        ids(&answer["products"], "id"),
        ["gold-annual-sku", "gold_monthly"]
    );
    assert_eq!(answer["products"][1]["packageID"], "gold");
    assert_eq!(answer["products"][1]["billingPlanID"], "monthly");
    assert_eq!(answer["products"][1]["version"], 1);
    let mut plans = ids(&answer["billingPlans"], "id");
    plans.sort();
    assert_eq!(plans, ["annual", "monthly"]);
    assert_eq!(answer["billingPlans"][0]["prices"]["Apple"]["USD"], 4.99);
    assert_eq!(strings(&answer["entitled"]), ["free", "gold", "kids"]);
    assert_eq!(
        answer["metadata"],
        json!({"count": 5, "skip": 0, "totalCount": 5, "entitlementsAvailable": true})
    );

    // Bob's entitlement ended: only the free package.
    let answer = w
        .get("/oem/v2/packages?include=entitlements", &jwt("bob"))
        .await;
    assert_eq!(strings(&answer["entitled"]), ["free"]);
    assert!(answer.get("products").is_none());
    assert!(answer.get("billingPlans").is_none());

    // Staff have no entitlements to show.
    let answer = w
        .get("/oem/v2/packages?include=entitlements", &w.admin)
        .await;
    assert_eq!(strings(&answer["entitled"]), Vec::<String>::new());
    assert_eq!(answer["metadata"]["entitlementsAvailable"], false);

    // Without include: neither `entitled` nor the flag.
    let answer = w.get("/oem/v2/packages", &alice).await;
    assert!(answer.get("entitled").is_none());
    assert!(answer["metadata"].get("entitlementsAvailable").is_none());
}

#[tokio::test]
async fn filters_sort_paging_and_excluded_fields() {
    let w = world().await;
    let token = w.admin.clone();
    let listed = |answer: &Value| ids(&answer["packages"], "id");
    for (query, expected) in [
        ("billingPlanIDs=annual", &["gold"][..]),
        ("subscriptions&sort=id", &["gold", "silver"]),
        ("customData.sport=hockey", &["silver"]),
    ] {
        let answer = w.get(&format!("/oem/v2/packages?{query}"), &token).await;
        assert_eq!(listed(&answer), expected, "{query}");
    }
    let answer = w
        .get(
            "/oem/v2/packages?sort=-name&count=2&skip=1&excludeFields=assetids",
            &token,
        )
        .await;
    assert_eq!(listed(&answer), ["news", "kids"]);
    assert!(answer["packages"][0].get("assetIDs").is_none());
    assert_eq!(
        answer["metadata"],
        json!({"count": 2, "skip": 1, "totalCount": 5})
    );
}

#[tokio::test]
async fn retrieve_one_package_with_its_parts() {
    let w = world().await;
    let alice = jwt("alice");
    let answer = w
        .get(
            "/oem/v2/packages/kids?include=entitlements,products",
            &alice,
        )
        .await;
    assert_eq!(answer["package"]["id"], "kids");
    assert_eq!(strings(&answer["entitled"]), ["kids"]);
    assert_eq!(answer["entitlementsAvailable"], true);
    assert_eq!(answer["products"], json!([]));

    let answer = w
        .get(
            "/oem/v2/packages/gold?include=billingplans,products&excludeFields=assetids",
            &w.admin,
        )
        .await;
    assert!(answer["package"].get("assetIDs").is_none());
    assert_eq!(
        strings(&answer["package"]["productIDs"]),
        ["gold-annual-sku", "gold_monthly"]
    );
    assert_eq!(answer["products"].as_array().unwrap().len(), 2);
    assert_eq!(answer["billingPlans"].as_array().unwrap().len(), 2);
    assert!(answer.get("entitled").is_none());

    let answer = w
        .get("/oem/v2/packages/silver?include=entitlements", &alice)
        .await;
    assert_eq!(strings(&answer["entitled"]), Vec::<String>::new());
}

#[tokio::test]
async fn bad_queries_and_callers_are_refused() {
    let w = world().await;
    let alice = jwt("alice");
    for path in [
        "/oem/v2/packages?include=products,owners",
        "/oem/v2/packages?sort=price",
        "/oem/v2/packages?colour=red",
        "/oem/v2/packages?excludeFields=name",
        "/oem/v2/packages?count=ten",
        "/oem/v2/packages/gold?include=everything",
        "/oem/v2/packages/gold?sort=name",
    ] {
        let (status, answer) = w.server.admin("GET", path, Some(&alice), None).await;
        assert_error(status, &answer, 400, 1017);
    }
    let (status, answer) = w
        .server
        .admin("GET", "/oem/v2/packages/nope", Some(&alice), None)
        .await;
    assert_error(status, &answer, 404, 1040);
    let (status, answer) = w.server.admin("GET", "/oem/v2/packages", None, None).await;
    assert_error(status, &answer, 401, 1001);
    let (status, answer) = w
        .server
        .admin("GET", "/oem/v2/packages", Some("sees_not-a-token"), None)
        .await;
    assert_error(status, &answer, 401, 1001);
}

#[tokio::test]
async fn v1_answers_carry_the_real_products_and_plans() {
    let w = world().await;
    let answer = w.get("/oem/v1/user/packages/gold", &w.admin).await;
    assert_eq!(
        answer["package"]["productIDs"],
        json!({"monthly": "gold_monthly", "annual": "gold-annual-sku"})
    );
    // Without a product, the spec's computed ID.
    let answer = w.get("/oem/v1/user/packages/silver", &w.admin).await;
    assert_eq!(
        answer["package"]["productIDs"],
        json!({"monthly": "silver_monthly"})
    );

    let answer = w
        .get("/oem/v1/entitlements/assets?assetIDs=a1,a3", &jwt("alice"))
        .await;
    assert_eq!(ids(&answer["packages"], "id"), ["gold", "silver"]);
    assert_eq!(answer["packages"][0]["owned"], true);
    assert_eq!(answer["packages"][1]["owned"], false);
    assert_eq!(
        ids(&answer["products"], "id"),
        ["gold-annual-sku", "gold_monthly"]
    );
    assert_eq!(ids(&answer["billingPlans"], "id"), ["monthly", "annual"]);
    assert_eq!(answer["billingPlans"][1]["recurrence"], "1y");
}

/// v2 has no package writes: a policy set through v1 shows in v2's answers as `drmPolicy` (after
/// `customData`), only on the packages that set one; a refused v1 change leaves what v2 shows.
#[tokio::test]
async fn v2_shows_the_drm_policy_set_through_v1() {
    let w = world().await;
    let admin = w.admin.clone();
    let policy = json!({
        "widevine": {"securityLevel": 5, "hdcp": 2},
        "playready": {"rights": "BuyToOwn", "persistent": true, "unknownOutput": "Disallow"},
        "fairplay": {"rentalDurationS": 86400}
    });
    w.call(
        "PUT",
        "/oem/v1/user/packages/gold",
        &admin,
        Some(json!({"package": {"id": "gold", "drmPolicy": policy}})),
    )
    .await;

    let answer = w.get("/oem/v2/packages?sort=id", &jwt("alice")).await;
    for package in answer["packages"].as_array().unwrap() {
        if package["id"] == "gold" {
            assert_eq!(package["drmPolicy"], policy);
        } else {
            assert!(package.get("drmPolicy").is_none(), "{package}");
        }
    }
    let answer = w.get("/oem/v2/packages/gold", &admin).await;
    assert_eq!(answer["package"]["drmPolicy"], policy);
    let keys: Vec<&str> = answer["package"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let at = |key: &str| keys.iter().position(|k| *k == key).unwrap();
    assert_eq!(at("drmPolicy"), at("customData") + 1, "{keys:?}");

    let (status, refused) = w
        .server
        .admin(
            "PUT",
            "/oem/v1/user/packages/gold",
            Some(&admin),
            Some(json!({"package": {"id": "gold",
                "drmPolicy": {"playready": {"rights": "Rental", "persistent": false}}}})),
        )
        .await;
    harness::assert_error(status, &refused, 400, 1011);
    let answer = w.get("/oem/v2/packages/gold", &admin).await;
    assert_eq!(answer["package"]["drmPolicy"], policy);
    let answer = w.get("/oem/v2/packages/silver", &admin).await;
    assert!(answer["package"].get("drmPolicy").is_none());
}
