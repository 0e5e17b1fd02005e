//! Settings: the configuration of every component, assembled. Each component owns its section's type,
//! defaults and checks (`net::settings::ServerSettings` is `[server]`, `tls::settings::TlsSettings` is
//! `[tls]`, …); this module only layers defaults → the `--dev` layer → a TOML file →
//! `SEES__SECTION__KEY` environment variables (`layers`), assembles the sections into `Settings`, and
//! gathers every section's problems plus the few that span sections, so that `load` explains
//! everything wrong at once.
//!
//! It must never hold a domain type or a rule of its own about one component: dependencies go from
//! here to the components, never back. Secrets (`expressplay.customer_authenticator`, keys) stay in
//! `SecretString`s and are never printed.

mod layers;

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

pub use layers::{DEV_LAYER, ENV_PREFIX};

pub use crate::admin::jwt::{AuthSettings, EntitlementProviderSettings, IssuerSettings};
pub use crate::admin::settings::AdminSettings;
pub use crate::akamai::EntitlementTokenSettings;
pub use crate::audit::settings::AuditSettings;
pub use crate::catalog::settings::ConcurrencySettings;
pub use crate::decision::settings::{
    Consistency, DecisionCacheMode, DecisionMode, DecisionSettings,
};
pub use crate::devices::DeviceSettings;
pub use crate::drm::DrmSettings;
pub use crate::expressplay::settings::{ExpressPlaySettings, RecordFields, UpstreamMethod};
pub use crate::keys::settings::KeysSettings;
pub use crate::net::settings::ServerSettings;
pub use crate::ops::settings::OpsSettings;
pub use crate::speke::settings::{SpekeAuth, SpekeSettings};
pub use crate::store::settings::StoreSettings;
pub use crate::telemetry::{LogFormat, LogSettings};
pub use crate::tls::settings::TlsSettings;

/// Everything sees can be told: one section per component.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub tls: TlsSettings,
    pub store: StoreSettings,
    pub keys: KeysSettings,
    pub expressplay: ExpressPlaySettings,
    pub devices: DeviceSettings,
    pub decision: DecisionSettings,
    pub concurrency: ConcurrencySettings,
    pub admin: AdminSettings,
    pub ops: OpsSettings,
    pub auth: AuthSettings,
    pub entitlement_tokens: EntitlementTokenSettings,
    pub audit: AuditSettings,
    pub log: LogSettings,
    pub speke: SpekeSettings,
    pub drm: DrmSettings,
}

/// A configuration that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Settings {
    /// Defaults, then the `--dev` layer when `dev`, then `file`, then the environment; validated.
    pub fn load(file: Option<&Path>, dev: bool) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(file, dev, env)
    }

    /// As `load`, with the environment given explicitly (tests).
    pub fn load_with_env(
        file: Option<&Path>,
        dev: bool,
        env: Vec<(String, String)>,
    ) -> Result<Settings, ConfigError> {
        let settings = layers::read(file, dev, env)?;
        let problems = settings.problems();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Everything wrong with these settings, one sentence each: every section's own problems, then
    /// those between sections.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(self.server.problems());
        problems.extend(self.tls.problems());
        problems.extend(self.store.problems());
        problems.extend(self.keys.problems());
        problems.extend(self.expressplay.problems());
        problems.extend(self.devices.problems());
        problems.extend(self.decision.problems());
        problems.extend(self.concurrency.problems());
        problems.extend(self.admin.problems());
        problems.extend(self.ops.problems());
        problems.extend(self.auth.problems());
        problems.extend(self.entitlement_tokens.problems());
        problems.extend(self.audit.problems());
        problems.extend(self.log.problems());
        problems.extend(self.speke.problems());
        problems.extend(self.drm.problems());
        problems.extend(self.cross_section_problems());
        problems
    }

    /// Problems no single section can see: the upstream budget against the request deadline, and
    /// listeners sharing a port.
    fn cross_section_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.expressplay.budget >= self.server.request_timeout {
            problems.push(
                "expressplay.budget_ms must be shorter than server.request_timeout_ms, so an upstream \
                 failure is answered before the request deadline"
                    .to_owned(),
            );
        }
        problems.extend(self.listener_clashes());
        problems
    }

    /// Every listener sees opens, by setting name.
    pub fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut listeners = vec![
            ("server.listen", self.server.listen),
            ("admin.listen", self.admin.listen),
            ("ops.listen", self.ops.listen),
        ];
        listeners.extend(self.speke.listen.map(|addr| ("speke.listen", addr)));
        listeners
    }

    /// Listeners that would take the same port on overlapping addresses (port 0 never clashes).
    pub fn listener_clashes(&self) -> Vec<String> {
        let listeners = self.listeners();
        let mut problems = Vec::new();
        for (i, (name, addr)) in listeners.iter().enumerate() {
            for (other, other_addr) in &listeners[i + 1..] {
                let overlap = addr.ip() == other_addr.ip()
                    || addr.ip().is_unspecified()
                    || other_addr.ip().is_unspecified();
                if addr.port() != 0 && addr.port() == other_addr.port() && overlap {
                    problems.push(format!(
                        "{name} ({addr}) and {other} ({other_addr}) would listen on the same port"
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use secrecy::ExposeSecret;

    use super::*;
    use crate::expressplay::TokenLifetime;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_the_example_file_matches_them() {
        assert!(Settings::default().problems().is_empty());
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sees.example.toml");
        let loaded = Settings::load_with_env(Some(&example), false, vec![]).unwrap();
        assert_eq!(format!("{loaded:?}"), format!("{:?}", Settings::default()));
    }

    #[test]
    fn environment_overrides_every_section() {
        let settings = Settings::load_with_env(
            None,
            false,
            env(&[
                ("SEES__SERVER__LISTEN", "0.0.0.0:9443"),
                ("SEES__SERVER__PATHS", "/a,/b"),
                ("SEES__SERVER__MAX_BODY_BYTES", "4096"),
                ("SEES__STORE__URL", "sqlite:///tmp/x.db"),
                (
                    "SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR",
                    "12,0123456789abcdef0123456789abcdef",
                ),
                ("SEES__EXPRESSPLAY__TOKEN_LIFETIME", "+120"),
                ("SEES__EXPRESSPLAY__METHOD", "post"),
                ("SEES__KEYS__MASTER_KEY_FILE", "/run/secrets/master"),
                ("SEES__LOG__FORMAT", "json"),
                ("SEES_MASTER_KEY", "not a settings key"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.server.listen.to_string(), "0.0.0.0:9443");
        assert_eq!(settings.server.paths, vec!["/a", "/b"]);
        assert_eq!(settings.server.max_body_bytes, 4096);
        assert_eq!(settings.store.url, "sqlite:///tmp/x.db");
        assert_eq!(
            settings.expressplay.customer_authenticator.expose_secret(),
            "12,0123456789abcdef0123456789abcdef"
        );
        assert_eq!(
            settings.expressplay.token_lifetime,
            TokenLifetime::Relative(120)
        );
        assert_eq!(settings.expressplay.method, UpstreamMethod::Post);
        assert_eq!(
            settings.keys.master_key_file,
            PathBuf::from("/run/secrets/master")
        );
        assert_eq!(settings.log.format, LogFormat::Json);
    }

    #[test]
    fn problems_are_all_reported_and_never_show_the_authenticator() {
        let err = Settings::load_with_env(
            None,
            false,
            env(&[
                ("SEES__SERVER__PATHS", "no-slash"),
                ("SEES__STORE__URL", "mysql://x"),
                (
                    "SEES__EXPRESSPLAY__TOKEN_URL",
                    "http://example.com/hms/fp/token",
                ),
                (
                    "SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR",
                    "secret-looking-value",
                ),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.paths"), "{err}");
        assert!(err.contains("store.url"), "{err}");
        assert!(err.contains("expressplay.token_url"), "{err}");
        assert!(err.contains("customer_authenticator"), "{err}");
        assert!(!err.contains("secret-looking-value"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_lifetimes_are_refused() {
        assert!(
            Settings::load_with_env(None, false, env(&[("SEES__SERVER__LISTN", "x")])).is_err()
        );
        assert!(Settings::load_with_env(
            None,
            false,
            env(&[("SEES__EXPRESSPLAY__TOKEN_LIFETIME", "+99999999")])
        )
        .is_err());
    }

    #[test]
    fn debug_never_shows_the_authenticator() {
        let settings = Settings::load_with_env(
            None,
            false,
            env(&[(
                "SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR",
                "7,ffffffffffffffffffffffffffffffff",
            )]),
        )
        .unwrap();
        assert!(!format!("{settings:?}").contains("ffffffffffffffff"));
    }

    #[test]
    fn clashing_listeners_and_bad_allow_list_entries_are_problems() {
        let problems = Settings::load_with_env(
            None,
            false,
            env(&[
                ("SEES__SERVER__LISTEN", "0.0.0.0:8443"),
                ("SEES__ADMIN__LISTEN", "127.0.0.1:8443"),
                ("SEES__TLS__ALLOWED_CLIENTS", "cn:player,ip:10.0.0.1"),
                ("SEES__SERVER__RATE_LIMIT_PER_S", "5"),
                ("SEES__SERVER__RATE_BURST", "0"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            problems.contains("server.listen (0.0.0.0:8443) and admin.listen"),
            "{problems}"
        );
        assert!(problems.contains("tls.allowed_clients"), "{problems}");
        assert!(problems.contains("server.rate_burst"), "{problems}");
        let fine = Settings::load_with_env(
            None,
            false,
            env(&[
                ("SEES__SERVER__LISTEN", "127.0.0.1:0"),
                ("SEES__ADMIN__LISTEN", "127.0.0.1:0"),
                ("SEES__TLS__CRLS", "/etc/sees/a.crl, /etc/sees/b.crl"),
                ("SEES__TLS__ALLOWED_CLIENTS", "dns:player.example.com"),
            ]),
        )
        .unwrap();
        assert_eq!(fine.tls.crls.len(), 2);
        assert_eq!(fine.tls.allowed_clients, vec!["dns:player.example.com"]);
    }

    #[test]
    fn durations_keep_their_unit_in_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sees.toml");
        std::fs::write(
            &file,
            "[server]\nrequest_timeout_ms = 4500\n[tls]\nmax_connection_age_s = 0\n\
             [audit]\nretention_days = 2\n",
        )
        .unwrap();
        let settings = Settings::load_with_env(
            Some(&file),
            false,
            env(&[
                ("SEES__SERVER__HANDSHAKE_TIMEOUT_MS", "250"),
                ("SEES__DEVICES__BINDING_TTL_S", "3600"),
                ("SEES__CONCURRENCY__LEASE_SECONDS", "30"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.server.request_timeout, Duration::from_millis(4500));
        assert_eq!(
            settings.server.handshake_timeout,
            Duration::from_millis(250)
        );
        assert_eq!(settings.tls.max_connection_age, Duration::ZERO);
        assert_eq!(settings.tls.connection_age_limit(), None);
        assert_eq!(settings.audit.retention, Duration::from_secs(2 * 24 * 3600));
        assert_eq!(settings.devices.binding_ttl, Duration::from_secs(3600));
        assert_eq!(settings.concurrency.lease, Duration::from_secs(30));
        let renamed = Settings::load_with_env(
            None,
            false,
            env(&[("SEES__SERVER__REQUEST_TIMEOUT", "4500")]),
        );
        assert!(renamed.is_err(), "only the unit-suffixed key is accepted");
    }

    #[test]
    fn the_dev_layer_loads_and_problems_span_sections() {
        let dev = Settings::load_with_env(None, true, vec![]).unwrap();
        assert!(dev.problems().is_empty());
        let err = Settings::load_with_env(
            None,
            false,
            env(&[
                ("SEES__EXPRESSPLAY__BUDGET_MS", "5000"),
                ("SEES__KEYS__CACHE_TTL_MS", "0"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("expressplay.budget_ms must be shorter than server.request_timeout_ms"),
            "{err}"
        );
        assert!(
            err.contains("keys.cache_ttl_ms must be greater than 0"),
            "{err}"
        );
    }
}
