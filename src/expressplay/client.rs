//! The FairPlay token client: one pooled HTTPS client, connect and total deadlines, no redirects, the
//! parameters URL-encoded by a real encoder (`+600` travels as `%2B600`).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{ExpressPlaySettings, UpstreamMethod};
use crate::keys::ContentKey;

use super::upstream_error::{rejection, token_url_from_body, UpstreamError};

/// The largest upstream body read; a token URL is a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// What one token carries.
#[derive(Debug)]
pub struct TokenRequest<'a> {
    pub key: &'a ContentKey,
    /// `+N` or an RFC 3339 `Z` instant, already capped.
    pub expiration_time: String,
    pub rental_duration_s: u32,
    /// `customerCookie`, carried in the token and logged by ExpressPlay at redemption.
    pub cookie: Option<&'a str>,
}

/// The client cannot be built (bad URL or TLS setup).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the ExpressPlay client: {0}")]
pub struct TokenServiceError(String);

/// Requests FairPlay tokens from ExpressPlay.
pub struct TokenService {
    http: reqwest::Client,
    token_url: reqwest::Url,
    authenticator: SecretString,
    method: UpstreamMethod,
    timeout: Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("token_url", &self.token_url.as_str())
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// A client for the configured service.
    pub fn new(settings: &ExpressPlaySettings) -> Result<Self, TokenServiceError> {
        let token_url = reqwest::Url::parse(&settings.token_url)
            .map_err(|e| TokenServiceError(format!("expressplay.token_url: {e}")))?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .user_agent(concat!("sees/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TokenServiceError(e.without_url().to_string()))?;
        Ok(Self {
            http,
            token_url,
            authenticator: settings.customer_authenticator.clone(),
            method: settings.method,
            timeout,
        })
    }

    /// A token URL for `request`, or why there is none.
    pub async fn fairplay_token(
        &self,
        request: &TokenRequest<'_>,
    ) -> Result<String, UpstreamError> {
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
        let builder = match self.method {
            UpstreamMethod::Get => self.http.get(self.token_url.clone()).query(&params),
            UpstreamMethod::Post => self.http.post(self.token_url.clone()).form(&params),
        };
        let secrets = [
            self.authenticator.expose_secret(),
            cek.as_str(),
            iv.as_str(),
        ];
        let mut response = builder.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(UpstreamError::BadResponse(format!(
                    "body larger than {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&body);
        if status == 200 {
            token_url_from_body(&body)
        } else {
            Err(rejection(status, &content_type, &body, &secrets))
        }
    }

    /// A transport failure, described without the request URL (which holds the key on GET).
    fn transport_error(&self, e: reqwest::Error) -> UpstreamError {
        if e.is_timeout() {
            return UpstreamError::Timeout(self.timeout);
        }
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        UpstreamError::Unreachable(text)
    }
}
