//! The HTTP face of SEES: POST an Entitlement Request at any configured path, get an Entitlement
//! Response. Decisions are HTTP 200; unreadable requests are 4xx in the same JSON shape. Panics and
//! deadlines end as denials, never as a bare 500 or a hang.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use futures_util::FutureExt;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tracing::Instrument;

use super::errors::ErrorCode;
use super::wire::{
    parse_request, EntitlementRequest, EntitlementResponse, Rejection, RequestType,
    PROTOCOL_VERSION,
};
use crate::audit::{AuditEvent, AuditLog, AuditOutcome, Kind};
use crate::drm::Drm;
use crate::ops::metrics::{self, Stage, Timer};
use crate::playback::{ContentRequest, DecisionNotes, EntitlementService, Outcome, RequestKind};
use crate::tls::peer::{ClientLabel, PeerCertificate};

/// What the handler needs.
pub struct SeesState {
    pub service: Arc<EntitlementService>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Where every answer is recorded.
    pub audit: AuditLog,
}

/// The SEES routes: each DRM's `paths` answer POSTed Entitlement Requests with that DRM's tokens;
/// anything else gets a 404/405 in the protocol's shape.
pub fn router(state: Arc<SeesState>, paths: &[(Drm, Vec<String>)]) -> Router {
    let mut router = Router::new();
    for (drm, paths) in paths {
        let drm = *drm;
        for path in paths {
            router = router.route(
                path,
                post(
                    move |state: State<Arc<SeesState>>,
                          identity: Option<Extension<Arc<PeerCertificate>>>,
                          body: Body| entitlement(state, identity, body, drm),
                ),
            );
        }
    }
    router
        .fallback(|| async { reply(refusal(ErrorCode::UnknownPath, ""), None) })
        .method_not_allowed_fallback(|| async {
            reply(refusal(ErrorCode::MethodNotAllowed, ""), None)
        })
        .with_state(state)
}

async fn entitlement(
    State(state): State<Arc<SeesState>>,
    identity: Option<Extension<Arc<PeerCertificate>>>,
    body: Body,
    drm: Drm,
) -> Response {
    let identity = identity.map(|Extension(id)| id);
    let client = ClientLabel(identity.as_deref());
    // One span per request; the messageID and contentID are filled in once the body is read.
    let span = tracing::info_span!(
        "entitlement",
        message_id = tracing::field::Empty,
        content_id = tracing::field::Empty,
        %client,
        drm = drm.as_str()
    );
    let _timer = Timer::start(Stage::Entitlement);
    let _in_flight = metrics::InFlight::enter();
    answer(state, identity, body, drm, span.clone())
        .instrument(span)
        .await
}

async fn answer(
    state: Arc<SeesState>,
    identity: Option<Arc<PeerCertificate>>,
    body: Body,
    drm: Drm,
    span: tracing::Span,
) -> Response {
    let record = |code: Option<ErrorCode>, message_id: &str| {
        if let Some(event) = audit_event(&state, identity.as_deref(), code, message_id, drm) {
            state.audit.record(event);
        }
    };
    let started = Instant::now();
    let bytes = match Limited::new(body, state.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            tracing::info!(limit = state.max_body_bytes, "request body too large");
            record(Some(ErrorCode::BodyTooLarge), "");
            return reply(refusal(ErrorCode::BodyTooLarge, ""), Some(drm));
        }
        Err(_) => {
            record(Some(ErrorCode::MalformedJson), "");
            return reply(
                refusal(ErrorCode::MalformedJson, "the body could not be read"),
                Some(drm),
            );
        }
    };
    let request = match parse_request(&bytes) {
        Ok(request) => request,
        Err(rejection) => {
            if !rejection.message_id.is_empty() {
                span.record("message_id", tracing::field::debug(&rejection.message_id));
            }
            tracing::info!(
                error = rejection.code.number(),
                detail = %rejection.detail,
                "request refused"
            );
            record(Some(rejection.code), &rejection.message_id);
            return reply(rejection, Some(drm));
        }
    };
    // Both are validated (length, no control characters) by now.
    span.record(
        "message_id",
        tracing::field::display(request.message_id.as_str()),
    );
    span.record(
        "content_id",
        tracing::field::display(request.content_id.as_str()),
    );
    let mut notes = DecisionNotes::default();
    let decision = AssertUnwindSafe(tokio::time::timeout(
        state.request_timeout,
        state
            .service
            .decide_noted(&content_request(&request, drm), &mut notes),
    ))
    .catch_unwind()
    .await;
    // The token URL, or the number and detail of the denial.
    let answer: Result<String, (ErrorCode, String)> = match decision {
        Ok(Ok(Outcome::Allowed { token_url })) => Ok(token_url),
        Ok(Ok(Outcome::Refused(refusal))) => Err((ErrorCode::from(&refusal), refusal.detail())),
        Ok(Err(_elapsed)) => Err((
            ErrorCode::DeadlineExceeded,
            format!("{} ms", state.request_timeout.as_millis()),
        )),
        Err(_panic) => {
            tracing::error!("the decision panicked; denying");
            Err((ErrorCode::Internal, String::new()))
        }
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let code = answer.as_ref().err().map(|(code, _)| *code);
    if let Some(mut event) = audit_event(
        &state,
        identity.as_deref(),
        code,
        request.message_id.as_str(),
        drm,
    ) {
        event.content_id = Some(request.content_id.as_str().to_owned());
        event.asset = notes.asset;
        event.user = notes.user;
        event.trail = notes.trail;
        state.audit.record(event);
    }
    // A decision is HTTP 200; a request the service found it cannot answer as asked (no cookie for a
    // device request, a DRM not offered, device binding on a DRM without it) gets its code's 4xx.
    let status = answer
        .as_ref()
        .err()
        .and_then(|(code, _)| StatusCode::from_u16(code.http_status()).ok())
        .unwrap_or(StatusCode::OK);
    let response = match answer {
        Ok(token_url) => {
            tracing::info!(allowed = true, elapsed_ms, "entitlement decided");
            metrics::entitlement_answered(Some(drm), None);
            EntitlementResponse::allowed(&request, token_url)
        }
        Err((code, detail)) => {
            tracing::info!(
                allowed = false,
                error = code.number(),
                elapsed_ms,
                "entitlement decided"
            );
            metrics::entitlement_answered(Some(drm), Some(code.number()));
            EntitlementResponse::denied(
                request.message_id.as_str().to_owned(),
                request.answer_version(),
                code,
                &detail,
            )
        }
    };
    json(status, &response)
}

/// The audit event of an answer with `code` (none: allowed) to the client `identity`, or `None` when
/// the audit log is off.
fn audit_event(
    state: &SeesState,
    identity: Option<&PeerCertificate>,
    code: Option<ErrorCode>,
    message_id: &str,
    drm: Drm,
) -> Option<AuditEvent> {
    if !state.audit.is_enabled() {
        return None;
    }
    let number = code.map_or(0, ErrorCode::number);
    let mut event = AuditEvent::new(
        Kind::SeesDecision,
        state.audit.now(),
        AuditOutcome::of_sees(number),
    );
    event.error = code.map(|c| i64::from(c.number()));
    event.client_subject = identity.map(|id| id.subject.clone());
    event.client_serial = identity.map(PeerCertificate::serial_hex);
    event.message_id = (!message_id.is_empty()).then(|| message_id.to_owned());
    event.drm = Some(drm.as_str().to_owned());
    Some(event)
}

/// The application's view of a valid Entitlement Request for a `drm` token.
fn content_request(request: &EntitlementRequest, drm: Drm) -> ContentRequest<'_> {
    ContentRequest {
        drm,
        kind: match request.request_type {
            RequestType::TimeBased => RequestKind::TimeBased,
            RequestType::DeviceRegistration => RequestKind::DeviceRegistration,
            RequestType::DeviceBound => RequestKind::DeviceBound,
        },
        content: &request.content_id,
        cookie: request.customer_cookie.as_ref(),
    }
}

/// An answer in the protocol's shape to a request refused before its body is read (the connection's
/// client certificate is revoked or not allowed, or its rate limit is exceeded): the code's HTTP
/// status, an empty messageID.
pub fn refuse(code: ErrorCode, detail: &str) -> Response {
    reply(refusal(code, detail), None)
}

fn refusal(code: ErrorCode, detail: &str) -> Rejection {
    Rejection {
        code,
        detail: detail.to_owned(),
        message_id: String::new(),
        version: PROTOCOL_VERSION,
    }
}

/// A refusal before any decision (counted as an `error` outcome), on a `drm` path when known.
fn reply(rejection: Rejection, drm: Option<Drm>) -> Response {
    metrics::entitlement_answered(drm, Some(rejection.code.number()));
    let status =
        StatusCode::from_u16(rejection.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let response = EntitlementResponse::denied(
        rejection.message_id,
        rejection.version,
        rejection.code,
        &rejection.detail,
    );
    json(status, &response)
}

fn json(status: StatusCode, response: &EntitlementResponse) -> Response {
    let body = serde_json::to_vec(response).unwrap_or_else(|_| {
        br#"{"messageID":"","version":1,"isAllowed":false,"epTokenURL":"","error":5000}"#.to_vec()
    });
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}
