//! Stream leases, for the per-user concurrency limit. An allowed license request opens a lease for
//! (user, holder, asset) — the holder is the session's device id or, without one, a prefix of the
//! session cookie's keyed hash — that lasts a lease duration unless renewed (a heartbeat, or another
//! license request for the same stream). A lease is live while `now < expires_at`; expired leases
//! never count and are deleted by the next acquisition of the same user or the periodic sweep.
//!
//! `acquire` reads the user's live leases, applies the limit and writes in one transaction, serialised
//! per user (PostgreSQL: a transaction-scoped advisory lock on a hash of the uid; SQLite:
//! `BEGIN IMMEDIATE`, which takes the write lock up front), so concurrent acquisitions can never
//! together pass the limit. A denial writes nothing. Times are kept to the millisecond.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::lease_batch::{LeaseBatcher, Open};
use super::UserLock;
use super::{decode, CatalogError};
use crate::ids::{AssetId, UserId};
use crate::store::{from_unix_millis, unix_millis, Store};

/// What happens when a user is over their stream limit: `block-new` (deny) or `evict-oldest`. Set by
/// `concurrency.policy` and per entitlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConcurrencyPolicy {
    BlockNew,
    EvictOldest,
}

impl ConcurrencyPolicy {
    /// The name used in configuration, storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::BlockNew => "block-new",
            ConcurrencyPolicy::EvictOldest => "evict-oldest",
        }
    }

    /// The policy named `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "block-new" => Some(ConcurrencyPolicy::BlockNew),
            "evict-oldest" => Some(ConcurrencyPolicy::EvictOldest),
            _ => None,
        }
    }
}

/// The two-key advisory locks lease writers take on PostgreSQL: class "SLEA", then a hash of the
/// uid. Two-key locks never collide with the one-key graph lock, and the class keeps them apart from
/// the device-registration locks.
pub(super) const LEASE_LOCK: UserLock = UserLock {
    class: 0x534C_4541,
    domain: b"sees stream-leases lock\0",
};

const COLUMNS: &str = "uid, holder, asset_id, started_at, renewed_at, expires_at";

/// One running stream of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub uid: UserId,
    /// The device id of the playback session, or a prefix of its cookie's keyed hash.
    pub holder: String,
    pub asset_id: AssetId,
    pub started_at: DateTime<Utc>,
    /// The last acquisition or heartbeat.
    pub renewed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    /// Whether the lease counts at `now`: `now < expires_at`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// What `acquire` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The lease is open (or renewed). Under `evict-oldest`, `evicted` is the lease that was ended to
    /// make room (the oldest one, when a lowered limit made several go).
    Granted { evicted: Option<Lease> },
    /// The user already runs `limit` other streams (`block-new`, or a limit of 0): nothing was
    /// written. `next_free_at` is when enough of them expire, unless renewed, for this request to
    /// fit — the earliest expiry when the user is exactly at the limit; `DateTime::<Utc>::MAX_UTC`
    /// when no slot can ever free (a limit of 0).
    LimitReached {
        limit: u32,
        next_free_at: DateTime<Utc>,
    },
}

/// The `stream_leases` table.
#[derive(Debug, Clone)]
pub struct StreamLeases {
    store: Store,
    batcher: Arc<OnceLock<LeaseBatcher>>,
}

impl StreamLeases {
    /// Leases in `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            batcher: Arc::default(),
        }
    }

    /// The expiry a lease opened or renewed at `now` for `duration` gets, as stored (to the
    /// millisecond, saturating at the latest time the store can hold).
    pub fn expiry(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
        let at = TimeDelta::from_std(duration)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        from_unix_millis(unix_millis(at))
    }

    /// Opens (or, for the same uid+holder+asset, renews) a lease lasting `duration` from `now`;
    /// `limit` None = no limit. Counts only the live leases (`expires_at > now`) of `uid` other than
    /// this one, so a stream never counts twice. When they are `limit` or more: `BlockNew` →
    /// `LimitReached` (nothing written); `EvictOldest` → the live lease with the oldest `renewed_at`
    /// is deleted (as many as needed when the limit was lowered under the running streams) and the
    /// lease granted. `Some(0)` admits no stream under either policy. A renewal keeps `started_at`.
    /// Expired leases of the uid are deleted in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn acquire(
        &self,
        uid: &UserId,
        holder: &str,
        asset: &AssetId,
        limit: Option<u32>,
        policy: ConcurrencyPolicy,
        duration: Duration,
        now: DateTime<Utc>,
    ) -> Result<Admission, CatalogError> {
        let mut tx = self.begin_locked(uid).await?;
        sqlx::query("DELETE FROM stream_leases WHERE uid = $1 AND expires_at <= $2")
            .bind(uid.as_str())
            .bind(unix_millis(now))
            .execute(&mut *tx)
            .await?;
        let live = live_of(&mut tx, uid, now).await?;
        let (this, mut others): (Vec<Lease>, Vec<Lease>) = live
            .into_iter()
            .partition(|l| l.holder == holder && l.asset_id == *asset);
        let mut evicted = None;
        if let Some(limit) = limit {
            let cap = usize::try_from(limit).unwrap_or(usize::MAX);
            if others.len() >= cap {
                if limit == 0 || policy == ConcurrencyPolicy::BlockNew {
                    tx.rollback().await?;
                    return Ok(Admission::LimitReached {
                        limit,
                        next_free_at: next_free_at(&others, cap),
                    });
                }
                // The oldest heartbeat first; ties by start, then by key, so the choice is stable.
                others.sort_by(|a, b| {
                    (a.renewed_at, a.started_at, &a.holder, a.asset_id.as_str()).cmp(&(
                        b.renewed_at,
                        b.started_at,
                        &b.holder,
                        b.asset_id.as_str(),
                    ))
                });
                let excess = others.len() - cap + 1;
                for lease in others.drain(..excess) {
                    delete_one(&mut tx, &lease.uid, &lease.holder, &lease.asset_id).await?;
                    evicted.get_or_insert(lease);
                }
            }
        }
        let expires_at = Self::expiry(now, duration);
        let sql = if this.is_empty() {
            format!("INSERT INTO stream_leases ({COLUMNS}) VALUES ($1, $2, $3, $4, $4, $5)")
        } else {
            "UPDATE stream_leases SET renewed_at = $4, expires_at = $5 \
             WHERE uid = $1 AND holder = $2 AND asset_id = $3"
                .to_owned()
        };
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(uid.as_str())
            .bind(holder)
            .bind(asset.as_str())
            .bind(unix_millis(now))
            .bind(unix_millis(expires_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Admission::Granted { evicted })
    }

    /// Opens or renews the lease (uid, holder, asset) when no concurrency limit applies: one upsert,
    /// no per-user lock (nothing is counted), written together with the opens that arrive meanwhile
    /// (see `lease_batch`). A live lease keeps its `started_at` (a renewal: `false`);
    /// an absent or expired one starts at `now` (`true`). Expired leases of other streams are left to
    /// [`StreamLeases::sweep_expired`].
    pub async fn open_unlimited(
        &self,
        uid: &UserId,
        holder: &str,
        asset: &AssetId,
        duration: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, CatalogError> {
        // The writer task starts with the first open (on the runtime of the caller).
        let batcher = self
            .batcher
            .get_or_init(|| LeaseBatcher::start(self.store.clone()));
        batcher
            .open(Open {
                uid: uid.as_str().to_owned(),
                holder: holder.to_owned(),
                asset: asset.as_str().to_owned(),
                now_ms: unix_millis(now),
                expires_ms: unix_millis(Self::expiry(now, duration)),
            })
            .await
    }

    /// Deletes every lease that expired by `now` (all users); how many went.
    pub async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<u64, CatalogError> {
        let result = sqlx::query("DELETE FROM stream_leases WHERE expires_at <= $1")
            .bind(unix_millis(now))
            .execute(self.store.ephemeral_pool())
            .await?;
        Ok(result.rows_affected())
    }

    /// Renews the live lease (uid, holder, asset) at `now` for `duration` (a heartbeat; no limit is
    /// consulted: the stream already holds its slot); false when there is none (expired, stopped or
    /// never opened) — nothing is written then.
    pub async fn renew(
        &self,
        uid: &UserId,
        holder: &str,
        asset: &AssetId,
        duration: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, CatalogError> {
        let result = sqlx::query(
            "UPDATE stream_leases SET renewed_at = $4, expires_at = $5 \
             WHERE uid = $1 AND holder = $2 AND asset_id = $3 AND expires_at > $4",
        )
        .bind(uid.as_str())
        .bind(holder)
        .bind(asset.as_str())
        .bind(unix_millis(now))
        .bind(unix_millis(Self::expiry(now, duration)))
        .execute(self.store.ephemeral_pool())
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Ends the lease (uid, holder, asset); true when there was a row (an expired one that no
    /// acquisition had cleaned up yet counts too), false when there was none.
    pub async fn stop(
        &self,
        uid: &UserId,
        holder: &str,
        asset: &AssetId,
    ) -> Result<bool, CatalogError> {
        let mut conn = self.store.ephemeral_pool().acquire().await?;
        delete_one(&mut conn, uid, holder, asset).await
    }

    /// The live leases of `uid` at `now`, oldest start first (an empty list for a user with none).
    pub async fn live(&self, uid: &UserId, now: DateTime<Utc>) -> Result<Vec<Lease>, CatalogError> {
        let mut conn = self.store.ephemeral_pool().acquire().await?;
        live_of(&mut conn, uid, now).await
    }

    /// How many leases are live at `now`, all users together (the active-streams gauge).
    pub async fn count_live(&self, now: DateTime<Utc>) -> Result<i64, CatalogError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM stream_leases WHERE expires_at > $1")
                .bind(unix_millis(now))
                .fetch_one(self.store.ephemeral_pool())
                .await?;
        Ok(count)
    }

    /// Ends every lease of `uid` at once (the call that ends a lock-out), serialised with the user's
    /// acquisitions; how many rows went (expired ones not yet cleaned up included).
    pub async fn free_all(&self, uid: &UserId) -> Result<u64, CatalogError> {
        let mut tx = self.begin_locked(uid).await?;
        let result = sqlx::query("DELETE FROM stream_leases WHERE uid = $1")
            .bind(uid.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected())
    }

    /// A transaction holding the per-user write lock (see the module comment).
    async fn begin_locked(&self, uid: &UserId) -> Result<Transaction<'static, Any>, CatalogError> {
        Ok(self
            .store
            .begin_locked_ephemeral(LEASE_LOCK.key(uid))
            .await?)
    }
}

/// When this request would fit: the (n − cap + 1)-th earliest expiry among the `others` (n of them),
/// or never when even all of them expiring would not make room (cap 0).
fn next_free_at(others: &[Lease], cap: usize) -> DateTime<Utc> {
    let mut expiries: Vec<DateTime<Utc>> = others.iter().map(|l| l.expires_at).collect();
    expiries.sort();
    others
        .len()
        .checked_sub(cap)
        .filter(|_| cap > 0)
        .and_then(|i| expiries.get(i).copied())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The live leases of `uid` at `now`, oldest start first (ties by holder and asset).
async fn live_of(
    conn: &mut AnyConnection,
    uid: &UserId,
    now: DateTime<Utc>,
) -> Result<Vec<Lease>, CatalogError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM stream_leases WHERE uid = $1 AND expires_at > $2 \
         ORDER BY started_at, holder, asset_id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(uid.as_str())
        .bind(unix_millis(now))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(lease_from_row).collect()
}

async fn delete_one(
    conn: &mut AnyConnection,
    uid: &UserId,
    holder: &str,
    asset: &AssetId,
) -> Result<bool, CatalogError> {
    let result =
        sqlx::query("DELETE FROM stream_leases WHERE uid = $1 AND holder = $2 AND asset_id = $3")
            .bind(uid.as_str())
            .bind(holder)
            .bind(asset.as_str())
            .execute(&mut *conn)
            .await?;
    Ok(result.rows_affected() > 0)
}

fn lease_from_row(row: &AnyRow) -> Result<Lease, CatalogError> {
    Ok(Lease {
        uid: UserId::parse(row.try_get::<String, _>("uid")?).map_err(|e| decode("uid", e))?,
        holder: row.try_get("holder")?,
        asset_id: AssetId::parse(row.try_get::<String, _>("asset_id")?)
            .map_err(|e| decode("asset_id", e))?,
        started_at: from_unix_millis(row.try_get("started_at")?),
        renewed_at: from_unix_millis(row.try_get("renewed_at")?),
        expires_at: from_unix_millis(row.try_get("expires_at")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        from_unix_millis(s * 1000)
    }

    fn lease(holder: &str, expires: i64) -> Lease {
        Lease {
            uid: UserId::parse("u").unwrap(),
            holder: holder.to_owned(),
            asset_id: AssetId::parse("a").unwrap(),
            started_at: at(0),
            renewed_at: at(0),
            expires_at: at(expires),
        }
    }

    #[test]
    fn the_next_slot_frees_when_enough_leases_expire() {
        let others = [lease("x", 30), lease("y", 10), lease("z", 20)];
        assert_eq!(next_free_at(&others, 3), at(10));
        assert_eq!(next_free_at(&others, 2), at(20));
        assert_eq!(next_free_at(&others, 1), at(30));
        assert_eq!(next_free_at(&others, 0), DateTime::<Utc>::MAX_UTC);
        assert_eq!(next_free_at(&[], 0), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn expiry_is_kept_to_the_millisecond_and_saturates() {
        let now = from_unix_millis(1_700_000_000_123) + TimeDelta::microseconds(456);
        assert_eq!(
            StreamLeases::expiry(now, Duration::from_secs(60)),
            from_unix_millis(1_700_000_060_123)
        );
        assert_eq!(
            StreamLeases::expiry(now, Duration::MAX),
            from_unix_millis(unix_millis(DateTime::<Utc>::MAX_UTC))
        );
    }
}
