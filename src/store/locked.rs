//! Locked writes: a transaction that serialises against every other writer holding the same key.
//! PostgreSQL takes a transaction-scoped advisory lock (`pg_advisory_xact_lock`, released at commit
//! or rollback); SQLite takes its write lock up front (`BEGIN IMMEDIATE`), which already serialises
//! every writer, so the key is not used there.
//!
//! The key derivations live here once: a whole-resource key (one `bigint`) and a per-user key (a
//! class and the first four bytes of a SHA-256 of a domain and the name). Changing either would let
//! an old and a new node write concurrently during a rolling upgrade: they must never change.
//! Never logs the names it hashes.

use sqlx::{Any, AnyPool, Transaction};

use super::{Backend, Store};

/// What a locked write serialises on (PostgreSQL advisory lock keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKey {
    /// One lock for a whole resource (`pg_advisory_xact_lock(bigint)`), e.g. the package graph.
    Whole(i64),
    /// A class and a key within it (`pg_advisory_xact_lock(int, int)`), e.g. one user's leases.
    /// Two-key locks never collide with one-key locks; the class keeps resources apart.
    Pair(i32, i32),
}

impl LockKey {
    /// The key of `name` in `class`: the first four bytes (big-endian) of SHA-256(`domain` ‖ `name`).
    /// Two names whose hashes collide merely wait for each other.
    pub fn hashed(class: i32, domain: &[u8], name: &str) -> LockKey {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        context.update(domain);
        context.update(name.as_bytes());
        let digest = context.finish();
        let mut first = [0u8; 4];
        first.copy_from_slice(&digest.as_ref()[..4]);
        LockKey::Pair(class, i32::from_be_bytes(first))
    }
}

impl Store {
    /// A write transaction on [`Store::pool`] holding the lock `key` until it ends.
    pub async fn begin_locked(
        &self,
        key: LockKey,
    ) -> Result<Transaction<'static, Any>, sqlx::Error> {
        begin_locked_on(self.pool(), self.backend(), key).await
    }

    /// The same on [`Store::ephemeral_pool`] (state that expires within minutes).
    pub async fn begin_locked_ephemeral(
        &self,
        key: LockKey,
    ) -> Result<Transaction<'static, Any>, sqlx::Error> {
        begin_locked_on(self.ephemeral_pool(), self.backend(), key).await
    }
}

async fn begin_locked_on(
    pool: &AnyPool,
    backend: Backend,
    key: LockKey,
) -> Result<Transaction<'static, Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => super::begin_immediate(pool).await,
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            // `pg_advisory_xact_lock` returns `void`, which the Any driver cannot decode: select a
            // constant from it instead.
            let lock = match key {
                LockKey::Whole(key) => {
                    sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)").bind(key)
                }
                LockKey::Pair(class, key) => {
                    sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1, $2)")
                        .bind(class)
                        .bind(key)
                }
            };
            lock.execute(&mut *tx).await?;
            Ok(tx)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::testing;

    #[test]
    fn hashed_keys_are_stable_and_differ_by_name_and_domain() {
        let alice = LockKey::hashed(7, b"d\0", "alice");
        assert_eq!(alice, LockKey::hashed(7, b"d\0", "alice"));
        assert_ne!(alice, LockKey::hashed(7, b"d\0", "bob"));
        assert_ne!(alice, LockKey::hashed(7, b"e\0", "alice"));
        // The derivation itself: SHA-256("d\0alice"), first four bytes, big-endian.
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"d\0alice");
        let first = i32::from_be_bytes(digest.as_ref()[..4].try_into().unwrap());
        assert_eq!(alice, LockKey::Pair(7, first));
    }

    /// A second writer with the same key waits until the first commits; one with another key (on
    /// PostgreSQL) does not.
    #[tokio::test]
    async fn writers_with_the_same_key_serialise_on_every_backend() {
        for test in testing::stores().await {
            let store = &test.store;
            let key = LockKey::hashed(1, b"test\0", "alice");
            let first = store.begin_locked(key).await.unwrap();
            let second = {
                let store = store.clone();
                tokio::spawn(async move {
                    let tx = store.begin_locked(key).await.unwrap();
                    tx.commit().await.unwrap();
                })
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(!second.is_finished(), "{:?}", store.backend());
            if store.backend() == Backend::Postgres {
                let other = store
                    .begin_locked(LockKey::hashed(1, b"test\0", "bob"))
                    .await
                    .unwrap();
                other.commit().await.unwrap();
                let whole = store.begin_locked(LockKey::Whole(1)).await.unwrap();
                whole.commit().await.unwrap();
            }
            first.commit().await.unwrap();
            tokio::time::timeout(Duration::from_secs(10), second)
                .await
                .expect("the second writer goes on after the first commits")
                .unwrap();
            let ephemeral = store.begin_locked_ephemeral(key).await.unwrap();
            ephemeral.commit().await.unwrap();
        }
    }
}
