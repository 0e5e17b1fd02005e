//! The content flow (what a SEES Entitlement Request asks for): a time-bound token, a device
//! registration token, or a token bound to the device registered under the customer cookie.

use std::sync::Arc;

use crate::decision::{Denial, Grant};
use crate::drm::Drm;
use crate::expressplay::Budget;
use crate::ids::{ContentId, CustomerCookie};
use crate::keys::StoredKey;
use crate::ops::metrics::{Stage, Timer};

use super::token::TokenAsk;
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
    /// The DRM the token is for (the endpoint's path says which).
    pub drm: Drm,
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
            let content = request.content;
            let drm = request.drm;
            if !self.drm_enabled(drm) {
                return Err(Refusal::DrmNotEnabled(drm));
            }
            if request.kind != RequestKind::TimeBased && !drm.binds_devices() {
                return Err(Refusal::DeviceBindingUnsupported(drm));
            }
            match request.kind {
                RequestKind::TimeBased => {
                    self.streamed(drm, content, request.cookie, None, &budget, notes)
                        .await
                }
                RequestKind::DeviceRegistration => {
                    let cookie = require_cookie(request)?;
                    self.registration(content, cookie, &budget, notes).await
                }
                RequestKind::DeviceBound => {
                    let cookie = require_cookie(request)?;
                    self.streamed(drm, content, Some(cookie), Some(cookie), &budget, notes)
                        .await
                }
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

    /// A registration token for `content`, bound to `cookie`, whose registration is recorded.
    async fn registration(
        &self,
        content: &ContentId,
        cookie: &CustomerCookie,
        budget: &Budget,
        notes: &mut DecisionNotes,
    ) -> Step<String> {
        if !self.registration_content.contains(content) {
            return Err(Refusal::NotRegistrationContent);
        }
        let stored = self.noted_key(content, notes).await?;
        if !self.open_mode {
            let _timer = Timer::start(Stage::Decision);
            self.decider
                .session_only(Some(cookie), self.clock.now())
                .await
                .map_err(|(denial, why)| Refusal::NotEntitled { denial, why })?;
        }
        let ask = TokenAsk {
            drm: Drm::FairPlay,
            grant: None,
            cookie: Some(cookie),
            device: None,
        };
        let token_url = self.token(&stored, ask, budget).await?;
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

    /// A token for `content` under the catalogue decision and the concurrent-stream limit: bound to
    /// the device registered under `device_of` when given (admitted against the grant first), else
    /// time-bound. The stream slot is given back when the token cannot be had.
    async fn streamed(
        &self,
        drm: Drm,
        content: &ContentId,
        cookie: Option<&CustomerCookie>,
        device_of: Option<&CustomerCookie>,
        budget: &Budget,
        notes: &mut DecisionNotes,
    ) -> Step<String> {
        let stored = self.noted_key(content, notes).await?;
        self.kid_for(drm, &stored)?;
        let grant = self.allow(&stored, cookie, notes).await?;
        let device = match device_of {
            Some(cookie) => {
                let device = self.device(cookie, budget).await?;
                self.admit_device(grant.as_ref(), &device).await?;
                Some(device)
            }
            None => None,
        };
        let stream = self.open_stream(grant.as_ref(), &stored).await?;
        let ask = TokenAsk {
            drm,
            grant: grant.as_ref(),
            cookie,
            device: device.as_ref(),
        };
        let outcome = self.token(&stored, ask, budget).await;
        self.settle_stream(stream, outcome.is_err()).await;
        outcome
    }

    /// The stored key of `content`, noted in `notes`.
    async fn noted_key(
        &self,
        content: &ContentId,
        notes: &mut DecisionNotes,
    ) -> Step<Arc<StoredKey>> {
        let stored = self.key(content).await?;
        notes.note_key(&stored);
        Ok(stored)
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
