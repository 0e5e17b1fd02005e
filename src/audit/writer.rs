//! The background writer: requests hand events to a bounded channel and never wait; one task drains it
//! in batches into the store (and the JSON-lines file when configured) and prunes events past the
//! retention. A full channel drops the event, counts it and logs a warning.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use super::event::AuditEvent;
use super::query;
use super::settings::AuditSettings;
use crate::clock::Clock;
use crate::store::Store;

/// Events written per transaction at most.
const BATCH: usize = 512;
/// How long the writer waits for more events to join a batch that is not full: under load one
/// transaction carries hundreds of events instead of a few; alone, an event waits this long at most.
const LINGER: Duration = Duration::from_millis(20);
/// How often the writer checkpoints SQLite's write-ahead log after a batch: the log stays far below the
/// automatic checkpoint's 1,000 pages, which would otherwise fall on a commit a request waits for (a
/// stream lease's).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// How often retention is enforced (by the injected clock, and by a timer while idle).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The audit log cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit.jsonl_path {path}: {source}")]
    JsonLines {
        path: String,
        source: std::io::Error,
    },
}

enum Message {
    Event(Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

struct Shared {
    tx: mpsc::Sender<Message>,
    dropped: AtomicU64,
    /// Events the store refused (a full disk, an unreachable database), shared with the writer.
    unstored: Arc<AtomicU64>,
    clock: Arc<dyn Clock>,
}

/// The handle requests record through; cheap to clone. A disabled log records nothing.
#[derive(Clone)]
pub struct AuditLog {
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("enabled", &self.shared.is_some())
            .finish()
    }
}

impl AuditLog {
    /// A log that records nothing (`audit.enabled = false`).
    pub fn disabled() -> Self {
        AuditLog { shared: None }
    }

    /// Starts the writer task on the current runtime, as `settings` say; the JSON-lines file, when
    /// set, must be appendable now.
    pub async fn start(
        store: Store,
        settings: &AuditSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<AuditLog, AuditError> {
        if !settings.enabled {
            tracing::info!("audit log disabled (audit.enabled = false)");
            return Ok(Self::disabled());
        }
        if let Some(path) = &settings.jsonl_path {
            open_jsonl(path).await?;
        }
        let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
        let unstored = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            unstored: Arc::clone(&unstored),
            store,
            jsonl: settings.jsonl_path.clone(),
            retention: settings.retention_limit(),
            clock: Arc::clone(&clock),
            last_prune: None,
            last_checkpoint: tokio::time::Instant::now(),
        };
        tokio::spawn(writer.run(rx));
        Ok(AuditLog {
            shared: Some(Arc::new(Shared {
                tx,
                dropped: AtomicU64::new(0),
                unstored,
                clock,
            })),
        })
    }

    /// Whether events are recorded.
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Now, by the log's clock (the time to stamp events with).
    pub fn now(&self) -> DateTime<Utc> {
        self.shared
            .as_ref()
            .map_or_else(Utc::now, |shared| shared.clock.now())
    }

    /// Queues `event` without waiting; when the queue is full the event is dropped and counted.
    pub fn record(&self, event: AuditEvent) {
        let Some(shared) = &self.shared else {
            return;
        };
        match shared.tx.try_send(Message::Event(Box::new(event))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let dropped = shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() || dropped % 1000 == 0 {
                    tracing::warn!(
                        dropped,
                        "audit queue full: events dropped (raise audit.queue_capacity or check the store)"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("audit writer stopped: event dropped");
            }
        }
    }

    /// Events the store refused since start (written to `audit.jsonl_path` only, when it is set and
    /// could take them).
    pub fn unstored(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |shared| shared.unstored.load(Ordering::Relaxed))
    }

    /// Events dropped because the queue was full (or the writer gone) since start.
    pub fn dropped(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |shared| shared.dropped.load(Ordering::Relaxed))
    }

    /// Waits until every event queued before this call has been written (tests, shutdown).
    pub async fn flush(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let (done, written) = oneshot::channel();
        if shared.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

struct Writer {
    unstored: Arc<AtomicU64>,
    store: Store,
    jsonl: Option<PathBuf>,
    retention: Option<chrono::Duration>,
    clock: Arc<dyn Clock>,
    last_prune: Option<DateTime<Utc>>,
    last_checkpoint: tokio::time::Instant,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let mut timer = tokio::time::interval(PRUNE_EVERY);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut messages = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                received = rx.recv_many(&mut messages, BATCH) => {
                    if received == 0 {
                        break;
                    }
                    gather(&mut rx, &mut messages).await;
                    let mut batch = Vec::with_capacity(messages.len());
                    let mut flushes = Vec::new();
                    for message in messages.drain(..) {
                        match message {
                            Message::Event(event) => batch.push(*event),
                            Message::Flush(done) => flushes.push(done),
                        }
                    }
                    self.prune_if_due().await;
                    self.write(&batch).await;
                    for done in flushes {
                        let _ = done.send(());
                    }
                }
                _ = timer.tick() => self.prune_if_due().await,
            }
        }
        tracing::debug!("audit writer stopped");
    }

    async fn write(&mut self, batch: &[AuditEvent]) {
        if batch.is_empty() {
            return;
        }
        if let Err(e) = query::insert(&self.store, batch).await {
            self.unstored
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, events = batch.len(), "cannot store audit events");
        } else if self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            self.last_checkpoint = tokio::time::Instant::now();
            if let Err(e) = self.store.checkpoint_wal().await {
                tracing::warn!(error = %e, "cannot checkpoint the write-ahead log");
            }
        }
        if let Some(path) = &self.jsonl {
            if let Err(e) = append_jsonl(path, batch).await {
                tracing::error!(error = %e, events = batch.len(), "cannot append audit events to audit.jsonl_path");
            }
        }
    }

    /// Deletes events past the retention when the last pruning is `PRUNE_EVERY` old by the clock.
    async fn prune_if_due(&mut self) {
        let Some(retention) = self.retention else {
            return;
        };
        let now = self.clock.now();
        let every = chrono::Duration::from_std(PRUNE_EVERY).unwrap_or_default();
        if self.last_prune.is_some_and(|last| now - last < every) {
            return;
        }
        self.last_prune = Some(now);
        match query::prune(&self.store, now - retention).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "pruned audit events past audit.retention_days"),
            Err(e) => tracing::warn!(error = %e, "cannot prune audit events"),
        }
    }
}

/// Adds to `messages` what arrives within `LINGER`, until `BATCH` or a flush request (which is
/// answered without waiting).
async fn gather(rx: &mut mpsc::Receiver<Message>, messages: &mut Vec<Message>) {
    let is_flush = |m: &Message| matches!(m, Message::Flush(_));
    let until = tokio::time::Instant::now() + LINGER;
    let mut flush_asked = messages.iter().any(is_flush);
    while messages.len() < BATCH && !flush_asked {
        let seen = messages.len();
        match tokio::time::timeout_at(until, rx.recv_many(messages, BATCH - seen)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => flush_asked = messages[seen..].iter().any(is_flush),
        }
    }
}

async fn open_jsonl(path: &PathBuf) -> Result<tokio::fs::File, AuditError> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(|source| AuditError::JsonLines {
            path: path.display().to_string(),
            source,
        })
}

/// Appends one line per event; the file is reopened per batch so that rotation can move it.
async fn append_jsonl(path: &PathBuf, batch: &[AuditEvent]) -> Result<(), AuditError> {
    let mut lines = Vec::new();
    for event in batch {
        if serde_json::to_writer(&mut lines, event).is_ok() {
            lines.push(b'\n');
        }
    }
    let mut file = open_jsonl(path).await?;
    let io = |source| AuditError::JsonLines {
        path: path.display().to_string(),
        source,
    };
    file.write_all(&lines).await.map_err(io)?;
    file.flush().await.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::{AuditOutcome, Kind};

    /// On a current-thread runtime the writer task cannot run while this test does not yield, so the
    /// queue fills: events beyond its capacity are dropped and counted, never waited for.
    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/audit.db", dir.path().display());
        let store = Store::connect(&url, 1).await.unwrap();
        let settings = AuditSettings {
            queue_capacity: 2,
            ..AuditSettings::default()
        };
        let log = AuditLog::start(store, &settings, Arc::new(crate::clock::SystemClock))
            .await
            .unwrap();
        for _ in 0..5 {
            log.record(AuditEvent::new(
                Kind::SeesDecision,
                log.now(),
                AuditOutcome::Allowed,
            ));
        }
        assert_eq!(log.dropped(), 3);
        log.flush().await;
        assert_eq!(log.dropped(), 3);
    }
}
