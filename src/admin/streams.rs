//! Admin routes: running streams (concurrency leases). An allowed license request opens a lease for
//! (user, device or cookie, asset) lasting `concurrency.lease_seconds`; the player keeps it with a
//! heartbeat and ends it when playback stops, both as the calling end user; staff list a user's live
//! streams, and support frees them all at once — the one call that ends a lock-out.
//!
//! A heartbeat for a stream that is not running (never opened, stopped, expired or evicted) answers
//! 200 with `"renewed": false` and tells the player to start playback again: there is no admin code
//! for "no such stream", and the answer is the same however often the player retries. Stopping is
//! idempotent the same way (`"stopped": false`). Neither writes anything then.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, put};
use axum::Router;
use serde_json::{json, Value};

use super::auth::{Access, Caller};
use super::envelope::{rfc3339, ApiError, ApiOk};
use super::errors::AdminCode;
use super::extract::{AdminPath, AssetParam, Userid};
use super::AdminState;
use crate::catalog::{Lease, StreamLeases};
use crate::ids::{AssetId, DeviceId, UserId};

/// The stream routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/oem/v2/streams/{assetID}", put(heartbeat).delete(stop))
        .route(
            "/oem/v1/admin/users/{userid}/streams",
            get(list_for_user).delete(free_all),
        )
}

/// What names a stream: the calling end user, the `{assetID}` of the path and the `device` of the
/// query, refused in that order.
struct StreamOf {
    uid: UserId,
    asset: AssetId,
    device: DeviceId,
}

impl FromRequestParts<Arc<AdminState>> for StreamOf {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AdminState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let asset = AdminPath::<AssetParam>::from_request_parts(parts, state).await;
        let uid = caller.end_user()?;
        let AdminPath(asset) = asset?;
        let device = query_device(parts.uri.query())?;
        Ok(StreamOf { uid, asset, device })
    }
}

/// The `device` query parameter: required, exactly once, a device id.
fn query_device(query: Option<&str>) -> Result<DeviceId, ApiError> {
    let bad = |message: String| ApiError::new(AdminCode::InvalidQuery, message);
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| bad("the query string is not valid".to_owned()))?;
    let mut devices = pairs.into_iter().filter(|(key, _)| key == "device");
    let (Some((_, raw)), None) = (devices.next(), devices.next()) else {
        return Err(bad(
            "device is required, once: the deviceID of the playback session \
             (?device=ID)"
                .to_owned(),
        ));
    };
    DeviceId::parse(raw).map_err(|e| {
        bad(format!(
            "device {e} (1-256 characters of A-Z a-z 0-9 . _ : + / = -)"
        ))
    })
}

/// `PUT /oem/v2/streams/{assetID}?device=ID`: the calling user's heartbeat; renews the stream's lease
/// for another `concurrency.lease_seconds`.
async fn heartbeat(
    State(state): State<Arc<AdminState>>,
    StreamOf { uid, asset, device }: StreamOf,
) -> Result<ApiOk, ApiError> {
    let now = state.clock.now();
    let renewed = state
        .users
        .leases
        .renew(
            &uid,
            device.as_str(),
            &asset,
            state.users.lease_duration,
            now,
        )
        .await?;
    if renewed {
        let expires_at = StreamLeases::expiry(now, state.users.lease_duration);
        Ok(ApiOk::ok(json!({
            "renewed": true,
            "assetID": asset,
            "device": device.as_str(),
            "expiresAt": rfc3339(expires_at),
        })))
    } else {
        Ok(ApiOk::ok(json!({
            "renewed": false,
            "assetID": asset,
            "device": device.as_str(),
            "message": format!(
                "no live stream of asset {asset} on device {device} (never started, stopped, \
                 expired or ended by a newer stream); start playback again"
            ),
        })))
    }
}

/// `DELETE /oem/v2/streams/{assetID}?device=ID`: the calling user stops the stream (idempotent).
async fn stop(
    State(state): State<Arc<AdminState>>,
    StreamOf { uid, asset, device }: StreamOf,
) -> Result<ApiOk, ApiError> {
    let stopped = state
        .users
        .leases
        .stop(&uid, device.as_str(), &asset)
        .await?;
    let message = if stopped {
        format!("the stream of asset {asset} on device {device} is stopped; its slot is free")
    } else {
        format!("no stream of asset {asset} on device {device} was running")
    };
    Ok(ApiOk::ok(json!({ "stopped": stopped, "message": message })))
}

/// A lease as the API shows it.
fn listed_lease(lease: &Lease) -> Value {
    json!({
        "assetID": lease.asset_id,
        "holder": lease.holder,
        "startedAt": rfc3339(lease.started_at),
        "renewedAt": rfc3339(lease.renewed_at),
        "expiresAt": rfc3339(lease.expires_at),
    })
}

/// `GET /oem/v1/admin/users/{userid}/streams`: the user's live streams, oldest first (an empty list
/// for a user with none).
async fn list_for_user(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    userid: Result<AdminPath<Userid>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(uid) = caller.allowed(Access::Read, userid)?;
    let leases = state.users.leases.live(&uid, state.clock.now()).await?;
    let listed: Vec<Value> = leases.iter().map(listed_lease).collect();
    Ok(ApiOk::ok(json!({ "streams": listed })))
}

/// `DELETE /oem/v1/admin/users/{userid}/streams`: ends every stream lease of the user at once, so the
/// user can start again at once.
async fn free_all(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    userid: Result<AdminPath<Userid>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(uid) = caller.allowed(Access::EntitlementWrite, userid)?;
    let freed = state.users.leases.free_all(&uid).await?;
    Ok(ApiOk::ok(json!({
        "message": format!("freed {freed} stream lease(s) of user {uid}; every slot is free"),
        "freed": freed,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: ApiError) -> u32 {
        e.code.number()
    }

    #[test]
    fn the_device_is_required_once_and_well_formed() {
        assert_eq!(
            query_device(Some("device=dev-1")).unwrap().as_str(),
            "dev-1"
        );
        assert_eq!(
            query_device(Some("x=1&device=a%2Bb%3D")).unwrap().as_str(),
            "a+b="
        );
        for bad in [
            None,
            Some(""),
            Some("devices=a"),
            Some("device="),
            Some("device=bad%20id"),
            Some("device=a&device=b"),
            Some("device=%FF"),
        ] {
            assert_eq!(code(query_device(bad).unwrap_err()), 1017, "{bad:?}");
        }
    }
}
