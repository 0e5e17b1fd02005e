//! Packages: a named group of assets, with billing plans, a region whitelist and custom data; free
//! packages carry `bypass` (`bypassEntitlementCheck`). A package may set a DRM policy (`drm_policy`,
//! stored as its JSON in `packages.drm_policy`, NULL when it sets nothing).
//!
//! Lists keep their order in `position`; a list written here never holds the same ID twice (the first
//! occurrence wins). Writes that touch several rows run in one transaction and lock the packages they
//! change first: `SELECT … FOR UPDATE` in ID order on PostgreSQL, a no-op `UPDATE` on SQLite (which
//! takes the write lock up front, so a read-then-write transaction never fails to upgrade its lock).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::{Query, QueryAs};
use sqlx::{Any, AnyConnection, AssertSqlSafe, FromRow, Row, Transaction};

use crate::drm::DrmPolicy;
use crate::ids::{AssetId, BillingPlanId, IdError, PackageId, RegionId};
use crate::store::coherence::Change;
use crate::store::{from_unix_millis, unix_millis, Backend};

use super::{Catalog, CatalogError};

/// Identifiers per `IN (…)` list and rows per multi-row `INSERT`: far below every backend's limit on
/// bound parameters.
const CHUNK: usize = 200;

/// The columns of `packages`, in the order `Head::from_row` reads them.
const PACKAGE_COLUMNS: &str =
    "p.id, p.name, p.description, p.bypass, p.created_at, p.modified_at, p.drm_policy";

/// The parts of a package the decision reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRules {
    pub id: PackageId,
    /// `bypassEntitlementCheck`.
    pub free: bool,
    /// `regionWhitelist`; empty = everywhere.
    pub regions: Vec<RegionId>,
    /// `drmPolicy`: what the tokens for the package's assets demand; empty = nothing.
    pub drm_policy: DrmPolicy,
}

/// A package as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub id: PackageId,
    pub name: String,
    pub description: String,
    /// `bypassEntitlementCheck`: a free package.
    pub bypass: bool,
    pub asset_ids: Vec<AssetId>,
    pub billing_plan_ids: Vec<BillingPlanId>,
    pub region_ids: Vec<RegionId>,
    pub custom_data: BTreeMap<String, String>,
    /// `drmPolicy`: what the tokens for the package's assets demand; empty = nothing (stored as NULL).
    /// The catalogue stores it as given: the admin API checks it (`DrmPolicy::problems`) first.
    pub drm_policy: DrmPolicy,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

impl Package {
    /// A listing of every package, ordered by ID; narrow and order it with `PackageQuery`'s methods
    /// and run it with `Catalog::list_packages`.
    pub fn query() -> PackageQuery {
        PackageQuery::default()
    }

    /// The package as it is stored: every list without repeats (first occurrence kept) and times cut
    /// to the store's millisecond precision.
    fn normalized(mut self) -> Package {
        dedup(&mut self.asset_ids);
        dedup(&mut self.billing_plan_ids);
        dedup(&mut self.region_ids);
        self.created_at = from_unix_millis(unix_millis(self.created_at));
        self.modified_at = from_unix_millis(unix_millis(self.modified_at));
        self
    }
}

/// Drops repeated entries, keeping each first occurrence where it was.
fn dedup<T: Clone + Eq + std::hash::Hash>(list: &mut Vec<T>) {
    let mut seen = HashSet::with_capacity(list.len());
    list.retain(|item| seen.insert(item.clone()));
}

/// Which packages `Catalog::list_packages` returns and in which order (every filter must hold). Made
/// by `Package::query()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageQuery {
    subscriptions_only: bool,
    billing_plans: Vec<BillingPlanId>,
    custom_data: Vec<(String, String)>,
    order: PackageOrder,
    descending: bool,
}

/// The sort key of a listing; ties are broken by ID, in the same direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PackageOrder {
    #[default]
    Id,
    Name,
    Created,
    Modified,
}

impl PackageQuery {
    /// Only subscriptions: packages that are not free and are sold through at least one billing plan.
    pub fn subscriptions_only(mut self) -> Self {
        self.subscriptions_only = true;
        self
    }

    /// Only packages sold through at least one of `plans` (added to any plans given before; no plans
    /// at all means no such filter).
    pub fn with_any_billing_plan(mut self, plans: impl IntoIterator<Item = BillingPlanId>) -> Self {
        self.billing_plans.extend(plans);
        dedup(&mut self.billing_plans);
        self
    }

    /// Only packages whose custom data maps `name` to exactly `value`.
    pub fn with_custom_data(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_data.push((name.into(), value.into()));
        self
    }

    /// Ordered by `order`, then ID.
    pub fn order_by(mut self, order: PackageOrder) -> Self {
        self.order = order;
        self
    }

    /// Ordered by ID (the default).
    pub fn order_by_id(self) -> Self {
        self.order_by(PackageOrder::Id)
    }

    /// Ordered by name (byte order of the UTF-8 text on every backend), then ID.
    pub fn order_by_name(self) -> Self {
        self.order_by(PackageOrder::Name)
    }

    /// Ordered by creation time, then ID.
    pub fn order_by_created(self) -> Self {
        self.order_by(PackageOrder::Created)
    }

    /// Ordered by last modification time, then ID.
    pub fn order_by_modified(self) -> Self {
        self.order_by(PackageOrder::Modified)
    }

    /// Descending instead of ascending.
    pub fn descending(mut self, descending: bool) -> Self {
        self.descending = descending;
        self
    }

    /// ` WHERE …` over `packages p` (or nothing), its values appended to `binds`.
    fn filter_sql(&self, binds: &mut Vec<String>) -> String {
        let mut clauses = Vec::new();
        if self.subscriptions_only {
            clauses.push(
                "p.bypass = 0 AND EXISTS (SELECT 1 FROM package_billing_plans sb WHERE sb.package_id = p.id)"
                    .to_owned(),
            );
        }
        if !self.billing_plans.is_empty() {
            let list = placeholders(
                binds,
                self.billing_plans.iter().map(|p| p.as_str().to_owned()),
            );
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM package_billing_plans b WHERE b.package_id = p.id AND b.billing_plan_id IN ({list}))"
            ));
        }
        for (name, value) in &self.custom_data {
            binds.push(name.clone());
            let name_at = binds.len();
            binds.push(value.clone());
            let value_at = binds.len();
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM package_custom_data c WHERE c.package_id = p.id AND c.name = ${name_at} AND c.value = ${value_at})"
            ));
        }
        if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        }
    }

    /// ` ORDER BY …` for `backend`: text in byte order (`COLLATE "C"` on PostgreSQL, whose database
    /// collation may be a locale's; SQLite compares bytes already).
    fn order_sql(&self, backend: Backend) -> String {
        let text = match backend {
            Backend::Postgres => " COLLATE \"C\"",
            Backend::Sqlite => "",
        };
        let direction = if self.descending { "DESC" } else { "ASC" };
        let id = format!("p.id{text} {direction}");
        match self.order {
            PackageOrder::Id => format!(" ORDER BY {id}"),
            PackageOrder::Name => format!(" ORDER BY p.name{text} {direction}, {id}"),
            PackageOrder::Created => format!(" ORDER BY p.created_at {direction}, {id}"),
            PackageOrder::Modified => format!(" ORDER BY p.modified_at {direction}, {id}"),
        }
    }
}

/// Appends `values` to `binds` and returns their placeholders (`$3, $4, …`).
fn placeholders(binds: &mut Vec<String>, values: impl IntoIterator<Item = String>) -> String {
    let mut list = Vec::new();
    for value in values {
        binds.push(value);
        list.push(format!("${}", binds.len()));
    }
    list.join(", ")
}

/// `$first, $first+1, …` for `n` values.
fn numbered(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Binding a run of text values, in order, on either kind of query.
trait BindAll<'q>: Sized {
    /// Binds `value` as the next parameter.
    fn bind_text(self, value: &'q str) -> Self;

    /// Binds each of `values` as the next parameter.
    fn bind_all(self, values: &[&'q str]) -> Self {
        values
            .iter()
            .fold(self, |query, value| query.bind_text(value))
    }
}

impl<'q> BindAll<'q> for Query<'q, Any, AnyArguments> {
    fn bind_text(self, value: &'q str) -> Self {
        self.bind(value)
    }
}

impl<'q, O> BindAll<'q> for QueryAs<'q, Any, O, AnyArguments> {
    fn bind_text(self, value: &'q str) -> Self {
        self.bind(value)
    }
}

/// The query `sql` makes of the placeholder list `$1, $2, …` of `chunk`, with `chunk` bound to it
/// (`sql` builds its text from constants and that list only).
fn query_in<'q, O>(
    chunk: &[&'q str],
    sql: impl FnOnce(String) -> String,
) -> QueryAs<'q, Any, O, AnyArguments>
where
    O: for<'r> FromRow<'r, AnyRow>,
{
    sqlx::query_as(AssertSqlSafe(sql(numbered(1, chunk.len())))).bind_all(chunk)
}

/// A `packages` row, before its lists are read.
struct Head {
    id: String,
    name: String,
    description: String,
    bypass: bool,
    created_at: i64,
    modified_at: i64,
    drm_policy: DrmPolicy,
}

impl Head {
    fn from_row(row: &AnyRow) -> Result<Head, CatalogError> {
        let id: String = row.try_get("id")?;
        let drm_policy = policy_from_column(&id, row.try_get("drm_policy")?)?;
        Ok(Head {
            id,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            bypass: row.try_get::<i64, _>("bypass")? != 0,
            created_at: row.try_get("created_at")?,
            modified_at: row.try_get("modified_at")?,
            drm_policy,
        })
    }
}

/// The `drm_policy` column of a package's row: NULL when the policy sets nothing, else its JSON.
fn policy_column(policy: &DrmPolicy) -> Result<Option<String>, CatalogError> {
    if policy.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(policy)
        .map(Some)
        .map_err(|e| super::decode("a DRM policy", e))
}

/// The `drm_policy` column of the package `id` read back: NULL is no policy; JSON that does not read
/// as a `DrmPolicy` is a decode error (never silently dropped: the package would lose its limits).
fn policy_from_column(id: &str, column: Option<String>) -> Result<DrmPolicy, CatalogError> {
    match column {
        None => Ok(DrmPolicy::default()),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| super::decode(&format!("the drm_policy of package {id}:"), e)),
    }
}

impl Catalog {
    /// The package `id`.
    pub async fn package(&self, id: &PackageId) -> Result<Package, CatalogError> {
        let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages p WHERE p.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| CatalogError::PackageNotFound(id.clone()))?;
        self.complete(&row).await
    }

    /// The packages among `ids` that exist, in the order of `ids` (unknown IDs are skipped).
    pub async fn packages_by_ids(&self, ids: &[PackageId]) -> Result<Vec<Package>, CatalogError> {
        let mut conn = self.store().pool().acquire().await?;
        let mut wanted: Vec<&str> = ids.iter().map(PackageId::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut heads = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(CHUNK) {
            let sql = format!(
                "SELECT {PACKAGE_COLUMNS} FROM packages p WHERE p.id IN ({})",
                numbered(1, chunk.len())
            );
            let query = sqlx::query(AssertSqlSafe(sql)).bind_all(chunk);
            for row in query.fetch_all(&mut *conn).await? {
                heads.push(Head::from_row(&row)?);
            }
        }
        let found: HashMap<PackageId, Package> = assemble(&mut conn, heads)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    /// A package row with its lists read.
    pub(crate) async fn complete(&self, row: &AnyRow) -> Result<Package, CatalogError> {
        let head = Head::from_row(row)?;
        let mut conn = self.store().pool().acquire().await?;
        assemble(&mut conn, vec![head])
            .await?
            .pop()
            .ok_or_else(|| decode("a package row vanished while its lists were read".into()))
    }

    /// The IDs among `ids` that name no package, in the order of `ids`, each once.
    pub async fn missing_packages(
        &self,
        ids: &[PackageId],
    ) -> Result<Vec<PackageId>, CatalogError> {
        let mut conn = self.store().pool().acquire().await?;
        let existing = existing_ids(&mut conn, ids).await?;
        let mut missing: Vec<PackageId> = ids
            .iter()
            .filter(|id| !existing.contains(id.as_str()))
            .cloned()
            .collect();
        dedup(&mut missing);
        Ok(missing)
    }

    /// What the decision needs of `ids`: whether each is free, its region whitelist and its DRM policy
    /// (without the asset lists, which can be long). A stored policy that does not read back is an
    /// error.
    pub async fn package_rules(
        &self,
        ids: &[PackageId],
    ) -> Result<Vec<PackageRules>, CatalogError> {
        let mut conn = self.store().pool().acquire().await?;
        let mut rules = Vec::new();
        let wanted: Vec<&str> = ids.iter().map(PackageId::as_str).collect();
        for chunk in wanted.chunks(CHUNK) {
            let query = query_in::<(String, i64, Option<String>)>(chunk, |list| {
                format!("SELECT id, bypass, drm_policy FROM packages WHERE id IN ({list})")
            });
            let heads = query.fetch_all(&mut *conn).await?;
            let query = query_in::<(String, String)>(chunk, |list| {
                format!("SELECT package_id, region_id FROM package_regions WHERE package_id IN ({list})")
            });
            let regions = query.fetch_all(&mut *conn).await?;
            for (id, bypass, policy) in heads {
                let Ok(package) = PackageId::parse(id.clone()) else {
                    continue;
                };
                let drm_policy = policy_from_column(&id, policy)?;
                rules.push(PackageRules {
                    id: package,
                    free: bypass != 0,
                    regions: regions
                        .iter()
                        .filter(|(p, _)| *p == id)
                        .filter_map(|(_, r)| RegionId::parse(r.clone()).ok())
                        .collect(),
                    drm_policy,
                });
            }
        }
        Ok(rules)
    }

    /// For each of `assets` (in that order), the packages that contain it directly, by ID.
    pub async fn packages_containing(
        &self,
        assets: &[AssetId],
    ) -> Result<Vec<(AssetId, Vec<PackageId>)>, CatalogError> {
        let mut conn = self.store().pool().acquire().await?;
        let mut wanted: Vec<&str> = assets.iter().map(AssetId::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut holders: HashMap<String, Vec<PackageId>> = HashMap::new();
        for chunk in wanted.chunks(CHUNK) {
            let query = query_in::<(String, String)>(chunk, |list| {
                format!("SELECT asset_id, package_id FROM package_assets WHERE asset_id IN ({list}) ORDER BY package_id")
            });
            for (asset, package) in query.fetch_all(&mut *conn).await? {
                if let Ok(package) = PackageId::parse(package) {
                    holders.entry(asset).or_default().push(package);
                }
            }
        }
        Ok(assets
            .iter()
            .map(|asset| {
                let mut packages = holders.get(asset.as_str()).cloned().unwrap_or_default();
                // Byte order on every backend (the database's collation may differ).
                packages.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
                (asset.clone(), packages)
            })
            .collect())
    }

    /// Stores a new package with its lists (repeats dropped) and returns it as stored.
    /// `DuplicatePackage` when the ID is taken.
    pub async fn create_package(&self, package: &Package) -> Result<Package, CatalogError> {
        let _invalidation = self.catalogue_write();
        let package = package.clone().normalized();
        let mut tx = self.store().begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO packages (id, name, description, bypass, created_at, modified_at, drm_policy) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(package.id.as_str())
        .bind(package.name.as_str())
        .bind(package.description.as_str())
        .bind(i64::from(package.bypass))
        .bind(unix_millis(package.created_at))
        .bind(unix_millis(package.modified_at))
        .bind(policy_column(&package.drm_policy)?)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(CatalogError::DuplicatePackage(package.id.clone()));
        }
        let id = package.id.as_str();
        insert_list(&mut tx, List::Assets, id, &strs(&package.asset_ids), 0).await?;
        insert_list(
            &mut tx,
            List::Plans,
            id,
            &strs(&package.billing_plan_ids),
            0,
        )
        .await?;
        insert_list(&mut tx, List::Regions, id, &strs(&package.region_ids), 0).await?;
        insert_custom_data(&mut tx, id, &package.custom_data).await?;
        self.commit_catalogue(tx, package).await
    }

    /// Changes the package `id` with `edit`, in one transaction, and returns it as stored: lists that
    /// `edit` changed are replaced whole (repeats dropped), the DRM policy is written as `edit` left
    /// it, `modified_at` becomes `now`; the ID and `created_at` cannot change. Like every package
    /// write it invalidates the decision's cached views (`Change::Catalogue`).
    pub async fn update_package(
        &self,
        id: &PackageId,
        now: DateTime<Utc>,
        edit: impl FnOnce(&mut Package),
    ) -> Result<Package, CatalogError> {
        let _invalidation = self.catalogue_write();
        let backend = self.store().backend();
        let mut tx = self.store().begin_write().await?;
        if lock_packages(&mut tx, backend, std::slice::from_ref(id))
            .await?
            .is_empty()
        {
            return Err(CatalogError::PackageNotFound(id.clone()));
        }
        let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages p WHERE p.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| CatalogError::PackageNotFound(id.clone()))?;
        let before = assemble(&mut tx, vec![Head::from_row(&row)?])
            .await?
            .pop()
            .ok_or_else(|| CatalogError::PackageNotFound(id.clone()))?;
        let mut after = before.clone();
        edit(&mut after);
        after.id = before.id.clone();
        after.created_at = before.created_at;
        after.modified_at = now;
        let after = after.normalized();

        sqlx::query(
            "UPDATE packages SET name = $2, description = $3, bypass = $4, modified_at = $5, \
             drm_policy = $6 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(after.name.as_str())
        .bind(after.description.as_str())
        .bind(i64::from(after.bypass))
        .bind(unix_millis(after.modified_at))
        .bind(policy_column(&after.drm_policy)?)
        .execute(&mut *tx)
        .await?;
        let key = id.as_str();
        if after.asset_ids != before.asset_ids {
            replace_list(&mut tx, List::Assets, key, &strs(&after.asset_ids)).await?;
        }
        if after.billing_plan_ids != before.billing_plan_ids {
            replace_list(&mut tx, List::Plans, key, &strs(&after.billing_plan_ids)).await?;
        }
        if after.region_ids != before.region_ids {
            replace_list(&mut tx, List::Regions, key, &strs(&after.region_ids)).await?;
        }
        if after.custom_data != before.custom_data {
            sqlx::query("DELETE FROM package_custom_data WHERE package_id = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            insert_custom_data(&mut tx, key, &after.custom_data).await?;
        }
        self.commit_catalogue(tx, after).await
    }

    /// Deletes the package `id` and its products, in one transaction; the schema's cascades remove
    /// its lists, its edges in the package graph and the entitlements to it.
    pub async fn delete_package(&self, id: &PackageId) -> Result<(), CatalogError> {
        let _invalidation = self.catalogue_write();
        let mut tx = self.store().begin_write().await?;
        super::billing::delete_products_of(&mut tx, id).await?;
        let deleted = sqlx::query("DELETE FROM packages WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(CatalogError::PackageNotFound(id.clone()));
        }
        self.commit_catalogue(tx, ()).await
    }

    /// Appends every asset of `assets` that a package lacks to every package of `packages`, in one
    /// transaction; assets already there stay where they are. When a package does not exist nothing
    /// changes and the first missing one is named (`missing_packages` names them all). Returns the
    /// packages that changed, whose `modified_at` became `now`.
    pub async fn add_assets(
        &self,
        packages: &[PackageId],
        assets: &[AssetId],
        now: DateTime<Utc>,
    ) -> Result<Vec<PackageId>, CatalogError> {
        let _invalidation = self.catalogue_write();
        self.change_assets(packages, assets, now, AssetChange::Add)
            .await
    }

    /// Removes every asset of `assets` from every package of `packages`, in one transaction (assets a
    /// package lacks are ignored). When a package does not exist nothing changes and the first missing
    /// one is named. Returns the packages that changed, whose `modified_at` became `now`.
    pub async fn remove_assets(
        &self,
        packages: &[PackageId],
        assets: &[AssetId],
        now: DateTime<Utc>,
    ) -> Result<Vec<PackageId>, CatalogError> {
        let _invalidation = self.catalogue_write();
        self.change_assets(packages, assets, now, AssetChange::Remove)
            .await
    }

    async fn change_assets(
        &self,
        packages: &[PackageId],
        assets: &[AssetId],
        now: DateTime<Utc>,
        change: AssetChange,
    ) -> Result<Vec<PackageId>, CatalogError> {
        let backend = self.store().backend();
        let mut packages = packages.to_vec();
        dedup(&mut packages);
        let mut assets = assets.to_vec();
        dedup(&mut assets);
        let mut tx = self.store().begin_write().await?;
        let existing = lock_packages(&mut tx, backend, &packages).await?;
        if let Some(missing) = packages.iter().find(|p| !existing.contains(p.as_str())) {
            return Err(CatalogError::PackageNotFound(missing.clone()));
        }
        // What each package holds now: its assets and the next free position.
        let mut held: HashMap<String, (HashSet<String>, i64)> = HashMap::new();
        let ids = strs(&packages);
        for chunk in ids.chunks(CHUNK) {
            let query = query_in::<(String, String, i64)>(chunk, |list| {
                format!("SELECT package_id, asset_id, position FROM package_assets WHERE package_id IN ({list})")
            });
            for (package, asset, position) in query.fetch_all(&mut *tx).await? {
                let entry = held.entry(package).or_insert_with(|| (HashSet::new(), 0));
                entry.0.insert(asset);
                entry.1 = entry.1.max(position + 1);
            }
        }
        let mut changed = Vec::new();
        for package in &packages {
            let (have, next) = held
                .remove(package.as_str())
                .unwrap_or_else(|| (HashSet::new(), 0));
            let touched: Vec<&str> = assets
                .iter()
                .map(AssetId::as_str)
                .filter(|a| have.contains(*a) == (change == AssetChange::Remove))
                .collect();
            if touched.is_empty() {
                continue;
            }
            match change {
                AssetChange::Add => {
                    insert_list(&mut tx, List::Assets, package.as_str(), &touched, next).await?
                }
                AssetChange::Remove => {
                    for chunk in touched.chunks(CHUNK) {
                        let sql = format!(
                            "DELETE FROM package_assets WHERE package_id = $1 AND asset_id IN ({})",
                            numbered(2, chunk.len())
                        );
                        sqlx::query(AssertSqlSafe(sql))
                            .bind(package.as_str())
                            .bind_all(chunk)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            changed.push(package.clone());
        }
        let changed_ids = strs(&changed);
        for chunk in changed_ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE packages SET modified_at = $1 WHERE id IN ({})",
                numbered(2, chunk.len())
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(unix_millis(now))
                .bind_all(chunk)
                .execute(&mut *tx)
                .await?;
        }
        self.commit_catalogue(tx, changed).await
    }

    /// Publishes a catalogue change in `tx`, commits it and answers `written`.
    pub(super) async fn commit_catalogue<T>(
        &self,
        mut tx: Transaction<'static, Any>,
        written: T,
    ) -> Result<T, CatalogError> {
        self.store().publish(&mut tx, &[Change::Catalogue]).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// One page of the packages `query` selects (`count` of them after skipping `skip`), with the
    /// number of all the packages it selects.
    pub async fn list_packages(
        &self,
        query: &PackageQuery,
        count: u32,
        skip: u32,
    ) -> Result<(Vec<Package>, u64), CatalogError> {
        let mut conn = self.store().pool().acquire().await?;
        let mut binds = Vec::new();
        let filter = query.filter_sql(&mut binds);
        let binds: Vec<&str> = binds.iter().map(String::as_str).collect();

        let sql = format!("SELECT COUNT(*) FROM packages p{filter}");
        let (total,) = sqlx::query_as::<_, (i64,)>(AssertSqlSafe(sql))
            .bind_all(&binds)
            .fetch_one(&mut *conn)
            .await?;
        let total = u64::try_from(total).unwrap_or(0);
        if count == 0 || total <= u64::from(skip) {
            return Ok((Vec::new(), total));
        }

        let sql = format!(
            "SELECT {PACKAGE_COLUMNS} FROM packages p{filter}{} LIMIT ${} OFFSET ${}",
            query.order_sql(self.store().backend()),
            binds.len() + 1,
            binds.len() + 2
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind_all(&binds)
            .bind(i64::from(count))
            .bind(i64::from(skip))
            .fetch_all(&mut *conn)
            .await?;
        let heads = rows.iter().map(Head::from_row).collect::<Result<_, _>>()?;
        Ok((assemble(&mut conn, heads).await?, total))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AssetChange {
    Add,
    Remove,
}

/// The ordered lists of a package, each a table of (package_id, <item>, position).
#[derive(Debug, Clone, Copy)]
enum List {
    Assets,
    Plans,
    Regions,
}

impl List {
    fn table(self) -> &'static str {
        match self {
            List::Assets => "package_assets",
            List::Plans => "package_billing_plans",
            List::Regions => "package_regions",
        }
    }

    fn column(self) -> &'static str {
        match self {
            List::Assets => "asset_id",
            List::Plans => "billing_plan_id",
            List::Regions => "region_id",
        }
    }
}

/// The identifier types as text.
trait IdText {
    fn text(&self) -> &str;
}

macro_rules! id_text {
    ($($t:ty),*) => {$(
        impl IdText for $t {
            fn text(&self) -> &str {
                self.as_str()
            }
        }
    )*};
}

id_text!(PackageId, AssetId, BillingPlanId, RegionId);

fn strs<T: IdText>(ids: &[T]) -> Vec<&str> {
    ids.iter().map(IdText::text).collect()
}

/// Inserts `items` into `list` of `package` at positions `first`, `first + 1`, ….
async fn insert_list(
    conn: &mut AnyConnection,
    list: List,
    package: &str,
    items: &[&str],
    first: i64,
) -> Result<(), CatalogError> {
    let mut position = first;
    for chunk in items.chunks(CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${})", 2 + 2 * i, 3 + 2 * i))
            .collect();
        let sql = format!(
            "INSERT INTO {} (package_id, {}, position) VALUES {}",
            list.table(),
            list.column(),
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(package);
        for item in chunk {
            query = query.bind(*item).bind(position);
            position += 1;
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Replaces `list` of `package` with `items`.
async fn replace_list(
    conn: &mut AnyConnection,
    list: List,
    package: &str,
    items: &[&str],
) -> Result<(), CatalogError> {
    let sql = format!("DELETE FROM {} WHERE package_id = $1", list.table());
    sqlx::query(AssertSqlSafe(sql))
        .bind(package)
        .execute(&mut *conn)
        .await?;
    insert_list(conn, list, package, items, 0).await
}

async fn insert_custom_data(
    conn: &mut AnyConnection,
    package: &str,
    data: &BTreeMap<String, String>,
) -> Result<(), CatalogError> {
    let pairs: Vec<(&String, &String)> = data.iter().collect();
    for chunk in pairs.chunks(CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${})", 2 + 2 * i, 3 + 2 * i))
            .collect();
        let sql = format!(
            "INSERT INTO package_custom_data (package_id, name, value) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(package);
        for (name, value) in chunk {
            query = query.bind(name.as_str()).bind(value.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The IDs among `ids` that exist.
async fn existing_ids(
    conn: &mut AnyConnection,
    ids: &[PackageId],
) -> Result<HashSet<String>, CatalogError> {
    let mut wanted: Vec<&str> = ids.iter().map(PackageId::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = HashSet::new();
    for chunk in wanted.chunks(CHUNK) {
        let query = query_in::<(String,)>(chunk, |list| {
            format!("SELECT id FROM packages WHERE id IN ({list})")
        });
        found.extend(
            query
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(id,)| id),
        );
    }
    Ok(found)
}

/// Inside a transaction: locks the packages among `ids` against concurrent writers (in ID order, so
/// two writers never wait on each other in a circle) and returns those that exist.
pub(super) async fn lock_packages(
    conn: &mut AnyConnection,
    backend: Backend,
    ids: &[PackageId],
) -> Result<HashSet<String>, CatalogError> {
    let mut wanted: Vec<&str> = ids.iter().map(PackageId::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = HashSet::new();
    for chunk in wanted.chunks(CHUNK) {
        let list = numbered(1, chunk.len());
        match backend {
            Backend::Postgres => {
                let sql = format!(
                    "SELECT id FROM packages WHERE id IN ({list}) ORDER BY id COLLATE \"C\" FOR UPDATE"
                );
                let query = sqlx::query_as::<_, (String,)>(AssertSqlSafe(sql)).bind_all(chunk);
                found.extend(
                    query
                        .fetch_all(&mut *conn)
                        .await?
                        .into_iter()
                        .map(|(id,)| id),
                );
            }
            Backend::Sqlite => {
                // A write first: the transaction holds SQLite's write lock from here on.
                let sql =
                    format!("UPDATE packages SET modified_at = modified_at WHERE id IN ({list})");
                sqlx::query(AssertSqlSafe(sql))
                    .bind_all(chunk)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    if backend == Backend::Sqlite {
        found = existing_ids(conn, ids).await?;
    }
    Ok(found)
}

/// Reads the lists of the packages `heads` (one query per list, whatever the number of packages)
/// and returns the packages, in the order of `heads`.
async fn assemble(
    conn: &mut AnyConnection,
    heads: Vec<Head>,
) -> Result<Vec<Package>, CatalogError> {
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = heads.iter().map(|h| h.id.as_str()).collect();
    let mut assets = read_list(conn, List::Assets, &ids).await?;
    let mut plans = read_list(conn, List::Plans, &ids).await?;
    let mut regions = read_list(conn, List::Regions, &ids).await?;
    let mut custom: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let query = query_in::<(String, String, String)>(chunk, |list| {
            format!("SELECT package_id, name, value FROM package_custom_data WHERE package_id IN ({list})")
        });
        for (package, name, value) in query.fetch_all(&mut *conn).await? {
            custom.entry(package).or_default().insert(name, value);
        }
    }
    heads
        .into_iter()
        .map(|head| {
            Ok(Package {
                id: PackageId::parse(head.id.clone())
                    .map_err(|e| decode(format!("package id {e}")))?,
                asset_ids: parse_all(assets.remove(&head.id).unwrap_or_default(), AssetId::parse),
                billing_plan_ids: parse_all(
                    plans.remove(&head.id).unwrap_or_default(),
                    BillingPlanId::parse,
                ),
                region_ids: parse_all(
                    regions.remove(&head.id).unwrap_or_default(),
                    RegionId::parse,
                ),
                custom_data: custom.remove(&head.id).unwrap_or_default(),
                name: head.name,
                description: head.description,
                bypass: head.bypass,
                drm_policy: head.drm_policy,
                created_at: from_unix_millis(head.created_at),
                modified_at: from_unix_millis(head.modified_at),
            })
        })
        .collect()
}

/// `list` of each of `packages`, in position order.
async fn read_list(
    conn: &mut AnyConnection,
    list: List,
    packages: &[&str],
) -> Result<HashMap<String, Vec<String>>, CatalogError> {
    let mut lists: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in packages.chunks(CHUNK) {
        let query = query_in::<(String, String)>(chunk, |ids| {
            format!(
                "SELECT package_id, {column} FROM {table} WHERE package_id IN ({ids}) \
                 ORDER BY package_id, position, {column}",
                column = list.column(),
                table = list.table(),
            )
        });
        for (package, item) in query.fetch_all(&mut *conn).await? {
            lists.entry(package).or_default().push(item);
        }
    }
    Ok(lists)
}

fn decode(message: String) -> CatalogError {
    CatalogError::from(sqlx::Error::Decode(message.into()))
}

/// Stored identifiers back into their types (they were validated when written; a row that no longer
/// parses is skipped rather than failing the whole read).
fn parse_all<T>(raw: Vec<String>, parse: fn(String) -> Result<T, IdError>) -> Vec<T> {
    raw.into_iter().filter_map(|v| parse(v).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::AssetView;
    use crate::drm::{FairPlayPolicy, PlayReadyPolicy, PlayReadyRights, WidevinePolicy};
    use crate::store::testing;

    fn pid(raw: &str) -> PackageId {
        PackageId::parse(raw).unwrap()
    }

    fn aid(raw: &str) -> AssetId {
        AssetId::parse(raw).unwrap()
    }

    fn at(minute: i64) -> DateTime<Utc> {
        from_unix_millis(1_900_000_000_000 + minute * 60_000)
    }

    fn package(id: &str, assets: &[&str]) -> Package {
        Package {
            id: pid(id),
            name: format!("Package {id}"),
            description: String::new(),
            bypass: false,
            asset_ids: assets.iter().map(|a| aid(a)).collect(),
            billing_plan_ids: Vec::new(),
            region_ids: Vec::new(),
            custom_data: BTreeMap::new(),
            drm_policy: DrmPolicy::default(),
            created_at: at(0),
            modified_at: at(0),
        }
    }

    fn strict() -> DrmPolicy {
        DrmPolicy {
            widevine: Some(WidevinePolicy {
                security_level: Some(5),
                hdcp: Some(2),
                license_duration_s: Some(3_600),
            }),
            playready: Some(PlayReadyPolicy {
                compressed_digital_video_opl: Some(500),
                rights: Some(PlayReadyRights::Rental),
                rental_period_s: Some(86_400),
                persistent: Some(true),
                ..PlayReadyPolicy::default()
            }),
            fairplay: Some(FairPlayPolicy {
                rental_duration_s: Some(7_200),
            }),
        }
    }

    fn widevine_only(level: u8) -> DrmPolicy {
        DrmPolicy {
            widevine: Some(WidevinePolicy {
                security_level: Some(level),
                ..WidevinePolicy::default()
            }),
            ..DrmPolicy::default()
        }
    }

    async fn column(catalog: &Catalog, id: &str) -> Option<String> {
        let (json,): (Option<String>,) =
            sqlx::query_as("SELECT drm_policy FROM packages WHERE id = $1")
                .bind(id)
                .fetch_one(catalog.store().pool())
                .await
                .unwrap();
        json
    }

    async fn rules_of(catalog: &Catalog, id: &str) -> PackageRules {
        catalog
            .package_rules(&[pid(id)])
            .await
            .unwrap()
            .pop()
            .unwrap()
    }

    #[tokio::test]
    async fn a_drm_policy_is_stored_read_back_and_changed_on_every_backend() {
        for test in testing::stores().await {
            let backend = test.store.backend();
            let catalog = Catalog::new(test.store.clone(), 8);
            let mut with_policy = package("strict", &["a1"]);
            with_policy.drm_policy = strict();
            let stored = catalog.create_package(&with_policy).await.unwrap();
            assert_eq!(stored.drm_policy, strict(), "{backend:?}");
            assert_eq!(catalog.package(&pid("strict")).await.unwrap(), stored);
            catalog
                .create_package(&package("plain", &["a1"]))
                .await
                .unwrap();

            // Read back by every path that reads a package.
            let (listed, _) = catalog
                .list_packages(&Package::query(), 10, 0)
                .await
                .unwrap();
            let policies: Vec<(&str, &DrmPolicy)> = listed
                .iter()
                .map(|p| (p.id.as_str(), &p.drm_policy))
                .collect();
            assert_eq!(
                policies,
                [("plain", &DrmPolicy::default()), ("strict", &strict())],
                "{backend:?}"
            );
            let by_ids = catalog
                .packages_by_ids(&[pid("strict"), pid("plain")])
                .await
                .unwrap();
            assert_eq!(by_ids[0].drm_policy, strict());
            assert!(by_ids[1].drm_policy.is_empty());

            // Stored as the policy's JSON; no policy is NULL.
            let json = column(&catalog, "strict").await.expect("stored");
            assert_eq!(serde_json::from_str::<DrmPolicy>(&json).unwrap(), strict());
            assert_eq!(column(&catalog, "plain").await, None, "{backend:?}");

            // The decision's rules carry it, beside bypass and the regions.
            let rules = rules_of(&catalog, "strict").await;
            assert_eq!(rules.drm_policy, strict());
            assert!(!rules.free);
            assert!(rules_of(&catalog, "plain").await.drm_policy.is_empty());

            // An update that names the policy replaces it; one that does not keeps it.
            let updated = catalog
                .update_package(&pid("strict"), at(1), |p| p.drm_policy = widevine_only(3))
                .await
                .unwrap();
            assert_eq!(updated.drm_policy, widevine_only(3));
            assert_eq!(updated.modified_at, at(1));
            let renamed = catalog
                .update_package(&pid("strict"), at(2), |p| p.name = "Renamed".into())
                .await
                .unwrap();
            assert_eq!(renamed.drm_policy, widevine_only(3), "{backend:?}");
            assert_eq!(
                rules_of(&catalog, "strict").await.drm_policy,
                widevine_only(3)
            );

            // Emptied: stored as NULL again.
            catalog
                .update_package(&pid("strict"), at(3), |p| {
                    p.drm_policy = DrmPolicy::default()
                })
                .await
                .unwrap();
            assert_eq!(column(&catalog, "strict").await, None, "{backend:?}");
            assert!(catalog
                .package(&pid("strict"))
                .await
                .unwrap()
                .drm_policy
                .is_empty());
        }
    }

    #[tokio::test]
    async fn an_unreadable_stored_policy_is_an_error_not_no_policy() {
        for test in testing::stores().await {
            let backend = test.store.backend();
            let catalog = Catalog::new(test.store.clone(), 8);
            catalog
                .create_package(&package("broken", &["a1"]))
                .await
                .unwrap();
            sqlx::query("UPDATE packages SET drm_policy = $1 WHERE id = $2")
                .bind(r#"{"widevine": {"level": 1}}"#)
                .bind("broken")
                .execute(test.store.pool())
                .await
                .unwrap();
            let read = catalog.package(&pid("broken")).await;
            let message = read.expect_err("an unreadable policy").to_string();
            assert!(
                message.contains("drm_policy of package broken"),
                "{backend:?}: {message}"
            );
            assert!(catalog.package_rules(&[pid("broken")]).await.is_err());
            assert!(catalog
                .list_packages(&Package::query(), 10, 0)
                .await
                .is_err());
            assert!(catalog.asset_view(&aid("a1")).await.is_err(), "{backend:?}");
        }
    }

    #[tokio::test]
    async fn a_policy_change_reaches_the_cached_asset_view() {
        for test in testing::stores().await {
            let backend = test.store.backend();
            let catalog = Catalog::new(test.store.clone(), 8).with_decision_cache(100);
            let mut gold = package("gold", &["a1"]);
            gold.drm_policy = widevine_only(2);
            catalog.create_package(&gold).await.unwrap();
            let policy_in_view = |view: &AssetView| view.rules[&pid("gold")].drm_policy.clone();
            let view = catalog.asset_view(&aid("a1")).await.unwrap();
            assert_eq!(view.containing[0].drm_policy, widevine_only(2));
            assert_eq!(policy_in_view(&view), widevine_only(2));
            // Read again (from the cache where it keeps views), then only the policy changes.
            catalog.asset_view(&aid("a1")).await.unwrap();
            catalog
                .update_package(&pid("gold"), at(1), |p| p.drm_policy = widevine_only(5))
                .await
                .unwrap();
            let view = catalog.asset_view(&aid("a1")).await.unwrap();
            assert_eq!(policy_in_view(&view), widevine_only(5), "{backend:?}");
        }
    }
}
