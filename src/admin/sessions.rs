//! Admin routes: playback sessions, which turn the player's `customerCookie` into a user. The
//! customer's backend (support or admin) opens a session and hands the cookie to the player; support
//! revokes one session by its cookie or all of a user's; any staff role lists a user's sessions
//! (never the cookie or its hash, which is all the store holds).
//!
//! Revoking is idempotent: an unknown, expired or already revoked cookie answers 200 with
//! `"revoked": 0` (there is no admin code for "no such session", and a 404 would only tell a caller
//! which cookies exist).
//!
//! The role is checked before the body is read: a caller without the role learns nothing about what
//! the body should look like.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::routing::{delete, get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::{Access, Caller};
use super::envelope::{decode_body, invalid, rfc3339, AdminJson, ApiError, ApiOk};
use super::extract::{AdminPath, CookieParam, Userid};
use super::AdminState;
use crate::catalog::{PlaybackSession, PlaybackSessions};
use crate::ids::{DeviceId, UserId};

/// A session's lifetime when the body names none: 4 hours.
const DEFAULT_TTL_SECONDS: u64 = 4 * 60 * 60;
/// The shortest and longest lifetimes a body may ask for: a minute, a week.
const TTL_SECONDS: std::ops::RangeInclusive<u64> = 60..=7 * 24 * 60 * 60;

/// The playback-session routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/oem/v1/admin/playback-sessions", post(open))
        .route(
            "/oem/v1/admin/playback-sessions/{cookie}",
            delete(revoke_one),
        )
        .route(
            "/oem/v1/admin/users/{userid}/playback-sessions",
            get(list_for_user).delete(revoke_for_user),
        )
}

/// The body of `POST /oem/v1/admin/playback-sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    uid: UserId,
    #[serde(rename = "deviceID", default)]
    device_id: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(rename = "ttlSeconds", default)]
    ttl_seconds: Option<u64>,
}

/// `uid`, `deviceID` and `country` when set, `createdAt`, `expiresAt`.
fn session_fields(s: &PlaybackSession) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("uid".into(), json!(s.uid));
    if let Some(device) = &s.device_id {
        object.insert("deviceID".into(), json!(device));
    }
    if let Some(country) = &s.country {
        object.insert("country".into(), json!(country));
    }
    object.insert("createdAt".into(), json!(rfc3339(s.created_at)));
    object.insert("expiresAt".into(), json!(rfc3339(s.expires_at)));
    object
}

/// A session in a listing: its fields, `revokedAt` when revoked, and whether it is `live` at `now`.
fn listed_session(s: &PlaybackSession, now: DateTime<Utc>) -> Value {
    let mut object = session_fields(s);
    if let Some(revoked) = s.revoked_at {
        object.insert("revokedAt".into(), json!(rfc3339(revoked)));
    }
    object.insert("live".into(), json!(s.is_live(now)));
    Value::Object(object)
}

/// `POST /oem/v1/admin/playback-sessions`: opens a session; the cookie is in this answer only.
async fn open(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    request: Request,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::EntitlementWrite)?;
    let body = AdminJson::<OpenBody>::read(request).await?;
    let (device, country, ttl) = open_terms(&body)?;
    let (cookie, session) = state
        .users
        .sessions
        .open(
            &body.uid,
            device.as_ref().map(DeviceId::as_str),
            country.as_deref(),
            Duration::from_secs(ttl),
            state.clock.now(),
        )
        .await?;
    Ok(ApiOk::ok(json!({
        "customerCookie": cookie.expose(),
        "expiresAt": rfc3339(session.expires_at),
        "session": Value::Object(session_fields(&session)),
    })))
}

/// Fuzzing: an open body decoded and checked as `POST /oem/v1/admin/playback-sessions` does.
pub(super) fn fuzz_open(bytes: &[u8]) -> Result<(), ApiError> {
    open_terms(&decode_body::<OpenBody>(bytes)?).map(drop)
}

/// The checked device, country and lifetime (seconds) of an open body.
fn open_terms(body: &OpenBody) -> Result<(Option<DeviceId>, Option<String>, u64), ApiError> {
    let device = body
        .device_id
        .clone()
        .map(|raw| DeviceId::parse(raw).map_err(|e| invalid(format!("deviceID {e}"))))
        .transpose()?;
    let country = body
        .country
        .as_ref()
        .map(|raw| {
            PlaybackSessions::country_code(raw).map_err(|why| invalid(format!("country {why}")))
        })
        .transpose()?;
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !TTL_SECONDS.contains(&ttl) {
        return Err(invalid(format!(
            "ttlSeconds must be {} to {} (a minute to a week)",
            TTL_SECONDS.start(),
            TTL_SECONDS.end()
        )));
    }
    Ok((device, country, ttl))
}

/// `DELETE /oem/v1/admin/playback-sessions/{cookie}`: revokes one session (idempotent).
async fn revoke_one(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    cookie: Result<AdminPath<CookieParam>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(cookie) = caller.allowed(Access::EntitlementWrite, cookie)?;
    let revoked = state
        .users
        .sessions
        .revoke(&cookie, state.clock.now())
        .await?;
    let message = if revoked {
        "the playback session is revoked"
    } else {
        "no live playback session has this cookie (unknown, expired or already revoked)"
    };
    Ok(ApiOk::ok(
        json!({ "message": message, "revoked": u64::from(revoked) }),
    ))
}

/// `DELETE /oem/v1/admin/users/{userid}/playback-sessions`: revokes every live session of the user.
async fn revoke_for_user(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    userid: Result<AdminPath<Userid>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(uid) = caller.allowed(Access::EntitlementWrite, userid)?;
    let revoked = state
        .users
        .sessions
        .revoke_user(&uid, state.clock.now())
        .await?;
    Ok(ApiOk::ok(json!({
        "message": format!("revoked {revoked} live playback session(s) of user {uid}"),
        "revoked": revoked,
    })))
}

/// `GET /oem/v1/admin/users/{userid}/playback-sessions`: every session of the user, newest first (an
/// empty list for a user with none).
async fn list_for_user(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    userid: Result<AdminPath<Userid>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(uid) = caller.allowed(Access::Read, userid)?;
    let now = state.clock.now();
    let sessions = state.users.sessions.sessions_of(&uid).await?;
    let listed: Vec<Value> = sessions.iter().map(|s| listed_session(s, now)).collect();
    Ok(ApiOk::ok(json!({ "sessions": listed })))
}
