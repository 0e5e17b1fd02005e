//! A local **SIMULATOR** of the ExpressPlay services: the FairPlay, Widevine and PlayReady token
//! services (`/hms/fp/token`, `/hms/wv/token`, `/hms/pr/token`), record retrieval
//! (`/cmiapi/getrecord/`) and the rights URLs their tokens point at (`/hms/fp/rights/`,
//! `/hms/wv/rights/`, `/hms/pr/rights/`).
//!
//! It imitates the documented behaviour of `https://fp-gen.<domain>/hms/fp/token`: the same parameters
//! (case-sensitive, by `GET` query string or `POST` form body), the same validation order, the same
//! error numbers and HTTP statuses, JSON or HTML error bodies, and a `text/uri-list` answer carrying a
//! token URL on success. It is the upstream of every test and of the quick start.
//!
//! It also plays the whole **device-binding** story of SEES (requestType 2 then 3):
//!
//! 1. a registration token carries a `cookie`;
//! 2. the device redeems it at the token URL (`/hms/fp/rights/?ExpressPlayToken=…`), presenting its device
//!    id as the parameter `deviceId` (query or form body) — standing in for the device id a real device
//!    sends inside its SPC; the simulator then logs the event (cookie, device id) and answers a fake CKC;
//! 3. record retrieval (`GET /cmiapi/getrecord/?customerAuthenticator=…&cookie=…`) returns the logged
//!    events for the cookie, newest first;
//! 4. a device-bound token carries the cookie and the device restriction (the parameter named by
//!    [`SimConfig::device_param`], `deviceid` by default, Adobe's prose name); redeeming it from another
//!    device is refused.
//!
//! Where ExpressPlay publishes nothing, the simulator chooses, and these choices are **its own**, not
//! ExpressPlay's: the record JSON field names ([`RECORDS_FIELD`], [`RECORD_ID_FIELD`],
//! [`RECORD_TIMESTAMP_FIELD`], [`RECORD_COOKIE_FIELD`], [`RECORD_DEVICE_FIELD`], plus `contentType`);
//! the paging reading of `start`/`length`; error -2034 (malformed device id), -2035 (malformed record
//! query) and -4011 (HTTP 403, token bound to another device); the cookie character rule (printable
//! ASCII `0x21..=0x7E`, reported with the documented -2033); the device id rule (1-256 characters of
//! `[A-Za-z0-9._:+/=-]`); the redemption parameter `deviceId`; and the `SIMULATED-CKC` body. ExpressPlay's
//! own -6008 answers a device restriction when [`SimConfig::device_binding`] is off, and -4010 an
//! unknown or expired token.
//!
//! **Widevine and PlayReady** (see [`widevine`] and [`playready`] for the parameter rules, in order,
//! with their error numbers): the same scheme, `GET` query or form `POST`, the same authenticator,
//! `errorFormat`, `expirationTime` and `cookie` rules as FairPlay, a `kid` and a `contentKey`. Widevine
//! answers a `text/uri-list` token URL to `/hms/wv/rights/`; PlayReady answers JSON
//! `{"licenseAcquisitionUrl": "http://{addr}/hms/pr/rights/", "token": …}`, or a token URL to
//! `/hms/pr/rights/` when [`SimConfig::playready_uri_list`] (or
//! [`Simulator::set_playready_uri_list`]) says so, since ExpressPlay's status table claims
//! `text/uri-list`. The simulator's choices there: a well-formed `^name` kid is refused with -4022
//! (it keeps no key storage); `kek`/`ek` are refused (-5007 with `contentKey`, -2005 without); an
//! `hdcpOutputControl` or OPL out of range is -2034; an invalid `rental.periodEndTime` is -2022 like a
//! missing one; `rental.playDuration` is optional (no -2023); a rental without
//! `generalFlags=00000001` is -5003 (rental licences must be persistent); a device restriction (the
//! parameter named by [`SimConfig::device_param`]) is -7002 on Widevine and, on PlayReady, -5004 when
//! not 32 hex digits and -5005 otherwise. Redeeming at `/hms/wv/rights/` or `/hms/pr/rights/` (the
//! token as `ExpressPlayToken` in the query or a form body; PlayReady also in any other POST body, see
//! [`token_in_body`]) checks the token is known (-4010), of that DRM (-4010, text "issued for …"; the
//! FairPlay rights URL refuses Widevine and PlayReady tokens the same way) and unexpired (-4010), logs
//! nothing, and answers a JSON description of the licence ([`licence_json`]).
//!
//! It is **not** the real ExpressPlay service and must never be mistaken for it: the tokens it issues are
//! random strings that no license server will honour, and its CKC and licences are placeholders. It
//! remembers the keys it is sent ([`IssuedLicence`]) for tests to assert on, and never logs them. It
//! says so loudly in the log when it starts.
//!
//! Besides those routes it offers clearly labelled simulator routes for tests: `GET /_sim/requests` (the
//! recent requests to every service, oldest first; the path tells them apart),
//! `PUT /_sim/behaviour` (FairPlay token route), `PUT /_sim/behaviour/{fairplay|widevine|playready}`
//! (that DRM's token route) and `PUT /_sim/record-behaviour` (record retrieval): delays, forced errors,
//! HTML error pages and [`Fault`]s (bare statuses, malformed bodies, connections dropped mid-answer, no
//! answer at all), optionally for the next N requests only. Each token route has its own
//! [`Behaviour`]: [`Simulator::set_behaviour`] is FairPlay's alone, [`Simulator::set_behaviour_for`]
//! sets any DRM's. The rights URLs take none.

mod errors;
mod issued;
mod licence_rules;
mod licences;
pub mod playready;
mod records;
mod reply;
#[cfg(test)]
mod tests;
mod validate;
pub mod widevine;

pub use errors::{RightsError, TokenError};
pub use issued::{
    key_check, FairPlayLicence, IssuedLicence, LicenceTerms, PlayReadyLicence, PlayReadyRental,
    WidevineLicence,
};
pub use licence_rules::{
    check_key_source, check_kid, is_base64, parse_positive, ValidLicenceRequest, MAX_KID_NAME_CHARS,
};
pub use licences::{check_licence_redemption, licence_json, token_in_body};
pub use playready::{validate_playready, ValidPlayReadyRequest};
pub use validate::{
    check_authenticator, check_content_key, check_cookie, check_device_id, check_iv,
    check_redemption, parse_error_format, parse_expiration, parse_record_query,
    parse_rental_duration, validate, validate_with, ErrorFormat, RecordQuery, TokenRules,
    ValidRequest,
};
pub use widevine::{validate_widevine, ValidWidevineRequest};

pub use crate::drm::Drm;

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use axum::{Json, Router};

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use issued::IssuedTokens;
#[cfg(test)]
use issued::MAX_REMEMBERED_TOKENS;
use records::RecordLog;
use reply::{close_mid_response, fault_response, new_token, ErrorReply};

/// Path of the (FairPlay) token route, as on the real service.
pub const TOKEN_PATH: &str = "/hms/fp/token";
/// Path prefix of the (simulated) FairPlay rights URLs handed out in token URLs.
pub const RIGHTS_PATH: &str = "/hms/fp/rights/";
/// Path of the Widevine token route, as on the real service.
pub const WIDEVINE_TOKEN_PATH: &str = "/hms/wv/token";
/// Path of the (simulated) Widevine rights URLs handed out in token URLs.
pub const WIDEVINE_RIGHTS_PATH: &str = "/hms/wv/rights/";
/// Path of the PlayReady token route, as on the real service.
pub const PLAYREADY_TOKEN_PATH: &str = "/hms/pr/token";
/// Path of the (simulated) PlayReady licence acquisition URL (`licenseAcquisitionUrl`).
pub const PLAYREADY_RIGHTS_PATH: &str = "/hms/pr/rights/";
/// Path of record retrieval, as on the real service (also answered without the trailing slash).
pub const RECORD_PATH: &str = "/cmiapi/getrecord/";
/// Longest token lifetime the service accepts, and the default: 30 days.
pub const MAX_EXPIRATION_SECS: u32 = 2_592_000;
/// Longest accepted `cookie`, in characters.
pub const MAX_COOKIE_CHARS: usize = 32;
/// Default name of the token parameter carrying the device restriction: `deviceid`, Adobe's prose name
/// (parameters are case-sensitive; the real name is not published in a table).
pub const DEFAULT_DEVICE_PARAM: &str = "deviceid";
/// Longest accepted device id, in characters (the simulator's rule).
pub const MAX_DEVICE_ID_CHARS: usize = 256;
/// Parameter carrying the device id at redemption (the simulator's stand-in for the SPC's device id).
pub const REDEEM_DEVICE_PARAM: &str = "deviceId";
/// Parameter carrying the token at redemption, as in the token URLs.
pub const TOKEN_PARAM: &str = "ExpressPlayToken";
/// Body of a successful redemption: clearly not a real CKC.
pub const SIMULATED_CKC: &str = "SIMULATED-CKC";
/// Events returned by record retrieval without a selector.
pub const LATEST_RECORDS: usize = 32;
/// Largest `length` of a paged record retrieval (the simulator's limit).
pub const MAX_RECORD_PAGE: u64 = 1000;
/// Events kept in the record log; the oldest are dropped beyond it.
pub const MAX_RECORD_EVENTS: usize = 10_000;
/// Record retrieval JSON: the array of events (the simulator's name; the real one is unpublished).
pub const RECORDS_FIELD: &str = "records";
/// Record retrieval JSON: an event's id (the simulator's name).
pub const RECORD_ID_FIELD: &str = "id";
/// Record retrieval JSON: an event's time, RFC 3339 with `Z` (the simulator's name).
pub const RECORD_TIMESTAMP_FIELD: &str = "timestamp";
/// Record retrieval JSON: the cookie the redeemed token carried (the simulator's name).
pub const RECORD_COOKIE_FIELD: &str = "cookie";
/// Record retrieval JSON: the device that redeemed the token (the simulator's name).
pub const RECORD_DEVICE_FIELD: &str = "deviceId";
/// Largest POST body the simulator reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod issued_tokens_tests {
    use super::*;

    #[test]
    fn the_oldest_tokens_are_forgotten_beyond_the_bound() {
        let mut tokens = IssuedTokens::default();
        let issued = IssuedToken {
            cookie: None,
            expiration: String::new(),
            rental_duration: 0,
            issued_at: chrono::Utc::now(),
            device_id: None,
        };
        for n in 0..=MAX_REMEMBERED_TOKENS {
            tokens.insert(format!("t{n}"), issued.clone());
        }
        assert_eq!(tokens.issued, MAX_REMEMBERED_TOKENS + 1);
        assert_eq!(tokens.by_token.len(), MAX_REMEMBERED_TOKENS);
        assert!(tokens.get("t0").is_none());
        assert!(tokens.get("t1").is_some());
        assert!(tokens.get(&format!("t{MAX_REMEMBERED_TOKENS}")).is_some());
    }
}

/// Configuration of a [`Simulator`].
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Accepted `customerAuthenticator` values; empty accepts any well-formed one.
    pub authenticators: Vec<String>,
    /// How many recent requests to keep for inspection.
    pub history: usize,
    /// Name of the token parameter carrying the device restriction (default [`DEFAULT_DEVICE_PARAM`]).
    pub device_param: String,
    /// Whether the (simulated) account may bind tokens to a device (default true); when false, a token
    /// request with a non-empty device restriction gets -6008 after the other checks.
    pub device_binding: bool,
    /// Whether the PlayReady token route answers `200 text/uri-list`
    /// `http://{addr}/hms/pr/rights/?ExpressPlayToken=<token>` (as ExpressPlay's status table claims)
    /// instead of the JSON `{"licenseAcquisitionUrl", "token"}` (default false: JSON). Changeable
    /// while running with [`Simulator::set_playready_uri_list`].
    pub playready_uri_list: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            authenticators: Vec::new(),
            history: 256,
            device_param: DEFAULT_DEVICE_PARAM.to_owned(),
            device_binding: true,
            playready_uri_list: false,
        }
    }
}

/// Test-controlled deviations from the documented behaviour of one route (each DRM's token route and
/// record retrieval have their own).
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Behaviour {
    /// Milliseconds to sleep before answering.
    pub delay_ms: u64,
    /// Answer this error regardless of the parameters.
    pub force_error: Option<ForcedError>,
    /// Answer errors as HTML even when `errorFormat=json` (like a proxy's error page).
    pub force_html: bool,
    /// Answer with this fault instead (it wins over `force_error`).
    pub fault: Option<Fault>,
    /// Apply this behaviour (fault, forced error, HTML, delay) to the next N requests of the route only,
    /// then behave normally; `None` applies it to every request. The count is taken under the lock, so
    /// concurrent requests see a consistent count.
    pub fault_times: Option<u32>,
}

/// A broken answer, for testing a robust client.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// A bare status with an empty body and no content type (200..=599; anything else answers 500).
    Status {
        /// HTTP status.
        status: u16,
    },
    /// The given status, content type and body, verbatim, e.g. 200 `text/uri-list` `not a url`, or
    /// 200 `application/json` `{garbage`. An unusable content type is left out.
    Malformed {
        /// HTTP status (200..=599; anything else answers 500).
        status: u16,
        /// `Content-Type` header value.
        content_type: String,
        /// Body.
        body: String,
    },
    /// Status 200, the route's success content type and a `Content-Length` larger than what follows:
    /// part of a body, then the connection is dropped.
    CloseMidResponse,
    /// Never answer: the client's deadline must end the request (the simulator's shutdown also does).
    Hang,
}

/// An error the route answers whatever it is asked.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct ForcedError {
    /// HTTP status (200..=599; anything else is answered as 500).
    pub status: u16,
    /// ExpressPlay error number, e.g. -2019.
    pub code: i64,
    /// Error text.
    #[serde(default)]
    pub text: String,
}

/// One request to a simulated service (token, record retrieval or rights), as the simulator saw and
/// answered it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Request path.
    pub path: String,
    /// Percent-decoded parameters (first occurrence of a repeated name wins).
    pub params: BTreeMap<String, String>,
    /// The parameters as received, still encoded: the query string for `GET`, the form body for `POST`.
    pub raw_query: String,
    /// HTTP status answered; 0 when nothing is answered (a [`Fault::Hang`]).
    pub status: u16,
    /// ExpressPlay error number answered, if any.
    pub error_code: Option<i64>,
}

impl RecordedRequest {
    /// The record of `req` before it is answered.
    fn begin(req: &Request) -> Self {
        RecordedRequest {
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            params: BTreeMap::new(),
            raw_query: req.uri().query().unwrap_or_default().to_owned(),
            status: 0,
            error_code: None,
        }
    }
}

/// What the simulator remembers about a token it issued, whatever its DRM (part of an
/// [`IssuedLicence`], which has the rest). Never holds the content key or IV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    /// The `cookie` the token carries, if one was given.
    pub cookie: Option<String>,
    /// Absolute expiration instant, RFC 3339 in UTC (`Z`).
    pub expiration: String,
    /// `rentalDuration` in seconds (0 = none; always 0 for Widevine and PlayReady).
    pub rental_duration: u32,
    /// When the token was issued.
    pub issued_at: DateTime<Utc>,
    /// The device restriction, if one was given (FairPlay only).
    pub device_id: Option<String>,
}

/// One event of the record log: a token carrying `cookie` was redeemed by `device_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordEvent {
    /// Event id: increasing from 1, never reused (not even after [`Simulator::clear_records`]).
    pub id: u64,
    /// When the token was redeemed.
    pub timestamp: DateTime<Utc>,
    /// The cookie the token carried.
    pub cookie: String,
    /// The device that redeemed it.
    pub device_id: String,
}

/// Shared state of a running simulator.
#[derive(Debug)]
pub struct SimState {
    base_url: String,
    authenticators: Vec<String>,
    history: usize,
    device_param: String,
    device_binding: bool,
    /// FairPlay token route.
    behaviour: Mutex<Behaviour>,
    widevine_behaviour: Mutex<Behaviour>,
    playready_behaviour: Mutex<Behaviour>,
    record_behaviour: Mutex<Behaviour>,
    playready_uri_list: AtomicBool,
    requests: Mutex<VecDeque<RecordedRequest>>,
    tokens: Mutex<IssuedTokens>,
    records: Mutex<RecordLog>,
    /// Becomes true when the [`Simulator`] is dropped: hanging requests then give up.
    shutdown: watch::Sender<bool>,
}

/// Locks briefly, recovering from poisoning so that no input can make the simulator panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The behaviour for one request: the slot's, counting it against `fault_times`, or the normal one once
/// the count is spent. The lock is held only for this synchronous step.
fn take_behaviour(slot: &Mutex<Behaviour>) -> Behaviour {
    let mut behaviour = lock(slot);
    match behaviour.fault_times {
        None => behaviour.clone(),
        Some(0) => Behaviour::default(),
        Some(n) => {
            behaviour.fault_times = Some(n - 1);
            behaviour.clone()
        }
    }
}

impl SimState {
    /// The token-request rules this simulator was configured with.
    pub(super) fn token_rules(&self) -> TokenRules<'_> {
        TokenRules {
            authenticators: &self.authenticators,
            device_param: &self.device_param,
            device_binding: self.device_binding,
        }
    }

    /// State for a simulator reachable at `addr` (used in the token URLs it issues).
    pub fn new(config: &SimConfig, addr: SocketAddr) -> Arc<SimState> {
        Arc::new(SimState {
            base_url: format!("http://{addr}"),
            authenticators: config.authenticators.clone(),
            history: config.history,
            device_param: config.device_param.clone(),
            device_binding: config.device_binding,
            behaviour: Mutex::new(Behaviour::default()),
            widevine_behaviour: Mutex::new(Behaviour::default()),
            playready_behaviour: Mutex::new(Behaviour::default()),
            record_behaviour: Mutex::new(Behaviour::default()),
            playready_uri_list: AtomicBool::new(config.playready_uri_list),
            requests: Mutex::new(VecDeque::new()),
            tokens: Mutex::new(IssuedTokens::default()),
            records: Mutex::new(RecordLog::default()),
            shutdown: watch::Sender::new(false),
        })
    }

    fn record(&self, entry: RecordedRequest) {
        if self.history == 0 {
            return;
        }
        let mut requests = lock(&self.requests);
        while requests.len() >= self.history {
            requests.pop_front();
        }
        requests.push_back(entry);
    }

    /// The [`Behaviour`] slot of `drm`'s token route.
    fn token_behaviour(&self, drm: Drm) -> &Mutex<Behaviour> {
        match drm {
            Drm::FairPlay => &self.behaviour,
            Drm::Widevine => &self.widevine_behaviour,
            Drm::PlayReady => &self.playready_behaviour,
        }
    }

    /// `http://{addr}` and the rights path of `drm`.
    fn rights_url(&self, drm: Drm) -> String {
        format!("{}{}", self.base_url, licences::rights_path(drm))
    }

    /// Remembers `licence` under a fresh token and returns the token; `None` when the random source
    /// failed.
    fn issue(&self, licence: IssuedLicence) -> Option<String> {
        let token = new_token()?;
        lock(&self.tokens).insert(token.clone(), licence);
        Some(token)
    }

    /// Resolves when the simulator shuts down (at once if it already has).
    async fn stopped(&self) {
        let mut stopped = self.shutdown.subscribe();
        // An error means the sender is gone, which is a shutdown too.
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }
}

/// The simulator's routes: token, record retrieval, rights, the `/_sim/*` routes, and a plain 404.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route(TOKEN_PATH, any(token_route))
        .route(WIDEVINE_TOKEN_PATH, any(widevine_token_route))
        .route(PLAYREADY_TOKEN_PATH, any(playready_token_route))
        .route(RECORD_PATH, any(record_route))
        .route("/cmiapi/getrecord", any(record_route))
        .route(RIGHTS_PATH, any(records::rights_route))
        .route("/hms/fp/rights", any(records::rights_route))
        .route(WIDEVINE_RIGHTS_PATH, any(widevine_rights_route))
        .route("/hms/wv/rights", any(widevine_rights_route))
        .route(PLAYREADY_RIGHTS_PATH, any(playready_rights_route))
        .route("/hms/pr/rights", any(playready_rights_route))
        .route("/_sim/requests", get(sim_requests))
        .route("/_sim/behaviour", put(sim_behaviour))
        .route("/_sim/behaviour/{drm}", put(sim_drm_behaviour))
        .route("/_sim/record-behaviour", put(sim_record_behaviour))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 Not Found") })
        .with_state(state)
}

async fn sim_requests(State(state): State<Arc<SimState>>) -> Json<Vec<RecordedRequest>> {
    Json(lock(&state.requests).iter().cloned().collect())
}

async fn sim_behaviour(
    State(state): State<Arc<SimState>>,
    Json(behaviour): Json<Behaviour>,
) -> StatusCode {
    *lock(&state.behaviour) = behaviour;
    StatusCode::NO_CONTENT
}

/// `PUT /_sim/behaviour/{fairplay|widevine|playready}`: that DRM's token route; 404 for another name.
async fn sim_drm_behaviour(
    State(state): State<Arc<SimState>>,
    Path(drm): Path<String>,
    Json(behaviour): Json<Behaviour>,
) -> StatusCode {
    match Drm::parse(&drm) {
        Some(drm) => {
            *lock(state.token_behaviour(drm)) = behaviour;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn sim_record_behaviour(
    State(state): State<Arc<SimState>>,
    Json(behaviour): Json<Behaviour>,
) -> StatusCode {
    *lock(&state.record_behaviour) = behaviour;
    StatusCode::NO_CONTENT
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Decoded parameters (in order, repeats kept) and the raw encoded text, or the status to answer.
/// GET reads the query string, POST a form body; both through the same `application/x-www-form-urlencoded`
/// decoder, which turns an unencoded `+` into a space as the real service's does.
async fn decode_params(
    req: Request,
) -> Result<(Vec<(String, String)>, String), (StatusCode, String)> {
    let raw = if req.method() == Method::GET {
        req.uri().query().unwrap_or_default().to_owned()
    } else {
        let is_form = is_form(req.headers());
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, String::new()))?;
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        if !is_form {
            return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, raw));
        }
        raw
    };
    match serde_urlencoded::from_str::<Vec<(String, String)>>(&raw) {
        Ok(pairs) => Ok((pairs, raw)),
        Err(_) => Err((StatusCode::BAD_REQUEST, raw)),
    }
}

fn first_wins(pairs: Vec<(String, String)>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (k, v) in pairs {
        map.entry(k).or_insert(v);
    }
    map
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed").into_response();
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// The ExpressPlay API routes that take a [`Behaviour`]: each DRM's token route, record retrieval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// `/hms/fp/token`, `/hms/wv/token`, `/hms/pr/token`.
    Token(Drm),
    /// `/cmiapi/getrecord/`.
    Record,
}

impl Route {
    fn allows(self, method: &Method) -> bool {
        match self {
            Route::Token(_) => method == Method::GET || method == Method::POST,
            Route::Record => method == Method::GET,
        }
    }

    fn allow_header(self) -> &'static str {
        match self {
            Route::Token(_) => "GET, POST",
            Route::Record => "GET",
        }
    }

    fn behaviour(self, state: &SimState) -> &Mutex<Behaviour> {
        match self {
            Route::Token(drm) => state.token_behaviour(drm),
            Route::Record => &state.record_behaviour,
        }
    }

    /// The success content type and the start of a success body, for [`Fault::CloseMidResponse`].
    fn partial_success(self, state: &SimState) -> (&'static str, String) {
        match self {
            Route::Token(Drm::PlayReady) if !state.playready_uri_list.load(Ordering::Relaxed) => (
                "application/json",
                "{\"licenseAcquisitionUrl\":\"".to_owned(),
            ),
            Route::Token(drm) => (
                "text/uri-list",
                format!("{}?{TOKEN_PARAM}=", state.rights_url(drm)),
            ),
            Route::Record => (
                "application/json",
                format!("{{\"{RECORDS_FIELD}\":[{{\"{RECORD_ID_FIELD}\":"),
            ),
        }
    }
}

async fn token_route(State(state): State<Arc<SimState>>, req: Request) -> Response {
    api_route(state, Route::Token(Drm::FairPlay), req).await
}

async fn widevine_token_route(State(state): State<Arc<SimState>>, req: Request) -> Response {
    api_route(state, Route::Token(Drm::Widevine), req).await
}

async fn playready_token_route(State(state): State<Arc<SimState>>, req: Request) -> Response {
    api_route(state, Route::Token(Drm::PlayReady), req).await
}

async fn widevine_rights_route(State(state): State<Arc<SimState>>, req: Request) -> Response {
    licences::licence_rights_route(state, Drm::Widevine, req).await
}

async fn playready_rights_route(State(state): State<Arc<SimState>>, req: Request) -> Response {
    licences::licence_rights_route(state, Drm::PlayReady, req).await
}

async fn record_route(State(state): State<Arc<SimState>>, req: Request) -> Response {
    api_route(state, Route::Record, req).await
}

/// Method check, parameters, the route's [`Behaviour`] (delay, fault, forced error), the answer, and
/// the record of the request.
async fn api_route(state: Arc<SimState>, route: Route, req: Request) -> Response {
    let method = req.method().clone();
    let mut recorded = RecordedRequest::begin(&req);

    let (response, error_code) = if !route.allows(&method) {
        (method_not_allowed(route.allow_header()), None)
    } else {
        match decode_params(req).await {
            Err((status, raw)) => {
                recorded.raw_query = raw;
                (status.into_response(), None)
            }
            Ok((pairs, raw)) => {
                recorded.raw_query = raw;
                recorded.params = first_wins(pairs.clone());
                let behaviour = take_behaviour(route.behaviour(&state));
                if behaviour.delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(behaviour.delay_ms)).await;
                }
                match &behaviour.fault {
                    Some(Fault::Hang) => {
                        tracing::debug!(?route, "ExpressPlay simulator hangs (fault)");
                        state.record(recorded);
                        state.stopped().await;
                        let (content_type, partial) = route.partial_success(&state);
                        return close_mid_response(content_type, partial);
                    }
                    Some(fault) => {
                        let (content_type, partial) = route.partial_success(&state);
                        (fault_response(fault, content_type, partial), None)
                    }
                    None => match route {
                        Route::Token(Drm::FairPlay) => {
                            answer_token_request(&state, &recorded.params, &behaviour)
                        }
                        Route::Token(drm) => licences::answer_licence_request(
                            &state,
                            drm,
                            &pairs,
                            &recorded.params,
                            &behaviour,
                        ),
                        Route::Record => {
                            records::answer_record_request(&state, &recorded.params, &behaviour)
                        }
                    },
                }
            }
        }
    };

    recorded.status = response.status().as_u16();
    recorded.error_code = error_code;
    tracing::debug!(
        ?route,
        status = recorded.status,
        error_code = ?error_code,
        "ExpressPlay simulator answered a request"
    );
    state.record(recorded);
    response
}

/// The answer and number of the error `behaviour` forces, if any, in `format`.
pub(super) fn forced_answer(
    behaviour: &Behaviour,
    format: ErrorFormat,
) -> Option<(Response, Option<i64>)> {
    let reply = ErrorReply::from(behaviour.force_error.as_ref()?);
    Some((reply.render(format), Some(reply.code)))
}

/// The error format to answer in: JSON only when asked for (validly) and not overridden by
/// `force_html`.
pub(super) fn answer_format(
    params: &BTreeMap<String, String>,
    behaviour: &Behaviour,
) -> ErrorFormat {
    match parse_error_format(params.get("errorFormat").map(String::as_str)) {
        Ok(ErrorFormat::Json) if !behaviour.force_html => ErrorFormat::Json,
        _ => ErrorFormat::Html,
    }
}

/// Answers a decoded FairPlay token request: forced error, validation error, or a fresh token URL.
fn answer_token_request(
    state: &SimState,
    params: &BTreeMap<String, String>,
    behaviour: &Behaviour,
) -> (Response, Option<i64>) {
    let format = answer_format(params, behaviour);
    if let Some(forced) = forced_answer(behaviour, format) {
        return forced;
    }
    let now = Utc::now();
    let rules = state.token_rules();
    let valid = match validate_with(params, &rules, now) {
        Ok(valid) => valid,
        Err(e) => return (ErrorReply::from(e).render(format), Some(e.code())),
    };
    let param = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let licence = IssuedLicence {
        drm: Drm::FairPlay,
        token: IssuedToken {
            cookie: valid.cookie,
            expiration: valid
                .expiration
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            rental_duration: valid.rental_duration,
            issued_at: now,
            device_id: valid.device_id,
        },
        kid: param("kid"),
        content_key: param("contentKey").unwrap_or_default(),
        iv: param("iv"),
        terms: LicenceTerms::FairPlay(FairPlayLicence {
            rental_duration: valid.rental_duration,
        }),
    };
    let Some(token) = state.issue(licence) else {
        // The random source failed: the simulator's own failure, reported as an admin error (-2030).
        let reply = ErrorReply::internal();
        return (reply.render(format), Some(reply.code));
    };
    // Body: the token URL alone, without a trailing CRLF (text/uri-list allows either).
    let body = format!("{}{RIGHTS_PATH}?{TOKEN_PARAM}={token}", state.base_url);
    let response = (StatusCode::OK, [(CONTENT_TYPE, "text/uri-list")], body).into_response();
    (response, None)
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Simulator {
    state: Arc<SimState>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Simulator {
    /// Binds `config.listen` (port 0 is fine) and serves in a background task.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let state = SimState::new(&config, addr);
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "ExpressPlay SIMULATOR stopped");
            }
        });
        tracing::warn!(
            %addr,
            "ExpressPlay SIMULATOR listening on http://{addr}{TOKEN_PATH}, http://{addr}{WIDEVINE_TOKEN_PATH}, \
             http://{addr}{PLAYREADY_TOKEN_PATH} and http://{addr}{RECORD_PATH} — this is NOT the real \
             ExpressPlay service; its tokens are worthless outside tests and the quick start"
        );
        Ok(Simulator { state, addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The (FairPlay) token service URL: `http://{addr}/hms/fp/token`.
    pub fn token_url(&self) -> String {
        format!("http://{}{TOKEN_PATH}", self.addr)
    }

    /// The Widevine token service URL: `http://{addr}/hms/wv/token`.
    pub fn widevine_token_url(&self) -> String {
        format!("http://{}{WIDEVINE_TOKEN_PATH}", self.addr)
    }

    /// The PlayReady token service URL: `http://{addr}/hms/pr/token`.
    pub fn playready_token_url(&self) -> String {
        format!("http://{}{PLAYREADY_TOKEN_PATH}", self.addr)
    }

    /// The token service URL of `drm`.
    pub fn token_url_for(&self, drm: Drm) -> String {
        match drm {
            Drm::FairPlay => self.token_url(),
            Drm::Widevine => self.widevine_token_url(),
            Drm::PlayReady => self.playready_token_url(),
        }
    }

    /// The rights URL of `drm`, without a token: `http://{addr}/hms/{fp|wv|pr}/rights/` (for
    /// PlayReady, the `licenseAcquisitionUrl` it answers).
    pub fn rights_url_for(&self, drm: Drm) -> String {
        self.state.rights_url(drm)
    }

    /// The record retrieval URL: `http://{addr}/cmiapi/getrecord/`.
    pub fn record_url(&self) -> String {
        format!("http://{}{RECORD_PATH}", self.addr)
    }

    /// The recent requests to the token, record and rights routes, oldest first.
    pub fn recent_requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).iter().cloned().collect()
    }

    /// Replaces the current [`Behaviour`] of the FairPlay token route (only; see
    /// [`Simulator::set_behaviour_for`]).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.state.behaviour) = behaviour;
    }

    /// Replaces the current [`Behaviour`] of `drm`'s token route; the other routes keep theirs.
    /// `set_behaviour_for(Drm::FairPlay, b)` is `set_behaviour(b)`.
    pub fn set_behaviour_for(&self, drm: Drm, behaviour: Behaviour) {
        *lock(self.state.token_behaviour(drm)) = behaviour;
    }

    /// Makes the PlayReady token route answer `text/uri-list` (`true`) or JSON (`false`) from now on
    /// (see [`SimConfig::playready_uri_list`]).
    pub fn set_playready_uri_list(&self, uri_list: bool) {
        self.state
            .playready_uri_list
            .store(uri_list, Ordering::Relaxed);
    }

    /// Replaces the current [`Behaviour`] of record retrieval.
    pub fn set_record_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.state.record_behaviour) = behaviour;
    }

    /// How many tokens have been issued, every DRM (the most recent 100 000 are remembered).
    pub fn issued_tokens(&self) -> usize {
        lock(&self.state.tokens).issued
    }

    /// How many `drm` tokens have been issued.
    pub fn issued_tokens_for(&self, drm: Drm) -> usize {
        lock(&self.state.tokens)
            .issued_by_drm
            .get(&drm)
            .copied()
            .unwrap_or(0)
    }

    /// What the simulator remembers about `token` (of any DRM), if it issued it.
    pub fn issued_token(&self, token: &str) -> Option<IssuedToken> {
        lock(&self.state.tokens).get(token).map(|l| l.token.clone())
    }

    /// Everything the simulator remembers about `token` (of any DRM): DRM, kid, key, IV and the
    /// DRM-specific terms, as the token request gave them.
    pub fn issued_licence(&self, token: &str) -> Option<IssuedLicence> {
        lock(&self.state.tokens).get(token).cloned()
    }

    /// The remembered tokens with what was asked for each, oldest first.
    pub fn issued_licences(&self) -> Vec<(String, IssuedLicence)> {
        lock(&self.state.tokens)
            .remembered()
            .map(|(token, licence)| (token.clone(), licence.clone()))
            .collect()
    }

    /// The most recently issued `drm` token still remembered, with what was asked for it.
    pub fn last_issued(&self, drm: Drm) -> Option<(String, IssuedLicence)> {
        let tokens = lock(&self.state.tokens);
        tokens
            .order
            .iter()
            .rev()
            .filter_map(|token| tokens.by_token.get_key_value(token))
            .find(|(_, licence)| licence.drm == drm)
            .map(|(token, licence)| (token.clone(), licence.clone()))
    }

    /// The record log, oldest first (record retrieval answers newest first).
    pub fn record_events(&self) -> Vec<RecordEvent> {
        lock(&self.state.records).events().cloned().collect()
    }

    /// Appends an event to the record log directly, as if a token carrying `cookie` had been redeemed
    /// by `device_id` (for tests; no validation).
    pub fn log_device(&self, cookie: &str, device_id: &str) {
        lock(&self.state.records).push(cookie, device_id, Utc::now());
    }

    /// Empties the record log (event ids keep increasing).
    pub fn clear_records(&self) {
        lock(&self.state.records).clear();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.state.shutdown.send_replace(true);
        self.task.abort();
    }
}

/// Starts the simulator, prints its URLs and serves until Ctrl-C (`sees expressplay-sim`).
pub async fn run(config: SimConfig) -> std::io::Result<()> {
    let mut sim = Simulator::start(config).await?;
    println!(
        "ExpressPlay SIMULATOR (NOT the real service) token URL: {}",
        sim.token_url()
    );
    println!("Widevine token URL: {}", sim.widevine_token_url());
    println!("PlayReady token URL: {}", sim.playready_token_url());
    println!("record retrieval URL: {}", sim.record_url());
    println!(
        "inspect: GET http://{addr}/_sim/requests, PUT http://{addr}/_sim/behaviour, \
         PUT http://{addr}/_sim/behaviour/{{fairplay|widevine|playready}}, \
         PUT http://{addr}/_sim/record-behaviour",
        addr = sim.addr()
    );
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal?,
        _ = &mut sim.task => {
            return Err(std::io::Error::other("ExpressPlay simulator stopped unexpectedly"));
        }
    }
    tracing::info!("ExpressPlay simulator shutting down");
    Ok(())
}
