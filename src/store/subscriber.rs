//! The node's subscription to the store's cache notifications (PostgreSQL `LISTEN`), on a connection
//! of its own: applies every payload to the node's [`Coherence`], and keeps the caches off whenever it
//! cannot vouch that nothing was missed.
//!
//! One subscription: connect, `LISTEN`, read the store's generation, move every cached generation,
//! cache again; then apply notifications as they come. It ends (caches off at once) when the
//! connection fails, when nothing — not even its own heartbeat, a `NOTIFY` sent through the main pool
//! every `heartbeat` of silence — arrives for three heartbeats, when notifications arrive faster than
//! they can be applied ([`QUEUE`] waiting), or when asked to (a payload without a generation, a
//! strict-consistency check that cannot read the store's generation).
//! Then it subscribes again, with a growing pause while the store cannot be reached.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::mpsc;

use super::coherence::{Coherence, CHANNEL, PING};
use super::Store;

/// The `application_name` of the listening connection (in `pg_stat_activity`).
pub const LISTENER_APPLICATION_NAME: &str = "sees-cache-listener";
/// Notifications received and not yet applied, at most.
pub const QUEUE: usize = 65_536;
/// The longest pause between two attempts to subscribe.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Keeps a node's caches coherent with a shared store until stopped.
pub struct Subscriber {
    store: Store,
    heartbeat: Duration,
}

/// Why a subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Connection,
    Silent,
    Overflow,
    Lagging,
    Stopped,
}

impl Ended {
    fn label(self) -> &'static str {
        match self {
            Ended::Connection => "connection",
            Ended::Silent => "silent",
            Ended::Overflow => "overflow",
            Ended::Lagging => "lagging",
            Ended::Stopped => "stopped",
        }
    }
}

impl Subscriber {
    /// A subscriber for `store` (PostgreSQL) that pings itself after `heartbeat` of silence.
    pub fn new(store: Store, heartbeat: Duration) -> Self {
        Self {
            store,
            heartbeat: heartbeat.max(Duration::from_millis(10)),
        }
    }

    /// Subscribes, applies notifications and subscribes again after every loss, until `stop`
    /// completes. The caches stay off whenever not subscribed.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let coherence = Arc::clone(self.store.coherence());
        tokio::pin!(stop);
        let mut backoff = Duration::from_millis(50);
        loop {
            let listener = tokio::select! {
                () = &mut stop => return,
                subscribed = self.subscribe(&coherence) => subscribed,
            };
            let ended = match listener {
                Ok(listener) => {
                    backoff = Duration::from_millis(50);
                    tracing::info!("cache coherence: subscribed to the store's notifications");
                    self.pump(listener, &coherence, &mut stop).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "cache coherence: cannot subscribe; caches stay off");
                    Ended::Connection
                }
            };
            if ended == Ended::Stopped {
                return;
            }
            coherence.unsubscribed(ended.label());
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Connects, listens and reads the store's generation; then the caches may be used again.
    async fn subscribe(&self, coherence: &Coherence) -> Result<PgListener, sqlx::Error> {
        let connect = async {
            let options = PgConnectOptions::from_str(self.store.url())?
                .application_name(LISTENER_APPLICATION_NAME);
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_with(options)
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.ignore_pool_close_event(true);
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            let generation: i64 =
                sqlx::query_scalar("SELECT generation FROM sees_cache_generation WHERE id = 1")
                    .fetch_one(&mut listener)
                    .await?;
            Ok::<_, sqlx::Error>((listener, generation))
        };
        let (listener, generation) = tokio::time::timeout(self.heartbeat * 3, connect)
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        coherence.subscribed_at(generation);
        Ok(listener)
    }

    /// Applies notifications until the subscription ends.
    async fn pump(
        &self,
        mut listener: PgListener,
        coherence: &Coherence,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Ended {
        let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
        // The connection is read on a task of its own, so that giving up on it never interrupts a
        // read half-way: the task is dropped whole.
        let reader = tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        if tx.try_send(notification.payload().to_owned()).is_err() {
                            return Ended::Overflow;
                        }
                    }
                    Ok(None) | Err(_) => return Ended::Connection,
                }
            }
        });
        let mut reader = AbortOnDrop(reader);
        let mut last_heard = Instant::now();
        let mut tick = tokio::time::interval(self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.as_mut() => return Ended::Stopped,
                () = coherence.resubscribe_requested() => return Ended::Lagging,
                payload = rx.recv() => match payload {
                    Some(payload) => {
                        last_heard = Instant::now();
                        if let Err(e) = coherence.apply_payload(&payload) {
                            tracing::warn!(error = %e,
                                "cache coherence: unreadable notification; every cache entry dropped");
                        }
                    }
                    None => {
                        // The reader ended: its reason.
                        return match (&mut reader.0).await {
                            Ok(ended) => ended,
                            Err(_) => Ended::Connection,
                        };
                    }
                },
                _ = tick.tick() => {
                    let silent = last_heard.elapsed();
                    if silent >= self.heartbeat * 3 {
                        return Ended::Silent;
                    }
                    if silent >= self.heartbeat {
                        self.ping();
                    }
                }
            }
        }
    }

    /// Sends a heartbeat notification through the main pool (in the background, bounded).
    fn ping(&self) {
        let store = self.store.clone();
        let deadline = self.heartbeat;
        tokio::spawn(async move {
            let sql = format!("SELECT 1 FROM (SELECT pg_notify('{CHANNEL}', '{PING}')) AS sent");
            let sent = tokio::time::timeout(
                deadline,
                sqlx::query_scalar::<_, i32>(sqlx::AssertSqlSafe(sql)).fetch_one(store.pool()),
            )
            .await;
            if !matches!(sent, Ok(Ok(_))) {
                tracing::debug!("cache coherence: heartbeat not sent");
            }
        });
    }
}

/// Aborts the reading task when the subscription is given up.
struct AbortOnDrop(tokio::task::JoinHandle<Ended>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
