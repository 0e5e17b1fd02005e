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

mod model;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};

use super::{decode, CatalogError};
use crate::ids::{BillingPlanId, PackageId, ProductId};
use crate::store::{from_unix_millis, unix_millis, Backend, Store};

use model::USERS_SHOWN;
pub use model::{
    BillingPlan, Currency, Localized, Period, PeriodUnit, PlanUsers, Price, Prices, Product,
    ProductFilter, StoreProduct, TrialPeriod, ValueError,
};

/// Identifiers per `IN (…)` list.
const CHUNK: usize = 200;

const PLAN_COLUMNS: &str = "id, description, recurrence, prices, trial_period, custom_data";
const PRODUCT_COLUMNS: &str = "id, package_id, billing_plan_id, name, short_desc, long_desc, \
                               store_data, version, created_at, modified_at";

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
        let wanted = ids.iter().map(BillingPlanId::as_str).collect();
        let select = format!("SELECT {PLAN_COLUMNS} FROM billing_plans WHERE id");
        let mut found: HashMap<String, BillingPlan> = HashMap::new();
        for row in rows_in(self.store.pool(), &select, wanted).await? {
            let plan = plan_from_row(&row)?;
            found.insert(plan.id.as_str().to_owned(), plan);
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
        let mut tx = self.store.begin_write().await?;
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
        let mut tx = self.store.begin_write().await?;
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
        let mut tx = self.store.begin_write().await?;
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
                existing: ProductId::parse(existing).map_err(|e| decode("product id", e))?,
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
        let wanted = ids.iter().map(PackageId::as_str).collect();
        let select = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE package_id");
        let mut products = rows_in(self.store.pool(), &select, wanted)
            .await?
            .iter()
            .map(product_from_row)
            .collect::<Result<Vec<_>, _>>()?;
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
        let mut tx = self.store.begin_write().await?;
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
/// The rows of `{select} IN (…)` for `keys` (each once), read in chunks of [`CHUNK`].
async fn rows_in(
    pool: &AnyPool,
    select: &str,
    mut keys: Vec<&str>,
) -> Result<Vec<AnyRow>, CatalogError> {
    keys.sort_unstable();
    keys.dedup();
    let mut rows = Vec::new();
    for chunk in keys.chunks(CHUNK) {
        let sql = format!("{select} IN ({})", numbered(1, chunk.len()));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for key in chunk {
            query = query.bind(*key);
        }
        rows.extend(query.fetch_all(pool).await?);
    }
    Ok(rows)
}

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
    serde_json::from_str(&text).map_err(|e| decode(&format!("{column}:"), e))
}

fn plan_from_row(row: &AnyRow) -> Result<BillingPlan, CatalogError> {
    let id: String = row.try_get("id")?;
    let recurrence: String = row.try_get("recurrence")?;
    let trial: Option<String> = row.try_get("trial_period")?;
    Ok(BillingPlan {
        id: BillingPlanId::parse(id).map_err(|e| decode("billing plan id", e))?,
        description: row.try_get("description")?,
        recurrence: Period::parse(&recurrence).map_err(|e| decode("recurrence", e))?,
        prices: from_json(row, "prices")?,
        trial_period: trial
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| decode("trial_period:", e))?,
        custom_data: from_json(row, "custom_data")?,
    })
}

fn product_from_row(row: &AnyRow) -> Result<Product, CatalogError> {
    let id: String = row.try_get("id")?;
    let package: String = row.try_get("package_id")?;
    let plan: String = row.try_get("billing_plan_id")?;
    let version: i64 = row.try_get("version")?;
    Ok(Product {
        id: ProductId::parse(id).map_err(|e| decode("product id", e))?,
        package_id: PackageId::parse(package).map_err(|e| decode("package id", e))?,
        billing_plan_id: BillingPlanId::parse(plan).map_err(|e| decode("billing plan id", e))?,
        name: from_json(row, "name")?,
        short_desc: from_json(row, "short_desc")?,
        long_desc: from_json(row, "long_desc")?,
        store_data: from_json(row, "store_data")?,
        version: u64::try_from(version).unwrap_or(0),
        created: from_unix_millis(row.try_get("created_at")?),
        modified: from_unix_millis(row.try_get("modified_at")?),
    })
}
