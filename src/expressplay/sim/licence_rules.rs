//! Parameter rules shared by the Widevine and PlayReady token routes: the request's head (error
//! format, authenticator, kid, key), its tail (expiration, cookie), and small value rules.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use chrono::{DateTime, Utc};

use super::validate::{
    check_authenticator, check_content_key, check_cookie, is_hex32, parse_digits,
    parse_error_format, parse_expiration, ErrorFormat, TokenRules,
};
use super::TokenError;

/// Longest name after `^` in a `kid` naming a key stored at ExpressPlay.
pub const MAX_KID_NAME_CHARS: usize = 64;

/// Standard base64 alphabet, padding optional (the simulator's reading of "base64").
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A Widevine or PlayReady token request that passed validation: the common part and the DRM's
/// `terms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidLicenceRequest<T> {
    /// Requested error format.
    pub error_format: ErrorFormat,
    /// `kid`, 32 hex digits as sent.
    pub kid: String,
    /// `contentKey`, 32 hex digits as sent.
    pub content_key: String,
    /// Absolute expiration of the token.
    pub expiration: DateTime<Utc>,
    /// `cookie`, if given and non-empty.
    pub cookie: Option<String>,
    /// The DRM-specific terms.
    pub terms: T,
}

/// The decoded parameters of a request, in order, repeats kept: [`Pairs::get`] finds the first
/// occurrence (as the FairPlay route's map keeps it), [`Pairs::all`] every one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pairs<'a>(pub(super) &'a [(String, String)]);

impl<'a> Pairs<'a> {
    pub(super) fn get(self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn all(self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that is present and non-empty.
    pub(super) fn non_empty(self, name: &str) -> Option<&'a str> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

/// The head of a Widevine or PlayReady request, in order: `errorFormat` (-3004),
/// `customerAuthenticator` (-2017/-2018), `kid` ([`check_kid`]), the key ([`check_key_source`]).
/// Returns the error format, the kid and the content key.
pub(super) fn check_head(
    p: Pairs<'_>,
    rules: &TokenRules<'_>,
) -> Result<(ErrorFormat, String, String), TokenError> {
    let error_format = parse_error_format(p.get("errorFormat"))?;
    check_authenticator(p.get("customerAuthenticator"), rules.authenticators)?;
    let kid = check_kid(p.get("kid"))?;
    let content_key = check_key_source(p.get("contentKey"), p.get("kek"), p.get("ek"))?;
    Ok((error_format, kid, content_key))
}

/// The tail of a Widevine or PlayReady request, in order: `expirationTime` (-2002), `cookie` (-2033).
pub(super) fn check_tail(
    p: Pairs<'_>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, Option<String>), TokenError> {
    let expiration = parse_expiration(p.get("expirationTime"), now)?;
    let cookie = check_cookie(p.get("cookie"))?;
    Ok((expiration, cookie))
}

/// `kid`: required (-4018 when absent or empty); 32 hex digits, returned as sent. `^name` (a key
/// stored at ExpressPlay): `^` then 1-64 characters, else -4021; a well-formed one is -4022, since
/// the simulator keeps no key storage. Anything else is -4020.
pub fn check_kid(value: Option<&str>) -> Result<String, TokenError> {
    match value {
        None | Some("") => Err(TokenError::KidMissing),
        Some(v) if is_hex32(v) => Ok(v.to_owned()),
        Some(v) => match v.strip_prefix('^') {
            Some(name) if name.is_empty() || name.chars().count() > MAX_KID_NAME_CHARS => {
                Err(TokenError::KidNameMalformed)
            }
            Some(_) => Err(TokenError::KidInvalid),
            None => Err(TokenError::KidMalformed),
        },
    }
}

/// The key: `contentKey` as FairPlay checks it (-2005 missing, -2027 not 32 hex). `kek`/`ek` (AES key
/// wrap) are not supported: with `contentKey` they are -5007 (only one of kek or contentKey), without
/// it -2005 (no content key the simulator can use). Empty `kek`/`ek` count as absent.
pub fn check_key_source(
    content_key: Option<&str>,
    kek: Option<&str>,
    ek: Option<&str>,
) -> Result<String, TokenError> {
    let wrapped = [kek, ek].into_iter().flatten().any(|v| !v.is_empty());
    if wrapped {
        return Err(match content_key {
            Some(v) if !v.is_empty() => TokenError::KekWithContentKey,
            _ => TokenError::ContentKeyMissing,
        });
    }
    check_content_key(content_key)?;
    Ok(content_key.unwrap_or_default().to_owned())
}

/// A positive 32-bit integer in decimal digits only (no sign, no space).
pub fn parse_positive(value: &str) -> Option<u32> {
    parse_digits(value)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// Non-empty standard base64 (`A-Z a-z 0-9 + /`, padding optional) that decodes.
pub fn is_base64(value: &str) -> bool {
    !value.is_empty() && BASE64.decode(value).is_ok()
}
