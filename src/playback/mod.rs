//! The application service: from "this caller wants to play this content" to a token or a refusal.
//! Both front ends call it: the SEES endpoint (`sees::handler`, a [`ContentRequest`]) and the OEM
//! entitlement-token routes (`admin::playback_tokens`, a [`UserPlayback`]). It runs the catalogue
//! decision, the device binding and limit, the concurrency lease, the content key lookup and the
//! ExpressPlay call, and answers in domain terms ([`Outcome`], [`Refusal`], [`PlaybackRefusal`]).
//!
//! It must never speak a wire protocol: no HTTP types (axum, hyper), no SEES or admin error numbers
//! (the `sees` and `admin` modules are never imported here). It never logs key material, the
//! customer cookie or the ExpressPlay authenticator.

mod content;
mod device;
mod notes;
mod outcome;
mod stream;
mod token;
mod user;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::ConcurrencySettings;
use crate::catalog::{StreamLeases, UserDevices};
use crate::clock::Clock;
use crate::decision::Decider;
use crate::devices::DeviceBindings;
use crate::drm::{DrmPolicy, DrmSettings};
use crate::expressplay::ExpressPlayClient;
use crate::ids::ContentId;
use crate::keys::KeyStore;

pub use content::{ContentRequest, RequestKind};
pub use notes::DecisionNotes;
pub use outcome::{Outcome, QuoteRefusal, QuotedCode, Refusal, UpstreamService};
pub use token::TokenDefaults;
pub use user::{PlaybackRefusal, PlaybackToken, UserPlayback};

/// A refusal on the way to a token.
type Step<T> = Result<T, Refusal>;

/// Everything a playback request needs.
pub struct EntitlementService {
    decider: Decider,
    open_mode: bool,
    user_devices: UserDevices,
    leases: StreamLeases,
    concurrency: ConcurrencySettings,
    max_devices: u32,
    keys: Arc<KeyStore>,
    devices: DeviceBindings,
    expressplay: Arc<ExpressPlayClient>,
    defaults: TokenDefaults,
    registration_content: HashSet<ContentId>,
    upstream_budget: Duration,
    clock: Arc<dyn Clock>,
    drm: DrmSettings,
    drm_defaults: DrmPolicy,
}

/// The parts an `EntitlementService` is made of.
pub struct ServiceParts {
    /// The catalogue decision.
    pub decider: Decider,
    /// Open mode: content requests for any content with a key are allowed without consulting the
    /// catalogue (the OEM token flow always consults it).
    pub open_mode: bool,
    pub user_devices: UserDevices,
    pub leases: StreamLeases,
    pub concurrency: ConcurrencySettings,
    /// Devices per user; 0 = no limit.
    pub max_devices: u32,
    pub keys: Arc<KeyStore>,
    pub devices: DeviceBindings,
    pub expressplay: Arc<ExpressPlayClient>,
    pub defaults: TokenDefaults,
    pub registration_content: HashSet<ContentId>,
    pub upstream_budget: Duration,
    pub clock: Arc<dyn Clock>,
    /// The DRMs answered and the policy every token starts from.
    pub drm: DrmSettings,
}

impl EntitlementService {
    /// Wires the parts together.
    pub fn new(parts: ServiceParts) -> Self {
        Self {
            decider: parts.decider,
            open_mode: parts.open_mode,
            user_devices: parts.user_devices,
            leases: parts.leases,
            concurrency: parts.concurrency,
            max_devices: parts.max_devices,
            keys: parts.keys,
            devices: parts.devices,
            expressplay: parts.expressplay,
            defaults: parts.defaults,
            registration_content: parts.registration_content,
            upstream_budget: parts.upstream_budget,
            clock: parts.clock,
            drm_defaults: parts.drm.defaults(),
            drm: parts.drm,
        }
    }

    /// The ExpressPlay client (breaker states, counters).
    pub fn expressplay(&self) -> &ExpressPlayClient {
        &self.expressplay
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The Rust files under `src/<dir>`.
    fn sources(dir: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir)];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push(path);
                }
            }
        }
        found
    }

    /// The code lines (not comments) of the files under `src/<dir>` that mention any of `names`.
    fn mentions(dir: &str, names: &[&str]) -> Vec<String> {
        let mut hits = Vec::new();
        for path in sources(dir) {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                if names.iter().any(|name| code.contains(name)) {
                    hits.push(format!("{}: {code}", path.display()));
                }
            }
        }
        hits
    }

    #[test]
    fn the_application_layer_speaks_no_wire_protocol() {
        let hits = mentions(
            "playback",
            // Spelled in pieces so this file does not match itself.
            &[
                concat!("crate::", "sees"),
                concat!("crate::", "admin"),
                concat!("ax", "um"),
                concat!("hyper", "::"),
                concat!("hyper", "_util"),
            ],
        );
        assert!(hits.is_empty(), "{hits:#?}");
    }

    #[test]
    fn admin_ops_and_net_do_not_import_sees() {
        for dir in ["admin", "ops", "net"] {
            let hits = mentions(dir, &[concat!("crate::", "sees")]);
            assert!(hits.is_empty(), "{dir}: {hits:#?}");
        }
    }
}
