//! The content flow (what a SEES Entitlement Request asks for): a time-bound token, a device
//! registration token, or a token bound to the device registered under the customer cookie.

use crate::decision::{Denial, Grant};
use crate::expressplay::Budget;
use crate::ids::{ContentId, CustomerCookie};
use crate::keys::StoredKey;
use crate::ops::metrics::{Stage, Timer};

use super::{DecisionNotes, EntitlementService, Outcome, Refusal, Step};

/// Which token is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A time-bound token.
    TimeBased,
    /// A registration token bound to the cookie.
    DeviceRegistration,
    /// A token bound to the device registered under the cookie.
    DeviceBound,
}

/// A valid request for content, in domain terms.
#[derive(Debug, Clone, Copy)]
pub struct ContentRequest<'a> {
    pub kind: RequestKind,
    pub content: &'a ContentId,
    pub cookie: Option<&'a CustomerCookie>,
}

impl EntitlementService {
    /// Decides `request`. Every failure is a refusal with its facts; nothing here panics on input.
    pub async fn decide(&self, request: &ContentRequest<'_>) -> Outcome {
        self.decide_noted(request, &mut DecisionNotes::default())
            .await
    }

    /// As `decide`, noting the asset, user and decision trail in `notes` (the audit event's facts).
    pub async fn decide_noted(
        &self,
        request: &ContentRequest<'_>,
        notes: &mut DecisionNotes,
    ) -> Outcome {
        // Strict consistency: the caches must reflect every write committed before now, or this
        // decision reads the store.
        let caches_current = self.decider.ensure_current().await;
        let budget = Budget::new(self.upstream_budget);
        let decide = async {
            match request.kind {
                RequestKind::TimeBased => self.time_based(request, &budget, notes).await,
                RequestKind::DeviceRegistration => self.registration(request, &budget, notes).await,
                RequestKind::DeviceBound => self.device_bound(request, &budget, notes).await,
            }
        };
        let result = if caches_current {
            decide.await
        } else {
            crate::store::coherence::uncached(decide).await
        };
        match result {
            Ok(token_url) => Outcome::Allowed { token_url },
            Err(refusal) => Outcome::Refused(refusal),
        }
    }

    async fn time_based(
        &self,
        request: &ContentRequest<'_>,
        budget: &Budget,
        notes: &mut DecisionNotes,
    ) -> Step<String> {
        let stored = self.key(request.content).await?;
        notes.note_key(&stored);
        let grant = self.allow(&stored, request.cookie, notes).await?;
        let stream = self.open_stream(grant.as_ref(), &stored).await?;
        let outcome = self.token(&stored, request.cookie, None, budget).await;
        self.settle_stream(stream, outcome.is_err()).await;
        outcome
    }

    async fn registration(
        &self,
        request: &ContentRequest<'_>,
        budget: &Budget,
        notes: &mut DecisionNotes,
    ) -> Step<String> {
        let cookie = require_cookie(request)?;
        if !self.registration_content.contains(request.content) {
            return Err(Refusal::NotRegistrationContent);
        }
        let stored = self.key(request.content).await?;
        notes.note_key(&stored);
        if !self.open_mode {
            let _timer = Timer::start(Stage::Decision);
            self.decider
                .session_only(Some(cookie), self.clock.now())
                .await
                .map_err(|(denial, why)| Refusal::NotEntitled { denial, why })?;
        }
        let token_url = self.token(&stored, Some(cookie), None, budget).await?;
        if let Err(e) = self
            .devices
            .record_registration(cookie, self.clock.now())
            .await
        {
            tracing::error!(error = %e, "cannot record the device registration");
            return Err(Refusal::StoreUnavailable);
        }
        tracing::info!("device registration token issued");
        Ok(token_url)
    }

    async fn device_bound(
        &self,
        request: &ContentRequest<'_>,
        budget: &Budget,
        notes: &mut DecisionNotes,
    ) -> Step<String> {
        let cookie = require_cookie(request)?;
        let stored = self.key(request.content).await?;
        notes.note_key(&stored);
        let grant = self.allow(&stored, Some(cookie), notes).await?;
        let device = self.device(cookie, budget).await?;
        self.admit_device(grant.as_ref(), &device).await?;
        let stream = self.open_stream(grant.as_ref(), &stored).await?;
        let outcome = self
            .token(&stored, Some(cookie), Some(&device), budget)
            .await;
        self.settle_stream(stream, outcome.is_err()).await;
        outcome
    }

    /// The catalogue decision for the asset `stored` protects: its grant, or `None` in open mode.
    async fn allow(
        &self,
        stored: &StoredKey,
        cookie: Option<&CustomerCookie>,
        notes: &mut DecisionNotes,
    ) -> Step<Option<Grant>> {
        if self.open_mode {
            return Ok(None);
        }
        let asset = stored.asset().map_err(|e| Refusal::NotEntitled {
            denial: Denial::NotEntitled,
            why: format!(
                "content ID {e} as an asset ID: give the key an asset ID (sees keys add --asset-id)"
            ),
        })?;
        let timer = Timer::start(Stage::Decision);
        let decision = self
            .decider
            .for_cookie(&asset, cookie, self.clock.now())
            .await;
        drop(timer);
        notes.note_decision(&decision);
        match decision.outcome {
            Ok(grant) => Ok(Some(grant)),
            Err(denial) => Err(Refusal::NotEntitled {
                denial,
                why: decision.why(),
            }),
        }
    }
}

fn require_cookie<'a>(request: &ContentRequest<'a>) -> Step<&'a CustomerCookie> {
    request.cookie.ok_or(Refusal::CookieRequired)
}
