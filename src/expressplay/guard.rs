//! Keeping a failing ExpressPlay from stalling sees: a time budget per Entitlement Request, bounded
//! retries with full jitter for failures ExpressPlay could not have acted on, a circuit breaker per
//! service (token URLs on one origin are one service), and a cap on calls in flight.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::upstream_error::UpstreamError;

/// The time left for ExpressPlay calls of one request.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    /// A budget of `total` from now.
    pub fn new(total: Duration) -> Self {
        Self {
            deadline: Instant::now() + total,
        }
    }

    /// Time left (zero when spent).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// The breaker's state, as reported to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls are refused until the open period ends.
    Open,
    /// One probe call is in flight; the others are refused.
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// Opens after `threshold` consecutive failures, refuses calls for `open_for`, then lets one probe
/// through: its success closes the breaker, its failure opens it again.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go out now (and, when the open period is over, claims the probe).
    pub fn admit(&self) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    /// Records the outcome of an admitted call.
    pub fn record(&self, healthy: bool) {
        let mut state = self.lock();
        *state = match (&*state, healthy) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            (_, false) => {
                tracing::warn!(
                    open_ms = self.open_for.as_millis() as u64,
                    "circuit breaker opened"
                );
                State::Open {
                    until: Instant::now() + self.open_for,
                }
            }
        };
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

/// Retry policy and the shared in-flight cap.
#[derive(Debug, Clone)]
pub struct CallPolicy {
    pub per_attempt: Duration,
    pub max_retries: u32,
    pub backoff: Duration,
    pub in_flight: Arc<Semaphore>,
}

/// Counts calls that were refused before they went out (for tests and, later, metrics).
#[derive(Debug, Default)]
pub struct GuardCounters {
    pub attempts: AtomicUsize,
    pub refused_open: AtomicUsize,
    pub refused_busy: AtomicUsize,
}

/// Runs `attempt` (given its own deadline) under the breaker, the in-flight cap, the budget and the
/// retry policy.
pub async fn guarded<T, F, Fut>(
    breaker: &CircuitBreaker,
    policy: &CallPolicy,
    budget: &Budget,
    counters: &GuardCounters,
    mut attempt: F,
) -> Result<T, UpstreamError>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    if budget.remaining().is_zero() {
        return Err(UpstreamError::BudgetSpent);
    }
    if !breaker.admit() {
        counters.refused_open.fetch_add(1, Ordering::Relaxed);
        return Err(UpstreamError::CircuitOpen);
    }
    let Ok(_slot) = Arc::clone(&policy.in_flight).try_acquire_owned() else {
        counters.refused_busy.fetch_add(1, Ordering::Relaxed);
        // The breaker admitted a call that never went out: a probe must not stay claimed.
        breaker.release_probe();
        return Err(UpstreamError::Busy);
    };
    let mut retry = 0;
    loop {
        let remaining = budget.remaining();
        counters.attempts.fetch_add(1, Ordering::Relaxed);
        let result = attempt(remaining.min(policy.per_attempt)).await;
        match result {
            Ok(value) => {
                breaker.record(true);
                return Ok(value);
            }
            Err(error) => {
                let pause = backoff(policy.backoff, retry);
                let worth_retrying = error.is_retryable()
                    && retry < policy.max_retries
                    && budget.remaining() > pause + Duration::from_millis(20);
                if !worth_retrying {
                    breaker.record(!error.is_service_failure());
                    return Err(error);
                }
                tracing::debug!(error = %error, retry = retry + 1, pause_ms = pause.as_millis() as u64, "retrying ExpressPlay call");
                tokio::time::sleep(pause).await;
                retry += 1;
            }
        }
    }
}

impl CircuitBreaker {
    /// Returns a claimed probe unused (the call never went out).
    fn release_probe(&self) {
        let mut state = self.lock();
        if matches!(*state, State::HalfOpen) {
            *state = State::Open {
                until: Instant::now(),
            };
        }
    }
}

/// One breaker per service for `urls`: URLs with the same origin (scheme, host and port, the default
/// port of the scheme when none is written) are one service and get the same breaker; the others
/// get breakers of their own, so a failing service never stops calls to another.
pub fn breakers_by_origin<const N: usize>(
    urls: [&reqwest::Url; N],
    threshold: u32,
    open_for: Duration,
) -> [Arc<CircuitBreaker>; N] {
    let mut services: Vec<(url::Origin, Arc<CircuitBreaker>)> = Vec::with_capacity(N);
    urls.map(|url| {
        let origin = url.origin();
        // An opaque origin (not http/https, refused by the settings' checks) equals nothing, not
        // even itself: such a URL gets a breaker of its own.
        let shared = origin.is_tuple().then(|| {
            services
                .iter()
                .find(|(known, _)| *known == origin)
                .map(|(_, breaker)| Arc::clone(breaker))
        });
        shared.flatten().unwrap_or_else(|| {
            let breaker = Arc::new(CircuitBreaker::new(threshold, open_for));
            services.push((origin, Arc::clone(&breaker)));
            breaker
        })
    })
}

/// Full jitter: a random pause in `[0, base * 2^retry]`.
fn backoff(base: Duration, retry: u32) -> Duration {
    let ceiling = base.saturating_mul(1u32 << retry.min(10));
    let mut random = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut random).is_err() {
        return ceiling / 2;
    }
    let fraction = u64::from_le_bytes(random) as f64 / u64::MAX as f64;
    ceiling.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(retries: u32, in_flight: usize) -> CallPolicy {
        CallPolicy {
            per_attempt: Duration::from_millis(200),
            max_retries: retries,
            backoff: Duration::from_millis(1),
            in_flight: Arc::new(Semaphore::new(in_flight)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_refuses_probes_and_closes() {
        let breaker = CircuitBreaker::new(2, Duration::from_millis(100));
        assert!(breaker.admit());
        breaker.record(false);
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record(false);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.admit());
        tokio::time::advance(Duration::from_millis(101)).await;
        assert!(breaker.admit(), "the probe");
        assert!(!breaker.admit(), "only one probe");
        breaker.record(false);
        assert_eq!(breaker.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_millis(101)).await;
        assert!(breaker.admit());
        breaker.record(true);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.admit());
    }

    #[tokio::test]
    async fn retries_only_retryable_failures_within_the_budget() {
        let breaker = CircuitBreaker::new(10, Duration::from_secs(1));
        let counters = GuardCounters::default();
        let budget = Budget::new(Duration::from_secs(2));
        let mut calls = 0;
        let result: Result<(), _> = guarded(&breaker, &policy(2, 4), &budget, &counters, |_| {
            calls += 1;
            async { Err(UpstreamError::Connect("refused".into())) }
        })
        .await;
        assert!(matches!(result, Err(UpstreamError::Connect(_))));
        assert_eq!(calls, 3, "one call and two retries");

        let mut calls = 0;
        let result: Result<(), _> = guarded(&breaker, &policy(2, 4), &budget, &counters, |_| {
            calls += 1;
            async {
                Err(UpstreamError::Rejected {
                    status: 400,
                    code: Some(-2018),
                    text: String::new(),
                })
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1, "a refusal is not retried");

        let mut calls = 0;
        let result = guarded(&breaker, &policy(2, 4), &budget, &counters, |_| {
            calls += 1;
            let outcome = if calls < 3 {
                Err(UpstreamError::Rejected {
                    status: 503,
                    code: None,
                    text: String::new(),
                })
            } else {
                Ok("token")
            };
            async move { outcome }
        })
        .await;
        assert_eq!(result.unwrap(), "token");
    }

    #[tokio::test]
    async fn the_in_flight_cap_refuses_at_once_and_the_budget_bounds_attempts() {
        let breaker = CircuitBreaker::new(10, Duration::from_secs(1));
        let counters = GuardCounters::default();
        let full = policy(0, 0);
        let result: Result<(), _> = guarded(
            &breaker,
            &full,
            &Budget::new(Duration::from_secs(1)),
            &counters,
            |_| async { Ok(()) },
        )
        .await;
        assert!(matches!(result, Err(UpstreamError::Busy)));

        let spent = Budget::new(Duration::ZERO);
        let result: Result<(), _> =
            guarded(&breaker, &policy(0, 1), &spent, &counters, |_| async {
                Ok(())
            })
            .await;
        assert!(matches!(result, Err(UpstreamError::BudgetSpent)));

        let mut given = Duration::ZERO;
        let budget = Budget::new(Duration::from_millis(50));
        let _: Result<(), _> = guarded(&breaker, &policy(0, 1), &budget, &counters, |deadline| {
            given = deadline;
            async { Ok(()) }
        })
        .await;
        assert!(
            given <= Duration::from_millis(50),
            "an attempt never outlives the budget: {given:?}"
        );
    }

    #[test]
    fn token_services_on_one_origin_share_a_breaker_and_others_do_not() {
        let url = |raw: &str| reqwest::Url::parse(raw).unwrap();
        let (fairplay, widevine, playready) = (
            url("https://fp-gen.test.expressplay.com/hms/fp/token"),
            url("https://wv-gen.test.expressplay.com/hms/wv/token"),
            url("https://pr-gen.test.expressplay.com/hms/pr/token"),
        );
        let [fp, wv, pr] = breakers_by_origin(
            [&fairplay, &widevine, &playready],
            1,
            Duration::from_secs(60),
        );
        assert!(!Arc::ptr_eq(&fp, &wv) && !Arc::ptr_eq(&wv, &pr) && !Arc::ptr_eq(&fp, &pr));
        assert!(wv.admit());
        wv.record(false);
        assert_eq!(wv.state(), BreakerState::Open);
        assert_eq!(
            fp.state(),
            BreakerState::Closed,
            "another host is another service"
        );
        assert_eq!(
            pr.state(),
            BreakerState::Closed,
            "another host is another service"
        );
        assert!(fp.admit() && pr.admit());

        // One simulator serving every route: one service, one breaker. The scheme's default port
        // written out is the same origin; another port or scheme is not.
        let (a, b, c, d, e) = (
            url("http://127.0.0.1:8080/hms/fp/token"),
            url("http://127.0.0.1:8080/hms/wv/token?x=1"),
            url("http://127.0.0.1:8081/hms/pr/token"),
            url("https://pr-gen.example.com/hms/pr/token"),
            url("https://pr-gen.example.com:443/other"),
        );
        let [a, b, c, d, e] = breakers_by_origin([&a, &b, &c, &d, &e], 1, Duration::from_secs(60));
        assert!(Arc::ptr_eq(&a, &b), "same scheme, host and port");
        assert!(!Arc::ptr_eq(&a, &c), "another port");
        assert!(Arc::ptr_eq(&d, &e), "443 is https's default port");
        assert!(b.admit());
        b.record(false);
        assert_eq!(a.state(), BreakerState::Open, "shared: one service");
        assert_eq!(c.state(), BreakerState::Closed);
        assert_eq!(d.state(), BreakerState::Closed);
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for retry in 0..5 {
            let pause = backoff(Duration::from_millis(10), retry);
            assert!(pause <= Duration::from_millis(10 << retry), "{pause:?}");
        }
    }
}
