//! `[decision]`: how Entitlement Requests are decided — the mode, the clock-skew tolerance on every
//! window, and the caches of what decisions read (with their coherence across nodes). Its own defaults
//! and checks; `config` only assembles it.

use std::time::Duration;

use serde::Deserialize;

use crate::settings_format::{millis, secs, zero_problems};
/// See `DecisionSettings::consistency`.
pub use crate::store::coherence::Consistency;

/// How Entitlement Requests are decided.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionSettings {
    /// `catalog`: decide from the catalogue (sessions, entitlements, graph, regions); `open`: the
    /// reference behaviour — any content with a key is allowed (for migrations; logged loudly).
    pub mode: DecisionMode,
    /// Tolerance applied to every entitlement window (`clock_skew_s`).
    #[serde(rename = "clock_skew_s", with = "secs")]
    pub clock_skew: Duration,
    /// The in-process caches of what decisions read (packages, graph, rules, users' entitlements,
    /// playback sessions): `auto` and `on` = on for every store (on PostgreSQL kept coherent across
    /// nodes through `LISTEN`/`NOTIFY`), `off` = every decision reads the store.
    pub cache: DecisionCacheMode,
    /// Assets, and separately users, the cache holds at most.
    pub cache_capacity: usize,
    /// On PostgreSQL, how decisions use the caches: `bounded` (a write on another node is seen once
    /// its notification is applied, milliseconds) or `strict` (each decision first checks in one
    /// indexed read that every committed write has been applied).
    pub consistency: Consistency,
    /// On PostgreSQL, a node that hears nothing for this long pings itself through the store; three
    /// silent heartbeats end the subscription (caches off until it is back) (`heartbeat_ms`).
    #[serde(rename = "heartbeat_ms", with = "millis")]
    pub heartbeat: Duration,
    /// Under `strict`, how long a decision waits for notifications still on their way before it reads
    /// the store instead of the caches (that decision only: uncached, never stale) (`strict_wait_ms`).
    #[serde(rename = "strict_wait_ms", with = "millis")]
    pub strict_wait: Duration,
}

impl Default for DecisionSettings {
    fn default() -> Self {
        Self {
            mode: DecisionMode::Catalog,
            clock_skew: Duration::from_secs(60),
            cache: DecisionCacheMode::Auto,
            cache_capacity: 50_000,
            consistency: Consistency::Bounded,
            heartbeat: Duration::from_millis(1_000),
            strict_wait: Duration::from_millis(50),
        }
    }
}

/// See `DecisionSettings::cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionCacheMode {
    Auto,
    On,
    Off,
}

/// See `DecisionSettings::mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionMode {
    Catalog,
    Open,
}

impl DecisionSettings {
    /// Entries the decision caches may hold: `cache_capacity` when the caches are on, else 0.
    pub fn cache_entries(&self) -> usize {
        match self.cache {
            DecisionCacheMode::On | DecisionCacheMode::Auto => self.cache_capacity,
            DecisionCacheMode::Off => 0,
        }
    }

    /// Everything wrong with `[decision]`, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        zero_problems([
            ("decision.heartbeat_ms", self.heartbeat.is_zero()),
            ("decision.strict_wait_ms", self.strict_wait.is_zero()),
        ])
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn zero_waits_are_problems_and_off_means_no_cache() {
        let bad = default_with(DecisionSettings::problems, |s| {
            s.heartbeat = Duration::ZERO;
            s.strict_wait = Duration::ZERO;
            s.cache = DecisionCacheMode::Off;
        });
        assert_eq!(
            bad.problems(),
            vec![
                "decision.heartbeat_ms must be greater than 0",
                "decision.strict_wait_ms must be greater than 0"
            ]
        );
        assert_eq!(bad.cache_entries(), 0);
        assert_eq!(DecisionSettings::default().cache_entries(), 50_000);
    }
}
