//! The OEM entitlement-token flow (`POST /oem/v2/entitlement` and its admin twin): the viewer is a user
//! the caller names rather than a playback session, but the decision, the concurrency lease, the key
//! store and the ExpressPlay client are the ones a content request uses, called the same way. The
//! catalogue is always consulted here, whatever `decision.mode` says for the SEES endpoint.

use std::sync::Arc;

use url::Url;

use super::token::TokenAsk;
use super::{EntitlementService, Refusal, Step};
use crate::akamai::EdgeAuth;
use crate::decision::{Decision, Grant};
use crate::drm::{DeviceSecurityLevel, Drm};
use crate::expressplay::Budget;
use crate::ids::{AssetId, DeviceId, UserId};
use crate::keys::StoredKey;

/// The most content keys looked at for one asset (two already make the answer ambiguous).
const KEYS_LOOKED_AT: u32 = 2;

/// The token an allowed request gets.
pub enum PlaybackToken<'a> {
    /// The decision only (`tokentype=none`).
    None,
    /// An Akamai EdgeAuth token for the playback URL.
    Akamai {
        signer: &'a EdgeAuth,
        playback_url: &'a Url,
    },
    /// An ExpressPlay token URL of this DRM, for the asset's content key.
    ExpressPlay(Drm),
}

/// Who wants to play what, where.
pub struct UserPlayback<'a> {
    pub uid: &'a UserId,
    pub asset: &'a AssetId,
    /// The device the stream lease is held by.
    pub device: &'a DeviceId,
    /// The viewer's ISO 3166-1 country, when an edge told us.
    pub country: Option<&'a str>,
    /// The Widevine security level the device reports (`capabilities.widevineSecurityLevel`).
    pub device_level: Option<DeviceSecurityLevel>,
}

/// Why no token was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybackRefusal {
    /// The catalogue decision said no (`refusal` is [`Refusal::NotEntitled`]; the trail says why).
    NotEntitled {
        refusal: Refusal,
        decision: Decision,
    },
    /// Entitled, but the stream or the token's window refuses (concurrency limit, closed window).
    Refused(Refusal),
    /// An ExpressPlay token was asked for and no content key protects the asset.
    NoContentKey,
    /// Several content keys protect the asset: which one to use is not for sees to guess.
    SeveralContentKeys,
    /// ExpressPlay or sees itself failed ([`Refusal::is_failure`]).
    Failed(Refusal),
}

impl From<Refusal> for PlaybackRefusal {
    fn from(refusal: Refusal) -> Self {
        if refusal.is_failure() {
            PlaybackRefusal::Failed(refusal)
        } else {
            PlaybackRefusal::Refused(refusal)
        }
    }
}

impl EntitlementService {
    /// Decides `request` and, when allowed, opens its stream lease (held by the request's device) and
    /// issues `token`; a failed token releases a lease it opened. `Ok` holds the token (empty for
    /// [`PlaybackToken::None`]) and the decision that allowed it.
    pub async fn user_playback(
        &self,
        request: &UserPlayback<'_>,
        token: PlaybackToken<'_>,
    ) -> Result<(String, Decision), PlaybackRefusal> {
        let now = self.clock.now();
        let decision = self
            .decider
            .for_user(request.asset, request.uid, request.country, now)
            .await;
        log_trail(&decision, "oem");
        let grant = match &decision.outcome {
            Ok(grant) => Grant {
                holder: Some(request.device.as_str().to_owned()),
                ..grant.clone()
            },
            Err(denial) => {
                let refusal = Refusal::NotEntitled {
                    denial: *denial,
                    why: decision.why(),
                };
                return Err(PlaybackRefusal::NotEntitled { refusal, decision });
            }
        };
        if grant.uid.is_none() {
            return Err(PlaybackRefusal::Failed(Refusal::internal("")));
        }
        let stored = match token {
            PlaybackToken::ExpressPlay(drm) => {
                if !self.drm_enabled(drm) {
                    return Err(Refusal::DrmNotEnabled(drm).into());
                }
                let stored = self.key_for_asset(request.asset).await?;
                self.kid_for(drm, &stored)?;
                if drm == Drm::Widevine {
                    self.device_meets_policy(&stored, &grant, request.device_level)?;
                }
                Some(stored)
            }
            _ => None,
        };
        let stream = self
            .lease_stream(Some(&grant), request.asset.clone())
            .await?;
        let issued: Step<String> = match (token, &stored) {
            (PlaybackToken::None, _) => Ok(String::new()),
            (
                PlaybackToken::Akamai {
                    signer,
                    playback_url,
                },
                _,
            ) => match signer.acl_for(playback_url) {
                Ok(acl) => Ok(signer.token(&acl, now.timestamp())),
                Err(e) => Err(Refusal::internal(e.to_string())),
            },
            (PlaybackToken::ExpressPlay(drm), Some(stored)) => {
                let budget = Budget::new(self.upstream_budget);
                let ask = TokenAsk {
                    drm,
                    grant: Some(&grant),
                    cookie: None,
                    device: None,
                };
                self.token(stored, ask, &budget).await
            }
            (PlaybackToken::ExpressPlay(_), None) => Err(Refusal::internal("")),
        };
        self.settle_stream(stream, issued.is_err()).await;
        Ok((issued?, decision))
    }

    /// Refuses a device whose reported Widevine security level is below the one the terms demand.
    fn device_meets_policy(
        &self,
        stored: &StoredKey,
        grant: &Grant,
        reported: Option<DeviceSecurityLevel>,
    ) -> Step<()> {
        let Some(reported) = reported else {
            return Ok(());
        };
        let demanded = self.terms(stored, Some(grant)).widevine.security_level;
        if demanded.value > reported.highest_security_level() {
            return Err(Refusal::DeviceSecurityTooLow {
                reported,
                required: demanded.value,
                by: demanded.by,
            });
        }
        Ok(())
    }

    /// The one content key that protects `asset`.
    async fn key_for_asset(&self, asset: &AssetId) -> Result<Arc<StoredKey>, PlaybackRefusal> {
        let contents = self
            .keys
            .contents_for_asset(asset, KEYS_LOOKED_AT)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "key store failure");
                PlaybackRefusal::Failed(Refusal::StoreUnavailable)
            })?;
        match contents.as_slice() {
            [] => Err(PlaybackRefusal::NoContentKey),
            [content] => self.key(content).await.map_err(|refusal| match refusal {
                Refusal::UnknownContent => PlaybackRefusal::NoContentKey,
                other => other.into(),
            }),
            _ => Err(PlaybackRefusal::SeveralContentKeys),
        }
    }
}

/// Logs the trail of a decision made for the OEM token routes, rule by rule, never a cookie (their
/// audit event is the admin write's; SEES decisions are recorded through `DecisionNotes`).
fn log_trail(decision: &Decision, via: &str) {
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
