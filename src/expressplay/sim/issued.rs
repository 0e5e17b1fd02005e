//! What the simulator remembers about the tokens it issued, whatever the DRM: exactly what was asked
//! for, so that tests can assert on it, and what redemption checks.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::drm::{Drm, PlayReadyRights, UnknownOutput};

use super::IssuedToken;

/// Issued tokens remembered for redemption; beyond this the oldest are forgotten (as if expired), so a
/// long load test does not grow the process without bound.
pub(super) const MAX_REMEMBERED_TOKENS: usize = 100_000;

/// Everything the simulator remembers about one token it issued: the DRM, the key and what the
/// licence is to carry, as the token request asked (the parameters sees sent).
///
/// Unlike [`IssuedToken`] it holds the content key (and the FairPlay IV): the simulator is a test
/// double, its keys are test keys, and tests assert on them. It never logs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedLicence {
    /// The token service that issued it.
    pub drm: Drm,
    /// Cookie, expiration, issue time, FairPlay rental duration and device restriction (for Widevine
    /// and PlayReady tokens `rental_duration` is 0 and `device_id` is `None`).
    pub token: IssuedToken,
    /// `kid`: 32 hex digits as sent for Widevine and PlayReady; FairPlay's optional `kid`, as sent and
    /// unchecked, when non-empty.
    pub kid: Option<String>,
    /// `contentKey`, 32 hex digits as sent.
    pub content_key: String,
    /// `iv` (FairPlay only), 32 hex digits as sent.
    pub iv: Option<String>,
    /// The DRM-specific terms.
    pub terms: LicenceTerms,
}

impl IssuedLicence {
    /// The Widevine terms, if it is a Widevine token.
    pub fn widevine(&self) -> Option<&WidevineLicence> {
        match &self.terms {
            LicenceTerms::Widevine(w) => Some(w),
            _ => None,
        }
    }

    /// The PlayReady terms, if it is a PlayReady token.
    pub fn playready(&self) -> Option<&PlayReadyLicence> {
        match &self.terms {
            LicenceTerms::PlayReady(p) => Some(p),
            _ => None,
        }
    }

    /// The FairPlay terms, if it is a FairPlay token.
    pub fn fairplay(&self) -> Option<&FairPlayLicence> {
        match &self.terms {
            LicenceTerms::FairPlay(f) => Some(f),
            _ => None,
        }
    }

    /// A check value of the content key, as the (simulated) Widevine and PlayReady redemptions
    /// answer it instead of the key: the first 8 bytes of SHA-256 of the 16 key bytes, in lower-case
    /// hex (see [`key_check`]).
    pub fn key_check(&self) -> String {
        key_check(&self.content_key)
    }
}

/// The first 8 bytes of SHA-256 of the key's bytes (`content_key` read as hex; unreadable hex is
/// hashed as no bytes), in lower-case hex: 16 characters.
pub fn key_check(content_key: &str) -> String {
    let bytes = hex::decode(content_key).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    hex::encode(&digest.as_ref()[..8])
}

/// The DRM-specific terms of an issued token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LicenceTerms {
    /// `/hms/fp/token`.
    FairPlay(FairPlayLicence),
    /// `/hms/wv/token`.
    Widevine(WidevineLicence),
    /// `/hms/pr/token`.
    PlayReady(PlayReadyLicence),
}

/// FairPlay terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FairPlayLicence {
    /// `rentalDuration` in seconds (0 = none).
    pub rental_duration: u32,
}

/// Widevine terms, as the token request gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WidevineLicence {
    /// `securityLevel`, 1-5.
    pub security_level: u8,
    /// `hdcpOutputControl`, 0-2.
    pub hdcp_output_control: u8,
    /// `licenseDuration` in seconds; `None` = not sent (unlimited).
    pub license_duration: Option<u32>,
    /// `contentId`, when non-empty.
    pub content_id: Option<String>,
    /// `generalFlags` when sent (only `0000` is accepted).
    pub general_flags: Option<String>,
    /// Every `wvExtension` (`type,base64`), in order.
    pub extensions: Vec<String>,
}

/// PlayReady terms, as the token request gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayReadyLicence {
    /// `rightsType`.
    pub rights: PlayReadyRights,
    /// The rental terms, for a `Rental` only (the `rental.*` parameters of a `BuyToOwn` are ignored).
    pub rental: Option<PlayReadyRental>,
    /// `analogVideoOPL`.
    pub analog_video_opl: u16,
    /// `compressedDigitalAudioOPL`.
    pub compressed_digital_audio_opl: u16,
    /// `compressedDigitalVideoOPL`.
    pub compressed_digital_video_opl: u16,
    /// `uncompressedDigitalAudioOPL`.
    pub uncompressed_digital_audio_opl: u16,
    /// `uncompressedDigitalVideoOPL`.
    pub uncompressed_digital_video_opl: u16,
    /// `unknownOutputBehavior`, when sent.
    pub unknown_output: Option<UnknownOutput>,
    /// `outputControlFlags` (8 hex digits as sent), when sent.
    pub output_control_flags: Option<String>,
    /// `generalFlags=00000001`: a persistent licence.
    pub persistent: bool,
    /// `extensionType`, when sent (with `extension_payload`).
    pub extension_type: Option<String>,
    /// `extensionPayload` (base64 as sent), when sent (with `extension_type`).
    pub extension_payload: Option<String>,
}

/// The rental terms of a PlayReady `Rental`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayReadyRental {
    /// `rental.periodEndTime`, made absolute (`+N` is N seconds after the token's `issued_at`).
    pub period_end: DateTime<Utc>,
    /// `rental.playDuration` in seconds, when sent.
    pub play_duration: Option<u32>,
}

/// A FairPlay token without key material, for tests of the bounded store.
#[cfg(test)]
impl From<IssuedToken> for IssuedLicence {
    fn from(token: IssuedToken) -> Self {
        IssuedLicence {
            drm: Drm::FairPlay,
            terms: LicenceTerms::FairPlay(FairPlayLicence {
                rental_duration: token.rental_duration,
            }),
            token,
            kid: None,
            content_key: String::new(),
            iv: None,
        }
    }
}

/// The tokens issued, by token, the oldest forgotten first beyond [`MAX_REMEMBERED_TOKENS`].
#[derive(Debug, Default)]
pub(super) struct IssuedTokens {
    pub(super) by_token: HashMap<String, IssuedLicence>,
    pub(super) order: VecDeque<String>,
    /// Tokens issued since the start, every DRM.
    pub(super) issued: usize,
    /// Tokens issued since the start, by DRM.
    pub(super) issued_by_drm: BTreeMap<Drm, usize>,
}

impl IssuedTokens {
    pub(super) fn insert(&mut self, token: String, issued: impl Into<IssuedLicence>) {
        let issued = issued.into();
        while self.order.len() >= MAX_REMEMBERED_TOKENS {
            if let Some(oldest) = self.order.pop_front() {
                self.by_token.remove(&oldest);
            }
        }
        *self.issued_by_drm.entry(issued.drm).or_default() += 1;
        self.order.push_back(token.clone());
        self.by_token.insert(token, issued);
        self.issued += 1;
    }

    pub(super) fn get(&self, token: &str) -> Option<&IssuedLicence> {
        self.by_token.get(token)
    }

    /// The remembered tokens, oldest first.
    pub(super) fn remembered(&self) -> impl Iterator<Item = (&String, &IssuedLicence)> {
        self.order
            .iter()
            .filter_map(|token| self.by_token.get_key_value(token))
    }
}
