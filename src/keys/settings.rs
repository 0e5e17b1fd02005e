//! `[keys]`: where the master key is and how decrypted content keys are cached. Its own defaults and
//! checks; `config` only assembles it. Holds paths only, never key material.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::settings_format::{millis, zero_problems};

/// Content keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysSettings {
    /// File holding the base64 of the 32-byte master key; the `SEES_MASTER_KEY` variable takes precedence.
    pub master_key_file: PathBuf,
    /// Decrypted keys kept in memory.
    pub cache_capacity: usize,
    /// How long a cached key is trusted before the store is read again (bounds the staleness of a
    /// `keys delete` made by another process) (`cache_ttl_ms`).
    #[serde(rename = "cache_ttl_ms", with = "millis")]
    pub cache_ttl: Duration,
}

impl Default for KeysSettings {
    fn default() -> Self {
        Self {
            master_key_file: PathBuf::from("data/master.key"),
            cache_capacity: 10_000,
            cache_ttl: Duration::from_millis(60_000),
        }
    }
}

impl KeysSettings {
    /// Everything wrong with `[keys]`, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        zero_problems([("keys.cache_ttl_ms", self.cache_ttl.is_zero())]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn a_zero_ttl_is_a_problem() {
        let bad = default_with(KeysSettings::problems, |s| {
            s.cache_ttl = Duration::ZERO;
        });
        assert_eq!(
            bad.problems(),
            vec!["keys.cache_ttl_ms must be greater than 0"]
        );
    }
}
