//! The DRMs sees answers for — FairPlay, Widevine, PlayReady — and the playback policy each token
//! carries: per package (`policy`), with defaults from `[drm]` (`settings`), the strictest applying
//! when several packages grant an asset (`terms`). Plain values and rules: no HTTP, no store.

pub mod policy;
pub mod settings;
pub mod terms;

use std::fmt;

pub use policy::{
    DrmPolicy, FairPlayPolicy, PlayReadyPolicy, PlayReadyRights, UnknownOutput, WidevinePolicy,
};
pub use settings::DrmSettings;
pub use terms::{strictest, FairPlayTerms, PlayReadyTerms, Setter, Terms, WidevineTerms};

/// A DRM system a token is asked for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Drm {
    FairPlay,
    Widevine,
    PlayReady,
}

impl Drm {
    /// Every DRM, in the order they are listed.
    pub const ALL: [Drm; 3] = [Drm::FairPlay, Drm::Widevine, Drm::PlayReady];

    /// The name in paths, parameters, metrics labels and audit (`fairplay`, `widevine`, `playready`).
    pub fn as_str(self) -> &'static str {
        match self {
            Drm::FairPlay => "fairplay",
            Drm::Widevine => "widevine",
            Drm::PlayReady => "playready",
        }
    }

    /// The inverse of `as_str`.
    pub fn parse(raw: &str) -> Option<Drm> {
        Drm::ALL.into_iter().find(|d| d.as_str() == raw)
    }

    /// Whether ExpressPlay can bind this DRM's tokens to a device (requestType 2/3): FairPlay only
    /// (Widevine answers -7002, PlayReady has no such parameter).
    pub fn binds_devices(self) -> bool {
        self == Drm::FairPlay
    }
}

impl fmt::Display for Drm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device's Widevine security level as it reports it (`capabilities.widevineSecurityLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum DeviceSecurityLevel {
    /// Hardware-backed: every robustness level.
    L1,
    /// Software only: SW_SECURE_CRYPTO and SW_SECURE_DECODE. (The OEM API knows L1 and L3 only.)
    L3,
}

impl DeviceSecurityLevel {
    /// The highest ExpressPlay `securityLevel` (1–5) a device of this level can play.
    pub fn highest_security_level(self) -> u8 {
        match self {
            DeviceSecurityLevel::L1 => 5,
            DeviceSecurityLevel::L3 => 2,
        }
    }

    /// The name the device reported.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceSecurityLevel::L1 => "L1",
            DeviceSecurityLevel::L3 => "L3",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_fairplay_binds_devices() {
        for drm in Drm::ALL {
            assert_eq!(Drm::parse(drm.as_str()), Some(drm));
        }
        assert_eq!(Drm::parse("clearkey"), None);
        assert!(Drm::FairPlay.binds_devices());
        assert!(!Drm::Widevine.binds_devices() && !Drm::PlayReady.binds_devices());
        assert!(
            DeviceSecurityLevel::L3.highest_security_level()
                < DeviceSecurityLevel::L1.highest_security_level()
        );
    }
}
