//! Admin routes: the monetization entitlements API — `POST /monetization/entitlements/v1` (the
//! monetization spec's "Create an entitlement"), and two sees extensions, `GET
//! /monetization/entitlements/v1?user_id=U` (the user's monetization entitlements) and `DELETE
//! /monetization/entitlements/v1/{user_id}/{offer_id}`.
//!
//! How an offer maps to packages: the `offer_id` *is* a package ID. A monetization entitlement is
//! the package entitlement `(uid = user_id, package = offer_id)`, from the time of the request
//! (`state.clock.now()`) to `expiration_time` (absent: it never expires), with the monetization
//! fields (`project_id`, `concurrency_limit`, `origin_country_code`, `source_id`, `source_type`) in
//! the extra columns of the same row. It therefore also shows (without those fields) in the OEM
//! routes (`GET /oem/v1/admin/entitlements/{userid}`) and counts for playback decisions like any
//! other entitlement. An offer that names no package is 404 / 1040.
//!
//! `POST` is an upsert (a purchase renewal): an existing entitlement of the user to the package —
//! written by this API or granted through the OEM routes — is replaced: the window starts again
//! now, and every monetization field takes the body's value (an absent field is cleared). Its
//! `created_at` stays. `expiration_time` not after now is 400 / 1014.
//!
//! `GET` lists only the entitlements this API wrote (those with a `project_id`), and `DELETE` only
//! removes one of those: an OEM-granted entitlement of the user to the package is left alone and
//! the answer is 404 / 1040, as for no entitlement at all.
//!
//! Bodies and answers use the monetization spec's snake_case names. `concurrency_limit` is a string
//! in the spec: a JSON string of digits or a JSON integer is accepted (1 to 4294967295) and answers
//! carry it as a string. `origin_country_code` is two ASCII letters (ISO 3166-1 alpha-2), stored upper
//! case. Bad values are 400 / 1011 naming the field and the rule; unknown fields 400 / 1012; an
//! `expiration_time` that is not RFC 3339 400 / 1013. A JSON `null` is the same as an absent field.
//!
//! Roles: support and up write (`POST`, `DELETE`), any staff role reads (`GET`); the role is checked
//! before the body is read.

use std::sync::Arc;

use axum::extract::{RawQuery, Request, State};
use axum::routing::{delete, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::catalog::ConcurrencyPolicy;

use super::auth::{Access, Caller};
use super::envelope::{decode_body, invalid, parse_date, rfc3339, AdminJson, ApiError, ApiOk};
use super::errors::AdminCode;
use super::extract::{AdminPath2, MonetizationUser, Offer};
use super::AdminState;
use crate::catalog::{Entitlement, MonetizationGrant};
use crate::ids::{PackageId, UserId};

/// The collection path.
const PATH: &str = "/monetization/entitlements/v1";
/// The longest free-text field (`project_id`, `source_id`, `source_type`), in characters.
const MAX_TEXT_CHARS: usize = 256;

/// The monetization entitlements routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/monetization/entitlements/v1", post(create).get(list))
        .route(
            "/monetization/entitlements/v1/{user_id}/{offer_id}",
            delete(revoke),
        )
}

/// The body of `POST /monetization/entitlements/v1`. Every field is read as raw JSON and checked
/// here, so that every refusal names its field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    offer_id: Option<Value>,
    #[serde(default)]
    project_id: Option<Value>,
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default)]
    concurrency_limit: Option<Value>,
    /// sees extension: `block-new` or `evict-oldest` for this entitlement.
    #[serde(default)]
    concurrency_policy: Option<Value>,
    #[serde(default)]
    expiration_time: Option<Value>,
    #[serde(default)]
    origin_country_code: Option<Value>,
    #[serde(default)]
    source_id: Option<Value>,
    #[serde(default)]
    source_type: Option<Value>,
}

/// A string field: `Ok(None)` when absent (or `null`).
fn string_field(name: &str, value: Option<Value>) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{name} must be a string"))),
    }
}

/// A required string field.
fn required(name: &str, value: Option<Value>) -> Result<String, ApiError> {
    string_field(name, value)?.ok_or_else(|| invalid(format!("{name} is required")))
}

/// Free text (`project_id`, `source_id`, `source_type`): 1-256 characters, not blank, no
/// surrounding whitespace, no control characters.
fn text(name: &str, raw: String) -> Result<String, ApiError> {
    let chars = raw.chars().count();
    if raw.trim().is_empty() {
        Err(invalid(format!("{name} must not be empty or blank")))
    } else if chars > MAX_TEXT_CHARS {
        Err(invalid(format!(
            "{name} has {chars} characters (at most {MAX_TEXT_CHARS})"
        )))
    } else if raw.chars().any(char::is_control) {
        Err(invalid(format!("{name} contains a control character")))
    } else if raw.trim() != raw {
        Err(invalid(format!(
            "{name} has leading or trailing whitespace"
        )))
    } else {
        Ok(raw)
    }
}

/// `concurrency_limit`: a string of ASCII digits or a JSON integer, 1 to `u32::MAX`.
fn concurrency_limit(value: Option<Value>) -> Result<Option<u32>, ApiError> {
    const RULE: &str = "concurrency_limit must be a whole number from 1 to 4294967295 \
                        (a string of digits or a JSON integer)";
    let parsed = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u32>().ok()
        }
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(_) => None,
    };
    match parsed {
        Some(n) if n >= 1 => Ok(Some(n)),
        _ => Err(invalid(RULE)),
    }
}

/// `origin_country_code`: two ASCII letters (ISO 3166-1 alpha-2), upper-cased.
fn country(raw: String) -> Result<String, ApiError> {
    if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(raw.to_ascii_uppercase())
    } else {
        Err(invalid(
            "origin_country_code must be an ISO 3166-1 alpha-2 code: two ASCII letters",
        ))
    }
}

/// Fuzzing: a body decoded and checked as `POST /monetization/entitlements/v1` does, without HTTP.
pub(super) fn fuzz_create(bytes: &[u8], now: DateTime<Utc>) -> Result<(), ApiError> {
    grant_of(decode_body(bytes)?, now).map(drop)
}

/// The body as a grant to write at `now` (`expiration_time` must be after `now`).
fn grant_of(body: CreateBody, now: DateTime<Utc>) -> Result<MonetizationGrant, ApiError> {
    let offer = required("offer_id", body.offer_id)?;
    let package_id = PackageId::parse(offer).map_err(|e| invalid(format!("offer_id {e}")))?;
    let project_id = text("project_id", required("project_id", body.project_id)?)?;
    let user = required("user_id", body.user_id)?;
    let uid = UserId::parse(user).map_err(|e| invalid(format!("user_id {e}")))?;
    let concurrency_limit = concurrency_limit(body.concurrency_limit)?;
    let concurrency_policy = string_field("concurrency_policy", body.concurrency_policy)?
        .map(|raw| {
            ConcurrencyPolicy::parse(&raw)
                .ok_or_else(|| invalid("concurrency_policy must be block-new or evict-oldest"))
        })
        .transpose()?;
    let origin_country = string_field("origin_country_code", body.origin_country_code)?
        .map(country)
        .transpose()?;
    let source_id = string_field("source_id", body.source_id)?
        .map(|raw| text("source_id", raw))
        .transpose()?;
    let source_type = string_field("source_type", body.source_type)?
        .map(|raw| text("source_type", raw))
        .transpose()?;
    let end = match body.expiration_time {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => Some(parse_date("expiration_time", &raw)?),
        Some(_) => {
            return Err(ApiError::new(
                AdminCode::InvalidDate,
                "expiration_time must be an RFC 3339 timestamp string such as \
                 2030-02-01T01:00:00Z",
            ))
        }
    };
    if let Some(end) = end {
        if end.timestamp_millis() <= now.timestamp_millis() {
            return Err(ApiError::new(
                AdminCode::DatesOutOfOrder,
                "expiration_time must be in the future (the entitlement starts now)",
            ));
        }
    }
    Ok(MonetizationGrant {
        uid,
        package_id,
        project_id,
        end,
        concurrency_limit,
        concurrency_policy,
        origin_country,
        source_id,
        source_type,
    })
}

/// An entitlement as the monetization API shows it.
fn monetization_json(e: &Entitlement, now: DateTime<Utc>) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(format!("{}:{}", e.uid, e.package_id)));
    object.insert("offer_id".into(), json!(e.package_id));
    if let Some(project) = &e.project_id {
        object.insert("project_id".into(), json!(project));
    }
    object.insert("user_id".into(), json!(e.uid));
    if let Some(limit) = e.concurrency_limit {
        object.insert("concurrency_limit".into(), json!(limit.to_string()));
    }
    if let Some(policy) = e.concurrency_policy {
        object.insert("concurrency_policy".into(), json!(policy.as_str()));
    }
    if let Some(end) = e.end {
        object.insert("expiration_time".into(), json!(rfc3339(end)));
    }
    if let Some(country) = &e.origin_country {
        object.insert("origin_country_code".into(), json!(country));
    }
    if let Some(source) = &e.source_id {
        object.insert("source_id".into(), json!(source));
    }
    if let Some(source) = &e.source_type {
        object.insert("source_type".into(), json!(source));
    }
    object.insert("created_at".into(), json!(rfc3339(e.created_at)));
    object.insert("updated_at".into(), json!(rfc3339(e.modified_at)));
    object.insert("active".into(), json!(e.is_active(now)));
    Value::Object(object)
}

/// `POST /monetization/entitlements/v1`: creates, or replaces (a renewal), the user's entitlement to
/// the offer.
async fn create(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    request: Request,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::EntitlementWrite)?;
    let body = AdminJson::<CreateBody>::read(request).await?;
    let now = state.clock.now();
    let grant = grant_of(body, now)?;
    let stored = state
        .catalog
        .upsert_monetization_entitlement(&grant, now)
        .await?;
    Ok(ApiOk::ok(
        json!({ "entitlement": monetization_json(&stored, now) }),
    ))
}

/// `GET /monetization/entitlements/v1?user_id=U`: the user's monetization entitlements, oldest first
/// (an empty list for a user with none).
async fn list(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::Read)?;
    let uid = query_user(query.as_deref())?;
    let now = state.clock.now();
    let listed: Vec<Value> = state
        .catalog
        .monetization_entitlements_of(&uid)
        .await?
        .iter()
        .map(|e| monetization_json(e, now))
        .collect();
    Ok(ApiOk::ok(json!({ "entitlements": listed })))
}

/// The `user_id` of the query string: required, once, a valid user ID (400 / 1017 otherwise).
fn query_user(query: Option<&str>) -> Result<UserId, ApiError> {
    let bad = |message: String| ApiError::new(AdminCode::InvalidQuery, message);
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| bad("the query string is not valid".to_owned()))?;
    let mut users = pairs.into_iter().filter(|(key, _)| key == "user_id");
    let (Some((_, raw)), None) = (users.next(), users.next()) else {
        return Err(bad(format!(
            "user_id is required, once: {PATH}?user_id=<user ID>"
        )));
    };
    UserId::parse(raw).map_err(|e| bad(format!("user_id {e}")))
}

/// `DELETE /monetization/entitlements/v1/{user_id}/{offer_id}`: removes the user's monetization
/// entitlement to the offer.
async fn revoke(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath2<MonetizationUser, Offer>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath2(uid, offer) = caller.allowed(Access::EntitlementWrite, path)?;
    if state
        .catalog
        .revoke_monetization_entitlement(&uid, &offer)
        .await?
    {
        Ok(ApiOk::deleted(format_args!(
            "The entitlement of {uid} to offer {offer}"
        )))
    } else {
        Err(ApiError::new(
            AdminCode::PackageNotFound,
            format!("user {uid} holds no monetization entitlement to offer {offer}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_limits_and_countries() {
        for (raw, want) in [
            (json!("1"), 1),
            (json!("007"), 7),
            (json!(3), 3),
            (json!("4294967295"), u32::MAX),
        ] {
            assert_eq!(
                concurrency_limit(Some(raw.clone())),
                Ok(Some(want)),
                "{raw}"
            );
        }
        assert_eq!(concurrency_limit(None), Ok(None));
        assert_eq!(concurrency_limit(Some(Value::Null)), Ok(None));
        for raw in [
            json!("0"),
            json!(0),
            json!(-1),
            json!("-1"),
            json!("+1"),
            json!(" 1"),
            json!(""),
            json!("x"),
            json!(1.5),
            json!("4294967296"),
            json!(4_294_967_296_u64),
            json!(true),
            json!([1]),
        ] {
            let refused = concurrency_limit(Some(raw.clone())).unwrap_err();
            assert_eq!(refused.code, AdminCode::InvalidField, "{raw}");
            assert!(refused.message.contains("concurrency_limit"), "{raw}");
        }
        assert_eq!(country("de".into()), Ok("DE".to_owned()));
        for bad in ["USA", "1A", "", "D", "É1", "ÉÉ"] {
            assert_eq!(
                country(bad.into()).unwrap_err().code,
                AdminCode::InvalidField,
                "{bad}"
            );
        }
    }

    #[test]
    fn the_user_id_query() {
        assert_eq!(query_user(Some("user_id=u%201")).unwrap().as_str(), "u 1");
        assert_eq!(query_user(Some("x=1&user_id=u")).unwrap().as_str(), "u");
        for bad in [
            None,
            Some(""),
            Some("userid=u"),
            Some("user_id="),
            Some("user_id=a&user_id=b"),
            Some("user_id=a,b"),
        ] {
            assert_eq!(
                query_user(bad).unwrap_err().code,
                AdminCode::InvalidQuery,
                "{bad:?}"
            );
        }
    }
}
