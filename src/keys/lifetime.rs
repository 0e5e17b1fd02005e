//! Token lifetimes: the two forms ExpressPlay's `expirationTime` accepts (`+N` seconds from issue, or an
//! absolute RFC 3339 instant in the `Z` zone) and the 30-day cap it enforces.
//! A lifetime is part of a content key's policy (and the `[expressplay]` default), so it lives with the
//! keys; `expressplay` re-exports it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// ExpressPlay's maximum (and default) token lifetime: 30 days.
pub const MAX_LIFETIME_SECS: u32 = 30 * 24 * 3600;

/// How long a token stays valid, as configured (globally or per content key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLifetime {
    /// `+N`: valid for N seconds from issue (1..=30 days).
    Relative(u32),
    /// An absolute expiry instant.
    Absolute(DateTime<Utc>),
}

/// A lifetime string that is neither `+N` nor an RFC 3339 `Z` instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token lifetime must be \"+N\" seconds (1..={MAX_LIFETIME_SECS}) or an RFC 3339 instant ending in Z, such as 2030-01-31T12:00:00Z")]
pub struct LifetimeParseError;

/// The configured absolute expiry has already passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the configured token expiry {0} has passed")]
pub struct LifetimeExpired(pub DateTime<Utc>);

impl TokenLifetime {
    /// The `expirationTime` parameter for a token issued at `now`, capped at 30 days. An absolute instant
    /// beyond the cap is moved to the cap; one in the past is an error (no token can be issued).
    pub fn expiration_param(&self, now: DateTime<Utc>) -> Result<String, LifetimeExpired> {
        match *self {
            TokenLifetime::Relative(secs) => Ok(format!("+{}", secs.min(MAX_LIFETIME_SECS))),
            TokenLifetime::Absolute(at) => {
                if at <= now {
                    return Err(LifetimeExpired(at));
                }
                let cap = now + Duration::seconds(i64::from(MAX_LIFETIME_SECS));
                Ok(at.min(cap).to_rfc3339_opts(SecondsFormat::Secs, true))
            }
        }
    }
}

impl FromStr for TokenLifetime {
    type Err = LifetimeParseError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if let Some(digits) = raw.strip_prefix('+') {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(LifetimeParseError);
            }
            let secs: u32 = digits.parse().map_err(|_| LifetimeParseError)?;
            if secs == 0 || secs > MAX_LIFETIME_SECS {
                return Err(LifetimeParseError);
            }
            return Ok(TokenLifetime::Relative(secs));
        }
        if !raw.ends_with('Z') {
            return Err(LifetimeParseError);
        }
        DateTime::parse_from_rfc3339(raw)
            .map(|at| TokenLifetime::Absolute(at.with_timezone(&Utc)))
            .map_err(|_| LifetimeParseError)
    }
}

impl fmt::Display for TokenLifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenLifetime::Relative(secs) => write!(f, "+{secs}"),
            TokenLifetime::Absolute(at) => {
                f.write_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
        }
    }
}

impl TryFrom<String> for TokenLifetime {
    type Error = LifetimeParseError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        raw.parse()
    }
}

impl From<TokenLifetime> for String {
    fn from(lifetime: TokenLifetime) -> Self {
        lifetime.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn parses_both_forms_and_round_trips() {
        assert_eq!("+60".parse(), Ok(TokenLifetime::Relative(60)));
        let absolute: TokenLifetime = "2006-04-14T12:01:10Z".parse().unwrap();
        assert_eq!(
            absolute,
            TokenLifetime::Absolute(at("2006-04-14T12:01:10Z"))
        );
        assert_eq!(absolute.to_string(), "2006-04-14T12:01:10Z");
        assert_eq!(TokenLifetime::Relative(60).to_string(), "+60");
    }

    #[test]
    fn rejects_malformed_and_out_of_range() {
        for bad in [
            "",
            "+",
            "60",
            "+0",
            "+-5",
            "+2592001",
            "+1e3",
            " +60",
            "2006-04-14T12:01:10+02:00",
            "2006-04-14",
            "tomorrow",
        ] {
            assert_eq!(
                bad.parse::<TokenLifetime>(),
                Err(LifetimeParseError),
                "{bad:?}"
            );
        }
        assert_eq!(
            "+2592000".parse(),
            Ok(TokenLifetime::Relative(MAX_LIFETIME_SECS))
        );
    }

    #[test]
    fn absolute_expiry_is_capped_and_past_expiry_refused() {
        let now = at("2026-01-01T00:00:00Z");
        let far = TokenLifetime::Absolute(at("2027-01-01T00:00:00Z"));
        assert_eq!(far.expiration_param(now).unwrap(), "2026-01-31T00:00:00Z");
        let near = TokenLifetime::Absolute(at("2026-01-02T00:00:00Z"));
        assert_eq!(near.expiration_param(now).unwrap(), "2026-01-02T00:00:00Z");
        let past = TokenLifetime::Absolute(at("2025-12-31T23:59:59Z"));
        assert!(past.expiration_param(now).is_err());
        assert_eq!(
            TokenLifetime::Relative(600).expiration_param(now).unwrap(),
            "+600"
        );
    }
}
