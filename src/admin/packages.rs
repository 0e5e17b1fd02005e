//! Admin routes: packages (OEM v1 "Add/Update/Retrieve/List/Delete a package", free packages) and
//! assets in packages. Also the one rendering of a package as JSON, which the other route files use.

use std::sync::Arc;

use axum::Router;
use serde_json::{json, Map, Value};

use super::envelope::rfc3339;
use super::AdminState;
use crate::catalog::Package;

/// Which optional parts a package's JSON carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct PackageView {
    /// `excludeFields=assetids`.
    pub exclude_assets: bool,
    /// `productIDs` (single-package answers only, as the spec says).
    pub product_ids: bool,
}

/// A package as the OEM API shows it. `regionWhitelist` and `customData` appear when non-empty;
/// `productIDs` maps each billing plan to `<packageID>_<billingPlanID>` (the spec: "calculated on the fly
/// using packageID_billingPlanID").
pub fn package_json(package: &Package, view: PackageView) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(package.id));
    object.insert("name".into(), json!(package.name));
    object.insert("description".into(), json!(package.description));
    object.insert("bypassEntitlementCheck".into(), json!(package.bypass));
    if !view.exclude_assets {
        object.insert("assetIDs".into(), json!(package.asset_ids));
    }
    object.insert("billingPlanIDs".into(), json!(package.billing_plan_ids));
    if view.product_ids {
        let products: Map<String, Value> = package
            .billing_plan_ids
            .iter()
            .map(|plan| (plan.to_string(), json!(format!("{}_{}", package.id, plan))))
            .collect();
        object.insert("productIDs".into(), Value::Object(products));
    }
    if !package.region_ids.is_empty() {
        object.insert("regionWhitelist".into(), json!(package.region_ids));
    }
    if !package.custom_data.is_empty() {
        object.insert("customData".into(), json!(package.custom_data));
    }
    object.insert(
        "createdTimestamp".into(),
        json!(rfc3339(package.created_at)),
    );
    object.insert(
        "modifiedTimestamp".into(),
        json!(rfc3339(package.modified_at)),
    );
    Value::Object(object)
}

/// The package routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
}
