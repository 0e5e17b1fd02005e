//! Billing plans and products. A billing plan says how often and for how much a package is sold
//! (`recurrence`, `prices` per store and currency, an optional trial); a product sells one package
//! through one billing plan, with localized names and per-store data, and carries a `version` that
//! starts at 1 and grows by one on every change (optimistic concurrency).
//!
//! The types serialize to exactly the JSON the OEM spec shows (`trialperiod`, `shortDesc`,
//! `storeData`, `created`/`modified` with milliseconds). Nested parts are stored as JSON text and read
//! and written whole. Writes run in one transaction: `BEGIN IMMEDIATE` on SQLite (the write lock up
//! front), row locks on PostgreSQL (`FOR UPDATE` on the row changed, `FOR SHARE` on the package and
//! billing plan a new product points at), so a plan cannot be deleted under a product being added.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row, Transaction};

use super::CatalogError;
use crate::ids::{BillingPlanId, IdError, PackageId, ProductId};
use crate::store::{from_unix_millis, unix_millis, Backend, Store};

/// Identifiers per `IN (…)` list.
const CHUNK: usize = 200;

/// How many users of a billing plan a refused deletion names, per kind.
const USERS_SHOWN: usize = 20;

const PLAN_COLUMNS: &str = "id, description, recurrence, prices, trial_period, custom_data";
const PRODUCT_COLUMNS: &str = "id, package_id, billing_plan_id, name, short_desc, long_desc, \
                               store_data, version, created_at, modified_at";

/// Why a billing value is not acceptable. Carries no part of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must be a count of 1-999 and a unit d, w, M or y (such as 1M, 1y or 3d)")]
    Period,
    #[error("must be an ISO 4217 currency code: 3 upper-case letters (such as USD)")]
    Currency,
    #[error("must be a number of at least 0")]
    Price,
}

/// The unit of a `Period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodUnit {
    /// `d`
    Day,
    /// `w`
    Week,
    /// `M` (upper case: a lower-case `m` could be read as minutes)
    Month,
    /// `y`
    Year,
}

impl PeriodUnit {
    fn letter(self) -> char {
        match self {
            PeriodUnit::Day => 'd',
            PeriodUnit::Week => 'w',
            PeriodUnit::Month => 'M',
            PeriodUnit::Year => 'y',
        }
    }
}

/// A billing period as the spec writes it: a count of 1-999 and a unit (`"1M"`, `"1y"`, `"3d"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    count: u16,
    unit: PeriodUnit,
}

impl Period {
    /// The longest count.
    pub const MAX_COUNT: u16 = 999;

    /// Accepts a count without leading zeros (1-999) followed by `d`, `w`, `M` or `y`.
    pub fn parse(raw: &str) -> Result<Period, ValueError> {
        let mut chars = raw.chars();
        let unit = match chars.next_back() {
            Some('d') => PeriodUnit::Day,
            Some('w') => PeriodUnit::Week,
            Some('M') => PeriodUnit::Month,
            Some('y') => PeriodUnit::Year,
            _ => return Err(ValueError::Period),
        };
        let digits = chars.as_str();
        if digits.is_empty()
            || digits.len() > 3
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ValueError::Period);
        }
        let count = digits.parse::<u16>().map_err(|_| ValueError::Period)?;
        Ok(Period { count, unit })
    }

    /// How many units.
    pub fn count(self) -> u16 {
        self.count
    }

    /// Which unit.
    pub fn unit(self) -> PeriodUnit {
        self.unit
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.letter())
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Period::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An ISO 4217 currency code: three upper-case ASCII letters (the shape; the list of codes is not
/// checked).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Accepts three upper-case ASCII letters.
    pub fn parse(raw: &str) -> Result<Currency, ValueError> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(raw.to_owned()))
        } else {
            Err(ValueError::Currency)
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A price: a non-negative JSON number, kept as written (`1` stays `1`, `0.02` stays `0.02`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Price(serde_json::Number);

impl Price {
    /// Accepts a finite number that is not negative (`-0.0` included).
    pub fn new(number: serde_json::Number) -> Result<Price, ValueError> {
        match number.as_f64() {
            Some(value) if value.is_finite() && value.is_sign_positive() => Ok(Price(number)),
            _ => Err(ValueError::Price),
        }
    }

    /// The price as a float.
    pub fn as_f64(&self) -> f64 {
        self.0.as_f64().unwrap_or(0.0)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(d)?;
        Price::new(number).map_err(serde::de::Error::custom)
    }
}

/// Prices: store name (`Apple`, `Google`, …) → currency → price.
pub type Prices = BTreeMap<String, BTreeMap<Currency, Price>>;

/// Text per language tag (`en`, `pt-BR`, …).
pub type Localized = BTreeMap<String, String>;

/// A trial before the first paid cycle: `cycles` periods of `cycleLength`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrialPeriod {
    pub cycle_length: Period,
    pub cycles: u32,
}

/// A billing plan as the spec shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingPlan {
    pub id: BillingPlanId,
    pub description: String,
    pub recurrence: Period,
    pub prices: Prices,
    /// `trialperiod` (lower case, as in the spec); `null` when there is none.
    #[serde(rename = "trialperiod")]
    pub trial_period: Option<TrialPeriod>,
    pub custom_data: BTreeMap<String, String>,
}

/// What a product is called in one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreProduct {
    #[serde(rename = "storeProductID")]
    pub store_product_id: String,
    #[serde(rename = "customData", default)]
    pub custom_data: BTreeMap<String, String>,
}

/// A product: one package sold through one billing plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub id: ProductId,
    #[serde(rename = "packageID")]
    pub package_id: PackageId,
    #[serde(rename = "billingPlanID")]
    pub billing_plan_id: BillingPlanId,
    pub name: Localized,
    #[serde(rename = "shortDesc")]
    pub short_desc: Localized,
    #[serde(rename = "longDesc")]
    pub long_desc: Localized,
    /// Store name → the product in that store.
    #[serde(rename = "storeData")]
    pub store_data: BTreeMap<String, StoreProduct>,
    /// 1 when created, one more on every change.
    pub version: u64,
    #[serde(serialize_with = "millis")]
    pub created: DateTime<Utc>,
    #[serde(serialize_with = "millis")]
    pub modified: DateTime<Utc>,
}

impl Product {
    /// The ID of a product created without one: `<packageID>_<billingPlanID>`, as the spec computes
    /// `productIDs` ("calculated on the fly using packageID_billingPlanID"). Too long when the two
    /// IDs together pass the identifier limit.
    pub fn default_id(package: &PackageId, plan: &BillingPlanId) -> Result<ProductId, IdError> {
        ProductId::parse(format!("{package}_{plan}"))
    }
}

/// `created`/`modified`: RFC 3339 in UTC with milliseconds and `Z`, as the spec's examples.
fn millis<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Which products `Billing::list_products` returns (both filters must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    pub package: Option<PackageId>,
    pub billing_plan: Option<BillingPlanId>,
}

/// Who still uses a billing plan: the first few of each kind, and how many in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanUsers {
    /// Products sold through the plan (by ID, at most 20).
    pub products: Vec<ProductId>,
    pub product_count: u64,
    /// Packages whose `billingPlanIDs` name the plan (by ID, at most 20).
    pub packages: Vec<PackageId>,
    pub package_count: u64,
}

impl PlanUsers {
    fn is_empty(&self) -> bool {
        self.product_count == 0 && self.package_count == 0
    }
}

impl fmt::Display for PlanUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn names<T: fmt::Display>(items: &[T], total: u64) -> String {
            let shown: Vec<String> = items.iter().map(ToString::to_string).collect();
            match total.saturating_sub(shown.len() as u64) {
                0 => shown.join(", "),
                more => format!("{} and {more} more", shown.join(", ")),
            }
        }
        let mut parts = Vec::new();
        if self.product_count > 0 {
            parts.push(format!(
                "the product(s) {}",
                names(&self.products, self.product_count)
            ));
        }
        if self.package_count > 0 {
            parts.push(format!(
                "the billingPlanIDs of the package(s) {}",
                names(&self.packages, self.package_count)
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

/// The `billing_plans` and `products` tables.
#[derive(Debug, Clone)]
pub struct Billing {
    store: Store,
}

impl Billing {
    /// Billing plans and products in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// A write transaction: SQLite's write lock taken up front; row locks are the caller's on
    /// PostgreSQL.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, CatalogError> {
        let pool = self.store.pool();
        Ok(match self.store.backend() {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        })
    }

    /// Whether the row `id` of `table` exists, locked against writers until the transaction ends
    /// (`FOR UPDATE`, or `FOR SHARE` when `shared`, on PostgreSQL; SQLite's write lock covers it).
    async fn lock(
        &self,
        conn: &mut AnyConnection,
        table: &'static str,
        id: &str,
        shared: bool,
    ) -> Result<bool, CatalogError> {
        let mode = match (self.store.backend(), shared) {
            (Backend::Sqlite, _) => "",
            (Backend::Postgres, true) => " FOR SHARE",
            (Backend::Postgres, false) => " FOR UPDATE",
        };
        let sql = format!("SELECT id FROM {table} WHERE id = $1{mode}");
        Ok(sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some())
    }

    /// `ORDER BY` text in byte order on every backend.
    fn collate(&self) -> &'static str {
        match self.store.backend() {
            Backend::Postgres => " COLLATE \"C\"",
            Backend::Sqlite => "",
        }
    }

    /// Stores a new billing plan. `DuplicateBillingPlan` when the ID is taken.
    pub async fn create_plan(&self, plan: &BillingPlan) -> Result<BillingPlan, CatalogError> {
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO billing_plans ({PLAN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO NOTHING"
        )))
        .bind(plan.id.as_str())
        .bind(plan.description.as_str())
        .bind(plan.recurrence.to_string())
        .bind(to_json(&plan.prices)?)
        .bind(plan.trial_period.as_ref().map(to_json).transpose()?)
        .bind(to_json(&plan.custom_data)?)
        .execute(self.store.pool())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(CatalogError::DuplicateBillingPlan(plan.id.clone()));
        }
        Ok(plan.clone())
    }

    /// The billing plan `id`.
    pub async fn plan(&self, id: &BillingPlanId) -> Result<BillingPlan, CatalogError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM billing_plans WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.store.pool())
        .await?
        .ok_or_else(|| CatalogError::BillingPlanNotFound(id.clone()))?;
        plan_from_row(&row)
    }

    /// The billing plans among `ids` that exist, in the order of `ids` (each once; unknown IDs are
    /// skipped).
    pub async fn plans(&self, ids: &[BillingPlanId]) -> Result<Vec<BillingPlan>, CatalogError> {
        let mut wanted: Vec<&str> = ids.iter().map(BillingPlanId::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found: HashMap<String, BillingPlan> = HashMap::new();
        for chunk in wanted.chunks(CHUNK) {
            let sql = format!(
                "SELECT {PLAN_COLUMNS} FROM billing_plans WHERE id IN ({})",
                numbered(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(self.store.pool()).await? {
                let plan = plan_from_row(&row)?;
                found.insert(plan.id.as_str().to_owned(), plan);
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id.as_str()))
            .collect())
    }

    /// One page of the billing plans, by ID, with the number of all of them.
    pub async fn list_plans(
        &self,
        count: u32,
        skip: u32,
    ) -> Result<(Vec<BillingPlan>, u64), CatalogError> {
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM billing_plans")
            .fetch_one(self.store.pool())
            .await?;
        let total = u64::try_from(total).unwrap_or(0);
        if count == 0 || total <= u64::from(skip) {
            return Ok((Vec::new(), total));
        }
        let sql = format!(
            "SELECT {PLAN_COLUMNS} FROM billing_plans ORDER BY id{} LIMIT $1 OFFSET $2",
            self.collate()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(i64::from(count))
            .bind(i64::from(skip))
            .fetch_all(self.store.pool())
            .await?;
        let plans = rows.iter().map(plan_from_row).collect::<Result<_, _>>()?;
        Ok((plans, total))
    }

    /// Changes the billing plan `id` with `edit`, in one transaction, and returns it as stored (the
    /// ID cannot change).
    pub async fn update_plan(
        &self,
        id: &BillingPlanId,
        edit: impl FnOnce(&mut BillingPlan),
    ) -> Result<BillingPlan, CatalogError> {
        let mut tx = self.begin_write().await?;
        if !self
            .lock(&mut tx, "billing_plans", id.as_str(), false)
            .await?
        {
            return Err(CatalogError::BillingPlanNotFound(id.clone()));
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM billing_plans WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| CatalogError::BillingPlanNotFound(id.clone()))?;
        let mut plan = plan_from_row(&row)?;
        edit(&mut plan);
        plan.id = id.clone();
        sqlx::query(
            "UPDATE billing_plans SET description = $2, recurrence = $3, prices = $4, \
             trial_period = $5, custom_data = $6 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(plan.description.as_str())
        .bind(plan.recurrence.to_string())
        .bind(to_json(&plan.prices)?)
        .bind(plan.trial_period.as_ref().map(to_json).transpose()?)
        .bind(to_json(&plan.custom_data)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(plan)
    }

    /// Deletes the billing plan `id`, unless a product is sold through it or a package lists it in its
    /// `billingPlanIDs` (`BillingPlanInUse`, naming them; nothing changes).
    pub async fn delete_plan(&self, id: &BillingPlanId) -> Result<(), CatalogError> {
        let mut tx = self.begin_write().await?;
        if !self
            .lock(&mut tx, "billing_plans", id.as_str(), false)
            .await?
        {
            return Err(CatalogError::BillingPlanNotFound(id.clone()));
        }
        let users = self.plan_users(&mut tx, id).await?;
        if !users.is_empty() {
            return Err(CatalogError::BillingPlanInUse {
                plan: id.clone(),
                users,
            });
        }
        sqlx::query("DELETE FROM billing_plans WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn plan_users(
        &self,
        conn: &mut AnyConnection,
        id: &BillingPlanId,
    ) -> Result<PlanUsers, CatalogError> {
        let collate = self.collate();
        let limit = i64::try_from(USERS_SHOWN).unwrap_or(20);
        let (product_count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM products WHERE billing_plan_id = $1")
                .bind(id.as_str())
                .fetch_one(&mut *conn)
                .await?;
        let products: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id FROM products WHERE billing_plan_id = $1 ORDER BY id{collate} LIMIT $2"
        )))
        .bind(id.as_str())
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let (package_count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM package_billing_plans WHERE billing_plan_id = $1")
                .bind(id.as_str())
                .fetch_one(&mut *conn)
                .await?;
        let packages: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT package_id FROM package_billing_plans WHERE billing_plan_id = $1 \
             ORDER BY package_id{collate} LIMIT $2"
        )))
        .bind(id.as_str())
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        Ok(PlanUsers {
            products: products
                .into_iter()
                .filter_map(|(p,)| ProductId::parse(p).ok())
                .collect(),
            product_count: u64::try_from(product_count).unwrap_or(0),
            packages: packages
                .into_iter()
                .filter_map(|(p,)| PackageId::parse(p).ok())
                .collect(),
            package_count: u64::try_from(package_count).unwrap_or(0),
        })
    }

    /// Stores a new product and returns it as stored: version 1, `modified` = `created`, times cut
    /// to the millisecond. The package and the billing plan must exist (`PackageNotFound`,
    /// `BillingPlanNotFound`); the ID must be free (`DuplicateProduct`) and the package must not have
    /// a product for the plan yet (`DuplicateProductPlan`).
    pub async fn create_product(&self, product: &Product) -> Result<Product, CatalogError> {
        let mut product = product.clone();
        product.version = 1;
        product.created = from_unix_millis(unix_millis(product.created));
        product.modified = product.created;
        let mut tx = self.begin_write().await?;
        if !self
            .lock(&mut tx, "packages", product.package_id.as_str(), true)
            .await?
        {
            return Err(CatalogError::PackageNotFound(product.package_id.clone()));
        }
        if !self
            .lock(
                &mut tx,
                "billing_plans",
                product.billing_plan_id.as_str(),
                true,
            )
            .await?
        {
            return Err(CatalogError::BillingPlanNotFound(
                product.billing_plan_id.clone(),
            ));
        }
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO products ({PRODUCT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT DO NOTHING"
        )))
        .bind(product.id.as_str())
        .bind(product.package_id.as_str())
        .bind(product.billing_plan_id.as_str())
        .bind(to_json(&product.name)?)
        .bind(to_json(&product.short_desc)?)
        .bind(to_json(&product.long_desc)?)
        .bind(to_json(&product.store_data)?)
        .bind(1_i64)
        .bind(unix_millis(product.created))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM products WHERE id = $1")
                .bind(product.id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(CatalogError::DuplicateProduct(product.id));
            }
            let (existing,): (String,) = sqlx::query_as(
                "SELECT id FROM products WHERE package_id = $1 AND billing_plan_id = $2",
            )
            .bind(product.package_id.as_str())
            .bind(product.billing_plan_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            return Err(CatalogError::DuplicateProductPlan {
                package: product.package_id,
                plan: product.billing_plan_id,
                existing: ProductId::parse(existing)
                    .map_err(|e| decode(format!("product id {e}")))?,
            });
        }
        tx.commit().await?;
        Ok(product)
    }

    /// The product `id`.
    pub async fn product(&self, id: &ProductId) -> Result<Product, CatalogError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.store.pool())
        .await?
        .ok_or_else(|| CatalogError::ProductNotFound(id.clone()))?;
        product_from_row(&row)
    }

    /// The products of the packages `ids` (unknown packages have none), ordered by package, then
    /// billing plan (byte order).
    pub async fn products_for_packages(
        &self,
        ids: &[PackageId],
    ) -> Result<Vec<Product>, CatalogError> {
        let mut wanted: Vec<&str> = ids.iter().map(PackageId::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut products = Vec::new();
        for chunk in wanted.chunks(CHUNK) {
            let sql = format!(
                "SELECT {PRODUCT_COLUMNS} FROM products WHERE package_id IN ({})",
                numbered(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(self.store.pool()).await? {
                products.push(product_from_row(&row)?);
            }
        }
        products.sort_by(|a, b| {
            (a.package_id.as_str(), a.billing_plan_id.as_str())
                .cmp(&(b.package_id.as_str(), b.billing_plan_id.as_str()))
        });
        Ok(products)
    }

    /// One page of the products `filter` selects, by ID, with the number of all it selects.
    pub async fn list_products(
        &self,
        filter: &ProductFilter,
        count: u32,
        skip: u32,
    ) -> Result<(Vec<Product>, u64), CatalogError> {
        let mut binds: Vec<&str> = Vec::new();
        let mut clauses = Vec::new();
        if let Some(package) = &filter.package {
            binds.push(package.as_str());
            clauses.push(format!("package_id = ${}", binds.len()));
        }
        if let Some(plan) = &filter.billing_plan {
            binds.push(plan.as_str());
            clauses.push(format!("billing_plan_id = ${}", binds.len()));
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let mut total = sqlx::query_as::<_, (i64,)>(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM products{filter_sql}"
        )));
        for value in &binds {
            total = total.bind(*value);
        }
        let (total,) = total.fetch_one(self.store.pool()).await?;
        let total = u64::try_from(total).unwrap_or(0);
        if count == 0 || total <= u64::from(skip) {
            return Ok((Vec::new(), total));
        }
        let sql = format!(
            "SELECT {PRODUCT_COLUMNS} FROM products{filter_sql} ORDER BY id{} LIMIT ${} OFFSET ${}",
            self.collate(),
            binds.len() + 1,
            binds.len() + 2
        );
        let mut page = sqlx::query(AssertSqlSafe(sql));
        for value in &binds {
            page = page.bind(*value);
        }
        let rows = page
            .bind(i64::from(count))
            .bind(i64::from(skip))
            .fetch_all(self.store.pool())
            .await?;
        let products = rows
            .iter()
            .map(product_from_row)
            .collect::<Result<_, _>>()?;
        Ok((products, total))
    }

    /// Changes the product `id` with `edit`, in one transaction, and returns it as stored. When
    /// `expected` is given it must be the current version (`VersionConflict` otherwise, nothing
    /// changed). An edit that changes something raises the version by one and sets `modified` to
    /// `now`; one that changes nothing leaves the product as it was. The ID, package, billing plan
    /// and `created` cannot change.
    pub async fn update_product(
        &self,
        id: &ProductId,
        expected: Option<u64>,
        now: DateTime<Utc>,
        edit: impl FnOnce(&mut Product),
    ) -> Result<Product, CatalogError> {
        let mut tx = self.begin_write().await?;
        if !self.lock(&mut tx, "products", id.as_str(), false).await? {
            return Err(CatalogError::ProductNotFound(id.clone()));
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| CatalogError::ProductNotFound(id.clone()))?;
        let before = product_from_row(&row)?;
        if let Some(expected) = expected {
            if expected != before.version {
                return Err(CatalogError::VersionConflict {
                    product: id.clone(),
                    expected,
                    current: before.version,
                });
            }
        }
        let mut after = before.clone();
        edit(&mut after);
        after.id = before.id.clone();
        after.package_id = before.package_id.clone();
        after.billing_plan_id = before.billing_plan_id.clone();
        after.created = before.created;
        after.version = before.version;
        after.modified = before.modified;
        if after == before {
            return Ok(before);
        }
        after.version = before.version + 1;
        after.modified = from_unix_millis(unix_millis(now));
        sqlx::query(
            "UPDATE products SET name = $2, short_desc = $3, long_desc = $4, store_data = $5, \
             version = $6, modified_at = $7 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(to_json(&after.name)?)
        .bind(to_json(&after.short_desc)?)
        .bind(to_json(&after.long_desc)?)
        .bind(to_json(&after.store_data)?)
        .bind(i64::try_from(after.version).unwrap_or(i64::MAX))
        .bind(unix_millis(after.modified))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes the product `id`.
    pub async fn delete_product(&self, id: &ProductId) -> Result<(), CatalogError> {
        let deleted = sqlx::query("DELETE FROM products WHERE id = $1")
            .bind(id.as_str())
            .execute(self.store.pool())
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(CatalogError::ProductNotFound(id.clone()));
        }
        Ok(())
    }
}

/// Deletes the products of `package` (part of deleting the package, in its transaction).
pub(crate) async fn delete_products_of(
    conn: &mut AnyConnection,
    package: &PackageId,
) -> Result<(), CatalogError> {
    sqlx::query("DELETE FROM products WHERE package_id = $1")
        .bind(package.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// `$first, $first+1, …` for `n` values.
fn numbered(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_json<T: Serialize>(value: &T) -> Result<String, CatalogError> {
    serde_json::to_string(value).map_err(|e| CatalogError::from(sqlx::Error::Encode(e.into())))
}

fn from_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, CatalogError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| decode(format!("{column}: {e}")))
}

fn decode(message: String) -> CatalogError {
    CatalogError::from(sqlx::Error::Decode(message.into()))
}

fn plan_from_row(row: &AnyRow) -> Result<BillingPlan, CatalogError> {
    let id: String = row.try_get("id")?;
    let recurrence: String = row.try_get("recurrence")?;
    let trial: Option<String> = row.try_get("trial_period")?;
    Ok(BillingPlan {
        id: BillingPlanId::parse(id).map_err(|e| decode(format!("billing plan id {e}")))?,
        description: row.try_get("description")?,
        recurrence: Period::parse(&recurrence).map_err(|e| decode(format!("recurrence {e}")))?,
        prices: from_json(row, "prices")?,
        trial_period: trial
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| decode(format!("trial_period: {e}")))?,
        custom_data: from_json(row, "custom_data")?,
    })
}

fn product_from_row(row: &AnyRow) -> Result<Product, CatalogError> {
    let id: String = row.try_get("id")?;
    let package: String = row.try_get("package_id")?;
    let plan: String = row.try_get("billing_plan_id")?;
    let version: i64 = row.try_get("version")?;
    Ok(Product {
        id: ProductId::parse(id).map_err(|e| decode(format!("product id {e}")))?,
        package_id: PackageId::parse(package).map_err(|e| decode(format!("package id {e}")))?,
        billing_plan_id: BillingPlanId::parse(plan)
            .map_err(|e| decode(format!("billing plan id {e}")))?,
        name: from_json(row, "name")?,
        short_desc: from_json(row, "short_desc")?,
        long_desc: from_json(row, "long_desc")?,
        store_data: from_json(row, "store_data")?,
        version: u64::try_from(version).unwrap_or(0),
        created: from_unix_millis(row.try_get("created_at")?),
        modified: from_unix_millis(row.try_get("modified_at")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn periods_are_a_count_and_a_unit() {
        for (raw, count, unit) in [
            ("1M", 1, PeriodUnit::Month),
            ("1y", 1, PeriodUnit::Year),
            ("3d", 3, PeriodUnit::Day),
            ("2w", 2, PeriodUnit::Week),
            ("999d", 999, PeriodUnit::Day),
        ] {
            let period = Period::parse(raw).unwrap();
            assert_eq!((period.count(), period.unit()), (count, unit), "{raw}");
            assert_eq!(period.to_string(), raw);
        }
        for bad in [
            "", "M", "0M", "01M", "1000d", "1m", "1Y", "1D", "1", "-1M", "+1M", "1 M", " 1M",
            "1M ", "1.5M", "１M", "1h", "1MM",
        ] {
            assert_eq!(Period::parse(bad), Err(ValueError::Period), "{bad:?}");
        }
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        for good in ["USD", "CAD", "BRL", "XXX"] {
            assert_eq!(Currency::parse(good).unwrap().as_str(), good);
        }
        for bad in ["usd", "US", "USDD", "U5D", "", "ÜSD", "US "] {
            assert_eq!(Currency::parse(bad), Err(ValueError::Currency), "{bad:?}");
        }
    }

    #[test]
    fn prices_are_non_negative_numbers_kept_as_written() {
        let price = |v: serde_json::Value| match v {
            serde_json::Value::Number(n) => Price::new(n),
            _ => unreachable!(),
        };
        for good in [
            json!(0),
            json!(1),
            json!(0.02),
            json!(3.99),
            json!(u64::MAX),
        ] {
            let p = price(good.clone()).unwrap();
            assert_eq!(serde_json::to_value(&p).unwrap(), good);
        }
        assert_eq!(price(json!(1)).unwrap().as_f64(), 1.0);
        for bad in [json!(-1), json!(-0.01), json!(-0.0)] {
            assert_eq!(price(bad.clone()), Err(ValueError::Price), "{bad}");
        }
        assert!(serde_json::from_str::<Price>("-2").is_err());
        assert!(serde_json::from_str::<Price>("\"2\"").is_err());
    }

    #[test]
    fn the_types_serialize_to_the_specs_shape() {
        let plan = BillingPlan {
            id: BillingPlanId::parse("TESTBP_2776").unwrap(),
            description: "s1".into(),
            recurrence: Period::parse("1y").unwrap(),
            prices: serde_json::from_value(json!({"Apple": {"USD": 3.99, "CAD": 1.49}})).unwrap(),
            trial_period: Some(TrialPeriod {
                cycle_length: Period::parse("3d").unwrap(),
                cycles: 1,
            }),
            custom_data: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_value(&plan).unwrap(),
            json!({
                "id": "TESTBP_2776",
                "description": "s1",
                "recurrence": "1y",
                "prices": {"Apple": {"CAD": 1.49, "USD": 3.99}},
                "trialperiod": {"cycleLength": "3d", "cycles": 1},
                "customData": {},
            })
        );
        let at = Utc.with_ymd_and_hms(2019, 10, 6, 11, 35, 54).unwrap();
        let product = Product {
            id: ProductId::parse("p_b").unwrap(),
            package_id: PackageId::parse("p").unwrap(),
            billing_plan_id: BillingPlanId::parse("b").unwrap(),
            name: [("en".to_owned(), "N".to_owned())].into(),
            short_desc: BTreeMap::new(),
            long_desc: BTreeMap::new(),
            store_data: [(
                "Apple".to_owned(),
                StoreProduct {
                    store_product_id: "X".into(),
                    custom_data: BTreeMap::new(),
                },
            )]
            .into(),
            version: 1,
            created: at,
            modified: at + chrono::Duration::milliseconds(701),
        };
        assert_eq!(
            serde_json::to_value(&product).unwrap(),
            json!({
                "id": "p_b",
                "packageID": "p",
                "billingPlanID": "b",
                "name": {"en": "N"},
                "shortDesc": {},
                "longDesc": {},
                "storeData": {"Apple": {"storeProductID": "X", "customData": {}}},
                "version": 1,
                "created": "2019-10-06T11:35:54.000Z",
                "modified": "2019-10-06T11:35:54.701Z",
            })
        );
    }

    #[test]
    fn default_product_ids_join_package_and_plan() {
        let package = PackageId::parse("pkg").unwrap();
        let plan = BillingPlanId::parse("plan").unwrap();
        assert_eq!(
            Product::default_id(&package, &plan).unwrap().as_str(),
            "pkg_plan"
        );
        let long = PackageId::parse("p".repeat(200)).unwrap();
        let longer = BillingPlanId::parse("b".repeat(200)).unwrap();
        assert!(Product::default_id(&long, &longer).is_err());
    }

    #[test]
    fn plan_users_name_the_first_few() {
        let users = PlanUsers {
            products: vec![ProductId::parse("a").unwrap()],
            product_count: 3,
            packages: vec![PackageId::parse("p").unwrap()],
            package_count: 1,
        };
        assert_eq!(
            users.to_string(),
            "the product(s) a and 2 more; the billingPlanIDs of the package(s) p"
        );
    }
}
