//! The claims of an entitlement token (`PUT /oem/v1/entitlements/token`), read strictly from claims
//! whose signature, issuer, audience and times were verified already. The spec publishes no schema;
//! sees's is:
//!
//! - `sub`: the user ID (the rules of [`UserId`]);
//! - `jti`: 1 to [`MAX_JTI_CHARS`] characters without control characters; with the provider, it makes
//!   the token applicable once;
//! - `iat` and `exp`: required (their values were checked by the verifier);
//! - `entitlements`: 1 to `admin.max_list_len` objects `{"packageID", "startDate", "endDate"}` (RFC 3339
//!   dates, `startDate` before `endDate`, each package once, no other member).
//!
//! Other claims are ignored. Errors never echo the token.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{numeric_date, Rounding};
use crate::catalog::{PackageGrant, TokenGrants};
use crate::ids::{PackageId, UserId};

/// Longest accepted `jti`, in characters.
pub const MAX_JTI_CHARS: usize = 256;

/// A verified entitlement token, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementToken {
    /// The configured provider's name.
    pub provider: String,
    /// `sub`.
    pub user: UserId,
    pub jti: String,
    /// `exp` plus the clock skew: until then the token could verify, so its `jti` is remembered.
    pub remember_until: DateTime<Utc>,
    /// `entitlements`, in the token's order.
    pub grants: Vec<PackageGrant>,
}

impl EntitlementToken {
    /// What the catalogue applies.
    pub fn into_grants(self) -> TokenGrants {
        TokenGrants {
            provider: self.provider,
            jti: self.jti,
            remember_until: self.remember_until,
            uid: self.user,
            grants: self.grants,
        }
    }
}

/// Why the claims of a verified token are not an entitlement token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("token has no `{0}` claim")]
    Missing(&'static str),
    #[error("token claim `{claim}` {why}")]
    Invalid { claim: &'static str, why: String },
    #[error("token claim `entitlements` has {len} entries (at most {max})")]
    TooMany { len: usize, max: usize },
    #[error(
        "token claim `entitlements`: entry {index}: {field} must be an RFC 3339 timestamp such as \
         2018-02-01T01:00:00Z"
    )]
    InvalidDate { index: usize, field: &'static str },
    #[error(
        "token claim `entitlements`: entry {index} (package {package}): endDate must be after startDate"
    )]
    DatesOutOfOrder { index: usize, package: PackageId },
}

/// One entry of `entitlements`, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    #[serde(rename = "packageID")]
    package_id: String,
    #[serde(rename = "startDate")]
    start_date: String,
    #[serde(rename = "endDate")]
    end_date: String,
}

/// Reads the verified `claims` of a token of `provider`; `clock_skew_s` is the verifier's leeway, and
/// `entitlements` may hold at most `max_grants` entries.
pub fn read_claims(
    provider: &str,
    claims: &Map<String, Value>,
    clock_skew_s: i64,
    max_grants: usize,
) -> Result<EntitlementToken, ClaimError> {
    let invalid = |claim, why: &str| ClaimError::Invalid {
        claim,
        why: why.to_owned(),
    };
    let user = match claims.get("sub") {
        None => return Err(ClaimError::Missing("sub")),
        Some(Value::String(sub)) => UserId::parse(sub.as_str())
            .map_err(|e| invalid("sub", &format!("is not a user ID: it {e}")))?,
        Some(_) => return Err(invalid("sub", "must be a string")),
    };
    let jti = match claims.get("jti") {
        None => return Err(ClaimError::Missing("jti")),
        Some(Value::String(jti)) => jti,
        Some(_) => return Err(invalid("jti", "must be a string")),
    };
    let jti_chars = jti.chars().count();
    if jti_chars == 0 || jti_chars > MAX_JTI_CHARS || jti.chars().any(char::is_control) {
        return Err(invalid(
            "jti",
            &format!("must be 1 to {MAX_JTI_CHARS} characters without control characters"),
        ));
    }
    if !claims.contains_key("iat") {
        return Err(ClaimError::Missing("iat"));
    }
    let exp = match claims.get("exp") {
        None => return Err(ClaimError::Missing("exp")),
        Some(exp) => numeric_date(exp, Rounding::Down)
            .ok_or_else(|| invalid("exp", "must be a NumericDate"))?,
    };
    let remember_until = DateTime::from_timestamp(exp.saturating_add(clock_skew_s), 0)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let grants = read_grants(claims.get("entitlements"), max_grants)?;
    Ok(EntitlementToken {
        provider: provider.to_owned(),
        user,
        jti: jti.clone(),
        remember_until,
        grants,
    })
}

fn read_grants(raw: Option<&Value>, max: usize) -> Result<Vec<PackageGrant>, ClaimError> {
    let invalid = |why: String| ClaimError::Invalid {
        claim: "entitlements",
        why,
    };
    let entries = match raw {
        None => return Err(ClaimError::Missing("entitlements")),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(invalid("must be a list".into())),
    };
    if entries.is_empty() {
        return Err(invalid("must list at least one entitlement".into()));
    }
    if entries.len() > max {
        return Err(ClaimError::TooMany {
            len: entries.len(),
            max,
        });
    }
    let mut seen = BTreeSet::new();
    let mut grants = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        if !entry.is_object() {
            return Err(invalid(format!("entry {index} must be an object")));
        }
        let raw =
            RawGrant::deserialize(entry).map_err(|e| invalid(format!("entry {index}: {e}")))?;
        let package_id = PackageId::parse(raw.package_id)
            .map_err(|e| invalid(format!("entry {index}: packageID {e}")))?;
        let date = |field, value: &str| {
            DateTime::parse_from_rfc3339(value)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| ClaimError::InvalidDate { index, field })
        };
        let start = date("startDate", &raw.start_date)?;
        let end = date("endDate", &raw.end_date)?;
        // Compared as stored: to the millisecond.
        if end.timestamp_millis() <= start.timestamp_millis() {
            return Err(ClaimError::DatesOutOfOrder {
                index,
                package: package_id,
            });
        }
        if !seen.insert(package_id.clone()) {
            return Err(invalid(format!(
                "entry {index}: package {package_id} is listed more than once"
            )));
        }
        grants.push(PackageGrant {
            package_id,
            start,
            end,
        });
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn valid() -> Value {
        json!({
            "iss": "https://billing.example",
            "sub": "alice",
            "jti": "t-1",
            "iat": NOW,
            "exp": NOW + 300,
            "custom": {"ignored": true},
            "entitlements": [
                {"packageID": "gold", "startDate": "2030-01-01T00:00:00Z",
                 "endDate": "2030-02-01T00:00:00+01:00"},
                {"packageID": "silver", "startDate": "2030-01-01T00:00:00Z",
                 "endDate": "2030-01-01T00:00:00.001Z"}
            ]
        })
    }

    fn read(value: Value) -> Result<EntitlementToken, ClaimError> {
        read_claims("acme", &claims(value), 60, 10)
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = valid();
        v[field] = value;
        v
    }

    fn without(field: &str) -> Value {
        let mut v = valid();
        v.as_object_mut().unwrap().remove(field);
        v
    }

    fn with_entry(entry: Value) -> Value {
        with("entitlements", json!([entry]))
    }

    fn invalid_claim(result: Result<EntitlementToken, ClaimError>) -> (&'static str, String) {
        match result {
            Err(ClaimError::Invalid { claim, why }) => (claim, why),
            other => panic!("expected an invalid claim, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_token_is_read_in_order_and_unknown_claims_are_ignored() {
        let token = read(valid()).unwrap();
        assert_eq!(token.provider, "acme");
        assert_eq!(token.user.as_str(), "alice");
        assert_eq!(token.jti, "t-1");
        assert_eq!(token.remember_until.timestamp(), NOW + 300 + 60);
        let packages: Vec<&str> = token.grants.iter().map(|g| g.package_id.as_str()).collect();
        assert_eq!(packages, ["gold", "silver"]);
        assert_eq!(
            token.grants[0].end,
            "2030-01-31T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let grants = token.clone().into_grants();
        assert_eq!(
            (grants.uid, grants.jti, grants.provider),
            (token.user, token.jti, token.provider)
        );
    }

    #[test]
    fn required_claims_are_named_when_missing() {
        for claim in ["sub", "jti", "iat", "exp", "entitlements"] {
            assert_eq!(
                read(without(claim)),
                Err(ClaimError::Missing(claim)),
                "{claim}"
            );
        }
    }

    #[test]
    fn sub_follows_the_user_id_rules() {
        for bad in [
            json!(""),
            json!(" alice"),
            json!("a,b"),
            json!("a\u{1}"),
            json!(42),
        ] {
            assert_eq!(
                invalid_claim(read(with("sub", bad.clone()))).0,
                "sub",
                "{bad}"
            );
        }
        let longest = "u".repeat(256);
        assert!(read(with("sub", json!(longest))).is_ok());
        let too_long = "u".repeat(256 + 1);
        assert_eq!(invalid_claim(read(with("sub", json!(too_long)))).0, "sub");
    }

    #[test]
    fn jti_is_1_to_256_characters_without_control_characters() {
        assert!(read(with("jti", json!("é".repeat(MAX_JTI_CHARS)))).is_ok());
        for bad in [
            json!(""),
            json!("j".repeat(MAX_JTI_CHARS + 1)),
            json!("a\nb"),
            json!(7),
            json!(null),
        ] {
            assert_eq!(
                invalid_claim(read(with("jti", bad.clone()))).0,
                "jti",
                "{bad}"
            );
        }
    }

    #[test]
    fn huge_expiry_is_remembered_for_ever() {
        let token = read(with("exp", json!(u64::MAX))).unwrap();
        assert_eq!(token.remember_until, DateTime::<Utc>::MAX_UTC);
        assert_eq!(invalid_claim(read(with("exp", json!("soon")))).0, "exp");
    }

    #[test]
    fn entitlements_must_be_a_bounded_non_empty_list_of_objects() {
        let (claim, why) = invalid_claim(read(with("entitlements", json!([]))));
        assert_eq!(claim, "entitlements");
        assert!(why.contains("at least one"), "{why}");
        assert_eq!(
            invalid_claim(read(with("entitlements", json!({"packageID": "gold"})))).0,
            "entitlements"
        );
        assert_eq!(
            invalid_claim(read(with("entitlements", json!(["gold"])))).0,
            "entitlements"
        );
        let entry = valid()["entitlements"][0].clone();
        let eleven: Vec<Value> = (0..11)
            .map(|i| {
                let mut e = entry.clone();
                e["packageID"] = json!(format!("p{i}"));
                e
            })
            .collect();
        assert_eq!(
            read(with("entitlements", json!(eleven))),
            Err(ClaimError::TooMany { len: 11, max: 10 })
        );
        assert!(read(with("entitlements", json!(eleven[..10]))).is_ok());
    }

    #[test]
    fn entries_are_strict() {
        let entry = valid()["entitlements"][0].clone();
        let mut extra = entry.clone();
        extra["concurrencyLimit"] = json!(2);
        let (_, why) = invalid_claim(read(with_entry(extra)));
        assert!(why.contains("unknown field"), "{why}");
        for field in ["packageID", "startDate", "endDate"] {
            let mut missing = entry.clone();
            missing.as_object_mut().unwrap().remove(field);
            let (_, why) = invalid_claim(read(with_entry(missing)));
            assert!(why.contains(field), "{why}");
        }
        let mut bad_id = entry.clone();
        bad_id["packageID"] = json!("a,b");
        let (_, why) = invalid_claim(read(with_entry(bad_id)));
        assert!(why.contains("packageID"), "{why}");
        let twice = with("entitlements", json!([entry.clone(), entry.clone()]));
        let (_, why) = invalid_claim(read(twice));
        assert!(why.contains("more than once"), "{why}");
    }

    #[test]
    fn dates_are_rfc3339_and_in_order() {
        let entry = valid()["entitlements"][0].clone();
        let mut bad_start = entry.clone();
        bad_start["startDate"] = json!("2030-01-01");
        assert_eq!(
            read(with_entry(bad_start)),
            Err(ClaimError::InvalidDate {
                index: 0,
                field: "startDate"
            })
        );
        let mut bad_end = entry.clone();
        bad_end["endDate"] = json!(1_900_000_000);
        assert_eq!(invalid_claim(read(with_entry(bad_end))).0, "entitlements");
        for end in [
            "2030-01-01T00:00:00Z",
            "2029-12-31T23:59:59Z",
            "2030-01-01T00:00:00.0009Z",
        ] {
            let mut backwards = entry.clone();
            backwards["endDate"] = json!(end);
            assert!(
                matches!(
                    read(with_entry(backwards)),
                    Err(ClaimError::DatesOutOfOrder { index: 0, ref package }) if package.as_str() == "gold"
                ),
                "{end}"
            );
        }
    }
}
