//! Users' entitlements: to packages (with a start and an optional end), and directly to assets.
//!
//! There is no table of users: a user is known to the catalogue while they hold at least one
//! entitlement (to a package or to an asset). An entitlement is active at `now` when
//! `start <= now < end` (no end: open-ended). Times are kept to the millisecond.
//!
//! Monetization entitlements are package entitlements too (an offer ID is a package ID): the same
//! rows, with the monetization fields (`project_id`, `concurrency_limit`, `origin_country`,
//! `source_id`, `source_type`) set; `project_id` is never NULL on a row the monetization API wrote.
//! The OEM grant leaves those columns NULL and the OEM update leaves them as they are.
//!
//! Entitlement tokens (`PUT /oem/v1/entitlements/token`) are applied at most once: each applied
//! token's (provider, `jti`) is remembered in `entitlement_token_jtis` until the token could no longer
//! verify, in the same transaction as its grants.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row, Transaction};

use crate::ids::{AssetId, IdError, PackageId, UserId};
use crate::store::coherence::Change;
use crate::store::{from_unix_millis, unix_millis};

use super::graph::{package_exists, placeholders, IN_CHUNK};
use super::leases::ConcurrencyPolicy;
use super::packages::lock_packages;
use super::{decode, Catalog, CatalogError};

/// A user's entitlement to a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub uid: UserId,
    pub package_id: PackageId,
    pub start: DateTime<Utc>,
    /// None: open-ended.
    pub end: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    /// Monetization: how many devices may play at once on this entitlement (None: no limit).
    pub concurrency_limit: Option<u32>,
    /// Over that limit: the entitlement's own policy (a sees extension; None = the configured one).
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// Monetization: the ISO 3166-1 alpha-2 country (upper case) where the user obtained it.
    pub origin_country: Option<String>,
    /// Monetization: the project; None on entitlements the monetization API did not write.
    pub project_id: Option<String>,
    /// Monetization: the source of the entitlement (e.g. a transaction ID).
    pub source_id: Option<String>,
    /// Monetization: the kind of source (e.g. `cleeng`).
    pub source_type: Option<String>,
}

/// A user's direct entitlement to one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetEntitlement {
    pub uid: UserId,
    pub asset_id: AssetId,
    pub start: DateTime<Utc>,
    /// None: open-ended.
    pub end: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// A monetization entitlement to write: the user's entitlement to the offer's package, from the
/// time of the write to `end`, with the monetization fields. The caller validates the fields
/// (`origin_country` two upper-case ASCII letters, `concurrency_limit` at least 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonetizationGrant {
    pub uid: UserId,
    /// The offer: an offer ID is a package ID.
    pub package_id: PackageId,
    pub project_id: String,
    /// None: never expires.
    pub end: Option<DateTime<Utc>>,
    pub concurrency_limit: Option<u32>,
    /// The entitlement's own concurrency policy (a sees extension); None = the configured default.
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    pub origin_country: Option<String>,
    pub source_id: Option<String>,
    pub source_type: Option<String>,
}

/// One grant of an entitlement token: the user's entitlement to `package_id` from `start` to `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageGrant {
    pub package_id: PackageId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A verified entitlement token to apply: its grants to `uid`, and what makes it applicable once —
/// the provider, the token's `jti`, and until when the `jti` must be remembered (when the token can no
/// longer verify: its `exp` plus the clock skew).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrants {
    pub provider: String,
    pub jti: String,
    pub remember_until: DateTime<Utc>,
    pub uid: UserId,
    pub grants: Vec<PackageGrant>,
}

/// `is_active` of the entitlement types, which all carry a window.
macro_rules! windowed {
    ($($t:ty),*) => {$(
        impl $t {
            /// Whether `now` is within `[start, end)`.
            pub fn is_active(&self, now: DateTime<Utc>) -> bool {
                active(self.start, self.end, now)
            }
        }
    )*};
}

windowed!(Entitlement, AssetEntitlement);

fn active(start: DateTime<Utc>, end: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    start <= now && end.is_none_or(|end| now < end)
}

fn check_window(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Result<(), CatalogError> {
    match end {
        Some(end) if unix_millis(end) <= unix_millis(start) => Err(CatalogError::DatesOutOfOrder),
        _ => Ok(()),
    }
}

const ENTITLEMENT_COLUMNS: &str = "uid, package_id, start_at, end_at, created_at, modified_at, \
     concurrency_limit, origin_country, project_id, source_id, source_type, concurrency_policy";
pub(super) const ASSET_ENTITLEMENT_COLUMNS: &str =
    "uid, asset_id, start_at, end_at, created_at, modified_at";

impl Catalog {
    /// Grants `uid` the package `package` from `start` (to `end`, or open-ended). The package must
    /// exist; an existing entitlement of the user to the package is a `DuplicateEntitlement` (update
    /// it instead).
    pub async fn grant_entitlement(
        &self,
        uid: &UserId,
        package: &PackageId,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Entitlement, CatalogError> {
        let _invalidation = self.user_write(uid);
        check_window(start, end)?;
        let mut tx = self.store().begin_write().await?;
        if !package_exists(&mut tx, package).await? {
            return Err(CatalogError::PackageNotFound(package.clone()));
        }
        let sql = format!(
            "INSERT INTO entitlements (uid, package_id, start_at, end_at, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (uid, package_id) DO NOTHING RETURNING {ENTITLEMENT_COLUMNS}"
        );
        let row = window_query(
            AssertSqlSafe(sql),
            uid.as_str(),
            package.as_str(),
            start,
            end,
            now,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(CatalogError::DuplicateEntitlement(
                uid.clone(),
                package.clone(),
            ));
        };
        let granted = entitlement_from_row(&row)?;
        self.commit_user(tx, uid, granted).await
    }

    /// The entitlement of `uid` to `package`. `PackageNotFound` when the package does not exist,
    /// `UserNotFound` when the user holds no entitlement at all, `Ok(None)` when the user holds
    /// entitlements but not to this package.
    pub async fn entitlement(
        &self,
        uid: &UserId,
        package: &PackageId,
    ) -> Result<Option<Entitlement>, CatalogError> {
        let mut conn = self.store().pool().acquire().await?;
        let sql = format!(
            "SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE uid = $1 AND package_id = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(uid.as_str())
            .bind(package.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(row) => entitlement_from_row(&row).map(Some),
            None => missing(&mut conn, uid, package).await.map(|()| None),
        }
    }

    /// Sets the window of the entitlement of `uid` to `package`; the same refusals as `entitlement`.
    pub async fn update_entitlement(
        &self,
        uid: &UserId,
        package: &PackageId,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<Entitlement>, CatalogError> {
        let _invalidation = self.user_write(uid);
        check_window(start, end)?;
        let mut tx = self.store().begin_write().await?;
        let sql = format!(
            "UPDATE entitlements SET start_at = $3, end_at = $4, modified_at = $5 \
             WHERE uid = $1 AND package_id = $2 RETURNING {ENTITLEMENT_COLUMNS}"
        );
        let row = window_query(
            AssertSqlSafe(sql),
            uid.as_str(),
            package.as_str(),
            start,
            end,
            now,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return missing(&mut tx, uid, package).await.map(|()| None);
        };
        let updated = entitlement_from_row(&row)?;
        self.commit_user(tx, uid, Some(updated)).await
    }

    /// Removes the entitlement of `uid` to `package`: true when removed; the same refusals as
    /// `entitlement` (false: the user holds entitlements, but not to this package).
    pub async fn revoke_entitlement(
        &self,
        uid: &UserId,
        package: &PackageId,
    ) -> Result<bool, CatalogError> {
        let _invalidation = self.user_write(uid);
        let mut tx = self.store().begin_write().await?;
        let result = sqlx::query("DELETE FROM entitlements WHERE uid = $1 AND package_id = $2")
            .bind(uid.as_str())
            .bind(package.as_str())
            .execute(&mut *tx)
            .await?;
        if result.rows_affected() == 0 {
            return missing(&mut tx, uid, package).await.map(|()| false);
        }
        self.commit_user(tx, uid, true).await
    }

    /// Every package entitlement of `uid` (active or not), oldest first (then by package ID, in byte
    /// order on every backend).
    pub async fn entitlements_of(&self, uid: &UserId) -> Result<Vec<Entitlement>, CatalogError> {
        self.entitlements_where(uid, "").await
    }

    /// Writes the monetization entitlement `e`: the entitlement of `e.uid` to the package `e.package_id`
    /// from `now` to `e.end`, with the monetization fields. An existing entitlement of the user to
    /// the package (monetization or not) is replaced — window and every monetization field; absent
    /// fields become NULL — keeping its `created_at` (a purchase renewal). `DatesOutOfOrder` when
    /// `e.end <= now`, `PackageNotFound` when the package does not exist.
    pub async fn upsert_monetization_entitlement(
        &self,
        e: &MonetizationGrant,
        now: DateTime<Utc>,
    ) -> Result<Entitlement, CatalogError> {
        let _invalidation = self.user_write(&e.uid);
        check_window(now, e.end)?;
        let mut tx = self.store().begin_write().await?;
        if !package_exists(&mut tx, &e.package_id).await? {
            return Err(CatalogError::PackageNotFound(e.package_id.clone()));
        }
        let sql = format!(
            "INSERT INTO entitlements ({ENTITLEMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $3, $3, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (uid, package_id) DO UPDATE SET start_at = excluded.start_at, \
             end_at = excluded.end_at, modified_at = excluded.modified_at, \
             concurrency_limit = excluded.concurrency_limit, \
             concurrency_policy = excluded.concurrency_policy, \
             origin_country = excluded.origin_country, project_id = excluded.project_id, \
             source_id = excluded.source_id, source_type = excluded.source_type \
             RETURNING {ENTITLEMENT_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(e.uid.as_str())
            .bind(e.package_id.as_str())
            .bind(unix_millis(now))
            .bind(e.end.map(unix_millis))
            .bind(e.concurrency_limit.map(i64::from))
            .bind(e.origin_country.as_deref())
            .bind(e.project_id.as_str())
            .bind(e.source_id.as_deref())
            .bind(e.source_type.as_deref())
            .bind(e.concurrency_policy.map(ConcurrencyPolicy::as_str))
            .fetch_one(&mut *tx)
            .await?;
        let written = entitlement_from_row(&row)?;
        self.commit_user(tx, &e.uid, written).await
    }

    /// Applies the entitlement token `t`, all or nothing, in one transaction: remembers its
    /// (provider, `jti`) — `TokenReplayed` when it is already remembered —, then grants `t.uid` each
    /// package of `t.grants` with its window; an entitlement the user already holds to the package gets
    /// the token's window (its monetization fields stay). `PackagesNotFound` names every package of
    /// the grants that does not exist; `DatesOutOfOrder` when a window is empty. Answers the
    /// resulting entitlements in the order of the grants.
    ///
    /// Before the transaction, (provider, `jti`) pairs remembered until before `now` are forgotten
    /// (best effort: a failure there only leaves them for the next call).
    pub async fn apply_token_grants(
        &self,
        t: &TokenGrants,
        now: DateTime<Utc>,
    ) -> Result<Vec<Entitlement>, CatalogError> {
        let _invalidation = self.user_write(&t.uid);
        for grant in &t.grants {
            check_window(grant.start, Some(grant.end))?;
        }
        if let Err(e) = sqlx::query("DELETE FROM entitlement_token_jtis WHERE keep_until < $1")
            .bind(unix_millis(now))
            .execute(self.store().pool())
            .await
        {
            tracing::warn!(error = %e, "forgetting expired entitlement token ids failed");
        }
        let mut tx = self.store().begin_write().await?;
        let remembered = sqlx::query(
            "INSERT INTO entitlement_token_jtis (provider, jti, uid, applied_at, keep_until) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, jti) DO NOTHING",
        )
        .bind(t.provider.as_str())
        .bind(t.jti.as_str())
        .bind(t.uid.as_str())
        .bind(unix_millis(now))
        .bind(unix_millis(t.remember_until))
        .execute(&mut *tx)
        .await?;
        if remembered.rows_affected() == 0 {
            return Err(CatalogError::TokenReplayed);
        }
        let packages: Vec<PackageId> = t.grants.iter().map(|g| g.package_id.clone()).collect();
        let existing = lock_packages(&mut tx, self.store().backend(), &packages).await?;
        let missing: Vec<PackageId> = distinct(&packages)
            .into_iter()
            .filter(|p| !existing.contains(p.as_str()))
            .collect();
        if !missing.is_empty() {
            return Err(CatalogError::PackagesNotFound(missing));
        }
        let sql = format!(
            "INSERT INTO entitlements (uid, package_id, start_at, end_at, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (uid, package_id) DO UPDATE SET start_at = excluded.start_at, \
             end_at = excluded.end_at, modified_at = excluded.modified_at \
             RETURNING {ENTITLEMENT_COLUMNS}"
        );
        let mut granted = Vec::with_capacity(t.grants.len());
        for grant in &t.grants {
            let row = sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(t.uid.as_str())
                .bind(grant.package_id.as_str())
                .bind(unix_millis(grant.start))
                .bind(unix_millis(grant.end))
                .bind(unix_millis(now))
                .fetch_one(&mut *tx)
                .await?;
            granted.push(entitlement_from_row(&row)?);
        }
        self.commit_user(tx, &t.uid, granted).await
    }

    /// The direct grant of `uid` to `asset`, active or not (one indexed lookup; the decision checks
    /// the window with its tolerance).
    pub async fn asset_grant(
        &self,
        uid: &UserId,
        asset: &AssetId,
    ) -> Result<Option<AssetEntitlement>, CatalogError> {
        let sql = format!(
            "SELECT {ASSET_ENTITLEMENT_COLUMNS} FROM asset_entitlements WHERE uid = $1 AND asset_id = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(uid.as_str())
            .bind(asset.as_str())
            .fetch_optional(self.store().pool())
            .await?;
        row.as_ref().map(asset_entitlement_from_row).transpose()
    }

    /// The entitlements of `uid` the monetization API wrote (those with a project), active or not,
    /// in the order of `entitlements_of`.
    pub async fn monetization_entitlements_of(
        &self,
        uid: &UserId,
    ) -> Result<Vec<Entitlement>, CatalogError> {
        self.entitlements_where(uid, " AND project_id IS NOT NULL")
            .await
    }

    /// Removes the monetization entitlement of `uid` to `package`: true when removed; false when
    /// there is none (no such package or user, or an entitlement the monetization API did not
    /// write, which stays).
    pub async fn revoke_monetization_entitlement(
        &self,
        uid: &UserId,
        package: &PackageId,
    ) -> Result<bool, CatalogError> {
        let _invalidation = self.user_write(uid);
        let mut tx = self.store().begin_write().await?;
        let result = sqlx::query(
            "DELETE FROM entitlements \
             WHERE uid = $1 AND package_id = $2 AND project_id IS NOT NULL",
        )
        .bind(uid.as_str())
        .bind(package.as_str())
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        self.commit_user(tx, uid, true).await
    }

    /// Every package `uid` is entitled to at `now`: the packages of their active entitlements and
    /// everything below them in the package graph. Free packages (`bypassEntitlementCheck`) and direct
    /// asset entitlements are not included; the caller checks those itself.
    pub async fn entitled_packages(
        &self,
        uid: &UserId,
        now: DateTime<Utc>,
    ) -> Result<BTreeSet<PackageId>, CatalogError> {
        let at = unix_millis(now);
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT package_id FROM entitlements \
             WHERE uid = $1 AND start_at <= $2 AND (end_at IS NULL OR end_at > $2)",
        )
        .bind(uid.as_str())
        .bind(at)
        .fetch_all(self.store().pool())
        .await?;
        let roots: Vec<PackageId> = rows
            .into_iter()
            .filter_map(|(id,)| PackageId::parse(id).ok())
            .collect();
        if roots.is_empty() {
            return Ok(BTreeSet::new());
        }
        self.descendants(&roots).await
    }

    /// Grants (or re-grants, replacing the window of) `uid` each of `assets` from `start` to `end`,
    /// in one transaction; the grants in the order of `assets` (duplicates once). Assets need not be
    /// in any package.
    pub async fn grant_assets(
        &self,
        uid: &UserId,
        assets: &[AssetId],
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AssetEntitlement>, CatalogError> {
        let _invalidation = self.user_write(uid);
        check_window(start, end)?;
        let assets = distinct(assets);
        let mut tx = self.store().begin_write().await?;
        let sql = format!(
            "INSERT INTO asset_entitlements ({ASSET_ENTITLEMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (uid, asset_id) DO UPDATE SET start_at = excluded.start_at, \
             end_at = excluded.end_at, modified_at = excluded.modified_at \
             RETURNING {ASSET_ENTITLEMENT_COLUMNS}"
        );
        let mut granted = Vec::with_capacity(assets.len());
        for asset in assets {
            let row = window_query(
                AssertSqlSafe(sql.clone()),
                uid.as_str(),
                asset.as_str(),
                start,
                end,
                now,
            )
            .fetch_one(&mut *tx)
            .await?;
            granted.push(asset_entitlement_from_row(&row)?);
        }
        self.commit_user(tx, uid, granted).await
    }

    /// The direct asset entitlements of `uid` among `assets` that are active at `now`, in the order
    /// of `assets` (duplicates once).
    pub async fn active_asset_entitlements(
        &self,
        uid: &UserId,
        assets: &[AssetId],
        now: DateTime<Utc>,
    ) -> Result<Vec<AssetEntitlement>, CatalogError> {
        let assets = distinct(assets);
        let mut conn = self.store().pool().acquire().await?;
        let mut found: BTreeMap<String, AssetEntitlement> = BTreeMap::new();
        for chunk in assets.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT {ASSET_ENTITLEMENT_COLUMNS} FROM asset_entitlements \
                 WHERE uid = $1 AND asset_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(uid.as_str());
            for asset in chunk {
                query = query.bind(asset.as_str());
            }
            for row in query.fetch_all(&mut *conn).await? {
                let grant = asset_entitlement_from_row(&row)?;
                if grant.is_active(now) {
                    found.insert(grant.asset_id.as_str().to_owned(), grant);
                }
            }
        }
        Ok(assets
            .iter()
            .filter_map(|asset| found.remove(asset.as_str()))
            .collect())
    }

    /// The entitlements of `uid` that also meet the SQL condition `and` (empty: all of them), in the
    /// order of `oldest_first`.
    async fn entitlements_where(
        &self,
        uid: &UserId,
        and: &'static str,
    ) -> Result<Vec<Entitlement>, CatalogError> {
        let sql = format!("SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE uid = $1{and}");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(uid.as_str())
            .fetch_all(self.store().pool())
            .await?;
        oldest_first(&rows)
    }

    /// Publishes the change to `uid`'s entitlements in `tx`, commits it and answers `written`.
    async fn commit_user<T>(
        &self,
        mut tx: Transaction<'static, Any>,
        uid: &UserId,
        written: T,
    ) -> Result<T, CatalogError> {
        self.store().publish(&mut tx, &[Change::User(uid)]).await?;
        tx.commit().await?;
        Ok(written)
    }
}

/// `sql` bound to an owner and a target (`$1`, `$2`), a window from `start` (`$3`) to `end` (`$4`,
/// NULL: open-ended) and the time of the write (`$5`), all times in Unix milliseconds.
fn window_query<'q>(
    sql: AssertSqlSafe<String>,
    owner: &'q str,
    target: &'q str,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Query<'q, Any, AnyArguments> {
    sqlx::query(sql)
        .bind(owner)
        .bind(target)
        .bind(unix_millis(start))
        .bind(end.map(unix_millis))
        .bind(unix_millis(now))
}

/// Why a (user, package) pair has no entitlement: the package does not exist, or the user is unknown
/// (no entitlement at all, to a package or an asset); `Ok` when both exist.
async fn missing(
    conn: &mut AnyConnection,
    uid: &UserId,
    package: &PackageId,
) -> Result<(), CatalogError> {
    if !package_exists(conn, package).await? {
        return Err(CatalogError::PackageNotFound(package.clone()));
    }
    let known: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM entitlements WHERE uid = $1 \
         UNION ALL SELECT 1 FROM asset_entitlements WHERE uid = $1 LIMIT 1",
    )
    .bind(uid.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    if known.is_none() {
        return Err(CatalogError::UserNotFound(uid.clone()));
    }
    Ok(())
}

/// `ids` without repeats, in first-seen order.
fn distinct<T: Clone + Ord>(ids: &[T]) -> Vec<T> {
    let mut seen = BTreeSet::new();
    ids.iter()
        .filter(|id| seen.insert((*id).clone()))
        .cloned()
        .collect()
}

/// The entitlements of `rows`, oldest first, then by package ID (in byte order on every backend).
fn oldest_first(rows: &[AnyRow]) -> Result<Vec<Entitlement>, CatalogError> {
    let mut found = rows
        .iter()
        .map(entitlement_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    found.sort_by(|a, b| {
        (a.created_at, a.package_id.as_str()).cmp(&(b.created_at, b.package_id.as_str()))
    });
    Ok(found)
}

/// The identifier in `column` of `row`, read with `parse`.
fn id_at<T>(
    row: &AnyRow,
    column: &str,
    parse: fn(String) -> Result<T, IdError>,
) -> Result<T, CatalogError> {
    parse(row.try_get::<String, _>(column)?).map_err(|e| decode(column, e))
}

/// The window and the write times every entitlement row carries.
struct Times {
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    modified_at: DateTime<Utc>,
}

impl Times {
    fn of(row: &AnyRow) -> Result<Self, CatalogError> {
        Ok(Self {
            start: from_unix_millis(row.try_get("start_at")?),
            end: row
                .try_get::<Option<i64>, _>("end_at")?
                .map(from_unix_millis),
            created_at: from_unix_millis(row.try_get("created_at")?),
            modified_at: from_unix_millis(row.try_get("modified_at")?),
        })
    }
}

fn entitlement_from_row(row: &AnyRow) -> Result<Entitlement, CatalogError> {
    let uid = id_at(row, "uid", UserId::parse)?;
    let package_id = id_at(row, "package_id", PackageId::parse)?;
    let times = Times::of(row)?;
    Ok(Entitlement {
        uid,
        package_id,
        start: times.start,
        end: times.end,
        created_at: times.created_at,
        modified_at: times.modified_at,
        concurrency_limit: row
            .try_get::<Option<i64>, _>("concurrency_limit")?
            .map(|n| u32::try_from(n).map_err(|e| decode("concurrency_limit", e)))
            .transpose()?,
        concurrency_policy: row
            .try_get::<Option<String>, _>("concurrency_policy")?
            .and_then(|raw| ConcurrencyPolicy::parse(&raw)),
        origin_country: row.try_get("origin_country")?,
        project_id: row.try_get("project_id")?,
        source_id: row.try_get("source_id")?,
        source_type: row.try_get("source_type")?,
    })
}

pub(super) fn asset_entitlement_from_row(row: &AnyRow) -> Result<AssetEntitlement, CatalogError> {
    let uid = id_at(row, "uid", UserId::parse)?;
    let asset_id = id_at(row, "asset_id", AssetId::parse)?;
    let times = Times::of(row)?;
    Ok(AssetEntitlement {
        uid,
        asset_id,
        start: times.start,
        end: times.end,
        created_at: times.created_at,
        modified_at: times.modified_at,
    })
}
