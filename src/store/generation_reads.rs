//! Strict consistency's reads of the store-wide cache generation, shared between decisions. A
//! decision needs a read that *started after it arrived* (so that it covers every write committed
//! before); all decisions waiting for the same next read share it, so under load one read per round
//! trip serves them all instead of one each.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::Store;

/// Longest wait for a shared read; beyond it the decision goes uncached.
const WAIT_AT_MOST: Duration = Duration::from_secs(2);

/// The shared reads of one node.
pub(crate) struct GenerationReads {
    state: Mutex<State>,
    /// The last read completed: its number and the generation, `None` when it failed.
    done: watch::Sender<(u64, Option<i64>)>,
}

struct State {
    /// The number of the last read started.
    started: u64,
    /// The highest read number some decision waits for.
    wanted: u64,
    /// Whether a task is reading.
    running: bool,
}

impl GenerationReads {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                started: 0,
                wanted: 0,
                running: false,
            }),
            done: watch::Sender::new((0, None)),
        }
    }

    /// The store's generation, read after this call began; `None` when it could not be read in time.
    pub(crate) async fn read(self: &Arc<Self>, store: &Store) -> Option<i64> {
        let mut done = self.done.subscribe();
        let (needed, start) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let needed = state.started + 1;
            state.wanted = state.wanted.max(needed);
            let start = !state.running;
            state.running = true;
            (needed, start)
        };
        if start {
            tokio::spawn(Arc::clone(self).run(store.clone()));
        }
        let completed =
            tokio::time::timeout(WAIT_AT_MOST, done.wait_for(|(id, _)| *id >= needed)).await;
        let Ok(Ok(read)) = completed else {
            return None;
        };
        read.1
    }

    /// Reads until no decision waits for a later read.
    async fn run(self: Arc<Self>, store: Store) {
        loop {
            let id = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.started += 1;
                state.started
            };
            let generation = store.cache_generation().await.ok();
            self.done.send_replace((id, generation));
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.wanted <= id {
                state.running = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_decisions_share_reads_and_each_sees_writes_made_before_it() {
        for test in testing::stores().await {
            let reads = Arc::new(GenerationReads::new());
            let callers: Vec<_> = (0..200)
                .map(|_| {
                    let (reads, store) = (Arc::clone(&reads), test.store.clone());
                    tokio::spawn(async move { reads.read(&store).await })
                })
                .collect();
            for caller in callers {
                assert_eq!(caller.await.unwrap(), Some(0));
            }
            let started = reads.state.lock().unwrap().started;
            assert!(started < 200, "{started} reads for 200 callers");
            sqlx::query("UPDATE sees_cache_generation SET generation = 7 WHERE id = 1")
                .execute(test.store.pool())
                .await
                .unwrap();
            assert_eq!(reads.read(&test.store).await, Some(7));
        }
    }
}
