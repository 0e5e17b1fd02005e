//! Admin routes for billing plans and products — sees extensions: the OEM spec shows both objects in
//! its answers (`billingPlans`, `products`) but has no routes to manage them. Bodies and answers wrap
//! the object as the package routes do (`{"billingPlan": …}`, `{"product": …}`); lists are
//! `{"billingPlans"|"products": […], "metadata": …}` with `count`/`skip` paging.
//!
//! Writes need the admin role (`Access::CatalogWrite`), reads any staff role; the role is checked
//! before the body is read. Every value is checked here, at the edge: periods (`1M`, `3d`), currency
//! codes, non-negative prices, language tags, store names and the package rules for text and
//! `customData`.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::auth::{Access, Caller};
use super::envelope::{
    bad_query, decode_body, invalid, replace_if_given, AdminJson, ApiError, ApiOk, Paging,
};
use super::extract::{AdminPath, BillingPlanParam, ProductParam, QueryPairs};
use super::packages::{check_custom_key, check_text, CUSTOM_MAX_ENTRIES, NAME_MAX_CHARS};
use super::AdminState;
use crate::catalog::{
    BillingPlan, Currency, Localized, Period, Price, Prices, Product, ProductFilter, StoreProduct,
    TrialPeriod,
};
use crate::ids::{BillingPlanId, PackageId, ProductId};

/// The most stores a billing plan prices in, or a product has data for.
pub const STORES_MAX: usize = 100;
/// The most currencies one store's prices have.
pub const CURRENCIES_MAX: usize = 200;
/// The most languages a localized text has.
pub const LANGUAGES_MAX: usize = 100;
/// The longest language tag (BCP 47's practical limit).
pub const LANGUAGE_MAX_CHARS: usize = 35;
/// The longest store name, in characters.
pub const STORE_NAME_MAX_CHARS: usize = 128;
/// The longest `storeProductID`, in characters.
pub const STORE_PRODUCT_ID_MAX_CHARS: usize = 256;
/// The most trial cycles.
pub const TRIAL_CYCLES_MAX: u32 = 999;

/// The billing plan and product routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/oem/v1/billingplans", get(list_plans).post(create_plan))
        .route(
            "/oem/v1/billingplans/{billingPlanID}",
            get(retrieve_plan).put(update_plan).delete(delete_plan),
        )
        .route("/oem/v1/products", get(list_products).post(create_product))
        .route(
            "/oem/v1/products/{productID}",
            get(retrieve_product)
                .put(update_product)
                .delete(delete_product),
        )
}

/// `{"billingPlan": …}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody<T> {
    #[serde(rename = "billingPlan")]
    billing_plan: T,
}

/// `{"product": …}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductBody<T> {
    product: T,
}

/// Prices as sent: store → currency → number.
type RawPrices = UniqueMap<UniqueMap<serde_json::Number>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewPlan {
    id: BillingPlanId,
    #[serde(default)]
    description: Option<String>,
    recurrence: String,
    #[serde(default)]
    prices: Option<RawPrices>,
    #[serde(default, rename = "trialperiod")]
    trial_period: Option<TrialBody>,
    #[serde(default)]
    custom_data: Option<UniqueMap<String>>,
}

/// Every field optional; `trialperiod: null` removes the trial.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PlanPatch {
    #[serde(default)]
    id: Option<BillingPlanId>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    recurrence: Option<String>,
    #[serde(default)]
    prices: Option<RawPrices>,
    #[serde(default, rename = "trialperiod", deserialize_with = "present")]
    trial_period: Option<Option<TrialBody>>,
    #[serde(default)]
    custom_data: Option<UniqueMap<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TrialBody {
    cycle_length: String,
    cycles: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    #[serde(default)]
    id: Option<ProductId>,
    #[serde(rename = "packageID")]
    package_id: PackageId,
    #[serde(rename = "billingPlanID")]
    billing_plan_id: BillingPlanId,
    name: UniqueMap<String>,
    #[serde(default, rename = "shortDesc")]
    short_desc: Option<UniqueMap<String>>,
    #[serde(default, rename = "longDesc")]
    long_desc: Option<UniqueMap<String>>,
    #[serde(default, rename = "storeData")]
    store_data: Option<UniqueMap<StoreBody>>,
}

/// Every field optional; `packageID` and `billingPlanID` may only repeat the product's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductPatch {
    #[serde(default)]
    id: Option<ProductId>,
    #[serde(default, rename = "packageID")]
    package_id: Option<PackageId>,
    #[serde(default, rename = "billingPlanID")]
    billing_plan_id: Option<BillingPlanId>,
    #[serde(default)]
    name: Option<UniqueMap<String>>,
    #[serde(default, rename = "shortDesc")]
    short_desc: Option<UniqueMap<String>>,
    #[serde(default, rename = "longDesc")]
    long_desc: Option<UniqueMap<String>>,
    #[serde(default, rename = "storeData")]
    store_data: Option<UniqueMap<StoreBody>>,
    #[serde(default)]
    version: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreBody {
    #[serde(rename = "storeProductID")]
    store_product_id: String,
    #[serde(default, rename = "customData")]
    custom_data: Option<UniqueMap<String>>,
}

/// A present field, `null` included (`Some(None)`); an absent one stays `None` through `default`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A JSON object whose keys are unique (a key given twice is refused: JSON parsers disagree on which
/// one wins).
#[derive(Debug)]
struct UniqueMap<V>(BTreeMap<String, V>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = UniqueMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueMap<V>, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.contains_key(&key) {
                        return Err(A::Error::custom(format!(
                            "an object has the key {key:?} twice"
                        )));
                    }
                    let value = map.next_value::<V>()?;
                    entries.insert(key, value);
                }
                Ok(UniqueMap(entries))
            }
        }
        d.deserialize_map(Entries(PhantomData))
    }
}

/// A short label (a store name, a `storeProductID`, a product name): 1-`max` characters, not blank,
/// no control characters.
fn check_label(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        Err(invalid(format!("{field} must not be empty or blank")))
    } else if chars > max {
        Err(invalid(format!(
            "{field} has {chars} characters (at most {max})"
        )))
    } else if text.chars().any(char::is_control) {
        Err(invalid(format!("{field} contains a control character")))
    } else {
        Ok(())
    }
}

fn check_entries(field: &str, n: usize, max: usize) -> Result<(), ApiError> {
    if n > max {
        return Err(invalid(format!("{field} has {n} entries (at most {max})")));
    }
    Ok(())
}

/// A period field (`recurrence`, `trialperiod.cycleLength`).
fn period(field: &str, raw: &str) -> Result<Period, ApiError> {
    Period::parse(raw).map_err(|e| invalid(format!("{field} {e} (not {raw:?})")))
}

/// `customData` with the package rules: at most 100 keys of 1-128 characters, values of at most
/// 4096 characters.
fn custom_data(field: &str, data: UniqueMap<String>) -> Result<BTreeMap<String, String>, ApiError> {
    let data = data.0;
    check_entries(field, data.len(), CUSTOM_MAX_ENTRIES)?;
    for (key, value) in &data {
        check_custom_key(key).map_err(|e| invalid(format!("{field}: {e}")))?;
        check_text(&format!("{field}.{key}"), value)?;
    }
    Ok(data)
}

/// `prices`: store names as labels, ISO 4217 currency codes, non-negative numbers.
fn prices(raw: RawPrices) -> Result<Prices, ApiError> {
    check_entries("billingPlan.prices", raw.0.len(), STORES_MAX)?;
    let mut prices = Prices::new();
    for (store, currencies) in raw.0 {
        let field = format!("billingPlan.prices.{store}");
        check_label(
            "a billingPlan.prices store name",
            &store,
            STORE_NAME_MAX_CHARS,
        )?;
        check_entries(&field, currencies.0.len(), CURRENCIES_MAX)?;
        let mut by_currency = BTreeMap::new();
        for (code, number) in currencies.0 {
            let currency = Currency::parse(&code)
                .map_err(|e| invalid(format!("{field}: the currency {code:?} {e}")))?;
            let price = Price::new(number.clone())
                .map_err(|e| invalid(format!("{field}.{code} {e} (not {number})")))?;
            by_currency.insert(currency, price);
        }
        prices.insert(store, by_currency);
    }
    Ok(prices)
}

fn trial(raw: TrialBody) -> Result<TrialPeriod, ApiError> {
    let cycle_length = period("billingPlan.trialperiod.cycleLength", &raw.cycle_length)?;
    if !(1..=TRIAL_CYCLES_MAX).contains(&raw.cycles) {
        return Err(invalid(format!(
            "billingPlan.trialperiod.cycles must be 1-{TRIAL_CYCLES_MAX} (not {})",
            raw.cycles
        )));
    }
    Ok(TrialPeriod {
        cycle_length,
        cycles: raw.cycles,
    })
}

/// A language tag as BCP 47 shapes it: a 1-8 letter primary subtag, then `-` and 1-8 letters or
/// digits per subtag (`en`, `pt-BR`, `zh-Hant-TW`); at most 35 characters.
fn check_language(field: &str, tag: &str) -> Result<(), ApiError> {
    let mut subtags = tag.split('-');
    let primary_ok = subtags
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    let rest_ok =
        subtags.all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    if primary_ok && rest_ok && tag.len() <= LANGUAGE_MAX_CHARS {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field}: {tag:?} is not a language tag (such as en or pt-BR)"
        )))
    }
}

/// Which text a localized field holds.
#[derive(Clone, Copy)]
enum Text {
    /// A name: 1-256 characters, not blank, no control characters.
    Name,
    /// A description: at most 4096 characters, line breaks and tabs allowed.
    Description,
}

fn localized(field: &str, raw: UniqueMap<String>, text: Text) -> Result<Localized, ApiError> {
    let map = raw.0;
    check_entries(field, map.len(), LANGUAGES_MAX)?;
    for (language, value) in &map {
        check_language(field, language)?;
        let at = format!("{field}.{language}");
        match text {
            Text::Name => check_label(&at, value, NAME_MAX_CHARS)?,
            Text::Description => check_text(&at, value)?,
        }
    }
    Ok(map)
}

fn store_data(raw: UniqueMap<StoreBody>) -> Result<BTreeMap<String, StoreProduct>, ApiError> {
    check_entries("product.storeData", raw.0.len(), STORES_MAX)?;
    let mut data = BTreeMap::new();
    for (store, body) in raw.0 {
        check_label(
            "a product.storeData store name",
            &store,
            STORE_NAME_MAX_CHARS,
        )?;
        let field = format!("product.storeData.{store}");
        check_label(
            &format!("{field}.storeProductID"),
            &body.store_product_id,
            STORE_PRODUCT_ID_MAX_CHARS,
        )?;
        let custom = body
            .custom_data
            .map(|c| custom_data(&format!("{field}.customData"), c))
            .transpose()?
            .unwrap_or_default();
        data.insert(
            store,
            StoreProduct {
                store_product_id: body.store_product_id,
                custom_data: custom,
            },
        );
    }
    Ok(data)
}

/// The product's name: at least one language.
fn product_name(raw: UniqueMap<String>) -> Result<Localized, ApiError> {
    let name = localized("product.name", raw, Text::Name)?;
    if name.is_empty() {
        return Err(invalid(
            "product.name must have a name in at least one language",
        ));
    }
    Ok(name)
}

/// A billing list's query: `count` and `skip` (the page) and the `filters` named, each at most once;
/// any other parameter is refused. The filters' values are in the order of `filters`.
fn list_query<const N: usize>(
    query: Result<QueryPairs, ApiError>,
    filters: [&str; N],
    max_page_size: u32,
) -> Result<(Paging, [Option<String>; N]), ApiError> {
    let mut count = None;
    let mut skip = None;
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for (key, value) in query?.0 {
        let slot = match key.as_str() {
            "count" => &mut count,
            "skip" => &mut skip,
            other => match filters.iter().position(|f| *f == other) {
                Some(i) => &mut values[i],
                None => return Err(bad_query(format!("unknown query parameter {other:?}"))),
            },
        };
        if slot.is_some() {
            return Err(bad_query(format!("{key} is given more than once")));
        }
        *slot = Some(value);
    }
    let paging = Paging::parse(count.as_deref(), skip.as_deref(), max_page_size)?;
    Ok((paging, values))
}

/// Refuses a body `id` that is not the one of the path.
fn same_id<T: PartialEq + fmt::Display>(
    field: &str,
    given: Option<&T>,
    param: &str,
    id: &T,
) -> Result<(), ApiError> {
    match given {
        Some(given) if given != id => Err(invalid(format!(
            "{field} ({given}) differs from the {param} of the path ({id})"
        ))),
        _ => Ok(()),
    }
}

fn plan_answer(plan: &BillingPlan) -> ApiOk {
    ApiOk::ok(json!({ "billingPlan": plan }))
}

fn product_answer(product: &Product) -> ApiOk {
    ApiOk::ok(json!({ "product": product }))
}

/// `POST /oem/v1/billingplans`: adds a billing plan.
async fn create_plan(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    body: Result<AdminJson<PlanBody<NewPlan>>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminJson(PlanBody { billing_plan: new }) = caller.allowed(Access::CatalogWrite, body)?;
    let stored = state.billing.create_plan(&plan_of(new)?).await?;
    Ok(plan_answer(&stored))
}

/// Fuzzing: a body decoded and checked as `POST /oem/v1/billingplans` does, without HTTP.
pub(super) fn fuzz_create_plan(bytes: &[u8]) -> Result<(), ApiError> {
    let PlanBody { billing_plan } = decode_body::<PlanBody<NewPlan>>(bytes)?;
    plan_of(billing_plan).map(drop)
}

/// Fuzzing: a body decoded as `POST /oem/v1/products` does.
pub(super) fn fuzz_create_product(bytes: &[u8]) -> Result<(), ApiError> {
    decode_body::<ProductBody<NewProduct>>(bytes).map(drop)
}

/// A create body as the plan to store, every field checked.
fn plan_of(new: NewPlan) -> Result<BillingPlan, ApiError> {
    let description = new.description.unwrap_or_default();
    check_text("billingPlan.description", &description)?;
    let plan = BillingPlan {
        id: new.id,
        description,
        recurrence: period("billingPlan.recurrence", &new.recurrence)?,
        prices: new.prices.map(prices).transpose()?.unwrap_or_default(),
        trial_period: new.trial_period.map(trial).transpose()?,
        custom_data: new
            .custom_data
            .map(|c| custom_data("billingPlan.customData", c))
            .transpose()?
            .unwrap_or_default(),
    };
    Ok(plan)
}

/// `GET /oem/v1/billingplans/{billingPlanID}`.
async fn retrieve_plan(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<BillingPlanParam>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(id) = caller.allowed(Access::Read, path)?;
    Ok(plan_answer(&state.billing.plan(&id).await?))
}

/// `PUT /oem/v1/billingplans/{billingPlanID}`: changes the fields the body has; `prices` and
/// `customData` are replaced whole, `trialperiod: null` removes the trial.
async fn update_plan(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<BillingPlanParam>, ApiError>,
    body: Result<AdminJson<PlanBody<PlanPatch>>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(id) = caller.allowed(Access::CatalogWrite, path)?;
    let AdminJson(PlanBody {
        billing_plan: patch,
    }) = body?;
    same_id("billingPlan.id", patch.id.as_ref(), "billingPlanID", &id)?;
    if let Some(description) = &patch.description {
        check_text("billingPlan.description", description)?;
    }
    let recurrence = patch
        .recurrence
        .map(|r| period("billingPlan.recurrence", &r))
        .transpose()?;
    let new_prices = patch.prices.map(prices).transpose()?;
    let trial_period = patch
        .trial_period
        .map(|t| t.map(trial).transpose())
        .transpose()?;
    let custom = patch
        .custom_data
        .map(|c| custom_data("billingPlan.customData", c))
        .transpose()?;
    let stored = state
        .billing
        .update_plan(&id, |plan| {
            replace_if_given(&mut plan.description, patch.description);
            replace_if_given(&mut plan.recurrence, recurrence);
            replace_if_given(&mut plan.prices, new_prices);
            replace_if_given(&mut plan.trial_period, trial_period);
            replace_if_given(&mut plan.custom_data, custom);
        })
        .await?;
    Ok(plan_answer(&stored))
}

/// `DELETE /oem/v1/billingplans/{billingPlanID}`: refused (409 / 1056) while a product or a
/// package's `billingPlanIDs` uses the plan.
async fn delete_plan(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<BillingPlanParam>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(id) = caller.allowed(Access::CatalogWrite, path)?;
    state.billing.delete_plan(&id).await?;
    Ok(ApiOk::deleted(format_args!("Billing plan {id}")))
}

/// `GET /oem/v1/billingplans`: a page of billing plans, by ID.
async fn list_plans(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    query: Result<QueryPairs, ApiError>,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::Read)?;
    let (paging, []) = list_query(query, [], state.limits.max_page_size)?;
    let (plans, total) = state.billing.list_plans(paging.count, paging.skip).await?;
    Ok(paging.answer("billingPlans", &plans, total))
}

/// `POST /oem/v1/products`: adds a product; without an `id` it is `<packageID>_<billingPlanID>`.
async fn create_product(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    body: Result<AdminJson<ProductBody<NewProduct>>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminJson(ProductBody { product: new }) = caller.allowed(Access::CatalogWrite, body)?;
    let id = match new.id {
        Some(id) => id,
        None => Product::default_id(&new.package_id, &new.billing_plan_id).map_err(|e| {
            invalid(format!(
                "the default product ID <packageID>_<billingPlanID> {e}: give product.id"
            ))
        })?,
    };
    let now = state.clock.now();
    let product = Product {
        id,
        package_id: new.package_id,
        billing_plan_id: new.billing_plan_id,
        name: product_name(new.name)?,
        short_desc: new
            .short_desc
            .map(|d| localized("product.shortDesc", d, Text::Description))
            .transpose()?
            .unwrap_or_default(),
        long_desc: new
            .long_desc
            .map(|d| localized("product.longDesc", d, Text::Description))
            .transpose()?
            .unwrap_or_default(),
        store_data: new
            .store_data
            .map(store_data)
            .transpose()?
            .unwrap_or_default(),
        version: 1,
        created: now,
        modified: now,
    };
    let stored = state.billing.create_product(&product).await?;
    Ok(product_answer(&stored))
}

/// `GET /oem/v1/products/{productID}`.
async fn retrieve_product(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<ProductParam>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(id) = caller.allowed(Access::Read, path)?;
    Ok(product_answer(&state.billing.product(&id).await?))
}

/// `PUT /oem/v1/products/{productID}`: changes the fields the body has (each replaced whole); with
/// `version`, only if that is still the product's version (409 / 1055 otherwise).
async fn update_product(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<ProductParam>, ApiError>,
    body: Result<AdminJson<ProductBody<ProductPatch>>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(id) = caller.allowed(Access::CatalogWrite, path)?;
    let AdminJson(ProductBody { product: patch }) = body?;
    same_id("product.id", patch.id.as_ref(), "productID", &id)?;
    let name = patch.name.map(product_name).transpose()?;
    let short_desc = patch
        .short_desc
        .map(|d| localized("product.shortDesc", d, Text::Description))
        .transpose()?;
    let long_desc = patch
        .long_desc
        .map(|d| localized("product.longDesc", d, Text::Description))
        .transpose()?;
    let stores = patch.store_data.map(store_data).transpose()?;
    if patch.package_id.is_some() || patch.billing_plan_id.is_some() {
        // A product's package and plan are what it is: check against the stored product.
        let current = state.billing.product(&id).await?;
        if let Some(package) = patch.package_id.filter(|p| *p != current.package_id) {
            return Err(invalid(format!(
                "product.packageID cannot change ({} → {package}): add another product",
                current.package_id
            )));
        }
        if let Some(plan) = patch
            .billing_plan_id
            .filter(|p| *p != current.billing_plan_id)
        {
            return Err(invalid(format!(
                "product.billingPlanID cannot change ({} → {plan}): add another product",
                current.billing_plan_id
            )));
        }
    }
    let stored = state
        .billing
        .update_product(&id, patch.version, state.clock.now(), |product| {
            replace_if_given(&mut product.name, name);
            replace_if_given(&mut product.short_desc, short_desc);
            replace_if_given(&mut product.long_desc, long_desc);
            replace_if_given(&mut product.store_data, stores);
        })
        .await?;
    Ok(product_answer(&stored))
}

/// `DELETE /oem/v1/products/{productID}`.
async fn delete_product(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath<ProductParam>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(id) = caller.allowed(Access::CatalogWrite, path)?;
    state.billing.delete_product(&id).await?;
    Ok(ApiOk::deleted(format_args!("Product {id}")))
}

/// `GET /oem/v1/products`: a page of products, by ID, narrowed by `packageID` and `billingPlanID`.
async fn list_products(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    query: Result<QueryPairs, ApiError>,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::Read)?;
    let (paging, [package, plan]) = list_query(
        query,
        ["packageID", "billingPlanID"],
        state.limits.max_page_size,
    )?;
    let filter = ProductFilter {
        package: package
            .map(|p| PackageId::parse(p).map_err(|e| bad_query(format!("packageID {e}"))))
            .transpose()?,
        billing_plan: plan
            .map(|p| BillingPlanId::parse(p).map_err(|e| bad_query(format!("billingPlanID {e}"))))
            .transpose()?,
    };
    let (products, total) = state
        .billing
        .list_products(&filter, paging.count, paging.skip)
        .await?;
    Ok(paging.answer("products", &products, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map<V>(entries: Vec<(&str, V)>) -> UniqueMap<V> {
        UniqueMap(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    fn code<T: fmt::Debug>(result: Result<T, ApiError>) -> u32 {
        result.unwrap_err().code.number()
    }

    #[test]
    fn unique_maps_refuse_a_key_given_twice() {
        let twice = serde_json::from_str::<UniqueMap<String>>(r#"{"a": "1", "a": "2"}"#);
        assert!(twice.unwrap_err().to_string().contains("twice"));
        let ok = serde_json::from_str::<UniqueMap<String>>(r#"{"a": "1", "b": "2"}"#).unwrap();
        assert_eq!(ok.0.len(), 2);
        assert!(serde_json::from_str::<UniqueMap<String>>(r#"["a"]"#).is_err());
    }

    #[test]
    fn prices_check_stores_currencies_and_amounts() {
        let n = |v: f64| serde_json::Number::from_f64(v).unwrap();
        let good = prices(map(vec![
            ("Apple", map(vec![("USD", n(3.99)), ("CAD", 0.into())])),
            ("Amazon", map(vec![])),
        ]))
        .unwrap();
        assert_eq!(good.len(), 2);
        for bad in [
            map(vec![("Apple", map(vec![("usd", n(1.0))]))]),
            map(vec![("Apple", map(vec![("US", n(1.0))]))]),
            map(vec![("Apple", map(vec![("USD", n(-0.01))]))]),
            map(vec![("Apple", map(vec![("USD", (-1_i64).into())]))]),
            map(vec![("  ", map(vec![("USD", n(1.0))]))]),
            map(vec![("Ap\u{7}ple", map(vec![]))]),
        ] {
            assert_eq!(code(prices(bad)), 1011);
        }
        let many: Vec<(String, UniqueMap<serde_json::Number>)> = (0..=STORES_MAX)
            .map(|i| (format!("s{i}"), map(vec![])))
            .collect();
        assert_eq!(code(prices(UniqueMap(many.into_iter().collect()))), 1011);
    }

    #[test]
    fn trials_need_a_period_and_some_cycles() {
        let t = |len: &str, cycles| {
            trial(TrialBody {
                cycle_length: len.to_owned(),
                cycles,
            })
        };
        assert_eq!(t("3d", 1).unwrap().cycles, 1);
        assert_eq!(code(t("3 days", 1)), 1011);
        assert_eq!(code(t("3d", 0)), 1011);
        assert_eq!(code(t("3d", TRIAL_CYCLES_MAX + 1)), 1011);
    }

    #[test]
    fn language_tags_and_localized_text() {
        for good in ["en", "pt-BR", "zh-Hant-TW", "es-419"] {
            assert!(check_language("f", good).is_ok(), "{good}");
        }
        for bad in ["", "e n", "en-", "-en", "en_US", "123", "toolongtag", "é"] {
            assert_eq!(code(check_language("f", bad)), 1011, "{bad:?}");
        }
        assert!(localized("d", map(vec![("en", "a\nb\t".into())]), Text::Description).is_ok());
        assert_eq!(
            code(localized("n", map(vec![("en", "a\nb".into())]), Text::Name)),
            1011
        );
        assert_eq!(
            code(localized("n", map(vec![("en", " ".into())]), Text::Name)),
            1011
        );
        assert_eq!(code(product_name(map(vec![]))), 1011);
    }

    #[test]
    fn store_data_checks_ids_and_custom_data() {
        let body = |id: &str, custom: Option<Vec<(&str, String)>>| StoreBody {
            store_product_id: id.to_owned(),
            custom_data: custom.map(map),
        };
        assert!(store_data(map(vec![("Apple", body("X", None))])).is_ok());
        assert_eq!(code(store_data(map(vec![("Apple", body("", None))]))), 1011);
        assert_eq!(
            code(store_data(map(vec![(
                "Apple",
                body("X", Some(vec![("", "v".into())]))
            )]))),
            1011
        );
        assert_eq!(
            code(store_data(map(vec![(
                "Apple",
                body("X", Some(vec![("k", "x".repeat(4097))]))
            )]))),
            1011
        );
    }
}
