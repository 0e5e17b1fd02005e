//! A bounded in-process cache of what the decision reads: per asset, the packages that contain it
//! with their ancestors and rules ([`AssetView`]); per user, the entitlements and direct asset
//! grants ([`UserView`]).
//!
//! Entries are stamped with the store's [`Coherence`] generations read *before* their rows were
//! loaded and served only while those are still current and the caches may be used at all. Every
//! catalogue write moves them — in this process when it ends, on every other node sharing a
//! PostgreSQL store through its notification (see `store::coherence`): a package, asset list or
//! graph write moves the catalogue generation (every entry), an entitlement write the user's stripe.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Mutex};

use super::{AssetEntitlement, Entitlement, PackageRules};
use crate::ids::{AssetId, PackageId, UserId};
use crate::store::coherence::Coherence;

/// Each map is split into this many independently locked shards.
const SHARDS: usize = 16;

/// What the decision needs to know about one asset.
#[derive(Debug, Default)]
pub struct AssetView {
    /// The packages that contain the asset directly, with their rules, in byte order of ID.
    pub containing: Vec<PackageRules>,
    /// Child → parent edges from those packages up to the graph limit.
    pub ancestor_edges: Vec<(PackageId, PackageId)>,
    /// The rules of every package in `containing` and among the ancestors.
    pub rules: HashMap<PackageId, PackageRules>,
}

/// What the decision needs to know about one user.
#[derive(Debug, Default)]
pub struct UserView {
    /// Every package entitlement, active or not, in `Catalog::entitlements_of` order.
    pub entitlements: Vec<Entitlement>,
    /// Every direct asset grant, active or not; `None` when the user holds more than
    /// [`UserView::MAX_ASSET_GRANTS`] (they are then looked up one asset at a time).
    pub asset_grants: Option<Vec<AssetEntitlement>>,
}

impl UserView {
    /// Above this many direct asset grants a user's grants are not held in memory.
    pub const MAX_ASSET_GRANTS: usize = 256;
}

/// The cache; shared by every clone of the catalogue that made it.
pub(crate) struct DecisionCache {
    coherence: Arc<Coherence>,
    hasher: RandomState,
    assets: Shards<AssetId, Stamp, AssetView>,
    users: Shards<UserId, Stamp, UserView>,
}

impl std::fmt::Debug for DecisionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (assets, users) = self.len();
        f.debug_struct("DecisionCache")
            .field("assets", &assets)
            .field("users", &users)
            .finish()
    }
}

/// The generations an entry was read under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    catalogue: u64,
    user: u64,
}

impl DecisionCache {
    /// A cache holding at most `capacity` assets and `capacity` users, stamped by `coherence`.
    pub(crate) fn new(capacity: usize, coherence: Arc<Coherence>) -> Self {
        Self {
            coherence,
            hasher: RandomState::new(),
            assets: Shards::new(capacity),
            users: Shards::new(capacity),
        }
    }

    /// The current stamp for an asset view (take it before reading the rows).
    pub(crate) fn asset_stamp(&self) -> Stamp {
        Stamp {
            catalogue: self.coherence.catalogue(),
            user: 0,
        }
    }

    /// The current stamp for `uid` (take it before reading the rows).
    pub(crate) fn user_stamp(&self, uid: &UserId) -> Stamp {
        Stamp {
            catalogue: self.coherence.catalogue(),
            user: self.coherence.user(uid),
        }
    }

    /// The cached view of `asset`, if it is still current.
    pub(crate) fn asset(&self, asset: &AssetId) -> Option<Arc<AssetView>> {
        if !self.coherence.caching() {
            return None;
        }
        let hash = self.hasher.hash_one(asset);
        self.assets.get(hash, asset, self.asset_stamp())
    }

    /// Keeps `view` of `asset`, read under `stamp`.
    pub(crate) fn keep_asset(&self, asset: &AssetId, stamp: Stamp, view: Arc<AssetView>) {
        if self.coherence.caching() {
            let hash = self.hasher.hash_one(asset);
            self.assets.put(hash, asset.clone(), stamp, view);
        }
    }

    /// The cached view of `uid`, if it is still current.
    pub(crate) fn user(&self, uid: &UserId) -> Option<Arc<UserView>> {
        if !self.coherence.caching() {
            return None;
        }
        let hash = self.hasher.hash_one(uid);
        self.users.get(hash, uid, self.user_stamp(uid))
    }

    /// Keeps `view` of `uid`, read under `stamp`.
    pub(crate) fn keep_user(&self, uid: &UserId, stamp: Stamp, view: Arc<UserView>) {
        if self.coherence.caching() {
            let hash = self.hasher.hash_one(uid);
            self.users.put(hash, uid.clone(), stamp, view);
        }
    }

    /// How many assets and users are held.
    pub(crate) fn len(&self) -> (usize, usize) {
        (self.assets.len(), self.users.len())
    }
}

type Entry<S, V> = (S, Arc<V>);
type Shard<K, S, V> = Mutex<HashMap<K, Entry<S, V>>>;

/// A bounded map split into independently locked shards; an entry is served only while the stamp
/// it was kept under is the caller's current one.
pub(crate) struct Shards<K, S, V> {
    shards: Box<[Shard<K, S, V>]>,
    per_shard: usize,
}

impl<K: Eq + Hash + Clone, S: Copy + Eq, V> Shards<K, S, V> {
    /// Room for about `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, HashMap<K, Entry<S, V>>> {
        // A poisoned shard only means another thread panicked mid-insert; the map is still whole.
        self.shards[hash as usize % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry of `key` (whose hash is `hash`) if it was kept under `current`.
    pub(crate) fn get(&self, hash: u64, key: &K, current: S) -> Option<Arc<V>> {
        let mut shard = self.shard(hash);
        match shard.get(key) {
            Some((stamp, view)) if *stamp == current => Some(Arc::clone(view)),
            Some(_) => {
                shard.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `view` for `key` under `stamp`, dropping an arbitrary entry of the shard when it is full.
    pub(crate) fn put(&self, hash: u64, key: K, stamp: S, view: Arc<V>) {
        let mut shard = self.shard(hash);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            // Full: make room by dropping an arbitrary entry (the map's iteration order).
            if let Some(victim) = shard.keys().next().cloned() {
                shard.remove(&victim);
            }
        }
        shard.insert(key, (stamp, view));
    }

    /// How many entries are held.
    pub(crate) fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.shard(i as u64).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::coherence::Change;

    fn uid(s: &str) -> UserId {
        UserId::parse(s.to_owned()).unwrap()
    }

    fn asset(s: &str) -> AssetId {
        AssetId::parse(s.to_owned()).unwrap()
    }

    fn new_cache(capacity: usize) -> DecisionCache {
        DecisionCache::new(capacity, Arc::new(Coherence::new(false)))
    }

    #[test]
    fn an_entry_is_served_until_its_generation_moves() {
        let cache = new_cache(100);
        let a = asset("a1");
        let stamp = cache.asset_stamp();
        cache.keep_asset(&a, stamp, Arc::new(AssetView::default()));
        assert!(cache.asset(&a).is_some());
        cache.coherence.apply(&[Change::Catalogue]);
        assert!(cache.asset(&a).is_none());
    }

    #[test]
    fn a_view_read_before_a_write_ended_is_never_served_after_it() {
        let cache = new_cache(100);
        let u = uid("u1");
        // A reader takes its stamp, a write ends, then the reader keeps what it read.
        let stamp = cache.user_stamp(&u);
        drop(cache.coherence.invalidation(&[Change::User(&u)]));
        cache.keep_user(&u, stamp, Arc::new(UserView::default()));
        assert!(cache.user(&u).is_none());
    }

    #[test]
    fn a_user_write_leaves_other_stripes_and_assets_alone() {
        let cache = new_cache(10_000);
        let users: Vec<UserId> = (0..200).map(|i| uid(&format!("u{i}"))).collect();
        for u in &users {
            cache.keep_user(u, cache.user_stamp(u), Arc::new(UserView::default()));
        }
        let a = asset("a1");
        cache.keep_asset(&a, cache.asset_stamp(), Arc::new(AssetView::default()));
        cache.coherence.apply(&[Change::User(&users[0])]);
        assert!(cache.user(&users[0]).is_none());
        let still = users.iter().filter(|u| cache.user(u).is_some()).count();
        assert!(still >= 190, "only {still} of 199 other users kept");
        assert!(cache.asset(&a).is_some());
    }

    #[test]
    fn a_catalogue_write_drops_every_user_too() {
        let cache = new_cache(100);
        let u = uid("u1");
        cache.keep_user(&u, cache.user_stamp(&u), Arc::new(UserView::default()));
        cache.coherence.apply(&[Change::Catalogue]);
        assert!(cache.user(&u).is_none());
    }

    #[test]
    fn nothing_is_cached_on_a_shared_store_while_not_subscribed() {
        let coherence = Arc::new(Coherence::new(true));
        let cache = DecisionCache::new(100, Arc::clone(&coherence));
        let a = asset("a1");
        cache.keep_asset(&a, cache.asset_stamp(), Arc::new(AssetView::default()));
        assert_eq!(
            cache.len(),
            (0, 0),
            "not kept before the first subscription"
        );
        coherence.subscribed_at(0);
        let stamp = cache.asset_stamp();
        cache.keep_asset(&a, stamp, Arc::new(AssetView::default()));
        assert!(cache.asset(&a).is_some());
        coherence.unsubscribed("connection");
        assert!(cache.asset(&a).is_none(), "not served while unsubscribed");
        coherence.subscribed_at(0);
        assert!(
            cache.asset(&a).is_none(),
            "not served after resubscribing either"
        );
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = new_cache(64);
        for i in 0..1_000 {
            let a = asset(&format!("a{i}"));
            cache.keep_asset(&a, cache.asset_stamp(), Arc::new(AssetView::default()));
        }
        let (assets, _) = cache.len();
        assert!(assets <= 64 + SHARDS, "{assets} assets held");
        assert!(assets >= 32, "{assets} assets held");
    }
}
