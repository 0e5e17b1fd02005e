//! `[drm]`: which DRMs sees answers for and the policy every token starts from (packages can only
//! make it stricter). Flat keys, so each has an environment override (`SEES__DRM__WIDEVINE_HDCP`).
//! FairPlay's default rental duration stays `expressplay.rental_duration_s`.

use serde::Deserialize;

use super::policy::{DrmPolicy, PlayReadyPolicy, PlayReadyRights, UnknownOutput, WidevinePolicy};
use super::Drm;

/// The DRMs answered and the default policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrmSettings {
    /// DRMs answered; a request for another is refused with its own number.
    pub enabled: Vec<Drm>,
    /// Widevine `securityLevel` (1–5) when no package demands more.
    pub widevine_security_level: u8,
    /// Widevine `hdcpOutputControl` (0–2).
    pub widevine_hdcp: u8,
    /// Widevine `licenseDuration` in seconds; unset = unlimited.
    pub widevine_license_duration_s: Option<u32>,
    /// PlayReady output protection levels (0–999).
    pub playready_analog_video_opl: u16,
    pub playready_compressed_digital_audio_opl: u16,
    pub playready_compressed_digital_video_opl: u16,
    pub playready_uncompressed_digital_audio_opl: u16,
    pub playready_uncompressed_digital_video_opl: u16,
    /// PlayReady `rightsType`: `BuyToOwn` or `Rental`.
    pub playready_rights: PlayReadyRights,
    /// With `Rental`: the rental ends this many seconds after issue.
    pub playready_rental_period_s: Option<u32>,
    /// PlayReady persistent licences (rentals always are).
    pub playready_persistent: bool,
    /// PlayReady `unknownOutputBehavior`; unset = ExpressPlay's default.
    pub playready_unknown_output: Option<UnknownOutput>,
}

impl Default for DrmSettings {
    fn default() -> Self {
        Self {
            enabled: Drm::ALL.to_vec(),
            widevine_security_level: 1,
            widevine_hdcp: 0,
            widevine_license_duration_s: None,
            // The lowest protection levels PlayReady defines for each output.
            playready_analog_video_opl: 100,
            playready_compressed_digital_audio_opl: 100,
            playready_compressed_digital_video_opl: 400,
            playready_uncompressed_digital_audio_opl: 100,
            playready_uncompressed_digital_video_opl: 100,
            playready_rights: PlayReadyRights::BuyToOwn,
            playready_rental_period_s: None,
            playready_persistent: false,
            playready_unknown_output: None,
        }
    }
}

impl DrmSettings {
    /// Whether tokens for `drm` are answered.
    pub fn is_enabled(&self, drm: Drm) -> bool {
        self.enabled.contains(&drm)
    }

    /// The default policy as a [`DrmPolicy`] with every Widevine and PlayReady term set.
    pub fn defaults(&self) -> DrmPolicy {
        DrmPolicy {
            widevine: Some(WidevinePolicy {
                security_level: Some(self.widevine_security_level),
                hdcp: Some(self.widevine_hdcp),
                license_duration_s: self.widevine_license_duration_s,
            }),
            playready: Some(PlayReadyPolicy {
                analog_video_opl: Some(self.playready_analog_video_opl),
                compressed_digital_audio_opl: Some(self.playready_compressed_digital_audio_opl),
                compressed_digital_video_opl: Some(self.playready_compressed_digital_video_opl),
                uncompressed_digital_audio_opl: Some(self.playready_uncompressed_digital_audio_opl),
                uncompressed_digital_video_opl: Some(self.playready_uncompressed_digital_video_opl),
                rights: Some(self.playready_rights),
                rental_period_s: self.playready_rental_period_s,
                rental_play_duration_s: None,
                persistent: Some(
                    self.playready_persistent || self.playready_rights == PlayReadyRights::Rental,
                ),
                unknown_output: self.playready_unknown_output,
            }),
            fairplay: None,
        }
    }

    /// Everything wrong with `[drm]`, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .defaults()
            .problems("drm defaults: ")
            .into_iter()
            .collect();
        if self.enabled.is_empty() {
            problems.push("drm.enabled must name at least one DRM".to_owned());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_ones_named() {
        assert!(DrmSettings::default().problems().is_empty());
        let bad = DrmSettings {
            enabled: vec![],
            widevine_security_level: 0,
            playready_rights: PlayReadyRights::Rental,
            ..DrmSettings::default()
        };
        let problems = bad.problems().join("\n");
        for expected in [
            "drm.enabled must name at least one DRM",
            "widevine.securityLevel must be 1-5",
            "a Rental needs rentalPeriodS",
        ] {
            assert!(problems.contains(expected), "{expected}: {problems}");
        }
    }
}
