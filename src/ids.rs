//! Identifiers validated at the edge: once a value is one of these types it is known to be well formed
//! (bounded length, no control characters), so the rest of the program never checks again.

use std::fmt;

/// Why a raw string is not an acceptable identifier. Carries no part of the value itself, so it is safe
/// to log and to return to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("is empty")]
    Empty,
    #[error("has {actual} characters (at most {max})")]
    TooLong { max: usize, actual: usize },
    #[error("contains a control character")]
    ControlCharacter,
    #[error("contains a character outside its allowed set")]
    Charset,
    #[error("has leading or trailing whitespace")]
    Whitespace,
    #[error("contains a comma (one identifier per string)")]
    Comma,
}

fn check(raw: &str, max: usize) -> Result<(), IdError> {
    if raw.is_empty() {
        Err(IdError::Empty)
    } else if raw.chars().count() > max {
        Err(IdError::TooLong {
            max,
            actual: raw.chars().count(),
        })
    } else if raw.chars().any(char::is_control) {
        Err(IdError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// `as_str`, `Display` (the text) and `Debug` (the quoted text) of a `String` newtype identifier.
macro_rules! text_views {
    ($name:ident) => {
        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, max = $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted value, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Accepts `raw` when it is non-empty, at most `MAX_CHARS` characters and free of control
            /// characters.
            pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
                let raw = raw.into();
                check(&raw, Self::MAX_CHARS)?;
                Ok(Self(raw))
            }
        }

        text_views!($name);
    };
}

identifier!(
    /// The `contentID` given to content at packaging time (usually a GUID).
    ContentId,
    max = 256
);

identifier!(
    /// The `messageID` of an Entitlement Request (usually a GUID).
    MessageId,
    max = 128
);

/// The rules of catalogue identifiers (packages, assets, users, billing plans, regions): 1-256
/// characters, not blank, no surrounding whitespace, no control characters, no comma (a comma means two
/// IDs were put in one string, as in one of the OEM spec's own examples).
fn check_catalog(raw: &str) -> Result<(), IdError> {
    check(raw, CATALOG_ID_MAX)?;
    if raw.trim().is_empty() {
        return Err(IdError::Empty);
    }
    if raw.trim() != raw {
        return Err(IdError::Whitespace);
    }
    if raw.contains(',') {
        return Err(IdError::Comma);
    }
    Ok(())
}

const CATALOG_ID_MAX: usize = 256;

macro_rules! catalog_identifier {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Accepts `raw` when it follows the catalogue identifier rules.
            pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
                let raw = raw.into();
                check_catalog(&raw)?;
                Ok(Self(raw))
            }
        }

        text_views!($name);

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(raw).map_err(|e| {
                    serde::de::Error::custom(format!("{} {e}", stringify!($name)))
                })
            }
        }
    };
}

catalog_identifier!(
    /// A package of assets.
    PackageId
);
catalog_identifier!(
    /// A video asset.
    AssetId
);
catalog_identifier!(
    /// A user account (the `uid` of the OEM API; the `sub` of an end-user JWT).
    UserId
);
catalog_identifier!(
    /// A billing plan.
    BillingPlanId
);
catalog_identifier!(
    /// A product: one package sold through one billing plan.
    ProductId
);
catalog_identifier!(
    /// A region (as listed in a package's `regionWhitelist`).
    RegionId
);

/// A FairPlay device id as ExpressPlay logs it at redemption: 1-256 characters of
/// `A-Z a-z 0-9 . _ : + / = -` (hex, base64 and UUID forms all fit).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DeviceId(String);

impl DeviceId {
    /// The longest accepted value, in characters.
    pub const MAX_CHARS: usize = 256;

    /// Accepts `raw` when it has the shape above.
    pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        check(&raw, Self::MAX_CHARS)?;
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:+/=-".contains(&b))
        {
            return Err(IdError::Charset);
        }
        Ok(Self(raw))
    }

    /// The device id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `customerCookie` of an Entitlement Request: an arbitrary string of at most 32 characters that
/// ExpressPlay carries in the token. It can act as a bearer credential, so `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CustomerCookie(String);

impl CustomerCookie {
    /// The SEES spec's limit, which is also ExpressPlay's.
    pub const MAX_CHARS: usize = 32;

    /// Accepts `raw` when it is non-empty, at most 32 characters and free of control characters.
    pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        check(&raw, Self::MAX_CHARS)?;
        Ok(Self(raw))
    }

    /// The cookie as sent; only the ExpressPlay request needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CustomerCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomerCookie([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_guid_and_rejects_bad_identifiers() {
        assert!(ContentId::parse("6f1c2b9e-4d0a-4c47-9a57-0c1e8d2f7b31").is_ok());
        assert_eq!(ContentId::parse(""), Err(IdError::Empty));
        assert_eq!(ContentId::parse("a\u{0}b"), Err(IdError::ControlCharacter));
        assert_eq!(
            MessageId::parse("tab\there"),
            Err(IdError::ControlCharacter)
        );
        assert_eq!(
            MessageId::parse("x".repeat(129)),
            Err(IdError::TooLong {
                max: 128,
                actual: 129
            })
        );
        assert!(MessageId::parse("x".repeat(128)).is_ok());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(CustomerCookie::parse("é".repeat(32)).is_ok());
        assert_eq!(
            CustomerCookie::parse("c".repeat(33)),
            Err(IdError::TooLong {
                max: 32,
                actual: 33
            })
        );
    }

    #[test]
    fn device_ids_have_a_restricted_shape() {
        for good in [
            "0a1b2c3d",
            "AAECAw==",
            "6f1c2b9e-4d0a-4c47-9a57-0c1e8d2f7b31",
            "dev:1.2_x+y/z",
        ] {
            assert!(DeviceId::parse(good).is_ok(), "{good}");
        }
        assert_eq!(DeviceId::parse("bad id"), Err(IdError::Charset));
        assert_eq!(DeviceId::parse("é"), Err(IdError::Charset));
        assert_eq!(DeviceId::parse(""), Err(IdError::Empty));
        assert!(DeviceId::parse("a".repeat(257)).is_err());
    }

    #[test]
    fn catalogue_identifiers_refuse_the_specs_junk() {
        assert!(PackageId::parse("d2595580-3935-11e8-b85b-c9864ba6c1ca3").is_ok());
        assert!(BillingPlanId::parse("Cascadia Curling - Gold").is_ok());
        assert_eq!(
            BillingPlanId::parse("\u{1}\t"),
            Err(IdError::ControlCharacter)
        );
        assert_eq!(BillingPlanId::parse("       "), Err(IdError::Empty));
        assert_eq!(AssetId::parse("a1,a2"), Err(IdError::Comma));
        assert_eq!(UserId::parse(" u"), Err(IdError::Whitespace));
        assert!(serde_json::from_str::<PackageId>("\"p\"").is_ok());
        let err = serde_json::from_str::<PackageId>("\"\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("PackageId is empty"), "{err}");
    }

    #[test]
    fn cookie_debug_is_redacted() {
        let cookie = CustomerCookie::parse("session-secret-value").unwrap();
        assert!(!format!("{cookie:?}").contains("session-secret-value"));
        assert_eq!(cookie.expose(), "session-secret-value");
    }
}
