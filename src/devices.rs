//! Cookie → device bindings for ExpressPlay device binding: when a cookie was registered
//! (requestType 2) and which device id the record service reported for it (learned for requestType 3),
//! kept in the shared store so that later device-bound requests need not ask ExpressPlay's record
//! service, which ExpressPlay calls a troubleshooting API.
//!
//! Cookies are stored only as keyed hashes; nothing here logs a cookie.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::Row;

use crate::ids::{ContentId, CustomerCookie, DeviceId};
use crate::keys::MasterKey;
use crate::settings_format::{list_or_comma_separated, secs, zero_problems};
use crate::store::{from_unix_millis, unix_millis, Store, StoreError};

const HASH_DOMAIN: &str = "device-binding-cookie";

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DeviceStoreError(#[from] StoreError);

impl From<sqlx::Error> for DeviceStoreError {
    fn from(e: sqlx::Error) -> Self {
        DeviceStoreError(StoreError::Database(e))
    }
}

/// One binding as listed (the cookie itself is not known, only a prefix of its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingSummary {
    pub cookie_hash_prefix: String,
    pub device_id: Option<String>,
    pub registered_at: Option<DateTime<Utc>>,
    pub learned_at: Option<DateTime<Utc>>,
}

/// Registrations and learned device ids by cookie.
pub struct DeviceBindings {
    store: Store,
    master: Arc<MasterKey>,
    ttl: Duration,
}

impl std::fmt::Debug for DeviceBindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceBindings")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl DeviceBindings {
    /// Bindings in `store`, hashed under `master`, trusted for `ttl` after they are learned.
    pub fn new(store: Store, master: Arc<MasterKey>, ttl: Duration) -> Self {
        Self { store, master, ttl }
    }

    fn hash(&self, cookie: &CustomerCookie) -> String {
        self.master
            .lookup_hash(HASH_DOMAIN, cookie.expose().as_bytes())
    }

    /// Notes a registration of `cookie` at `at`. A device learned earlier under the cookie is
    /// forgotten: the registering device may be a new one.
    pub async fn record_registration(
        &self,
        cookie: &CustomerCookie,
        at: DateTime<Utc>,
    ) -> Result<(), DeviceStoreError> {
        sqlx::query(
            "INSERT INTO device_bindings (cookie_hash, device_id, registered_at, learned_at, updated_at) \
             VALUES ($1, NULL, $2, NULL, $2) \
             ON CONFLICT (cookie_hash) DO UPDATE SET device_id = NULL, learned_at = NULL, \
               registered_at = excluded.registered_at, updated_at = excluded.updated_at",
        )
        .bind(self.hash(cookie))
        .bind(unix_millis(at))
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// The device learned for `cookie`, when it was learned less than the TTL before `now`.
    pub async fn cached_device(
        &self,
        cookie: &CustomerCookie,
        now: DateTime<Utc>,
    ) -> Result<Option<DeviceId>, DeviceStoreError> {
        let row =
            sqlx::query("SELECT device_id, learned_at FROM device_bindings WHERE cookie_hash = $1")
                .bind(self.hash(cookie))
                .fetch_optional(self.store.pool())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let device: Option<String> = row.try_get("device_id")?;
        let learned: Option<i64> = row.try_get("learned_at")?;
        let fresh = learned.is_some_and(|ms| {
            let age = now.signed_duration_since(from_unix_millis(ms));
            age.to_std().is_ok_and(|age| age < self.ttl)
        });
        Ok(device
            .filter(|_| fresh)
            .and_then(|raw| DeviceId::parse(raw).ok()))
    }

    /// Remembers that the record service reported `device` for `cookie` at `now`.
    pub async fn remember_device(
        &self,
        cookie: &CustomerCookie,
        device: &DeviceId,
        now: DateTime<Utc>,
    ) -> Result<(), DeviceStoreError> {
        sqlx::query(
            "INSERT INTO device_bindings (cookie_hash, device_id, registered_at, learned_at, updated_at) \
             VALUES ($1, $2, NULL, $3, $3) \
             ON CONFLICT (cookie_hash) DO UPDATE SET device_id = excluded.device_id, \
               learned_at = excluded.learned_at, updated_at = excluded.updated_at",
        )
        .bind(self.hash(cookie))
        .bind(device.as_str())
        .bind(unix_millis(now))
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Forgets everything about `cookie`; `false` when nothing was known.
    pub async fn forget(&self, cookie: &CustomerCookie) -> Result<bool, DeviceStoreError> {
        let result = sqlx::query("DELETE FROM device_bindings WHERE cookie_hash = $1")
            .bind(self.hash(cookie))
            .execute(self.store.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Every binding, most recently changed first.
    pub async fn list(&self) -> Result<Vec<BindingSummary>, DeviceStoreError> {
        let rows = sqlx::query(
            "SELECT cookie_hash, device_id, registered_at, learned_at FROM device_bindings \
             ORDER BY updated_at DESC",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let hash: String = row.try_get("cookie_hash")?;
                Ok(BindingSummary {
                    cookie_hash_prefix: hash.chars().take(12).collect(),
                    device_id: row.try_get("device_id")?,
                    registered_at: row
                        .try_get::<Option<i64>, _>("registered_at")?
                        .map(from_unix_millis),
                    learned_at: row
                        .try_get::<Option<i64>, _>("learned_at")?
                        .map(from_unix_millis),
                })
            })
            .collect()
    }
}

/// `[devices]`: device registration (requestType 2) and device-bound tokens (requestType 3). Its own
/// defaults and checks; `config` only assembles it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceSettings {
    /// The dummy content IDs a registration (requestType 2) may name; each needs a key in the key store.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub registration_content_ids: Vec<String>,
    /// How long a device id learned from the record service is trusted before it is asked again
    /// (`binding_ttl_s`).
    #[serde(rename = "binding_ttl_s", with = "secs")]
    pub binding_ttl: Duration,
    /// Most devices one user may register (catalogue mode); 0 = no limit.
    pub max_per_user: u32,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self {
            registration_content_ids: vec!["sees-device-registration".to_owned()],
            binding_ttl: Duration::from_secs(7 * 24 * 3600),
            max_per_user: 5,
        }
    }
}

impl DeviceSettings {
    /// Everything wrong with `[devices]`, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> =
            zero_problems([("devices.binding_ttl_s", self.binding_ttl.is_zero())]).collect();
        for id in &self.registration_content_ids {
            if let Err(e) = ContentId::parse(id.clone()) {
                problems.push(format!("devices.registration_content_ids: {id:?} {e}"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn ttl_and_registration_ids_are_checked() {
        let bad = default_with(DeviceSettings::problems, |s| {
            s.registration_content_ids = vec![String::new()];
            s.binding_ttl = Duration::ZERO;
        });
        let problems = bad.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0], "devices.binding_ttl_s must be greater than 0");
        assert!(problems[1].starts_with("devices.registration_content_ids: \"\" "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    fn cookie(raw: &str) -> CustomerCookie {
        CustomerCookie::parse(raw).unwrap()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[tokio::test]
    async fn learn_expire_reregister_forget_on_every_backend() {
        for test in testing::stores().await {
            let bindings = DeviceBindings::new(
                test.store.clone(),
                Arc::new(MasterKey::from_bytes(&[3; 32])),
                Duration::from_secs(60),
            );
            let alice = cookie("alice-cookie");
            let device = DeviceId::parse("device-1").unwrap();
            assert_eq!(bindings.cached_device(&alice, at(0)).await.unwrap(), None);

            bindings.record_registration(&alice, at(0)).await.unwrap();
            assert_eq!(
                bindings.cached_device(&alice, at(1)).await.unwrap(),
                None,
                "registered, not learned"
            );

            bindings
                .remember_device(&alice, &device, at(10))
                .await
                .unwrap();
            assert_eq!(
                bindings.cached_device(&alice, at(20)).await.unwrap(),
                Some(device.clone())
            );
            assert_eq!(
                bindings
                    .cached_device(&cookie("bob"), at(20))
                    .await
                    .unwrap(),
                None
            );
            assert_eq!(
                bindings.cached_device(&alice, at(70)).await.unwrap(),
                None,
                "past the TTL"
            );

            bindings
                .remember_device(&alice, &device, at(70))
                .await
                .unwrap();
            bindings.record_registration(&alice, at(80)).await.unwrap();
            assert_eq!(
                bindings.cached_device(&alice, at(81)).await.unwrap(),
                None,
                "a new registration forgets"
            );

            let listed = bindings.list().await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].registered_at, Some(at(80)));
            assert!(!listed[0].cookie_hash_prefix.contains("alice"));

            assert!(bindings.forget(&alice).await.unwrap());
            assert!(!bindings.forget(&alice).await.unwrap());
            assert!(bindings.list().await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn the_cookie_is_never_stored_in_clear() {
        for test in testing::stores().await {
            let bindings = DeviceBindings::new(
                test.store.clone(),
                Arc::new(MasterKey::from_bytes(&[3; 32])),
                Duration::from_secs(60),
            );
            bindings
                .record_registration(&cookie("visible-cookie"), at(0))
                .await
                .unwrap();
            let (hash,): (String,) = sqlx::query_as("SELECT cookie_hash FROM device_bindings")
                .fetch_one(test.store.pool())
                .await
                .unwrap();
            assert!(!hash.contains("visible"));
            assert_eq!(hash.len(), 64);
        }
    }
}
