//! From a valid Entitlement Request to an outcome: the content key, the token parameters, the device
//! binding when asked for, the ExpressPlay token. No HTTP here; the handler turns an `Outcome` into a
//! response.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::ConcurrencySettings;
use crate::catalog::{Admission, DeviceAdmission, StreamLeases, UserDevices};
use crate::clock::Clock;
use crate::decision::{Decider, Denial, Grant};
use crate::devices::DeviceBindings;
use crate::expressplay::{
    Budget, DeviceLookup, DeviceLookupError, ExpressPlayClient, RecordError, TokenLifetime,
    TokenRequest, UpstreamError,
};
use crate::ids::{AssetId, ContentId, CustomerCookie, DeviceId};
use crate::keys::{KeyStore, KeyStoreError, StoredKey};

use super::errors::ErrorCode;
use super::wire::{EntitlementRequest, RequestType};
use crate::ops::metrics::{Stage, Timer};

mod playback;
pub use playback::{PlaybackRefusal, PlaybackToken, UserPlayback};

/// Token parameters used when a content key has no override.
#[derive(Debug, Clone, Copy)]
pub struct TokenDefaults {
    pub lifetime: TokenLifetime,
    pub rental_duration_s: u32,
}

/// The decision on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Play: the ExpressPlay token URL.
    Allowed { token_url: String },
    /// Do not play: the error number and what happened (safe to show the client).
    Denied { code: ErrorCode, detail: String },
}

impl Outcome {
    fn denied(code: ErrorCode, detail: impl Into<String>) -> Self {
        Outcome::Denied {
            code,
            detail: detail.into(),
        }
    }
}

/// What the decision of one request learned, for its audit event: the asset, the user, the trail.
#[derive(Debug, Clone, Default)]
pub struct DecisionNotes {
    pub asset: Option<String>,
    pub user: Option<String>,
    pub trail: Vec<crate::audit::TrailStep>,
}

impl DecisionNotes {
    fn note_key(&mut self, stored: &StoredKey) {
        self.asset = stored.asset().ok().map(|a| a.as_str().to_owned());
    }

    fn note_decision(&mut self, decision: &crate::decision::Decision) {
        self.asset = Some(decision.asset.as_str().to_owned());
        self.trail = decision.trail.iter().map(Into::into).collect();
        let granted = decision.outcome.as_ref().ok().and_then(|g| g.uid.as_ref());
        self.user = decision
            .viewer
            .as_ref()
            .or(granted)
            .map(|u| u.as_str().to_owned());
    }
}

/// A denial on the way to a token.
type Step<T> = Result<T, Outcome>;

/// The lease a playback holds.
struct Stream {
    uid: crate::ids::UserId,
    holder: String,
    asset: crate::ids::AssetId,
}

/// Everything one Entitlement Request needs.
pub struct EntitlementService {
    decider: Decider,
    open_mode: bool,
    user_devices: UserDevices,
    leases: StreamLeases,
    concurrency: ConcurrencySettings,
    max_devices: u32,
    keys: Arc<KeyStore>,
    devices: DeviceBindings,
    expressplay: ExpressPlayClient,
    defaults: TokenDefaults,
    registration_content: HashSet<ContentId>,
    upstream_budget: Duration,
    clock: Arc<dyn Clock>,
}

/// The parts an `EntitlementService` is made of.
pub struct ServiceParts {
    /// The catalogue decision.
    pub decider: Decider,
    /// Open mode: Entitlement Requests for any content with a key are allowed without consulting the
    /// catalogue (the OEM token endpoints always consult it).
    pub open_mode: bool,
    pub user_devices: UserDevices,
    pub leases: StreamLeases,
    pub concurrency: ConcurrencySettings,
    /// Devices per user; 0 = no limit.
    pub max_devices: u32,
    pub keys: Arc<KeyStore>,
    pub devices: DeviceBindings,
    pub expressplay: ExpressPlayClient,
    pub defaults: TokenDefaults,
    pub registration_content: HashSet<ContentId>,
    pub upstream_budget: Duration,
    pub clock: Arc<dyn Clock>,
}

impl EntitlementService {
    /// Wires the parts together.
    pub fn new(parts: ServiceParts) -> Self {
        Self {
            decider: parts.decider,
            open_mode: parts.open_mode,
            user_devices: parts.user_devices,
            leases: parts.leases,
            concurrency: parts.concurrency,
            max_devices: parts.max_devices,
            keys: parts.keys,
            devices: parts.devices,
            expressplay: parts.expressplay,
            defaults: parts.defaults,
            registration_content: parts.registration_content,
            upstream_budget: parts.upstream_budget,
            clock: parts.clock,
        }
    }

    /// The ExpressPlay client (breaker states, counters).
    pub fn expressplay(&self) -> &ExpressPlayClient {
        &self.expressplay
    }

    /// Decides `request`. Every failure is a denial with its number; nothing here panics on input.
    pub async fn decide(&self, request: &EntitlementRequest) -> Outcome {
        self.decide_noted(request, &mut DecisionNotes::default())
            .await
    }

    /// As `decide`, noting the asset, user and decision trail in `notes` (the audit event's facts).
    pub async fn decide_noted(
        &self,
        request: &EntitlementRequest,
        notes: &mut DecisionNotes,
    ) -> Outcome {
        // Strict consistency: the caches must reflect every write committed before now, or this
        // decision reads the store.
        let caches_current = self.decider.ensure_current().await;
        let budget = Budget::new(self.upstream_budget);
        let decide = async {
            match request.request_type {
                RequestType::TimeBased => self.time_based(request, &budget, notes).await,
                RequestType::DeviceRegistration => self.registration(request, &budget, notes).await,
                RequestType::DeviceBound => self.device_bound(request, &budget, notes).await,
            }
        };
        let result = if caches_current {
            decide.await
        } else {
            crate::store::coherence::uncached(decide).await
        };
        result.unwrap_or_else(|denial| denial)
    }

    async fn time_based(
        &self,
        request: &EntitlementRequest,
        budget: &Budget,
        notes: &mut DecisionNotes,
    ) -> Step<Outcome> {
        let stored = self.key(&request.content_id).await?;
        notes.note_key(&stored);
        let cookie = request.customer_cookie.as_ref();
        let grant = self.allow(&stored, cookie, notes).await?;
        let stream = self.open_stream(grant.as_ref(), &stored).await?;
        let outcome = self.token(&stored, cookie, None, budget).await;
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
        let asset = stored.asset().map_err(|e| {
            Outcome::denied(
                ErrorCode::NotEntitled,
                format!("content ID {e} as an asset ID: give the key an asset ID (sees keys add --asset-id)"),
            )
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
            Err(denial) => Err(Outcome::denied(denial_code(denial), decision.why())),
        }
    }

    /// Opens the stream lease of an allowed playback (a user's, through a session) under the
    /// concurrency limit: the entitlement's own, else `concurrency.default_limit`.
    async fn open_stream(&self, grant: Option<&Grant>, stored: &StoredKey) -> Step<Option<Stream>> {
        match stored.asset() {
            Ok(asset) => self.lease_stream(grant, asset).await,
            Err(_) => Ok(None),
        }
    }

    /// As `open_stream`, for `asset`.
    async fn lease_stream(&self, grant: Option<&Grant>, asset: AssetId) -> Step<Option<Stream>> {
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
        let store_error = |e: crate::catalog::CatalogError| {
            tracing::error!(error = %e, "stream lease failed");
            Outcome::denied(ErrorCode::StoreUnavailable, "")
        };
        // Nothing to count: one upsert (a renewal is never released on failure).
        if limit.is_none() {
            let opened = self
                .leases
                .open_unlimited(&uid, &holder, &asset, duration, now)
                .await
                .map_err(store_error)?;
            return Ok(opened.then_some(Stream { uid, holder, asset }));
        }
        // A stream already running on this holder only renews (and is never released on failure).
        if self
            .leases
            .renew(&uid, &holder, &asset, duration, now)
            .await
            .map_err(store_error)?
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
            .map_err(|e| {
                tracing::error!(error = %e, "stream lease failed");
                Outcome::denied(ErrorCode::StoreUnavailable, "")
            })?;
        match admission {
            Admission::Granted { evicted } => {
                if let Some(lease) = evicted {
                    tracing::info!(asset = ?lease.asset_id.as_str(), "evicted the oldest stream (concurrency policy)");
                }
                Ok(Some(Stream { uid, holder, asset }))
            }
            Admission::LimitReached { limit, next_free_at } => Err(Outcome::denied(
                ErrorCode::ConcurrencyLimit,
                format!(
                    "{limit} stream(s) already running; the next slot frees at {} unless a stream is stopped",
                    next_free_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                ),
            )),
        }
    }

    /// Keeps the lease a playback opened when it got its token; releases it when the token request
    /// failed (a renewed stream is `None` here and keeps running).
    async fn settle_stream(&self, stream: Option<Stream>, failed: bool) {
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

    /// Counts `device` among the user's devices under the per-user limit.
    async fn admit_device(&self, grant: Option<&Grant>, device: &DeviceId) -> Step<()> {
        let Some(uid) = grant.and_then(|g| g.uid.clone()) else {
            return Ok(());
        };
        let limit = (self.max_devices > 0).then_some(self.max_devices);
        match self
            .user_devices
            .register(&uid, device, limit, self.clock.now())
            .await
        {
            Ok(DeviceAdmission::Admitted) => Ok(()),
            Ok(DeviceAdmission::LimitReached { limit, devices }) => Err(Outcome::denied(
                ErrorCode::DeviceLimit,
                format!(
                    "{limit} device(s) already registered ({}); support can remove one",
                    devices.len()
                ),
            )),
            Err(e) => {
                tracing::error!(error = %e, "device registry failed");
                Err(Outcome::denied(ErrorCode::StoreUnavailable, ""))
            }
        }
    }

    async fn registration(
        &self,
        request: &EntitlementRequest,
        budget: &Budget,
        notes: &mut DecisionNotes,
    ) -> Step<Outcome> {
        let cookie = require_cookie(request)?;
        if !self.registration_content.contains(&request.content_id) {
            return Err(Outcome::denied(ErrorCode::NotRegistrationContent, ""));
        }
        let stored = self.key(&request.content_id).await?;
        notes.note_key(&stored);
        if !self.open_mode {
            let _timer = Timer::start(Stage::Decision);
            self.decider
                .session_only(Some(cookie), self.clock.now())
                .await
                .map_err(|(denial, why)| Outcome::denied(denial_code(denial), why))?;
        }
        let outcome = self.token(&stored, Some(cookie), None, budget).await?;
        if let Err(e) = self
            .devices
            .record_registration(cookie, self.clock.now())
            .await
        {
            tracing::error!(error = %e, "cannot record the device registration");
            return Err(Outcome::denied(ErrorCode::StoreUnavailable, ""));
        }
        tracing::info!("device registration token issued");
        Ok(outcome)
    }

    async fn device_bound(
        &self,
        request: &EntitlementRequest,
        budget: &Budget,
        notes: &mut DecisionNotes,
    ) -> Step<Outcome> {
        let cookie = require_cookie(request)?;
        let stored = self.key(&request.content_id).await?;
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

    /// The device bound to `cookie`: the stored binding while fresh, else the record service's answer
    /// (stored only when it names exactly one well-formed device).
    async fn device(&self, cookie: &CustomerCookie, budget: &Budget) -> Step<DeviceId> {
        let now = self.clock.now();
        match self.devices.cached_device(cookie, now).await {
            Ok(Some(device)) => return Ok(device),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "device binding store failure");
                return Err(Outcome::denied(ErrorCode::StoreUnavailable, ""));
            }
        }
        let timer = Timer::start(Stage::UpstreamRecord);
        let lookup = self
            .expressplay
            .devices_for_cookie(cookie.expose(), budget)
            .await;
        drop(timer);
        let lookup = lookup.map_err(|e| match e {
            DeviceLookupError::Upstream(e) => upstream_denial("record service", e),
            DeviceLookupError::Record(RecordError::InvalidDevice) => {
                Outcome::denied(ErrorCode::InvalidDeviceId, "")
            }
            DeviceLookupError::Record(e) => {
                tracing::warn!(error = %e, "unreadable record answer");
                Outcome::denied(ErrorCode::UpstreamBadResponse, e.to_string())
            }
        })?;
        match lookup {
            DeviceLookup::One(device) => {
                if let Err(e) = self.devices.remember_device(cookie, &device, now).await {
                    tracing::warn!(error = %e, "cannot store the learned device binding");
                }
                Ok(device)
            }
            DeviceLookup::NotRegistered => Err(Outcome::denied(ErrorCode::DeviceNotRegistered, "")),
            DeviceLookup::Several(n) => Err(Outcome::denied(
                ErrorCode::SeveralDevices,
                format!("{n} devices"),
            )),
        }
    }

    async fn key(&self, id: &ContentId) -> Step<Arc<StoredKey>> {
        let timer = Timer::start(Stage::KeyLookup);
        let found = self.keys.get(id).await;
        drop(timer);
        match found {
            Ok(Some(stored)) => Ok(stored),
            Ok(None) => Err(Outcome::denied(ErrorCode::UnknownContent, "")),
            Err(KeyStoreError::Unreadable(id)) => {
                tracing::error!(content_id = ?id.as_str(), "stored content key does not decrypt");
                Err(Outcome::denied(ErrorCode::KeyUnreadable, ""))
            }
            Err(e) => {
                tracing::error!(error = %e, "key store failure");
                Err(Outcome::denied(ErrorCode::StoreUnavailable, ""))
            }
        }
    }

    async fn token(
        &self,
        stored: &StoredKey,
        cookie: Option<&CustomerCookie>,
        device: Option<&DeviceId>,
        budget: &Budget,
    ) -> Step<Outcome> {
        let lifetime = stored
            .policy
            .token_lifetime
            .unwrap_or(self.defaults.lifetime);
        let expiration_time = lifetime
            .expiration_param(self.clock.now())
            .map_err(|expired| {
                Outcome::denied(ErrorCode::ContentWindowClosed, expired.to_string())
            })?;
        let request = TokenRequest {
            key: &stored.key,
            expiration_time,
            rental_duration_s: stored
                .policy
                .rental_duration_s
                .unwrap_or(self.defaults.rental_duration_s),
            cookie: cookie.map(CustomerCookie::expose),
            device,
        };
        let timer = Timer::start(Stage::UpstreamToken);
        let token = self.expressplay.fairplay_token(&request, budget).await;
        drop(timer);
        match token {
            Ok(token_url) => Ok(Outcome::Allowed { token_url }),
            Err(e) => Err(upstream_denial("token service", e)),
        }
    }
}

/// Logs the trail of a decision made for the OEM token routes, rule by rule, never a cookie (their
/// audit event is the admin write's; SEES decisions are recorded through `DecisionNotes`).
fn log_trail(decision: &crate::decision::Decision, via: &str) {
    let trail: Vec<String> = decision
        .trail
        .iter()
        .map(|step| {
            format!(
                "{:?}:{}:{}",
                step.rule,
                if step.passed { "pass" } else { "fail" },
                step.detail
            )
        })
        .collect();
    tracing::debug!(via, allowed = decision.allowed(), asset = ?decision.asset.as_str(), trail = ?trail, "catalogue decision");
}

/// The SEES error number of a catalogue denial.
fn denial_code(denial: Denial) -> ErrorCode {
    match denial {
        Denial::SessionRequired => ErrorCode::SessionRequired,
        Denial::SessionUnknown => ErrorCode::SessionUnknown,
        Denial::SessionExpired => ErrorCode::SessionExpired,
        Denial::NotEntitled => ErrorCode::NotEntitled,
        Denial::EntitlementExpired => ErrorCode::EntitlementExpired,
        Denial::EntitlementNotYetValid => ErrorCode::EntitlementNotYetValid,
        Denial::RegionNotAllowed => ErrorCode::RegionNotAllowed,
        Denial::StoreUnavailable => ErrorCode::StoreUnavailable,
    }
}

fn require_cookie(request: &EntitlementRequest) -> Step<&CustomerCookie> {
    request
        .customer_cookie
        .as_ref()
        .ok_or_else(|| Outcome::denied(ErrorCode::CookieRequired, ""))
}

/// The denial for an ExpressPlay failure of `service`.
fn upstream_denial(service: &str, e: UpstreamError) -> Outcome {
    tracing::warn!(service, error = %e, "ExpressPlay call failed");
    let code = match &e {
        UpstreamError::Connect(_) | UpstreamError::Transport(_) => ErrorCode::UpstreamUnreachable,
        UpstreamError::Timeout(_) | UpstreamError::BudgetSpent => ErrorCode::UpstreamTimeout,
        UpstreamError::CircuitOpen => ErrorCode::UpstreamUnavailable,
        UpstreamError::Busy => ErrorCode::UpstreamBusy,
        UpstreamError::BadResponse(_) => ErrorCode::UpstreamBadResponse,
        UpstreamError::Rejected { code, .. } => ErrorCode::for_expressplay(*code),
    };
    Outcome::denied(code, format!("{service}: {e}"))
}
