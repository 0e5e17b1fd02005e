//! The decision: may this viewer play this asset now? The rules over the catalogue are evaluated here
//! and only here — by the SEES endpoint (viewer named by a playback-session cookie) and by the
//! explanation routes (viewer named by a user id) — and each rule adds a step to the trail that
//! explains the answer. No HTTP here.
//!
//! Order: a free package contains the asset → a live session names the user → the user holds an
//! entitlement whose window contains now (± the clock-skew tolerance) to a package that contains the
//! asset directly or through the package graph, or a direct asset grant → every package on that path
//! admits the session's country. The first rule that fails decides the denial.
//!
//! Two halves: [`Decider`] (this file) loads what the next rule needs — the asset's view, the playback
//! session, the user's view and direct grant, through the catalogue and its decision cache — and
//! turns a store failure into [`Denial::StoreUnavailable`]. The rules — `rules` orders them;
//! `session`, `entitlement` (with `windows` and `paths`) and `region` each hold one — are pure
//! functions over those loaded values and `now`: they never touch the store, a clock or the network.

mod entitlement;
#[cfg(test)]
mod fixtures;
mod outcome;
mod paths;
mod region;
mod rules;
mod session;
pub mod settings;
mod windows;

pub use outcome::{Decision, Denial, Grant, Rule, Step};

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::catalog::{
    AssetEntitlement, AssetView, Catalog, CatalogError, PlaybackSessions, UserView,
};
use crate::ids::{AssetId, CustomerCookie, UserId};
use entitlement::Holdings;
use rules::{NeedsHoldings, NeedsViewer, Next};
use session::SessionLookup;
use windows::Moment;

/// Evaluates the rules.
#[derive(Debug, Clone)]
pub struct Decider {
    catalog: Catalog,
    sessions: PlaybackSessions,
    skew: Duration,
}

impl Decider {
    /// Rules over `catalog` and `sessions`; windows are checked with `skew` tolerance.
    pub fn new(catalog: Catalog, sessions: PlaybackSessions, skew: Duration) -> Self {
        Self {
            catalog,
            sessions,
            skew,
        }
    }

    /// Under `decision.consistency = "strict"` on a shared store, whether the caches reflect every
    /// write committed before now (`false`: decide with `store::coherence::uncached`); `true`
    /// otherwise.
    pub async fn ensure_current(&self) -> bool {
        self.catalog.ensure_current().await
    }

    /// The SEES path: the viewer is the user of the playback session `cookie` names.
    pub async fn for_cookie(
        &self,
        asset: &AssetId,
        cookie: Option<&CustomerCookie>,
        now: DateTime<Utc>,
    ) -> Decision {
        let (view, needs_viewer) = match self.free_package(asset, None).await {
            Next::Decided(decision) => return decision,
            Next::Continue(loaded) => loaded,
        };
        let lookup = match self.lookup(cookie).await {
            Ok(lookup) => lookup,
            Err(e) => return store_failure(e, needs_viewer.unavailable()),
        };
        let (needs_holdings, session) = match needs_viewer.by_session(lookup, now) {
            Next::Decided(decision) => return decision,
            Next::Continue(viewed) => viewed,
        };
        let mut decision = self.with_holdings(needs_holdings, &view, now).await;
        if let (Ok(grant), Some(cookie)) = (&mut decision.outcome, cookie) {
            grant.holder = Some(self.sessions.stream_holder(&session, cookie));
        }
        decision
    }

    /// The explanation path: the viewer is `uid`, in `country` when given.
    pub async fn for_user(
        &self,
        asset: &AssetId,
        uid: &UserId,
        country: Option<&str>,
        now: DateTime<Utc>,
    ) -> Decision {
        let (view, needs_viewer) = match self.free_package(asset, Some(uid)).await {
            Next::Decided(decision) => return decision,
            Next::Continue(loaded) => loaded,
        };
        let needs_holdings = needs_viewer.by_user(uid, country);
        self.with_holdings(needs_holdings, &view, now).await
    }

    /// Loads the view of `asset` and applies the free-package rule (`named`: the user the caller
    /// names, if any): decided when the asset is free or unreadable, else the view and what the
    /// next rule needs.
    async fn free_package(
        &self,
        asset: &AssetId,
        named: Option<&UserId>,
    ) -> Next<(Arc<AssetView>, NeedsViewer)> {
        let view = match self.catalog.asset_view(asset).await {
            Ok(view) => view,
            Err(e) => return Next::Decided(store_failure(e, rules::unavailable(asset))),
        };
        match rules::free_package(asset, &view, named) {
            Next::Decided(decision) => Next::Decided(with_policies(decision, &view)),
            Next::Continue(needs) => Next::Continue((view, needs)),
        }
    }

    /// Only the session rule (device registrations need a known viewer, not an entitlement).
    pub async fn session_only(
        &self,
        cookie: Option<&CustomerCookie>,
        now: DateTime<Utc>,
    ) -> Result<UserId, (Denial, String)> {
        match self.lookup(cookie).await {
            Ok(lookup) => session::session_only(lookup, now),
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                Err((Denial::StoreUnavailable, String::new()))
            }
        }
    }

    /// What the store holds for `cookie`.
    async fn lookup(&self, cookie: Option<&CustomerCookie>) -> Result<SessionLookup, CatalogError> {
        let Some(cookie) = cookie else {
            return Ok(SessionLookup::NoCookie);
        };
        Ok(match self.sessions.resolve(cookie).await? {
            None => SessionLookup::Unknown,
            Some(session) => SessionLookup::Found(session),
        })
    }

    /// Loads the viewer's holdings and runs the entitlement and region rules at `now`.
    async fn with_holdings(
        &self,
        needs: NeedsHoldings,
        view: &AssetView,
        now: DateTime<Utc>,
    ) -> Decision {
        match self.holdings(needs.uid(), needs.asset()).await {
            Ok((user, asset_grant)) => {
                let holdings = Holdings {
                    entitlements: &user.entitlements,
                    asset_grant: asset_grant.as_ref(),
                };
                let decision = needs.decide(view, holdings, Moment::new(now, self.skew));
                with_policies(decision, view)
            }
            Err(e) => store_failure(e, needs.unavailable()),
        }
    }

    /// The user's view of `uid` and the direct grant to `asset`, active or not.
    async fn holdings(
        &self,
        uid: &UserId,
        asset: &AssetId,
    ) -> Result<(Arc<UserView>, Option<AssetEntitlement>), CatalogError> {
        let user = self.catalog.user_view(uid).await?;
        let grant = self.catalog.asset_grant_in(&user, uid, asset).await?;
        Ok((user, grant))
    }
}

/// `decision` with its grant's package DRM policies, from the rules `view` loaded (no extra read).
fn with_policies(mut decision: Decision, view: &AssetView) -> Decision {
    if let Ok(grant) = &mut decision.outcome {
        let granting = grant.package.iter().chain(
            grant
                .path
                .iter()
                .filter(|id| Some(*id) != grant.package.as_ref()),
        );
        let mut with_policy = granting
            .filter_map(|id| view.rules.get(id))
            .filter(|rules| !rules.drm_policy.is_empty())
            .peekable();
        // Most packages set no policy: then nothing is collected (no allocation on the hot path).
        if with_policy.peek().is_some() {
            grant.policies = with_policy
                .map(|rules| (rules.id.clone(), rules.drm_policy.clone()))
                .collect();
        }
    }
    decision
}

/// Logs the store failure `e` and answers `decision` (a [`Denial::StoreUnavailable`]).
fn store_failure(e: CatalogError, decision: Decision) -> Decision {
    tracing::error!(error = %e, "catalogue read failed during a decision");
    decision
}
