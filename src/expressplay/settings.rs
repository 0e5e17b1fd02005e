//! `[expressplay]`: the token and record services, the customer authenticator, the guards around every
//! call (deadlines, budget, retries, breakers, in-flight cap) and the token defaults. Its own defaults
//! and checks; `config` only assembles it.
//!
//! The authenticator is a `SecretString`: never printed, and no problem message quotes it.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::keys::TokenLifetime;
use crate::settings_format::{millis, zero_problems};

/// How the token request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamMethod {
    /// Parameters in the query string, as in ExpressPlay's examples.
    Get,
    /// Parameters in a form-encoded body, which keeps keys out of intermediaries' access logs.
    Post,
}

/// The ExpressPlay token services (FairPlay, Widevine, PlayReady) and record retrieval.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpressPlaySettings {
    /// Token service URL (`https://fp-gen.service.expressplay.com/hms/fp/token` in production).
    pub token_url: String,
    /// Widevine token service URL (`https://wv-gen.service.expressplay.com/hms/wv/token` in
    /// production).
    pub widevine_token_url: String,
    /// PlayReady token service URL (`https://pr-gen.service.expressplay.com/hms/pr/token` in
    /// production).
    pub playready_token_url: String,
    /// `<number>,<32 hex>`; empty means "not configured" (only `serve --dev` accepts that, and then
    /// starts the local simulator).
    pub customer_authenticator: SecretString,
    /// `get` or `post`.
    pub method: UpstreamMethod,
    /// Record-retrieval URL (`https://api.service.expressplay.com/cmiapi/getrecord/` in production).
    pub record_url: String,
    /// Name of the token parameter that binds a token to a device (case-sensitive).
    pub device_param: String,
    /// Where the record service's answer keeps the device id logged under a cookie.
    pub record_fields: RecordFields,
    /// Deadline for connecting to ExpressPlay (`connect_timeout_ms`).
    #[serde(rename = "connect_timeout_ms", with = "millis")]
    pub connect_timeout: Duration,
    /// Deadline for one call to ExpressPlay, one attempt (`timeout_ms`).
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// Time budget of all ExpressPlay calls (retries included) for one Entitlement Request
    /// (`budget_ms`).
    #[serde(rename = "budget_ms", with = "millis")]
    pub budget: Duration,
    /// Retries of a call that failed before ExpressPlay could act on it (connect errors, 502/503/504).
    pub max_retries: u32,
    /// Base of the exponential, fully jittered backoff between retries (`retry_backoff_ms`).
    #[serde(rename = "retry_backoff_ms", with = "millis")]
    pub retry_backoff: Duration,
    /// ExpressPlay calls in flight at once; beyond it requests are denied at once (4006).
    pub max_in_flight: usize,
    /// Consecutive failures of a service that open its circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker denies at once before one probe call is let through
    /// (`breaker_open_ms`).
    #[serde(rename = "breaker_open_ms", with = "millis")]
    pub breaker_open: Duration,
    /// Default `expirationTime`: `+N` seconds or an RFC 3339 `Z` instant; capped at 30 days.
    #[serde(deserialize_with = "deserialize_lifetime")]
    pub token_lifetime: TokenLifetime,
    /// Default `rentalDuration` in seconds (0 = ExpressPlay's default); sent as this number.
    pub rental_duration_s: u32,
}

impl Default for ExpressPlaySettings {
    fn default() -> Self {
        Self {
            token_url: "https://fp-gen.test.expressplay.com/hms/fp/token".to_owned(),
            widevine_token_url: "https://wv-gen.test.expressplay.com/hms/wv/token".to_owned(),
            playready_token_url: "https://pr-gen.test.expressplay.com/hms/pr/token".to_owned(),
            customer_authenticator: SecretString::from(String::new()),
            method: UpstreamMethod::Get,
            record_url: "https://api.test.expressplay.com/cmiapi/getrecord/".to_owned(),
            device_param: "deviceid".to_owned(),
            record_fields: RecordFields::default(),
            connect_timeout: Duration::from_millis(500),
            timeout: Duration::from_millis(1_500),
            budget: Duration::from_millis(2_000),
            max_retries: 2,
            retry_backoff: Duration::from_millis(50),
            max_in_flight: 512,
            breaker_failures: 5,
            breaker_open: Duration::from_millis(5_000),
            token_lifetime: TokenLifetime::Relative(600),
            rental_duration_s: 0,
        }
    }
}

/// Field names in the record service's answer (ExpressPlay does not publish them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordFields {
    /// JSON pointer to the array of events (empty = the answer is the array).
    pub list: String,
    /// Field of an event holding the cookie.
    pub cookie: String,
    /// Field of an event holding the device id.
    pub device: String,
}

impl Default for RecordFields {
    fn default() -> Self {
        Self {
            list: "/records".to_owned(),
            cookie: "cookie".to_owned(),
            device: "deviceId".to_owned(),
        }
    }
}

impl ExpressPlaySettings {
    /// Whether an authenticator is configured.
    pub fn has_authenticator(&self) -> bool {
        !self.customer_authenticator.expose_secret().is_empty()
    }

    /// Everything wrong with `[expressplay]`, one sentence each; never quotes the authenticator.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = zero_problems([
            (
                "expressplay.connect_timeout_ms",
                self.connect_timeout.is_zero(),
            ),
            ("expressplay.timeout_ms", self.timeout.is_zero()),
            ("expressplay.budget_ms", self.budget.is_zero()),
            ("expressplay.breaker_open_ms", self.breaker_open.is_zero()),
        ])
        .collect();
        if self.max_in_flight == 0 || self.breaker_failures == 0 {
            problems.push(
                "expressplay.max_in_flight and expressplay.breaker_failures must be greater than 0"
                    .to_owned(),
            );
        }
        if self.device_param.is_empty()
            || !self
                .device_param
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            problems.push(
                "expressplay.device_param must be a parameter name (letters, digits, _)".to_owned(),
            );
        }
        let fields = &self.record_fields;
        if !(fields.list.is_empty() || fields.list.starts_with('/'))
            || fields.cookie.is_empty()
            || fields.device.is_empty()
        {
            problems.push(
                "expressplay.record_fields: list must be empty or a JSON pointer starting with '/', \
                 cookie and device must name fields"
                    .to_owned(),
            );
        }
        for (name, url) in [
            ("token_url", &self.token_url),
            ("widevine_token_url", &self.widevine_token_url),
            ("playready_token_url", &self.playready_token_url),
            ("record_url", &self.record_url),
        ] {
            if let Err(why) = check_upstream_url(url) {
                problems.push(format!("expressplay.{name}: {why}"));
            }
        }
        if self.has_authenticator()
            && !is_authenticator(self.customer_authenticator.expose_secret())
        {
            problems.push(
                "expressplay.customer_authenticator must have the form <number>,<32 hex digits>"
                    .to_owned(),
            );
        }
        problems
    }
}

/// Whether `raw` has ExpressPlay's authenticator form, `<number>,<32 hex digits>`.
pub fn is_authenticator(raw: &str) -> bool {
    match raw.split_once(',') {
        Some((number, key)) => {
            !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
                && key.len() == 32
                && key.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// HTTPS, or plain HTTP to a loopback address (the local simulator).
fn check_upstream_url(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => {
            Err("plain http is only allowed to a loopback address (the simulator)".to_owned())
        }
        other => Err(format!("unsupported scheme {other:?}")),
    }
}

fn deserialize_lifetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<TokenLifetime, D::Error> {
    let raw = String::deserialize(d)?;
    raw.parse().map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn authenticator_form() {
        assert!(is_authenticator("1,0123456789abcdef0123456789ABCDEF"));
        assert!(!is_authenticator(",0123456789abcdef0123456789abcdef"));
        assert!(!is_authenticator("1,0123"));
        assert!(!is_authenticator("x,0123456789abcdef0123456789abcdef"));
    }

    #[test]
    fn upstream_urls_are_https_or_loopback_http() {
        assert!(check_upstream_url("https://fp-gen.service.expressplay.com/hms/fp/token").is_ok());
        assert!(check_upstream_url("http://127.0.0.1:9/hms/fp/token").is_ok());
        assert!(check_upstream_url("http://[::1]:9/x").is_ok());
        assert!(check_upstream_url("http://localhost/x").is_ok());
        assert!(check_upstream_url("http://example.com/x").is_err());
        assert!(check_upstream_url("ftp://example.com/x").is_err());
        assert!(check_upstream_url("not a url").is_err());
    }

    #[test]
    fn problems_never_quote_the_authenticator() {
        let bad = default_with(ExpressPlaySettings::problems, |s| {
            s.customer_authenticator = SecretString::from("secret-looking-value".to_owned());
            s.device_param = "device id".to_owned();
            s.timeout = Duration::ZERO;
            s.max_in_flight = 0;
        });
        let problems = bad.problems().join("\n");
        assert!(problems.contains("customer_authenticator"), "{problems}");
        assert!(problems.contains("expressplay.device_param"), "{problems}");
        assert!(
            problems.contains("expressplay.timeout_ms must be greater than 0"),
            "{problems}"
        );
        assert!(problems.contains("expressplay.max_in_flight"), "{problems}");
        assert!(!problems.contains("secret-looking-value"), "{problems}");
    }

    #[test]
    fn every_token_url_is_checked() {
        let bad = default_with(ExpressPlaySettings::problems, |s| {
            s.widevine_token_url = "http://wv-gen.example.com/hms/wv/token".to_owned();
            s.playready_token_url = "not a url".to_owned();
        });
        let problems = bad.problems().join("\n");
        assert!(
            problems.contains("expressplay.widevine_token_url: plain http"),
            "{problems}"
        );
        assert!(
            problems.contains("expressplay.playready_token_url:"),
            "{problems}"
        );
        assert!(!problems.contains("expressplay.token_url"), "{problems}");
        assert!(ExpressPlaySettings::default().problems().is_empty());
    }
}
