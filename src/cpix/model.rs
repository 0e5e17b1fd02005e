//! The values a CPIX document carries: key IDs, DRM systems, schemes, and the parsed request.

use std::fmt;
use std::str::FromStr;

use crate::keys::ContentKey;

use super::xml::Element;

/// A 16-byte key ID. Shown as a lowercase hyphenated UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid(pub [u8; 16]);

/// A key ID that is not a hyphenated UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a UUID (8-4-4-4-12 hex digits)")]
pub struct KidError;

impl Kid {
    /// Accepts a hyphenated UUID (`8-4-4-4-12` hex digits, any case), as CPIX writes KIDs.
    pub fn parse(raw: &str) -> Result<Kid, KidError> {
        let bytes = raw.as_bytes();
        if bytes.len() != 36 {
            return Err(KidError);
        }
        let mut digits = [0u8; 32];
        let mut n = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b != b'-' {
                    return Err(KidError);
                }
            } else {
                digits[n] = b;
                n += 1;
            }
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(digits, &mut out).map_err(|_| KidError)?;
        Ok(Kid(out))
    }

    /// 32 lowercase hex digits, no hyphens.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for Kid {
    type Err = KidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kid::parse(s)
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.hex();
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({self})")
    }
}

/// The DRM systems sees signals for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrmSystem {
    FairPlay,
    Widevine,
    PlayReady,
}

impl DrmSystem {
    /// All supported systems.
    pub const ALL: [DrmSystem; 3] = [
        DrmSystem::FairPlay,
        DrmSystem::Widevine,
        DrmSystem::PlayReady,
    ];

    /// The DASH-IF system ID, lowercase.
    pub fn system_id(&self) -> &'static str {
        match self {
            DrmSystem::FairPlay => "94ce86fb-07ff-4f43-adb8-93d2fa968ca2",
            DrmSystem::Widevine => "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
            DrmSystem::PlayReady => "9a04f079-9840-4286-ab92-e65be0885f95",
        }
    }

    /// `fairplay`, `widevine` or `playready`.
    pub fn name(&self) -> &'static str {
        match self {
            DrmSystem::FairPlay => "fairplay",
            DrmSystem::Widevine => "widevine",
            DrmSystem::PlayReady => "playready",
        }
    }

    /// The system with this system ID (any case), if it is one sees supports.
    pub fn from_system_id(raw: &str) -> Option<DrmSystem> {
        Self::ALL
            .into_iter()
            .find(|s| s.system_id().eq_ignore_ascii_case(raw))
    }

    /// The system ID as 16 bytes (big-endian UUID order, as in a `pssh` box).
    pub fn system_id_bytes(&self) -> [u8; 16] {
        Kid::parse(self.system_id())
            .expect("the system IDs above are UUIDs")
            .0
    }
}

/// A Common Encryption protection scheme (`ContentKey@commonEncryptionScheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionScheme {
    /// AES-CTR, full sample.
    Cenc,
    /// AES-CBC, full sample.
    Cbc1,
    /// AES-CTR, pattern.
    Cens,
    /// AES-CBC, pattern (FairPlay, and the common choice for all three systems).
    Cbcs,
}

impl EncryptionScheme {
    /// The four-character code as written in CPIX.
    pub fn as_str(&self) -> &'static str {
        match self {
            EncryptionScheme::Cenc => "cenc",
            EncryptionScheme::Cbc1 => "cbc1",
            EncryptionScheme::Cens => "cens",
            EncryptionScheme::Cbcs => "cbcs",
        }
    }

    /// The scheme with this exact four-character code.
    pub fn parse(raw: &str) -> Option<EncryptionScheme> {
        [Self::Cenc, Self::Cbc1, Self::Cens, Self::Cbcs]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// The four-character code as a big-endian `u32` (`'cbcs'` = `0x63626373`).
    pub fn fourcc(&self) -> u32 {
        let b = self.as_str().as_bytes();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// AES-CBC schemes (`cbc1`, `cbcs`); the others are AES-CTR.
    pub fn is_cbc(&self) -> bool {
        matches!(self, EncryptionScheme::Cbc1 | EncryptionScheme::Cbcs)
    }
}

/// One `ContentKey` of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedKey {
    pub kid: Kid,
    /// Always present in an accepted SPEKE v2 request.
    pub scheme: Option<EncryptionScheme>,
    /// The IV the encryptor proposes (`explicitIV`): a new key is made with it; a key that exists
    /// keeps its own IV, which the answer states.
    pub explicit_iv: Option<[u8; 16]>,
}

/// One `DRMSystem` of a request: which signalling the packager wants for which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrmSystemRequest {
    pub kid: Kid,
    pub system: DrmSystem,
    pub pssh: bool,
    pub content_protection_data: bool,
    pub hls_media: bool,
    pub hls_master: bool,
    pub smooth_streaming: bool,
}

/// A validated SPEKE v2 request. Holds no key material.
#[derive(Debug, Clone)]
pub struct CpixRequest {
    pub content_id: String,
    pub version: String,
    /// In document order; KIDs unique.
    pub keys: Vec<RequestedKey>,
    pub drm_systems: Vec<DrmSystemRequest>,
    /// `ContentKeyPeriodList`, echoed unchanged.
    pub(crate) periods: Option<Element>,
    /// `ContentKeyUsageRuleList`, echoed unchanged.
    pub(crate) usage_rules: Option<Element>,
}

impl CpixRequest {
    /// The requested key with this KID.
    pub fn key(&self, kid: &Kid) -> Option<&RequestedKey> {
        self.keys.iter().find(|k| k.kid == *kid)
    }
}

/// The answer for one requested key: the key itself and, for FairPlay, the `skd://` URI players use.
#[derive(Debug)]
pub struct KeyAnswer<'a> {
    pub kid: Kid,
    pub key: &'a ContentKey,
    /// Written into the FairPlay HLS tags; unused when the request has no FairPlay `DRMSystem`.
    pub skd_uri: String,
}

/// Settings of the DRM signalling written into answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignallingSettings {
    /// PlayReady license acquisition URL (`LA_URL` in the PlayReady header); left out when `None`.
    pub playready_la_url: Option<String>,
}

/// A key read from a CPIX key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentKey {
    pub kid: Kid,
    /// Key from `pskc:PlainValue`, IV from `ContentKey@explicitIV` (required: sees keeps the IV with
    /// the key, so a key file without it is refused rather than given an invented IV).
    pub key: ContentKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_parse_display_and_hex() {
        let kid = Kid::parse("98EE5596-cd3e-a20d-163a-e382420c6eff").unwrap();
        assert_eq!(kid.to_string(), "98ee5596-cd3e-a20d-163a-e382420c6eff");
        assert_eq!(kid.hex(), "98ee5596cd3ea20d163ae382420c6eff");
        assert_eq!(
            format!("{kid:?}"),
            "Kid(98ee5596-cd3e-a20d-163a-e382420c6eff)"
        );
        assert_eq!(
            "98ee5596-cd3e-a20d-163a-e382420c6eff".parse::<Kid>(),
            Ok(kid)
        );
        for bad in [
            "",
            "98ee5596cd3ea20d163ae382420c6eff",
            "98ee5596-cd3e-a20d-163a-e382420c6ef",
            "98ee5596-cd3e-a20d-163a-e382420c6efg",
            "98ee5596+cd3e-a20d-163a-e382420c6eff",
            " 98ee5596-cd3e-a20d-163a-e382420c6ef",
            "{98ee5596-cd3e-a20d-163a-e382420c6e}",
        ] {
            assert_eq!(Kid::parse(bad), Err(KidError), "{bad:?}");
        }
    }

    #[test]
    fn systems_and_schemes() {
        assert_eq!(
            DrmSystem::from_system_id("EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED"),
            Some(DrmSystem::Widevine)
        );
        assert_eq!(
            DrmSystem::from_system_id("81376844-f976-481e-a84e-cc25d39b0b33"),
            None
        );
        assert_eq!(DrmSystem::PlayReady.name(), "playready");
        assert_eq!(
            DrmSystem::FairPlay.system_id_bytes()[..4],
            [0x94, 0xce, 0x86, 0xfb]
        );
        assert_eq!(EncryptionScheme::Cbcs.fourcc(), 0x6362_6373);
        assert_eq!(EncryptionScheme::Cenc.fourcc(), 1_667_591_779);
        assert_eq!(
            EncryptionScheme::parse("cens"),
            Some(EncryptionScheme::Cens)
        );
        assert_eq!(EncryptionScheme::parse("CBCS"), None);
        assert!(EncryptionScheme::Cbc1.is_cbc() && !EncryptionScheme::Cens.is_cbc());
    }
}
