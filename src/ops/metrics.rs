//! Every metric sees exports: the names (all `sees_`), their descriptions, and one-line recording
//! helpers for the call sites. The recorder is the `metrics` facade's global one, rendered as
//! Prometheus text by `metrics-exporter-prometheus` (render only: the ops listener serves it).
//!
//! Labels have bounded values only (outcomes, error numbers, route templates, listener names,
//! reasons); never a user, cookie, content ID or messageID.

use std::sync::OnceLock;
use std::time::Instant;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::expressplay::BreakerState;

/// Entitlement Requests answered, by `outcome` and `error`.
pub const ENTITLEMENT_REQUESTS: &str = "sees_entitlement_requests_total";
/// Entitlement Requests being answered now.
pub const ENTITLEMENT_IN_FLIGHT: &str = "sees_entitlement_requests_in_flight";
/// Time to answer an Entitlement Request.
pub const ENTITLEMENT_DURATION: &str = "sees_entitlement_duration_seconds";
/// Time of the catalogue decision.
pub const DECISION_DURATION: &str = "sees_decision_duration_seconds";
/// Time of a content-key lookup (cache, store, decryption).
pub const KEY_LOOKUP_DURATION: &str = "sees_key_lookup_duration_seconds";
/// Time of an ExpressPlay call, by `service`.
pub const UPSTREAM_DURATION: &str = "sees_upstream_duration_seconds";
/// Admin API requests, by `route`, `method` and `status`.
pub const ADMIN_REQUESTS: &str = "sees_admin_requests_total";
/// SPEKE requests answered, by HTTP `status`.
pub const SPEKE_REQUESTS: &str = "sees_speke_requests_total";
/// Content keys answered to packagers, by `origin` (generated, existing, claimed).
pub const SPEKE_KEYS: &str = "sees_speke_keys_total";
/// Time to answer an admin request, by `route`.
pub const ADMIN_DURATION: &str = "sees_admin_request_duration_seconds";
/// TLS handshakes that failed, by `listener` and `reason`.
pub const HANDSHAKE_FAILURES: &str = "sees_tls_handshake_failures_total";
/// Connections open now, by `listener`.
pub const OPEN_CONNECTIONS: &str = "sees_open_connections";
/// Circuit-breaker state by `service` (`token` for FairPlay, `token_widevine`, `token_playready`,
/// `record`): 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "sees_upstream_breaker_state";
/// ExpressPlay calls attempted.
pub const UPSTREAM_ATTEMPTS: &str = "sees_upstream_attempts_total";
/// ExpressPlay calls refused before going out, by `reason`.
pub const UPSTREAM_REFUSED: &str = "sees_upstream_refused_total";
/// Content-key cache hits.
pub const KEY_CACHE_HITS: &str = "sees_key_cache_hits_total";
/// Content-key cache misses.
pub const KEY_CACHE_MISSES: &str = "sees_key_cache_misses_total";
/// Live stream leases in the store.
pub const ACTIVE_LEASES: &str = "sees_active_stream_leases";
/// 1 when ready, 0 when not (draining or a check failing).
pub const READY: &str = "sees_ready";
/// Counter: live TLS reloads of the SEES listener, by `result` (`ok`, `failed`).
pub const TLS_RELOADS: &str = "sees_tls_reloads_total";
/// Counter: requests refused for the client certificate, by `reason` (`revoked` 1014, `not_allowed`
/// 1015, `rate_limited` 1016).
pub const CLIENT_REFUSALS: &str = "sees_client_refusals_total";
/// Counter: audit events dropped because the writer's queue was full (or the writer had stopped).
pub const AUDIT_DROPPED: &str = "sees_audit_events_dropped_total";
/// Counter: audit events the store refused (full disk, database unreachable).
pub const AUDIT_UNSTORED: &str = "sees_audit_events_unstored_total";
/// Counter: requests the SEES listener shed (5004, HTTP 503), by `reason` (`waited`, `full`).
pub const REQUESTS_SHED: &str = "sees_requests_shed_total";

/// Histogram buckets (seconds): 100 µs to 10 s.
pub const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds the recorder's pending histogram samples into their buckets every [`UPKEEP_EVERY`], on a
/// thread of its own (the recorder is process-wide, beyond any one runtime). Without it the samples
/// pile up until the next scrape: at 3,000 requests a second an unscraped node grew by ~100 MiB in
/// ten minutes (found by `bench/soak`).
fn start_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; scrape /metrics to bound it");
    }
}

/// Installs the process-wide recorder once and describes every metric; later calls return the same
/// handle. Values are per process (several servers in one test process share them).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            describe();
            start_upkeep(handle.clone());
            handle
        })
        .clone()
}

fn describe() {
    use crate::store::coherence as cache;
    describe_gauge!(
        cache::SUBSCRIBED_METRIC,
        "1 while this node's caches are coherent with the store (subscribed to its notifications, or a store of its own); 0 while every decision reads the store"
    );
    describe_counter!(
        cache::NOTIFICATIONS_METRIC,
        "Cache notifications received from the store, by kind: change, ping, malformed"
    );
    describe_counter!(
        cache::LOST_METRIC,
        "Cache subscriptions lost, by reason: connection, silent, overflow, lagging"
    );
    describe_counter!(
        cache::STRICT_METRIC,
        "Strict-consistency checks before a decision, by result: current, waited, behind, error"
    );
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        ENTITLEMENT_REQUESTS,
        "Entitlement Requests answered, by outcome (allowed, denied, error), SEES error number (0 when allowed) and DRM (fairplay, widevine, playready; none before a path named one)"
    );
    describe_gauge!(
        ENTITLEMENT_IN_FLIGHT,
        "Entitlement Requests being answered now (what a shutdown drains)"
    );
    describe_histogram!(
        ENTITLEMENT_DURATION,
        Unit::Seconds,
        "Time to answer an Entitlement Request, from the first byte of the body to the answer"
    );
    describe_histogram!(
        DECISION_DURATION,
        Unit::Seconds,
        "Time of the catalogue decision (entitlements, sessions)"
    );
    describe_histogram!(
        KEY_LOOKUP_DURATION,
        Unit::Seconds,
        "Time of a content-key lookup: cache, else store read and decryption"
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Time of an ExpressPlay call with its retries, by service (token, record)"
    );
    describe_counter!(
        ADMIN_REQUESTS,
        "Admin API requests answered, by route template, method and HTTP status"
    );
    describe_counter!(
        SPEKE_REQUESTS,
        "SPEKE key requests from packagers answered, by HTTP status"
    );
    describe_counter!(
        SPEKE_KEYS,
        "Content keys answered to packagers over SPEKE, by origin: generated, existing, claimed"
    );
    describe_histogram!(
        ADMIN_DURATION,
        Unit::Seconds,
        "Time to answer an admin API request, by route template"
    );
    describe_counter!(
        HANDSHAKE_FAILURES,
        "TLS handshakes that failed, by listener and reason"
    );
    describe_gauge!(OPEN_CONNECTIONS, "Connections open now, by listener");
    describe_gauge!(
        BREAKER_STATE,
        "ExpressPlay circuit-breaker state by service (token = FairPlay, token_widevine, \
         token_playready, record): 0 closed, 1 half-open, 2 open"
    );
    describe_counter!(
        UPSTREAM_ATTEMPTS,
        "ExpressPlay calls attempted (retries included)"
    );
    describe_counter!(
        UPSTREAM_REFUSED,
        "ExpressPlay calls refused before going out, by reason (breaker_open, busy)"
    );
    describe_counter!(
        KEY_CACHE_HITS,
        "Content-key lookups answered from the cache"
    );
    describe_counter!(
        KEY_CACHE_MISSES,
        "Content-key lookups that went to the store"
    );
    describe_gauge!(
        ACTIVE_LEASES,
        "Live stream leases in the store (all nodes), counted at scrape time"
    );
    describe_gauge!(
        READY,
        "1 when /readyz answers 200, else 0 (refreshed at scrape time)"
    );
    describe_counter!(
        TLS_RELOADS,
        "Live TLS reloads of the SEES listener (certificate, key, client CA, CRLs, allow-list)"
    );
    describe_counter!(
        AUDIT_DROPPED,
        "Audit events dropped because the writer's queue was full (see audit.queue_capacity)"
    );
    describe_counter!(
        AUDIT_UNSTORED,
        "Audit events the store refused (full disk, database unreachable): kept only in audit.jsonl_path when that could take them"
    );
    describe_counter!(
        CLIENT_REFUSALS,
        "Entitlement Requests refused for the client certificate: revoked, not allowed, rate limited"
    );
    describe_counter!(
        REQUESTS_SHED,
        "Requests the SEES listener shed unread under overload (5004, HTTP 503), by reason: waited (server.queue_wait_ms without a slot), full (no slot and no waiting)"
    );
}

/// The `outcome` label of an answer by its SEES error number: allowed (`None`), denied (a 2xxx/3xxx
/// decision about the content or the user) or error (a 1xxx unreadable request, a 4xxx upstream or
/// 5xxx internal failure).
pub fn outcome_label(error: Option<i32>) -> &'static str {
    match error {
        None => "allowed",
        Some(2000..=3999) => "denied",
        Some(_) => "error",
    }
}

/// Counts one Entitlement Response by its DRM (`none` before a path named one) and SEES error
/// number (`None` = allowed).
pub fn entitlement_answered(drm: Option<crate::drm::Drm>, error: Option<i32>) {
    let label = error.unwrap_or(0).to_string();
    let drm = drm.map_or("none", crate::drm::Drm::as_str);
    counter!(ENTITLEMENT_REQUESTS, "outcome" => outcome_label(error), "error" => label, "drm" => drm)
        .increment(1);
}

/// Counts one admin answer.
pub fn admin_answered(route: &str, method: &str, status: u16, started: Instant) {
    counter!(
        ADMIN_REQUESTS,
        "route" => route.to_owned(),
        "method" => method.to_owned(),
        "status" => status.to_string()
    )
    .increment(1);
    histogram!(ADMIN_DURATION, "route" => route.to_owned()).record(started.elapsed().as_secs_f64());
}

/// Counts one request shed by the SEES listener.
pub fn request_shed(reason: &'static str) {
    counter!(REQUESTS_SHED, "reason" => reason).increment(1);
}

/// Counts one SPEKE answer.
pub fn speke_request(status: u16) {
    counter!(SPEKE_REQUESTS, "status" => status.to_string()).increment(1);
}

/// Counts one key answered to a packager, by where it came from.
pub fn speke_key(origin: &'static str) {
    counter!(SPEKE_KEYS, "origin" => origin).increment(1);
}

/// A stage of the SEES answer that is timed.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// The whole answer.
    Entitlement,
    /// The catalogue decision.
    Decision,
    /// The content-key lookup.
    KeyLookup,
    /// The ExpressPlay token service.
    UpstreamToken,
    /// The ExpressPlay record service.
    UpstreamRecord,
}

/// Records the time from its start to its drop under its stage: `let _timer = Timer::start(..);`.
#[must_use = "the time is recorded when the timer is dropped"]
pub struct Timer {
    stage: Stage,
    started: Instant,
}

impl Timer {
    /// Starts timing `stage`.
    pub fn start(stage: Stage) -> Self {
        Self {
            stage,
            started: Instant::now(),
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64();
        match self.stage {
            Stage::Entitlement => histogram!(ENTITLEMENT_DURATION).record(seconds),
            Stage::Decision => histogram!(DECISION_DURATION).record(seconds),
            Stage::KeyLookup => histogram!(KEY_LOOKUP_DURATION).record(seconds),
            Stage::UpstreamToken => {
                histogram!(UPSTREAM_DURATION, "service" => "token").record(seconds);
            }
            Stage::UpstreamRecord => {
                histogram!(UPSTREAM_DURATION, "service" => "record").record(seconds);
            }
        }
    }
}

/// Holds one Entitlement Request in the in-flight gauge while it lives.
#[must_use = "the request counts while the guard lives"]
pub struct InFlight(());

impl InFlight {
    /// Counts a request being answered.
    pub fn enter() -> Self {
        gauge!(ENTITLEMENT_IN_FLIGHT).increment(1.0);
        Self(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(ENTITLEMENT_IN_FLIGHT).decrement(1.0);
    }
}

/// Why a TLS handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The handshake deadline passed.
    Timeout,
    /// The client sent no certificate.
    NoClientCertificate,
    /// The client certificate did not verify (unknown CA, expired, revoked, wrong usage).
    BadCertificate,
    /// The peer broke the protocol or offered nothing in common.
    Protocol,
    /// Plain HTTP on the TLS port.
    PlaintextHttp,
    /// Anything else (connection reset, I/O error).
    Other,
}

impl HandshakeFailure {
    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::NoClientCertificate => "no_client_certificate",
            HandshakeFailure::BadCertificate => "bad_certificate",
            HandshakeFailure::Protocol => "protocol",
            HandshakeFailure::PlaintextHttp => "plaintext_http",
            HandshakeFailure::Other => "other",
        }
    }

    /// Classifies the error `tokio_rustls`'s accept returned.
    pub fn classify(error: &std::io::Error) -> Self {
        let Some(tls) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return HandshakeFailure::Other;
        };
        match tls {
            rustls::Error::NoCertificatesPresented => HandshakeFailure::NoClientCertificate,
            rustls::Error::InvalidCertificate(_) | rustls::Error::InvalidCertRevocationList(_) => {
                HandshakeFailure::BadCertificate
            }
            rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. }
            | rustls::Error::InvalidEncryptedClientHello(_)
            | rustls::Error::InvalidMessage(_)
            | rustls::Error::PeerIncompatible(_)
            | rustls::Error::PeerMisbehaved(_)
            | rustls::Error::AlertReceived(_)
            | rustls::Error::DecryptError
            | rustls::Error::HandshakeNotComplete => HandshakeFailure::Protocol,
            _ => HandshakeFailure::Other,
        }
    }
}

/// Counts one failed handshake on `listener`.
pub fn handshake_failed(listener: &'static str, reason: HandshakeFailure) {
    counter!(HANDSHAKE_FAILURES, "listener" => listener, "reason" => reason.label()).increment(1);
}

/// Holds one open connection of a listener in the gauge while it lives.
#[must_use = "the connection counts while the guard lives"]
pub struct OpenConnection(&'static str);

impl OpenConnection {
    /// Counts a new connection on `listener`.
    pub fn open(listener: &'static str) -> Self {
        gauge!(OPEN_CONNECTIONS, "listener" => listener).increment(1.0);
        Self(listener)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        gauge!(OPEN_CONNECTIONS, "listener" => self.0).decrement(1.0);
    }
}

/// The gauge value of a breaker state.
pub fn breaker_value(state: BreakerState) -> f64 {
    match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    }
}

/// Sets the values read at scrape time.
pub struct Snapshot {
    /// By `service`: `token` (FairPlay), `token_widevine`, `token_playready`, `record`. Token
    /// services sharing an origin share a breaker, so their gauges move together.
    pub breakers: [(&'static str, BreakerState); 4],
    pub upstream_attempts: u64,
    pub refused_open: u64,
    pub refused_busy: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// `None` when the store could not be counted (the gauge keeps its last value).
    pub active_leases: Option<i64>,
    pub ready: bool,
    pub tls: crate::tls::live::TlsCounterValues,
    pub audit_dropped: u64,
    /// Audit events the store refused.
    pub audit_unstored: u64,
}

impl Snapshot {
    /// Publishes the snapshot.
    pub fn publish(&self) {
        for (service, state) in self.breakers {
            gauge!(BREAKER_STATE, "service" => service).set(breaker_value(state));
        }
        counter!(UPSTREAM_ATTEMPTS).absolute(self.upstream_attempts);
        counter!(UPSTREAM_REFUSED, "reason" => "breaker_open").absolute(self.refused_open);
        counter!(UPSTREAM_REFUSED, "reason" => "busy").absolute(self.refused_busy);
        counter!(KEY_CACHE_HITS).absolute(self.cache_hits);
        counter!(KEY_CACHE_MISSES).absolute(self.cache_misses);
        if let Some(leases) = self.active_leases {
            // A count of rows: exact in an f64 far beyond any real number of streams.
            #[allow(clippy::cast_precision_loss)]
            gauge!(ACTIVE_LEASES).set(leases as f64);
        }
        gauge!(READY).set(if self.ready { 1.0 } else { 0.0 });
        counter!(TLS_RELOADS, "result" => "ok").absolute(self.tls.reloads);
        counter!(TLS_RELOADS, "result" => "failed").absolute(self.tls.reload_failures);
        counter!(CLIENT_REFUSALS, "reason" => "revoked").absolute(self.tls.revoked_refused);
        counter!(CLIENT_REFUSALS, "reason" => "not_allowed").absolute(self.tls.not_allowed_refused);
        counter!(CLIENT_REFUSALS, "reason" => "rate_limited").absolute(self.tls.rate_limited);
        counter!(AUDIT_DROPPED).absolute(self.audit_dropped);
        counter!(AUDIT_UNSTORED).absolute(self.audit_unstored);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_number_groups() {
        assert_eq!(outcome_label(None), "allowed");
        // NotEntitled, UnknownContent, MalformedJson, UpstreamRejected, Internal (the same assertions
        // over `ErrorCode` are in `sees::errors`).
        assert_eq!(outcome_label(Some(3001)), "denied");
        assert_eq!(outcome_label(Some(2001)), "denied");
        assert_eq!(outcome_label(Some(1001)), "error");
        assert_eq!(outcome_label(Some(4003)), "error");
        assert_eq!(outcome_label(Some(5000)), "error");
    }

    #[test]
    fn handshake_errors_are_classified() {
        let wrap = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        assert_eq!(
            HandshakeFailure::classify(&wrap(rustls::Error::NoCertificatesPresented)),
            HandshakeFailure::NoClientCertificate
        );
        assert_eq!(
            HandshakeFailure::classify(&wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))),
            HandshakeFailure::BadCertificate
        );
        assert_eq!(
            HandshakeFailure::classify(&wrap(rustls::Error::DecryptError)),
            HandshakeFailure::Protocol
        );
        assert_eq!(
            HandshakeFailure::classify(&std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            HandshakeFailure::Other
        );
    }
}
