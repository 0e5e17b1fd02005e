//! Time windows under clock-skew tolerance: where the decision's `now` falls relative to an
//! entitlement's or grant's `[start, end)`, with both edges widened by the configured skew. The one
//! place the skew is applied. Pure: the instant is given, never read from a clock.

use chrono::{DateTime, TimeDelta, Utc};

/// The instant a decision is taken at, and how far each window edge stretches for clock skew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    now: DateTime<Utc>,
    skew: TimeDelta,
}

/// Where [`Moment`] falls relative to one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Before `start - skew`.
    NotYet,
    /// From `start - skew` up to, not including, `end + skew` (no end: for ever).
    Inside,
    /// At or after `end + skew`.
    Ended,
}

impl Moment {
    /// `now` with `skew` tolerance; a skew beyond what a [`TimeDelta`] holds counts as none.
    pub fn new(now: DateTime<Utc>, skew: std::time::Duration) -> Self {
        Self {
            now,
            skew: TimeDelta::from_std(skew).unwrap_or_default(),
        }
    }

    /// Where this moment falls in the window `[start, end)` (`end` `None`: open-ended).
    pub fn position(&self, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Position {
        if start - self.skew > self.now {
            Position::NotYet
        } else if end.is_none_or(|end| self.now < end + self.skew) {
            Position::Inside
        } else {
            Position::Ended
        }
    }

    /// Whether this moment falls inside `[start, end)`.
    pub fn within(&self, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> bool {
        self.position(start, end) == Position::Inside
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::fixtures::{moment, t};
    use std::time::Duration;

    #[test]
    fn before_the_start_beyond_the_skew_is_not_yet() {
        assert_eq!(moment().position(t(31), None), Position::NotYet);
        assert_eq!(moment().position(t(31), Some(t(100))), Position::NotYet);
    }

    #[test]
    fn the_start_edge_is_widened_by_the_skew_inclusively() {
        assert_eq!(moment().position(t(30), None), Position::Inside);
        assert_eq!(moment().position(t(29), None), Position::Inside);
        assert_eq!(moment().position(t(0), None), Position::Inside);
    }

    #[test]
    fn the_end_edge_is_widened_by_the_skew_exclusively() {
        assert_eq!(moment().position(t(-100), Some(t(-29))), Position::Inside);
        assert_eq!(moment().position(t(-100), Some(t(-30))), Position::Ended);
        assert_eq!(moment().position(t(-100), Some(t(-31))), Position::Ended);
    }

    #[test]
    fn an_open_ended_window_never_ends() {
        assert_eq!(moment().position(t(-1_000_000), None), Position::Inside);
    }

    #[test]
    fn without_skew_the_window_is_start_inclusive_end_exclusive() {
        let exact = Moment::new(t(0), Duration::ZERO);
        assert_eq!(exact.position(t(0), Some(t(1))), Position::Inside);
        assert_eq!(exact.position(t(1), None), Position::NotYet);
        assert_eq!(exact.position(t(-1), Some(t(0))), Position::Ended);
        assert!(exact.within(t(-1), Some(t(1))));
        assert!(!exact.within(t(-1), Some(t(0))));
    }

    #[test]
    fn a_window_not_yet_started_is_not_yet_even_if_its_end_has_passed() {
        // Dates out of order cannot be stored, but the answer stays "not yet" as it always was.
        assert_eq!(moment().position(t(100), Some(t(-100))), Position::NotYet);
    }

    #[test]
    fn a_skew_too_large_for_chrono_counts_as_none() {
        let huge = Moment::new(t(0), Duration::from_secs(u64::MAX));
        assert_eq!(huge.position(t(1), None), Position::NotYet);
        assert_eq!(huge, Moment::new(t(0), Duration::ZERO));
    }
}
