//! Explanations: the decision for a user and an asset, with its trail — computed by the very function
//! the SEES endpoint calls (`Decider::for_user` is what `for_cookie` ends in), so the two cannot
//! disagree.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::auth::{Access, Caller};
use super::envelope::{ApiError, ApiOk};
use super::errors::AdminCode;
use super::AdminState;
use crate::decision::{Decision, Denial};
use crate::ids::{AssetId, UserId};

/// The explanation routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/oem/v2/entitlement/asset/{assetID}/details", get(mine))
        .route(
            "/oem/v1/admin/entitlements/{userid}/asset/{assetID}/details",
            get(for_user),
        )
}

/// `GET /oem/v2/entitlement/asset/{assetID}/details[?country=XX]`: the calling user's decision.
async fn mine(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(asset): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<ApiOk, ApiError> {
    let uid = caller.end_user()?;
    explain(&state, uid, &asset, &query).await
}

/// `GET /oem/v1/admin/entitlements/{userid}/asset/{assetID}/details[?country=XX]` (reader).
async fn for_user(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path((uid, asset)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<ApiOk, ApiError> {
    caller.allow(Access::Read)?;
    let uid = UserId::parse(uid)
        .map_err(|e| ApiError::new(AdminCode::InvalidField, format!("userid {e}")))?;
    explain(&state, uid, &asset, &query).await
}

async fn explain(
    state: &AdminState,
    uid: UserId,
    asset: &str,
    query: &HashMap<String, String>,
) -> Result<ApiOk, ApiError> {
    let asset = AssetId::parse(asset)
        .map_err(|e| ApiError::new(AdminCode::InvalidField, format!("assetID {e}")))?;
    let country = match query.get("country").map(|c| c.trim()) {
        None | Some("") => None,
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(_) => {
            return Err(ApiError::new(
                AdminCode::InvalidQuery,
                "country must be an ISO 3166-1 alpha-2 code",
            ))
        }
    };
    let decision = state
        .decider
        .for_user(&asset, &uid, country.as_deref(), state.clock.now())
        .await;
    if decision.outcome == Err(Denial::StoreUnavailable) {
        return Err(ApiError::plain(AdminCode::StoreUnavailable));
    }
    let mut body = decision_json(&decision, &uid);
    if let Ok(grant) = &decision.outcome {
        // The terms each DRM's token would carry, and who set each: the configuration or the
        // package whose policy is the strictest.
        body["drmTerms"] = json!(state.playback.drm_terms(grant));
    }
    Ok(ApiOk::ok(body))
}

/// A decision as the API shows it.
pub fn decision_json(decision: &Decision, uid: &UserId) -> Value {
    let mut body = json!({
        "assetID": decision.asset,
        "uid": uid,
        "entitled": decision.allowed(),
        "trail": decision.trail,
    });
    match &decision.outcome {
        Ok(grant) => {
            body["package"] = json!(grant.package);
            body["path"] = json!(grant.path);
        }
        Err(_) => body["reason"] = json!(decision.why()),
    }
    body
}
