//! What a playback request comes to: allowed with a token, or refused for a reason that carries its
//! facts. Domain terms only: the front ends choose the numbers and statuses (`sees::errors` the SEES
//! error numbers, `admin::playback_tokens` the admin codes), each in its one table.
//!
//! Never holds a cookie, a key or the ExpressPlay authenticator.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::decision::Denial;
use crate::drm::{DeviceSecurityLevel, Drm, Setter};
use crate::expressplay::{LifetimeExpired, RecordError, UpstreamError};

/// The answer to one content request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Play: the ExpressPlay token URL.
    Allowed { token_url: String },
    /// Do not play, and why.
    Refused(Refusal),
}

/// Why no token is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A device registration or device-bound request came without a customer cookie.
    CookieRequired,
    /// No content key is stored for the content.
    UnknownContent,
    /// A device registration named content that is not registration content.
    NotRegistrationContent,
    /// The content key's configured absolute token expiry has passed.
    WindowClosed(LifetimeExpired),
    /// The catalogue decision said no (`denial`); `why` is the failed rule's explanation.
    NotEntitled { denial: Denial, why: String },
    /// The user already runs `limit` streams; the earliest lease ends at `next_free_at`.
    ConcurrencyLimit {
        limit: u32,
        next_free_at: DateTime<Utc>,
    },
    /// The user already has `limit` devices (`registered` of them on record).
    DeviceLimit { limit: u32, registered: usize },
    /// The record service knows no device for the cookie.
    DeviceNotRegistered,
    /// The record service knows `count` different devices for the cookie.
    SeveralDevices { count: usize },
    /// The device on record for the cookie has an unexpected shape.
    InvalidDeviceId,
    /// An ExpressPlay service failed or refused the call.
    Upstream {
        service: UpstreamService,
        error: UpstreamError,
    },
    /// The record service answered something that cannot be used.
    UnreadableRecord(RecordError),
    /// The store (keys, leases, devices, bindings) failed.
    StoreUnavailable,
    /// A stored content key does not decrypt.
    KeyUnreadable,
    /// sees itself failed; `detail` is safe to show.
    Internal { detail: String },
    /// Tokens for this DRM are not answered here (`drm.enabled`).
    DrmNotEnabled(Drm),
    /// Device binding (requestType 2 or 3) was asked for a DRM that has none: FairPlay only.
    DeviceBindingUnsupported(Drm),
    /// The content key has no KID, which this DRM's token needs.
    NoKeyId(Drm),
    /// The device reports a Widevine security level below the one the policy demands.
    DeviceSecurityTooLow {
        reported: DeviceSecurityLevel,
        required: u8,
        by: Setter,
    },
    /// The packages granting the asset set DRM policies no licence can meet together.
    PolicyUnsatisfiable(String),
}

/// Which ExpressPlay service a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamService {
    /// The FairPlay token service.
    Token,
    /// The record (device lookup) service.
    Record,
}

impl fmt::Display for UpstreamService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpstreamService::Token => "token service",
            UpstreamService::Record => "record service",
        })
    }
}

impl Refusal {
    /// A refusal for sees' own failure, with `detail`.
    pub fn internal(detail: impl Into<String>) -> Refusal {
        Refusal::Internal {
            detail: detail.into(),
        }
    }

    /// Whether sees or ExpressPlay failed (trying again later may help), rather than the request, the
    /// content or the entitlement being the reason.
    pub fn is_failure(&self) -> bool {
        match self {
            Refusal::Upstream { .. }
            | Refusal::UnreadableRecord(_)
            | Refusal::StoreUnavailable
            | Refusal::KeyUnreadable
            | Refusal::Internal { .. } => true,
            Refusal::NotEntitled { denial, .. } => *denial == Denial::StoreUnavailable,
            Refusal::CookieRequired
            | Refusal::UnknownContent
            | Refusal::NotRegistrationContent
            | Refusal::WindowClosed(_)
            | Refusal::ConcurrencyLimit { .. }
            | Refusal::DeviceLimit { .. }
            | Refusal::DeviceNotRegistered
            | Refusal::SeveralDevices { .. }
            | Refusal::InvalidDeviceId
            | Refusal::DrmNotEnabled(_)
            | Refusal::DeviceBindingUnsupported(_)
            | Refusal::NoKeyId(_)
            | Refusal::DeviceSecurityTooLow { .. }
            | Refusal::PolicyUnsatisfiable(_) => false,
        }
    }

    /// What happened, for the caller (empty when the reason says it all). Never quotes a cookie.
    pub fn detail(&self) -> String {
        match self {
            Refusal::CookieRequired
            | Refusal::UnknownContent
            | Refusal::NotRegistrationContent
            | Refusal::DeviceNotRegistered
            | Refusal::InvalidDeviceId
            | Refusal::StoreUnavailable
            | Refusal::KeyUnreadable => String::new(),
            Refusal::WindowClosed(expired) => expired.to_string(),
            Refusal::NotEntitled { why, .. } => why.clone(),
            Refusal::ConcurrencyLimit {
                limit,
                next_free_at,
            } => format!(
                "{limit} stream(s) already running; the next slot frees at {} unless a stream is stopped",
                next_free_at.to_rfc3339_opts(SecondsFormat::Millis, true)
            ),
            Refusal::DeviceLimit { limit, registered } => format!(
                "{limit} device(s) already registered ({registered}); support can remove one"
            ),
            Refusal::SeveralDevices { count } => format!("{count} devices"),
            Refusal::Upstream { service, error } => format!("{service}: {error}"),
            Refusal::UnreadableRecord(error) => error.to_string(),
            Refusal::Internal { detail } => detail.clone(),
            Refusal::DrmNotEnabled(drm) => format!("{drm} is not in drm.enabled"),
            Refusal::DeviceBindingUnsupported(drm) => {
                format!("this is a {drm} path; bind devices through a FairPlay path (server.paths)")
            }
            Refusal::NoKeyId(drm) => format!(
                "{drm} tokens name the key by its KID: give the key one (sees keys add --kid … --replace)"
            ),
            Refusal::DeviceSecurityTooLow {
                reported,
                required,
                by,
            } => format!(
                "the device reports Widevine {} (securityLevel {} at most); {by} demands securityLevel {required}",
                reported.as_str(),
                reported.highest_security_level()
            ),
            Refusal::PolicyUnsatisfiable(why) => why.clone(),
        }
    }
}

/// How a protocol numbers a refusal, for a front end that quotes it (the OEM routes answer
/// "SEES 3008: …"). Supplied by the composition root from the protocol's own table, so this layer
/// holds no wire numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedCode {
    pub number: i32,
    /// What the number means, one line.
    pub summary: &'static str,
}

/// The protocol's table, as a function.
pub type QuoteRefusal = fn(&Refusal) -> QuotedCode;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn failures_are_the_server_and_upstream_ones() {
        let failures = [
            Refusal::Upstream {
                service: UpstreamService::Token,
                error: UpstreamError::Busy,
            },
            Refusal::UnreadableRecord(RecordError::NotJson),
            Refusal::StoreUnavailable,
            Refusal::KeyUnreadable,
            Refusal::internal(""),
            Refusal::NotEntitled {
                denial: Denial::StoreUnavailable,
                why: String::new(),
            },
        ];
        for refusal in failures {
            assert!(refusal.is_failure(), "{refusal:?}");
        }
        let refused = [
            Refusal::CookieRequired,
            Refusal::UnknownContent,
            Refusal::NotRegistrationContent,
            Refusal::WindowClosed(LifetimeExpired(at())),
            Refusal::NotEntitled {
                denial: Denial::NotEntitled,
                why: String::new(),
            },
            Refusal::NotEntitled {
                denial: Denial::SessionExpired,
                why: String::new(),
            },
            Refusal::ConcurrencyLimit {
                limit: 1,
                next_free_at: at(),
            },
            Refusal::DeviceLimit {
                limit: 2,
                registered: 2,
            },
            Refusal::DeviceNotRegistered,
            Refusal::SeveralDevices { count: 2 },
            Refusal::InvalidDeviceId,
        ];
        for refusal in refused {
            assert!(!refusal.is_failure(), "{refusal:?}");
        }
    }

    #[test]
    fn details_say_what_happened() {
        assert_eq!(
            Refusal::ConcurrencyLimit {
                limit: 2,
                next_free_at: at()
            }
            .detail(),
            "2 stream(s) already running; the next slot frees at 2026-03-01T12:00:00.000Z unless a stream is stopped"
        );
        assert_eq!(
            Refusal::DeviceLimit {
                limit: 3,
                registered: 3
            }
            .detail(),
            "3 device(s) already registered (3); support can remove one"
        );
        assert_eq!(Refusal::SeveralDevices { count: 4 }.detail(), "4 devices");
        assert_eq!(
            Refusal::Upstream {
                service: UpstreamService::Record,
                error: UpstreamError::CircuitOpen
            }
            .detail(),
            "record service: ExpressPlay calls are suspended after repeated failures (circuit open)"
        );
        assert_eq!(
            Refusal::WindowClosed(LifetimeExpired(at())).detail(),
            LifetimeExpired(at()).to_string()
        );
        assert_eq!(
            Refusal::NotEntitled {
                denial: Denial::EntitlementExpired,
                why: "ended".to_owned()
            }
            .detail(),
            "ended"
        );
        assert_eq!(Refusal::UnknownContent.detail(), "");
        assert_eq!(Refusal::StoreUnavailable.detail(), "");
    }
}
