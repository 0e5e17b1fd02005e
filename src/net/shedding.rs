//! Load shedding on the SEES listener: sees answers what it can answer quickly and says "retry" at once
//! for the rest, instead of letting every request wait behind everything else.
//!
//! A request is *in service* from the moment it is taken on until its answer is ready. At most
//! `server.max_in_flight` are in service; a request beyond that waits for a slot, newest first (a
//! freed slot goes to the request that arrived last, which still has most of its client's patience
//! left), for at most `server.queue_wait_ms`; one that does not get a slot by then is shed: SEES 5004,
//! HTTP 503, `Retry-After: 1`, its body unread. The oldest waiters are the ones shed, and a waiter
//! costs no CPU and is answered only after the wait, so a flood of clients that resend at once cannot
//! turn the shedding itself into the overload. At most `server.max_connections` requests wait (a
//! waiter holds no more than its connection already does).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::answers::EdgeRefusal;
use crate::ops::metrics;

/// The shedding settings, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheddingLimits {
    /// Requests in service at once, at most.
    pub max_in_flight: usize,
    /// Requests waiting for a slot, at most (beyond: shed at once).
    pub max_waiting: usize,
    /// How long a request may wait for a slot before it is shed; zero = shed at once.
    pub queue_wait: Duration,
}

/// Why a request was shed (the `reason` label of `sees_requests_shed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedReason {
    /// It waited `server.queue_wait_ms` without getting a slot.
    Waited,
    /// Every slot was taken and waiting is off, or `server.max_connections` requests wait already.
    Full,
}

impl ShedReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ShedReason::Waited => "waited",
            ShedReason::Full => "full",
        }
    }
}

/// Slots in service and the requests waiting for one (newest last).
#[derive(Debug, Default)]
struct Slots {
    in_service: usize,
    waiting: VecDeque<oneshot::Sender<()>>,
}

/// Decides, per request, whether the listener takes it on; shared by every connection.
#[derive(Debug)]
pub struct LoadShedder {
    limits: SheddingLimits,
    slots: Mutex<Slots>,
}

/// A request in service; its slot goes to the newest waiter (or back) when it is dropped.
#[derive(Debug)]
pub struct Admitted(Arc<LoadShedder>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl LoadShedder {
    /// A shedder with every slot free.
    pub fn new(limits: SheddingLimits) -> Arc<LoadShedder> {
        Arc::new(LoadShedder {
            limits,
            slots: Mutex::new(Slots::default()),
        })
    }

    /// Takes the request on — at once, or after waiting for a slot — or the refusal to answer it
    /// with (counted in the metrics).
    pub async fn admit(self: &Arc<Self>) -> Result<Admitted, EdgeRefusal> {
        let handed = {
            let mut slots = self.lock();
            if slots.in_service < self.limits.max_in_flight {
                slots.in_service += 1;
                return Ok(Admitted(Arc::clone(self)));
            }
            if slots.waiting.len() >= self.limits.max_waiting {
                // Waiters that gave up stay queued until a release skips them: drop them first.
                slots.waiting.retain(|waiter| !waiter.is_closed());
            }
            if self.limits.queue_wait.is_zero() || slots.waiting.len() >= self.limits.max_waiting {
                return Err(shed(ShedReason::Full));
            }
            let (give, handed) = oneshot::channel();
            slots.waiting.push_back(give);
            handed
        };
        match tokio::time::timeout(self.limits.queue_wait, handed).await {
            Ok(Ok(())) => Ok(Admitted(Arc::clone(self))),
            // Timed out (its sender stays queued; a release skips it), or the shedder is gone.
            _ => Err(shed(ShedReason::Waited)),
        }
    }

    /// A slot is free: to the newest waiter still waiting, else back.
    fn release(&self) {
        let mut slots = self.lock();
        while let Some(waiter) = slots.waiting.pop_back() {
            if waiter.send(()).is_ok() {
                return; // the slot changes hands: in_service unchanged
            }
        }
        slots.in_service -= 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests in service now.
    #[cfg(test)]
    fn in_service(&self) -> usize {
        self.lock().in_service
    }
}

fn shed(reason: ShedReason) -> EdgeRefusal {
    metrics::request_shed(reason.label());
    EdgeRefusal::Overloaded { retry_after_s: 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shedder(max_in_flight: usize, queue_wait_ms: u64) -> Arc<LoadShedder> {
        LoadShedder::new(SheddingLimits {
            max_in_flight,
            max_waiting: max_in_flight,
            queue_wait: Duration::from_millis(queue_wait_ms),
        })
    }

    #[tokio::test]
    async fn beyond_the_limit_a_request_is_shed_at_once_when_waiting_is_off() {
        let s = shedder(2, 0);
        let first = s.admit().await.unwrap();
        let _second = s.admit().await.unwrap();
        assert_eq!(
            s.admit().await.unwrap_err(),
            EdgeRefusal::Overloaded { retry_after_s: 1 }
        );
        assert_eq!(s.in_service(), 2, "a shed request holds nothing");
        drop(first);
        assert!(s.admit().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_gets_the_next_free_slot_newest_first_and_the_oldest_is_shed() {
        let s = shedder(2, 100);
        let held = s.admit().await.unwrap();
        let _also_held = s.admit().await.unwrap();
        let oldest = tokio::spawn({
            let s = Arc::clone(&s);
            async move { s.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let newest = tokio::spawn({
            let s = Arc::clone(&s);
            async move { s.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        let newest = newest.await.unwrap();
        assert!(newest.is_ok(), "the newest waiter gets the slot");
        assert_eq!(
            oldest.await.unwrap().unwrap_err(),
            EdgeRefusal::Overloaded { retry_after_s: 1 },
            "the oldest waiter is shed after queue_wait_ms"
        );
        assert_eq!(s.in_service(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_gave_up_is_skipped_and_the_slot_comes_back() {
        let s = shedder(1, 50);
        let held = s.admit().await.unwrap();
        assert!(s.admit().await.is_err(), "waited 50 ms, shed");
        assert!(
            s.admit().await.is_err(),
            "its place in the queue is free again: waited, shed"
        );
        assert_eq!(s.lock().waiting.len(), 1);
        drop(held);
        assert_eq!(s.in_service(), 0);
        assert!(s.admit().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_wait_than_max_waiting() {
        let s = shedder(1, 1_000);
        let _held = s.admit().await.unwrap();
        let waiter = tokio::spawn({
            let s = Arc::clone(&s);
            async move { s.admit().await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = tokio::time::Instant::now();
        assert!(s.admit().await.is_err(), "the queue is full: shed at once");
        assert_eq!(started.elapsed(), Duration::ZERO);
        waiter.abort();
    }
}
