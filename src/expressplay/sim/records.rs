//! The device-binding half of the simulator: the record log, record retrieval (`/cmiapi/getrecord/`)
//! and redemption at the FairPlay rights URLs (`/hms/fp/rights/`), which appends to the log (the
//! Widevine and PlayReady rights URLs, which log nothing, are in `licences`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::reply::ErrorReply;
use super::validate::{check_redemption, parse_record_query, ErrorFormat, RecordQuery};
use super::RightsError;
use super::{
    first_wins, is_form, lock, method_not_allowed, Behaviour, RecordEvent, RecordedRequest,
    SimState, LATEST_RECORDS, MAX_BODY_BYTES, MAX_RECORD_EVENTS, RECORDS_FIELD,
    RECORD_COOKIE_FIELD, RECORD_DEVICE_FIELD, RECORD_ID_FIELD, RECORD_TIMESTAMP_FIELD,
    REDEEM_DEVICE_PARAM, SIMULATED_CKC, TOKEN_PARAM,
};
use crate::drm::Drm;

/// The bounded log of redemption events, oldest first.
#[derive(Debug, Default)]
pub(super) struct RecordLog {
    events: VecDeque<RecordEvent>,
    last_id: u64,
}

impl RecordLog {
    /// Appends an event with the next id, dropping the oldest beyond [`MAX_RECORD_EVENTS`].
    pub(super) fn push(&mut self, cookie: &str, device_id: &str, at: DateTime<Utc>) -> RecordEvent {
        self.last_id = self.last_id.saturating_add(1);
        while self.events.len() >= MAX_RECORD_EVENTS {
            self.events.pop_front();
        }
        let event = RecordEvent {
            id: self.last_id,
            timestamp: at,
            cookie: cookie.to_owned(),
            device_id: device_id.to_owned(),
        };
        self.events.push_back(event.clone());
        event
    }

    pub(super) fn events(&self) -> impl Iterator<Item = &RecordEvent> {
        self.events.iter()
    }

    pub(super) fn clear(&mut self) {
        self.events.clear();
    }

    /// The events `query` selects, newest first.
    pub(super) fn select(&self, query: &RecordQuery) -> Vec<RecordEvent> {
        let newest_first = self.events.iter().rev();
        match query {
            RecordQuery::Latest => newest_first.take(LATEST_RECORDS).cloned().collect(),
            RecordQuery::Cookie(cookie) => newest_first
                .filter(|e| e.cookie == *cookie)
                .cloned()
                .collect(),
            RecordQuery::Id(id) => newest_first.filter(|e| e.id == *id).cloned().collect(),
            RecordQuery::Page { start, length } => newest_first
                .skip(usize::try_from(*start).unwrap_or(usize::MAX))
                .take(usize::try_from(*length).unwrap_or(usize::MAX))
                .cloned()
                .collect(),
        }
    }
}

/// The record retrieval body: `{"records": [{"id", "timestamp", "cookie", "deviceId", "contentType"}]}`
/// (the simulator's field names).
pub(super) fn records_json(events: &[RecordEvent]) -> Value {
    let records = events
        .iter()
        .map(|e| {
            let mut record = Map::new();
            record.insert(RECORD_ID_FIELD.to_owned(), Value::from(e.id));
            record.insert(
                RECORD_TIMESTAMP_FIELD.to_owned(),
                Value::from(e.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true)),
            );
            record.insert(
                RECORD_COOKIE_FIELD.to_owned(),
                Value::from(e.cookie.clone()),
            );
            record.insert(
                RECORD_DEVICE_FIELD.to_owned(),
                Value::from(e.device_id.clone()),
            );
            record.insert("contentType".to_owned(), Value::from("fairplay"));
            Value::Object(record)
        })
        .collect();
    let mut body = Map::new();
    body.insert(RECORDS_FIELD.to_owned(), Value::Array(records));
    Value::Object(body)
}

/// Answers a decoded record retrieval request: forced error, validation error, or the events.
pub(super) fn answer_record_request(
    state: &SimState,
    params: &BTreeMap<String, String>,
    behaviour: &Behaviour,
) -> (Response, Option<i64>) {
    let format = super::answer_format(params, behaviour);
    if let Some(forced) = &behaviour.force_error {
        let reply = ErrorReply::from(forced);
        return (reply.render(format), Some(reply.code));
    }
    let query = match parse_record_query(params, &state.authenticators) {
        Ok(query) => query,
        Err(e) => return (ErrorReply::from(e).render(format), Some(e.code())),
    };
    let events = lock(&state.records).select(&query);
    let body = records_json(&events).to_string();
    let response = (StatusCode::OK, [(CONTENT_TYPE, "application/json")], body).into_response();
    (response, None)
}

/// A redemption's parameters (first occurrence of each), its raw parameter text (query, then form
/// body), and a POST body that is not a form.
pub(super) type Redemption = (BTreeMap<String, String>, String, Option<String>);

/// Query parameters, then (for a form POST) body parameters; the first occurrence wins. A POST body
/// that is not a form (say, a raw SPC or a PlayReady challenge) is returned apart, as (lossy) text.
pub(super) async fn redemption_params(req: Request) -> Result<Redemption, StatusCode> {
    let query = req.uri().query().unwrap_or_default().to_owned();
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&query).map_err(|_| StatusCode::BAD_REQUEST)?;
    let mut raw = query;
    let mut other_body = None;
    if req.method() == Method::POST {
        let form = is_form(req.headers());
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE)?;
        if form {
            let body = String::from_utf8_lossy(&bytes).into_owned();
            let more: Vec<(String, String)> =
                serde_urlencoded::from_str(&body).map_err(|_| StatusCode::BAD_REQUEST)?;
            pairs.extend(more);
            if !body.is_empty() {
                if !raw.is_empty() {
                    raw.push('&');
                }
                raw.push_str(&body);
            }
        } else {
            other_body = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok((first_wins(pairs), raw, other_body))
}

/// `GET` or `POST /hms/fp/rights/?ExpressPlayToken=…` with `deviceId`: checks the token and the device,
/// logs (cookie, device id) when the token carries a cookie, and answers a fake CKC.
pub(super) async fn rights_route(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let method = req.method().clone();
    let mut recorded = RecordedRequest::begin(&req);
    let (response, error_code) = if method != Method::GET && method != Method::POST {
        (method_not_allowed("GET, POST"), None)
    } else {
        match redemption_params(req).await {
            Err(status) => (status.into_response(), None),
            // A body that is not a form (a raw SPC) is ignored.
            Ok((params, raw, _)) => {
                recorded.raw_query = raw;
                let answer = redeem(&state, &params);
                recorded.params = params;
                answer
            }
        }
    };
    recorded.status = response.status().as_u16();
    recorded.error_code = error_code;
    tracing::debug!(
        status = recorded.status,
        error_code = ?error_code,
        "ExpressPlay simulator answered a redemption"
    );
    state.record(recorded);
    response
}

fn redeem(state: &SimState, params: &BTreeMap<String, String>) -> (Response, Option<i64>) {
    let format = match params.get("errorFormat").map(String::as_str) {
        Some("json") => ErrorFormat::Json,
        _ => ErrorFormat::Html,
    };
    let now = Utc::now();
    let licence = params
        .get(TOKEN_PARAM)
        .and_then(|t| lock(&state.tokens).get(t).cloned());
    // A Widevine or PlayReady token is refused here, as a FairPlay one is at their rights URLs.
    if let Some(issued) = licence
        .as_ref()
        .map(|l| l.drm)
        .filter(|d| *d != Drm::FairPlay)
    {
        let e = RightsError::WrongDrm {
            issued,
            route: Drm::FairPlay,
        };
        return (ErrorReply::from(e).render(format), Some(e.code()));
    }
    let token = licence.map(|l| l.token);
    let device = params.get(REDEEM_DEVICE_PARAM).map(String::as_str);
    let device_id = match check_redemption(token.as_ref(), device, now) {
        Ok(device_id) => device_id,
        Err(e) => return (ErrorReply::from(e).render(format), Some(e.code())),
    };
    if let Some(cookie) = token.as_ref().and_then(|t| t.cookie.as_deref()) {
        lock(&state.records).push(cookie, &device_id, now);
    }
    let response = (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/octet-stream")],
        SIMULATED_CKC,
    )
        .into_response();
    (response, None)
}
