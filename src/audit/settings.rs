//! `[audit]`: whether events are recorded, how long they are kept, the optional JSON-lines copy, and
//! the writer's queue. Its own defaults and checks; `config` only assembles it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::settings_format::{days, zero_problems};

/// The audit log: one event per SEES decision and admin write.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Record events at all.
    pub enabled: bool,
    /// Events older than this are deleted (checked at start and hourly); zero = keep forever
    /// (`retention_days`, whole days).
    #[serde(rename = "retention_days", with = "days")]
    pub retention: Duration,
    /// Also append each event as one JSON line to this file; unset = no file.
    pub jsonl_path: Option<PathBuf>,
    /// Events waiting for the writer; when full, new events are dropped and counted, never waited for.
    pub queue_capacity: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            retention: Duration::from_secs(90 * 24 * 3600),
            jsonl_path: None,
            queue_capacity: 10_000,
        }
    }
}

impl AuditSettings {
    /// How long events are kept, `None` = forever.
    pub fn retention_limit(&self) -> Option<chrono::Duration> {
        if self.retention.is_zero() {
            return None;
        }
        Some(chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX))
    }

    /// Everything wrong with `[audit]`, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        zero_problems([("audit.queue_capacity", self.queue_capacity == 0)]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn retention_zero_keeps_forever_and_the_queue_must_hold_something() {
        assert_eq!(
            AuditSettings::default().retention_limit(),
            Some(chrono::Duration::days(90))
        );
        let bad = default_with(AuditSettings::problems, |s| {
            s.retention = Duration::ZERO;
            s.queue_capacity = 0;
        });
        assert_eq!(bad.retention_limit(), None);
        assert_eq!(
            bad.problems(),
            vec!["audit.queue_capacity must be greater than 0"]
        );
    }
}
