//! The package graph on the admin listener, over real HTTP (children and parents, cycles, the depth
//! limit, inherited entitlements), and the graph and entitlement catalogue functions run directly on
//! every backend.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use sees::admin::tokens::Role;
use sees::catalog::{Catalog, CatalogError, Package};
use sees::ids::{AssetId, PackageId, UserId};
use serde_json::{json, Value};

use crate::harness::{self, assert_error, spawn, spawn_with, TestServer};

/// A server with a token of each staff role.
struct Graph {
    server: TestServer,
    admin: String,
    support: String,
    reader: String,
}

/// `server` with packages `ids`, each holding the asset `asset-<id>`, created through the admin API.
async fn graph(server: TestServer, ids: &[&str]) -> Graph {
    let g = Graph {
        admin: server.admin_token(Role::Admin).await,
        support: server.admin_token(Role::Support).await,
        reader: server.admin_token(Role::Reader).await,
        server,
    };
    for id in ids {
        let body = json!({"package": {"id": id, "name": format!("Package {id}"),
            "description": "test package", "assetIDs": [format!("asset-{id}")],
            "billingPlanIDs": ["monthly"]}});
        let (status, answer) = g
            .server
            .admin("POST", "/oem/v1/user/packages", Some(&g.admin), Some(body))
            .await;
        assert!(status == 200 || status == 201, "{answer}");
    }
    g
}

impl Graph {
    /// `method` on the edge `parent` → `child` with `token`.
    async fn edge(&self, method: &str, token: &str, parent: &str, child: &str) -> (u16, Value) {
        let path = format!("/oem/v1/packages/{parent}/child/{child}");
        self.server.admin(method, &path, Some(token), None).await
    }

    /// Adds the edges `parent` → `child` as admin; each must answer 200.
    async fn add(&self, edges: &[(&str, &str)]) {
        for (parent, child) in edges {
            let (status, answer) = self.edge("PUT", &self.admin, parent, child).await;
            assert_eq!(status, 200, "{parent} → {child}: {answer}");
        }
    }

    /// `method` on the edge as admin; checks it fails with `status` and the error `code`.
    async fn refused(
        &self,
        method: &str,
        parent: &str,
        child: &str,
        status: u16,
        code: u64,
    ) -> Value {
        let (got, answer) = self.edge(method, &self.admin, parent, child).await;
        assert_error(got, &answer, status, code);
        answer
    }

    /// The package IDs listed at `path` with `token`.
    async fn listed_as(&self, token: &str, path: &str) -> Vec<String> {
        let (status, answer) = self.server.admin("GET", path, Some(token), None).await;
        assert_eq!(status, 200, "{path}: {answer}");
        ids(&answer)
    }

    /// The children of `id`, read by the reader.
    async fn children(&self, id: &str) -> Vec<String> {
        let path = format!("/oem/v1/packages/{id}/children");
        self.listed_as(&self.reader, &path).await
    }

    /// The parents of `id`, read by the reader.
    async fn parents(&self, id: &str) -> Vec<String> {
        let path = format!("/oem/v1/packages/{id}/parents");
        self.listed_as(&self.reader, &path).await
    }

    /// `POST path` with `body` as support; checks it answers 200.
    async fn support_post(&self, path: &str, body: Value) -> Value {
        let token = Some(self.support.as_str());
        let (status, answer) = self.server.admin("POST", path, token, Some(body)).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// The `(package, owned)` pairs of alice's asset listing for `listing`, read by support.
    async fn owned(&self, listing: &Value) -> Vec<(String, bool)> {
        let path = "/oem/v1/admin/entitlements/alice/assets";
        let answer = self.support_post(path, listing.clone()).await;
        answer["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let id = p["id"].as_str().unwrap().to_owned();
                (id, p["owned"].as_bool().unwrap())
            })
            .collect()
    }
}

/// The IDs of a `{"packages": [...]}` answer.
fn ids(answer: &Value) -> Vec<String> {
    answer["packages"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `(package, owned)` pairs as [`Graph::owned`] answers them.
fn pairs(expected: &[(&str, bool)]) -> Vec<(String, bool)> {
    expected
        .iter()
        .map(|(id, owned)| (id.to_string(), *owned))
        .collect()
}

#[tokio::test]
async fn children_and_parents_are_listed() {
    let g = graph(spawn().await, &["a", "b", "c", "d"]).await;
    g.add(&[("a", "c"), ("a", "b"), ("d", "b")]).await;

    let (status, answer) = g.edge("PUT", &g.admin, "a", "b").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["parentID"], "a");
    assert_eq!(answer["childID"], "b");
    assert!(answer["message"].as_str().unwrap().contains("already"));

    assert_eq!(g.children("a").await, ["b", "c"]);
    let with_slash = g.listed_as(&g.reader, "/oem/v1/packages/b/parents/");
    assert_eq!(with_slash.await, ["a", "d"]);
    assert!(g.parents("a").await.is_empty());
    assert!(g.children("b").await.is_empty());
    let (_, answer) = g
        .server
        .admin("GET", "/oem/v1/packages/a/children", Some(&g.reader), None)
        .await;
    let first = &answer["packages"][0];
    assert_eq!(first["name"], "Package b");
    assert_eq!(first["assetIDs"], json!(["asset-b"]));

    for path in [
        "/oem/v1/packages/nope/children",
        "/oem/v1/packages/nope/parents",
    ] {
        let (status, answer) = g.server.admin("GET", path, Some(&g.reader), None).await;
        assert_error(status, &answer, 404, 1040);
    }
}

#[tokio::test]
async fn only_admins_change_the_graph() {
    let g = graph(spawn().await, &["a", "b"]).await;
    for token in [&g.support, &g.reader] {
        for method in ["PUT", "DELETE"] {
            let (status, answer) = g.edge(method, token, "a", "b").await;
            assert_error(status, &answer, 403, 1004);
        }
    }
    g.add(&[("a", "b")]).await;
    for token in [&g.support, &g.reader] {
        let children = g.listed_as(token, "/oem/v1/packages/a/children").await;
        assert_eq!(children, ["b"]);
    }
    let (status, answer) = g
        .server
        .admin("GET", "/oem/v1/packages/a/children", None, None)
        .await;
    assert_error(status, &answer, 401, 1001);
}

#[tokio::test]
async fn both_packages_must_exist() {
    let g = graph(spawn().await, &["a"]).await;
    for method in ["PUT", "DELETE"] {
        for (parent, child, missing) in [("nope", "a", "nope"), ("a", "gone", "gone")] {
            let answer = g.refused(method, parent, child, 404, 1040).await;
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(missing), "{answer}");
        }
    }
}

#[tokio::test]
async fn removing_a_missing_edge_between_existing_packages_succeeds() {
    let g = graph(spawn().await, &["a", "b"]).await;
    let (status, answer) = g.edge("DELETE", &g.admin, "a", "b").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["parentID"].as_str(), answer["childID"].as_str()),
        (Some("a"), Some("b"))
    );

    g.add(&[("a", "b")]).await;
    let (status, answer) = g.edge("DELETE", &g.admin, "a", "b").await;
    assert_eq!(status, 200, "{answer}");
    assert!(g.children("a").await.is_empty());
}

#[tokio::test]
async fn cycles_are_refused() {
    let g = graph(spawn().await, &["a", "b", "c"]).await;
    g.add(&[("a", "b"), ("b", "c")]).await;
    for (parent, child) in [("c", "a"), ("c", "b"), ("b", "a"), ("a", "a")] {
        g.refused("PUT", parent, child, 409, 1060).await;
    }
    // A shortcut is not a cycle.
    g.add(&[("a", "c")]).await;
    assert_eq!(g.parents("c").await, ["a", "b"]);
    assert!(g.parents("a").await.is_empty());
}

#[tokio::test]
async fn chains_are_limited_to_graph_max_depth_edges() {
    let server = spawn_with(|s| s.admin.graph_max_depth = 2).await;
    let g = graph(server, &["a", "b", "c", "d", "x", "y"]).await;
    g.add(&[("a", "b"), ("b", "c")]).await;
    // Below, above and in the middle of a chain of two edges.
    for (parent, child) in [("c", "d"), ("x", "a")] {
        let answer = g.refused("PUT", parent, child, 409, 1061).await;
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("3 edges (at most 2)"), "{answer}");
    }
    g.add(&[("x", "y")]).await;
    g.refused("PUT", "y", "b", 409, 1061).await;
    // Side branches that keep every chain at two edges are fine.
    g.add(&[("a", "d"), ("b", "d"), ("x", "c")]).await;
}

#[tokio::test]
async fn an_entitlement_to_a_package_covers_its_descendants() {
    let g = graph(spawn().await, &["top", "mid", "leaf", "other"]).await;
    g.add(&[("top", "mid"), ("mid", "leaf")]).await;
    let grant = json!({"entitlement": {"packageID": "top", "uid": "alice",
        "startDate": "2020-01-01T00:00:00Z"}});
    g.support_post("/oem/v1/admin/entitlements", grant).await;

    let listing = json!({"assetIDs": ["asset-top", "asset-mid", "asset-leaf", "asset-other"]});
    assert_eq!(
        g.owned(&listing).await,
        pairs(&[
            ("top", true),
            ("mid", true),
            ("leaf", true),
            ("other", false)
        ])
    );

    let stores = sees::app::open_stores(&g.server.settings).await.unwrap();
    let catalog = Catalog::new(stores.store.clone(), 8);
    let alice = UserId::parse("alice").unwrap();
    assert_eq!(
        catalog.entitled_packages(&alice, Utc::now()).await.unwrap(),
        set(&["leaf", "mid", "top"])
    );

    // Cutting mid → leaf takes leaf away.
    let (status, answer) = g.edge("DELETE", &g.admin, "mid", "leaf").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        g.owned(&listing).await,
        pairs(&[
            ("top", true),
            ("mid", true),
            ("leaf", false),
            ("other", false)
        ])
    );
    assert_eq!(
        catalog.entitled_packages(&alice, Utc::now()).await.unwrap(),
        set(&["mid", "top"])
    );
    stores.store.close().await;
}

fn set(ids: &[&str]) -> BTreeSet<PackageId> {
    ids.iter()
        .map(|id| PackageId::parse(*id).unwrap())
        .collect()
}

fn new_package(id: &str) -> Package {
    let now = Utc::now();
    Package {
        id: PackageId::parse(id).unwrap(),
        name: format!("Package {id}"),
        description: "test package".to_owned(),
        bypass: false,
        asset_ids: vec![AssetId::parse(format!("asset-{id}")).unwrap()],
        billing_plan_ids: Vec::new(),
        region_ids: Vec::new(),
        custom_data: Default::default(),
        drm_policy: Default::default(),
        created_at: now,
        modified_at: now,
    }
}

#[tokio::test]
async fn graph_and_entitlements_work_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in harness::backend_stores(dir.path()).await {
        let catalog = Catalog::new(store.clone(), 3);
        for id in ["a", "b", "c", "d", "e", "p", "q"] {
            catalog.create_package(&new_package(id)).await.unwrap();
        }
        let id = |raw: &str| PackageId::parse(raw).unwrap();
        let now = Utc::now();

        // Edges, idempotence, cycles, depth (3 edges at most).
        assert!(catalog.add_child(&id("a"), &id("b"), now).await.unwrap());
        assert!(!catalog.add_child(&id("a"), &id("b"), now).await.unwrap());
        assert!(catalog.add_child(&id("b"), &id("c"), now).await.unwrap());
        for (parent, child) in [("c", "a"), ("a", "a"), ("c", "b")] {
            let refused = catalog.add_child(&id(parent), &id(child), now).await;
            assert!(
                matches!(refused, Err(CatalogError::Cycle { .. })),
                "{backend}: {parent} → {child}: {refused:?}"
            );
        }
        assert!(catalog.add_child(&id("c"), &id("d"), now).await.unwrap());
        let refused = catalog.add_child(&id("d"), &id("e"), now).await;
        assert!(
            matches!(refused, Err(CatalogError::TooDeep { edges: 4, max: 3 })),
            "{backend}: {refused:?}"
        );
        let refused = catalog.add_child(&id("a"), &id("zz"), now).await;
        assert!(
            matches!(&refused, Err(CatalogError::PackageNotFound(p)) if p.as_str() == "zz"),
            "{backend}: {refused:?}"
        );
        assert_eq!(
            catalog.descendants(&[id("a")]).await.unwrap(),
            set(&["a", "b", "c", "d"]),
            "{backend}"
        );
        assert_eq!(
            catalog.descendants(&[id("c"), id("e")]).await.unwrap(),
            set(&["c", "d", "e"]),
            "{backend}"
        );
        let parents = catalog.parents(&id("c")).await.unwrap();
        let parents: Vec<String> = parents.iter().map(|p| p.id.to_string()).collect();
        assert_eq!(parents, ["b"], "{backend}");

        // Entitlements: active ones and their descendants.
        let alice = UserId::parse("alice").unwrap();
        let bob = UserId::parse("bob").unwrap();
        let grant = catalog
            .grant_entitlement(&alice, &id("b"), now - Duration::days(1), None, now)
            .await
            .unwrap();
        assert!(grant.is_active(now));
        let duplicate = catalog
            .grant_entitlement(&alice, &id("b"), now, None, now)
            .await;
        assert!(
            matches!(duplicate, Err(CatalogError::DuplicateEntitlement(..))),
            "{backend}: {duplicate:?}"
        );
        let backwards = catalog
            .grant_entitlement(&alice, &id("e"), now, Some(now), now)
            .await;
        assert!(
            matches!(backwards, Err(CatalogError::DatesOutOfOrder)),
            "{backend}: {backwards:?}"
        );
        // Expired and future entitlements do not count.
        catalog
            .grant_entitlement(
                &alice,
                &id("e"),
                now - Duration::days(10),
                Some(now - Duration::days(1)),
                now,
            )
            .await
            .unwrap();
        catalog
            .grant_entitlement(&alice, &id("p"), now + Duration::days(1), None, now)
            .await
            .unwrap();
        assert_eq!(
            catalog.entitled_packages(&alice, now).await.unwrap(),
            set(&["b", "c", "d"]),
            "{backend}"
        );
        assert!(catalog
            .entitled_packages(&bob, now)
            .await
            .unwrap()
            .is_empty());

        let missing = catalog.entitlement(&bob, &id("b")).await;
        assert!(
            matches!(missing, Err(CatalogError::UserNotFound(_))),
            "{backend}: {missing:?}"
        );
        assert_eq!(catalog.entitlement(&alice, &id("q")).await.unwrap(), None);
        let updated = catalog
            .update_entitlement(&alice, &id("b"), now, Some(now + Duration::days(30)), now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated.created_at, grant.created_at, "{backend}");
        assert!(updated.end.is_some());
        assert_eq!(catalog.entitlements_of(&alice).await.unwrap().len(), 3);
        assert!(catalog.revoke_entitlement(&alice, &id("e")).await.unwrap());
        assert!(!catalog.revoke_entitlement(&alice, &id("e")).await.unwrap());

        // Removing an edge removes what came through it.
        assert!(catalog.remove_child(&id("b"), &id("c")).await.unwrap());
        assert!(!catalog.remove_child(&id("b"), &id("c")).await.unwrap());
        assert_eq!(
            catalog.entitled_packages(&alice, now).await.unwrap(),
            set(&["b"]),
            "{backend}"
        );

        // Asset grants: upserted, active ones listed.
        let assets: Vec<AssetId> = ["x1", "x2", "x1"]
            .iter()
            .map(|a| AssetId::parse(*a).unwrap())
            .collect();
        let granted = catalog
            .grant_assets(&bob, &assets, now, None, now)
            .await
            .unwrap();
        assert_eq!(granted.len(), 2, "{backend}");
        let regranted = catalog
            .grant_assets(
                &bob,
                &assets[1..2],
                now - Duration::days(2),
                Some(now - Duration::days(1)),
                now,
            )
            .await
            .unwrap();
        assert!(!regranted[0].is_active(now));
        let active = catalog.active_asset_entitlements(&bob, &assets, now);
        let active = active.await.unwrap();
        let active: Vec<String> = active.iter().map(|g| g.asset_id.to_string()).collect();
        assert_eq!(active, ["x1"], "{backend}");
        // bob is now known (through his asset grants).
        assert_eq!(catalog.entitlement(&bob, &id("b")).await.unwrap(), None);

        // Two concurrent opposite edges: exactly one wins, the other is a cycle.
        for round in 0..5 {
            let (p, q) = (id("p"), id("q"));
            let (one, other) = tokio::join!(
                catalog.add_child(&p, &q, now),
                catalog.add_child(&q, &p, now)
            );
            let wins = [&one, &other]
                .iter()
                .filter(|r| matches!(r, Ok(true)))
                .count();
            let cycles = [&one, &other]
                .iter()
                .filter(|r| matches!(r, Err(CatalogError::Cycle { .. })))
                .count();
            assert_eq!(
                (wins, cycles),
                (1, 1),
                "{backend} round {round}: {one:?} {other:?}"
            );
            assert!(
                catalog.remove_child(&p, &q).await.unwrap()
                    || catalog.remove_child(&q, &p).await.unwrap()
            );
        }
        store.close().await;
    }
}

#[tokio::test]
async fn a_package_named_like_a_static_path_segment_works() {
    // `/oem/v1/packages/assets` is the route that adds assets to packages.
    let g = graph(spawn().await, &["assets", "b"]).await;
    g.add(&[("assets", "b")]).await;
    assert_eq!(g.children("assets").await, ["b"]);
    assert_eq!(g.parents("b").await, ["assets"]);
}
