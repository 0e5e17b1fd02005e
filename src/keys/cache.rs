//! A small bounded, time-limited map of decrypted keys that keeps the hot path off the database.
//!
//! Entries are stamped with their key stripe's [`Coherence`] generation read before the row was
//! loaded: a key replaced or deleted on this node or any other sharing the store stops being served
//! as soon as the change is applied, not after the TTL (which stays as an upper bound).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ids::ContentId;
use crate::store::coherence::Coherence;

use super::record::StoredKey;

/// When an entry was kept, under which generation, and the key.
type Entry = (Instant, u64, Arc<StoredKey>);

/// Decrypted keys by content ID. Entries older than the TTL, or kept under a generation that has
/// moved since, are ignored and replaced.
pub(crate) struct KeyCache {
    capacity: usize,
    ttl: Duration,
    coherence: Arc<Coherence>,
    entries: Mutex<HashMap<ContentId, Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl KeyCache {
    pub(crate) fn new(capacity: usize, ttl: Duration, coherence: Arc<Coherence>) -> Self {
        Self {
            capacity,
            ttl,
            coherence,
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The generation to keep a key of `id` under (take it before reading the row).
    pub(crate) fn stamp(&self, id: &ContentId) -> u64 {
        self.coherence.key(id)
    }

    /// The cached key when present, fresh and current; counts a hit or a miss.
    pub(crate) fn get(&self, id: &ContentId) -> Option<Arc<StoredKey>> {
        let found = if self.coherence.caching() {
            let current = self.coherence.key(id);
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries
                .get(id)
                .filter(|(at, stamp, _)| at.elapsed() < self.ttl && *stamp == current)
                .map(|(_, _, key)| Arc::clone(key))
        } else {
            None
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Lookups so far: (hits, misses).
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Remembers `key`, read under `stamp`; when full, drops stale entries first, then an arbitrary
    /// one.
    pub(crate) fn insert(&self, stamp: u64, key: Arc<StoredKey>) {
        if self.capacity == 0 || !self.coherence.caching() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key.content_id) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                if let Some(victim) = entries.keys().next().cloned() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(key.content_id.clone(), (Instant::now(), stamp, key));
    }

    /// Forgets one key (after a change made by this process).
    pub(crate) fn remove(&self, id: &ContentId) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{ContentKey, KeyPolicy};

    fn key(id: &str) -> Arc<StoredKey> {
        Arc::new(StoredKey {
            content_id: ContentId::parse(id).unwrap(),
            key: ContentKey::new([1; 16], [2; 16]),
            policy: KeyPolicy::default(),
        })
    }

    fn new_cache(capacity: usize, ttl: Duration) -> KeyCache {
        KeyCache::new(capacity, ttl, Arc::new(Coherence::new(false)))
    }

    fn keep(cache: &KeyCache, id: &str) {
        let stamp = cache.stamp(&ContentId::parse(id).unwrap());
        cache.insert(stamp, key(id));
    }

    #[test]
    fn bounded_and_expiring() {
        let cache = new_cache(2, Duration::from_secs(60));
        for id in ["a", "b", "c"] {
            keep(&cache, id);
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&ContentId::parse("c").unwrap()).is_some());
        cache.remove(&ContentId::parse("c").unwrap());
        assert!(cache.get(&ContentId::parse("c").unwrap()).is_none());

        let expired = new_cache(2, Duration::ZERO);
        keep(&expired, "a");
        assert!(expired.get(&ContentId::parse("a").unwrap()).is_none());

        let disabled = new_cache(0, Duration::from_secs(60));
        keep(&disabled, "a");
        assert!(disabled.get(&ContentId::parse("a").unwrap()).is_none());
    }

    #[test]
    fn counts_hits_and_misses() {
        let cache = new_cache(2, Duration::from_secs(60));
        let a = ContentId::parse("a").unwrap();
        assert!(cache.get(&a).is_none());
        keep(&cache, "a");
        assert!(cache.get(&a).is_some());
        assert!(cache.get(&a).is_some());
        assert_eq!(cache.stats(), (2, 1));
    }

    #[test]
    fn a_key_changed_anywhere_stops_being_served_at_once() {
        use crate::store::coherence::Change;
        let cache = new_cache(10, Duration::from_secs(3600));
        let a = ContentId::parse("a").unwrap();
        // Read before a change ended elsewhere, kept after it: never served.
        let stamp = cache.stamp(&a);
        cache.coherence.apply(&[Change::Key(&a)]);
        cache.insert(stamp, key("a"));
        assert!(cache.get(&a).is_none());
        keep(&cache, "a");
        assert!(cache.get(&a).is_some());
        cache.coherence.apply(&[Change::AllKeys]);
        assert!(cache.get(&a).is_none(), "a bulk change covers every key");
    }
}
