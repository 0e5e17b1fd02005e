//! A small bounded, time-limited map of decrypted keys that keeps the hot path off the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ids::ContentId;

use super::store::StoredKey;

/// Decrypted keys by content ID. Entries older than the TTL are ignored and replaced.
pub(crate) struct KeyCache {
    capacity: usize,
    ttl: Duration,
    entries: Mutex<HashMap<ContentId, (Instant, Arc<StoredKey>)>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl KeyCache {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity,
            ttl,
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached key when present and fresh; counts a hit or a miss.
    pub(crate) fn get(&self, id: &ContentId) -> Option<Arc<StoredKey>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let found = entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, key)| Arc::clone(key));
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

    /// Remembers `key`; when full, drops stale entries first, then an arbitrary one.
    pub(crate) fn insert(&self, key: Arc<StoredKey>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key.content_id) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                if let Some(victim) = entries.keys().next().cloned() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(key.content_id.clone(), (Instant::now(), key));
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

    #[test]
    fn bounded_and_expiring() {
        let cache = KeyCache::new(2, Duration::from_secs(60));
        for id in ["a", "b", "c"] {
            cache.insert(key(id));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&ContentId::parse("c").unwrap()).is_some());
        cache.remove(&ContentId::parse("c").unwrap());
        assert!(cache.get(&ContentId::parse("c").unwrap()).is_none());

        let expired = KeyCache::new(2, Duration::ZERO);
        expired.insert(key("a"));
        assert!(expired.get(&ContentId::parse("a").unwrap()).is_none());

        let disabled = KeyCache::new(0, Duration::from_secs(60));
        disabled.insert(key("a"));
        assert!(disabled.get(&ContentId::parse("a").unwrap()).is_none());
    }

    #[test]
    fn counts_hits_and_misses() {
        let cache = KeyCache::new(2, Duration::from_secs(60));
        let a = ContentId::parse("a").unwrap();
        assert!(cache.get(&a).is_none());
        cache.insert(key("a"));
        assert!(cache.get(&a).is_some());
        assert!(cache.get(&a).is_some());
        assert_eq!(cache.stats(), (2, 1));
    }
}
