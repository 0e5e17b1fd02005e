//! Keys a packager asks for (SPEKE): for each KID of a packager's content, the key stored for it, a
//! key added by hand under the content ID it would get (claimed: it now carries the KID), or a new
//! random key stored sealed like an imported one — all in one transaction, so a request is answered
//! whole or not at all, and two identical requests at once create one key.

use chrono::Utc;
use sqlx::Row;

use crate::ids::{AssetId, ContentId};
use crate::store::coherence::Change;
use crate::store::unix_millis;

use super::material::ContentKey;
use super::store::{aad, KeyStore, KeyStoreError};

/// One key a packager asks for: its KID, and where a new key is stored.
#[derive(Debug, Clone)]
pub struct PackagerKeyRequest {
    pub kid: [u8; 16],
    /// The SEES contentID a new key is stored under (the one the player's license request names).
    pub content_id: ContentId,
    /// Where a new key goes when `content_id` already holds another KID of this packager content —
    /// a new key period of a live stream that asks for one key at a time (`None` = nowhere: a
    /// conflict).
    pub alternative: Option<ContentId>,
    /// The asset a new key protects (`None` = the content ID names it).
    pub asset_id: Option<AssetId>,
    /// The IV a new key gets (the encryptor's proposal); `None` = a random one. A key that exists
    /// keeps its own.
    pub iv: Option<[u8; 16]>,
}

/// Where the key answered for a KID came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Made now (CSPRNG key and IV) and stored.
    Generated,
    /// Issued to this packager content ID and KID before.
    Existing,
    /// Added by hand (`keys add`/`import`) under the content ID before the packager asked; it now
    /// carries the KID.
    Claimed,
}

impl KeyOrigin {
    /// A bounded label for metrics and audit.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOrigin::Generated => "generated",
            KeyOrigin::Existing => "existing",
            KeyOrigin::Claimed => "claimed",
        }
    }
}

/// The key answered for one KID.
#[derive(Debug)]
pub struct PackagerKey {
    pub kid: [u8; 16],
    /// The SEES contentID the key is stored under.
    pub content_id: ContentId,
    /// The asset the key protects (`None` = the content ID names it).
    pub asset_id: Option<AssetId>,
    pub key: ContentKey,
    pub origin: KeyOrigin,
}

/// How often one KID's insert may lose a race before the request fails (each loss means another
/// request stored the key, which the next lookup finds).
const RACE_RETRIES: usize = 3;

/// What one content ID holds for a KID being issued.
enum Slot {
    /// Nothing: a new key may go there.
    Free,
    /// A key that may be claimed (no KID or this KID, no packager or this packager content).
    Claimable(sqlx::any::AnyRow),
    /// Another KID's key.
    Taken,
}

impl KeyStore {
    /// The keys of `wanted` for the packager content ID `packager_content_id`, in order: found,
    /// claimed or generated, in one transaction. Fails with `KidConflict` (nothing stored) when the
    /// content IDs a new key could take already hold keys with other KIDs.
    pub async fn issue_for_packager(
        &self,
        packager_content_id: &str,
        wanted: &[PackagerKeyRequest],
    ) -> Result<Vec<PackagerKey>, KeyStoreError> {
        let targets: Vec<&ContentId> = wanted
            .iter()
            .flat_map(|w| std::iter::once(&w.content_id).chain(w.alternative.as_ref()))
            .collect();
        let changes = Change::keys(targets.iter().copied());
        let _invalidation = self.store.coherence().invalidation(&changes);
        let now = unix_millis(Utc::now());
        let mut tx = self.store.begin_write().await?;
        let mut answered = Vec::with_capacity(wanted.len());
        for want in wanted {
            answered.push(
                self.issue_one(&mut tx, packager_content_id, want, now)
                    .await?,
            );
        }
        if answered.iter().any(|k| k.origin != KeyOrigin::Existing) {
            self.store.publish(&mut tx, &changes).await?;
        }
        tx.commit().await?;
        for target in targets {
            self.cache.remove(target);
        }
        Ok(answered)
    }

    /// One KID: the key issued before, else a claimable or new key under the first content ID of
    /// `want` that is not another KID's.
    async fn issue_one(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        packager_content_id: &str,
        want: &PackagerKeyRequest,
        now: i64,
    ) -> Result<PackagerKey, KeyStoreError> {
        let kid = hex::encode(want.kid);
        for _ in 0..=RACE_RETRIES {
            let issued = sqlx::query(
                "SELECT content_id, asset_id, sealed FROM content_keys \
                 WHERE packager_content_id = $1 AND kid = $2",
            )
            .bind(packager_content_id)
            .bind(&kid)
            .fetch_optional(&mut **tx)
            .await?;
            if let Some(row) = issued {
                let raw: String = row.try_get("content_id")?;
                let content_id = ContentId::parse(raw)
                    .map_err(|e| sqlx::Error::Decode(format!("content_id {e}").into()))?;
                return self.opened(want.kid, content_id, &row, KeyOrigin::Existing);
            }
            let mut target = None;
            for candidate in std::iter::once(&want.content_id).chain(want.alternative.as_ref()) {
                match self.slot(tx, candidate, &kid, packager_content_id).await? {
                    Slot::Taken => continue,
                    Slot::Claimable(row) => {
                        sqlx::query(
                            "UPDATE content_keys SET kid = $1, packager_content_id = $2, \
                             updated_at = $3 WHERE content_id = $4",
                        )
                        .bind(&kid)
                        .bind(packager_content_id)
                        .bind(now)
                        .bind(candidate.as_str())
                        .execute(&mut **tx)
                        .await?;
                        return self.opened(want.kid, candidate.clone(), &row, KeyOrigin::Claimed);
                    }
                    Slot::Free => {
                        target = Some(candidate);
                        break;
                    }
                }
            }
            let Some(target) = target else {
                return Err(KeyStoreError::KidConflict(want.content_id.clone()));
            };
            let key = match want.iv {
                Some(iv) => ContentKey::generate().with_iv(iv),
                None => ContentKey::generate(),
            };
            let sealed = self.master.seal(&aad(target), &*key.to_plaintext());
            let inserted = sqlx::query(
                "INSERT INTO content_keys \
                   (content_id, sealed, created_at, updated_at, asset_id, kid, packager_content_id) \
                 VALUES ($1, $2, $3, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(target.as_str())
            .bind(sealed)
            .bind(now)
            .bind(want.asset_id.as_ref().map(|a| a.as_str().to_owned()))
            .bind(&kid)
            .bind(packager_content_id)
            .execute(&mut **tx)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(PackagerKey {
                    kid: want.kid,
                    content_id: target.clone(),
                    asset_id: want.asset_id.clone(),
                    key,
                    origin: KeyOrigin::Generated,
                });
            }
            // Another request stored this key (or took this content ID) first: look again.
        }
        Err(KeyStoreError::KidConflict(want.content_id.clone()))
    }

    /// What `content_id` holds for `kid` of `packager_content_id`.
    async fn slot(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        content_id: &ContentId,
        kid: &str,
        packager_content_id: &str,
    ) -> Result<Slot, KeyStoreError> {
        let row = sqlx::query(
            "SELECT sealed, asset_id, kid, packager_content_id FROM content_keys \
             WHERE content_id = $1",
        )
        .bind(content_id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else {
            return Ok(Slot::Free);
        };
        let held_kid: Option<String> = row.try_get("kid")?;
        let held_for: Option<String> = row.try_get("packager_content_id")?;
        let claimable = held_kid.as_deref().is_none_or(|k| k == kid)
            && held_for.as_deref().is_none_or(|p| p == packager_content_id);
        Ok(if claimable {
            Slot::Claimable(row)
        } else {
            Slot::Taken
        })
    }

    /// Every key of a packager's content — issued for `id` as packager content ID, or stored under
    /// `id` as content ID — with its KID (`None` when it has none), ordered by content ID.
    pub async fn packager_content(
        &self,
        id: &str,
    ) -> Result<Vec<(Option<[u8; 16]>, PackagerKey)>, KeyStoreError> {
        let rows = sqlx::query(
            "SELECT content_id, sealed, asset_id, kid FROM content_keys \
             WHERE packager_content_id = $1 OR content_id = $1 ORDER BY content_id",
        )
        .bind(id)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let raw: String = row.try_get("content_id")?;
                let content_id = ContentId::parse(raw)
                    .map_err(|e| sqlx::Error::Decode(format!("content_id {e}").into()))?;
                let kid: Option<String> = row.try_get("kid")?;
                let kid = kid
                    .map(|raw| super::store::parse_kid(&raw))
                    .transpose()
                    .map_err(|e| sqlx::Error::Decode(e.into()))?;
                let key = self.opened(
                    kid.unwrap_or_default(),
                    content_id,
                    row,
                    KeyOrigin::Existing,
                )?;
                Ok((kid, key))
            })
            .collect()
    }

    /// The key of a row with `sealed` and `asset_id`, opened under `content_id`.
    fn opened(
        &self,
        kid: [u8; 16],
        content_id: ContentId,
        row: &sqlx::any::AnyRow,
        origin: KeyOrigin,
    ) -> Result<PackagerKey, KeyStoreError> {
        let sealed: Vec<u8> = row.try_get("sealed")?;
        let asset: Option<String> = row.try_get("asset_id")?;
        let asset_id = asset
            .map(AssetId::parse)
            .transpose()
            .map_err(|e| sqlx::Error::Decode(format!("asset_id {e}").into()))?;
        let plain = self
            .master
            .open(&aad(&content_id), &sealed)
            .map_err(|_| KeyStoreError::Unreadable(content_id.clone()))?;
        let key = ContentKey::from_plaintext(&plain)
            .map_err(|_| KeyStoreError::Unreadable(content_id.clone()))?;
        Ok(PackagerKey {
            kid,
            content_id,
            asset_id,
            key,
            origin,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::keys::{KeyPolicy, MasterKey, NewContentKey};
    use crate::store::testing;

    fn want(kid: u8, content_id: &str) -> PackagerKeyRequest {
        PackagerKeyRequest {
            kid: [kid; 16],
            content_id: ContentId::parse(content_id).unwrap(),
            asset_id: Some(AssetId::parse("movie").unwrap()),
            alternative: None,
            iv: None,
        }
    }

    async fn key_store(store: &crate::store::Store) -> KeyStore {
        KeyStore::open(
            store.clone(),
            Arc::new(MasterKey::from_bytes(&[7; 32])),
            100,
            Duration::from_secs(60),
            "test store",
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn issues_once_then_returns_the_same_keys_on_every_backend() {
        for test in testing::stores().await {
            let keys = key_store(&test.store).await;
            let wanted = [want(1, "movie:01"), want(2, "movie:02")];
            let first = keys.issue_for_packager("movie", &wanted).await.unwrap();
            assert!(first.iter().all(|k| k.origin == KeyOrigin::Generated));
            assert_ne!(first[0].key, first[1].key, "one random key per KID");
            // Asked again, in another shape (one key now, under another content ID): the same key.
            let again = keys
                .issue_for_packager("movie", &[want(2, "movie")])
                .await
                .unwrap();
            assert_eq!(again[0].origin, KeyOrigin::Existing);
            assert_eq!(again[0].content_id.as_str(), "movie:02");
            assert_eq!(again[0].key, first[1].key);
            // The SEES endpoint's lookup finds it under its content ID, with its KID and asset.
            let stored = keys.get(&first[0].content_id).await.unwrap().unwrap();
            assert_eq!(stored.key, first[0].key);
            assert_eq!(stored.policy.kid, Some([1; 16]));
            assert_eq!(stored.policy.asset_id.as_ref().unwrap().as_str(), "movie");
            assert_eq!(keys.count().await.unwrap(), 2);
            let exported = keys.packager_content("movie").await.unwrap();
            let kids: Vec<_> = exported.iter().map(|(kid, _)| *kid).collect();
            assert_eq!(kids, [Some([1; 16]), Some([2; 16])]);
            assert_eq!(exported[1].1.key, first[1].key);
        }
    }

    #[tokio::test]
    async fn a_key_added_by_hand_is_claimed_and_a_conflict_stores_nothing() {
        for test in testing::stores().await {
            let keys = key_store(&test.store).await;
            let by_hand = ContentKey::new([0x42; 16], [0x24; 16]);
            keys.put(
                NewContentKey {
                    content_id: ContentId::parse("trailer").unwrap(),
                    key: by_hand.clone(),
                    policy: KeyPolicy::default(),
                },
                false,
            )
            .await
            .unwrap();
            let claimed = keys
                .issue_for_packager("trailer", &[want(9, "trailer")])
                .await
                .unwrap();
            assert_eq!(claimed[0].origin, KeyOrigin::Claimed);
            assert_eq!(claimed[0].key, by_hand);
            let stored = keys.get(&claimed[0].content_id).await.unwrap().unwrap();
            assert_eq!(stored.policy.kid, Some([9; 16]));

            // Another KID wants the same content ID: refused, and the new key before it is not kept.
            let err = keys
                .issue_for_packager("trailer", &[want(3, "trailer:03"), want(4, "trailer")])
                .await
                .unwrap_err();
            assert!(matches!(err, KeyStoreError::KidConflict(ref id) if id.as_str() == "trailer"));
            assert_eq!(keys.count().await.unwrap(), 1, "nothing half-issued");
        }
    }

    #[tokio::test]
    async fn a_new_key_takes_the_proposed_iv_and_an_existing_one_keeps_its_own() {
        for test in testing::stores().await {
            let keys = key_store(&test.store).await;
            let proposed = PackagerKeyRequest {
                iv: Some([0x77; 16]),
                ..want(6, "clip")
            };
            let first = keys
                .issue_for_packager("clip", std::slice::from_ref(&proposed))
                .await
                .unwrap();
            assert_eq!(*first[0].key.iv_hex(), "77".repeat(16));
            let other = PackagerKeyRequest {
                iv: Some([0x11; 16]),
                ..proposed
            };
            let again = keys.issue_for_packager("clip", &[other]).await.unwrap();
            assert_eq!(again[0].key, first[0].key);
        }
    }

    #[tokio::test]
    async fn identical_requests_at_once_create_one_key() {
        for test in testing::stores().await {
            let keys = Arc::new(key_store(&test.store).await);
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let keys = Arc::clone(&keys);
                tasks.push(tokio::spawn(async move {
                    keys.issue_for_packager("live", &[want(5, "live")]).await
                }));
            }
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.unwrap().unwrap().remove(0));
            }
            assert_eq!(keys.count().await.unwrap(), 1);
            assert!(answers.iter().all(|a| a.key == answers[0].key));
            let generated = answers
                .iter()
                .filter(|a| a.origin == KeyOrigin::Generated)
                .count();
            assert_eq!(generated, 1, "{:?}", test.store.backend());
        }
    }
}
