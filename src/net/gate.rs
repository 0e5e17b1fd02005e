//! The per-request checks of the SEES listener, before the router: the connection's client
//! certificate must not be revoked by the current CRLs, must be on the current allow-list, and its
//! identity (SPKI hash) must be within its rate limit. Refusals are logged and counted here and
//! answered by the listener's [`EdgeAnswers`](super::EdgeAnswers) (for SEES: 1014, 1015 with HTTP
//! 403; 1016 with HTTP 429 and `Retry-After`). Then the [`LoadShedder`], when the listener has one:
//! a client refused is never told to retry.

use std::sync::Arc;
use std::time::Instant;

use super::answers::EdgeRefusal;
use super::rate_limit::{retry_after_seconds, RateLimiter, Verdict};
use super::shedding::{Admitted, LoadShedder};
use crate::tls::live::LiveTls;
use crate::tls::peer::PeerCertificate;

/// What every request of the SEES listener passes before it is routed.
#[derive(Debug)]
pub struct ClientGate {
    tls: Arc<LiveTls>,
    limiter: Option<RateLimiter>,
    shedder: Option<Arc<LoadShedder>>,
}

impl ClientGate {
    /// Checks against `tls`'s current CRLs and allow-list, and `limiter` when there is one.
    pub fn new(tls: Arc<LiveTls>, limiter: Option<RateLimiter>) -> ClientGate {
        ClientGate {
            tls,
            limiter,
            shedder: None,
        }
    }

    /// The same gate, shedding load as `shedder` says once a request has passed the client checks.
    pub fn with_shedder(mut self, shedder: Arc<LoadShedder>) -> ClientGate {
        self.shedder = Some(shedder);
        self
    }

    /// The load shedder, when there is one.
    pub fn shedder(&self) -> Option<&Arc<LoadShedder>> {
        self.shedder.as_ref()
    }

    /// The client checks, then the load shedder (which may wait for a slot): the refusal, or what
    /// the request holds while it is answered (`None` without a shedder).
    pub async fn admit(
        &self,
        peer: Option<&PeerCertificate>,
    ) -> Result<Option<Admitted>, EdgeRefusal> {
        if let Some(refusal) = self.check(peer) {
            return Err(refusal);
        }
        match &self.shedder {
            Some(shedder) => shedder.admit().await.map(Some),
            None => Ok(None),
        }
    }

    /// The reloadable TLS configuration the gate reads.
    pub fn tls(&self) -> &Arc<LiveTls> {
        &self.tls
    }

    /// The refusal for a request from `peer`, or `None` when it may proceed.
    pub fn check(&self, peer: Option<&PeerCertificate>) -> Option<EdgeRefusal> {
        let current = self.tls.current();
        let counters = self.tls.counters();
        let Some(peer) = peer else {
            // The listener requires a verified certificate; one that cannot be parsed is refused.
            counters.count_not_allowed();
            tracing::info!("client certificate unreadable; request refused (1015)");
            return Some(EdgeRefusal::ClientNotAllowed);
        };
        if current.policy.is_revoked(peer) {
            counters.count_revoked();
            tracing::info!(
                subject = %peer.subject,
                serial = %peer.serial_hex(),
                "client certificate revoked by a CRL; request refused (1014)"
            );
            return Some(EdgeRefusal::ClientRevoked);
        }
        if !current.policy.admits(peer) {
            counters.count_not_allowed();
            tracing::info!(
                subject = %peer.subject,
                serial = %peer.serial_hex(),
                spki_sha256 = %peer.spki_hex(),
                "client certificate not in tls.allowed_clients; request refused (1015)"
            );
            return Some(EdgeRefusal::ClientNotAllowed);
        }
        if let Some(limiter) = &self.limiter {
            if let Verdict::Limited { retry_after, first } =
                limiter.check(&peer.spki_sha256, Instant::now())
            {
                counters.count_rate_limited();
                if first {
                    tracing::info!(
                        subject = %peer.subject,
                        spki_sha256 = %peer.spki_hex(),
                        "client over server.rate_limit_per_s; refusing with 1016 until it slows down"
                    );
                }
                return Some(EdgeRefusal::RateLimited {
                    retry_after_s: retry_after_seconds(retry_after),
                });
            }
        }
        None
    }
}
