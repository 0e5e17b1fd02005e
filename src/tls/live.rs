//! The SEES listener's TLS configuration, reloadable while serving. A reload (SIGHUP, or a change of
//! any file seen by the poll every `tls.reload_check_ms`) builds a complete new [`Material`] first
//! and swaps it in only when everything loaded; a broken file keeps the old one, logs one line naming
//! the file and the reason, and counts a failure. Open connections keep running with what they
//! negotiated; new connections handshake with the new configuration, and every request is checked
//! against the current CRLs and allow-list.
//!
//! By default a reload reads the files of the `[tls]` settings given at start; with
//! [`LiveTls::reread_settings_with`] (what `sees serve` sets up) each SIGHUP first reads the `[tls]`
//! section again, so `allowed_clients`, `crls` and the file paths can change too.
//!
//! Reloads are serialized and coalesced: requests arriving while one runs are all answered by the
//! next single reload, so a SIGHUP storm costs at most two.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::material::{self, Material};
use super::settings::TlsSettings;
use super::TlsError;

/// Counters of TLS reloads and of refusals made by the per-request client checks, for export.
#[derive(Debug, Default)]
pub struct TlsCounters {
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    revoked_refused: AtomicU64,
    not_allowed_refused: AtomicU64,
    rate_limited: AtomicU64,
}

/// A copy of [`TlsCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsCounterValues {
    /// Successful reloads (the configuration was swapped).
    pub reloads: u64,
    /// Reloads that failed and kept the previous configuration.
    pub reload_failures: u64,
    /// Requests refused because the client certificate is revoked (1014).
    pub revoked_refused: u64,
    /// Requests refused because the client certificate is not on the allow-list (1015).
    pub not_allowed_refused: u64,
    /// Requests refused by the per-client rate limit (1016).
    pub rate_limited: u64,
}

impl TlsCounters {
    /// The current values.
    pub fn values(&self) -> TlsCounterValues {
        TlsCounterValues {
            reloads: self.reloads.load(Ordering::Relaxed),
            reload_failures: self.reload_failures.load(Ordering::Relaxed),
            revoked_refused: self.revoked_refused.load(Ordering::Relaxed),
            not_allowed_refused: self.not_allowed_refused.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// Counts a request refused for a revoked certificate.
    pub fn count_revoked(&self) {
        self.revoked_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request refused by the allow-list.
    pub fn count_not_allowed(&self) {
        self.not_allowed_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request refused by the rate limit.
    pub fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration is in use.
    Reloaded,
    /// Something was wrong (the message names the file); the previous configuration stays.
    Failed(String),
}

/// Contents fingerprint of the configuration's files (`None` for an unreadable file).
type Stamp = Vec<Option<[u8; 32]>>;

/// Where a reload gets the `[tls]` settings from (the configuration file, read again).
pub type SettingsSource = Arc<dyn Fn() -> Result<TlsSettings, String> + Send + Sync>;

/// Serialized reload bookkeeping.
struct ReloadState {
    /// The settings the last reload read (their files are the ones watched).
    settings: TlsSettings,
    /// Every reload request up to this ticket has been served by a finished reload.
    covered: u64,
    last: ReloadOutcome,
    /// The files as they were when the last reload read them.
    stamp: Stamp,
}

/// The reloadable TLS configuration of the SEES listener.
pub struct LiveTls {
    /// The settings given at start (the poll interval is taken from them).
    settings: TlsSettings,
    source: std::sync::Mutex<Option<SettingsSource>>,
    current: RwLock<Arc<Material>>,
    counters: TlsCounters,
    requested: AtomicU64,
    state: tokio::sync::Mutex<ReloadState>,
}

impl std::fmt::Debug for LiveTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTls")
            .field("cert", &self.settings.cert)
            .field("client_ca", &self.settings.client_ca)
            .field("crls", &self.settings.crls)
            .finish_non_exhaustive()
    }
}

impl LiveTls {
    /// Loads the configuration once; start-up fails when it cannot be loaded.
    pub fn load(settings: &TlsSettings) -> Result<Arc<LiveTls>, TlsError> {
        let files = material::files(settings);
        let stamp = stamp(&files);
        let loaded = material::load(settings)?;
        Ok(Arc::new(LiveTls {
            settings: settings.clone(),
            source: std::sync::Mutex::new(None),
            current: RwLock::new(Arc::new(loaded)),
            counters: TlsCounters::default(),
            requested: AtomicU64::new(0),
            state: tokio::sync::Mutex::new(ReloadState {
                settings: settings.clone(),
                covered: 0,
                last: ReloadOutcome::Reloaded,
                stamp,
            }),
        }))
    }

    /// The configuration in use now (read per accepted connection and per request).
    pub fn current(&self) -> Arc<Material> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Makes every later reload read the `[tls]` settings from `source` first (a failure to read
    /// them fails the reload and keeps the configuration in use).
    pub fn reread_settings_with(&self, source: SettingsSource) {
        match self.source.lock() {
            Ok(mut guard) => *guard = Some(source),
            Err(poisoned) => *poisoned.into_inner() = Some(source),
        }
    }

    /// The counters of reloads and client refusals.
    pub fn counters(&self) -> &TlsCounters {
        &self.counters
    }

    /// Reloads every file now (what SIGHUP does); `reason` goes into the log line. Concurrent calls
    /// are coalesced: a call made while a reload runs waits for the next one, which serves them all.
    pub async fn reload(&self, reason: &str) -> ReloadOutcome {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut state = self.state.lock().await;
        if state.covered >= ticket {
            return state.last.clone();
        }
        state.covered = self.requested.load(Ordering::SeqCst);
        let source = match self.source.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let previous = state.settings.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let settings = match source {
                Some(source) => source().map_err(|why| {
                    TlsError::Config(format!("the configuration cannot be read again: {why}"))
                })?,
                None => previous,
            };
            let stamp = stamp(&material::files(&settings));
            let loaded = material::load(&settings);
            Ok::<_, TlsError>((settings, stamp, loaded))
        })
        .await
        .map_err(|e| TlsError::Config(e.to_string()))
        .and_then(|inner| inner);
        let outcome = match loaded {
            Ok((settings, stamp, result)) => {
                // The files watched are those of the newest settings, loaded or not, so a broken
                // state is reported once and retried when one of its files changes.
                state.stamp = stamp;
                state.settings = settings;
                self.install(result, reason)
            }
            Err(e) => self.install(Err(e), reason),
        };
        state.last = outcome.clone();
        outcome
    }

    /// Reloads when any file differs from what the last reload read; `None` when nothing changed.
    pub async fn reload_if_changed(&self) -> Option<ReloadOutcome> {
        let files = material::files(&self.state.lock().await.settings);
        let now = tokio::task::spawn_blocking(move || stamp(&files))
            .await
            .ok()?;
        if self.state.lock().await.stamp == now {
            return None;
        }
        Some(self.reload("a file changed").await)
    }

    /// Polls the files every `tls.reload_check_ms` until `stop` completes (0 = never polls).
    pub async fn watch_files(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let every = self.settings.reload_check;
        if every.is_zero() {
            return;
        }
        tokio::pin!(stop);
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = ticks.tick() => {
                    self.reload_if_changed().await;
                }
            }
        }
    }

    fn install(&self, result: Result<Material, TlsError>, reason: &str) -> ReloadOutcome {
        match result {
            Ok(loaded) => {
                let revoked = loaded.policy.revoked_count();
                match self.current.write() {
                    Ok(mut guard) => *guard = Arc::new(loaded),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(loaded),
                }
                self.counters.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    reason,
                    revoked_serials = revoked,
                    "TLS configuration reloaded (certificate, key, client CA, CRLs, allow-list)"
                );
                ReloadOutcome::Reloaded
            }
            Err(e) => {
                self.counters
                    .reload_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    reason,
                    error = %e,
                    "TLS reload failed; keeping the previous configuration"
                );
                ReloadOutcome::Failed(e.to_string())
            }
        }
    }
}

/// SHA-256 of each file's contents, in order.
fn stamp(files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).ok()?;
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
            let mut out = [0u8; 32];
            out.copy_from_slice(digest.as_ref());
            Some(out)
        })
        .collect()
}
