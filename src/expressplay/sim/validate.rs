//! The token service's parameter rules as small pure functions, in the documented order, with the
//! documented error numbers.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};

use super::{MAX_COOKIE_CHARS, MAX_EXPIRATION_SECS};

/// How the client asked errors to be rendered (`errorFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `errorFormat=html` (the default).
    Html,
    /// `errorFormat=json`.
    Json,
}

/// The documented token-service errors the simulator produces from parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// -3004: `errorFormat` is neither `html` nor `json`.
    #[error("Invalid error format")]
    InvalidErrorFormat,
    /// -2017: no `customerAuthenticator`.
    #[error("Authenticator must be supplied")]
    AuthenticatorMissing,
    /// -2018: malformed or unknown `customerAuthenticator`.
    #[error("Authenticator invalid")]
    AuthenticatorInvalid,
    /// -2005: no `contentKey`.
    #[error("Invalid content encryption key")]
    ContentKeyMissing,
    /// -2027: `contentKey` is not 32 hex digits.
    #[error("Content key must be 32 hex digits")]
    ContentKeyMalformed,
    /// -6003: `iv` missing or not 32 hex digits.
    #[error("Invalid iv")]
    InvalidIv,
    /// -6007: `rentalDuration` is not a non-negative 32-bit integer.
    #[error("Invalid rental duration")]
    InvalidRentalDuration,
    /// -2002: `expirationTime` malformed, in the past, or beyond 30 days.
    #[error("Invalid token expiration time")]
    InvalidExpiration,
    /// -2033: `cookie` longer than 32 characters.
    #[error("Invalid cookie")]
    InvalidCookie,
}

impl TokenError {
    /// The ExpressPlay error number.
    pub fn code(self) -> i64 {
        match self {
            TokenError::InvalidErrorFormat => -3004,
            TokenError::AuthenticatorMissing => -2017,
            TokenError::AuthenticatorInvalid => -2018,
            TokenError::ContentKeyMissing => -2005,
            TokenError::ContentKeyMalformed => -2027,
            TokenError::InvalidIv => -6003,
            TokenError::InvalidRentalDuration => -6007,
            TokenError::InvalidExpiration => -2002,
            TokenError::InvalidCookie => -2033,
        }
    }

    /// The HTTP status: 401 for authentication errors, 400 otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            TokenError::AuthenticatorMissing | TokenError::AuthenticatorInvalid => {
                StatusCode::UNAUTHORIZED
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
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
    /// `deviceId`, if given and non-empty.
    pub device_id: Option<String>,
}

/// Validates the parameters in the documented order. A parameter that is present but empty counts as
/// missing for `customerAuthenticator` and `contentKey`, and as malformed everywhere else.
pub fn validate(
    params: &BTreeMap<String, String>,
    authenticators: &[String],
    now: DateTime<Utc>,
) -> Result<ValidRequest, TokenError> {
    let get = |name: &str| params.get(name).map(String::as_str);
    let error_format = parse_error_format(get("errorFormat"))?;
    check_authenticator(get("customerAuthenticator"), authenticators)?;
    check_content_key(get("contentKey"))?;
    check_iv(get("iv"))?;
    let rental_duration = parse_rental_duration(get("rentalDuration"))?;
    let expiration = parse_expiration(get("expirationTime"), now)?;
    let cookie = check_cookie(get("cookie"))?;
    let device_id = get("deviceId").filter(|d| !d.is_empty()).map(str::to_owned);
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
    // RFC 3339 with an upper-case 'T' separator and the 'Z' zone designator only.
    if !value.ends_with('Z') || value.as_bytes().get(10) != Some(&b'T') {
        return Err(TokenError::InvalidExpiration);
    }
    let at = DateTime::parse_from_rfc3339(value)
        .map_err(|_| TokenError::InvalidExpiration)?
        .with_timezone(&Utc);
    if at <= now || at.signed_duration_since(now) > max {
        return Err(TokenError::InvalidExpiration);
    }
    Ok(at)
}

/// `cookie`: optional, at most 32 characters. Returns it when non-empty.
pub fn check_cookie(value: Option<&str>) -> Result<Option<String>, TokenError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() <= MAX_COOKIE_CHARS => Ok(Some(v.to_owned())),
        Some(_) => Err(TokenError::InvalidCookie),
    }
}

fn is_hex32(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decimal digits only (no sign, no spaces), parsed as `u64`.
fn parse_digits(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}
