//! `[admin]`: the admin API listener — its address, its optional TLS files, and its request limits.
//! Its own defaults and checks; `config` only assembles it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The admin API listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// Address of the admin listener; plain HTTP is allowed only on a loopback address.
    pub listen: SocketAddr,
    /// Server certificate and key (PEM); required when `listen` is not a loopback address.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// When set, admin clients must also present a certificate from this CA bundle.
    pub client_ca: Option<PathBuf>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Largest `count` of a listing (larger values are clamped to it).
    pub max_page_size: u32,
    /// Longest list in one request body (asset IDs, package IDs…); longer lists are refused.
    pub max_list_len: usize,
    /// Deepest package graph: an edge that would make a longer parent → child chain is refused.
    pub graph_max_depth: u32,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8444)),
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            max_body_bytes: 1024 * 1024,
            max_page_size: 500,
            max_list_len: 10_000,
            graph_max_depth: 8,
        }
    }
}

impl AdminSettings {
    /// The certificate and key files when the admin listener serves TLS.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            _ => None,
        }
    }

    /// Everything wrong with `[admin]`, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.listen.ip().is_loopback() && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            problems.push(
                "admin.listen is not a loopback address: set admin.tls_cert and admin.tls_key (plain HTTP \
                 is only allowed on loopback)"
                    .to_owned(),
            );
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            problems.push("admin.tls_cert and admin.tls_key go together".to_owned());
        }
        if self.max_page_size == 0 || self.max_list_len == 0 || self.graph_max_depth == 0 {
            problems.push(
                "admin.max_page_size, admin.max_list_len and admin.graph_max_depth must be greater than 0"
                    .to_owned(),
            );
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn plain_http_only_on_loopback_and_tls_files_go_together() {
        assert_eq!(AdminSettings::default().tls_files(), None);
        let exposed = default_with(AdminSettings::problems, |s| {
            s.listen = SocketAddr::from(([0, 0, 0, 0], 8444));
            s.tls_cert = Some(PathBuf::from("admin.pem"));
            s.max_page_size = 0;
        });
        let problems = exposed.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("admin.listen is not a loopback address"));
        let served = AdminSettings {
            listen: SocketAddr::from(([0, 0, 0, 0], 8444)),
            tls_cert: Some(PathBuf::from("admin.pem")),
            tls_key: Some(PathBuf::from("admin.key")),
            ..AdminSettings::default()
        };
        assert!(served.problems().is_empty());
        assert_eq!(
            served.tls_files(),
            Some((Path::new("admin.pem"), Path::new("admin.key")))
        );
    }
}
