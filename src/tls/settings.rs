//! `[tls]`: the SEES listener's certificate, key, client CA, CRLs and allow-list, how often they are
//! checked for changes, and the maximum connection age. Its own defaults and checks (the files
//! themselves are checked by `check`); `config` only assembles it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::allow::AllowEntry;
use crate::settings_format::{list_or_comma_separated, millis, paths_or_comma_separated, secs};

/// Certificates of the SEES listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM, PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// CA bundle (PEM) that client certificates must chain to.
    pub client_ca: PathBuf,
    /// CRL files (PEM or DER) issued by the client CA; revoked client certificates are refused.
    /// From the environment: comma-separated.
    #[serde(deserialize_with = "paths_or_comma_separated")]
    pub crls: Vec<PathBuf>,
    /// Client certificates admitted, as `dns:NAME`, `uri:URI`, `cn:NAME` or `spki-sha256:HASH`;
    /// empty = any certificate chaining to the client CA. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_clients: Vec<String>,
    /// How often the certificate, key, CA and CRL files are checked for changes; zero = only on SIGHUP
    /// (`reload_check_ms`).
    #[serde(rename = "reload_check_ms", with = "millis")]
    pub reload_check: Duration,
    /// Age after which a client connection is closed (after its in-flight request); zero = unlimited
    /// (`max_connection_age_s`).
    #[serde(rename = "max_connection_age_s", with = "secs")]
    pub max_connection_age: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert: PathBuf::from("certs/server.pem"),
            key: PathBuf::from("certs/server.key"),
            client_ca: PathBuf::from("certs/ca.pem"),
            crls: Vec::new(),
            allowed_clients: Vec::new(),
            reload_check: Duration::from_millis(2_000),
            max_connection_age: Duration::from_secs(300),
        }
    }
}

impl TlsSettings {
    /// Everything wrong with `[tls]` that can be seen without reading the files, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        self.allowed_clients
            .iter()
            .filter_map(|entry| AllowEntry::parse(entry).err())
            .map(|why| format!("tls.allowed_clients: {why}"))
            .collect()
    }

    /// The maximum connection age, `None` when unlimited.
    pub fn connection_age_limit(&self) -> Option<Duration> {
        (!self.max_connection_age.is_zero()).then_some(self.max_connection_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn allow_list_entries_are_checked_and_zero_age_is_unlimited() {
        let settings = default_with(TlsSettings::problems, |s| {
            s.allowed_clients = vec!["cn:player".to_owned(), "ip:10.0.0.1".to_owned()];
            s.max_connection_age = Duration::ZERO;
        });
        let problems = settings.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("tls.allowed_clients: "));
        assert_eq!(settings.connection_age_limit(), None);
        assert_eq!(
            TlsSettings::default().connection_age_limit(),
            Some(Duration::from_secs(300))
        );
    }
}
