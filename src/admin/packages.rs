//! Admin routes: packages (OEM v1 "Add/Update/Retrieve/List/Delete a package", free packages) and
//! assets in packages. Also the one rendering of a package as JSON, which the other route files use.
//!
//! Writes need the admin role (`Access::CatalogWrite`), reads any staff role. The role is checked
//! before the body is read, so a caller without the role learns nothing about its body's faults.
//!
//! `drmPolicy` (a sees extension) is the JSON of [`DrmPolicy`]: optional in the create and update
//! bodies (left out or null: none on create, unchanged on update; given: replaces the whole policy,
//! `{}` removes it), shown in answers only when the package sets one. A policy that does not decode
//! is 400 / 1012 (an unknown field) or 400 / 1011 (anything else), one that `DrmPolicy::problems`
//! finds fault with 400 / 1011; each message names the field (`package.drmPolicy.widevine.hdcp`) and
//! nothing is stored.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, put};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use super::auth::{Access, Caller};
use super::envelope::{
    bad_query, check_list_len, decode_body, invalid, replace_if_given, rfc3339, AdminJson,
    ApiError, ApiOk, Paging,
};
use super::errors::AdminCode;
use super::extract::{AdminPath, PackageParam, QueryPairs};
use super::AdminState;
use crate::catalog::{CatalogError, Package, Product};
use crate::drm::{DrmPolicy, FairPlayPolicy, PlayReadyPolicy, WidevinePolicy};
use crate::ids::{AssetId, BillingPlanId, PackageId, RegionId};

/// Which optional parts a package's JSON carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct PackageView<'a> {
    /// `excludeFields=assetids`.
    pub exclude_assets: bool,
    /// `productIDs` (single-package answers only, as the spec says).
    pub product_ids: bool,
    /// Known products: a billing plan sold through one shows its ID in `productIDs`.
    pub products: &'a [Product],
}

/// A package as the OEM API shows it. `regionWhitelist`, `customData` and `drmPolicy` appear when
/// non-empty; `productIDs` maps each billing plan to the ID of the package's product for it, or,
/// without one, to `<packageID>_<billingPlanID>` (the spec: "calculated on the fly using
/// packageID_billingPlanID"; also the ID such a product gets by default).
pub fn package_json(package: &Package, view: PackageView<'_>) -> Value {
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
            .map(|plan| {
                let id = view
                    .products
                    .iter()
                    .find(|p| p.package_id == package.id && p.billing_plan_id == *plan)
                    .map_or_else(|| format!("{}_{}", package.id, plan), |p| p.id.to_string());
                (plan.to_string(), json!(id))
            })
            .collect();
        object.insert("productIDs".into(), Value::Object(products));
    }
    if !package.region_ids.is_empty() {
        object.insert("regionWhitelist".into(), json!(package.region_ids));
    }
    if !package.custom_data.is_empty() {
        object.insert("customData".into(), json!(package.custom_data));
    }
    if !package.drm_policy.is_empty() {
        object.insert("drmPolicy".into(), json!(package.drm_policy));
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

/// The billing plans `packages` list and `products` are sold through, each once, in that order.
pub fn plans_of(packages: &[Package], products: &[Product]) -> Vec<BillingPlanId> {
    let mut seen = std::collections::HashSet::new();
    packages
        .iter()
        .flat_map(|p| p.billing_plan_ids.iter())
        .chain(products.iter().map(|p| &p.billing_plan_id))
        .filter(|plan| seen.insert(*plan))
        .cloned()
        .collect()
}

/// The package routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/oem/v1/user/packages", get(list).post(create))
        .route(
            "/oem/v1/user/packages/{packageID}",
            get(retrieve).put(update).delete(delete),
        )
        .route(
            "/oem/v1/packages/assets",
            put(add_assets).delete(remove_assets),
        )
}

/// The longest package name, in characters.
pub const NAME_MAX_CHARS: usize = 256;
/// The longest package description and custom data value, in characters.
pub const TEXT_MAX_CHARS: usize = 4096;
/// The longest custom data key, in characters.
pub const CUSTOM_KEY_MAX_CHARS: usize = 128;
/// The most custom data entries a package has.
pub const CUSTOM_MAX_ENTRIES: usize = 100;

/// `{"package": …}` of "Add a package" and "Add a free package".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    package: NewPackage,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewPackage {
    id: PackageId,
    name: String,
    description: String,
    #[serde(rename = "assetIDs")]
    asset_ids: Vec<AssetId>,
    #[serde(default, rename = "billingPlanIDs")]
    billing_plan_ids: Option<Vec<BillingPlanId>>,
    #[serde(default)]
    region_whitelist: Option<Vec<RegionId>>,
    #[serde(default)]
    bypass_entitlement_check: Option<bool>,
    #[serde(default)]
    custom_data: Option<CustomData>,
    /// Decoded by [`drm_policy_of`], which names the field at fault.
    #[serde(default)]
    drm_policy: Option<Value>,
}

/// `{"package": …}` of "Update a package": every field but `id` optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    package: PackagePatch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PackagePatch {
    id: PackageId,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "assetIDs")]
    asset_ids: Option<Vec<AssetId>>,
    #[serde(default, rename = "billingPlanIDs")]
    billing_plan_ids: Option<Vec<BillingPlanId>>,
    #[serde(default)]
    bypass_entitlement_check: Option<bool>,
    #[serde(default)]
    region_whitelist: Option<Vec<RegionId>>,
    #[serde(default)]
    custom_data: Option<CustomData>,
    /// Replaces the whole policy when given (`{}`: none); decoded by [`drm_policy_of`].
    #[serde(default)]
    drm_policy: Option<Value>,
}

/// `{"packageIDs": […], "assetIDs": […]}` of "Add/Remove assets to/from packages".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetsBody {
    #[serde(rename = "packageIDs")]
    package_ids: Vec<PackageId>,
    #[serde(rename = "assetIDs")]
    asset_ids: Vec<AssetId>,
}

/// `customData`: an object of strings, a key given twice refused (JSON parsers disagree on which
/// one wins).
#[derive(Debug)]
struct CustomData(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for CustomData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = CustomData;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CustomData, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, String>()? {
                    if entries.contains_key(&key) {
                        return Err(A::Error::custom(format!(
                            "customData has the key {key:?} twice"
                        )));
                    }
                    entries.insert(key, value);
                }
                Ok(CustomData(entries))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// A name: 1-256 characters, not blank, no control characters.
fn check_name(name: &str) -> Result<(), ApiError> {
    let chars = name.chars().count();
    if name.trim().is_empty() {
        return Err(invalid("package.name must not be empty or blank"));
    }
    if chars > NAME_MAX_CHARS {
        return Err(invalid(format!(
            "package.name has {chars} characters (at most {NAME_MAX_CHARS})"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("package.name contains a control character"));
    }
    Ok(())
}

/// Free text (a description, a custom data value): at most 4096 characters; of the control
/// characters only line breaks and tabs.
pub(super) fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    let chars = text.chars().count();
    if chars > TEXT_MAX_CHARS {
        return Err(invalid(format!(
            "{field} has {chars} characters (at most {TEXT_MAX_CHARS})"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(format!(
            "{field} contains a control character other than a line break or a tab"
        )));
    }
    Ok(())
}

/// A custom data key: 1-128 characters, not blank, no control characters.
pub(super) fn check_custom_key(key: &str) -> Result<(), String> {
    let chars = key.chars().count();
    if key.trim().is_empty() {
        Err("a customData key is empty or blank".to_owned())
    } else if chars > CUSTOM_KEY_MAX_CHARS {
        Err(format!(
            "a customData key has {chars} characters (at most {CUSTOM_KEY_MAX_CHARS})"
        ))
    } else if key.chars().any(char::is_control) {
        Err("a customData key contains a control character".to_owned())
    } else {
        Ok(())
    }
}

fn check_custom_data(data: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if data.len() > CUSTOM_MAX_ENTRIES {
        return Err(invalid(format!(
            "package.customData has {} keys (at most {CUSTOM_MAX_ENTRIES})",
            data.len()
        )));
    }
    for (key, value) in data {
        check_custom_key(key).map_err(invalid)?;
        check_text(&format!("package.customData.{key}"), value)?;
    }
    Ok(())
}

/// Where a body's DRM policy is, in messages.
const DRM_POLICY_FIELD: &str = "package.drmPolicy";

/// `package.drmPolicy` of a create or update body as the policy to store: decoded (an unknown field
/// is 400 / 1012, any other misfit 400 / 1011) and checked (`DrmPolicy::problems`, every problem in
/// one 400 / 1011), the message naming the field at fault.
fn drm_policy_of(raw: Value) -> Result<DrmPolicy, ApiError> {
    let policy = DrmPolicy::deserialize(&raw).map_err(|e| {
        let (path, e) = misfit_in_policy(&raw).unwrap_or_else(|| (DRM_POLICY_FIELD.to_owned(), e));
        let reason = e.to_string();
        let code = if reason.starts_with("unknown field") {
            AdminCode::UnknownField
        } else {
            AdminCode::InvalidField
        };
        ApiError::new(code, format!("{path}: {reason}"))
    })?;
    let problems = policy.problems(&format!("{DRM_POLICY_FIELD}."));
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(invalid(problems.join("; ")))
    }
}

/// The innermost field of the policy `raw` that does not decode (`package.drmPolicy.<drm>.<setting>`)
/// with serde's reason: each section, then each setting in it, decoded alone (all are optional).
fn misfit_in_policy(raw: &Value) -> Option<(String, serde_json::Error)> {
    let Value::Object(sections) = raw else {
        return None;
    };
    sections.iter().find_map(|(name, section)| {
        let e = DrmPolicy::deserialize(&alone(name, section)).err()?;
        let path = format!("{DRM_POLICY_FIELD}.{name}");
        let inner = match name.as_str() {
            "widevine" => misfit_in_section::<WidevinePolicy>(&path, section),
            "playready" => misfit_in_section::<PlayReadyPolicy>(&path, section),
            "fairplay" => misfit_in_section::<FairPlayPolicy>(&path, section),
            _ => None,
        };
        Some(inner.unwrap_or((path, e)))
    })
}

/// The setting of `section` (at `path`) that does not decode as part of a `T`.
fn misfit_in_section<T: DeserializeOwned>(
    path: &str,
    section: &Value,
) -> Option<(String, serde_json::Error)> {
    let Value::Object(settings) = section else {
        return None;
    };
    settings.iter().find_map(|(name, value)| {
        T::deserialize(&alone(name, value))
            .err()
            .map(|e| (format!("{path}.{name}"), e))
    })
}

/// `{name: value}`.
fn alone(name: &str, value: &Value) -> Value {
    Value::Object(Map::from_iter([(name.to_owned(), value.clone())]))
}

/// A body list: at most `max` entries, repeats dropped (the first occurrence kept).
fn body_list<T: Clone + Eq + std::hash::Hash>(
    field: &str,
    mut items: Vec<T>,
    max: usize,
) -> Result<Vec<T>, ApiError> {
    check_list_len(field, &items, max)?;
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items.retain(|item| seen.insert(item.clone()));
    Ok(items)
}

/// `excludeFields`: a comma-separated list whose only valid entry is `assetids` (any case).
pub fn exclude_fields(raw: &str) -> Result<bool, ApiError> {
    for field in raw.split(',').map(str::trim) {
        if !field.eq_ignore_ascii_case("assetids") {
            return Err(bad_query(format!(
                "excludeFields may only be assetids (not {field:?})"
            )));
        }
    }
    Ok(true)
}

fn single_view(exclude_assets: bool, products: &[Product]) -> PackageView<'_> {
    PackageView {
        exclude_assets,
        product_ids: true,
        products,
    }
}

/// `POST /oem/v1/user/packages`: adds a package, or a free one (`bypassEntitlementCheck: true`,
/// billing plans optional).
async fn create(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    body: Result<AdminJson<CreateBody>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminJson(CreateBody { package: new }) = caller.allowed(Access::CatalogWrite, body)?;
    let package = package_of(new, state.limits.max_list_len, state.clock.now())?;
    let stored = state.catalog.create_package(&package).await?;
    Ok(ApiOk::ok(
        json!({ "package": package_json(&stored, single_view(false, &[])) }),
    ))
}

/// A create body as the package to store at `now`: every field checked, lists at most `max` long.
fn package_of(new: NewPackage, max: usize, now: DateTime<Utc>) -> Result<Package, ApiError> {
    check_name(&new.name)?;
    check_text("package.description", &new.description)?;
    let bypass = new.bypass_entitlement_check.unwrap_or(false);
    let billing_plan_ids = match new.billing_plan_ids {
        Some(plans) => body_list("package.billingPlanIDs", plans, max)?,
        None if bypass => Vec::new(),
        None => {
            return Err(invalid(
                "package.billingPlanIDs is required unless bypassEntitlementCheck is true (a free package)",
            ))
        }
    };
    let custom_data = new.custom_data.map(|c| c.0).unwrap_or_default();
    check_custom_data(&custom_data)?;
    let drm_policy = new
        .drm_policy
        .map(drm_policy_of)
        .transpose()?
        .unwrap_or_default();
    Ok(Package {
        id: new.id,
        name: new.name,
        description: new.description,
        bypass,
        asset_ids: body_list("package.assetIDs", new.asset_ids, max)?,
        billing_plan_ids,
        region_ids: body_list(
            "package.regionWhitelist",
            new.region_whitelist.unwrap_or_default(),
            max,
        )?,
        custom_data,
        drm_policy,
        created_at: now,
        modified_at: now,
    })
}

/// Fuzzing: a create body decoded and checked as `POST /oem/v1/user/packages` does, without HTTP.
pub(super) fn fuzz_create(bytes: &[u8], max: usize, now: DateTime<Utc>) -> Result<(), ApiError> {
    let CreateBody { package } = decode_body(bytes)?;
    package_of(package, max, now).map(drop)
}

/// Fuzzing: an update body decoded as `PUT /oem/v1/user/packages/{packageID}` does.
pub(super) fn fuzz_update(bytes: &[u8]) -> Result<(), ApiError> {
    decode_body::<UpdateBody>(bytes).map(drop)
}

/// Fuzzing: an assets body decoded and checked as the package-assets routes do.
pub(super) fn fuzz_assets(bytes: &[u8], max: usize) -> Result<(), ApiError> {
    assets_body(decode_body(bytes).map(AdminJson), max).map(drop)
}

/// `PUT /oem/v1/user/packages/{packageID}`: changes the fields the body has; a list replaces the
/// whole list, a `drmPolicy` the whole policy.
async fn update(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<PackageParam>, ApiError>,
    body: Result<AdminJson<UpdateBody>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(id) = caller.allowed(Access::CatalogWrite, path)?;
    let AdminJson(UpdateBody { package: patch }) = body?;
    if patch.id != id {
        return Err(invalid(format!(
            "package.id ({}) differs from the packageID of the path ({id})",
            patch.id
        )));
    }
    let max = state.limits.max_list_len;
    if let Some(name) = &patch.name {
        check_name(name)?;
    }
    if let Some(description) = &patch.description {
        check_text("package.description", description)?;
    }
    let asset_ids = patch
        .asset_ids
        .map(|l| body_list("package.assetIDs", l, max))
        .transpose()?;
    let billing_plan_ids = patch
        .billing_plan_ids
        .map(|l| body_list("package.billingPlanIDs", l, max))
        .transpose()?;
    let region_ids = patch
        .region_whitelist
        .map(|l| body_list("package.regionWhitelist", l, max))
        .transpose()?;
    let custom_data = patch.custom_data.map(|c| c.0);
    if let Some(data) = &custom_data {
        check_custom_data(data)?;
    }
    let drm_policy = patch.drm_policy.map(drm_policy_of).transpose()?;
    let stored = state
        .catalog
        .update_package(&id, state.clock.now(), |package| {
            replace_if_given(&mut package.name, patch.name);
            replace_if_given(&mut package.description, patch.description);
            replace_if_given(&mut package.bypass, patch.bypass_entitlement_check);
            replace_if_given(&mut package.asset_ids, asset_ids);
            replace_if_given(&mut package.billing_plan_ids, billing_plan_ids);
            replace_if_given(&mut package.region_ids, region_ids);
            replace_if_given(&mut package.custom_data, custom_data);
            replace_if_given(&mut package.drm_policy, drm_policy);
        })
        .await?;
    let products = state
        .billing
        .products_for_packages(std::slice::from_ref(&stored.id))
        .await?;
    Ok(ApiOk::ok(
        json!({ "package": package_json(&stored, single_view(false, &products)) }),
    ))
}

/// `GET /oem/v1/user/packages/{packageID}`: the package with its productIDs.
async fn retrieve(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<PackageParam>, ApiError>,
    query: Result<QueryPairs, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(id) = caller.allowed(Access::Read, path)?;
    let mut exclude_assets = false;
    for (key, value) in query?.0 {
        match key.as_str() {
            "excludeFields" => exclude_assets = exclude_fields(&value)?,
            other => return Err(bad_query(format!("unknown query parameter {other:?}"))),
        }
    }
    let package = state.catalog.package(&id).await?;
    let products = state
        .billing
        .products_for_packages(std::slice::from_ref(&package.id))
        .await?;
    Ok(ApiOk::ok(
        json!({ "package": package_json(&package, single_view(exclude_assets, &products)) }),
    ))
}

/// `DELETE /oem/v1/user/packages/{packageID}`: the package goes, and with it its lists, its edges
/// in the package graph and the entitlements to it.
async fn delete(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<PackageParam>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(id) = caller.allowed(Access::CatalogWrite, path)?;
    state.catalog.delete_package(&id).await?;
    Ok(ApiOk::deleted(format_args!("Package {id}")))
}

/// The query of a package list, read: the filter (with its order), the page and the view.
pub struct ListQuery {
    pub filter: crate::catalog::PackageQuery,
    pub paging: Paging,
    pub exclude_assets: bool,
    /// The `include` values (v2 only).
    pub include: Vec<String>,
}

/// The entries of an `include` value: comma-separated, trimmed, lower-cased, empty ones dropped.
pub fn include_values(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
}

/// Reads a package list's query: `count`, `skip`, `sort`, `excludeFields`, `subscriptions`,
/// `billingPlanIDs`, `customData.<key>`, and `include` when `with_include` (v2); anything else is
/// refused.
pub fn list_query(
    pairs: Vec<(String, String)>,
    limits: super::AdminLimits,
    with_include: bool,
) -> Result<ListQuery, ApiError> {
    let mut count = None;
    let mut skip = None;
    let mut sort = None;
    let mut include = Vec::new();
    let mut exclude_assets = false;
    let mut filter = Package::query();
    let mut plans = Vec::new();
    let mut custom = 0usize;
    for (key, value) in pairs {
        let once = |slot: &Option<String>| {
            if slot.is_some() {
                Err(bad_query(format!("{key} is given more than once")))
            } else {
                Ok(())
            }
        };
        match key.as_str() {
            "count" => {
                once(&count)?;
                count = Some(value);
            }
            "skip" => {
                once(&skip)?;
                skip = Some(value);
            }
            "sort" => {
                once(&sort)?;
                sort = Some(value);
            }
            "include" if with_include => include.extend(include_values(&value)),
            "excludeFields" => exclude_assets = exclude_fields(&value)?,
            "subscriptions" => filter = filter.subscriptions_only(),
            "billingPlanIDs" => {
                for raw in value.split(',').map(str::trim) {
                    let plan = BillingPlanId::parse(raw)
                        .map_err(|e| bad_query(format!("billingPlanIDs: a billing plan ID {e}")))?;
                    plans.push(plan);
                }
                if plans.len() > limits.max_list_len {
                    return Err(bad_query(format!(
                        "billingPlanIDs names {} billing plans (at most {})",
                        plans.len(),
                        limits.max_list_len
                    )));
                }
            }
            _ => match key.strip_prefix("customData.") {
                Some(name) => {
                    check_custom_key(name).map_err(bad_query)?;
                    if value.chars().count() > TEXT_MAX_CHARS {
                        return Err(bad_query(format!(
                            "customData.{name} is longer than {TEXT_MAX_CHARS} characters"
                        )));
                    }
                    custom += 1;
                    if custom > CUSTOM_MAX_ENTRIES {
                        return Err(bad_query(format!(
                            "at most {CUSTOM_MAX_ENTRIES} customData filters"
                        )));
                    }
                    filter = filter.with_custom_data(name, value);
                }
                None => return Err(bad_query(format!("unknown query parameter {key:?}"))),
            },
        }
    }
    let paging = Paging::parse(count.as_deref(), skip.as_deref(), limits.max_page_size)?;
    filter = filter.with_any_billing_plan(plans);
    if let Some(raw) = sort {
        let (descending, field) = match raw.strip_prefix('-') {
            Some(field) => (true, field),
            None => (false, raw.as_str()),
        };
        filter = match field.to_ascii_lowercase().as_str() {
            "id" => filter.order_by_id(),
            "name" => filter.order_by_name(),
            "createdtimestamp" => filter.order_by_created(),
            "modifiedtimestamp" => filter.order_by_modified(),
            _ => {
                return Err(bad_query(format!(
                    "sort must be id, name, createdTimestamp or modifiedTimestamp, optionally after a - (not {raw:?})"
                )))
            }
        }
        .descending(descending);
    }
    Ok(ListQuery {
        filter,
        paging,
        exclude_assets,
        include,
    })
}

/// `GET /oem/v1/user/packages`: a page of packages, filtered by `subscriptions`, `billingPlanIDs`
/// and `customData.<key>`, sorted by `sort`.
async fn list(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    query: Result<QueryPairs, ApiError>,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::Read)?;
    let query = list_query(query?.0, state.limits, false)?;
    let (packages, total) = state
        .catalog
        .list_packages(&query.filter, query.paging.count, query.paging.skip)
        .await?;
    let view = PackageView {
        exclude_assets: query.exclude_assets,
        ..PackageView::default()
    };
    let rendered: Vec<Value> = packages.iter().map(|p| package_json(p, view)).collect();
    Ok(query.paging.answer("packages", &rendered, total))
}

/// Checks an assets body: both lists non-empty and within the limit, repeats dropped.
fn assets_body(
    body: Result<AdminJson<AssetsBody>, ApiError>,
    max: usize,
) -> Result<(Vec<PackageId>, Vec<AssetId>), ApiError> {
    let AdminJson(body) = body?;
    if body.package_ids.is_empty() {
        return Err(invalid("packageIDs must name at least one package"));
    }
    if body.asset_ids.is_empty() {
        return Err(invalid("assetIDs must name at least one asset"));
    }
    Ok((
        body_list("packageIDs", body.package_ids, max)?,
        body_list("assetIDs", body.asset_ids, max)?,
    ))
}

/// A `PackageNotFound` from a multi-package change, naming every missing package.
async fn name_missing(state: &AdminState, packages: &[PackageId], e: CatalogError) -> ApiError {
    if !matches!(e, CatalogError::PackageNotFound(_)) {
        return e.into();
    }
    match state.catalog.missing_packages(packages).await {
        Ok(missing) if !missing.is_empty() => {
            const SHOWN: usize = 20;
            let names: Vec<&str> = missing.iter().take(SHOWN).map(PackageId::as_str).collect();
            let more = match missing.len().saturating_sub(SHOWN) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            ApiError::new(
                AdminCode::PackageNotFound,
                format!(
                    "no package with the ID(s) {}{more}; nothing was changed",
                    names.join(", ")
                ),
            )
        }
        Ok(_) => e.into(),
        Err(store) => store.into(),
    }
}

/// Which way a package-assets change goes.
#[derive(Debug, Clone, Copy)]
enum AssetsChange {
    Add,
    Remove,
}

/// `PUT /oem/v1/packages/assets`: adds every asset to every package (appended; those a package has
/// already stay where they are), all or nothing.
async fn add_assets(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    body: Result<AdminJson<AssetsBody>, ApiError>,
) -> Result<ApiOk, ApiError> {
    change_assets(&state, &caller, body, AssetsChange::Add).await
}

/// `DELETE /oem/v1/packages/assets`: removes every asset from every package, all or nothing.
async fn remove_assets(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    body: Result<AdminJson<AssetsBody>, ApiError>,
) -> Result<ApiOk, ApiError> {
    change_assets(&state, &caller, body, AssetsChange::Remove).await
}

/// What both package-assets routes do, in their direction.
async fn change_assets(
    state: &AdminState,
    caller: &Caller,
    body: Result<AdminJson<AssetsBody>, ApiError>,
    change: AssetsChange,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::CatalogWrite)?;
    let (packages, assets) = assets_body(body, state.limits.max_list_len)?;
    let now = state.clock.now();
    let (result, done) = match change {
        AssetsChange::Add => (
            state.catalog.add_assets(&packages, &assets, now).await,
            "added to",
        ),
        AssetsChange::Remove => (
            state.catalog.remove_assets(&packages, &assets, now).await,
            "removed from",
        ),
    };
    let changed = match result {
        Ok(changed) => changed,
        Err(e) => return Err(name_missing(state, &packages, e).await),
    };
    Ok(ApiOk::ok(json!({
        "message": format!(
            "{} asset(s) {done} {} package(s); {} package(s) changed.",
            assets.len(),
            packages.len(),
            changed.len()
        ),
        "packageIDs": packages,
    })))
}
