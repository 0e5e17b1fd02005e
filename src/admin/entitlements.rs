//! Admin routes: entitlements (OEM v1 "Grant an entitlement", "Update a user entitlement", "List all
//! entitlements [for a user]", "List entitlements for user and package", "Delete an entitlement", and
//! the asset routes), for staff under `/oem/v1/admin/entitlements` and for the calling end user under
//! `/oem/v1/entitlements`.
//!
//! The spec puts two endpoints on `POST /oem/v1/admin/entitlements/{userid}/assets`; here `POST` is the
//! read-only listing ("List user packages and entitlements for assets") and `PUT` grants asset
//! entitlements. Because that static path shadows `/{userid}/{packageID}` for a package whose ID is
//! `assets`, its `GET` and `DELETE` (and a `PUT` whose body is `{"entitlement": …}`) act on that
//! package.
//!
//! The role is checked before the body is read: a caller without the role learns nothing about what
//! the body should look like.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, Request, State};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::{Access, Caller};
use super::envelope::{
    check_list_len, decode_body, parse_date, rfc3339, AdminJson, ApiError, ApiOk,
};
use super::errors::AdminCode;
use super::packages::{package_json, PackageView};
use super::AdminState;
use crate::catalog::{AssetEntitlement, Entitlement};
use crate::ids::{AssetId, IdError, PackageId, UserId};

/// The package ID that `/oem/v1/admin/entitlements/{userid}/assets` stands for on `GET`, `DELETE` and
/// an entitlement `PUT`.
const ASSETS_SEGMENT: &str = "assets";

/// The entitlements routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/oem/v1/admin/entitlements", post(grant))
        .route("/oem/v1/admin/entitlements/{userid}", get(list_for_user))
        .route(
            "/oem/v1/admin/entitlements/{userid}/assets",
            post(assets_for_user)
                .put(put_assets)
                .get(one_named_assets)
                .delete(revoke_named_assets),
        )
        .route(
            "/oem/v1/admin/entitlements/{userid}/{packageID}",
            get(one).put(update).delete(revoke),
        )
        .route("/oem/v1/entitlements", get(mine))
        .route("/oem/v1/entitlements/assets", get(mine_for_assets))
}

// ---------------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    entitlement: GrantFields,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFields {
    #[serde(rename = "packageID")]
    package_id: PackageId,
    uid: UserId,
    #[serde(rename = "startDate")]
    start_date: String,
    #[serde(rename = "endDate", default)]
    end_date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    entitlement: UpdateFields,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFields {
    #[serde(rename = "packageID")]
    package_id: PackageId,
    uid: UserId,
    #[serde(rename = "startDate")]
    start_date: String,
    #[serde(rename = "endDate")]
    end_date: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetListBody {
    #[serde(rename = "assetIDs", default)]
    asset_ids: Vec<AssetId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetGrantBody {
    #[serde(rename = "assetIDs", default)]
    asset_ids: Vec<AssetId>,
    #[serde(rename = "startDate", default)]
    start_date: Option<String>,
    #[serde(rename = "endDate", default)]
    end_date: Option<String>,
}

// ---------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------

/// An entitlement as the API shows it.
pub(super) fn entitlement_json(e: &Entitlement, now: DateTime<Utc>) -> Value {
    let mut object = window_json(e.start, e.end, e.is_active(now));
    object.insert("uid".into(), json!(e.uid));
    object.insert("packageID".into(), json!(e.package_id));
    object.insert("createdTimestamp".into(), json!(rfc3339(e.created_at)));
    object.insert("modifiedTimestamp".into(), json!(rfc3339(e.modified_at)));
    Value::Object(object)
}

/// A direct asset entitlement as the API shows it.
fn asset_entitlement_json(g: &AssetEntitlement, now: DateTime<Utc>) -> Value {
    let mut object = window_json(g.start, g.end, g.is_active(now));
    object.insert("uid".into(), json!(g.uid));
    object.insert("assetID".into(), json!(g.asset_id));
    Value::Object(object)
}

/// `startDate`, `endDate` (absent when open-ended) and `active`.
fn window_json(
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    active: bool,
) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("startDate".into(), json!(rfc3339(start)));
    if let Some(end) = end {
        object.insert("endDate".into(), json!(rfc3339(end)));
    }
    object.insert("active".into(), json!(active));
    object
}

// ---------------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------------

/// `POST /oem/v1/admin/entitlements`.
async fn grant(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    request: Request,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::EntitlementWrite)?;
    let GrantBody {
        entitlement: fields,
    } = AdminJson::read(request).await?;
    let (start, end) = grant_dates(&fields)?;
    let now = state.clock.now();
    let granted = state
        .catalog
        .grant_entitlement(&fields.uid, &fields.package_id, start, end, now)
        .await?;
    Ok(entitlement_answer(&granted, now))
}

/// Fuzzing: a body decoded and checked as `POST /oem/v1/admin/entitlements` does, without HTTP.
pub(super) fn fuzz_grant(bytes: &[u8]) -> Result<(), ApiError> {
    grant_dates(&decode_body::<GrantBody>(bytes)?.entitlement).map(drop)
}

/// The start and optional end of a grant body.
fn grant_dates(fields: &GrantFields) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>), ApiError> {
    let start = parse_date("startDate", &fields.start_date)?;
    let end = fields
        .end_date
        .as_deref()
        .map(|raw| parse_date("endDate", raw))
        .transpose()?;
    Ok((start, end))
}

/// `GET /oem/v1/admin/entitlements/{userid}`: every entitlement of the user (an empty list when none).
async fn list_for_user(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(userid): Path<String>,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::Read)?;
    let uid = path_id("userid", userid, UserId::parse)?;
    list(&state, &uid).await
}

/// `GET /oem/v1/entitlements`: the calling user's entitlements.
async fn mine(State(state): State<Arc<AdminState>>, caller: Caller) -> Result<ApiOk, ApiError> {
    let uid = caller.end_user()?;
    list(&state, &uid).await
}

async fn list(state: &AdminState, uid: &UserId) -> Result<ApiOk, ApiError> {
    let now = state.clock.now();
    let entitlements: Vec<Value> = state
        .catalog
        .entitlements_of(uid)
        .await?
        .iter()
        .map(|e| entitlement_json(e, now))
        .collect();
    Ok(ApiOk::ok(json!({ "entitlements": entitlements })))
}

/// `GET /oem/v1/admin/entitlements/{userid}/{packageID}`.
async fn one(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path((userid, package)): Path<(String, String)>,
) -> Result<ApiOk, ApiError> {
    let (uid, package) = caller.allowed(Access::Read, path_pair(userid, package))?;
    one_inner(&state, &uid, &package).await
}

/// `GET /oem/v1/admin/entitlements/{userid}/assets`: the entitlement to the package `assets`.
async fn one_named_assets(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(userid): Path<String>,
) -> Result<ApiOk, ApiError> {
    let (uid, package) =
        caller.allowed(Access::Read, path_pair(userid, ASSETS_SEGMENT.to_owned()))?;
    one_inner(&state, &uid, &package).await
}

async fn one_inner(
    state: &AdminState,
    uid: &UserId,
    package: &PackageId,
) -> Result<ApiOk, ApiError> {
    let now = state.clock.now();
    match state.catalog.entitlement(uid, package).await? {
        Some(found) => Ok(entitlement_answer(&found, now)),
        None => Err(no_entitlement(uid, package)),
    }
}

/// `PUT /oem/v1/admin/entitlements/{userid}/{packageID}`: sets the start and end.
async fn update(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path((userid, package)): Path<(String, String)>,
    request: Request,
) -> Result<ApiOk, ApiError> {
    let (uid, package) = caller.allowed(Access::EntitlementWrite, path_pair(userid, package))?;
    let update: UpdateBody = AdminJson::read(request).await?;
    update_inner(&state, &uid, &package, update).await
}

async fn update_inner(
    state: &AdminState,
    uid: &UserId,
    package: &PackageId,
    UpdateBody {
        entitlement: fields,
    }: UpdateBody,
) -> Result<ApiOk, ApiError> {
    if &fields.uid != uid || &fields.package_id != package {
        return Err(ApiError::new(
            AdminCode::InvalidField,
            "the body's uid and packageID must be the userid and packageID of the path",
        ));
    }
    let start = parse_date("startDate", &fields.start_date)?;
    let end = parse_date("endDate", &fields.end_date)?;
    let now = state.clock.now();
    match state
        .catalog
        .update_entitlement(uid, package, start, Some(end), now)
        .await?
    {
        Some(updated) => Ok(entitlement_answer(&updated, now)),
        None => Err(no_entitlement(uid, package)),
    }
}

/// `DELETE /oem/v1/admin/entitlements/{userid}/{packageID}`.
async fn revoke(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path((userid, package)): Path<(String, String)>,
) -> Result<ApiOk, ApiError> {
    let (uid, package) = caller.allowed(Access::EntitlementWrite, path_pair(userid, package))?;
    revoke_inner(&state, &uid, &package).await
}

/// `DELETE /oem/v1/admin/entitlements/{userid}/assets`: the entitlement to the package `assets`.
async fn revoke_named_assets(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(userid): Path<String>,
) -> Result<ApiOk, ApiError> {
    let (uid, package) = caller.allowed(
        Access::EntitlementWrite,
        path_pair(userid, ASSETS_SEGMENT.to_owned()),
    )?;
    revoke_inner(&state, &uid, &package).await
}

async fn revoke_inner(
    state: &AdminState,
    uid: &UserId,
    package: &PackageId,
) -> Result<ApiOk, ApiError> {
    if state.catalog.revoke_entitlement(uid, package).await? {
        Ok(ApiOk::deleted(format_args!(
            "Entitlement of {uid} to {package}"
        )))
    } else {
        Err(no_entitlement(uid, package))
    }
}

/// `POST /oem/v1/admin/entitlements/{userid}/assets`: the packages holding the assets, which of them
/// the user owns, and the user's direct grants among the assets (read-only).
async fn assets_for_user(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(userid): Path<String>,
    request: Request,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::Read)?;
    let uid = path_id("userid", userid, UserId::parse)?;
    let AssetListBody { asset_ids } = AdminJson::read(request).await?;
    check_list_len("assetIDs", &asset_ids, state.limits.max_list_len)?;
    asset_listing(&state, &uid, &asset_ids).await
}

/// `GET /oem/v1/entitlements/assets?assetIDs=a,b`: the same listing for the calling user.
async fn mine_for_assets(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<ApiOk, ApiError> {
    let uid = caller.end_user()?;
    let asset_ids = query_asset_ids(query.as_deref(), state.limits.max_list_len)?;
    asset_listing(&state, &uid, &asset_ids).await
}

async fn asset_listing(
    state: &AdminState,
    uid: &UserId,
    assets: &[AssetId],
) -> Result<ApiOk, ApiError> {
    let now = state.clock.now();
    let catalog = &state.catalog;
    let mut requested = BTreeSet::new();
    let assets: Vec<AssetId> = assets
        .iter()
        .filter(|asset| requested.insert(*asset))
        .cloned()
        .collect();
    // Assets in no package are left out of `assetPackages` (as in the spec's empty answer).
    let mut holding = catalog.packages_containing(&assets).await?;
    holding.retain(|(_, packages)| !packages.is_empty());
    let mut package_ids: Vec<PackageId> = Vec::new();
    let mut listed = BTreeSet::new();
    for package in holding.iter().flat_map(|(_, packages)| packages) {
        if listed.insert(package.clone()) {
            package_ids.push(package.clone());
        }
    }
    let entitled = catalog.entitled_packages(uid, now).await?;
    let products = state.billing.products_for_packages(&package_ids).await?;
    let view = PackageView {
        product_ids: true,
        products: &products,
        ..PackageView::default()
    };
    let found = catalog.packages_by_ids(&package_ids).await?;
    let billing_plans = state
        .billing
        .plans(&super::packages::plans_of(&found, &products))
        .await?;
    let packages: Vec<Value> = found
        .iter()
        .map(|package| {
            let mut shown = package_json(package, view);
            if let Value::Object(object) = &mut shown {
                let owned = package.bypass || entitled.contains(&package.id);
                object.insert("owned".into(), json!(owned));
            }
            shown
        })
        .collect();
    let asset_packages: Vec<Value> = holding
        .iter()
        .map(|(asset, packages)| json!({ "assetID": asset, "packageIDs": packages }))
        .collect();
    let grants: Vec<Value> = catalog
        .active_asset_entitlements(uid, &assets, now)
        .await?
        .iter()
        .map(|g| asset_entitlement_json(g, now))
        .collect();
    Ok(ApiOk::ok(json!({
        "assetPackages": asset_packages,
        "packages": packages,
        "products": products,
        "billingPlans": billing_plans,
        "assetEntitlements": grants,
    })))
}

/// `PUT /oem/v1/admin/entitlements/{userid}/assets`: grants the user the assets (re-granting replaces
/// the window). A body of the form `{"entitlement": …}` updates the entitlement to the package
/// `assets` instead (the path shadows `/{userid}/{packageID}` for that package).
async fn put_assets(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(userid): Path<String>,
    request: Request,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::EntitlementWrite)?;
    let uid = path_id("userid", userid, UserId::parse)?;
    let raw: Value = AdminJson::read(request).await?;
    if raw.get("entitlement").is_some() {
        let package = path_id("packageID", ASSETS_SEGMENT.to_owned(), PackageId::parse)?;
        return update_inner(&state, &uid, &package, from_value(raw)?).await;
    }
    let grant: AssetGrantBody = from_value(raw)?;
    check_list_len("assetIDs", &grant.asset_ids, state.limits.max_list_len)?;
    let now = state.clock.now();
    let start = match grant.start_date.as_deref() {
        Some(raw) => parse_date("startDate", raw)?,
        None => now,
    };
    let end = grant
        .end_date
        .as_deref()
        .map(|raw| parse_date("endDate", raw))
        .transpose()?;
    let granted: Vec<Value> = state
        .catalog
        .grant_assets(&uid, &grant.asset_ids, start, end, now)
        .await?
        .iter()
        .map(|g| asset_entitlement_json(g, now))
        .collect();
    Ok(ApiOk::ok(json!({ "assetEntitlements": granted })))
}

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

/// A JSON value already read, decoded as `T`: an unknown field is 1012, anything else 1011.
fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        if text.starts_with("unknown field") {
            let field = text.split('`').nth(1).unwrap_or("?");
            ApiError::new(AdminCode::UnknownField, format!("unknown field `{field}`"))
        } else {
            ApiError::new(AdminCode::InvalidField, text)
        }
    })
}

/// An identifier from the path.
fn path_id<T>(
    name: &str,
    raw: String,
    parse: fn(String) -> Result<T, IdError>,
) -> Result<T, ApiError> {
    parse(raw).map_err(|e| ApiError::new(AdminCode::InvalidField, format!("{name} {e}")))
}

fn path_pair(userid: String, package: String) -> Result<(UserId, PackageId), ApiError> {
    Ok((
        path_id("userid", userid, UserId::parse)?,
        path_id("packageID", package, PackageId::parse)?,
    ))
}

/// 200 with `{"entitlement": …}`.
fn entitlement_answer(entitlement: &Entitlement, now: DateTime<Utc>) -> ApiOk {
    ApiOk::ok(json!({ "entitlement": entitlement_json(entitlement, now) }))
}

/// The user is known and the package exists, but the user holds no entitlement to it.
fn no_entitlement(uid: &UserId, package: &PackageId) -> ApiError {
    ApiError::new(
        AdminCode::PackageNotFound,
        format!("user {uid} holds no entitlement to package {package}"),
    )
}

/// The `assetIDs` of a query string: comma-separated (the parameter may also repeat); blanks between
/// commas are skipped; at least one is required.
fn query_asset_ids(query: Option<&str>, max: usize) -> Result<Vec<AssetId>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| ApiError::new(AdminCode::InvalidQuery, "the query string is not valid"))?;
    let mut ids = Vec::new();
    for (_, value) in pairs.iter().filter(|(key, _)| key == "assetIDs") {
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let id = AssetId::parse(part).map_err(|e| {
                ApiError::new(
                    AdminCode::InvalidQuery,
                    format!("assetIDs: an asset ID {e}"),
                )
            })?;
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(ApiError::new(
            AdminCode::InvalidQuery,
            "assetIDs is required: a comma-separated list of asset IDs",
        ));
    }
    check_list_len("assetIDs", &ids, max)?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_asset_ids_split_on_commas_and_repeat() {
        let ids = query_asset_ids(Some("assetIDs=a1,%20a2,,a3&assetIDs=a4&x=y"), 10).unwrap();
        let ids: Vec<&str> = ids.iter().map(AssetId::as_str).collect();
        assert_eq!(ids, ["a1", "a2", "a3", "a4"]);
        for bad in [
            None,
            Some(""),
            Some("assetIDs="),
            Some("assetIDs=,,"),
            Some("x=a1"),
        ] {
            assert_eq!(
                query_asset_ids(bad, 10).unwrap_err().code,
                AdminCode::InvalidQuery,
                "{bad:?}"
            );
        }
        assert_eq!(
            query_asset_ids(Some("assetIDs=a%01"), 10).unwrap_err().code,
            AdminCode::InvalidQuery
        );
        assert_eq!(
            query_asset_ids(Some("assetIDs=a,b,c"), 2).unwrap_err().code,
            AdminCode::ListTooLong
        );
    }

    #[test]
    fn values_decode_with_the_admin_codes() {
        let unknown = from_value::<AssetListBody>(json!({"assetIDs": [], "assetIds": []}));
        assert_eq!(unknown.unwrap_err().code, AdminCode::UnknownField);
        let wrong = from_value::<AssetListBody>(json!({"assetIDs": "a1"}));
        assert_eq!(wrong.unwrap_err().code, AdminCode::InvalidField);
        let empty = from_value::<AssetListBody>(json!({"assetIDs": [""]}));
        assert_eq!(empty.unwrap_err().code, AdminCode::InvalidField);
    }
}
