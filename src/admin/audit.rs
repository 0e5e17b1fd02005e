//! The admin half of the audit log: every POST, PUT, PATCH and DELETE — refused ones included — is
//! one event with the caller (token name and role, or end-user id; never the token), the requestID,
//! the matched route template (never the raw path, which may hold a session cookie), its user and
//! asset parameters, the status and the admin error code. Bodies are never recorded.

use std::sync::{Arc, Mutex};

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::envelope::{error_number, RequestId};
use crate::audit::{AuditEvent, AuditLog, AuditOutcome, Kind};

/// What the handler side learned about a write, filled in while it runs.
#[derive(Debug, Default)]
struct Facts {
    caller: Option<String>,
    user: Option<String>,
    asset: Option<String>,
    route: Option<String>,
    drm: Option<&'static str>,
}

/// Put into the extensions of audited requests; the caller extractor and the route layer fill it.
#[derive(Clone, Default)]
pub struct AuditSlot(Arc<Mutex<Facts>>);

impl AuditSlot {
    fn with(&self, fill: impl FnOnce(&mut Facts)) {
        fill(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Notes the DRM an entitlement token was asked for.
    pub fn note_drm(&self, drm: &'static str) {
        self.with(|facts| facts.drm = Some(drm));
    }

    /// Notes who called (`who` as the event shows it, never a credential) and, for an end user,
    /// their user id. The audit knows nothing of how callers authenticate: `auth` describes them.
    pub fn note_caller(&self, who: String, user: Option<String>) {
        self.with(|facts| {
            facts.caller = Some(who);
            if facts.user.is_none() {
                facts.user = user;
            }
        });
    }
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Records one event per write after the handler answered (inside the envelope, which supplies the
/// requestID).
pub async fn record_writes(
    State(audit): State<AuditLog>,
    mut request: Request,
    next: Next,
) -> Response {
    if !audit.is_enabled() || !is_write(request.method()) {
        return next.run(request).await;
    }
    let slot = AuditSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().as_str().to_owned();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let mut event = AuditEvent::new(
        Kind::AdminWrite,
        audit.now(),
        AuditOutcome::of_status(status),
    );
    event.error = error_number(&response).map(i64::from);
    event.method = Some(method);
    event.request_id = request_id;
    event.status = Some(status);
    slot.with(|facts| {
        event.caller = facts.caller.take();
        event.user = facts.user.take();
        event.asset = facts.asset.take();
        event.route = facts.route.take();
        event.drm = facts.drm.take().map(str::to_owned);
    });
    audit.record(event);
    response
}

/// On matched routes: notes the route template and its `userid` and `assetID` parameters.
pub async fn note_route(
    matched: Option<MatchedPath>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(slot) = request.extensions().get::<AuditSlot>() {
        slot.with(|facts| {
            facts.route = matched.map(|m| m.as_str().to_owned());
            for (name, value) in params.iter().flat_map(|p| p.iter()) {
                match name {
                    "userid" => facts.user = Some(value.to_owned()),
                    "assetID" => facts.asset = Some(value.to_owned()),
                    _ => {}
                }
            }
        });
    }
    next.run(request).await
}
