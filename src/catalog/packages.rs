//! Packages: a named group of assets, with billing plans, a region whitelist and custom data; free
//! packages carry `bypass` (`bypassEntitlementCheck`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::ids::{AssetId, BillingPlanId, IdError, PackageId, RegionId};
use crate::store::from_unix_millis;

use super::{Catalog, CatalogError};

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
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

impl Catalog {
    /// The package `id`.
    pub async fn package(&self, id: &PackageId) -> Result<Package, CatalogError> {
        self.packages_by_ids(std::slice::from_ref(id))
            .await?
            .pop()
            .ok_or_else(|| CatalogError::PackageNotFound(id.clone()))
    }

    /// The packages among `ids` that exist, in the order of `ids` (unknown IDs are skipped).
    pub async fn packages_by_ids(&self, ids: &[PackageId]) -> Result<Vec<Package>, CatalogError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(
                "SELECT id, name, description, bypass, created_at, modified_at FROM packages WHERE id = $1",
            )
            .bind(id.as_str())
            .fetch_optional(self.store().pool())
            .await?;
            let Some(row) = row else { continue };
            found.push(self.complete(&row).await?);
        }
        Ok(found)
    }

    /// A package row with its lists read.
    pub(crate) async fn complete(&self, row: &sqlx::any::AnyRow) -> Result<Package, CatalogError> {
        let id: String = row.try_get("id")?;
        let pool = self.store().pool();
        let list = |sql: &'static str| {
            let id = id.clone();
            async move {
                let rows: Vec<(String,)> = sqlx::query_as(sql).bind(id).fetch_all(pool).await?;
                Ok::<Vec<String>, sqlx::Error>(rows.into_iter().map(|(v,)| v).collect())
            }
        };
        let assets = list(
            "SELECT asset_id FROM package_assets WHERE package_id = $1 ORDER BY position, asset_id",
        )
        .await?;
        let plans = list(
            "SELECT billing_plan_id FROM package_billing_plans WHERE package_id = $1 ORDER BY position, billing_plan_id",
        )
        .await?;
        let regions = list("SELECT region_id FROM package_regions WHERE package_id = $1 ORDER BY position, region_id").await?;
        let custom: Vec<(String, String)> =
            sqlx::query_as("SELECT name, value FROM package_custom_data WHERE package_id = $1")
                .bind(&id)
                .fetch_all(pool)
                .await?;
        Ok(Package {
            id: PackageId::parse(id.clone()).map_err(|e| decode(format!("package id {e}")))?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            bypass: row.try_get::<i64, _>("bypass")? != 0,
            asset_ids: parse_all(assets, AssetId::parse),
            billing_plan_ids: parse_all(plans, BillingPlanId::parse),
            region_ids: parse_all(regions, RegionId::parse),
            custom_data: custom
                .into_iter()
                .collect::<HashMap<_, _>>()
                .into_iter()
                .collect(),
            created_at: from_unix_millis(row.try_get("created_at")?),
            modified_at: from_unix_millis(row.try_get("modified_at")?),
        })
    }
}

fn decode(message: String) -> CatalogError {
    CatalogError::from(sqlx::Error::Decode(message.into()))
}

/// Stored identifiers back into their types (they were validated when written; a row that no longer
/// parses is skipped rather than failing the whole read).
fn parse_all<T>(raw: Vec<String>, parse: fn(String) -> Result<T, IdError>) -> Vec<T> {
    raw.into_iter().filter_map(|v| parse(v).ok()).collect()
}
