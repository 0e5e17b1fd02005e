//! `POST {speke.path}`: one CPIX document in, the same document with keys and DRM signalling out.
//! Checks in order — packager authentication (401), the SPEKE version header (422, MediaPackage's
//! "Unsupported SPEKE version"), the content type
//! (415), the body size (413), the document (400 unreadable, 422 against SPEKE's rules) — then issues
//! every key in one transaction (409 when a content ID already holds another KID) and answers 200.
//! Every answer carries `X-Speke-User-Agent`; refusals are plain text with the SPEKE error message.
//! Nothing is stored from a refused request, and no key ever reaches a log line or an error.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::{authenticate, AuthError, Packager};
use super::settings::render;
use super::SpekeState;
use crate::audit::{AuditEvent, AuditOutcome, Kind, TrailStep};
use crate::cpix::{self, CpixRequest, KeyAnswer, Kid, SignallingSettings};
use crate::ids::{AssetId, ContentId};
use crate::keys::{KeyStoreError, PackagerKey, PackagerKeyRequest};
use crate::tls::peer::PeerCertificate;

/// The SPEKE versions this server speaks (`X-Speke-Version`).
pub const VERSIONS: [&str; 2] = ["2.0", "2.1"];
/// `X-Speke-Version`.
pub const VERSION_HEADER: &str = "x-speke-version";
/// `X-Speke-User-Agent`: who answered.
pub const USER_AGENT_HEADER: &str = "x-speke-user-agent";
/// The value of `X-Speke-User-Agent`.
pub const USER_AGENT: &str = concat!("sees/", env!("CARGO_PKG_VERSION"));
/// The route template in metrics and audit.
const ROUTE: &str = "speke";

/// A refused SPEKE request: its status and the message the packager reads.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// Handles one SPEKE request.
pub async fn copy_protection(State(state): State<Arc<SpekeState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let certificate = parts.extensions.get::<Arc<PeerCertificate>>();
    let version = parts
        .headers
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| VERSIONS.contains(v))
        .map(str::to_owned);
    let packager = match authenticate(
        state.settings.auth,
        &state.credentials,
        certificate,
        &parts.headers,
    )
    .await
    {
        Ok(packager) => packager,
        Err(e) => {
            let status = match e {
                AuthError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            let refusal = Refusal::new(status, e.to_string());
            state.record_refusal(None, &refusal, certificate);
            return answer_refusal(version.as_deref(), refusal);
        }
    };
    match serve(&state, &packager, version.as_deref(), &parts.headers, body).await {
        Ok(document) => ok_answer(version.as_deref().unwrap_or(VERSIONS[0]), document),
        Err(refusal) => {
            state.record_refusal(Some(&packager), &refusal, certificate);
            answer_refusal(version.as_deref(), refusal)
        }
    }
}

async fn serve(
    state: &SpekeState,
    packager: &Packager,
    version: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, Refusal> {
    if version.is_none() {
        let got = headers
            .get(VERSION_HEADER)
            .map(|v| format!("{:?}", String::from_utf8_lossy(v.as_bytes())))
            .unwrap_or_else(|| "none".to_owned());
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Unsupported SPEKE version: X-Speke-Version must be 2.0 or 2.1 (got {got})"),
        ));
    }
    if !is_xml(headers) {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/xml",
        ));
    }
    let body = read_body(body, state.settings.max_body_bytes).await?;
    let request = cpix::parse_speke_request(&body).map_err(|e| {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        Refusal::new(status, e.to_string())
    })?;
    let issued = issue(state, &request).await?;
    let answers: Vec<KeyAnswer<'_>> = issued
        .iter()
        .map(|k| KeyAnswer {
            kid: Kid(k.kid),
            key: &k.key,
            skd_uri: format!("skd://{}", k.content_id),
        })
        .collect();
    let signalling = SignallingSettings {
        playready_la_url: state.settings.playready_la_url.clone(),
    };
    let document = cpix::write_speke_response(&request, &answers, &signalling).map_err(|e| {
        tracing::error!(error = %e, "writing a SPEKE answer failed");
        Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?;
    state.record_issued(packager, &request, &issued);
    Ok(document)
}

/// Every requested key, found or made, named by the configured templates: the one-key template
/// when the document asks for one key (with the several-keys template as the fallback when its
/// contentID already holds another KID of the same content, as a new key period does), else the
/// several-keys template.
async fn issue(state: &SpekeState, request: &CpixRequest) -> Result<Vec<PackagerKey>, Refusal> {
    let settings = &state.settings;
    let multi = &settings.multi_key_content_id_template;
    let (template, alternative) = if request.keys.len() == 1 {
        (&settings.content_id_template, Some(multi))
    } else {
        (multi, None)
    };
    let wanted = request
        .keys
        .iter()
        .map(|key| {
            let kid = key.kid.0;
            let named = |template: &str| content_id_for(template, &request.content_id, &key.kid);
            let asset_id = render(&settings.asset_template, &request.content_id, &kid);
            Ok(PackagerKeyRequest {
                kid,
                iv: key.explicit_iv,
                content_id: named(template)?,
                alternative: alternative.map(|t| named(t)).transpose()?,
                asset_id: Some(AssetId::parse(asset_id).map_err(|e| {
                    unprocessable(format!("the asset ID made for KID {} {e}", key.kid))
                })?),
            })
        })
        .collect::<Result<Vec<_>, Refusal>>()?;
    state
        .keys
        .issue_for_packager(&request.content_id, &wanted)
        .await
        .map_err(|e| match e {
            KeyStoreError::KidConflict(_) => Refusal::new(StatusCode::CONFLICT, e.to_string()),
            KeyStoreError::Store(_) => {
                tracing::warn!(error = %e, "SPEKE: the key store is unavailable");
                Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the key store is unavailable; retry",
                )
            }
            other => {
                tracing::error!(error = %other, "SPEKE: issuing keys failed");
                Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        })
}

/// The SEES contentID `template` gives the key `kid` of `packager_content_id`: a valid content ID
/// that an `skd://` URI can carry (no quote, no comma).
fn content_id_for(
    template: &str,
    packager_content_id: &str,
    kid: &Kid,
) -> Result<ContentId, Refusal> {
    let raw = render(template, packager_content_id, &kid.0);
    if raw.contains(['"', ',']) {
        return Err(unprocessable(format!(
            "the contentID made for KID {kid} cannot be written in an skd:// URI (it holds a quote \
             or a comma)"
        )));
    }
    ContentId::parse(raw)
        .map_err(|e| unprocessable(format!("the contentID made for KID {kid} {e}")))
}

fn unprocessable(message: String) -> Refusal {
    Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn is_xml(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media = value.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case("application/xml") || media.eq_ignore_ascii_case("text/xml")
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the CPIX document is larger than {limit} bytes"),
            )
        } else {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        }
    })
}

/// Echoes the request's SPEKE version (`X-Speke-User-Agent` is added by the router's layer).
fn common_headers(response: &mut Response, version: Option<&str>) {
    if let Some(version) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(VERSION_HEADER, version);
    }
}

fn ok_answer(version: &str, document: String) -> Response {
    let mut response = ([(CONTENT_TYPE, "application/xml")], document).into_response();
    common_headers(&mut response, Some(version));
    crate::ops::metrics::speke_request(200);
    response
}

fn answer_refusal(version: Option<&str>, refusal: Refusal) -> Response {
    let mut response = (
        refusal.status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        refusal.message,
    )
        .into_response();
    common_headers(&mut response, version);
    if refusal.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sees SPEKE\""),
        );
    }
    crate::ops::metrics::speke_request(refusal.status.as_u16());
    response
}

impl SpekeState {
    /// One audit event and one metric per key answered (never the key).
    fn record_issued(&self, packager: &Packager, request: &CpixRequest, issued: &[PackagerKey]) {
        for key in issued {
            crate::ops::metrics::speke_key(key.origin.as_str());
            let mut event = self.event(AuditOutcome::Allowed, 200, packager.subject.clone());
            event.caller = Some(packager.label.clone());
            event.content_id = Some(key.content_id.to_string());
            event.asset = Some(
                key.asset_id
                    .as_ref()
                    .map_or_else(|| key.content_id.to_string(), ToString::to_string),
            );
            event.trail.push(TrailStep {
                rule: "speke-key".to_owned(),
                passed: true,
                detail: format!(
                    "KID {} {} for packager content {:?}",
                    Kid(key.kid),
                    key.origin.as_str(),
                    request.content_id
                ),
            });
            self.audit.record(event);
        }
    }

    fn record_refusal(
        &self,
        packager: Option<&Packager>,
        refusal: &Refusal,
        certificate: Option<&Arc<PeerCertificate>>,
    ) {
        let status = refusal.status.as_u16();
        let mut event = self.event(
            AuditOutcome::of_status(status),
            status,
            certificate.map(|c| c.subject.clone()),
        );
        event.caller = packager.map(|p| p.label.clone());
        event.trail.push(TrailStep {
            rule: "speke-request".to_owned(),
            passed: false,
            detail: refusal.message.clone(),
        });
        self.audit.record(event);
    }

    fn event(&self, outcome: AuditOutcome, status: u16, subject: Option<String>) -> AuditEvent {
        let mut event = AuditEvent::new(Kind::KeyIssue, self.audit.now(), outcome);
        event.method = Some("POST".to_owned());
        event.route = Some(ROUTE.to_owned());
        event.status = Some(status);
        event.client_subject = subject;
        event
    }
}
