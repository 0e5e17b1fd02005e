//! The concurrency lease of an allowed playback: opened under the user's stream limit before the
//! token is asked for, kept when the token came, released when it did not.

use crate::catalog::{Admission, CatalogError};
use crate::decision::Grant;
use crate::ids::{AssetId, UserId};
use crate::keys::StoredKey;

use super::{EntitlementService, Refusal, Step};

/// The lease a playback holds.
pub(super) struct Stream {
    uid: UserId,
    holder: String,
    asset: AssetId,
}

impl EntitlementService {
    /// Opens the stream lease of an allowed playback (a user's, through a session) under the
    /// concurrency limit: the entitlement's own, else `concurrency.default_limit`.
    pub(super) async fn open_stream(
        &self,
        grant: Option<&Grant>,
        stored: &StoredKey,
    ) -> Step<Option<Stream>> {
        match stored.asset() {
            Ok(asset) => self.lease_stream(grant, asset).await,
            Err(_) => Ok(None),
        }
    }

    /// As `open_stream`, for `asset`.
    pub(super) async fn lease_stream(
        &self,
        grant: Option<&Grant>,
        asset: AssetId,
    ) -> Step<Option<Stream>> {
        let Some((uid, holder)) = grant.and_then(|g| Some((g.uid.clone()?, g.holder.clone()?)))
        else {
            return Ok(None);
        };
        let limit = grant
            .and_then(|g| g.concurrency_limit)
            .or((self.concurrency.default_limit > 0).then_some(self.concurrency.default_limit));
        let policy = grant
            .and_then(|g| g.concurrency_policy)
            .unwrap_or(self.concurrency.policy);
        let duration = self.concurrency.lease;
        let now = self.clock.now();
        // Nothing to count: one upsert (a renewal is never released on failure).
        if limit.is_none() {
            let opened = self
                .leases
                .open_unlimited(&uid, &holder, &asset, duration, now)
                .await
                .map_err(store_failure)?;
            return Ok(opened.then_some(Stream { uid, holder, asset }));
        }
        // A stream already running on this holder only renews (and is never released on failure).
        if self
            .leases
            .renew(&uid, &holder, &asset, duration, now)
            .await
            .map_err(store_failure)?
        {
            return Ok(None);
        }
        let admission = self
            .leases
            .acquire(
                &uid,
                &holder,
                &asset,
                limit,
                policy,
                duration,
                self.clock.now(),
            )
            .await
            .map_err(store_failure)?;
        match admission {
            Admission::Granted { evicted } => {
                if let Some(lease) = evicted {
                    tracing::info!(asset = ?lease.asset_id.as_str(), "evicted the oldest stream (concurrency policy)");
                }
                Ok(Some(Stream { uid, holder, asset }))
            }
            Admission::LimitReached {
                limit,
                next_free_at,
            } => Err(Refusal::ConcurrencyLimit {
                limit,
                next_free_at,
            }),
        }
    }

    /// Keeps the lease a playback opened when it got its token; releases it when the token request
    /// failed (a renewed stream is `None` here and keeps running).
    pub(super) async fn settle_stream(&self, stream: Option<Stream>, failed: bool) {
        let (Some(stream), true) = (stream, failed) else {
            return;
        };
        if let Err(e) = self
            .leases
            .stop(&stream.uid, &stream.holder, &stream.asset)
            .await
        {
            tracing::warn!(error = %e, "cannot release the lease of a failed playback");
        }
    }
}

fn store_failure(e: CatalogError) -> Refusal {
    tracing::error!(error = %e, "stream lease failed");
    Refusal::StoreUnavailable
}
