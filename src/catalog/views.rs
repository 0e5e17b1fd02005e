//! The decision's reads, one view per asset and one per user, through the decision cache when the
//! catalogue has one.

use std::collections::BTreeSet;
use std::sync::Arc;

use sqlx::AssertSqlSafe;

use super::cache::{AssetView, UserView};
use super::entitlements::{asset_entitlement_from_row, ASSET_ENTITLEMENT_COLUMNS};
use super::{AssetEntitlement, Catalog, CatalogError};
use crate::ids::{AssetId, PackageId, UserId};

impl Catalog {
    /// The packages that contain `asset`, their ancestors and the rules of all of them.
    pub async fn asset_view(&self, asset: &AssetId) -> Result<Arc<AssetView>, CatalogError> {
        let Some(cache) = self.cache.as_deref() else {
            return Ok(Arc::new(self.read_asset_view(asset).await?));
        };
        if let Some(view) = cache.asset(asset) {
            return Ok(view);
        }
        let stamp = cache.asset_stamp();
        let view = Arc::new(self.read_asset_view(asset).await?);
        cache.keep_asset(asset, stamp, Arc::clone(&view));
        Ok(view)
    }

    /// The entitlements and direct asset grants of `uid`.
    pub async fn user_view(&self, uid: &UserId) -> Result<Arc<UserView>, CatalogError> {
        let Some(cache) = self.cache.as_deref() else {
            return Ok(Arc::new(self.read_user_view(uid).await?));
        };
        if let Some(view) = cache.user(uid) {
            return Ok(view);
        }
        let stamp = cache.user_stamp(uid);
        let view = Arc::new(self.read_user_view(uid).await?);
        cache.keep_user(uid, stamp, Arc::clone(&view));
        Ok(view)
    }

    /// The direct grant of `uid` to `asset` (active or not), from `view` when it holds the user's
    /// grants, else from the store.
    pub async fn asset_grant_in(
        &self,
        view: &UserView,
        uid: &UserId,
        asset: &AssetId,
    ) -> Result<Option<AssetEntitlement>, CatalogError> {
        match &view.asset_grants {
            Some(grants) => Ok(grants.iter().find(|g| g.asset_id == *asset).cloned()),
            None => self.asset_grant(uid, asset).await,
        }
    }

    async fn read_asset_view(&self, asset: &AssetId) -> Result<AssetView, CatalogError> {
        let leaves: Vec<PackageId> = self
            .packages_containing(std::slice::from_ref(asset))
            .await?
            .pop()
            .map(|(_, ids)| ids)
            .unwrap_or_default();
        if leaves.is_empty() {
            return Ok(AssetView::default());
        }
        let ancestor_edges = self.ancestor_edges(&leaves).await?;
        let everyone: Vec<PackageId> = leaves
            .iter()
            .chain(ancestor_edges.iter().map(|(_, parent)| parent))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let rules: std::collections::HashMap<_, _> = self
            .package_rules(&everyone)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let containing = leaves
            .iter()
            .filter_map(|id| rules.get(id).cloned())
            .collect();
        Ok(AssetView {
            containing,
            ancestor_edges,
            rules,
        })
    }

    async fn read_user_view(&self, uid: &UserId) -> Result<UserView, CatalogError> {
        let entitlements = self.entitlements_of(uid).await?;
        let sql = format!(
            "SELECT {ASSET_ENTITLEMENT_COLUMNS} FROM asset_entitlements WHERE uid = $1 LIMIT {}",
            UserView::MAX_ASSET_GRANTS + 1
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(uid.as_str())
            .fetch_all(self.store().pool())
            .await?;
        let asset_grants = if rows.len() > UserView::MAX_ASSET_GRANTS {
            None
        } else {
            Some(
                rows.iter()
                    .map(asset_entitlement_from_row)
                    .collect::<Result<_, _>>()?,
            )
        };
        Ok(UserView {
            entitlements,
            asset_grants,
        })
    }
}
