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

mod reply;
#[cfg(test)]
mod tests;
mod validate;

pub use validate::{
    check_authenticator, check_content_key, check_cookie, check_iv, parse_error_format,
    parse_expiration, parse_rental_duration, validate, ErrorFormat, TokenError, ValidRequest,
};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use axum::{Json, Router};

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::task::JoinHandle;

use reply::{new_token, ErrorReply};

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
/// GET reads the query string, POST a form body; both through the same `application/x-www-form-urlencoded`
/// decoder, which turns an unencoded `+` into a space as the real service's does.
async fn decode_params(
    req: Request,
) -> Result<(BTreeMap<String, String>, String), (StatusCode, String)> {
    let raw = if req.method() == Method::GET {
        req.uri().query().unwrap_or_default().to_owned()
    } else {
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
        raw
    };
    match serde_urlencoded::from_str::<Vec<(String, String)>>(&raw) {
        Ok(pairs) => Ok((first_wins(pairs), raw)),
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
