//! The simulated PlayReady token service, `/hms/pr/token`: its parameter rules. It answers JSON
//! `{"licenseAcquisitionUrl": "http://{addr}/hms/pr/rights/", "token": …}`, or a `text/uri-list`
//! token URL when [`super::SimConfig::playready_uri_list`] is set.
//!
//! Validation order: `errorFormat` (-3004), `customerAuthenticator` (-2017/-2018, 401), `kid`
//! (-4018/-4020/-4021/-4022), the key (-5007/-2005/-2027), `rightsType` (-2020/-2021); for a
//! `Rental`, `rental.periodEndTime` (-2022) and `rental.playDuration` (-2025); the five OPLs in the
//! order `analogVideoOPL`, `compressedDigitalAudioOPL`, `compressedDigitalVideoOPL`,
//! `uncompressedDigitalAudioOPL`, `uncompressedDigitalVideoOPL` (-5006 missing, -2034 not 0-999);
//! `unknownOutputBehavior` (-5001), `outputControlFlags` (-2008), `generalFlags` (-5003), a rental
//! that is not persistent (-5003), `extensionType` (-2036), `extensionPayload` (-2037),
//! `expirationTime` (-2002), `cookie` (-2033), and last a device restriction (-5004/-5005).

use chrono::{DateTime, TimeDelta, Utc};

use crate::drm::{PlayReadyRights, UnknownOutput};

use super::licence_rules::{
    check_head, check_tail, is_base64, parse_positive, Pairs, ValidLicenceRequest,
};
use super::validate::{is_hex32, parse_rfc3339_z, TokenRules};
use super::{PlayReadyLicence, PlayReadyRental, TokenError};

/// [`ValidLicenceRequest`] of the PlayReady route.
pub type ValidPlayReadyRequest = ValidLicenceRequest<PlayReadyLicence>;

/// `generalFlags` of a non-persistent licence.
pub const PLAYREADY_NOT_PERSISTENT: &str = "00000000";
/// `generalFlags` of a persistent licence.
pub const PLAYREADY_PERSISTENT: &str = "00000001";
/// Highest OPL value.
pub const MAX_OPL: u16 = 999;

/// The five output protection levels, in the order they are checked.
pub const OPL_PARAMS: [&str; 5] = [
    "analogVideoOPL",
    "compressedDigitalAudioOPL",
    "compressedDigitalVideoOPL",
    "uncompressedDigitalAudioOPL",
    "uncompressedDigitalVideoOPL",
];

/// Validates a PlayReady token request (`pairs`: decoded parameters in order, repeats kept) in the
/// order of the [module documentation](self).
pub fn validate_playready(
    pairs: &[(String, String)],
    rules: &TokenRules<'_>,
    now: DateTime<Utc>,
) -> Result<ValidPlayReadyRequest, TokenError> {
    let p = Pairs(pairs);
    let (error_format, kid, content_key) = check_head(p, rules)?;
    let rights = parse_rights_type(p.get("rightsType"))?;
    let rental = match rights {
        PlayReadyRights::BuyToOwn => None,
        PlayReadyRights::Rental => Some(PlayReadyRental {
            period_end: parse_rental_period_end(p.get("rental.periodEndTime"), now)?,
            play_duration: parse_play_duration(p.get("rental.playDuration"))?,
        }),
    };
    let mut opls = [0u16; 5];
    for (opl, name) in opls.iter_mut().zip(OPL_PARAMS) {
        *opl = parse_opl(p.get(name))?;
    }
    let unknown_output = p
        .get("unknownOutputBehavior")
        .map(parse_unknown_output)
        .transpose()?;
    let output_control_flags = p
        .get("outputControlFlags")
        .map(check_output_control_flags)
        .transpose()?;
    let persistent = parse_general_flags(p.get("generalFlags"))?;
    if rental.is_some() && !persistent {
        return Err(TokenError::RentalNotPersistent);
    }
    let (extension_type, extension_payload) =
        check_extension(p.get("extensionType"), p.get("extensionPayload"))?.unzip();
    let (expiration, cookie) = check_tail(p, now)?;
    if let Some(device) = p.non_empty(rules.device_param) {
        return Err(if is_hex32(device) {
            TokenError::PlayReadyDeviceIdInvalid
        } else {
            TokenError::PlayReadyDeviceIdMalformed
        });
    }
    let [analog_video_opl, compressed_digital_audio_opl, compressed_digital_video_opl, uncompressed_digital_audio_opl, uncompressed_digital_video_opl] =
        opls;
    Ok(ValidLicenceRequest {
        error_format,
        kid,
        content_key,
        expiration,
        cookie,
        terms: PlayReadyLicence {
            rights,
            rental,
            analog_video_opl,
            compressed_digital_audio_opl,
            compressed_digital_video_opl,
            uncompressed_digital_audio_opl,
            uncompressed_digital_video_opl,
            unknown_output,
            output_control_flags,
            persistent,
            extension_type,
            extension_payload,
        },
    })
}

/// `rightsType`: required (-2020 when absent or empty), exactly `BuyToOwn` or `Rental` (else -2021).
pub fn parse_rights_type(value: Option<&str>) -> Result<PlayReadyRights, TokenError> {
    match value {
        None | Some("") => Err(TokenError::RightsTypeMissing),
        Some("BuyToOwn") => Ok(PlayReadyRights::BuyToOwn),
        Some("Rental") => Ok(PlayReadyRights::Rental),
        Some(_) => Err(TokenError::RightsTypeInvalid),
    }
}

/// `rental.periodEndTime` of a `Rental`: required (-2022 when absent or empty); `+N` with N a
/// positive 32-bit integer (N seconds after `now`), or an RFC 3339 `Z` date-time after `now`; no upper
/// bound (the simulator's choice). Anything else is -2022 too.
pub fn parse_rental_period_end(
    value: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TokenError> {
    let value = match value {
        None | Some("") => return Err(TokenError::RentalPeriodEndMissing),
        Some(v) => v,
    };
    let end = match value.strip_prefix('+') {
        Some(digits) => parse_positive(digits)
            .and_then(|secs| now.checked_add_signed(TimeDelta::seconds(i64::from(secs)))),
        None => parse_rfc3339_z(value).filter(|at| *at > now),
    };
    end.ok_or(TokenError::RentalPeriodEndInvalid)
}

/// `rental.playDuration`: optional; a positive 32-bit integer (else -2025).
pub fn parse_play_duration(value: Option<&str>) -> Result<Option<u32>, TokenError> {
    value
        .map(|v| parse_positive(v).ok_or(TokenError::RentalPlayDurationInvalid))
        .transpose()
}

/// One OPL: required (-5006 when absent or empty), decimal digits 0-999 (else -2034).
pub fn parse_opl(value: Option<&str>) -> Result<u16, TokenError> {
    match value {
        None | Some("") => Err(TokenError::OplMissing),
        Some(v) => super::validate::parse_digits(v)
            .filter(|n| *n <= u64::from(MAX_OPL))
            .and_then(|n| u16::try_from(n).ok())
            .ok_or(TokenError::InvalidOutputControl),
    }
}

/// `unknownOutputBehavior`: exactly `Allow`, `Disallow` or `SDOnly` (else -5001).
pub fn parse_unknown_output(value: &str) -> Result<UnknownOutput, TokenError> {
    match value {
        "Allow" => Ok(UnknownOutput::Allow),
        "Disallow" => Ok(UnknownOutput::Disallow),
        "SDOnly" => Ok(UnknownOutput::SdOnly),
        _ => Err(TokenError::UnknownOutputInvalid),
    }
}

/// `outputControlFlags`: 8 hex digits, 4 bytes (else -2008). Returned as sent.
pub fn check_output_control_flags(value: &str) -> Result<String, TokenError> {
    if value.len() == 8 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_owned())
    } else {
        Err(TokenError::OutputControlFlagsInvalid)
    }
}

/// `generalFlags`: optional; `00000000` (not persistent, the default) or `00000001` (persistent),
/// else -5003. Returns whether the licence is persistent.
pub fn parse_general_flags(value: Option<&str>) -> Result<bool, TokenError> {
    match value {
        None | Some(PLAYREADY_NOT_PERSISTENT) => Ok(false),
        Some(PLAYREADY_PERSISTENT) => Ok(true),
        Some(_) => Err(TokenError::InvalidGeneralFlags),
    }
}

/// `extensionType` and `extensionPayload`: both absent, or both present with a type of exactly 4
/// printable ASCII characters (else -2036) and a base64 payload (else -2037). A payload without a
/// type is -2036, a type without a payload -2037.
/// Returns (type, payload) when given.
pub fn check_extension(
    kind: Option<&str>,
    payload: Option<&str>,
) -> Result<Option<(String, String)>, TokenError> {
    if kind.is_none() && payload.is_none() {
        return Ok(None);
    }
    let kind = kind
        .filter(|k| k.len() == 4 && k.bytes().all(|b| (0x21..=0x7E).contains(&b)))
        .ok_or(TokenError::ExtensionTypeInvalid)?;
    let payload = payload
        .filter(|p| is_base64(p))
        .ok_or(TokenError::ExtensionPayloadInvalid)?;
    Ok(Some((kind.to_owned(), payload.to_owned())))
}
