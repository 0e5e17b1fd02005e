//! Per-client token buckets (`server.rate_limit_per_s`, `server.rate_burst`), keyed by the client
//! certificate's SPKI hash. The map is bounded: when it is full, buckets idle long enough to be full
//! again (indistinguishable from a new one) are dropped, then the least recently used.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most client identities tracked at once.
pub const MAX_TRACKED_CLIENTS: usize = 10_000;

/// A client identity: the SHA-256 of its certificate's SubjectPublicKeyInfo.
pub type ClientKey = [u8; 32];

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
    /// Refused since it was last allowed (so only the first refusal of an episode is logged).
    limited: bool,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Allowed,
    /// Over the limit: try again after `retry_after`; `first` when the previous request was allowed.
    Limited {
        retry_after: Duration,
        first: bool,
    },
}

/// Token buckets of every recently seen client.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    capacity: usize,
    buckets: Mutex<HashMap<ClientKey, Bucket>>,
}

impl RateLimiter {
    /// `per_second` requests a second with bursts of `burst`; `None` when `per_second` is 0 (off).
    pub fn new(per_second: u32, burst: u32) -> Option<RateLimiter> {
        Self::with_capacity(per_second, burst, MAX_TRACKED_CLIENTS)
    }

    /// As `new`, tracking at most `capacity` clients.
    pub fn with_capacity(per_second: u32, burst: u32, capacity: usize) -> Option<RateLimiter> {
        (per_second > 0).then(|| RateLimiter {
            rate: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            capacity: capacity.max(1),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one token from `client`'s bucket at `now`.
    pub fn check(&self, client: &ClientKey, now: Instant) -> Verdict {
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !buckets.contains_key(client) && buckets.len() >= self.capacity {
            self.evict(&mut buckets, now);
        }
        let bucket = buckets.entry(*client).or_insert(Bucket {
            tokens: self.burst,
            last: now,
            limited: false,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.limited = false;
            Verdict::Allowed
        } else {
            let first = !bucket.limited;
            bucket.limited = true;
            let wait = (1.0 - bucket.tokens) / self.rate;
            Verdict::Limited {
                retry_after: Duration::from_secs_f64(wait),
                first,
            }
        }
    }

    /// Clients tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.lock().map_or(0, |b| b.len())
    }

    /// Drops full (long idle) buckets; when none is, the least recently used one.
    fn evict(&self, buckets: &mut HashMap<ClientKey, Bucket>, now: Instant) {
        let refill = Duration::from_secs_f64(self.burst / self.rate);
        buckets.retain(|_, b| now.saturating_duration_since(b.last) < refill);
        if buckets.len() >= self.capacity {
            if let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.last).map(|(k, _)| *k) {
                buckets.remove(&oldest);
            }
        }
    }
}

/// Whole seconds for a `Retry-After` header (at least 1).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate_and_others_unaffected() {
        let limiter = RateLimiter::new(2, 3).unwrap();
        let start = Instant::now();
        let a = [1u8; 32];
        let b = [2u8; 32];
        for _ in 0..3 {
            assert_eq!(limiter.check(&a, start), Verdict::Allowed);
        }
        let Verdict::Limited { retry_after, first } = limiter.check(&a, start) else {
            panic!("the fourth request at once should be limited");
        };
        assert!(first);
        assert_eq!(retry_after, Duration::from_millis(500));
        assert!(matches!(
            limiter.check(&a, start),
            Verdict::Limited { first: false, .. }
        ));
        assert_eq!(limiter.check(&b, start), Verdict::Allowed, "another client");
        let later = start + Duration::from_millis(500);
        assert_eq!(
            limiter.check(&a, later),
            Verdict::Allowed,
            "refilled one token"
        );
        assert!(matches!(
            limiter.check(&a, later),
            Verdict::Limited { first: true, .. }
        ));
        assert!(RateLimiter::new(0, 10).is_none(), "0 = off");
    }

    #[test]
    fn the_map_is_bounded_and_evicts_idle_clients_first() {
        let limiter = RateLimiter::with_capacity(1, 1, 3).unwrap();
        let start = Instant::now();
        limiter.check(&[1; 32], start);
        limiter.check(&[2; 32], start + Duration::from_secs(5));
        limiter.check(&[3; 32], start + Duration::from_secs(5));
        // [1] has been idle past a full refill: it goes first.
        limiter.check(&[4; 32], start + Duration::from_secs(5));
        assert_eq!(limiter.tracked(), 3);
        // Nothing idle: the least recently used goes.
        for i in 5..100u8 {
            limiter.check(&[i; 32], start + Duration::from_secs(5));
            assert!(limiter.tracked() <= 3);
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }
}
