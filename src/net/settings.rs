//! `[server]`: the SEES listener — its address and paths, its connection limits and deadlines, and the
//! per-client rate limit. Its own defaults and checks; `config` only assembles it.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::settings_format::{list_or_comma_separated, millis, zero_problems};

/// The SEES listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the mutual-TLS SEES listener.
    pub listen: SocketAddr,
    /// Paths answering Entitlement Requests; `/sees/SEESServlet` is the reference server's path, which
    /// already-packaged content carries in its DRM policy. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub paths: Vec<String>,
    /// Paths answering Entitlement Requests with Widevine tokens (same request and answer shapes).
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub widevine_paths: Vec<String>,
    /// Paths answering Entitlement Requests with PlayReady tokens.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub playready_paths: Vec<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Deadline for the TLS handshake of a new connection (`handshake_timeout_ms`).
    #[serde(rename = "handshake_timeout_ms", with = "millis")]
    pub handshake_timeout: Duration,
    /// Deadline for reading a request head (slow-loris guard); it also closes HTTP/1.1 keep-alive
    /// connections idle this long (`header_read_timeout_ms`).
    #[serde(rename = "header_read_timeout_ms", with = "millis")]
    pub header_read_timeout: Duration,
    /// Deadline for a whole Entitlement Request, an outer guard around the upstream budget
    /// (`request_timeout_ms`).
    #[serde(rename = "request_timeout_ms", with = "millis")]
    pub request_timeout: Duration,
    /// Open connections beyond this wait in the kernel's accept queue.
    pub max_connections: usize,
    /// How long a shutdown waits for in-flight requests (`shutdown_grace_ms`).
    #[serde(rename = "shutdown_grace_ms", with = "millis")]
    pub shutdown_grace: Duration,
    /// Requests per second one client identity (certificate key) may make; 0 = no limit.
    pub rate_limit_per_s: u32,
    /// Requests one client identity may make at once above the steady rate (the bucket size).
    pub rate_burst: u32,
    /// Entitlement Requests in service at once, at most; more wait for a slot (`queue_wait_ms`), at
    /// most `max_connections` of them.
    pub max_in_flight: usize,
    /// How long a request may wait for a slot before it is shed unread (5004, HTTP 503,
    /// `Retry-After`); 0 = shed at once (`queue_wait_ms`).
    #[serde(rename = "queue_wait_ms", with = "millis")]
    pub queue_wait: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            paths: vec![
                "/sees/v1/entitlement".to_owned(),
                "/sees/SEESServlet".to_owned(),
            ],
            widevine_paths: vec!["/sees/v1/widevine".to_owned()],
            playready_paths: vec!["/sees/v1/playready".to_owned()],
            max_body_bytes: 16 * 1024,
            handshake_timeout: Duration::from_millis(5_000),
            header_read_timeout: Duration::from_millis(20_000),
            request_timeout: Duration::from_millis(5_000),
            max_connections: 16_384,
            shutdown_grace: Duration::from_millis(10_000),
            rate_limit_per_s: 0,
            rate_burst: 20,
            max_in_flight: 4_096,
            queue_wait: Duration::from_millis(100),
        }
    }
}

impl ServerSettings {
    /// Everything wrong with `[server]`, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.paths.is_empty() {
            problems.push("server.paths must name at least one path".to_owned());
        }
        let mut seen = std::collections::HashSet::new();
        for (name, paths) in [
            ("server.paths", &self.paths),
            ("server.widevine_paths", &self.widevine_paths),
            ("server.playready_paths", &self.playready_paths),
        ] {
            for path in paths {
                if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c == '{') {
                    problems.push(format!(
                        "{name}: {path:?} must start with '/' and hold no spaces or '{{'"
                    ));
                }
                if !seen.insert(path) {
                    problems.push(format!(
                        "{name}: {path:?} is listed twice (each path answers for one DRM)"
                    ));
                }
            }
        }
        if !(256..=1024 * 1024).contains(&self.max_body_bytes) {
            problems.push("server.max_body_bytes must be between 256 and 1048576".to_owned());
        }
        problems.extend(zero_problems([
            (
                "server.handshake_timeout_ms",
                self.handshake_timeout.is_zero(),
            ),
            (
                "server.header_read_timeout_ms",
                self.header_read_timeout.is_zero(),
            ),
            ("server.request_timeout_ms", self.request_timeout.is_zero()),
        ]));
        if self.rate_limit_per_s > 0 && self.rate_burst == 0 {
            problems.push(
                "server.rate_burst must be greater than 0 when server.rate_limit_per_s is set"
                    .to_owned(),
            );
        }
        problems.extend(zero_problems([
            ("server.max_connections", self.max_connections == 0),
            ("server.max_in_flight", self.max_in_flight == 0),
        ]));
        problems
    }

    /// The load-shedding limits.
    pub fn shedding(&self) -> crate::net::shedding::SheddingLimits {
        crate::net::shedding::SheddingLimits {
            max_in_flight: self.max_in_flight,
            max_waiting: self.max_connections,
            queue_wait: self.queue_wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn defaults_are_valid_and_each_check_speaks() {
        let bad = default_with(ServerSettings::problems, |s| {
            s.paths = vec!["no-slash".to_owned()];
            s.max_body_bytes = 1;
            s.request_timeout = Duration::ZERO;
            s.max_connections = 0;
            s.rate_limit_per_s = 5;
            s.rate_burst = 0;
            s.max_in_flight = 0;
        });
        let problems = bad.problems().join("\n");
        for needle in [
            "server.paths",
            "server.max_body_bytes",
            "server.request_timeout_ms must be greater than 0",
            "server.max_connections",
            "server.rate_burst",
            "server.max_in_flight must be greater than 0",
        ] {
            assert!(problems.contains(needle), "{needle}: {problems}");
        }
    }
}
