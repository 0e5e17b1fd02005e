//! The simulated Widevine token service, `/hms/wv/token`: its parameter rules and its answer, a
//! `text/uri-list` token URL pointing at `/hms/wv/rights/`.
//!
//! Validation order: `errorFormat` (-3004), `customerAuthenticator` (-2017/-2018, 401), `kid`
//! (-4018/-4020/-4021/-4022), the key (-5007/-2005/-2027), `securityLevel` (-7003/-7004),
//! `hdcpOutputControl` (-7006/-2034), `licenseDuration` (-7007), `expirationTime` (-2002), `cookie`
//! (-2033), `generalFlags` (-5003), every `wvExtension` (-7009), and last a device restriction
//! (-7002).

use chrono::{DateTime, Utc};

use super::licence_rules::{
    check_head, check_tail, is_base64, parse_positive, Pairs, ValidLicenceRequest,
};
use super::validate::TokenRules;
use super::{TokenError, WidevineLicence};

/// [`ValidLicenceRequest`] of the Widevine route.
pub type ValidWidevineRequest = ValidLicenceRequest<WidevineLicence>;

/// The only `generalFlags` value the Widevine service accepts.
pub const WIDEVINE_GENERAL_FLAGS: &str = "0000";

/// Validates a Widevine token request (`pairs`: decoded parameters in order, repeats kept) in the
/// order of the [module documentation](self).
pub fn validate_widevine(
    pairs: &[(String, String)],
    rules: &TokenRules<'_>,
    now: DateTime<Utc>,
) -> Result<ValidWidevineRequest, TokenError> {
    let p = Pairs(pairs);
    let (error_format, kid, content_key) = check_head(p, rules)?;
    let security_level = check_security_level(p.get("securityLevel"))?;
    let hdcp_output_control = check_hdcp_output_control(p.get("hdcpOutputControl"))?;
    let license_duration = parse_license_duration(p.get("licenseDuration"))?;
    let (expiration, cookie) = check_tail(p, now)?;
    let general_flags = match p.get("generalFlags") {
        None => None,
        Some(WIDEVINE_GENERAL_FLAGS) => Some(WIDEVINE_GENERAL_FLAGS.to_owned()),
        Some(_) => return Err(TokenError::InvalidGeneralFlags),
    };
    let extensions = p
        .all("wvExtension")
        .map(check_wv_extension)
        .collect::<Result<Vec<_>, _>>()?;
    if p.non_empty(rules.device_param).is_some() {
        return Err(TokenError::WidevineDeviceBinding);
    }
    Ok(ValidLicenceRequest {
        error_format,
        kid,
        content_key,
        expiration,
        cookie,
        terms: WidevineLicence {
            security_level,
            hdcp_output_control,
            license_duration,
            content_id: p.non_empty("contentId").map(str::to_owned),
            general_flags,
            extensions,
        },
    })
}

/// `securityLevel`: required (-7003 when absent or empty), one digit 1-5 (else -7004).
pub fn check_security_level(value: Option<&str>) -> Result<u8, TokenError> {
    match value {
        None | Some("") => Err(TokenError::SecurityLevelMissing),
        Some(v) => one_digit(v, 1..=5).ok_or(TokenError::SecurityLevelInvalid),
    }
}

/// `hdcpOutputControl`: required (-7006 when absent or empty), one digit 0-2 (else -2034, invalid
/// output control).
pub fn check_hdcp_output_control(value: Option<&str>) -> Result<u8, TokenError> {
    match value {
        None | Some("") => Err(TokenError::HdcpMissing),
        Some(v) => one_digit(v, 0..=2).ok_or(TokenError::InvalidOutputControl),
    }
}

/// `licenseDuration`: optional (`None` = unlimited); a positive 32-bit integer (else -7007).
pub fn parse_license_duration(value: Option<&str>) -> Result<Option<u32>, TokenError> {
    value
        .map(|v| parse_positive(v).ok_or(TokenError::InvalidLicenseDuration))
        .transpose()
}

/// One `wvExtension`: `type,base64` with a non-empty type of `[A-Za-z0-9_.-]` and a non-empty
/// base64 payload (else -7009). Returns it as sent.
pub fn check_wv_extension(value: &str) -> Result<String, TokenError> {
    let ok = value.split_once(',').is_some_and(|(kind, payload)| {
        !kind.is_empty()
            && kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && is_base64(payload)
    });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(TokenError::InvalidWvExtension)
    }
}

fn one_digit(value: &str, range: std::ops::RangeInclusive<u8>) -> Option<u8> {
    match value.as_bytes() {
        [d] if d.is_ascii_digit() => Some(d - b'0').filter(|n| range.contains(n)),
        _ => None,
    }
}
