//! `[concurrency]`: how long a stream lease lasts, the default number of streams per user, and what
//! happens over the limit. Its own defaults and checks; `config` only assembles it.

use std::time::Duration;

use serde::Deserialize;

use super::leases::ConcurrencyPolicy;
use crate::settings_format::secs;

/// Concurrent streams per user.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcurrencySettings {
    /// How long a stream lease lasts unless renewed (`PUT /oem/v2/streams/{assetID}`)
    /// (`lease_seconds`).
    #[serde(rename = "lease_seconds", with = "secs")]
    pub lease: Duration,
    /// Streams a user may run at once when the entitlement sets no `concurrency_limit`; 0 = no limit.
    pub default_limit: u32,
    /// What happens over the limit: `block-new` (deny) or `evict-oldest`.
    pub policy: ConcurrencyPolicy,
}

impl Default for ConcurrencySettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(120),
            default_limit: 0,
            policy: ConcurrencyPolicy::BlockNew,
        }
    }
}

impl ConcurrencySettings {
    /// Everything wrong with `[concurrency]`, one sentence each (nothing is checked today: every value
    /// is allowed).
    pub fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_keep_their_names() {
        assert!(ConcurrencySettings::default().problems().is_empty());
        for policy in [ConcurrencyPolicy::BlockNew, ConcurrencyPolicy::EvictOldest] {
            assert_eq!(ConcurrencyPolicy::parse(policy.as_str()), Some(policy));
        }
        assert_eq!(ConcurrencyPolicy::parse("block_new"), None);
    }
}
