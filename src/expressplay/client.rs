//! The ExpressPlay client: FairPlay tokens and record retrieval over one pooled HTTPS client, every
//! call guarded (budget, retries, breaker per service, in-flight cap), parameters URL-encoded by a
//! real encoder (`+600` travels as `%2B600`), redirects never followed.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::ids::DeviceId;
use crate::keys::ContentKey;

use super::guard::{guarded, BreakerState, Budget, CallPolicy, CircuitBreaker, GuardCounters};
use super::records::{devices_for_cookie, DeviceLookup, RecordError};
use super::settings::{ExpressPlaySettings, RecordFields, UpstreamMethod};
use super::upstream_error::{rejection, token_url_from_body, UpstreamError};

/// The largest upstream body read; a token URL is a few hundred bytes, a record page a few KiB.
const MAX_BODY: usize = 256 * 1024;

/// What one token carries.
#[derive(Debug)]
pub struct TokenRequest<'a> {
    pub key: &'a ContentKey,
    /// `+N` or an RFC 3339 `Z` instant, already capped.
    pub expiration_time: String,
    pub rental_duration_s: u32,
    /// `customerCookie`, carried in the token and logged by ExpressPlay at redemption.
    pub cookie: Option<&'a str>,
    /// The device the token is bound to (requestType 3).
    pub device: Option<&'a DeviceId>,
}

/// The client cannot be built (bad URL or TLS setup).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the ExpressPlay client: {0}")]
pub struct ClientSetupError(String);

/// Why no device could be looked up.
#[derive(Debug, thiserror::Error)]
pub enum DeviceLookupError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Talks to ExpressPlay's token and record services.
pub struct ExpressPlayClient {
    http: reqwest::Client,
    token_url: reqwest::Url,
    record_url: reqwest::Url,
    authenticator: SecretString,
    method: UpstreamMethod,
    device_param: String,
    record_fields: RecordFields,
    policy: CallPolicy,
    token_breaker: CircuitBreaker,
    record_breaker: CircuitBreaker,
    counters: GuardCounters,
}

impl std::fmt::Debug for ExpressPlayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpressPlayClient")
            .field("token_url", &self.token_url.as_str())
            .field("record_url", &self.record_url.as_str())
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl ExpressPlayClient {
    /// A client for the configured services.
    pub fn new(settings: &ExpressPlaySettings) -> Result<Self, ClientSetupError> {
        let parse = |name: &str, raw: &str| {
            reqwest::Url::parse(raw)
                .map_err(|e| ClientSetupError(format!("expressplay.{name}: {e}")))
        };
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .user_agent(concat!("sees/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientSetupError(e.without_url().to_string()))?;
        let open_for = settings.breaker_open;
        Ok(Self {
            http,
            token_url: parse("token_url", &settings.token_url)?,
            record_url: parse("record_url", &settings.record_url)?,
            authenticator: settings.customer_authenticator.clone(),
            method: settings.method,
            device_param: settings.device_param.clone(),
            record_fields: settings.record_fields.clone(),
            policy: CallPolicy {
                per_attempt: settings.timeout,
                max_retries: settings.max_retries,
                backoff: settings.retry_backoff,
                in_flight: Arc::new(Semaphore::new(settings.max_in_flight)),
            },
            token_breaker: CircuitBreaker::new(settings.breaker_failures, open_for),
            record_breaker: CircuitBreaker::new(settings.breaker_failures, open_for),
            counters: GuardCounters::default(),
        })
    }

    /// A token URL for `request`, or why there is none.
    pub async fn fairplay_token(
        &self,
        request: &TokenRequest<'_>,
        budget: &Budget,
    ) -> Result<String, UpstreamError> {
        let cek = request.key.cek_hex();
        let iv = request.key.iv_hex();
        let secrets = [
            self.authenticator.expose_secret(),
            cek.as_str(),
            iv.as_str(),
        ];
        guarded(
            &self.token_breaker,
            &self.policy,
            budget,
            &self.counters,
            |deadline| {
                let builder = self.token_request(request);
                let secrets = &secrets;
                async move {
                    let (status, content_type, body) = exchange(builder, deadline).await?;
                    if status == 200 {
                        token_url_from_body(&body)
                    } else {
                        Err(rejection(status, &content_type, &body, secrets))
                    }
                }
            },
        )
        .await
    }

    /// The FairPlay token request for `request`, built and not sent: the token URL with the
    /// parameters as its query (GET) or as a form body (POST). Holds the authenticator and the key:
    /// never log it.
    pub fn token_request(&self, request: &TokenRequest<'_>) -> reqwest::RequestBuilder {
        let cek = request.key.cek_hex();
        let iv = request.key.iv_hex();
        let rental = request.rental_duration_s.to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("customerAuthenticator", self.authenticator.expose_secret()),
            ("errorFormat", "json"),
            ("contentKey", cek.as_str()),
            ("iv", iv.as_str()),
            ("rentalDuration", rental.as_str()),
            ("expirationTime", request.expiration_time.as_str()),
        ];
        if let Some(cookie) = request.cookie {
            params.push(("cookie", cookie));
        }
        if let Some(device) = request.device {
            params.push((self.device_param.as_str(), device.as_str()));
        }
        match self.method {
            UpstreamMethod::Get => self.http.get(self.token_url.clone()).query(&params),
            UpstreamMethod::Post => self.http.post(self.token_url.clone()).form(&params),
        }
    }

    /// The device(s) ExpressPlay logged under `cookie`.
    pub async fn devices_for_cookie(
        &self,
        cookie: &str,
        budget: &Budget,
    ) -> Result<DeviceLookup, DeviceLookupError> {
        let params = [
            ("customerAuthenticator", self.authenticator.expose_secret()),
            ("errorFormat", "json"),
            ("cookie", cookie),
        ];
        let secrets = [self.authenticator.expose_secret()];
        let body = guarded(
            &self.record_breaker,
            &self.policy,
            budget,
            &self.counters,
            |deadline| {
                let builder = self.http.get(self.record_url.clone()).query(&params);
                let secrets = &secrets;
                async move {
                    let (status, content_type, body) = exchange(builder, deadline).await?;
                    if status == 200 {
                        Ok(body)
                    } else {
                        Err(rejection(status, &content_type, &body, secrets))
                    }
                }
            },
        )
        .await?;
        Ok(devices_for_cookie(&body, &self.record_fields, cookie)?)
    }

    /// The breakers' states: (token service, record service).
    pub fn breaker_states(&self) -> (BreakerState, BreakerState) {
        (self.token_breaker.state(), self.record_breaker.state())
    }

    /// Counters of calls attempted and refused before going out.
    pub fn counters(&self) -> &GuardCounters {
        &self.counters
    }
}

/// One HTTP exchange under `deadline`: status, content type (lowercase) and body (bounded).
async fn exchange(
    builder: reqwest::RequestBuilder,
    deadline: Duration,
) -> Result<(u16, String, String), UpstreamError> {
    let work = async {
        let mut response = builder.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(UpstreamError::BadResponse(format!(
                    "body larger than {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    };
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or(Err(UpstreamError::Timeout(deadline)))
}

/// A transport failure, described without the request URL (which holds the key on GET).
fn transport_error(e: reqwest::Error) -> UpstreamError {
    let connect = e.is_connect();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if connect {
        UpstreamError::Connect(text)
    } else {
        UpstreamError::Transport(text)
    }
}
