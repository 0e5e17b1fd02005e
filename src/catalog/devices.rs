//! The devices each user registered, for the per-user device limit (`devices.max_per_user`). A user's
//! devices are the distinct device ids learned for the cookies of that user's playback sessions; the
//! SEES service registers a device when it learns it, support lists and removes them.
//!
//! `register` admits a device the user already has with one statement; a new one is checked against
//! the limit and inserted in one transaction, serialised per user (PostgreSQL: a
//! transaction-scoped advisory lock on a hash of the uid; SQLite: `BEGIN IMMEDIATE`, which takes the
//! write lock up front), so concurrent registrations of different devices cannot together pass the
//! limit. Times are kept to the millisecond.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::UserLock;
use super::{decode, CatalogError};
use crate::ids::{DeviceId, UserId};
use crate::store::{from_unix_millis, unix_millis, Store};

/// The two-key advisory locks device registrations take on PostgreSQL: class "SDEV", then a hash of
/// the uid. Two-key locks never collide with the one-key graph lock.
pub(super) const DEVICE_LOCK: UserLock = UserLock {
    class: 0x5344_4556,
    domain: b"sees user-devices lock\0",
};

/// What `register` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAdmission {
    /// The device is one of the user's: it was already (its `registered_at` is refreshed) or it has
    /// just been added.
    Admitted,
    /// The device is new and the user already has `limit` devices (or more, when the limit was
    /// lowered): nothing was written. `devices` are the user's devices, oldest registration first.
    LimitReached { limit: u32, devices: Vec<String> },
}

/// The `user_devices` table.
#[derive(Debug, Clone)]
pub struct UserDevices {
    store: Store,
}

impl UserDevices {
    /// Devices in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Registers `device` for `uid` at `now`. A device the user already has is admitted and its
    /// `registered_at` set to `now`; a new one is added when the user has fewer than `limit` devices
    /// (`None`: no limit; `Some(0)` admits no new device), else `LimitReached` and nothing is written.
    pub async fn register(
        &self,
        uid: &UserId,
        device: &DeviceId,
        limit: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<DeviceAdmission, CatalogError> {
        // The common case, a device the user already has, is one statement without the lock: it does
        // not change how many devices the user has.
        // The connection goes back to the pool before the transaction takes one.
        {
            let mut conn = self.store.pool().acquire().await?;
            if refresh(&mut conn, uid, device, now).await? {
                return Ok(DeviceAdmission::Admitted);
            }
        }
        let mut tx = self.store.begin_locked(DEVICE_LOCK.key(uid)).await?;
        // Again under the lock: a concurrent registration may have added the device meanwhile.
        if refresh(&mut tx, uid, device, now).await? {
            tx.commit().await?;
            return Ok(DeviceAdmission::Admitted);
        }
        if let Some(limit) = limit {
            let devices = devices_of(&mut tx, uid).await?;
            if devices.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                tx.rollback().await?;
                return Ok(DeviceAdmission::LimitReached {
                    limit,
                    devices: devices
                        .into_iter()
                        .map(|(device, _)| device.as_str().to_owned())
                        .collect(),
                });
            }
        }
        sqlx::query("INSERT INTO user_devices (uid, device_id, registered_at) VALUES ($1, $2, $3)")
            .bind(uid.as_str())
            .bind(device.as_str())
            .bind(unix_millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DeviceAdmission::Admitted)
    }

    /// The devices of `uid` with the time each was last registered, oldest first (an empty list for a
    /// user with none).
    pub async fn list(&self, uid: &UserId) -> Result<Vec<(DeviceId, DateTime<Utc>)>, CatalogError> {
        let mut conn = self.store.pool().acquire().await?;
        devices_of(&mut conn, uid).await
    }

    /// Removes `device` from the devices of `uid`; true when it was one of them.
    pub async fn remove(&self, uid: &UserId, device: &DeviceId) -> Result<bool, CatalogError> {
        let result = sqlx::query("DELETE FROM user_devices WHERE uid = $1 AND device_id = $2")
            .bind(uid.as_str())
            .bind(device.as_str())
            .execute(self.store.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Removes every device of `uid` (one statement); how many.
    pub async fn remove_all(&self, uid: &UserId) -> Result<u64, CatalogError> {
        let result = sqlx::query("DELETE FROM user_devices WHERE uid = $1")
            .bind(uid.as_str())
            .execute(self.store.pool())
            .await?;
        Ok(result.rows_affected())
    }
}

/// Sets the `registered_at` of `device` of `uid` to `now`; true when the user has the device.
async fn refresh(
    conn: &mut AnyConnection,
    uid: &UserId,
    device: &DeviceId,
    now: DateTime<Utc>,
) -> Result<bool, CatalogError> {
    let result =
        sqlx::query("UPDATE user_devices SET registered_at = $3 WHERE uid = $1 AND device_id = $2")
            .bind(uid.as_str())
            .bind(device.as_str())
            .bind(unix_millis(now))
            .execute(&mut *conn)
            .await?;
    Ok(result.rows_affected() > 0)
}

/// The devices of `uid`, oldest registration first (ties by device id).
async fn devices_of(
    conn: &mut AnyConnection,
    uid: &UserId,
) -> Result<Vec<(DeviceId, DateTime<Utc>)>, CatalogError> {
    let rows = sqlx::query(
        "SELECT device_id, registered_at FROM user_devices WHERE uid = $1 \
         ORDER BY registered_at, device_id",
    )
    .bind(uid.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let raw: String = row.try_get("device_id")?;
            let device = DeviceId::parse(raw).map_err(|e| decode("device_id", e))?;
            Ok((device, from_unix_millis(row.try_get("registered_at")?)))
        })
        .collect()
}
