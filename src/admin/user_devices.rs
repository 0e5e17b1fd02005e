//! Admin routes: the devices a user registered, which count against the per-user device limit
//! (`devices.max_per_user`). Any staff role lists them; support removes one or all of them, which
//! frees their slots.
//!
//! Removing is idempotent: a device the user does not have answers 200 with `"removed": 0` (like
//! revoking playback sessions). Removing a device does not revoke the user's sessions or forget the
//! cookie → device bindings; it only frees the slot.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{delete, get};
use axum::Router;
use serde_json::{json, Value};

use super::auth::{Access, Caller};
use super::envelope::{rfc3339, ApiError, ApiOk};
use super::extract::{AdminPath, AdminPath2, DeviceParam, Userid};
use super::AdminState;

/// The user-device routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route(
            "/oem/v1/admin/users/{userid}/devices",
            get(list_for_user).delete(remove_all),
        )
        .route(
            "/oem/v1/admin/users/{userid}/devices/{deviceID}",
            delete(remove_one),
        )
}

/// `GET /oem/v1/admin/users/{userid}/devices`: the user's devices, oldest registration first (an empty
/// list for a user with none).
async fn list_for_user(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    userid: Result<AdminPath<Userid>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(uid) = caller.allowed(Access::Read, userid)?;
    let devices = state.users.user_devices.list(&uid).await?;
    let listed: Vec<Value> = devices
        .iter()
        .map(|(device, at)| json!({ "deviceID": device.as_str(), "registeredAt": rfc3339(*at) }))
        .collect();
    Ok(ApiOk::ok(json!({ "devices": listed })))
}

/// `DELETE /oem/v1/admin/users/{userid}/devices/{deviceID}`: removes one device (idempotent).
async fn remove_one(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    path: Result<AdminPath2<Userid, DeviceParam>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath2(uid, device) = caller.allowed(Access::EntitlementWrite, path)?;
    let removed = state.users.user_devices.remove(&uid, &device).await?;
    let message = if removed {
        format!("device {device} of user {uid} is removed")
    } else {
        format!("user {uid} has no device {device}")
    };
    Ok(ApiOk::ok(
        json!({ "message": message, "removed": u64::from(removed) }),
    ))
}

/// `DELETE /oem/v1/admin/users/{userid}/devices`: removes every device of the user.
async fn remove_all(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    userid: Result<AdminPath<Userid>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(uid) = caller.allowed(Access::EntitlementWrite, userid)?;
    let removed = state.users.user_devices.remove_all(&uid).await?;
    Ok(ApiOk::ok(json!({
        "message": format!("removed {removed} device(s) of user {uid}"),
        "removed": removed,
    })))
}
