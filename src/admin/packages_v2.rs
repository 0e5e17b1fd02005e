//! Admin routes: OEM v2 packages. The v1 list's filters, sort and paging, plus `include` of the
//! packages' `products`, their `billingplans`, and `entitlements`: which of the listed packages the
//! calling user may play now (an active entitlement to it or to a package above it in the graph, or a
//! free package), as `entitled` with `metadata.entitlementsAvailable`.
//!
//! Readable by staff (reader and up) and by end users; only an end user has entitlements to show, so for
//! staff `entitlementsAvailable` is false and `entitled` is empty.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::auth::{Access, Caller};
use super::envelope::{bad_query, ApiError, ApiOk};
use super::extract::{AdminPath, PackageParam, QueryPairs};
use super::packages::{
    exclude_fields, include_values, list_query, package_json, plans_of, PackageView,
};
use super::AdminState;
use crate::catalog::{BillingPlan, Package, Product};
use crate::ids::{PackageId, UserId};

/// The v2 package routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/oem/v2/packages", get(list))
        .route("/oem/v2/packages/{packageID}", get(retrieve))
}

/// What `include` asks for.
#[derive(Debug, Default, Clone, Copy)]
struct Include {
    products: bool,
    billing_plans: bool,
    entitlements: bool,
}

impl Include {
    fn parse(values: &[String]) -> Result<Include, ApiError> {
        let mut include = Include::default();
        for value in values {
            match value.as_str() {
                "products" => include.products = true,
                "billingplans" => include.billing_plans = true,
                "entitlements" => include.entitlements = true,
                other => {
                    let shown: String = other.chars().take(64).collect();
                    return Err(bad_query(format!(
                        "include may list products, billingplans and entitlements (not {shown:?})"
                    )));
                }
            }
        }
        Ok(include)
    }
}

/// Staff (reader and up) or an end user; the end user, when it is one.
fn reader(caller: &Caller) -> Result<Option<UserId>, ApiError> {
    match caller {
        Caller::EndUser(_) => caller.end_user().map(Some),
        Caller::Staff(_) => caller.allow(Access::Read).map(|()| None),
    }
}

/// The parts `include` adds, for `packages`.
struct Included {
    products: Vec<Product>,
    billing_plans: Vec<BillingPlan>,
    /// `None` when no end user is calling.
    entitled: Option<BTreeSet<PackageId>>,
}

async fn included(
    state: &AdminState,
    packages: &[Package],
    include: Include,
    user: Option<&UserId>,
) -> Result<Included, ApiError> {
    let ids: Vec<PackageId> = packages.iter().map(|p| p.id.clone()).collect();
    // Products are needed for `productIDs` whatever `include` says.
    let products = state.billing.products_for_packages(&ids).await?;
    let billing_plans = if include.billing_plans {
        state.billing.plans(&plans_of(packages, &products)).await?
    } else {
        Vec::new()
    };
    let entitled = match (include.entitlements, user) {
        (true, Some(uid)) => {
            let entitled = state
                .catalog
                .entitled_packages(uid, state.clock.now())
                .await?;
            Some(
                packages
                    .iter()
                    .filter(|p| p.bypass || entitled.contains(&p.id))
                    .map(|p| p.id.clone())
                    .collect(),
            )
        }
        _ => None,
    };
    Ok(Included {
        products,
        billing_plans,
        entitled,
    })
}

/// A package as v2 shows it: v1's fields with `productIDs` as the list of its products' IDs.
fn v2_package(package: &Package, products: &[Product], exclude_assets: bool) -> Value {
    let view = PackageView {
        exclude_assets,
        ..PackageView::default()
    };
    let mut shown = package_json(package, view);
    let ids: Vec<&str> = products
        .iter()
        .filter(|p| p.package_id == package.id)
        .map(|p| p.id.as_str())
        .collect();
    if let Value::Object(object) = &mut shown {
        let mut ordered = Map::new();
        for (key, value) in std::mem::take(object) {
            let after_plans = key == "billingPlanIDs";
            ordered.insert(key, value);
            if after_plans {
                ordered.insert("productIDs".into(), json!(ids));
            }
        }
        *object = ordered;
    }
    shown
}

/// Adds what `include` asked for to `body`; `entitlementsAvailable` goes into `metadata` when there is
/// one (lists), else beside `entitled`.
fn add_included(body: &mut Map<String, Value>, include: Include, included: Included) {
    if include.products {
        body.insert("products".into(), json!(included.products));
    }
    if include.billing_plans {
        body.insert("billingPlans".into(), json!(included.billing_plans));
    }
    if include.entitlements {
        let available = included.entitled.is_some();
        body.insert(
            "entitled".into(),
            json!(included.entitled.unwrap_or_default()),
        );
        match body.get_mut("metadata") {
            Some(Value::Object(metadata)) => {
                metadata.insert("entitlementsAvailable".into(), json!(available));
            }
            _ => {
                body.insert("entitlementsAvailable".into(), json!(available));
            }
        }
    }
}

/// `GET /oem/v2/packages`: v1's list (`count`, `skip`, `sort`, `excludeFields`, `subscriptions`,
/// `billingPlanIDs`, `customData.<key>`) with `include`.
async fn list(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    query: Result<QueryPairs, ApiError>,
) -> Result<ApiOk, ApiError> {
    let user = reader(&caller)?;
    let query = list_query(query?.0, state.limits, true)?;
    let include = Include::parse(&query.include)?;
    let (packages, total) = state
        .catalog
        .list_packages(&query.filter, query.paging.count, query.paging.skip)
        .await?;
    let included = included(&state, &packages, include, user.as_ref()).await?;
    let rendered: Vec<Value> = packages
        .iter()
        .map(|p| v2_package(p, &included.products, query.exclude_assets))
        .collect();
    let mut body = Map::new();
    body.insert("packages".into(), json!(rendered));
    body.insert(
        "metadata".into(),
        query.paging.metadata(packages.len(), total),
    );
    add_included(&mut body, include, included);
    Ok(ApiOk::ok(Value::Object(body)))
}

/// `GET /oem/v2/packages/{packageID}`: one package, with `include` and `excludeFields`.
async fn retrieve(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<PackageParam>, ApiError>,
    query: Result<QueryPairs, ApiError>,
) -> Result<ApiOk, ApiError> {
    let user = reader(&caller)?;
    let AdminPath(id) = path?;
    let mut exclude_assets = false;
    let mut values = Vec::new();
    for (key, value) in query?.0 {
        match key.as_str() {
            "excludeFields" => exclude_assets = exclude_fields(&value)?,
            "include" => values.extend(include_values(&value)),
            other => return Err(bad_query(format!("unknown query parameter {other:?}"))),
        }
    }
    let include = Include::parse(&values)?;
    let package = state.catalog.package(&id).await?;
    let packages = [package];
    let included = included(&state, &packages, include, user.as_ref()).await?;
    let mut body = Map::new();
    body.insert(
        "package".into(),
        v2_package(&packages[0], &included.products, exclude_assets),
    );
    add_included(&mut body, include, included);
    Ok(ApiOk::ok(Value::Object(body)))
}
