//! A package's DRM policy (`drmPolicy` in the admin API): what each DRM's token demands when the
//! package grants the asset. Every setting is optional — unset means the package does not constrain
//! it — and is checked on the way in, so that no stored policy is one ExpressPlay would refuse or no
//! device could meet.

use serde::{Deserialize, Serialize};

/// ExpressPlay's Widevine `securityLevel`: 1 SW_SECURE_CRYPTO … 5 HW_SECURE_ALL.
pub const SECURITY_LEVELS: std::ops::RangeInclusive<u8> = 1..=5;
/// ExpressPlay's Widevine `hdcpOutputControl`: 0 none, 1 HDCP v1, 2 HDCP v2.
pub const HDCP_LEVELS: std::ops::RangeInclusive<u8> = 0..=2;
/// ExpressPlay's PlayReady output protection levels.
pub const OPL_RANGE: std::ops::RangeInclusive<u16> = 0..=999;

/// One package's policy, per DRM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DrmPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widevine: Option<WidevinePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playready: Option<PlayReadyPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairplay: Option<FairPlayPolicy>,
}

/// Widevine: the minimum security level, HDCP and the licence duration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WidevinePolicy {
    /// Minimum `securityLevel` (1–5); a device reporting a lower capability is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_level: Option<u8>,
    /// `hdcpOutputControl` (0–2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdcp: Option<u8>,
    /// `licenseDuration` in seconds; unset = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_duration_s: Option<u32>,
}

/// PlayReady: the output protection levels, rental or buy-to-own, persistence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlayReadyPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analog_video_opl: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed_digital_audio_opl: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed_digital_video_opl: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncompressed_digital_audio_opl: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncompressed_digital_video_opl: Option<u16>,
    /// `BuyToOwn` or `Rental`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<PlayReadyRights>,
    /// A rental ends this many seconds after the token is issued (`rental.periodEndTime`); required
    /// with `Rental`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rental_period_s: Option<u32>,
    /// `rental.playDuration` in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rental_play_duration_s: Option<u32>,
    /// A persistent licence (`generalFlags=00000001`); rental licences must be persistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent: Option<bool>,
    /// `unknownOutputBehavior`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_output: Option<UnknownOutput>,
}

/// PlayReady rights types, least strict first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PlayReadyRights {
    BuyToOwn,
    Rental,
}

impl PlayReadyRights {
    /// ExpressPlay's `rightsType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            PlayReadyRights::BuyToOwn => "BuyToOwn",
            PlayReadyRights::Rental => "Rental",
        }
    }
}

/// What a PlayReady client does with an output it does not know, least strict first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum UnknownOutput {
    Allow,
    #[serde(rename = "SDOnly")]
    SdOnly,
    Disallow,
}

impl UnknownOutput {
    /// ExpressPlay's `unknownOutputBehavior` value.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownOutput::Allow => "Allow",
            UnknownOutput::SdOnly => "SDOnly",
            UnknownOutput::Disallow => "Disallow",
        }
    }
}

/// FairPlay: the rental duration (ExpressPlay `rentalDuration`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FairPlayPolicy {
    /// Seconds; 0 = ExpressPlay's default (no rental limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rental_duration_s: Option<u32>,
}

impl DrmPolicy {
    /// Whether the policy sets nothing.
    pub fn is_empty(&self) -> bool {
        self == &DrmPolicy::default()
    }

    /// Everything that makes the policy one ExpressPlay would refuse or no device could meet, one
    /// sentence each, naming the field as the admin API spells it (`prefix` leads every name).
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(wv) = &self.widevine {
            if let Some(level) = wv.security_level.filter(|l| !SECURITY_LEVELS.contains(l)) {
                problems.push(format!(
                    "{prefix}widevine.securityLevel must be 1-5 (SW_SECURE_CRYPTO to HW_SECURE_ALL), not {level}"
                ));
            }
            if let Some(hdcp) = wv.hdcp.filter(|h| !HDCP_LEVELS.contains(h)) {
                problems.push(format!(
                    "{prefix}widevine.hdcp must be 0-2 (none, HDCP v1, HDCP v2), not {hdcp}"
                ));
            }
            if wv.license_duration_s == Some(0) {
                problems.push(format!(
                    "{prefix}widevine.licenseDurationS must be positive (leave it out for unlimited)"
                ));
            }
        }
        if let Some(pr) = &self.playready {
            for (name, value) in pr.opls() {
                if let Some(opl) = value.filter(|o| !OPL_RANGE.contains(o)) {
                    problems.push(format!("{prefix}playready.{name} must be 0-999, not {opl}"));
                }
            }
            let rental = pr.rights == Some(PlayReadyRights::Rental);
            if rental && pr.rental_period_s.is_none() {
                problems.push(format!(
                    "{prefix}playready: a Rental needs rentalPeriodS (the rental's end, seconds after issue)"
                ));
            }
            if rental && pr.persistent == Some(false) {
                problems.push(format!(
                    "{prefix}playready: a Rental with persistent=false is a licence no device can be \
                     given (rental licences must be persistent)"
                ));
            }
            if !rental && (pr.rental_period_s.is_some() || pr.rental_play_duration_s.is_some()) {
                problems.push(format!(
                    "{prefix}playready: rentalPeriodS and rentalPlayDurationS need rights = Rental"
                ));
            }
            if pr.rental_period_s == Some(0) || pr.rental_play_duration_s == Some(0) {
                problems.push(format!(
                    "{prefix}playready: rental periods must be positive"
                ));
            }
        }
        problems
    }
}

impl PlayReadyPolicy {
    /// The five output protection levels with their names, in ExpressPlay's order.
    pub fn opls(&self) -> [(&'static str, Option<u16>); 5] {
        [
            ("analogVideoOpl", self.analog_video_opl),
            (
                "compressedDigitalAudioOpl",
                self.compressed_digital_audio_opl,
            ),
            (
                "compressedDigitalVideoOpl",
                self.compressed_digital_video_opl,
            ),
            (
                "uncompressedDigitalAudioOpl",
                self.uncompressed_digital_audio_opl,
            ),
            (
                "uncompressedDigitalVideoOpl",
                self.uncompressed_digital_video_opl,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_shape_round_trips_and_unknown_fields_are_refused() {
        let json = serde_json::json!({
            "widevine": {"securityLevel": 5, "hdcp": 2, "licenseDurationS": 3600},
            "playready": {"compressedDigitalVideoOpl": 500, "rights": "Rental", "rentalPeriodS": 86400,
                          "unknownOutput": "SDOnly"},
            "fairplay": {"rentalDurationS": 7200}
        });
        let policy: DrmPolicy = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&policy).unwrap(), json);
        assert!(policy.problems("drmPolicy.").is_empty());
        assert!(
            serde_json::from_value::<DrmPolicy>(serde_json::json!({"widevine": {"level": 1}}))
                .is_err()
        );
    }

    #[test]
    fn impossible_policies_are_named() {
        let policy: DrmPolicy = serde_json::from_value(serde_json::json!({
            "widevine": {"securityLevel": 6, "hdcp": 3, "licenseDurationS": 0},
            "playready": {"analogVideoOpl": 1000, "rights": "Rental", "persistent": false}
        }))
        .unwrap();
        let problems = policy.problems("drmPolicy.").join("\n");
        for expected in [
            "drmPolicy.widevine.securityLevel must be 1-5",
            "drmPolicy.widevine.hdcp must be 0-2",
            "licenseDurationS must be positive",
            "drmPolicy.playready.analogVideoOpl must be 0-999",
            "a Rental needs rentalPeriodS",
            "no device can be given",
        ] {
            assert!(problems.contains(expected), "{expected}: {problems}");
        }
    }
}
