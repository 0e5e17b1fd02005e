//! The content key and the ExpressPlay token: the key for a content ID, the terms the token carries
//! (the key's own policy, the `[drm]` defaults and the DRM policies of the packages that grant the
//! asset, the strictest applying) and the token call for the DRM asked for.

use std::sync::Arc;

use crate::decision::Grant;
use crate::drm::{strictest, Drm, Terms};
use crate::expressplay::{
    Budget, PlayReadyOpls, PlayReadyTokenRequest, TokenLifetime, TokenRequest, UpstreamError,
    WidevineTokenRequest,
};
use crate::ids::{ContentId, CustomerCookie, DeviceId};
use crate::keys::{KeyStoreError, StoredKey};
use crate::ops::metrics::{Stage, Timer};

use super::{EntitlementService, Refusal, Step, UpstreamService};

/// Token parameters used when a content key has no override.
#[derive(Debug, Clone, Copy)]
pub struct TokenDefaults {
    pub lifetime: TokenLifetime,
    pub rental_duration_s: u32,
}

/// The token one request asks for: the DRM, and who and what it is bound to.
#[derive(Debug, Clone, Copy)]
pub(super) struct TokenAsk<'a> {
    pub drm: Drm,
    /// The grant that allowed it (its packages' DRM policies); `None` in open mode and for
    /// registrations.
    pub grant: Option<&'a Grant>,
    pub cookie: Option<&'a CustomerCookie>,
    /// The device a FairPlay token is bound to (requestType 3).
    pub device: Option<&'a DeviceId>,
}

impl EntitlementService {
    /// Whether tokens for `drm` are answered (`drm.enabled`).
    pub fn drm_enabled(&self, drm: Drm) -> bool {
        self.drm.is_enabled(drm)
    }

    /// The stored content key for `id`.
    pub(super) async fn key(&self, id: &ContentId) -> Step<Arc<StoredKey>> {
        let timer = Timer::start(Stage::KeyLookup);
        let found = self.keys.get(id).await;
        drop(timer);
        match found {
            Ok(Some(stored)) => Ok(stored),
            Ok(None) => Err(Refusal::UnknownContent),
            Err(KeyStoreError::Unreadable(id)) => {
                tracing::error!(content_id = ?id.as_str(), "stored content key does not decrypt");
                Err(Refusal::KeyUnreadable)
            }
            Err(e) => {
                tracing::error!(error = %e, "key store failure");
                Err(Refusal::StoreUnavailable)
            }
        }
    }

    /// The terms a token under `grant` carries for a key without overrides of its own (the
    /// explanation routes).
    pub fn drm_terms(&self, grant: &Grant) -> Terms {
        strictest(
            &self.drm_defaults,
            self.defaults.rental_duration_s,
            &grant.policies,
        )
    }

    /// The KID of `stored` when `drm` names keys by KID (Widevine, PlayReady); FairPlay needs none.
    pub(super) fn kid_for(&self, drm: Drm, stored: &StoredKey) -> Step<Option<[u8; 16]>> {
        match drm {
            Drm::FairPlay => Ok(None),
            Drm::Widevine | Drm::PlayReady => {
                stored.policy.kid.map(Some).ok_or(Refusal::NoKeyId(drm))
            }
        }
    }

    /// The terms a token for `stored` carries under `grant`: the configuration (FairPlay's rental
    /// duration: the key's own, else `expressplay.rental_duration_s`) made stricter by the granting
    /// packages' policies.
    pub(super) fn terms(&self, stored: &StoredKey, grant: Option<&Grant>) -> Terms {
        let policies = grant.map_or(&[][..], |g| &g.policies[..]);
        strictest(
            &self.drm_defaults,
            self.base_rental_duration(stored),
            policies,
        )
    }

    fn base_rental_duration(&self, stored: &StoredKey) -> u32 {
        stored
            .policy
            .rental_duration_s
            .unwrap_or(self.defaults.rental_duration_s)
    }

    /// A token URL of `ask.drm` for `stored`.
    pub(super) async fn token(
        &self,
        stored: &StoredKey,
        ask: TokenAsk<'_>,
        budget: &Budget,
    ) -> Step<String> {
        let lifetime = stored
            .policy
            .token_lifetime
            .unwrap_or(self.defaults.lifetime);
        let expiration_time = lifetime
            .expiration_param(self.clock.now())
            .map_err(Refusal::WindowClosed)?;
        let cookie = ask.cookie.map(CustomerCookie::expose);
        let kid = self.kid_for(ask.drm, stored)?;
        let timer = Timer::start(Stage::UpstreamToken);
        let token: Result<String, UpstreamError> = match (ask.drm, kid) {
            (Drm::Widevine, Some(kid)) => {
                let wv = self.terms(stored, ask.grant).widevine;
                let request = WidevineTokenRequest {
                    kid,
                    key: &stored.key,
                    security_level: wv.security_level.value,
                    hdcp: wv.hdcp.value,
                    license_duration_s: wv.license_duration_s.map(|d| d.value),
                    expiration_time,
                    cookie,
                };
                self.expressplay.widevine_token(&request, budget).await
            }
            (Drm::PlayReady, Some(kid)) => {
                let terms = self.terms(stored, ask.grant);
                if let Some(why) = terms.playready_unsatisfiable {
                    return Err(Refusal::PolicyUnsatisfiable(why));
                }
                let pr = terms.playready;
                let request = PlayReadyTokenRequest {
                    kid,
                    key: &stored.key,
                    rights: pr.rights.value,
                    rental_period_end: pr.rental_period_s.map(|p| format!("+{}", p.value)),
                    rental_play_duration_s: pr.rental_play_duration_s.map(|d| d.value),
                    opls: PlayReadyOpls {
                        analog_video: pr.analog_video_opl.value,
                        compressed_digital_audio: pr.compressed_digital_audio_opl.value,
                        compressed_digital_video: pr.compressed_digital_video_opl.value,
                        uncompressed_digital_audio: pr.uncompressed_digital_audio_opl.value,
                        uncompressed_digital_video: pr.uncompressed_digital_video_opl.value,
                    },
                    persistent: pr.persistent.value,
                    unknown_output: pr.unknown_output.map(|u| u.value),
                    expiration_time,
                    cookie,
                };
                self.expressplay.playready_token(&request, budget).await
            }
            _ => {
                // FairPlay: the policies are looked at only when a granting package sets one.
                let rental_duration_s = match ask.grant {
                    Some(grant) if !grant.policies.is_empty() => {
                        self.terms(stored, ask.grant)
                            .fairplay
                            .rental_duration_s
                            .value
                    }
                    _ => self.base_rental_duration(stored),
                };
                let request = TokenRequest {
                    key: &stored.key,
                    expiration_time,
                    rental_duration_s,
                    cookie,
                    device: ask.device,
                };
                self.expressplay.fairplay_token(&request, budget).await
            }
        };
        drop(timer);
        token.map_err(|e| upstream_refusal(UpstreamService::Token, e))
    }
}

/// The refusal for an ExpressPlay failure of `service` (logged here).
pub(super) fn upstream_refusal(service: UpstreamService, error: UpstreamError) -> Refusal {
    tracing::warn!(service = %service, error = %error, "ExpressPlay call failed");
    Refusal::Upstream { service, error }
}
