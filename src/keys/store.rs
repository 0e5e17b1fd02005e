//! `KeyStore`: content keys by content ID — sealed in the database, opened on demand, cached.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::Row;

use crate::ids::{AssetId, ContentId};
use crate::store::coherence::Change;
use crate::store::{from_unix_millis, unix_millis, Store, StoreError};

use super::cache::KeyCache;
use super::lifetime::TokenLifetime;
use super::master::MasterKey;
use super::material::ContentKey;
use super::record::{KeyPolicy, KeySummary, NewContentKey, StoredKey};

/// Associated data of the master-key canary.
const CANARY_AAD: &[u8] = b"sees:master-key-canary:v1";
const CANARY_PLAIN: &[u8] = b"sees master key canary";

/// Why a key operation failed. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the master key does not open this store's keys (wrong master key for {0})")]
    WrongMasterKey(String),
    #[error(
        "the stored key for {0} does not open: record damaged or sealed under another master key"
    )]
    Unreadable(ContentId),
    #[error("content {0} already has a key (use --replace to overwrite)")]
    AlreadyExists(ContentId),
    #[error(
        "content ID {0} already holds a key with another KID or for another packager content ID"
    )]
    KidConflict(ContentId),
}

impl From<sqlx::Error> for KeyStoreError {
    fn from(e: sqlx::Error) -> Self {
        KeyStoreError::Store(StoreError::Database(e))
    }
}

/// Content keys over a `Store`.
pub struct KeyStore {
    pub(super) store: Store,
    pub(super) master: Arc<MasterKey>,
    pub(super) cache: KeyCache,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").finish_non_exhaustive()
    }
}

pub(super) fn aad(id: &ContentId) -> Vec<u8> {
    let mut aad = b"sees:content-key:v1:".to_vec();
    aad.extend_from_slice(id.as_str().as_bytes());
    aad
}

impl KeyStore {
    /// Opens the key store, proving the master key against the store's canary (written on first use).
    /// `store_label` names the store in the wrong-key message.
    pub async fn open(
        store: Store,
        master: Arc<MasterKey>,
        cache_capacity: usize,
        cache_ttl: Duration,
        store_label: &str,
    ) -> Result<KeyStore, KeyStoreError> {
        let canary: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM sees_meta WHERE name = 'master_key_canary'")
                .fetch_optional(store.pool())
                .await?;
        match canary {
            Some(sealed) => {
                let plain = master
                    .open(CANARY_AAD, &sealed)
                    .map_err(|_| KeyStoreError::WrongMasterKey(store_label.to_owned()))?;
                if plain.as_slice() != CANARY_PLAIN {
                    return Err(KeyStoreError::WrongMasterKey(store_label.to_owned()));
                }
            }
            None => {
                sqlx::query(
                    "INSERT INTO sees_meta (name, value) VALUES ('master_key_canary', $1) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(master.seal(CANARY_AAD, CANARY_PLAIN))
                .execute(store.pool())
                .await?;
                // Another node may have won the race with a different key: check what is stored now.
                return Box::pin(Self::open(
                    store,
                    master,
                    cache_capacity,
                    cache_ttl,
                    store_label,
                ))
                .await;
            }
        }
        let coherence = Arc::clone(store.coherence());
        Ok(KeyStore {
            store,
            master,
            cache: KeyCache::new(cache_capacity, cache_ttl, coherence),
        })
    }

    /// Whether the master key still decrypts the store's canary (readiness); `false` when the canary
    /// is missing or does not open.
    pub async fn master_key_opens_canary(&self) -> Result<bool, KeyStoreError> {
        let canary: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM sees_meta WHERE name = 'master_key_canary'")
                .fetch_optional(self.store.pool())
                .await?;
        Ok(canary.is_some_and(|sealed| {
            self.master
                .open(CANARY_AAD, &sealed)
                .is_ok_and(|plain| plain.as_slice() == CANARY_PLAIN)
        }))
    }

    /// Cache lookups so far: (hits, misses).
    pub fn cache_stats(&self) -> (u64, u64) {
        self.cache.stats()
    }

    /// The key of `id`, from the cache or the store; `None` when the content has no key.
    pub async fn get(&self, id: &ContentId) -> Result<Option<Arc<StoredKey>>, KeyStoreError> {
        if let Some(hit) = self.cache.get(id) {
            return Ok(Some(hit));
        }
        let stamp = self.cache.stamp(id);
        let row = sqlx::query(
            "SELECT sealed, asset_id, kid, packager_content_id, token_lifetime, rental_duration_s \
             FROM content_keys WHERE content_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.store.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: Vec<u8> = row.try_get("sealed")?;
        let plain = self
            .master
            .open(&aad(id), &sealed)
            .map_err(|_| KeyStoreError::Unreadable(id.clone()))?;
        let key = ContentKey::from_plaintext(&plain)
            .map_err(|_| KeyStoreError::Unreadable(id.clone()))?;
        let stored = Arc::new(StoredKey {
            content_id: id.clone(),
            key,
            policy: policy_from_row(&row)?,
        });
        self.cache.insert(stamp, Arc::clone(&stored));
        Ok(Some(stored))
    }

    /// The content IDs whose keys protect `asset` (its `asset_id`, or no `asset_id` and the asset's own
    /// ID as content ID), sorted, at most `limit`.
    pub async fn contents_for_asset(
        &self,
        asset: &AssetId,
        limit: u32,
    ) -> Result<Vec<ContentId>, KeyStoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT content_id FROM content_keys WHERE asset_id = $1 \
             UNION SELECT content_id FROM content_keys WHERE content_id = $1 AND asset_id IS NULL \
             ORDER BY content_id LIMIT $2",
        )
        .bind(asset.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.store.pool())
        .await?;
        rows.into_iter()
            .map(|raw| {
                ContentId::parse(raw)
                    .map_err(|e| sqlx::Error::Decode(format!("content_id {e}").into()).into())
            })
            .collect()
    }

    /// Adds one key; replaces an existing one only when `replace`.
    pub async fn put(&self, key: NewContentKey, replace: bool) -> Result<(), KeyStoreError> {
        self.import(vec![key], replace).await.map(|_| ())
    }

    /// Adds all `keys` in one transaction: either every key is stored or none is.
    pub async fn import(
        &self,
        keys: Vec<NewContentKey>,
        replace: bool,
    ) -> Result<usize, KeyStoreError> {
        let now = unix_millis(Utc::now());
        let changes = Change::keys(keys.iter().map(|k| &k.content_id));
        let _invalidation = self.store.coherence().invalidation(&changes);
        let mut tx = self.store.begin_write().await?;
        for key in &keys {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT created_at FROM content_keys WHERE content_id = $1")
                    .bind(key.content_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() && !replace {
                return Err(KeyStoreError::AlreadyExists(key.content_id.clone()));
            }
            let sealed = self
                .master
                .seal(&aad(&key.content_id), &*key.key.to_plaintext());
            sqlx::query(
                "INSERT INTO content_keys \
                   (content_id, sealed, token_lifetime, rental_duration_s, created_at, updated_at, asset_id, kid, \
                    packager_content_id) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) \
                 ON CONFLICT (content_id) DO UPDATE SET sealed = excluded.sealed, \
                   asset_id = excluded.asset_id, kid = excluded.kid, \
                   packager_content_id = excluded.packager_content_id, token_lifetime = excluded.token_lifetime, \
                   rental_duration_s = excluded.rental_duration_s, updated_at = excluded.updated_at",
            )
            .bind(key.content_id.as_str())
            .bind(sealed)
            .bind(key.policy.token_lifetime.map(|l| l.to_string()))
            .bind(key.policy.rental_duration_s.map(i64::from))
            .bind(now)
            .bind(key.policy.asset_id.as_ref().map(|a| a.as_str().to_owned()))
            .bind(key.policy.kid.map(hex::encode))
            .bind(key.policy.packager_content_id.clone())
            .execute(&mut *tx)
            .await?;
        }
        self.store.publish(&mut tx, &changes).await?;
        tx.commit().await?;
        for key in &keys {
            self.cache.remove(&key.content_id);
        }
        Ok(keys.len())
    }

    /// Every key's ID, policy and times, ordered by content ID. Never the material.
    pub async fn list(&self) -> Result<Vec<KeySummary>, KeyStoreError> {
        let rows = sqlx::query(
            "SELECT content_id, asset_id, kid, packager_content_id, token_lifetime, rental_duration_s, \
                    created_at, updated_at \
             FROM content_keys ORDER BY content_id",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let raw_id: String = row.try_get("content_id")?;
                Ok(KeySummary {
                    content_id: ContentId::parse(raw_id.clone()).map_err(|e| {
                        sqlx::Error::Decode(format!("content_id {raw_id:?}: {e}").into())
                    })?,
                    policy: policy_from_row(row)?,
                    created_at: from_unix_millis(row.try_get("created_at")?),
                    updated_at: from_unix_millis(row.try_get("updated_at")?),
                })
            })
            .collect()
    }

    /// Removes the key of `id`; `false` when there was none.
    pub async fn delete(&self, id: &ContentId) -> Result<bool, KeyStoreError> {
        let _invalidation = self.store.coherence().invalidation(&[Change::Key(id)]);
        let mut tx = self.store.begin_write().await?;
        let result = sqlx::query("DELETE FROM content_keys WHERE content_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let deleted = result.rows_affected() > 0;
        if deleted {
            self.store.publish(&mut tx, &[Change::Key(id)]).await?;
            tx.commit().await?;
        }
        self.cache.remove(id);
        Ok(deleted)
    }

    /// Number of stored keys.
    pub async fn count(&self) -> Result<i64, KeyStoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM content_keys")
            .fetch_one(self.store.pool())
            .await?)
    }

    /// Forgets every cached key.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }
}

/// A KID as stored: 32 lowercase hex digits.
pub(crate) fn parse_kid(raw: &str) -> Result<[u8; 16], String> {
    let mut kid = [0u8; 16];
    hex::decode_to_slice(raw, &mut kid).map_err(|_| format!("kid {raw:?} is not 32 hex digits"))?;
    Ok(kid)
}

fn policy_from_row(row: &sqlx::any::AnyRow) -> Result<KeyPolicy, sqlx::Error> {
    let lifetime: Option<String> = row.try_get("token_lifetime")?;
    let rental: Option<i64> = row.try_get("rental_duration_s")?;
    let asset: Option<String> = row.try_get("asset_id")?;
    let kid: Option<String> = row.try_get("kid")?;
    Ok(KeyPolicy {
        packager_content_id: row.try_get("packager_content_id")?,
        kid: kid
            .map(|raw| parse_kid(&raw))
            .transpose()
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
        asset_id: asset
            .map(AssetId::parse)
            .transpose()
            .map_err(|e| sqlx::Error::Decode(format!("asset_id {e}").into()))?,
        token_lifetime: lifetime
            .map(|raw| raw.parse::<TokenLifetime>())
            .transpose()
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
        rental_duration_s: rental
            .map(u32::try_from)
            .transpose()
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    fn content(id: &str) -> ContentId {
        ContentId::parse(id).unwrap()
    }

    fn new_key(id: &str, byte: u8) -> NewContentKey {
        NewContentKey {
            content_id: content(id),
            key: ContentKey::new([byte; 16], [byte ^ 0xff; 16]),
            policy: KeyPolicy::default(),
        }
    }

    async fn open(store: &Store, master: [u8; 32]) -> Result<KeyStore, KeyStoreError> {
        KeyStore::open(
            store.clone(),
            Arc::new(MasterKey::from_bytes(&master)),
            100,
            Duration::from_secs(60),
            "test store",
        )
        .await
    }

    #[tokio::test]
    async fn put_get_list_delete_on_every_backend() {
        for test in testing::stores().await {
            let keys = open(&test.store, [1; 32]).await.unwrap();
            let mut with_policy = new_key("content-a", 0x11);
            with_policy.policy = KeyPolicy {
                asset_id: Some(AssetId::parse("asset-a").unwrap()),
                token_lifetime: Some(TokenLifetime::Relative(120)),
                rental_duration_s: Some(3600),
                ..KeyPolicy::default()
            };
            keys.put(with_policy, false).await.unwrap();
            keys.put(new_key("content-b", 0x22), false).await.unwrap();

            let a = keys.get(&content("content-a")).await.unwrap().unwrap();
            assert_eq!(a.key, ContentKey::new([0x11; 16], [0xee; 16]));
            assert_eq!(a.policy.rental_duration_s, Some(3600));
            assert!(keys.get(&content("missing")).await.unwrap().is_none());

            assert!(matches!(
                keys.put(new_key("content-a", 0x33), false).await,
                Err(KeyStoreError::AlreadyExists(_))
            ));
            keys.put(new_key("content-a", 0x33), true).await.unwrap();
            let replaced = keys.get(&content("content-a")).await.unwrap().unwrap();
            assert_eq!(
                replaced.key,
                ContentKey::new([0x33; 16], [0xcc; 16]),
                "cache invalidated"
            );

            let listed: Vec<String> = keys
                .list()
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.content_id.to_string())
                .collect();
            assert_eq!(listed, ["content-a", "content-b"]);
            assert!(keys.delete(&content("content-b")).await.unwrap());
            assert!(!keys.delete(&content("content-b")).await.unwrap());
            assert_eq!(keys.count().await.unwrap(), 1);
        }
    }

    #[tokio::test]
    async fn import_is_all_or_nothing() {
        for test in testing::stores().await {
            let keys = open(&test.store, [1; 32]).await.unwrap();
            keys.put(new_key("taken", 1), false).await.unwrap();
            let batch = vec![
                new_key("fresh-1", 2),
                new_key("taken", 3),
                new_key("fresh-2", 4),
            ];
            assert!(matches!(
                keys.import(batch, false).await,
                Err(KeyStoreError::AlreadyExists(id)) if id.as_str() == "taken"
            ));
            assert_eq!(keys.count().await.unwrap(), 1, "nothing half-imported");
        }
    }

    #[tokio::test]
    async fn wrong_master_key_is_refused_at_open_and_material_is_sealed() {
        for test in testing::stores().await {
            let keys = open(&test.store, [1; 32]).await.unwrap();
            keys.put(new_key("content-a", 0xab), false).await.unwrap();
            let err = open(&test.store, [2; 32]).await.unwrap_err();
            assert!(matches!(err, KeyStoreError::WrongMasterKey(_)), "{err}");

            let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM content_keys")
                .fetch_one(test.store.pool())
                .await
                .unwrap();
            assert!(
                !sealed.windows(16).any(|w| w == [0xab; 16]),
                "stored in clear"
            );
        }
    }

    #[tokio::test]
    async fn a_record_moved_to_another_content_id_does_not_open() {
        for test in testing::stores().await {
            let keys = open(&test.store, [1; 32]).await.unwrap();
            keys.put(new_key("content-a", 1), false).await.unwrap();
            keys.put(new_key("content-b", 2), false).await.unwrap();
            sqlx::query(
                "UPDATE content_keys SET sealed = (SELECT sealed FROM content_keys WHERE content_id = 'content-a') \
                 WHERE content_id = 'content-b'",
            )
            .execute(test.store.pool())
            .await
            .unwrap();
            keys.clear_cache();
            let err = keys.get(&content("content-b")).await.unwrap_err();
            assert!(matches!(err, KeyStoreError::Unreadable(_)), "{err}");
        }
    }
}
