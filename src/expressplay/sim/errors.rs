//! The errors the simulated services answer, with their ExpressPlay numbers and HTTP statuses.
//!
//! The numbers are ExpressPlay's own where it publishes one (see the module documentation of
//! [`super`]); the few the simulator had to choose are marked **the simulator's own**.

use axum::http::StatusCode;

use crate::drm::Drm;

/// The token-service and record-retrieval errors the simulator produces from parameters, for the
/// FairPlay, Widevine and PlayReady token routes and record retrieval.
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
    /// -2005: no `contentKey` (also: `kek`/`ek` without `contentKey`, since the simulator unwraps no
    /// key).
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
    /// -2033: `cookie` longer than 32 characters, or (the simulator's reading of an unpublished rule)
    /// holding a character outside printable ASCII `0x21..=0x7E` (so no space, no control character,
    /// nothing beyond ASCII).
    #[error("Invalid cookie")]
    InvalidCookie,
    /// -2034, **the simulator's own number** (ExpressPlay publishes none for it): the device
    /// restriction is not 1-256 characters of `[A-Za-z0-9._:+/=-]`.
    #[error("Invalid device id")]
    InvalidDeviceId,
    /// -6008: a device restriction was asked for on an account without device binding.
    #[error("Device ID binding is not supported for FairPlay")]
    DeviceBindingUnsupported,
    /// -2035, **the simulator's own number**: a record-retrieval selector (`id`, `start`, `length`) is
    /// malformed, or several selectors are combined.
    #[error("Invalid record query")]
    InvalidRecordQuery,

    // ----- Widevine and PlayReady: the key -----
    /// -4018: no `kid`.
    #[error("Missing kid")]
    KidMissing,
    /// -4020: `kid` is neither 32 hex digits nor the `^name` form.
    #[error("Kid must be 32 hex digits")]
    KidMalformed,
    /// -4021: `kid` is `^` followed by nothing or by more than 64 characters.
    #[error("Kid must be at most 64 characters after ^")]
    KidNameMalformed,
    /// -4022: a well-formed `^name` kid (a key stored at ExpressPlay): the simulator keeps no key
    /// storage, so it refuses every one.
    #[error("Invalid kid")]
    KidInvalid,
    /// -5007: `kek` or `ek` together with `contentKey`.
    #[error("Only one of kek or contentKey may be supplied")]
    KekWithContentKey,

    // ----- Widevine -----
    /// -7002: a device restriction on a Widevine token.
    #[error("Device ID binding is not supported for Widevine")]
    WidevineDeviceBinding,
    /// -7003: no `securityLevel`.
    #[error("Missing security level")]
    SecurityLevelMissing,
    /// -7004: `securityLevel` is not one of 1-5.
    #[error("Invalid security level")]
    SecurityLevelInvalid,
    /// -7006: no `hdcpOutputControl`.
    #[error("Missing HDCP output control")]
    HdcpMissing,
    /// -7007: `licenseDuration` is not a positive 32-bit integer.
    #[error("Invalid license duration")]
    InvalidLicenseDuration,
    /// -7009: a `wvExtension` is not `type,base64`.
    #[error("Invalid WVExtension")]
    InvalidWvExtension,

    // ----- Widevine and PlayReady -----
    /// -2034: an output control value out of range (`hdcpOutputControl` not 0-2, an OPL not 0-999).
    #[error("Invalid output control")]
    InvalidOutputControl,
    /// -5003: `generalFlags` is not an accepted value (`0000` for Widevine, `00000000` or `00000001`
    /// for PlayReady).
    #[error("Invalid general flags")]
    InvalidGeneralFlags,

    // ----- PlayReady -----
    /// -5003: a `Rental` licence without `generalFlags=00000001`: rental licences must be persistent.
    #[error("Invalid general flags: rental licences must be persistent")]
    RentalNotPersistent,
    /// -2020: no `rightsType`.
    #[error("Missing rights type")]
    RightsTypeMissing,
    /// -2021: `rightsType` is neither `BuyToOwn` nor `Rental`.
    #[error("Invalid rights type")]
    RightsTypeInvalid,
    /// -2022: a `Rental` without `rental.periodEndTime`.
    #[error("Missing rental period end time")]
    RentalPeriodEndMissing,
    /// -2022 (the same number, the simulator's choice): `rental.periodEndTime` is neither `+N`
    /// (N a positive 32-bit integer) nor an RFC 3339 `Z` date-time in the future.
    #[error("Invalid rental period end time")]
    RentalPeriodEndInvalid,
    /// -2025: `rental.playDuration` is not a positive 32-bit integer.
    #[error("Invalid rental play duration")]
    RentalPlayDurationInvalid,
    /// -5006: one of the five OPLs is missing.
    #[error("Missing OPL value")]
    OplMissing,
    /// -5001: `unknownOutputBehavior` is not `Allow`, `Disallow` or `SDOnly`.
    #[error("Invalid unknown output type")]
    UnknownOutputInvalid,
    /// -2008: `outputControlFlags` is not 8 hex digits.
    #[error("Invalid output control flags")]
    OutputControlFlagsInvalid,
    /// -2036: `extensionType` (required with `extensionPayload`) is not 4 printable ASCII characters.
    #[error("Extension type must be 4 characters")]
    ExtensionTypeInvalid,
    /// -2037: `extensionPayload` (required with `extensionType`) is not base64.
    #[error("Extension payload must be base64")]
    ExtensionPayloadInvalid,
    /// -5004: a device restriction on a PlayReady token that is not 32 hex digits.
    #[error("Device ID must be 32 hex digits")]
    PlayReadyDeviceIdMalformed,
    /// -5005: a well-formed device restriction on a PlayReady token: the simulated account binds no
    /// PlayReady token to a device.
    #[error("Invalid device ID")]
    PlayReadyDeviceIdInvalid,
}

impl TokenError {
    /// The ExpressPlay error number.
    pub fn code(self) -> i64 {
        use TokenError::*;
        match self {
            InvalidErrorFormat => -3004,
            AuthenticatorMissing => -2017,
            AuthenticatorInvalid => -2018,
            ContentKeyMissing => -2005,
            ContentKeyMalformed => -2027,
            InvalidIv => -6003,
            InvalidRentalDuration => -6007,
            InvalidExpiration => -2002,
            InvalidCookie => -2033,
            InvalidDeviceId | InvalidOutputControl => -2034,
            DeviceBindingUnsupported => -6008,
            InvalidRecordQuery => -2035,
            KidMissing => -4018,
            KidMalformed => -4020,
            KidNameMalformed => -4021,
            KidInvalid => -4022,
            KekWithContentKey => -5007,
            WidevineDeviceBinding => -7002,
            SecurityLevelMissing => -7003,
            SecurityLevelInvalid => -7004,
            HdcpMissing => -7006,
            InvalidLicenseDuration => -7007,
            InvalidWvExtension => -7009,
            InvalidGeneralFlags | RentalNotPersistent => -5003,
            RightsTypeMissing => -2020,
            RightsTypeInvalid => -2021,
            RentalPeriodEndMissing | RentalPeriodEndInvalid => -2022,
            RentalPlayDurationInvalid => -2025,
            OplMissing => -5006,
            UnknownOutputInvalid => -5001,
            OutputControlFlagsInvalid => -2008,
            ExtensionTypeInvalid => -2036,
            ExtensionPayloadInvalid => -2037,
            PlayReadyDeviceIdMalformed => -5004,
            PlayReadyDeviceIdInvalid => -5005,
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

/// Why a redemption at the (simulated) rights URL was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RightsError {
    /// -4010: no `ExpressPlayToken`, or one the simulator never issued.
    #[error("Invalid token")]
    InvalidToken,
    /// -4010: the token's expiration has passed.
    #[error("Token expired")]
    TokenExpired,
    /// -4010: the redemption carries no `deviceId` (a real device always sends one in its SPC).
    #[error("Invalid token: no device id")]
    DeviceIdMissing,
    /// -4010: the redemption's `deviceId` is not a well-formed device id.
    #[error("Invalid token: invalid device id")]
    DeviceIdInvalid,
    /// -4011, **the simulator's own number** (HTTP 403): the token is bound to another device.
    #[error("Device not authorized for this token")]
    DeviceNotAuthorized,
    /// -4010: the token was issued for another DRM than the rights URL's (a FairPlay token at
    /// `/hms/wv/rights/`, …).
    #[error("Invalid token: issued for {issued}, not {route}")]
    WrongDrm {
        /// The DRM the token was issued for.
        issued: Drm,
        /// The DRM of the rights URL it was presented at.
        route: Drm,
    },
}

impl RightsError {
    /// The ExpressPlay error number (-4011 is the simulator's own).
    pub fn code(self) -> i64 {
        match self {
            RightsError::DeviceNotAuthorized => -4011,
            _ => -4010,
        }
    }

    /// The HTTP status: 403 for a device mismatch, 400 otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            RightsError::DeviceNotAuthorized => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}
