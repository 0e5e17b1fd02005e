//! A local **SIMULATOR** of the ExpressPlay FairPlay token service (`/hms/fp/token`).
//!
//! It imitates the documented behaviour of `https://fp-gen.<domain>/hms/fp/token`: the same parameters
//! (case-sensitive, by `GET` query string or `POST` form body), the same validation order, the same
//! error numbers and HTTP statuses, JSON or HTML error bodies, and a `text/uri-list` answer carrying a
//! token URL on success. It is the upstream of every test and of the quick start.
//!
//! It is **not** the real ExpressPlay service and must never be mistaken for it: the tokens it issues are
//! random strings that no FairPlay license server will honour, and it keeps no content keys. It says so
//! loudly in the log when it starts.
//!
//! Besides the token route it offers two clearly labelled simulator routes for tests:
//! `GET /_sim/requests` (the recent requests, oldest first) and `PUT /_sim/behaviour` (delay, forced
//! errors, HTML error pages).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use tokio::task::JoinHandle;

/// Path of the token route, as on the real service.
pub const TOKEN_PATH: &str = "/hms/fp/token";
/// Path prefix of the (simulated) rights URLs handed out in token URLs.
pub const RIGHTS_PATH: &str = "/hms/fp/rights/";
/// Longest token lifetime the service accepts, and the default: 30 days.
pub const MAX_EXPIRATION_SECS: u32 = 2_592_000;
/// Longest accepted `cookie`, in characters.
pub const MAX_COOKIE_CHARS: usize = 32;
/// Largest POST body the simulator reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Configuration of a [`Simulator`].
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Accepted `customerAuthenticator` values; empty accepts any well-formed one.
    pub authenticators: Vec<String>,
    /// How many recent requests to keep for inspection.
    pub history: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            authenticators: Vec::new(),
            history: 256,
        }
    }
}

/// Test-controlled deviations from the documented behaviour.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Behaviour {
    /// Milliseconds to sleep before answering the token route.
    pub delay_ms: u64,
    /// Answer this error regardless of the parameters.
    pub force_error: Option<ForcedError>,
    /// Answer errors as HTML even when `errorFormat=json` (like a proxy's error page).
    pub force_html: bool,
}

/// An error the token route answers whatever it is asked.
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

/// One request to the token route, as the simulator saw and answered it.
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
    /// HTTP status answered.
    pub status: u16,
    /// ExpressPlay error number answered, if any.
    pub error_code: Option<i64>,
}

/// What the simulator remembers about a token it issued. Never holds the content key or IV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    /// The `cookie` the token carries, if one was given.
    pub cookie: Option<String>,
    /// Absolute expiration instant, RFC 3339 in UTC (`Z`).
    pub expiration: String,
    /// `rentalDuration` in seconds (0 = none).
    pub rental_duration: u32,
    /// When the token was issued.
    pub issued_at: DateTime<Utc>,
    /// The `deviceId` restriction, if one was given.
    pub device_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------------
// Validation: small pure functions, testable without HTTP.
// ---------------------------------------------------------------------------------------------------

/// How the client asked errors to be rendered (`errorFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `errorFormat=html` (the default).
    Html,
    /// `errorFormat=json`.
    Json,
}

/// The documented token-service errors the simulator produces from parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// -3004: `errorFormat` is neither `html` nor `json`.
    #[error("Invalid error format")]
    InvalidErrorFormat,
    /// -2017: no `customerAuthenticator`.
    #[error("Authenticator must be supplied")]
    AuthenticatorMissing,
    /// -2018: malformed or unknown `customerAuthenticator`.
    #[error("Authenticator invalid")]
    AuthenticatorInvalid,
    /// -2005: no `contentKey`.
    #[error("Invalid content encryption key")]
    ContentKeyMissing,
    /// -2027: `contentKey` is not 32 hex digits.
    #[error("Content key must be 32 hex digits")]
    ContentKeyMalformed,
    /// -6003: `iv` missing or not 32 hex digits.
    #[error("Invalid iv")]
    InvalidIv,
    /// -6007: `rentalDuration` is not a non-negative 32-bit integer.
    #[error("Invalid rental duration")]
    InvalidRentalDuration,
    /// -2002: `expirationTime` malformed, in the past, or beyond 30 days.
    #[error("Invalid token expiration time")]
    InvalidExpiration,
    /// -2033: `cookie` longer than 32 characters.
    #[error("Invalid cookie")]
    InvalidCookie,
}

impl TokenError {
    /// The ExpressPlay error number.
    pub fn code(self) -> i64 {
        match self {
            TokenError::InvalidErrorFormat => -3004,
            TokenError::AuthenticatorMissing => -2017,
            TokenError::AuthenticatorInvalid => -2018,
            TokenError::ContentKeyMissing => -2005,
            TokenError::ContentKeyMalformed => -2027,
            TokenError::InvalidIv => -6003,
            TokenError::InvalidRentalDuration => -6007,
            TokenError::InvalidExpiration => -2002,
            TokenError::InvalidCookie => -2033,
        }
    }

    /// The HTTP status: 401 for authentication errors, 400 otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            TokenError::AuthenticatorMissing | TokenError::AuthenticatorInvalid => {
                StatusCode::UNAUTHORIZED
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A token request that passed validation. Deliberately holds neither the content key nor the IV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidRequest {
    /// Requested error format.
    pub error_format: ErrorFormat,
    /// Absolute expiration of the token.
    pub expiration: DateTime<Utc>,
    /// `rentalDuration` in seconds.
    pub rental_duration: u32,
    /// `cookie`, if given and non-empty.
    pub cookie: Option<String>,
    /// `deviceId`, if given and non-empty.
    pub device_id: Option<String>,
}

/// Validates the parameters in the documented order. A parameter that is present but empty counts as
/// missing for `customerAuthenticator` and `contentKey`, and as malformed everywhere else.
pub fn validate(
    params: &BTreeMap<String, String>,
    authenticators: &[String],
    now: DateTime<Utc>,
) -> Result<ValidRequest, TokenError> {
    let get = |name: &str| params.get(name).map(String::as_str);
    let error_format = parse_error_format(get("errorFormat"))?;
    check_authenticator(get("customerAuthenticator"), authenticators)?;
    check_content_key(get("contentKey"))?;
    check_iv(get("iv"))?;
    let rental_duration = parse_rental_duration(get("rentalDuration"))?;
    let expiration = parse_expiration(get("expirationTime"), now)?;
    let cookie = check_cookie(get("cookie"))?;
    let device_id = get("deviceId").filter(|d| !d.is_empty()).map(str::to_owned);
    Ok(ValidRequest {
        error_format,
        expiration,
        rental_duration,
        cookie,
        device_id,
    })
}

/// `errorFormat`: absent means `html`; otherwise exactly `html` or `json`.
pub fn parse_error_format(value: Option<&str>) -> Result<ErrorFormat, TokenError> {
    match value {
        None | Some("html") => Ok(ErrorFormat::Html),
        Some("json") => Ok(ErrorFormat::Json),
        Some(_) => Err(TokenError::InvalidErrorFormat),
    }
}

/// `customerAuthenticator`: `<decimal digits>,<32 hex digits>`, and in `accepted` when that is non-empty.
pub fn check_authenticator(value: Option<&str>, accepted: &[String]) -> Result<(), TokenError> {
    let value = match value {
        None | Some("") => return Err(TokenError::AuthenticatorMissing),
        Some(v) => v,
    };
    let well_formed = value.split_once(',').is_some_and(|(account, secret)| {
        !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) && is_hex32(secret)
    });
    if !well_formed || !(accepted.is_empty() || accepted.iter().any(|a| a == value)) {
        return Err(TokenError::AuthenticatorInvalid);
    }
    Ok(())
}

/// `contentKey`: required, exactly 32 hex digits.
pub fn check_content_key(value: Option<&str>) -> Result<(), TokenError> {
    match value {
        None | Some("") => Err(TokenError::ContentKeyMissing),
        Some(v) if is_hex32(v) => Ok(()),
        Some(_) => Err(TokenError::ContentKeyMalformed),
    }
}

/// `iv`: required for FairPlay, exactly 32 hex digits.
pub fn check_iv(value: Option<&str>) -> Result<(), TokenError> {
    match value {
        Some(v) if is_hex32(v) => Ok(()),
        _ => Err(TokenError::InvalidIv),
    }
}

/// `rentalDuration`: optional (default 0), decimal digits only, fits a `u32`.
pub fn parse_rental_duration(value: Option<&str>) -> Result<u32, TokenError> {
    match value {
        None => Ok(0),
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            v.parse().map_err(|_| TokenError::InvalidRentalDuration)
        }
        Some(_) => Err(TokenError::InvalidRentalDuration),
    }
}

/// `expirationTime`: optional (default `+2592000`); `+N` with N in 1..=2592000, or an RFC 3339
/// date-time with the `Z` designator, in the future and at most 30 days after `now`.
///
/// A `+` sent unencoded arrives as a space, so `" 60"` is rejected, exactly as the real service does.
pub fn parse_expiration(
    value: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TokenError> {
    let max = TimeDelta::seconds(i64::from(MAX_EXPIRATION_SECS));
    let Some(value) = value else {
        return now
            .checked_add_signed(max)
            .ok_or(TokenError::InvalidExpiration);
    };
    if let Some(digits) = value.strip_prefix('+') {
        let secs = parse_digits(digits).ok_or(TokenError::InvalidExpiration)?;
        if !(1..=u64::from(MAX_EXPIRATION_SECS)).contains(&secs) {
            return Err(TokenError::InvalidExpiration);
        }
        let delta = i64::try_from(secs).map_err(|_| TokenError::InvalidExpiration)?;
        return now
            .checked_add_signed(TimeDelta::seconds(delta))
            .ok_or(TokenError::InvalidExpiration);
    }
    // RFC 3339 with an upper-case 'T' separator and the 'Z' zone designator only.
    if !value.ends_with('Z') || value.as_bytes().get(10) != Some(&b'T') {
        return Err(TokenError::InvalidExpiration);
    }
    let at = DateTime::parse_from_rfc3339(value)
        .map_err(|_| TokenError::InvalidExpiration)?
        .with_timezone(&Utc);
    if at <= now || at.signed_duration_since(now) > max {
        return Err(TokenError::InvalidExpiration);
    }
    Ok(at)
}

/// `cookie`: optional, at most 32 characters. Returns it when non-empty.
pub fn check_cookie(value: Option<&str>) -> Result<Option<String>, TokenError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() <= MAX_COOKIE_CHARS => Ok(Some(v.to_owned())),
        Some(_) => Err(TokenError::InvalidCookie),
    }
}

fn is_hex32(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decimal digits only (no sign, no spaces), parsed as `u64`.
fn parse_digits(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

// ---------------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------------

/// An error answer: status, ExpressPlay code and text. The text never contains submitted values.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ErrorReply {
    status: StatusCode,
    code: i64,
    text: String,
}

impl From<TokenError> for ErrorReply {
    fn from(e: TokenError) -> Self {
        ErrorReply {
            status: e.status(),
            code: e.code(),
            text: e.to_string(),
        }
    }
}

impl From<&ForcedError> for ErrorReply {
    fn from(f: &ForcedError) -> Self {
        let status = StatusCode::from_u16(f.status)
            .ok()
            .filter(|s| (200..=599).contains(&s.as_u16()))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ErrorReply {
            status,
            code: f.code,
            text: f.text.clone(),
        }
    }
}

impl ErrorReply {
    fn render(&self, format: ErrorFormat) -> Response {
        match format {
            ErrorFormat::Json => {
                let body = serde_json::json!({ "errorCode": self.code, "errorText": self.text });
                (
                    self.status,
                    [(CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response()
            }
            ErrorFormat::Html => {
                let reason = self.status.canonical_reason().unwrap_or("Error");
                let body = format!(
                    "<html><head><title>{status} {reason}</title></head><body><h1>Error {code}</h1>\
                     <p>{text}</p></body></html>",
                    status = self.status.as_u16(),
                    code = self.code,
                    text = html_escape(&self.text),
                );
                (self.status, [(CONTENT_TYPE, "text/html")], body).into_response()
            }
        }
    }
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A fresh token: URL-safe base64 without padding of 32 random bytes.
fn new_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

// ---------------------------------------------------------------------------------------------------
// Server state and routes
// ---------------------------------------------------------------------------------------------------

/// Shared state of a running simulator.
#[derive(Debug)]
pub struct SimState {
    base_url: String,
    authenticators: Vec<String>,
    history: usize,
    behaviour: Mutex<Behaviour>,
    requests: Mutex<VecDeque<RecordedRequest>>,
    tokens: Mutex<HashMap<String, IssuedToken>>,
}

/// Locks briefly, recovering from poisoning so that no input can make the simulator panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimState {
    /// State for a simulator reachable at `addr` (used in the token URLs it issues).
    pub fn new(config: &SimConfig, addr: SocketAddr) -> Arc<SimState> {
        Arc::new(SimState {
            base_url: format!("http://{addr}"),
            authenticators: config.authenticators.clone(),
            history: config.history,
            behaviour: Mutex::new(Behaviour::default()),
            requests: Mutex::new(VecDeque::new()),
            tokens: Mutex::new(HashMap::new()),
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
}

/// The simulator's routes: the token route, the `/_sim/*` inspection routes, and a plain 404.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route(TOKEN_PATH, any(token_route))
        .route("/_sim/requests", get(sim_requests))
        .route("/_sim/behaviour", put(sim_behaviour))
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

/// Decoded parameters (first occurrence wins) and the raw encoded text, or the status to answer.
async fn decode_params(
    req: Request,
) -> Result<(BTreeMap<String, String>, String), (StatusCode, String)> {
    if req.method() == Method::GET {
        let raw = req.uri().query().unwrap_or_default().to_owned();
        return match Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
            Ok(Query(pairs)) => Ok((first_wins(pairs), raw)),
            Err(r) => Err((r.status(), raw)),
        };
    }
    // POST: only form bodies; decoded with the same decoder as a query string (see `body_as_uri`).
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, String::new()))?;
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    if !is_form {
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, raw));
    }
    let uri = body_as_uri(&bytes).ok_or((StatusCode::BAD_REQUEST, raw.clone()))?;
    match Query::<Vec<(String, String)>>::try_from_uri(&uri) {
        Ok(Query(pairs)) => Ok((first_wins(pairs), raw)),
        Err(r) => Err((r.status(), raw)),
    }
}

/// Wraps a form body as the query of a URI, so that axum's query decoder (the `form` feature of axum
/// is not enabled) decodes it. Bytes that may not appear in a URI query are percent-encoded first,
/// which the form decoder turns back into the very same bytes: the decoded result is unchanged.
fn body_as_uri(body: &[u8]) -> Option<Uri> {
    const KEEP: &[u8] = b"-._~!$'()*,;:@/?=&+";
    let mut query = String::with_capacity(body.len() + 2);
    query.push_str("/?");
    for (i, &b) in body.iter().enumerate() {
        let valid_escape = b == b'%'
            && body.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && body.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if b.is_ascii_alphanumeric() || KEEP.contains(&b) || valid_escape {
            query.push(char::from(b));
        } else {
            query.push_str(&format!("%{b:02X}"));
        }
    }
    query.parse().ok()
}

fn first_wins(pairs: Vec<(String, String)>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (k, v) in pairs {
        map.entry(k).or_insert(v);
    }
    map
}

async fn token_route(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut recorded = RecordedRequest {
        method: method.to_string(),
        path,
        params: BTreeMap::new(),
        raw_query: req.uri().query().unwrap_or_default().to_owned(),
        status: 0,
        error_code: None,
    };

    let (response, error_code) = if method != Method::GET && method != Method::POST {
        let mut response =
            (StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed").into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, POST"));
        (response, None)
    } else {
        match decode_params(req).await {
            Err((status, raw)) => {
                recorded.raw_query = raw;
                (status.into_response(), None)
            }
            Ok((params, raw)) => {
                recorded.raw_query = raw;
                let behaviour = lock(&state.behaviour).clone();
                if behaviour.delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(behaviour.delay_ms)).await;
                }
                let answer = answer_token_request(&state, &params, &behaviour);
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
        "ExpressPlay simulator answered a token request"
    );
    state.record(recorded);
    response
}

/// Answers a decoded token request: forced error, validation error, or a fresh token URL.
fn answer_token_request(
    state: &SimState,
    params: &BTreeMap<String, String>,
    behaviour: &Behaviour,
) -> (Response, Option<i64>) {
    let requested = parse_error_format(params.get("errorFormat").map(String::as_str));
    let format = match requested {
        Ok(ErrorFormat::Json) if !behaviour.force_html => ErrorFormat::Json,
        _ => ErrorFormat::Html,
    };
    if let Some(forced) = &behaviour.force_error {
        let reply = ErrorReply::from(forced);
        return (reply.render(format), Some(reply.code));
    }
    let now = Utc::now();
    let valid = match validate(params, &state.authenticators, now) {
        Ok(valid) => valid,
        Err(e) => return (ErrorReply::from(e).render(format), Some(e.code())),
    };
    let Some(token) = new_token() else {
        // The random source failed: the simulator's own failure, reported as an admin error (-2030).
        let reply = ErrorReply {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: -2030,
            text: "Internal error".to_owned(),
        };
        return (reply.render(format), Some(reply.code));
    };
    let issued = IssuedToken {
        cookie: valid.cookie,
        expiration: valid
            .expiration
            .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        rental_duration: valid.rental_duration,
        issued_at: now,
        device_id: valid.device_id,
    };
    lock(&state.tokens).insert(token.clone(), issued);
    // Body: the token URL alone, without a trailing CRLF (text/uri-list allows either).
    let body = format!("{}{RIGHTS_PATH}?ExpressPlayToken={token}", state.base_url);
    let response = (StatusCode::OK, [(CONTENT_TYPE, "text/uri-list")], body).into_response();
    (response, None)
}

// ---------------------------------------------------------------------------------------------------
// Running it
// ---------------------------------------------------------------------------------------------------

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
            "ExpressPlay SIMULATOR listening on http://{addr}{TOKEN_PATH} — this is NOT the real \
             ExpressPlay service; its tokens are worthless outside tests and the quick start"
        );
        Ok(Simulator { state, addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token service URL: `http://{addr}/hms/fp/token`.
    pub fn token_url(&self) -> String {
        format!("http://{}{TOKEN_PATH}", self.addr)
    }

    /// The recent token-route requests, oldest first.
    pub fn recent_requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).iter().cloned().collect()
    }

    /// Replaces the current [`Behaviour`].
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.state.behaviour) = behaviour;
    }

    /// How many tokens have been issued.
    pub fn issued_tokens(&self) -> usize {
        lock(&self.state.tokens).len()
    }

    /// What the simulator remembers about `token`, if it issued it.
    pub fn issued_token(&self, token: &str) -> Option<IssuedToken> {
        lock(&self.state.tokens).get(token).cloned()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the simulator, prints its token URL and serves until Ctrl-C (`sees expressplay-sim`).
pub async fn run(config: SimConfig) -> std::io::Result<()> {
    let mut sim = Simulator::start(config).await?;
    println!(
        "ExpressPlay SIMULATOR (NOT the real service) token URL: {}",
        sim.token_url()
    );
    println!(
        "inspect: GET http://{addr}/_sim/requests, PUT http://{addr}/_sim/behaviour",
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

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "1000,0123456789abcdef0123456789ABCDEF";
    const KEY: &str = "00112233445566778899aabbccddeeff";
    const IV: &str = "ffeeddccbbaa99887766554433221100";

    /// Request parameters as name/value pairs.
    type Pairs<'a> = Vec<(&'static str, &'a str)>;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("customerAuthenticator", AUTH),
            ("contentKey", KEY),
            ("iv", IV),
        ]
    }

    fn with<'a>(overrides: &[(&'static str, &'a str)]) -> Vec<(&'static str, &'a str)> {
        let mut all = good();
        for (k, v) in overrides {
            all.retain(|(name, _)| name != k);
            all.push((k, v));
        }
        all
    }

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        good().into_iter().filter(|(k, _)| *k != name).collect()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    // ----- pure validation -----

    #[test]
    fn error_format_parsing() {
        assert_eq!(parse_error_format(None), Ok(ErrorFormat::Html));
        assert_eq!(parse_error_format(Some("html")), Ok(ErrorFormat::Html));
        assert_eq!(parse_error_format(Some("json")), Ok(ErrorFormat::Json));
        for bad in ["JSON", "xml", "", " json"] {
            assert_eq!(
                parse_error_format(Some(bad)),
                Err(TokenError::InvalidErrorFormat)
            );
        }
    }

    #[test]
    fn authenticator_validation() {
        assert_eq!(
            check_authenticator(None, &[]),
            Err(TokenError::AuthenticatorMissing)
        );
        assert_eq!(
            check_authenticator(Some(""), &[]),
            Err(TokenError::AuthenticatorMissing)
        );
        assert_eq!(check_authenticator(Some(AUTH), &[]), Ok(()));
        for bad in [
            "1000",
            ",0123456789abcdef0123456789abcdef",
            "10a0,0123456789abcdef0123456789abcdef",
            "1000,0123456789abcdef0123456789abcde",
            "1000,0123456789abcdef0123456789abcdeg",
            "1000 0123456789abcdef0123456789abcdef",
            "1000,0123456789abcdef0123456789abcdef,1",
        ] {
            assert_eq!(
                check_authenticator(Some(bad), &[]),
                Err(TokenError::AuthenticatorInvalid),
                "{bad}"
            );
        }
        let accepted = vec![AUTH.to_owned()];
        assert_eq!(check_authenticator(Some(AUTH), &accepted), Ok(()));
        assert_eq!(
            check_authenticator(Some("7,0123456789abcdef0123456789abcdef"), &accepted),
            Err(TokenError::AuthenticatorInvalid)
        );
    }

    #[test]
    fn content_key_and_iv_validation() {
        assert_eq!(check_content_key(None), Err(TokenError::ContentKeyMissing));
        assert_eq!(check_content_key(Some(KEY)), Ok(()));
        assert_eq!(
            check_content_key(Some(&KEY[1..])),
            Err(TokenError::ContentKeyMalformed)
        );
        assert_eq!(
            check_content_key(Some("zz112233445566778899aabbccddeeff")),
            Err(TokenError::ContentKeyMalformed)
        );
        assert_eq!(check_iv(Some(IV)), Ok(()));
        assert_eq!(check_iv(None), Err(TokenError::InvalidIv));
        assert_eq!(check_iv(Some("")), Err(TokenError::InvalidIv));
        assert_eq!(
            check_iv(Some(&format!("{IV}00"))),
            Err(TokenError::InvalidIv)
        );
    }

    #[test]
    fn rental_duration_validation() {
        assert_eq!(parse_rental_duration(None), Ok(0));
        assert_eq!(parse_rental_duration(Some("0")), Ok(0));
        assert_eq!(parse_rental_duration(Some("86400")), Ok(86_400));
        assert_eq!(parse_rental_duration(Some("4294967295")), Ok(u32::MAX));
        for bad in [
            "",
            "-1",
            "+5",
            " 5",
            "4294967296",
            "1.5",
            "abc",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_rental_duration(Some(bad)),
                Err(TokenError::InvalidRentalDuration),
                "{bad}"
            );
        }
    }

    #[test]
    fn expiration_relative() {
        let n = now();
        assert_eq!(parse_expiration(None, n), Ok(n + TimeDelta::days(30)));
        assert_eq!(
            parse_expiration(Some("+60"), n),
            Ok(n + TimeDelta::seconds(60))
        );
        assert_eq!(
            parse_expiration(Some("+2592000"), n),
            Ok(n + TimeDelta::days(30))
        );
        for bad in [
            "+0",
            "+2592001",
            "+",
            "+-5",
            "++5",
            "60",
            "+6 0",
            "+99999999999999999999999",
        ] {
            assert_eq!(
                parse_expiration(Some(bad), n),
                Err(TokenError::InvalidExpiration),
                "{bad}"
            );
        }
    }

    #[test]
    fn expiration_unencoded_plus_arrives_as_space_and_is_rejected() {
        assert_eq!(
            parse_expiration(Some(" 60"), now()),
            Err(TokenError::InvalidExpiration)
        );
    }

    #[test]
    fn expiration_absolute() {
        let n = now();
        let ok = parse_expiration(Some("2024-01-02T12:01:10Z"), n).unwrap();
        assert_eq!(
            ok.to_rfc3339_opts(SecondsFormat::Secs, true),
            "2024-01-02T12:01:10Z"
        );
        assert!(parse_expiration(Some("2024-01-02T12:01:10.250Z"), n).is_ok());
        assert!(parse_expiration(Some("2024-01-31T00:00:00Z"), n).is_ok());
        for bad in [
            "2024-01-31T00:00:01Z",      // beyond 30 days
            "2024-01-01T00:00:00Z",      // not in the future
            "2023-12-31T23:59:59Z",      // past
            "2024-01-02T12:01:10+00:00", // not the Z designator
            "2024-01-02T12:01:10z",
            "2024-01-02t12:01:10Z",
            "2024-01-02 12:01:10Z",
            "2024-01-02",
            "tomorrow",
            "",
        ] {
            assert_eq!(
                parse_expiration(Some(bad), n),
                Err(TokenError::InvalidExpiration),
                "{bad}"
            );
        }
    }

    #[test]
    fn cookie_validation() {
        assert_eq!(check_cookie(None), Ok(None));
        assert_eq!(check_cookie(Some("")), Ok(None));
        let max = "c".repeat(32);
        assert_eq!(check_cookie(Some(&max)), Ok(Some(max.clone())));
        assert_eq!(
            check_cookie(Some(&"é".repeat(32))).map(|c| c.is_some()),
            Ok(true)
        );
        assert_eq!(
            check_cookie(Some(&"c".repeat(33))),
            Err(TokenError::InvalidCookie)
        );
    }

    #[test]
    fn validation_order_and_codes() {
        let n = now();
        let long_cookie = "x".repeat(40);
        let cases: Vec<(Pairs, i64, u16)> = vec![
            (with(&[("errorFormat", "xml")]), -3004, 400),
            (without("customerAuthenticator"), -2017, 401),
            (with(&[("customerAuthenticator", "1,2")]), -2018, 401),
            (without("contentKey"), -2005, 400),
            (with(&[("contentKey", "0011")]), -2027, 400),
            (without("iv"), -6003, 400),
            (with(&[("rentalDuration", "-1")]), -6007, 400),
            (with(&[("expirationTime", " 60")]), -2002, 400),
            (with(&[("cookie", long_cookie.as_str())]), -2033, 400),
            // Earlier checks win: bad format and bad authenticator together → -3004.
            (
                vec![("errorFormat", "xml"), ("contentKey", "bad")],
                -3004,
                400,
            ),
            (vec![("contentKey", "bad")], -2017, 401),
            (with(&[("contentKey", "bad"), ("iv", "bad")]), -2027, 400),
        ];
        for (pairs, code, status) in cases {
            let err = validate(&params(&pairs), &[], n).unwrap_err();
            assert_eq!(
                (err.code(), err.status().as_u16()),
                (code, status),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn valid_request_keeps_restrictions_but_no_key_material() {
        let pairs = with(&[
            ("rentalDuration", "3600"),
            ("expirationTime", "+600"),
            ("cookie", "cookie-1"),
            ("deviceId", "dev-9"),
            ("kid", "whatever"),
            ("fpExtension", "x"),
        ]);
        let valid = validate(&params(&pairs), &[], now()).unwrap();
        assert_eq!(
            valid,
            ValidRequest {
                error_format: ErrorFormat::Html,
                expiration: now() + TimeDelta::seconds(600),
                rental_duration: 3600,
                cookie: Some("cookie-1".to_owned()),
                device_id: Some("dev-9".to_owned()),
            }
        );
        assert!(!format!("{valid:?}").contains(KEY));
    }

    #[test]
    fn body_as_uri_preserves_form_decoding() {
        let body = "a=%2B1&b=+1&c=x y#z&d=%zz&e=caf\u{e9}&f=50%";
        let uri = body_as_uri(body.as_bytes()).unwrap();
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri).unwrap();
        let got = first_wins(pairs);
        assert_eq!(got["a"], "+1");
        assert_eq!(got["b"], " 1");
        assert_eq!(got["c"], "x y#z");
        assert_eq!(got["d"], "%zz");
        assert_eq!(got["e"], "caf\u{e9}");
        assert_eq!(got["f"], "50%");
    }

    #[tokio::test]
    async fn html_error_page_escapes_text() {
        let reply = ErrorReply::from(&ForcedError {
            status: 502,
            code: -1,
            text: "<b>&'\"".to_owned(),
        });
        let resp = reply.render(ErrorFormat::Html);
        assert_eq!(resp.status(), 502);
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&body),
            "<html><head><title>502 Bad Gateway</title></head><body><h1>Error -1</h1>\
             <p>&lt;b&gt;&amp;&#39;&quot;</p></body></html>"
        );
    }

    // ----- over HTTP -----

    async fn start() -> Simulator {
        Simulator::start(SimConfig::default()).await.unwrap()
    }

    async fn get(sim: &Simulator, pairs: &[(&str, &str)]) -> reqwest::Response {
        reqwest::Client::new()
            .get(sim.token_url())
            .query(pairs)
            .send()
            .await
            .unwrap()
    }

    fn content_type(resp: &reqwest::Response) -> String {
        resp.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    async fn json_error(resp: reqwest::Response) -> (u16, i64, String) {
        let status = resp.status().as_u16();
        assert_eq!(content_type(&resp), "application/json");
        let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        (
            status,
            body["errorCode"].as_i64().unwrap(),
            body["errorText"].as_str().unwrap().to_owned(),
        )
    }

    #[tokio::test]
    async fn success_with_encoded_plus_gives_uri_list() {
        let sim = start().await;
        let resp = get(
            &sim,
            &with(&[
                ("expirationTime", "+3600"),
                ("cookie", "abc"),
                ("deviceId", "d1"),
            ]),
        )
        .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(content_type(&resp), "text/uri-list");
        let body = resp.text().await.unwrap();
        let prefix = format!("http://{}/hms/fp/rights/?ExpressPlayToken=", sim.addr());
        let token = body.strip_prefix(&prefix).expect(&body);
        assert_eq!(token.len(), 43);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(sim.issued_tokens(), 1);
        let issued = sim.issued_token(token).unwrap();
        assert_eq!(issued.cookie.as_deref(), Some("abc"));
        assert_eq!(issued.device_id.as_deref(), Some("d1"));
        assert_eq!(issued.rental_duration, 0);
        let exp = DateTime::parse_from_rfc3339(&issued.expiration).unwrap();
        assert_eq!(
            exp.signed_duration_since(issued.issued_at),
            TimeDelta::seconds(3600)
        );
        let rec = sim.recent_requests();
        assert!(rec[0].raw_query.contains("expirationTime=%2B3600"));
        assert_eq!(rec[0].params["expirationTime"], "+3600");
    }

    #[tokio::test]
    async fn unencoded_plus_is_rejected_with_2002() {
        let sim = start().await;
        let url = format!(
            "{}?customerAuthenticator={}&contentKey={KEY}&iv={IV}&expirationTime=+60&errorFormat=json",
            sim.token_url(),
            AUTH.replace(',', "%2C"),
        );
        let resp = reqwest::Client::new().get(url).send().await.unwrap();
        assert_eq!(
            json_error(resp).await,
            (400, -2002, "Invalid token expiration time".to_owned())
        );
        let rec = sim.recent_requests();
        assert_eq!(rec[0].params["expirationTime"], " 60");
        assert!(rec[0].raw_query.contains("expirationTime=+60"));
        assert_eq!(rec[0].error_code, Some(-2002));
        assert_eq!(sim.issued_tokens(), 0);
    }

    #[tokio::test]
    async fn each_validation_error_over_http() {
        let sim = start().await;
        let long_cookie = "k".repeat(33);
        let cases: Vec<(Pairs, u16, i64)> = vec![
            (without("customerAuthenticator"), 401, -2017),
            (with(&[("customerAuthenticator", "x,y")]), 401, -2018),
            (without("contentKey"), 400, -2005),
            (with(&[("contentKey", "abc")]), 400, -2027),
            (without("iv"), 400, -6003),
            (with(&[("iv", "xyz")]), 400, -6003),
            (with(&[("rentalDuration", "4294967296")]), 400, -6007),
            (with(&[("expirationTime", "+2592001")]), 400, -2002),
            (
                with(&[("expirationTime", "2000-01-01T00:00:00Z")]),
                400,
                -2002,
            ),
            (with(&[("cookie", long_cookie.as_str())]), 400, -2033),
        ];
        for (pairs, status, code) in cases {
            let mut pairs = pairs;
            pairs.push(("errorFormat", "json"));
            let (got_status, got_code, _) = json_error(get(&sim, &pairs).await).await;
            assert_eq!((got_status, got_code), (status, code), "{pairs:?}");
        }
        // An invalid errorFormat is answered in HTML.
        let resp = get(&sim, &with(&[("errorFormat", "xml")])).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(content_type(&resp), "text/html");
        assert!(resp.text().await.unwrap().contains("Error -3004"));
        assert_eq!(sim.issued_tokens(), 0);
    }

    #[tokio::test]
    async fn accepted_authenticator_list_is_enforced() {
        let sim = Simulator::start(SimConfig {
            authenticators: vec![AUTH.to_owned()],
            ..SimConfig::default()
        })
        .await
        .unwrap();
        assert_eq!(get(&sim, &good()).await.status(), 200);
        let other = "1000,ffffffffffffffffffffffffffffffff";
        let resp = get(
            &sim,
            &with(&[("customerAuthenticator", other), ("errorFormat", "json")]),
        )
        .await;
        assert_eq!(json_error(resp).await.1, -2018);
    }

    #[tokio::test]
    async fn json_and_html_error_formats() {
        let sim = start().await;
        let pairs = with(&[("customerAuthenticator", "1,bad")]);
        let resp = get(&sim, &pairs).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(content_type(&resp), "text/html");
        assert_eq!(
            resp.text().await.unwrap(),
            "<html><head><title>401 Unauthorized</title></head><body><h1>Error -2018</h1>\
             <p>Authenticator invalid</p></body></html>"
        );
        let mut json = pairs.clone();
        json.push(("errorFormat", "json"));
        assert_eq!(
            json_error(get(&sim, &json).await).await,
            (401, -2018, "Authenticator invalid".to_owned())
        );
    }

    #[tokio::test]
    async fn error_bodies_never_echo_submitted_values() {
        let sim = start().await;
        let good_auth = "4242,deadbeefdeadbeefdeadbeefdeadbeef";
        let bad_auth = "4242,deadbeefdeadbeefdeadbeefdeadbee";
        let cookie = "my-secret-cookie-value-that-is-too-long";
        for (auth, code) in [(good_auth, "-2033"), (bad_auth, "-2018")] {
            for format in ["json", "html"] {
                let pairs = with(&[
                    ("customerAuthenticator", auth),
                    ("cookie", cookie),
                    ("errorFormat", format),
                ]);
                let body = get(&sim, &pairs).await.text().await.unwrap();
                assert!(body.contains(code), "{body}");
                for value in [auth, "deadbeef", cookie, KEY, IV] {
                    assert!(!body.contains(value), "{body} echoes {value}");
                }
            }
        }
    }

    #[tokio::test]
    async fn forced_error_and_forced_html() {
        let sim = start().await;
        sim.set_behaviour(Behaviour {
            force_error: Some(ForcedError {
                status: 503,
                code: -2019,
                text: "Insufficient tokens available".to_owned(),
            }),
            ..Behaviour::default()
        });
        let mut pairs = good();
        pairs.push(("errorFormat", "json"));
        assert_eq!(
            json_error(get(&sim, &pairs).await).await,
            (503, -2019, "Insufficient tokens available".to_owned())
        );
        sim.set_behaviour(Behaviour {
            force_html: true,
            ..Behaviour::default()
        });
        let pairs = with(&[("iv", "bad"), ("errorFormat", "json")]);
        let resp = get(&sim, &pairs).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(content_type(&resp), "text/html");
        assert!(resp.text().await.unwrap().contains("<h1>Error -6003</h1>"));
        // Out-of-range forced statuses become 500 rather than a broken response.
        sim.set_behaviour(Behaviour {
            force_error: Some(ForcedError {
                status: 42,
                code: -2030,
                text: String::new(),
            }),
            ..Behaviour::default()
        });
        assert_eq!(get(&sim, &good()).await.status(), 500);
        assert_eq!(sim.issued_tokens(), 0);
    }

    #[tokio::test]
    async fn delay_is_applied() {
        let sim = start().await;
        sim.set_behaviour(Behaviour {
            delay_ms: 200,
            ..Behaviour::default()
        });
        let started = std::time::Instant::now();
        assert_eq!(get(&sim, &good()).await.status(), 200);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn recent_requests_record_decoded_params_in_a_ring() {
        let sim = Simulator::start(SimConfig {
            history: 2,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        get(&sim, &with(&[("cookie", "a b&c=d"), ("kid", "1")])).await;
        get(&sim, &without("iv")).await;
        get(&sim, &with(&[("cookie", "third")])).await;
        let rec = sim.recent_requests();
        assert_eq!(rec.len(), 2);
        assert_eq!(rec[0].error_code, Some(-6003));
        assert_eq!(rec[0].status, 400);
        assert_eq!(rec[1].params["cookie"], "third");
        assert_eq!(rec[1].status, 200);
        assert_eq!(rec[1].method, "GET");
        assert_eq!(rec[1].path, TOKEN_PATH);

        let sim = start().await;
        get(&sim, &with(&[("cookie", "a b&c=d"), ("kid", "1")])).await;
        let rec = sim.recent_requests();
        assert_eq!(rec[0].params["cookie"], "a b&c=d");
        assert_eq!(rec[0].params["customerAuthenticator"], AUTH);
        assert!(rec[0].raw_query.contains("cookie=a+b%26c%3Dd"));
    }

    #[tokio::test]
    async fn post_form_works() {
        let sim = start().await;
        let pairs = with(&[("expirationTime", "+60"), ("cookie", "c1")]);
        let resp = reqwest::Client::new()
            .post(sim.token_url())
            .form(&pairs)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(content_type(&resp), "text/uri-list");
        let rec = sim.recent_requests();
        assert_eq!(rec[0].method, "POST");
        assert_eq!(rec[0].params["expirationTime"], "+60");
        assert!(rec[0].raw_query.contains("expirationTime=%2B60"));

        // The same '+' pitfall applies to a form body.
        let body = format!(
            "customerAuthenticator={}&contentKey={KEY}&iv={IV}&expirationTime=+60&errorFormat=json",
            AUTH.replace(',', "%2C")
        );
        let resp = reqwest::Client::new()
            .post(sim.token_url())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(json_error(resp).await.1, -2002);

        // Not a form: 415, recorded without a code.
        let resp = reqwest::Client::new()
            .post(sim.token_url())
            .header(CONTENT_TYPE, "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 415);
        assert_eq!(sim.recent_requests()[2].error_code, None);
    }

    #[tokio::test]
    async fn simulator_routes_and_404() {
        let sim = start().await;
        let client = reqwest::Client::new();
        let base = format!("http://{}", sim.addr());
        let resp = client
            .put(format!("{base}/_sim/behaviour"))
            .header(CONTENT_TYPE, "application/json")
            .body(
                r#"{"force_error":{"status":401,"code":-2031,"text":"Service account disabled"}}"#,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        let mut pairs = good();
        pairs.push(("errorFormat", "json"));
        assert_eq!(json_error(get(&sim, &pairs).await).await.1, -2031);

        let list = client
            .get(format!("{base}/_sim/requests"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let list: serde_json::Value = serde_json::from_str(&list).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["error_code"], -2031);
        assert_eq!(list[0]["params"]["iv"], IV);

        let resp = client.get(format!("{base}/nope")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        let resp = client.delete(sim.token_url()).send().await.unwrap();
        assert_eq!(resp.status(), 405);
    }
}
