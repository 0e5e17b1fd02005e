//! The entitlement catalogue: packages of assets (free ones included), their billing plans, regions
//! and custom data, the package graph, users' entitlements with their time windows, and billing plans
//! and products. Domain types and SQL only — no HTTP here (the admin API translates `CatalogError`
//! into answers).
//!
//! SQL is written once for SQLite and PostgreSQL (see `store`); multi-row writes run in one
//! transaction so nothing is half-applied.

mod billing;
pub(crate) mod cache;
mod devices;
mod entitlements;
mod graph;
mod lease_batch;
mod leases;
mod packages;
mod sessions;
pub mod settings;
mod views;

pub use billing::{
    Billing, BillingPlan, Currency, Localized, Period, PeriodUnit, PlanUsers, Price, Prices,
    Product, ProductFilter, StoreProduct, TrialPeriod, ValueError,
};
pub use cache::{AssetView, UserView};
pub use devices::{DeviceAdmission, UserDevices};
pub use entitlements::{
    AssetEntitlement, Entitlement, MonetizationGrant, PackageGrant, TokenGrants,
};
pub use leases::{Admission, ConcurrencyPolicy, Lease, StreamLeases};
pub use packages::{Package, PackageQuery, PackageRules};
pub use sessions::{PlaybackSession, PlaybackSessions};
pub use settings::ConcurrencySettings;

use std::sync::Arc;

use cache::DecisionCache;

use crate::ids::{BillingPlanId, PackageId, ProductId, UserId};
use crate::store::coherence::{Change, Invalidation};
use crate::store::{LockKey, Store, StoreError};

/// A class of per-user advisory locks (one user's leases, one user's device registrations): the
/// class, then a hash of the uid in `domain`.
pub(crate) struct UserLock {
    class: i32,
    domain: &'static [u8],
}

impl UserLock {
    /// The lock of `uid` in this class.
    fn key(&self, uid: &UserId) -> LockKey {
        LockKey::hashed(self.class, self.domain, uid.as_str())
    }
}

/// Why a catalogue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("package {0} not found")]
    PackageNotFound(PackageId),
    #[error("user {0} not found")]
    UserNotFound(UserId),
    #[error("package {0} exists")]
    DuplicatePackage(PackageId),
    #[error("user {0} already holds an entitlement to package {1}")]
    DuplicateEntitlement(UserId, PackageId),
    #[error("{child} is already an ancestor of {parent}: the edge would make a cycle")]
    Cycle { parent: PackageId, child: PackageId },
    #[error("the edge would make a parent → child chain of {edges} edges (at most {max})")]
    TooDeep { edges: u32, max: u32 },
    #[error("billing plan {0} not found")]
    BillingPlanNotFound(BillingPlanId),
    #[error("product {0} not found")]
    ProductNotFound(ProductId),
    #[error("billing plan {0} exists")]
    DuplicateBillingPlan(BillingPlanId),
    #[error("product {0} exists")]
    DuplicateProduct(ProductId),
    #[error("package {package} already has a product for billing plan {plan}: {existing}")]
    DuplicateProductPlan {
        package: PackageId,
        plan: BillingPlanId,
        existing: ProductId,
    },
    #[error("product {product} is at version {current}, not {expected}: read it again and retry")]
    VersionConflict {
        product: ProductId,
        expected: u64,
        current: u64,
    },
    #[error("billing plan {plan} is still used by {users}; nothing was deleted")]
    BillingPlanInUse {
        plan: BillingPlanId,
        users: PlanUsers,
    },
    #[error("endDate must be after startDate")]
    DatesOutOfOrder,
    #[error("no package with the ID(s) {}", id_list(.0))]
    PackagesNotFound(Vec<PackageId>),
    #[error("this entitlement token (provider and jti) was already applied")]
    TokenReplayed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// At most the first 20 of `ids`, comma-separated, then how many more there are.
fn id_list(ids: &[PackageId]) -> String {
    const SHOWN: usize = 20;
    let names: Vec<&str> = ids.iter().take(SHOWN).map(PackageId::as_str).collect();
    match ids.len().saturating_sub(SHOWN) {
        0 => names.join(", "),
        more => format!("{} and {more} more", names.join(", ")),
    }
}

/// A stored value that does not read back as its type: `<what> <why>`.
pub(crate) fn decode(what: &str, e: impl std::fmt::Display) -> CatalogError {
    CatalogError::from(sqlx::Error::Decode(format!("{what} {e}").into()))
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        CatalogError::Store(StoreError::Database(e))
    }
}

/// The catalogue over the shared store.
#[derive(Debug, Clone)]
pub struct Catalog {
    store: Store,
    graph_max_depth: u32,
    cache: Option<Arc<DecisionCache>>,
}

impl Catalog {
    /// The catalogue in `store`; package chains are limited to `graph_max_depth` edges.
    pub fn new(store: Store, graph_max_depth: u32) -> Self {
        Self {
            store,
            graph_max_depth,
            cache: None,
        }
    }

    /// This catalogue with a cache of up to `capacity` assets and `capacity` users for the decision
    /// (see [`AssetView`], [`UserView`]), kept coherent with writes of this and every other node
    /// through the store's generations (see `store::coherence`).
    pub fn with_decision_cache(mut self, capacity: usize) -> Self {
        self.cache = (capacity > 0).then(|| {
            Arc::new(DecisionCache::new(
                capacity,
                Arc::clone(self.store.coherence()),
            ))
        });
        self
    }

    /// Held by a write that may change packages, their assets or rules, or the graph.
    pub(crate) fn catalogue_write(&self) -> Invalidation<'_> {
        self.store.coherence().invalidation(&[Change::Catalogue])
    }

    /// Held by a write to the entitlements or asset grants of `uid`.
    pub(crate) fn user_write(&self, uid: &UserId) -> Invalidation<'_> {
        self.store.coherence().invalidation(&[Change::User(uid)])
    }

    /// Under strict consistency, waits until every committed write is applied to the caches: `false`
    /// when the decision must run uncached (see `Store::ensure_current`).
    pub async fn ensure_current(&self) -> bool {
        self.store.ensure_current().await
    }

    /// The store (for the query functions in this module's files).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_lock_keys_are_stable_and_differ_by_user_and_class() {
        let alice = UserId::parse("alice").unwrap();
        let bob = UserId::parse("bob").unwrap();
        for lock in [&devices::DEVICE_LOCK, &leases::LEASE_LOCK] {
            assert_eq!(lock.key(&alice), lock.key(&alice));
            assert_ne!(lock.key(&alice), lock.key(&bob));
        }
        assert_ne!(
            leases::LEASE_LOCK.class,
            devices::DEVICE_LOCK.class,
            "the device lock class"
        );
    }
}
