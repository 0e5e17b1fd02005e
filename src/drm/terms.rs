//! The terms a token is issued under: the `[drm]` defaults made stricter by every package that grants
//! the asset — the highest security level, HDCP and output protection levels, the shortest licence
//! and rental durations, a rental over buy-to-own, non-persistent over persistent unless a rental
//! needs it — each term remembering who set it, so the explanation can name the package.

use serde::Serialize;

use crate::ids::PackageId;

use super::policy::{DrmPolicy, PlayReadyRights, UnknownOutput};

/// Who set a term (serialized as its display: `configuration` or `package ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setter {
    /// `[drm]` (or `expressplay.rental_duration_s` and the content key's own policy for FairPlay).
    Configuration,
    /// The package's `drmPolicy`.
    Package(PackageId),
}

impl std::fmt::Display for Setter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setter::Configuration => f.write_str("configuration"),
            Setter::Package(id) => write!(f, "package {id}"),
        }
    }
}

impl Serialize for Setter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A term and who set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Set<T> {
    pub value: T,
    pub by: Setter,
}

/// Widevine's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WidevineTerms {
    pub security_level: Set<u8>,
    pub hdcp: Set<u8>,
    pub license_duration_s: Option<Set<u32>>,
}

/// PlayReady's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayReadyTerms {
    pub analog_video_opl: Set<u16>,
    pub compressed_digital_audio_opl: Set<u16>,
    pub compressed_digital_video_opl: Set<u16>,
    pub uncompressed_digital_audio_opl: Set<u16>,
    pub uncompressed_digital_video_opl: Set<u16>,
    pub rights: Set<PlayReadyRights>,
    pub rental_period_s: Option<Set<u32>>,
    pub rental_play_duration_s: Option<Set<u32>>,
    pub persistent: Set<bool>,
    pub unknown_output: Option<Set<UnknownOutput>>,
}

/// FairPlay's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FairPlayTerms {
    /// 0 = ExpressPlay's default (no rental limit).
    pub rental_duration_s: Set<u32>,
}

/// The terms of every DRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Terms {
    pub widevine: WidevineTerms,
    pub playready: PlayReadyTerms,
    pub fairplay: FairPlayTerms,
    /// Why no PlayReady licence can meet the packages' policies together (a rental one package
    /// demands, a non-persistent licence another demands); PlayReady tokens are then refused, the
    /// other DRMs' are not concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playready_unsatisfiable: Option<String>,
}

/// Keeps the stricter of the term so far and `candidate` (by `stricter(candidate, kept)`); the first
/// setter of the strictest value stays its setter.
fn tighten<T: Copy>(
    kept: &mut Set<T>,
    candidate: Option<T>,
    by: &Setter,
    stricter: impl Fn(T, T) -> bool,
) {
    if let Some(value) = candidate {
        if stricter(value, kept.value) {
            *kept = Set {
                value,
                by: by.clone(),
            };
        }
    }
}

/// As `tighten` for a term that may be unset (unset = not limited).
fn tighten_optional<T: Copy>(
    kept: &mut Option<Set<T>>,
    candidate: Option<T>,
    by: &Setter,
    stricter: impl Fn(T, T) -> bool,
) {
    let Some(value) = candidate else { return };
    match kept {
        Some(kept) => tighten(kept, Some(value), by, stricter),
        None => {
            *kept = Some(Set {
                value,
                by: by.clone(),
            })
        }
    }
}

fn configured<T>(value: T) -> Set<T> {
    Set {
        value,
        by: Setter::Configuration,
    }
}

/// The terms under `defaults` (complete for Widevine and PlayReady, as `DrmSettings::defaults`
/// gives them), FairPlay's configured `rental_duration_s`, and the `packages` that grant the asset.
/// [`Terms::playready_unsatisfiable`] names the packages whose PlayReady policies no licence can meet
/// together.
pub fn strictest(
    defaults: &DrmPolicy,
    fairplay_rental_duration_s: u32,
    packages: &[(PackageId, DrmPolicy)],
) -> Terms {
    let wv = defaults.widevine.clone().unwrap_or_default();
    let pr = defaults.playready.clone().unwrap_or_default();
    let mut widevine = WidevineTerms {
        security_level: configured(wv.security_level.unwrap_or(1)),
        hdcp: configured(wv.hdcp.unwrap_or(0)),
        license_duration_s: wv.license_duration_s.map(configured),
    };
    let mut playready = PlayReadyTerms {
        analog_video_opl: configured(pr.analog_video_opl.unwrap_or(0)),
        compressed_digital_audio_opl: configured(pr.compressed_digital_audio_opl.unwrap_or(0)),
        compressed_digital_video_opl: configured(pr.compressed_digital_video_opl.unwrap_or(0)),
        uncompressed_digital_audio_opl: configured(pr.uncompressed_digital_audio_opl.unwrap_or(0)),
        uncompressed_digital_video_opl: configured(pr.uncompressed_digital_video_opl.unwrap_or(0)),
        rights: configured(pr.rights.unwrap_or(PlayReadyRights::BuyToOwn)),
        rental_period_s: pr.rental_period_s.map(configured),
        rental_play_duration_s: pr.rental_play_duration_s.map(configured),
        persistent: configured(pr.persistent.unwrap_or(false)),
        unknown_output: pr.unknown_output.map(configured),
    };
    let mut fairplay = FairPlayTerms {
        rental_duration_s: configured(fairplay_rental_duration_s),
    };
    let higher = |a: u8, b: u8| a > b;
    let higher16 = |a: u16, b: u16| a > b;
    let shorter = |a: u32, b: u32| a < b;
    // Non-persistent is stricter; a rental below makes the licence persistent again.
    let mut non_persistent_by: Option<Setter> = None;
    for (id, policy) in packages {
        let by = Setter::Package(id.clone());
        if let Some(p) = &policy.widevine {
            tighten(&mut widevine.security_level, p.security_level, &by, higher);
            tighten(&mut widevine.hdcp, p.hdcp, &by, higher);
            tighten_optional(
                &mut widevine.license_duration_s,
                p.license_duration_s,
                &by,
                shorter,
            );
        }
        if let Some(p) = &policy.playready {
            tighten(
                &mut playready.analog_video_opl,
                p.analog_video_opl,
                &by,
                higher16,
            );
            tighten(
                &mut playready.compressed_digital_audio_opl,
                p.compressed_digital_audio_opl,
                &by,
                higher16,
            );
            tighten(
                &mut playready.compressed_digital_video_opl,
                p.compressed_digital_video_opl,
                &by,
                higher16,
            );
            tighten(
                &mut playready.uncompressed_digital_audio_opl,
                p.uncompressed_digital_audio_opl,
                &by,
                higher16,
            );
            tighten(
                &mut playready.uncompressed_digital_video_opl,
                p.uncompressed_digital_video_opl,
                &by,
                higher16,
            );
            tighten(&mut playready.rights, p.rights, &by, |a, b| a > b);
            tighten_optional(
                &mut playready.rental_period_s,
                p.rental_period_s,
                &by,
                shorter,
            );
            tighten_optional(
                &mut playready.rental_play_duration_s,
                p.rental_play_duration_s,
                &by,
                shorter,
            );
            tighten_optional(
                &mut playready.unknown_output,
                p.unknown_output,
                &by,
                |a, b| a > b,
            );
            if p.persistent == Some(false) && non_persistent_by.is_none() {
                non_persistent_by = Some(by.clone());
            }
        }
        if let Some(p) = &policy.fairplay {
            // 0 is "no rental limit": any limit is stricter.
            tighten(
                &mut fairplay.rental_duration_s,
                p.rental_duration_s.filter(|d| *d > 0),
                &by,
                |a, b| b == 0 || a < b,
            );
        }
    }
    let mut playready_unsatisfiable = None;
    if playready.rights.value == PlayReadyRights::Rental {
        if let Some(Setter::Package(no)) = &non_persistent_by {
            playready_unsatisfiable = Some(format!(
                "no PlayReady licence meets both {} (a rental, which must be persistent) and package {no} \
                 (non-persistent)",
                playready.rights.by
            ));
        } else if playready.rental_period_s.is_none() {
            playready_unsatisfiable = Some(format!(
                "the PlayReady rental {} demands has no rental period",
                playready.rights.by
            ));
        }
        playready.persistent = Set {
            value: true,
            by: playready.rights.by.clone(),
        };
    } else if let Some(by) = non_persistent_by {
        playready.persistent = Set { value: false, by };
    }
    Terms {
        widevine,
        playready,
        fairplay,
        playready_unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drm::policy::{FairPlayPolicy, PlayReadyPolicy, WidevinePolicy};
    use crate::drm::DrmSettings;

    fn package(id: &str, policy: serde_json::Value) -> (PackageId, DrmPolicy) {
        (
            PackageId::parse(id).unwrap(),
            serde_json::from_value(policy).unwrap(),
        )
    }

    #[test]
    fn the_strictest_term_wins_and_names_its_package() {
        let defaults = DrmSettings::default().defaults();
        let packages = [
            package(
                "basic",
                serde_json::json!({"widevine": {"securityLevel": 2, "licenseDurationS": 7200},
                "fairplay": {"rentalDurationS": 600}}),
            ),
            package(
                "gold",
                serde_json::json!({"widevine": {"securityLevel": 5, "hdcp": 1, "licenseDurationS": 86400},
                "playready": {"compressedDigitalVideoOpl": 500, "rights": "Rental", "rentalPeriodS": 3600},
                "fairplay": {"rentalDurationS": 0}}),
            ),
        ];
        let terms = strictest(&defaults, 0, &packages);
        assert_eq!(terms.playready_unsatisfiable, None);
        let gold = Setter::Package(PackageId::parse("gold").unwrap());
        let basic = Setter::Package(PackageId::parse("basic").unwrap());
        assert_eq!(
            terms.widevine.security_level,
            Set {
                value: 5,
                by: gold.clone()
            }
        );
        assert_eq!(
            terms.widevine.hdcp,
            Set {
                value: 1,
                by: gold.clone()
            }
        );
        assert_eq!(
            terms.widevine.license_duration_s,
            Some(Set {
                value: 7200,
                by: basic.clone()
            })
        );
        assert_eq!(terms.playready.compressed_digital_video_opl.value, 500);
        assert_eq!(terms.playready.analog_video_opl.by, Setter::Configuration);
        assert_eq!(
            terms.playready.rights,
            Set {
                value: PlayReadyRights::Rental,
                by: gold.clone()
            }
        );
        assert_eq!(
            terms.playready.persistent,
            Set {
                value: true,
                by: gold
            }
        );
        assert_eq!(
            terms.fairplay.rental_duration_s,
            Set {
                value: 600,
                by: basic
            }
        );
        // Without packages: the configuration.
        let plain = strictest(&defaults, 30, &[]);
        assert_eq!(plain.widevine.security_level, configured(1));
        assert_eq!(plain.fairplay.rental_duration_s, configured(30));
    }

    #[test]
    fn policies_no_licence_can_meet_together_are_named() {
        let defaults = DrmPolicy {
            widevine: Some(WidevinePolicy::default()),
            playready: Some(PlayReadyPolicy::default()),
            fairplay: Some(FairPlayPolicy::default()),
        };
        let packages = [
            package(
                "rent",
                serde_json::json!({"playready": {"rights": "Rental", "rentalPeriodS": 60}}),
            ),
            package(
                "stream-only",
                serde_json::json!({"playready": {"persistent": false}}),
            ),
        ];
        let terms = strictest(&defaults, 0, &packages);
        let err = terms
            .playready_unsatisfiable
            .expect("no PlayReady licence meets both");
        assert!(
            err.contains("package rent") && err.contains("package stream-only"),
            "{err}"
        );
    }
}
