//! The SEES error numbers: one table, stable, grouped by cause. The README's table is generated from
//! `ErrorCode::ALL` (see the `readme_table_matches_the_code` test), so the two cannot drift.
//!
//! A number is never reused for another meaning; new causes get new numbers in their group. The
//! application's refusals (`playback::Refusal`) get their numbers here, in one match (`From<&Refusal>`).

use crate::decision::Denial;
use crate::expressplay::UpstreamError;
use crate::playback::{QuotedCode, Refusal};

/// Every error number sees answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // 1xxx — the request cannot be read or is not a valid Entitlement Request.
    MalformedJson,
    SchemaViolation,
    InvalidMessageId,
    InvalidVersion,
    InvalidRequestType,
    InvalidContentId,
    InvalidCustomerCookie,
    BodyTooLarge,
    UnknownPath,
    MethodNotAllowed,
    // 1011 is retired ("requestType 2/3 not supported yet"); never reuse it.
    TlsRequired,
    CookieRequired,
    ClientRevoked,
    ClientNotAllowed,
    RateLimited,
    DrmNotEnabled,
    DeviceBindingUnsupported,
    // 2xxx — the content is unknown or cannot be served.
    UnknownContent,
    ContentWindowClosed,
    NotRegistrationContent,
    NoKeyId,
    // 3xxx — not entitled. 30xx: the catalogue decision; 31xx: device binding.
    NotEntitled,
    EntitlementExpired,
    EntitlementNotYetValid,
    RegionNotAllowed,
    SessionRequired,
    SessionUnknown,
    SessionExpired,
    ConcurrencyLimit,
    DeviceLimit,
    DeviceSecurityTooLow,
    PolicyUnsatisfiable,
    DeviceNotRegistered,
    SeveralDevices,
    InvalidDeviceId,
    // 4xxx — ExpressPlay failed or refused.
    UpstreamUnreachable,
    UpstreamTimeout,
    UpstreamRejected,
    UpstreamBadResponse,
    UpstreamUnavailable,
    UpstreamBusy,
    UpstreamRefusedLifetime,
    UpstreamRefusedKey,
    UpstreamRefusedAuthenticator,
    UpstreamNoTokensLeft,
    UpstreamAccountDisabled,
    UpstreamRefusedCookie,
    UpstreamRefusedParameter,
    UpstreamNoDeviceBinding,
    UpstreamRefusedKeyId,
    UpstreamKeyStorage,
    UpstreamRefusedSecurityLevel,
    UpstreamRefusedOutputControl,
    UpstreamRefusedLicenseDuration,
    UpstreamWidevineLicenseFailed,
    UpstreamRefusedExtension,
    UpstreamDrmDisabled,
    UpstreamRefusedRightsType,
    UpstreamRefusedRental,
    UpstreamRefusedOutputProtection,
    UpstreamRefusedGeneralFlags,
    UpstreamNoDeviceBindingForDrm,
    // 5xxx — sees itself failed.
    Internal,
    StoreUnavailable,
    KeyUnreadable,
    DeadlineExceeded,
    Overloaded,
}

impl ErrorCode {
    /// The table, in number order.
    pub const ALL: [ErrorCode; 67] = [
        ErrorCode::MalformedJson,
        ErrorCode::SchemaViolation,
        ErrorCode::InvalidMessageId,
        ErrorCode::InvalidVersion,
        ErrorCode::InvalidRequestType,
        ErrorCode::InvalidContentId,
        ErrorCode::InvalidCustomerCookie,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnknownPath,
        ErrorCode::MethodNotAllowed,
        ErrorCode::TlsRequired,
        ErrorCode::CookieRequired,
        ErrorCode::ClientRevoked,
        ErrorCode::ClientNotAllowed,
        ErrorCode::RateLimited,
        ErrorCode::DrmNotEnabled,
        ErrorCode::DeviceBindingUnsupported,
        ErrorCode::UnknownContent,
        ErrorCode::ContentWindowClosed,
        ErrorCode::NotRegistrationContent,
        ErrorCode::NoKeyId,
        ErrorCode::NotEntitled,
        ErrorCode::EntitlementExpired,
        ErrorCode::EntitlementNotYetValid,
        ErrorCode::RegionNotAllowed,
        ErrorCode::SessionRequired,
        ErrorCode::SessionUnknown,
        ErrorCode::SessionExpired,
        ErrorCode::ConcurrencyLimit,
        ErrorCode::DeviceLimit,
        ErrorCode::DeviceSecurityTooLow,
        ErrorCode::PolicyUnsatisfiable,
        ErrorCode::DeviceNotRegistered,
        ErrorCode::SeveralDevices,
        ErrorCode::InvalidDeviceId,
        ErrorCode::UpstreamUnreachable,
        ErrorCode::UpstreamTimeout,
        ErrorCode::UpstreamRejected,
        ErrorCode::UpstreamBadResponse,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::UpstreamBusy,
        ErrorCode::UpstreamRefusedLifetime,
        ErrorCode::UpstreamRefusedKey,
        ErrorCode::UpstreamRefusedAuthenticator,
        ErrorCode::UpstreamNoTokensLeft,
        ErrorCode::UpstreamAccountDisabled,
        ErrorCode::UpstreamRefusedCookie,
        ErrorCode::UpstreamRefusedParameter,
        ErrorCode::UpstreamNoDeviceBinding,
        ErrorCode::UpstreamRefusedKeyId,
        ErrorCode::UpstreamKeyStorage,
        ErrorCode::UpstreamRefusedSecurityLevel,
        ErrorCode::UpstreamRefusedOutputControl,
        ErrorCode::UpstreamRefusedLicenseDuration,
        ErrorCode::UpstreamWidevineLicenseFailed,
        ErrorCode::UpstreamRefusedExtension,
        ErrorCode::UpstreamDrmDisabled,
        ErrorCode::UpstreamRefusedRightsType,
        ErrorCode::UpstreamRefusedRental,
        ErrorCode::UpstreamRefusedOutputProtection,
        ErrorCode::UpstreamRefusedGeneralFlags,
        ErrorCode::UpstreamNoDeviceBindingForDrm,
        ErrorCode::Internal,
        ErrorCode::StoreUnavailable,
        ErrorCode::KeyUnreadable,
        ErrorCode::DeadlineExceeded,
        ErrorCode::Overloaded,
    ];

    /// The number in the response's `error` field.
    pub const fn number(self) -> i32 {
        match self {
            ErrorCode::MalformedJson => 1001,
            ErrorCode::SchemaViolation => 1002,
            ErrorCode::InvalidMessageId => 1003,
            ErrorCode::InvalidVersion => 1004,
            ErrorCode::InvalidRequestType => 1005,
            ErrorCode::InvalidContentId => 1006,
            ErrorCode::InvalidCustomerCookie => 1007,
            ErrorCode::BodyTooLarge => 1008,
            ErrorCode::UnknownPath => 1009,
            ErrorCode::MethodNotAllowed => 1010,
            ErrorCode::TlsRequired => 1012,
            ErrorCode::CookieRequired => 1013,
            ErrorCode::ClientRevoked => 1014,
            ErrorCode::ClientNotAllowed => 1015,
            ErrorCode::RateLimited => 1016,
            ErrorCode::DrmNotEnabled => 1017,
            ErrorCode::DeviceBindingUnsupported => 1018,
            ErrorCode::UnknownContent => 2001,
            ErrorCode::ContentWindowClosed => 2002,
            ErrorCode::NotRegistrationContent => 2003,
            ErrorCode::NoKeyId => 2004,
            ErrorCode::NotEntitled => 3001,
            ErrorCode::EntitlementExpired => 3002,
            ErrorCode::EntitlementNotYetValid => 3003,
            ErrorCode::RegionNotAllowed => 3004,
            ErrorCode::SessionRequired => 3005,
            ErrorCode::SessionUnknown => 3006,
            ErrorCode::SessionExpired => 3007,
            ErrorCode::ConcurrencyLimit => 3008,
            ErrorCode::DeviceLimit => 3009,
            ErrorCode::DeviceSecurityTooLow => 3010,
            ErrorCode::PolicyUnsatisfiable => 3011,
            ErrorCode::DeviceNotRegistered => 3101,
            ErrorCode::SeveralDevices => 3102,
            ErrorCode::InvalidDeviceId => 3103,
            ErrorCode::UpstreamUnreachable => 4001,
            ErrorCode::UpstreamTimeout => 4002,
            ErrorCode::UpstreamRejected => 4003,
            ErrorCode::UpstreamBadResponse => 4004,
            ErrorCode::UpstreamUnavailable => 4005,
            ErrorCode::UpstreamBusy => 4006,
            ErrorCode::UpstreamRefusedLifetime => 4010,
            ErrorCode::UpstreamRefusedKey => 4011,
            ErrorCode::UpstreamRefusedAuthenticator => 4012,
            ErrorCode::UpstreamNoTokensLeft => 4013,
            ErrorCode::UpstreamAccountDisabled => 4014,
            ErrorCode::UpstreamRefusedCookie => 4015,
            ErrorCode::UpstreamRefusedParameter => 4016,
            ErrorCode::UpstreamNoDeviceBinding => 4017,
            ErrorCode::UpstreamRefusedKeyId => 4018,
            ErrorCode::UpstreamKeyStorage => 4019,
            ErrorCode::UpstreamRefusedSecurityLevel => 4020,
            ErrorCode::UpstreamRefusedOutputControl => 4021,
            ErrorCode::UpstreamRefusedLicenseDuration => 4022,
            ErrorCode::UpstreamWidevineLicenseFailed => 4023,
            ErrorCode::UpstreamRefusedExtension => 4024,
            ErrorCode::UpstreamDrmDisabled => 4025,
            ErrorCode::UpstreamRefusedRightsType => 4026,
            ErrorCode::UpstreamRefusedRental => 4027,
            ErrorCode::UpstreamRefusedOutputProtection => 4028,
            ErrorCode::UpstreamRefusedGeneralFlags => 4029,
            ErrorCode::UpstreamNoDeviceBindingForDrm => 4030,
            ErrorCode::Internal => 5000,
            ErrorCode::StoreUnavailable => 5001,
            ErrorCode::KeyUnreadable => 5002,
            ErrorCode::DeadlineExceeded => 5003,
            ErrorCode::Overloaded => 5004,
        }
    }

    /// The HTTP status: 200 for every decision (the request was read; allowed or denied), 4xx for a
    /// request that cannot be read.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::MalformedJson
            | ErrorCode::SchemaViolation
            | ErrorCode::InvalidMessageId
            | ErrorCode::InvalidVersion
            | ErrorCode::InvalidRequestType
            | ErrorCode::InvalidContentId
            | ErrorCode::InvalidCustomerCookie
            | ErrorCode::TlsRequired
            | ErrorCode::CookieRequired
            | ErrorCode::DrmNotEnabled
            | ErrorCode::DeviceBindingUnsupported => 400,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::UnknownPath => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::ClientRevoked | ErrorCode::ClientNotAllowed => 403,
            ErrorCode::RateLimited => 429,
            ErrorCode::Overloaded => 503,
            _ => 200,
        }
    }

    /// What the number means, one line (the start of every `errorText`).
    pub const fn summary(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "the body is not a JSON document",
            ErrorCode::SchemaViolation => "the body does not match the Entitlement Request schema",
            ErrorCode::InvalidMessageId => "messageID must be 1-128 characters without control characters",
            ErrorCode::InvalidVersion => "version must be a positive integer (or a numeric string)",
            ErrorCode::InvalidRequestType => "requestType must be 1, 2 or 3",
            ErrorCode::InvalidContentId => "contentID must be 1-256 characters without control characters",
            ErrorCode::InvalidCustomerCookie => {
                "customerCookie must be at most 32 characters without control characters"
            }
            ErrorCode::BodyTooLarge => "the body exceeds server.max_body_bytes",
            ErrorCode::UnknownPath => "no entitlement endpoint at this path",
            ErrorCode::MethodNotAllowed => "Entitlement Requests must be POSTed",
            ErrorCode::TlsRequired => {
                "plaintext HTTP on the TLS port (answered before closing the connection)"
            }
            ErrorCode::CookieRequired => "customerCookie is required for requestType 2 and 3",
            ErrorCode::ClientRevoked => {
                "the client certificate is revoked by a CRL in tls.crls (checked on every request)"
            }
            ErrorCode::ClientNotAllowed => {
                "the client certificate is valid but not listed in tls.allowed_clients"
            }
            ErrorCode::RateLimited => {
                "this client certificate exceeds server.rate_limit_per_s; retry after Retry-After seconds"
            }
            ErrorCode::DrmNotEnabled => "tokens for this DRM are not answered here (drm.enabled)",
            ErrorCode::DeviceBindingUnsupported => {
                "requestType 2 and 3 (device binding) are FairPlay only: Widevine and PlayReady tokens cannot be bound to a device"
            }
            ErrorCode::UnknownContent => "no content key is stored for this contentID",
            ErrorCode::ContentWindowClosed => "the content key's configured token expiry has passed",
            ErrorCode::NotRegistrationContent => {
                "a device registration (requestType 2) must name a registration contentID"
            }
            ErrorCode::NoKeyId => {
                "the content key has no KID, which Widevine and PlayReady tokens need (keys add --kid)"
            }
            ErrorCode::NotEntitled => "not entitled: no entitlement covers the asset",
            ErrorCode::EntitlementExpired => "the entitlement covering the asset has expired",
            ErrorCode::EntitlementNotYetValid => "the entitlement covering the asset is not valid yet",
            ErrorCode::RegionNotAllowed => "the session's country is not in the package's region whitelist",
            ErrorCode::SessionRequired => "a customerCookie naming a playback session is required",
            ErrorCode::SessionUnknown => "the customerCookie names no playback session",
            ErrorCode::SessionExpired => "the playback session has expired or was revoked",
            ErrorCode::ConcurrencyLimit => "the user already runs as many streams as allowed",
            ErrorCode::DeviceLimit => "the user already has as many devices as allowed",
            ErrorCode::DeviceSecurityTooLow => {
                "the device's Widevine security level is below the securityLevel the DRM policy demands"
            }
            ErrorCode::PolicyUnsatisfiable => {
                "the packages granting the asset set DRM policies no licence can meet together"
            }
            ErrorCode::DeviceNotRegistered => "device not registered: no device is on record for this customerCookie",
            ErrorCode::SeveralDevices => "several devices are on record for this customerCookie",
            ErrorCode::InvalidDeviceId => "the device id on record for this customerCookie has an unexpected shape",
            ErrorCode::UpstreamUnreachable => "ExpressPlay could not be reached or broke the connection",
            ErrorCode::UpstreamTimeout => "ExpressPlay did not answer within the request's upstream budget",
            ErrorCode::UpstreamRejected => "ExpressPlay refused the request (an error number without a finer mapping)",
            ErrorCode::UpstreamBadResponse => "ExpressPlay's answer could not be read (no token URL, or an unreadable record)",
            ErrorCode::UpstreamUnavailable => {
                "ExpressPlay is failing; calls are suspended until a probe succeeds (circuit open)"
            }
            ErrorCode::UpstreamBusy => "too many ExpressPlay calls are in flight",
            ErrorCode::UpstreamRefusedLifetime => "ExpressPlay refused the token expiration time (-2002)",
            ErrorCode::UpstreamRefusedKey => {
                "ExpressPlay refused the content key or IV (-2005, -2027, -6003, -6005)"
            }
            ErrorCode::UpstreamRefusedAuthenticator => {
                "ExpressPlay refused the customer authenticator (-2017, -2018)"
            }
            ErrorCode::UpstreamNoTokensLeft => "the ExpressPlay account has no tokens left (-2019)",
            ErrorCode::UpstreamAccountDisabled => {
                "the ExpressPlay account is disabled or not enabled for FairPlay (-2030, -2031, -6006, -6009)"
            }
            ErrorCode::UpstreamRefusedCookie => "ExpressPlay refused the customerCookie (-2033)",
            ErrorCode::UpstreamRefusedParameter => {
                "ExpressPlay refused a token parameter (-3004, -4010, -6001, -6007)"
            }
            ErrorCode::UpstreamNoDeviceBinding => {
                "the ExpressPlay account does not support device binding for FairPlay (-6008)"
            }
            ErrorCode::UpstreamRefusedKeyId => {
                "ExpressPlay refused the KID (-4018, -4020, -4021, -4022)"
            }
            ErrorCode::UpstreamKeyStorage => {
                "ExpressPlay could not use the key or its wrapping (-4019, -4024, -5007)"
            }
            ErrorCode::UpstreamRefusedSecurityLevel => {
                "ExpressPlay refused the Widevine security level (-7003, -7004)"
            }
            ErrorCode::UpstreamRefusedOutputControl => {
                "ExpressPlay refused the output control (HDCP, flags, values out of range: -7006, -2008, -2034)"
            }
            ErrorCode::UpstreamRefusedLicenseDuration => {
                "ExpressPlay refused the Widevine licence duration (-7007)"
            }
            ErrorCode::UpstreamWidevineLicenseFailed => {
                "ExpressPlay failed to generate the Widevine licence (-7008)"
            }
            ErrorCode::UpstreamRefusedExtension => {
                "ExpressPlay refused a licence extension (-7009, -2036, -2037)"
            }
            ErrorCode::UpstreamDrmDisabled => {
                "the ExpressPlay account is not enabled for this DRM (-7011 Widevine, -5002 PlayReady)"
            }
            ErrorCode::UpstreamRefusedRightsType => {
                "ExpressPlay refused the PlayReady rights type (-2020, -2021)"
            }
            ErrorCode::UpstreamRefusedRental => {
                "ExpressPlay refused the PlayReady rental period (-2022, -2023, -2025)"
            }
            ErrorCode::UpstreamRefusedOutputProtection => {
                "ExpressPlay refused a PlayReady output protection level or unknown-output behaviour (-5006, -5001)"
            }
            ErrorCode::UpstreamRefusedGeneralFlags => {
                "ExpressPlay refused the licence's general flags (persistence: -5003)"
            }
            ErrorCode::UpstreamNoDeviceBindingForDrm => {
                "ExpressPlay has no device binding for this DRM (-7002 Widevine, -5004, -5005 PlayReady)"
            }
            ErrorCode::Internal => "internal error",
            ErrorCode::StoreUnavailable => "the key store is unavailable",
            ErrorCode::KeyUnreadable => "the stored content key cannot be decrypted",
            ErrorCode::DeadlineExceeded => "the request deadline passed before a decision",
            ErrorCode::Overloaded => {
                "sees is overloaded and shed the request unread; retry after Retry-After seconds, here or on another node"
            }
        }
    }

    /// The SEES error for an ExpressPlay error number (see the reference's FairPlay table).
    pub fn for_expressplay(code: Option<i64>) -> ErrorCode {
        match code {
            Some(-2002) => ErrorCode::UpstreamRefusedLifetime,
            Some(-2005 | -2027 | -6003 | -6005) => ErrorCode::UpstreamRefusedKey,
            Some(-2017 | -2018) => ErrorCode::UpstreamRefusedAuthenticator,
            Some(-2019) => ErrorCode::UpstreamNoTokensLeft,
            Some(-2030 | -2031 | -6006 | -6009) => ErrorCode::UpstreamAccountDisabled,
            Some(-2033) => ErrorCode::UpstreamRefusedCookie,
            Some(-3004 | -4010 | -6001 | -6007) => ErrorCode::UpstreamRefusedParameter,
            Some(-6008) => ErrorCode::UpstreamNoDeviceBinding,
            Some(-4018 | -4020 | -4021 | -4022) => ErrorCode::UpstreamRefusedKeyId,
            Some(-4019 | -4024 | -5007) => ErrorCode::UpstreamKeyStorage,
            Some(-7003 | -7004) => ErrorCode::UpstreamRefusedSecurityLevel,
            Some(-7006 | -2008 | -2034) => ErrorCode::UpstreamRefusedOutputControl,
            Some(-7007) => ErrorCode::UpstreamRefusedLicenseDuration,
            Some(-7008) => ErrorCode::UpstreamWidevineLicenseFailed,
            Some(-7009 | -2036 | -2037) => ErrorCode::UpstreamRefusedExtension,
            Some(-7011 | -5002) => ErrorCode::UpstreamDrmDisabled,
            Some(-2020 | -2021) => ErrorCode::UpstreamRefusedRightsType,
            Some(-2022 | -2023 | -2025) => ErrorCode::UpstreamRefusedRental,
            Some(-5006 | -5001) => ErrorCode::UpstreamRefusedOutputProtection,
            Some(-5003) => ErrorCode::UpstreamRefusedGeneralFlags,
            Some(-7002 | -5004 | -5005) => ErrorCode::UpstreamNoDeviceBindingForDrm,
            _ => ErrorCode::UpstreamRejected,
        }
    }

    /// The README's error table, in Markdown.
    pub fn markdown_table() -> String {
        let mut table = String::from("| error | HTTP | meaning |\n|---|---|---|\n");
        for code in Self::ALL {
            table.push_str(&format!(
                "| {} | {} | {} |\n",
                code.number(),
                code.http_status(),
                code.summary()
            ));
        }
        table
    }
}

/// The SEES number of each refusal of the application service: the one table.
impl From<&Refusal> for ErrorCode {
    fn from(refusal: &Refusal) -> ErrorCode {
        match refusal {
            Refusal::CookieRequired => ErrorCode::CookieRequired,
            Refusal::UnknownContent => ErrorCode::UnknownContent,
            Refusal::NotRegistrationContent => ErrorCode::NotRegistrationContent,
            Refusal::WindowClosed(_) => ErrorCode::ContentWindowClosed,
            Refusal::NotEntitled { denial, .. } => match denial {
                Denial::SessionRequired => ErrorCode::SessionRequired,
                Denial::SessionUnknown => ErrorCode::SessionUnknown,
                Denial::SessionExpired => ErrorCode::SessionExpired,
                Denial::NotEntitled => ErrorCode::NotEntitled,
                Denial::EntitlementExpired => ErrorCode::EntitlementExpired,
                Denial::EntitlementNotYetValid => ErrorCode::EntitlementNotYetValid,
                Denial::RegionNotAllowed => ErrorCode::RegionNotAllowed,
                Denial::StoreUnavailable => ErrorCode::StoreUnavailable,
            },
            Refusal::ConcurrencyLimit { .. } => ErrorCode::ConcurrencyLimit,
            Refusal::DeviceLimit { .. } => ErrorCode::DeviceLimit,
            Refusal::DeviceNotRegistered => ErrorCode::DeviceNotRegistered,
            Refusal::SeveralDevices { .. } => ErrorCode::SeveralDevices,
            Refusal::InvalidDeviceId => ErrorCode::InvalidDeviceId,
            Refusal::Upstream { error, .. } => match error {
                UpstreamError::Connect(_) | UpstreamError::Transport(_) => {
                    ErrorCode::UpstreamUnreachable
                }
                UpstreamError::Timeout(_) | UpstreamError::BudgetSpent => {
                    ErrorCode::UpstreamTimeout
                }
                UpstreamError::CircuitOpen => ErrorCode::UpstreamUnavailable,
                UpstreamError::Busy => ErrorCode::UpstreamBusy,
                UpstreamError::BadResponse(_) => ErrorCode::UpstreamBadResponse,
                UpstreamError::Rejected { code, .. } => ErrorCode::for_expressplay(*code),
            },
            Refusal::UnreadableRecord(_) => ErrorCode::UpstreamBadResponse,
            Refusal::StoreUnavailable => ErrorCode::StoreUnavailable,
            Refusal::KeyUnreadable => ErrorCode::KeyUnreadable,
            Refusal::Internal { .. } => ErrorCode::Internal,
            Refusal::DrmNotEnabled(_) => ErrorCode::DrmNotEnabled,
            Refusal::DeviceBindingUnsupported(_) => ErrorCode::DeviceBindingUnsupported,
            Refusal::NoKeyId(_) => ErrorCode::NoKeyId,
            Refusal::DeviceSecurityTooLow { .. } => ErrorCode::DeviceSecurityTooLow,
            Refusal::PolicyUnsatisfiable(_) => ErrorCode::PolicyUnsatisfiable,
        }
    }
}

/// The SEES number and meaning of `refusal`, for front ends that quote it (the OEM token routes);
/// the composition root hands this to the admin API.
pub fn quote(refusal: &Refusal) -> QuotedCode {
    let code = ErrorCode::from(refusal);
    QuotedCode {
        number: code.number(),
        summary: code.summary(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expressplay::{LifetimeExpired, RecordError};
    use crate::playback::UpstreamService;

    #[test]
    fn numbers_are_unique_ordered_and_grouped() {
        let numbers: Vec<i32> = ErrorCode::ALL.iter().map(|c| c.number()).collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(numbers, sorted, "unique and in number order");
        assert!(!numbers.contains(&1011), "1011 is retired");
        for code in ErrorCode::ALL {
            let group = code.number() / 1000;
            assert!([1, 2, 3, 4, 5].contains(&group), "{code:?}");
            if code == ErrorCode::Overloaded {
                // Answered by the listener before the request is read, as 1014-1016 are.
                assert_eq!(code.http_status(), 503);
            } else if group != 1 {
                assert_eq!(code.http_status(), 200, "{code:?} is a decision");
            }
        }
    }

    #[test]
    fn every_documented_expressplay_number_has_its_own_mapping() {
        let documented = [
            -2002, -2005, -2017, -2018, -2019, -2027, -2030, -2031, -2033, -3004, -4010, -6001,
            -6003, -6005, -6006, -6007, -6008, -6009,
            // Widevine and PlayReady (issue 18).
            -7002, -7003, -7004, -7006, -7007, -7008, -7009, -7011, -5001, -5002, -5003, -5004,
            -5005, -5006, -5007, -2008, -2020, -2021, -2022, -2023, -2025, -2034, -2036, -2037,
            -4018, -4019, -4020, -4021, -4022, -4024,
        ];
        for code in documented {
            let mapped = ErrorCode::for_expressplay(Some(code));
            assert_ne!(mapped, ErrorCode::UpstreamRejected, "{code}");
            assert!(
                mapped.summary().contains(&code.to_string()),
                "{code} → {mapped:?}"
            );
        }
        assert_ne!(
            ErrorCode::for_expressplay(Some(-2019)),
            ErrorCode::for_expressplay(Some(-2018))
        );
        assert_eq!(
            ErrorCode::for_expressplay(None),
            ErrorCode::UpstreamRejected
        );
        assert_eq!(
            ErrorCode::for_expressplay(Some(-9999)),
            ErrorCode::UpstreamRejected
        );
    }

    #[test]
    fn readme_table_matches_the_code() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&ErrorCode::markdown_table()),
            "README.md's error table is out of date; paste this:\n{}",
            ErrorCode::markdown_table()
        );
    }

    fn upstream(error: UpstreamError) -> Refusal {
        Refusal::Upstream {
            service: UpstreamService::Token,
            error,
        }
    }

    fn not_entitled(denial: Denial) -> Refusal {
        Refusal::NotEntitled {
            denial,
            why: String::new(),
        }
    }

    /// Every refusal variant (and every denial and upstream error inside one) with the number it was
    /// answered with before refusals became domain values.
    fn every_refusal() -> Vec<(Refusal, i32)> {
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        vec![
            (Refusal::CookieRequired, 1013),
            (Refusal::UnknownContent, 2001),
            (Refusal::WindowClosed(LifetimeExpired(at)), 2002),
            (Refusal::NotRegistrationContent, 2003),
            (not_entitled(Denial::NotEntitled), 3001),
            (not_entitled(Denial::EntitlementExpired), 3002),
            (not_entitled(Denial::EntitlementNotYetValid), 3003),
            (not_entitled(Denial::RegionNotAllowed), 3004),
            (not_entitled(Denial::SessionRequired), 3005),
            (not_entitled(Denial::SessionUnknown), 3006),
            (not_entitled(Denial::SessionExpired), 3007),
            (
                Refusal::ConcurrencyLimit {
                    limit: 1,
                    next_free_at: at,
                },
                3008,
            ),
            (
                Refusal::DeviceLimit {
                    limit: 1,
                    registered: 1,
                },
                3009,
            ),
            (Refusal::DeviceNotRegistered, 3101),
            (Refusal::SeveralDevices { count: 2 }, 3102),
            (Refusal::InvalidDeviceId, 3103),
            (upstream(UpstreamError::Connect(String::new())), 4001),
            (upstream(UpstreamError::Transport(String::new())), 4001),
            (
                upstream(UpstreamError::Timeout(std::time::Duration::from_secs(1))),
                4002,
            ),
            (upstream(UpstreamError::BudgetSpent), 4002),
            (
                upstream(UpstreamError::Rejected {
                    status: 400,
                    code: None,
                    text: String::new(),
                }),
                4003,
            ),
            (upstream(UpstreamError::BadResponse(String::new())), 4004),
            (Refusal::UnreadableRecord(RecordError::NotJson), 4004),
            (upstream(UpstreamError::CircuitOpen), 4005),
            (upstream(UpstreamError::Busy), 4006),
            (
                upstream(UpstreamError::Rejected {
                    status: 400,
                    code: Some(-2019),
                    text: String::new(),
                }),
                4013,
            ),
            (Refusal::internal("x"), 5000),
            (Refusal::StoreUnavailable, 5001),
            (not_entitled(Denial::StoreUnavailable), 5001),
            (Refusal::KeyUnreadable, 5002),
            (Refusal::DrmNotEnabled(crate::drm::Drm::PlayReady), 1017),
            (
                Refusal::DeviceBindingUnsupported(crate::drm::Drm::Widevine),
                1018,
            ),
            (Refusal::NoKeyId(crate::drm::Drm::Widevine), 2004),
            (
                Refusal::DeviceSecurityTooLow {
                    reported: crate::drm::DeviceSecurityLevel::L3,
                    required: 5,
                    by: crate::drm::Setter::Configuration,
                },
                3010,
            ),
            (Refusal::PolicyUnsatisfiable(String::new()), 3011),
        ]
    }

    /// The variant's name; no wildcard, so a new variant must be added here (and to the list above).
    fn variant(refusal: &Refusal) -> &'static str {
        match refusal {
            Refusal::CookieRequired => "CookieRequired",
            Refusal::UnknownContent => "UnknownContent",
            Refusal::NotRegistrationContent => "NotRegistrationContent",
            Refusal::WindowClosed(_) => "WindowClosed",
            Refusal::NotEntitled { .. } => "NotEntitled",
            Refusal::ConcurrencyLimit { .. } => "ConcurrencyLimit",
            Refusal::DeviceLimit { .. } => "DeviceLimit",
            Refusal::DeviceNotRegistered => "DeviceNotRegistered",
            Refusal::SeveralDevices { .. } => "SeveralDevices",
            Refusal::InvalidDeviceId => "InvalidDeviceId",
            Refusal::Upstream { .. } => "Upstream",
            Refusal::UnreadableRecord(_) => "UnreadableRecord",
            Refusal::StoreUnavailable => "StoreUnavailable",
            Refusal::KeyUnreadable => "KeyUnreadable",
            Refusal::Internal { .. } => "Internal",
            Refusal::DrmNotEnabled(_) => "DrmNotEnabled",
            Refusal::DeviceBindingUnsupported(_) => "DeviceBindingUnsupported",
            Refusal::NoKeyId(_) => "NoKeyId",
            Refusal::DeviceSecurityTooLow { .. } => "DeviceSecurityTooLow",
            Refusal::PolicyUnsatisfiable(_) => "PolicyUnsatisfiable",
        }
    }

    #[test]
    fn the_refusal_list_covers_every_variant() {
        let listed: std::collections::HashSet<&str> =
            every_refusal().iter().map(|(r, _)| variant(r)).collect();
        assert_eq!(listed.len(), 20, "{listed:?}");
    }

    #[test]
    fn metric_outcomes_follow_the_number_groups() {
        use crate::ops::metrics::outcome_label;
        let label = |code: ErrorCode| outcome_label(Some(code.number()));
        assert_eq!(label(ErrorCode::NotEntitled), "denied");
        assert_eq!(label(ErrorCode::UnknownContent), "denied");
        assert_eq!(label(ErrorCode::MalformedJson), "error");
        assert_eq!(label(ErrorCode::UpstreamRejected), "error");
        assert_eq!(label(ErrorCode::Internal), "error");
    }

    #[test]
    fn every_refusal_keeps_its_number() {
        for (refusal, number) in every_refusal() {
            assert_eq!(ErrorCode::from(&refusal).number(), number, "{refusal:?}");
            assert_eq!(quote(&refusal).number, number, "{refusal:?}");
            assert_eq!(quote(&refusal).summary, ErrorCode::from(&refusal).summary());
        }
    }

    #[test]
    fn failures_are_the_4xxx_and_5xxx_numbers() {
        for (refusal, number) in every_refusal() {
            assert_eq!(refusal.is_failure(), number >= 4000, "{refusal:?}");
        }
    }
}
