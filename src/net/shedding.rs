//! Load shedding on the SEES listener: when sees cannot answer quickly, it says so at once instead of
//! queueing the request behind everything else.
//!
//! Two signals decide. The *scheduler lag* — how late a probe task wakes up, which is how long any ready
//! task waits for a core — is compared with `server.shed_lag_ms` every few milliseconds: above it, a
//! growing share of new requests is refused before routing; below half of it, the share falls back (by
//! an eighth a probe, so it is gone within about 200 ms of the load dropping). A request waiting on a
//! socket takes no core, so a slow ExpressPlay does not raise the lag: that case stays with the upstream
//! caps and budgets (`expressplay.max_in_flight`, the call budget). The second signal is a hard cap on
//! requests in flight (`server.max_in_flight`), which bounds the memory held by requests being answered.
//!
//! A shed request is answered by the listener's [`EdgeAnswers`](super::EdgeAnswers) (SEES 5004, HTTP
//! 503, `Retry-After: 1`) without its body being read.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::answers::EdgeRefusal;
use crate::ops::metrics;

/// How often the probe measures the scheduler lag.
const PROBE_INTERVAL: Duration = Duration::from_millis(5);
/// The largest share of new requests shed, in thousandths: a few always go through.
const MAX_SHARE: u32 = 990;
/// The smallest step by which the share grows while the lag is over the threshold.
const MIN_RISE: u32 = 50;

/// The two limits, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheddingLimits {
    /// Scheduler lag above which requests are shed; `None` = never on lag.
    pub lag_threshold: Option<Duration>,
    /// Requests answered at once, at most; more are shed.
    pub max_in_flight: usize,
}

/// Why a request was shed (the `reason` label of `sees_requests_shed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedReason {
    /// The scheduler lag is over `server.shed_lag_ms`.
    Lag,
    /// `server.max_in_flight` requests are being answered.
    InFlight,
}

impl ShedReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ShedReason::Lag => "lag",
            ShedReason::InFlight => "in_flight",
        }
    }
}

/// Decides, per request, whether the listener takes it on; shared by every connection.
#[derive(Debug)]
pub struct LoadShedder {
    limits: SheddingLimits,
    /// Thousandths of new requests shed now.
    share: AtomicU32,
    /// Numbers requests, to spread the shed ones evenly.
    ticket: AtomicU32,
    in_flight: AtomicUsize,
    /// The last measured lag, in microseconds.
    lag_us: AtomicU64,
}

/// A request taken on; the in-flight count drops when it is dropped (the answer is ready).
#[derive(Debug)]
pub struct Admitted(Arc<LoadShedder>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LoadShedder {
    /// A shedder with nothing shed yet; [`LoadShedder::spawn_probe`] starts measuring.
    pub fn new(limits: SheddingLimits) -> Arc<LoadShedder> {
        Arc::new(LoadShedder {
            limits,
            share: AtomicU32::new(0),
            ticket: AtomicU32::new(0),
            in_flight: AtomicUsize::new(0),
            lag_us: AtomicU64::new(0),
        })
    }

    /// Takes the request on, or the refusal to answer it with (counted in the metrics).
    pub fn admit(self: &Arc<Self>) -> Result<Admitted, EdgeRefusal> {
        let share = self.share.load(Ordering::Relaxed);
        if share > 0 {
            let ticket = self.ticket.fetch_add(1, Ordering::Relaxed);
            // 617 is coprime with 1000: every run of 1000 tickets sheds exactly `share` of them, spread out.
            if ticket.wrapping_mul(617) % 1000 < share {
                return Err(self.shed(ShedReason::Lag));
            }
        }
        let before = self.in_flight.fetch_add(1, Ordering::Relaxed);
        let admitted = Admitted(Arc::clone(self));
        if before >= self.limits.max_in_flight {
            drop(admitted);
            return Err(self.shed(ShedReason::InFlight));
        }
        Ok(admitted)
    }

    fn shed(&self, reason: ShedReason) -> EdgeRefusal {
        metrics::request_shed(reason.label());
        EdgeRefusal::Overloaded { retry_after_s: 1 }
    }

    /// Thousandths of new requests shed now.
    pub fn share(&self) -> u32 {
        self.share.load(Ordering::Relaxed)
    }

    /// The last measured scheduler lag.
    pub fn lag(&self) -> Duration {
        Duration::from_micros(self.lag_us.load(Ordering::Relaxed))
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// One probe's measurement: moves the shed share after a lag of `lag`.
    fn observe(&self, lag: Duration) {
        self.lag_us.store(
            u64::try_from(lag.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let Some(threshold) = self.limits.lag_threshold else {
            return;
        };
        let share = self.share.load(Ordering::Relaxed);
        let next = if lag > threshold {
            (share + (share / 2).max(MIN_RISE)).min(MAX_SHARE)
        } else if lag < threshold / 2 {
            share - (share / 8).max(share.min(10))
        } else {
            share
        };
        self.share.store(next, Ordering::Relaxed);
        metrics::shedding_state(lag, next);
    }

    /// Starts the lag probe on the current runtime; it ends when the shedder is dropped.
    pub fn spawn_probe(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let shedder: Weak<LoadShedder> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut due = Instant::now() + PROBE_INTERVAL;
            loop {
                tokio::time::sleep_until(due).await;
                let woke = Instant::now();
                let Some(shedder) = shedder.upgrade() else {
                    return;
                };
                shedder.observe(woke.saturating_duration_since(due));
                due = woke + PROBE_INTERVAL;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shedder(lag_ms: Option<u64>, max_in_flight: usize) -> Arc<LoadShedder> {
        LoadShedder::new(SheddingLimits {
            lag_threshold: lag_ms.map(Duration::from_millis),
            max_in_flight,
        })
    }

    fn shed_of(shedder: &Arc<LoadShedder>, requests: usize) -> usize {
        (0..requests).filter(|_| shedder.admit().is_err()).count()
    }

    #[test]
    fn nothing_is_shed_while_the_lag_stays_under_the_threshold() {
        let s = shedder(Some(10), 100);
        for _ in 0..100 {
            s.observe(Duration::from_millis(7));
        }
        assert_eq!(s.share(), 0);
        assert_eq!(shed_of(&s, 1000), 0);
    }

    #[test]
    fn a_lag_over_the_threshold_sheds_a_growing_share_then_it_falls_back() {
        let s = shedder(Some(10), 100);
        s.observe(Duration::from_millis(11));
        assert_eq!(s.share(), 50);
        assert_eq!(shed_of(&s, 1000), 50, "exactly the share of every 1000");
        s.observe(Duration::from_millis(30));
        s.observe(Duration::from_millis(30));
        assert_eq!(s.share(), 150);
        for _ in 0..20 {
            s.observe(Duration::from_millis(30));
        }
        assert_eq!(s.share(), MAX_SHARE, "a few always go through");
        // Between half the threshold and the threshold: held.
        s.observe(Duration::from_millis(6));
        assert_eq!(s.share(), MAX_SHARE);
        // Load gone: back to nothing shed within 0.2 s of probes.
        let probes = 200 / PROBE_INTERVAL.as_millis() as usize;
        for _ in 0..probes {
            s.observe(Duration::from_micros(300));
        }
        assert_eq!(s.share(), 0);
        assert_eq!(shed_of(&s, 1000), 0);
    }

    #[test]
    fn shed_requests_are_spread_out() {
        let s = shedder(Some(10), 100);
        s.share.store(500, Ordering::Relaxed);
        let outcomes: Vec<bool> = (0..1000).map(|_| s.admit().is_err()).collect();
        let longest_run = outcomes
            .chunk_by(|a, b| a == b)
            .map(<[bool]>::len)
            .max()
            .unwrap();
        assert_eq!(outcomes.iter().filter(|shed| **shed).count(), 500);
        assert!(longest_run <= 3, "runs of {longest_run}");
    }

    #[test]
    fn without_a_threshold_the_lag_is_only_measured() {
        let s = shedder(None, 100);
        s.observe(Duration::from_secs(1));
        assert_eq!(s.share(), 0);
        assert_eq!(s.lag(), Duration::from_secs(1));
    }

    #[test]
    fn the_in_flight_cap_sheds_beyond_it_and_frees_with_each_answer() {
        let s = shedder(None, 2);
        let first = s.admit().unwrap();
        let _second = s.admit().unwrap();
        assert_eq!(
            s.admit().unwrap_err(),
            EdgeRefusal::Overloaded { retry_after_s: 1 }
        );
        assert_eq!(s.in_flight(), 2, "a shed request holds nothing");
        drop(first);
        assert!(s.admit().is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_probe_sees_a_blocked_core_and_stops_with_the_shedder() {
        let s = shedder(Some(20), 100);
        let probe = s.spawn_probe();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Hold the only worker for 80 ms: the probe wakes that late.
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(80)) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(s.share() > 0, "lag {:?}", s.lag());
        drop(s);
        tokio::time::timeout(Duration::from_secs(1), probe)
            .await
            .expect("the probe ends with the shedder")
            .unwrap();
    }
}
