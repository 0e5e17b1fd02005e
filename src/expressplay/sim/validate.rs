//! The simulated services' parameter rules as small pure functions, in the documented order, with the
//! documented error numbers (and, where ExpressPlay publishes none, the simulator's own, marked so).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::errors::{RightsError, TokenError};
use super::{
    IssuedToken, DEFAULT_DEVICE_PARAM, MAX_COOKIE_CHARS, MAX_DEVICE_ID_CHARS, MAX_EXPIRATION_SECS,
    MAX_RECORD_PAGE,
};

/// How the client asked errors to be rendered (`errorFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `errorFormat=html` (the default).
    Html,
    /// `errorFormat=json`.
    Json,
}

/// A token request that passed validation. Deliberately holds neither the content key nor the IV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidRequest {
    /// Requested error format.
    pub error_format: ErrorFormat,
    /// Absolute expiration of the token.
    pub expiration: DateTime<Utc>,
    /// `rentalDuration` in seconds.
    pub rental_duration: u32,
    /// `cookie`, if given and non-empty.
    pub cookie: Option<String>,
    /// The device restriction (the parameter named by [`TokenRules::device_param`]), if given and
    /// non-empty.
    pub device_id: Option<String>,
}

/// The account-dependent rules of a token request.
#[derive(Clone, Copy, Debug)]
pub struct TokenRules<'a> {
    /// Accepted `customerAuthenticator` values; empty accepts any well-formed one.
    pub authenticators: &'a [String],
    /// Name of the parameter carrying the device restriction (case-sensitive).
    pub device_param: &'a str,
    /// Whether the account may bind tokens to a device; when not, a device restriction gets -6008.
    pub device_binding: bool,
}

impl<'a> TokenRules<'a> {
    /// The default rules: device binding allowed, restriction in [`DEFAULT_DEVICE_PARAM`].
    pub fn new(authenticators: &'a [String]) -> Self {
        TokenRules {
            authenticators,
            device_param: DEFAULT_DEVICE_PARAM,
            device_binding: true,
        }
    }
}

/// [`validate_with`] under the default [`TokenRules`].
pub fn validate(
    params: &BTreeMap<String, String>,
    authenticators: &[String],
    now: DateTime<Utc>,
) -> Result<ValidRequest, TokenError> {
    validate_with(params, &TokenRules::new(authenticators), now)
}

/// Validates the parameters in the documented order. A parameter that is present but empty counts as
/// missing for `customerAuthenticator`, `contentKey`, `cookie` and the device restriction, and as
/// malformed everywhere else. Device binding (-6008) is checked last.
pub fn validate_with(
    params: &BTreeMap<String, String>,
    rules: &TokenRules<'_>,
    now: DateTime<Utc>,
) -> Result<ValidRequest, TokenError> {
    let get = |name: &str| params.get(name).map(String::as_str);
    let error_format = parse_error_format(get("errorFormat"))?;
    check_authenticator(get("customerAuthenticator"), rules.authenticators)?;
    check_content_key(get("contentKey"))?;
    check_iv(get("iv"))?;
    let rental_duration = parse_rental_duration(get("rentalDuration"))?;
    let expiration = parse_expiration(get("expirationTime"), now)?;
    let cookie = check_cookie(get("cookie"))?;
    let device_id = check_device_id(get(rules.device_param))?;
    if device_id.is_some() && !rules.device_binding {
        return Err(TokenError::DeviceBindingUnsupported);
    }
    Ok(ValidRequest {
        error_format,
        expiration,
        rental_duration,
        cookie,
        device_id,
    })
}

/// `errorFormat`: absent means `html`; otherwise exactly `html` or `json`.
pub fn parse_error_format(value: Option<&str>) -> Result<ErrorFormat, TokenError> {
    match value {
        None | Some("html") => Ok(ErrorFormat::Html),
        Some("json") => Ok(ErrorFormat::Json),
        Some(_) => Err(TokenError::InvalidErrorFormat),
    }
}

/// `customerAuthenticator`: `<decimal digits>,<32 hex digits>`, and in `accepted` when that is non-empty.
pub fn check_authenticator(value: Option<&str>, accepted: &[String]) -> Result<(), TokenError> {
    let value = match value {
        None | Some("") => return Err(TokenError::AuthenticatorMissing),
        Some(v) => v,
    };
    let well_formed = value.split_once(',').is_some_and(|(account, secret)| {
        !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) && is_hex32(secret)
    });
    if !well_formed || !(accepted.is_empty() || accepted.iter().any(|a| a == value)) {
        return Err(TokenError::AuthenticatorInvalid);
    }
    Ok(())
}

/// `contentKey`: required, exactly 32 hex digits.
pub fn check_content_key(value: Option<&str>) -> Result<(), TokenError> {
    match value {
        None | Some("") => Err(TokenError::ContentKeyMissing),
        Some(v) if is_hex32(v) => Ok(()),
        Some(_) => Err(TokenError::ContentKeyMalformed),
    }
}

/// `iv`: required for FairPlay, exactly 32 hex digits.
pub fn check_iv(value: Option<&str>) -> Result<(), TokenError> {
    match value {
        Some(v) if is_hex32(v) => Ok(()),
        _ => Err(TokenError::InvalidIv),
    }
}

/// `rentalDuration`: optional (default 0), decimal digits only, fits a `u32`.
pub fn parse_rental_duration(value: Option<&str>) -> Result<u32, TokenError> {
    match value {
        None => Ok(0),
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            v.parse().map_err(|_| TokenError::InvalidRentalDuration)
        }
        Some(_) => Err(TokenError::InvalidRentalDuration),
    }
}

/// `expirationTime`: optional (default `+2592000`); `+N` with N in 1..=2592000, or an RFC 3339
/// date-time with the `Z` designator, in the future and at most 30 days after `now`.
///
/// A `+` sent unencoded arrives as a space, so `" 60"` is rejected, exactly as the real service does.
pub fn parse_expiration(
    value: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TokenError> {
    let max = TimeDelta::seconds(i64::from(MAX_EXPIRATION_SECS));
    let Some(value) = value else {
        return now
            .checked_add_signed(max)
            .ok_or(TokenError::InvalidExpiration);
    };
    if let Some(digits) = value.strip_prefix('+') {
        let secs = parse_digits(digits).ok_or(TokenError::InvalidExpiration)?;
        if !(1..=u64::from(MAX_EXPIRATION_SECS)).contains(&secs) {
            return Err(TokenError::InvalidExpiration);
        }
        let delta = i64::try_from(secs).map_err(|_| TokenError::InvalidExpiration)?;
        return now
            .checked_add_signed(TimeDelta::seconds(delta))
            .ok_or(TokenError::InvalidExpiration);
    }
    let at = parse_rfc3339_z(value).ok_or(TokenError::InvalidExpiration)?;
    if at <= now || at.signed_duration_since(now) > max {
        return Err(TokenError::InvalidExpiration);
    }
    Ok(at)
}

/// An RFC 3339 date-time with an upper-case `T` separator and the `Z` zone designator only.
pub(super) fn parse_rfc3339_z(value: &str) -> Option<DateTime<Utc>> {
    if !value.ends_with('Z') || value.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// `cookie`: optional, at most 32 characters, each printable ASCII other than space (`0x21..=0x7E`;
/// the character rule is the simulator's reading of an unpublished one). Returns it when non-empty.
pub fn check_cookie(value: Option<&str>) -> Result<Option<String>, TokenError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if v.len() <= MAX_COOKIE_CHARS && v.bytes().all(|b| (0x21..=0x7E).contains(&b)) => {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(TokenError::InvalidCookie),
    }
}

/// The device restriction: optional; when non-empty, 1-256 characters of `[A-Za-z0-9._:+/=-]`
/// (the simulator's rule; -2034 is its own number). Returns it when non-empty.
pub fn check_device_id(value: Option<&str>) -> Result<Option<String>, TokenError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if is_device_id(v) => Ok(Some(v.to_owned())),
        Some(_) => Err(TokenError::InvalidDeviceId),
    }
}

fn is_device_id(value: &str) -> bool {
    (1..=MAX_DEVICE_ID_CHARS).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:+/=_-".contains(&b))
}

/// What a record-retrieval request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordQuery {
    /// No selector: the latest [`super::LATEST_RECORDS`] events.
    Latest,
    /// `cookie=<string>`: every event logged under that cookie.
    Cookie(String),
    /// `id=<event id>`: that event, if still kept.
    Id(u64),
    /// `start` + `length`: `length` events (1..=[`MAX_RECORD_PAGE`]) after skipping `start` of them,
    /// newest first (the simulator's reading of the paging parameters).
    Page {
        /// Events to skip, newest first.
        start: u64,
        /// Events to return.
        length: u64,
    },
}

/// Validates a record-retrieval request: `errorFormat` (-3004), `customerAuthenticator` (-2017/-2018),
/// then at most one selector. A present but empty `cookie`, or one breaking [`check_cookie`], is -2033;
/// any other malformed or combined selector is the simulator's -2035.
pub fn parse_record_query(
    params: &BTreeMap<String, String>,
    authenticators: &[String],
) -> Result<RecordQuery, TokenError> {
    let get = |name: &str| params.get(name).map(String::as_str);
    parse_error_format(get("errorFormat"))?;
    check_authenticator(get("customerAuthenticator"), authenticators)?;
    match (get("cookie"), get("id"), get("start"), get("length")) {
        (None, None, None, None) => Ok(RecordQuery::Latest),
        (Some(cookie), None, None, None) => match check_cookie(Some(cookie))? {
            Some(cookie) => Ok(RecordQuery::Cookie(cookie)),
            None => Err(TokenError::InvalidCookie),
        },
        (None, Some(id), None, None) => parse_digits(id)
            .map(RecordQuery::Id)
            .ok_or(TokenError::InvalidRecordQuery),
        (None, None, Some(start), Some(length)) => {
            let start = parse_digits(start).ok_or(TokenError::InvalidRecordQuery)?;
            let length = parse_digits(length)
                .filter(|l| (1..=MAX_RECORD_PAGE).contains(l))
                .ok_or(TokenError::InvalidRecordQuery)?;
            Ok(RecordQuery::Page { start, length })
        }
        _ => Err(TokenError::InvalidRecordQuery),
    }
}

/// The rules of a redemption: the token must be one the simulator issued (`token`), unexpired at `now`,
/// and presented with a well-formed `device` equal to the token's device restriction, if any.
/// Returns the device id presented.
pub fn check_redemption(
    token: Option<&IssuedToken>,
    device: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, RightsError> {
    let token = token.ok_or(RightsError::InvalidToken)?;
    // An expiration the simulator cannot read counts as passed: fail closed.
    let unexpired = DateTime::parse_from_rfc3339(&token.expiration)
        .is_ok_and(|expiration| expiration.with_timezone(&Utc) >= now);
    if !unexpired {
        return Err(RightsError::TokenExpired);
    }
    let device = match device {
        None | Some("") => return Err(RightsError::DeviceIdMissing),
        Some(d) if is_device_id(d) => d,
        Some(_) => return Err(RightsError::DeviceIdInvalid),
    };
    match &token.device_id {
        Some(bound) if bound != device => Err(RightsError::DeviceNotAuthorized),
        _ => Ok(device.to_owned()),
    }
}

pub(super) fn is_hex32(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decimal digits only (no sign, no spaces), parsed as `u64`.
pub(super) fn parse_digits(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}
