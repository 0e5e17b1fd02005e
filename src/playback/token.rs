//! The content key and the ExpressPlay token: the key for a content ID, the token parameters (the
//! key's own policy, else the defaults) and the FairPlay token call.

use std::sync::Arc;

use crate::expressplay::{Budget, TokenLifetime, TokenRequest, UpstreamError};
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

impl EntitlementService {
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

    /// A FairPlay token URL for `stored`, bound to `cookie` and `device` when given.
    pub(super) async fn token(
        &self,
        stored: &StoredKey,
        cookie: Option<&CustomerCookie>,
        device: Option<&DeviceId>,
        budget: &Budget,
    ) -> Step<String> {
        let lifetime = stored
            .policy
            .token_lifetime
            .unwrap_or(self.defaults.lifetime);
        let expiration_time = lifetime
            .expiration_param(self.clock.now())
            .map_err(Refusal::WindowClosed)?;
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
        token.map_err(|e| upstream_refusal(UpstreamService::Token, e))
    }
}

/// The refusal for an ExpressPlay failure of `service` (logged here).
pub(super) fn upstream_refusal(service: UpstreamService, error: UpstreamError) -> Refusal {
    tracing::warn!(service = %service, error = %error, "ExpressPlay call failed");
    Refusal::Upstream { service, error }
}
