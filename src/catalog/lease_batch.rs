//! Group commit for leases opened without a limit: the opens that arrive while one batch is being
//! written go together into the next one — one multi-row upsert, one round trip, one commit — instead
//! of queueing one by one for the store's single writer. A lone open is written at once (a batch of
//! one); nothing waits for company.

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, Row};
use tokio::sync::{mpsc, oneshot};

use super::CatalogError;
use crate::store::{value_rows, Store, StoreError};

/// Most opens in one statement (six parameters each: far below both backends' limits).
const MAX_BATCH: usize = 256;

/// Opens waiting for the writer; a full queue makes callers wait (back-pressure, nothing dropped).
const QUEUE: usize = 4 * MAX_BATCH;

/// One open: the lease key and its times in Unix milliseconds.
pub(super) struct Open {
    pub uid: String,
    pub holder: String,
    pub asset: String,
    pub now_ms: i64,
    pub expires_ms: i64,
}

/// An open and where its answer goes (`true` = a new stream, `false` = a renewal of a live one).
struct Job {
    open: Open,
    reply: oneshot::Sender<Result<bool, String>>,
}

/// The queue in front of the writer task.
#[derive(Debug)]
pub(super) struct LeaseBatcher {
    queue: mpsc::Sender<Job>,
}

impl LeaseBatcher {
    /// Starts the writer task on the current Tokio runtime; it ends when the batcher is dropped.
    pub(super) fn start(store: Store) -> Self {
        let (queue, opens) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, opens));
        Self { queue }
    }

    /// Queues `open` and waits for its batch to be written.
    pub(super) async fn open(&self, open: Open) -> Result<bool, CatalogError> {
        let (reply, answer) = oneshot::channel();
        let lost = || batch_error("the lease writer stopped".to_owned());
        self.queue
            .send(Job { open, reply })
            .await
            .map_err(|_| lost())?;
        answer.await.map_err(|_| lost())?.map_err(batch_error)
    }
}

fn batch_error(message: String) -> CatalogError {
    CatalogError::Store(StoreError::Database(sqlx::Error::Protocol(message)))
}

async fn write_batches(store: Store, mut opens: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while opens.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write(&store, std::mem::take(&mut batch)).await;
    }
}

/// Writes one batch and answers every open in it. Opens of the same lease are written once (with the
/// latest time); the first of them learns whether the stream is new, the others are renewals.
async fn write(store: &Store, batch: Vec<Job>) {
    let (batch, replies): (Vec<Open>, Vec<_>) =
        batch.into_iter().map(|j| (j.open, j.reply)).unzip();
    let mut rows: Vec<(&str, &str, &str, i64, i64)> = Vec::new();
    let mut row_of: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for open in &batch {
        let key = (open.uid.as_str(), open.holder.as_str(), open.asset.as_str());
        match row_of.get(&key) {
            Some(&i) if rows[i].3 < open.now_ms => {
                rows[i].3 = open.now_ms;
                rows[i].4 = open.expires_ms;
            }
            Some(_) => {}
            None => {
                row_of.insert(key, rows.len());
                rows.push((key.0, key.1, key.2, open.now_ms, open.expires_ms));
            }
        }
    }
    let started = upsert(store, &rows).await;
    let mut answered = vec![false; rows.len()];
    let (opened_rows, failure) = match started {
        Ok(started) => (started, None),
        Err(e) => {
            tracing::error!(error = %e, opens = batch.len(), "writing a batch of stream leases failed");
            (HashMap::new(), Some(e.to_string()))
        }
    };
    for (open, reply) in batch.iter().zip(replies) {
        let key = (open.uid.as_str(), open.holder.as_str(), open.asset.as_str());
        let answer = match &failure {
            Some(message) => Err(message.clone()),
            None => {
                let i = row_of[&key];
                let first = !std::mem::replace(&mut answered[i], true);
                let owned = (key.0.to_owned(), key.1.to_owned(), key.2.to_owned());
                match opened_rows.get(&owned) {
                    Some(&started_ms) => Ok(first && started_ms == rows[i].3),
                    None => Err("the lease upsert returned no row".to_owned()),
                }
            }
        };
        // The caller may have gone (its request was cancelled): nothing to tell it.
        let _ = reply.send(answer);
    }
}

/// One multi-row upsert of `rows` (uid, holder, asset, now, expiry); each lease's `started_at` as
/// written (kept when the lease was live, `now` when it was absent or expired).
async fn upsert(
    store: &Store,
    rows: &[(&str, &str, &str, i64, i64)],
) -> Result<HashMap<(String, String, String), i64>, sqlx::Error> {
    // Six parameters per row, bound in order (`now` twice: started and renewed).
    let sql = format!(
        "INSERT INTO stream_leases (uid, holder, asset_id, started_at, renewed_at, expires_at) \
         VALUES {} \
         ON CONFLICT (uid, holder, asset_id) DO UPDATE SET \
         started_at = CASE WHEN stream_leases.expires_at > excluded.renewed_at \
         THEN stream_leases.started_at ELSE excluded.started_at END, \
         renewed_at = excluded.renewed_at, expires_at = excluded.expires_at \
         RETURNING uid, holder, asset_id, started_at",
        value_rows(store.backend(), rows.len(), 6)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (uid, holder, asset, now_ms, expires_ms) in rows {
        query = query
            .bind(*uid)
            .bind(*holder)
            .bind(*asset)
            .bind(*now_ms)
            .bind(*now_ms)
            .bind(*expires_ms);
    }
    let written = query.fetch_all(store.ephemeral_pool()).await?;
    let mut started = HashMap::with_capacity(rows.len());
    for row in written {
        started.insert(
            (
                row.try_get("uid")?,
                row.try_get("holder")?,
                row.try_get("asset_id")?,
            ),
            row.try_get::<i64, _>("started_at")?,
        );
    }
    Ok(started)
}
