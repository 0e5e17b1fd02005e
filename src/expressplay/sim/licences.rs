//! The Widevine and PlayReady answers: a validated token request becomes a remembered
//! [`IssuedLicence`] and a token URL (PlayReady: JSON, or a token URL when so configured); redemption
//! at `/hms/wv/rights/` and `/hms/pr/rights/` checks the token and answers a JSON description of the
//! licence it would carry.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::drm::Drm;

use super::licence_rules::ValidLicenceRequest;
use super::playready::validate_playready;
use super::records::redemption_params;
use super::reply::ErrorReply;
use super::validate::ErrorFormat;
use super::widevine::validate_widevine;
use super::{
    answer_format, forced_answer, lock, method_not_allowed, Behaviour, IssuedLicence, IssuedToken,
    LicenceTerms, RecordedRequest, RightsError, SimState, PLAYREADY_RIGHTS_PATH, TOKEN_PARAM,
    WIDEVINE_RIGHTS_PATH,
};

/// Answers a decoded Widevine or PlayReady token request: forced error, validation error, or a fresh
/// token. `pairs` are the decoded parameters in order (repeats kept), `params` the first of each.
pub(super) fn answer_licence_request(
    state: &SimState,
    drm: Drm,
    pairs: &[(String, String)],
    params: &BTreeMap<String, String>,
    behaviour: &Behaviour,
) -> (Response, Option<i64>) {
    let format = answer_format(params, behaviour);
    if let Some(forced) = forced_answer(behaviour, format) {
        return forced;
    }
    let now = Utc::now();
    let rules = state.token_rules();
    let licence = match drm {
        Drm::Widevine => validate_widevine(pairs, &rules, now)
            .map(|v| licence_of(Drm::Widevine, v, LicenceTerms::Widevine, now)),
        Drm::PlayReady => validate_playready(pairs, &rules, now)
            .map(|v| licence_of(Drm::PlayReady, v, LicenceTerms::PlayReady, now)),
        // The FairPlay route has its own answer; never routed here.
        Drm::FairPlay => return (StatusCode::NOT_FOUND.into_response(), None),
    };
    let licence = match licence {
        Ok(licence) => licence,
        Err(e) => return (ErrorReply::from(e).render(format), Some(e.code())),
    };
    let Some(token) = state.issue(licence) else {
        let reply = ErrorReply::internal();
        return (reply.render(format), Some(reply.code));
    };
    let response = match drm {
        Drm::PlayReady if !state.playready_uri_list.load(Ordering::Relaxed) => {
            let body = json!({
                "licenseAcquisitionUrl": format!("{}{PLAYREADY_RIGHTS_PATH}", state.base_url),
                "token": token,
            });
            (
                StatusCode::OK,
                [(CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        _ => {
            let body = format!("{}?{TOKEN_PARAM}={token}", state.rights_url(drm));
            (StatusCode::OK, [(CONTENT_TYPE, "text/uri-list")], body).into_response()
        }
    };
    (response, None)
}

fn licence_of<T>(
    drm: Drm,
    valid: ValidLicenceRequest<T>,
    wrap: fn(T) -> LicenceTerms,
    now: DateTime<Utc>,
) -> IssuedLicence {
    IssuedLicence {
        drm,
        token: IssuedToken {
            cookie: valid.cookie,
            expiration: valid
                .expiration
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            rental_duration: 0,
            issued_at: now,
            device_id: None,
        },
        kid: Some(valid.kid),
        content_key: valid.content_key,
        iv: None,
        terms: wrap(valid.terms),
    }
}

/// The rules of a Widevine or PlayReady redemption at the rights URL of `route`: the token must be one
/// the simulator issued (-4010), for that DRM (-4010, [`RightsError::WrongDrm`]), and unexpired at
/// `now` (-4010; an unreadable expiration counts as passed). No device id is needed.
pub fn check_licence_redemption(
    licence: Option<&IssuedLicence>,
    route: Drm,
    now: DateTime<Utc>,
) -> Result<(), RightsError> {
    let licence = licence.ok_or(RightsError::InvalidToken)?;
    if licence.drm != route {
        return Err(RightsError::WrongDrm {
            issued: licence.drm,
            route,
        });
    }
    let unexpired = DateTime::parse_from_rfc3339(&licence.token.expiration)
        .is_ok_and(|expiration| expiration.with_timezone(&Utc) >= now);
    if unexpired {
        Ok(())
    } else {
        Err(RightsError::TokenExpired)
    }
}

/// The token in a PlayReady licence request body that is not a form: the content of a
/// `<CustomData>` element (the token itself, or `ExpressPlayToken=<token>`), or else whatever follows
/// `ExpressPlayToken=` in the body. The token ends at the first character outside URL-safe base64.
pub fn token_in_body(body: &str) -> Option<String> {
    const OPEN: &str = "<CustomData>";
    const CLOSE: &str = "</CustomData>";
    let marker = format!("{TOKEN_PARAM}=");
    let from = match body.find(OPEN) {
        Some(start) => {
            let rest = &body[start + OPEN.len()..];
            let inner = rest[..rest.find(CLOSE)?].trim();
            inner.strip_prefix(marker.as_str()).unwrap_or(inner)
        }
        None => &body[body.find(marker.as_str())? + marker.len()..],
    };
    let token: String = from
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// `GET` or `POST /hms/wv/rights/?ExpressPlayToken=…` (Widevine) or `/hms/pr/rights/` (PlayReady,
/// which also takes the token in a form body or, in any other POST body, by [`token_in_body`]).
pub(super) async fn licence_rights_route(state: Arc<SimState>, drm: Drm, req: Request) -> Response {
    let method = req.method().clone();
    let mut recorded = RecordedRequest::begin(&req);
    let (response, error_code) = if method != Method::GET && method != Method::POST {
        (method_not_allowed("GET, POST"), None)
    } else {
        match redemption_params(req).await {
            Err(status) => (status.into_response(), None),
            Ok((params, raw, other_body)) => {
                recorded.raw_query = raw;
                let body_token = match drm {
                    Drm::PlayReady => other_body.as_deref().and_then(token_in_body),
                    _ => None,
                };
                let answer = redeem_licence(&state, drm, &params, body_token);
                recorded.params = params;
                answer
            }
        }
    };
    recorded.status = response.status().as_u16();
    recorded.error_code = error_code;
    tracing::debug!(
        %drm,
        status = recorded.status,
        error_code = ?error_code,
        "ExpressPlay simulator answered a redemption"
    );
    state.record(recorded);
    response
}

fn redeem_licence(
    state: &SimState,
    drm: Drm,
    params: &BTreeMap<String, String>,
    body_token: Option<String>,
) -> (Response, Option<i64>) {
    let format = match params.get("errorFormat").map(String::as_str) {
        Some("json") => ErrorFormat::Json,
        _ => ErrorFormat::Html,
    };
    let token = params
        .get(TOKEN_PARAM)
        .filter(|t| !t.is_empty())
        .cloned()
        .or(body_token);
    let licence = token.and_then(|t| lock(&state.tokens).get(&t).cloned());
    if let Err(e) = check_licence_redemption(licence.as_ref(), drm, Utc::now()) {
        return (ErrorReply::from(e).render(format), Some(e.code()));
    }
    let body = licence.as_ref().map(licence_json).unwrap_or_default();
    let response = (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    (response, None)
}

/// The (simulated) licence a redemption answers: never the key, only its check value.
///
/// `{"simulated": true, "drm", "kid", "keyCheck", "cookie", "expiration", "licence": {…}}` with, for
/// Widevine, `securityLevel`, `hdcpOutputControl`, `licenseDuration`, `contentId`; for PlayReady,
/// `rightsType`, `rental` (`periodEndTime`, `playDuration`) or null, `persistent`, the five OPLs under
/// their parameter names, `unknownOutputBehavior`, `outputControlFlags`.
pub fn licence_json(licence: &IssuedLicence) -> Value {
    let terms = match &licence.terms {
        LicenceTerms::Widevine(w) => json!({
            "securityLevel": w.security_level,
            "hdcpOutputControl": w.hdcp_output_control,
            "licenseDuration": w.license_duration,
            "contentId": w.content_id,
        }),
        LicenceTerms::PlayReady(p) => json!({
            "rightsType": p.rights.as_str(),
            "rental": p.rental.as_ref().map(|r| json!({
                "periodEndTime": r.period_end.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                "playDuration": r.play_duration,
            })),
            "persistent": p.persistent,
            "analogVideoOPL": p.analog_video_opl,
            "compressedDigitalAudioOPL": p.compressed_digital_audio_opl,
            "compressedDigitalVideoOPL": p.compressed_digital_video_opl,
            "uncompressedDigitalAudioOPL": p.uncompressed_digital_audio_opl,
            "uncompressedDigitalVideoOPL": p.uncompressed_digital_video_opl,
            "unknownOutputBehavior": p.unknown_output.map(|u| u.as_str()),
            "outputControlFlags": p.output_control_flags,
        }),
        LicenceTerms::FairPlay(f) => json!({ "rentalDuration": f.rental_duration }),
    };
    json!({
        "simulated": true,
        "drm": licence.drm.as_str(),
        "kid": licence.kid,
        "keyCheck": licence.key_check(),
        "cookie": licence.token.cookie,
        "expiration": licence.token.expiration,
        "licence": terms,
    })
}

/// The path of `drm`'s rights URLs.
pub(super) fn rights_path(drm: Drm) -> &'static str {
    match drm {
        Drm::FairPlay => super::RIGHTS_PATH,
        Drm::Widevine => WIDEVINE_RIGHTS_PATH,
        Drm::PlayReady => PLAYREADY_RIGHTS_PATH,
    }
}
