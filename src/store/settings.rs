//! `[store]`: which database and how many connections. Its own defaults and checks; `config` only
//! assembles it.

use std::time::Duration;

use serde::Deserialize;

use crate::settings_format::{millis, zero_problems};

/// The database.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://PATH` (created when absent) or `postgres://USER@HOST/DB`.
    pub url: String,
    /// Connection pool size.
    pub max_connections: u32,
    /// How long a query waits for a connection — a free one from the pool, or a new one while the
    /// database is unreachable — before it fails (`acquire_timeout_ms`). Short, so that while the
    /// database is down every Entitlement Request is denied (5001) within it instead of waiting out
    /// `server.request_timeout_ms`.
    #[serde(rename = "acquire_timeout_ms", with = "millis")]
    pub acquire_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/sees.db".to_owned(),
            max_connections: 8,
            acquire_timeout: Duration::from_millis(500),
        }
    }
}

impl StoreSettings {
    /// Everything wrong with `[store]`, one sentence each (never shows the URL, which may hold a
    /// password).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.url.starts_with("sqlite://")
            || self.url.starts_with("postgres://")
            || self.url.starts_with("postgresql://"))
        {
            problems.push("store.url must start with sqlite:// or postgres://".to_owned());
        }
        problems.extend(zero_problems([
            ("store.max_connections", self.max_connections == 0),
            ("store.acquire_timeout_ms", self.acquire_timeout.is_zero()),
        ]));
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn url_scheme_and_pool_size_are_checked() {
        let bad = default_with(StoreSettings::problems, |s| {
            s.url = "mysql://user:hunter2@x".to_owned();
            s.max_connections = 0;
        });
        let problems = bad.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| !p.contains("hunter2")));
        for url in ["postgresql://x/db", "postgres://x/db", "sqlite://a.db"] {
            let fine = StoreSettings {
                url: url.to_owned(),
                ..StoreSettings::default()
            };
            assert!(fine.problems().is_empty(), "{url}");
        }
    }
}
