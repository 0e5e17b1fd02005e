//! `[ops]`: the address of the plain-HTTP ops listener. Its own defaults; `config` only assembles it.

use std::net::SocketAddr;

use serde::Deserialize;

/// The ops listener: `/healthz`, `/readyz`, `/metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsSettings {
    /// Address of the plain-HTTP ops listener (no client certificate: keep it on loopback or a
    /// private network).
    pub listen: SocketAddr,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

impl OpsSettings {
    /// Everything wrong with `[ops]` on its own (nothing: clashes with the other listeners are
    /// checked where all listeners are known).
    pub fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}
