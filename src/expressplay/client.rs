//! The ExpressPlay client: FairPlay, Widevine and PlayReady tokens and record retrieval over one
//! pooled HTTPS client, every call guarded (the request's budget, retries, a breaker per service, one
//! in-flight cap for all), parameters URL-encoded by a real encoder (`+600` travels as `%2B600`),
//! redirects never followed.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::drm::{Drm, PlayReadyRights, UnknownOutput};
use crate::ids::DeviceId;
use crate::keys::ContentKey;

use super::guard::{
    breakers_by_origin, guarded, BreakerState, Budget, CallPolicy, CircuitBreaker, GuardCounters,
};
use super::records::{devices_for_cookie, DeviceLookup, RecordError};
use super::settings::{ExpressPlaySettings, RecordFields, UpstreamMethod};
use super::upstream_error::{
    playready_url_from_body, rejection, token_url_from_body, UpstreamError,
};

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

/// What one Widevine token carries.
#[derive(Debug)]
pub struct WidevineTokenRequest<'a> {
    /// The key ID (`kid`, sent as 32 lowercase hex digits).
    pub kid: [u8; 16],
    /// The content key (`contentKey`); its IV is not sent.
    pub key: &'a ContentKey,
    /// `securityLevel`, 1 (SW_SECURE_CRYPTO) to 5 (HW_SECURE_ALL); ExpressPlay checks it (-7004).
    pub security_level: u8,
    /// `hdcpOutputControl`: 0 none, 1 HDCP v1, 2 HDCP v2.
    pub hdcp: u8,
    /// `licenseDuration` in seconds; `None` = not sent (unlimited).
    pub license_duration_s: Option<u32>,
    /// `+N` or an RFC 3339 `Z` instant, already capped.
    pub expiration_time: String,
    /// `cookie`, carried in the token and logged by ExpressPlay at redemption.
    pub cookie: Option<&'a str>,
}

/// PlayReady output protection levels (0–999 each), one per ExpressPlay `…OPL` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayReadyOpls {
    /// `analogVideoOPL`
    pub analog_video: u16,
    /// `compressedDigitalAudioOPL`
    pub compressed_digital_audio: u16,
    /// `compressedDigitalVideoOPL`
    pub compressed_digital_video: u16,
    /// `uncompressedDigitalAudioOPL`
    pub uncompressed_digital_audio: u16,
    /// `uncompressedDigitalVideoOPL`
    pub uncompressed_digital_video: u16,
}

/// What one PlayReady token carries.
#[derive(Debug)]
pub struct PlayReadyTokenRequest<'a> {
    /// The key ID (`kid`, sent as 32 lowercase hex digits).
    pub kid: [u8; 16],
    /// The content key (`contentKey`); its IV is not sent.
    pub key: &'a ContentKey,
    /// `rightsType`.
    pub rights: PlayReadyRights,
    /// `rental.periodEndTime`: `+N` or an RFC 3339 `Z` instant. Sent only with `Rental` rights
    /// (where ExpressPlay requires it, -2022).
    pub rental_period_end: Option<String>,
    /// `rental.playDuration` in seconds. Sent only with `Rental` rights.
    pub rental_play_duration_s: Option<u32>,
    /// The five `…OPL` parameters, always sent.
    pub opls: PlayReadyOpls,
    /// A persistent licence: `generalFlags=00000001` (not sent otherwise). Rental licences must be
    /// persistent; the caller's policy sees to it.
    pub persistent: bool,
    /// `unknownOutputBehavior`; `None` = not sent.
    pub unknown_output: Option<UnknownOutput>,
    /// `+N` or an RFC 3339 `Z` instant, already capped.
    pub expiration_time: String,
    /// `cookie`, carried in the token and logged by ExpressPlay at redemption.
    pub cookie: Option<&'a str>,
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
    /// The token service URL of each DRM, in `Drm::ALL` order.
    token_urls: [reqwest::Url; 3],
    record_url: reqwest::Url,
    authenticator: SecretString,
    method: UpstreamMethod,
    device_param: String,
    record_fields: RecordFields,
    policy: CallPolicy,
    /// The breaker of each DRM's token service, in `Drm::ALL` order; DRMs whose token URLs have
    /// the same origin (one service) share one.
    token_breakers: [Arc<CircuitBreaker>; 3],
    record_breaker: CircuitBreaker,
    counters: GuardCounters,
}

/// The position of `drm` in `Drm::ALL`.
fn slot(drm: Drm) -> usize {
    match drm {
        Drm::FairPlay => 0,
        Drm::Widevine => 1,
        Drm::PlayReady => 2,
    }
}

impl std::fmt::Debug for ExpressPlayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpressPlayClient")
            .field("token_url", &self.token_urls[slot(Drm::FairPlay)].as_str())
            .field(
                "widevine_token_url",
                &self.token_urls[slot(Drm::Widevine)].as_str(),
            )
            .field(
                "playready_token_url",
                &self.token_urls[slot(Drm::PlayReady)].as_str(),
            )
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
        let token_urls = [
            parse("token_url", &settings.token_url)?,
            parse("widevine_token_url", &settings.widevine_token_url)?,
            parse("playready_token_url", &settings.playready_token_url)?,
        ];
        let [fairplay, widevine, playready] = &token_urls;
        let token_breakers = breakers_by_origin(
            [fairplay, widevine, playready],
            settings.breaker_failures,
            open_for,
        );
        Ok(Self {
            http,
            token_urls,
            token_breakers,
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
        self.token_call(
            Drm::FairPlay,
            || self.token_request(request),
            token_url_from_body,
            &secrets,
            budget,
        )
        .await
    }

    /// A Widevine token URL for `request`, or why there is none.
    pub async fn widevine_token(
        &self,
        request: &WidevineTokenRequest<'_>,
        budget: &Budget,
    ) -> Result<String, UpstreamError> {
        let cek = request.key.cek_hex();
        let secrets = [self.authenticator.expose_secret(), cek.as_str()];
        self.token_call(
            Drm::Widevine,
            || self.widevine_request(request),
            token_url_from_body,
            &secrets,
            budget,
        )
        .await
    }

    /// A PlayReady token for `request` as one URL, `<licenseAcquisitionUrl>?ExpressPlayToken=<token>`
    /// (`&` when the license acquisition URL has a query already; the token percent-encoded), or
    /// why there is none. A `text/uri-list` answer (a token URL) is returned as is.
    pub async fn playready_token(
        &self,
        request: &PlayReadyTokenRequest<'_>,
        budget: &Budget,
    ) -> Result<String, UpstreamError> {
        let cek = request.key.cek_hex();
        let secrets = [self.authenticator.expose_secret(), cek.as_str()];
        self.token_call(
            Drm::PlayReady,
            || self.playready_request(request),
            playready_url_from_body,
            &secrets,
            budget,
        )
        .await
    }

    /// One token call to `drm`'s service under its breaker, the shared in-flight cap and `budget`:
    /// a 200 answer is read by `read`, any other becomes a rejection with `secrets` scrubbed.
    async fn token_call(
        &self,
        drm: Drm,
        build: impl Fn() -> reqwest::RequestBuilder,
        read: fn(&str) -> Result<String, UpstreamError>,
        secrets: &[&str],
        budget: &Budget,
    ) -> Result<String, UpstreamError> {
        guarded(
            &self.token_breakers[slot(drm)],
            &self.policy,
            budget,
            &self.counters,
            |deadline| {
                let builder = build();
                async move {
                    let (status, content_type, body) = exchange(builder, deadline).await?;
                    if status == 200 {
                        read(&body)
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
        self.send_to(Drm::FairPlay, &params)
    }

    /// The Widevine token request for `request`, built and not sent (query or form body as
    /// `token_request`). Holds the authenticator and the key: never log it.
    pub fn widevine_request(&self, request: &WidevineTokenRequest<'_>) -> reqwest::RequestBuilder {
        let kid = hex::encode(request.kid);
        let cek = request.key.cek_hex();
        let security_level = request.security_level.to_string();
        let hdcp = request.hdcp.to_string();
        let duration = request.license_duration_s.map(|s| s.to_string());
        let mut params: Vec<(&str, &str)> = vec![
            ("customerAuthenticator", self.authenticator.expose_secret()),
            ("errorFormat", "json"),
            ("kid", kid.as_str()),
            ("contentKey", cek.as_str()),
            ("securityLevel", security_level.as_str()),
            ("hdcpOutputControl", hdcp.as_str()),
        ];
        if let Some(duration) = &duration {
            params.push(("licenseDuration", duration.as_str()));
        }
        params.push(("expirationTime", request.expiration_time.as_str()));
        if let Some(cookie) = request.cookie {
            params.push(("cookie", cookie));
        }
        self.send_to(Drm::Widevine, &params)
    }

    /// The PlayReady token request for `request`, built and not sent (query or form body as
    /// `token_request`). Holds the authenticator and the key: never log it.
    pub fn playready_request(
        &self,
        request: &PlayReadyTokenRequest<'_>,
    ) -> reqwest::RequestBuilder {
        let kid = hex::encode(request.kid);
        let cek = request.key.cek_hex();
        let rental = request.rights == PlayReadyRights::Rental;
        let play_duration = request.rental_play_duration_s.map(|s| s.to_string());
        let opls = request.opls;
        let opls = [
            ("analogVideoOPL", opls.analog_video.to_string()),
            (
                "compressedDigitalAudioOPL",
                opls.compressed_digital_audio.to_string(),
            ),
            (
                "compressedDigitalVideoOPL",
                opls.compressed_digital_video.to_string(),
            ),
            (
                "uncompressedDigitalAudioOPL",
                opls.uncompressed_digital_audio.to_string(),
            ),
            (
                "uncompressedDigitalVideoOPL",
                opls.uncompressed_digital_video.to_string(),
            ),
        ];
        let mut params: Vec<(&str, &str)> = vec![
            ("customerAuthenticator", self.authenticator.expose_secret()),
            ("errorFormat", "json"),
            ("kid", kid.as_str()),
            ("contentKey", cek.as_str()),
            ("rightsType", request.rights.as_str()),
        ];
        if rental {
            if let Some(end) = &request.rental_period_end {
                params.push(("rental.periodEndTime", end.as_str()));
            }
            if let Some(duration) = &play_duration {
                params.push(("rental.playDuration", duration.as_str()));
            }
        }
        params.extend(opls.iter().map(|(name, value)| (*name, value.as_str())));
        if request.persistent {
            params.push(("generalFlags", "00000001"));
        }
        if let Some(behaviour) = request.unknown_output {
            params.push(("unknownOutputBehavior", behaviour.as_str()));
        }
        params.push(("expirationTime", request.expiration_time.as_str()));
        if let Some(cookie) = request.cookie {
            params.push(("cookie", cookie));
        }
        self.send_to(Drm::PlayReady, &params)
    }

    /// `params` to `drm`'s token service: the query of a GET or the form body of a POST, per
    /// `expressplay.method`.
    fn send_to(&self, drm: Drm, params: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let url = self.token_urls[slot(drm)].clone();
        match self.method {
            UpstreamMethod::Get => self.http.get(url).query(params),
            UpstreamMethod::Post => self.http.post(url).form(params),
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

    /// The breakers' states: (FairPlay token service, record service).
    pub fn breaker_states(&self) -> (BreakerState, BreakerState) {
        (
            self.token_breaker_state(Drm::FairPlay),
            self.record_breaker.state(),
        )
    }

    /// The state of the breaker guarding `drm`'s token service (shared with the DRMs whose token
    /// URLs have the same scheme, host and port).
    pub fn token_breaker_state(&self, drm: Drm) -> BreakerState {
        self.token_breakers[slot(drm)].state()
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

#[cfg(test)]
mod tests {
    use super::*;

    const AUTHENTICATOR: &str = "4242,0123456789abcdef0123456789abcdef";
    const KID: [u8; 16] = [
        0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67,
        0x89,
    ];

    fn client_with(change: impl FnOnce(&mut ExpressPlaySettings)) -> ExpressPlayClient {
        let mut settings = ExpressPlaySettings {
            customer_authenticator: SecretString::from(AUTHENTICATOR.to_owned()),
            ..ExpressPlaySettings::default()
        };
        change(&mut settings);
        ExpressPlayClient::new(&settings).expect("a client")
    }

    fn key() -> ContentKey {
        ContentKey::new([0x11; 16], [0x22; 16])
    }

    /// The parameters of a built request, in order, decoded, and the raw encoded form.
    fn parameters(
        builder: reqwest::RequestBuilder,
    ) -> (reqwest::Url, Vec<(String, String)>, String) {
        let request = builder.build().expect("a request");
        let raw = match request.method().as_str() {
            "GET" => request.url().query().unwrap_or_default().to_owned(),
            "POST" => {
                assert_eq!(
                    request.headers()[reqwest::header::CONTENT_TYPE],
                    "application/x-www-form-urlencoded"
                );
                assert_eq!(request.url().query(), None, "no parameter in a POST's URL");
                let body = request.body().and_then(reqwest::Body::as_bytes).unwrap();
                String::from_utf8(body.to_vec()).unwrap()
            }
            other => panic!("method {other}"),
        };
        let decoded = serde_urlencoded::from_str(&raw).unwrap();
        let mut url = request.url().clone();
        url.set_query(None);
        (url, decoded, raw)
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn widevine(key: &ContentKey) -> WidevineTokenRequest<'_> {
        WidevineTokenRequest {
            kid: KID,
            key,
            security_level: 5,
            hdcp: 2,
            license_duration_s: Some(3_600),
            expiration_time: "+600".to_owned(),
            cookie: Some("c00kie"),
        }
    }

    fn playready(key: &ContentKey) -> PlayReadyTokenRequest<'_> {
        PlayReadyTokenRequest {
            kid: KID,
            key,
            rights: PlayReadyRights::Rental,
            rental_period_end: Some("+600".to_owned()),
            rental_play_duration_s: Some(7_200),
            opls: PlayReadyOpls {
                analog_video: 100,
                compressed_digital_audio: 150,
                compressed_digital_video: 400,
                uncompressed_digital_audio: 250,
                uncompressed_digital_video: 300,
            },
            persistent: true,
            unknown_output: Some(UnknownOutput::SdOnly),
            expiration_time: "2030-01-02T03:04:05Z".to_owned(),
            cookie: Some("c00kie"),
        }
    }

    #[test]
    fn widevine_request_has_exactly_the_documented_parameters() {
        let key = key();
        let (url, params, raw) = parameters(client_with(|_| {}).widevine_request(&widevine(&key)));
        assert_eq!(
            url.as_str(),
            "https://wv-gen.test.expressplay.com/hms/wv/token"
        );
        assert_eq!(
            params,
            owned(&[
                ("customerAuthenticator", AUTHENTICATOR),
                ("errorFormat", "json"),
                ("kid", "abcdef0123456789abcdef0123456789"),
                ("contentKey", "11111111111111111111111111111111"),
                ("securityLevel", "5"),
                ("hdcpOutputControl", "2"),
                ("licenseDuration", "3600"),
                ("expirationTime", "+600"),
                ("cookie", "c00kie"),
            ])
        );
        assert!(raw.contains("expirationTime=%2B600"), "{raw}");
        assert!(!raw.contains("2222"), "the IV is not sent: {raw}");
    }

    #[test]
    fn widevine_request_without_duration_or_cookie_as_a_form() {
        let key = key();
        let request = WidevineTokenRequest {
            license_duration_s: None,
            cookie: None,
            security_level: 1,
            hdcp: 0,
            ..widevine(&key)
        };
        let client = client_with(|s| s.method = UpstreamMethod::Post);
        let (url, params, raw) = parameters(client.widevine_request(&request));
        assert_eq!(
            url.as_str(),
            "https://wv-gen.test.expressplay.com/hms/wv/token"
        );
        assert_eq!(
            params,
            owned(&[
                ("customerAuthenticator", AUTHENTICATOR),
                ("errorFormat", "json"),
                ("kid", "abcdef0123456789abcdef0123456789"),
                ("contentKey", "11111111111111111111111111111111"),
                ("securityLevel", "1"),
                ("hdcpOutputControl", "0"),
                ("expirationTime", "+600"),
            ])
        );
        assert!(raw.contains("expirationTime=%2B600"), "{raw}");
        assert!(!raw.contains("licenseDuration"), "{raw}");
    }

    #[test]
    fn playready_rental_request_has_exactly_the_documented_parameters() {
        let key = key();
        let (url, params, raw) =
            parameters(client_with(|_| {}).playready_request(&playready(&key)));
        assert_eq!(
            url.as_str(),
            "https://pr-gen.test.expressplay.com/hms/pr/token"
        );
        assert_eq!(
            params,
            owned(&[
                ("customerAuthenticator", AUTHENTICATOR),
                ("errorFormat", "json"),
                ("kid", "abcdef0123456789abcdef0123456789"),
                ("contentKey", "11111111111111111111111111111111"),
                ("rightsType", "Rental"),
                ("rental.periodEndTime", "+600"),
                ("rental.playDuration", "7200"),
                ("analogVideoOPL", "100"),
                ("compressedDigitalAudioOPL", "150"),
                ("compressedDigitalVideoOPL", "400"),
                ("uncompressedDigitalAudioOPL", "250"),
                ("uncompressedDigitalVideoOPL", "300"),
                ("generalFlags", "00000001"),
                ("unknownOutputBehavior", "SDOnly"),
                ("expirationTime", "2030-01-02T03:04:05Z"),
                ("cookie", "c00kie"),
            ])
        );
        assert!(raw.contains("rental.periodEndTime=%2B600"), "{raw}");
        assert!(
            raw.contains("expirationTime=2030-01-02T03%3A04%3A05Z"),
            "{raw}"
        );
    }

    #[test]
    fn playready_buy_to_own_sends_no_rental_and_flags_only_when_persistent() {
        let key = key();
        let request = PlayReadyTokenRequest {
            rights: PlayReadyRights::BuyToOwn,
            persistent: false,
            unknown_output: None,
            cookie: None,
            expiration_time: "+600".to_owned(),
            // Ignored with BuyToOwn rights.
            rental_period_end: Some("+60".to_owned()),
            rental_play_duration_s: Some(60),
            ..playready(&key)
        };
        for method in [UpstreamMethod::Get, UpstreamMethod::Post] {
            let client = client_with(|s| s.method = method);
            let (_, params, raw) = parameters(client.playready_request(&request));
            assert_eq!(
                params,
                owned(&[
                    ("customerAuthenticator", AUTHENTICATOR),
                    ("errorFormat", "json"),
                    ("kid", "abcdef0123456789abcdef0123456789"),
                    ("contentKey", "11111111111111111111111111111111"),
                    ("rightsType", "BuyToOwn"),
                    ("analogVideoOPL", "100"),
                    ("compressedDigitalAudioOPL", "150"),
                    ("compressedDigitalVideoOPL", "400"),
                    ("uncompressedDigitalAudioOPL", "250"),
                    ("uncompressedDigitalVideoOPL", "300"),
                    ("expirationTime", "+600"),
                ]),
                "{method:?}"
            );
            assert!(raw.contains("expirationTime=%2B600"), "{raw}");
        }
        let persistent = PlayReadyTokenRequest {
            persistent: true,
            ..request
        };
        let (_, params, _) = parameters(client_with(|_| {}).playready_request(&persistent));
        let flags: Vec<_> = params.iter().filter(|(k, _)| k == "generalFlags").collect();
        assert_eq!(flags, [&("generalFlags".to_owned(), "00000001".to_owned())]);
    }

    #[test]
    fn token_breakers_are_shared_by_origin_only() {
        let apart = client_with(|_| {});
        let [fp, wv, pr] = &apart.token_breakers;
        assert!(!Arc::ptr_eq(fp, wv) && !Arc::ptr_eq(wv, pr) && !Arc::ptr_eq(fp, pr));

        let one_host = client_with(|s| {
            s.token_url = "http://127.0.0.1:9/hms/fp/token".to_owned();
            s.widevine_token_url = "http://127.0.0.1:9/hms/wv/token".to_owned();
            s.playready_token_url = "http://127.0.0.1:9/hms/pr/token".to_owned();
        });
        let [fp, wv, pr] = &one_host.token_breakers;
        assert!(Arc::ptr_eq(fp, wv) && Arc::ptr_eq(wv, pr));
    }

    /// A Widevine service that cannot be reached opens its breaker, shared with FairPlay on the same
    /// origin; PlayReady (another port) and record retrieval keep theirs closed.
    #[tokio::test]
    async fn an_unreachable_service_opens_only_its_own_breaker() {
        let closed_port = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let (shared, other) = (closed_port(), closed_port());
        let client = client_with(|s| {
            s.token_url = format!("http://127.0.0.1:{shared}/hms/fp/token");
            s.widevine_token_url = format!("http://127.0.0.1:{shared}/hms/wv/token");
            s.playready_token_url = format!("http://127.0.0.1:{other}/hms/pr/token");
            s.breaker_failures = 1;
            s.max_retries = 0;
        });
        let key = key();
        let budget = Budget::new(Duration::from_secs(5));
        let error = client
            .widevine_token(&widevine(&key), &budget)
            .await
            .unwrap_err();
        assert!(matches!(error, UpstreamError::Connect(_)), "{error:?}");
        let shown = format!("{error} {error:?}");
        assert!(
            !shown.contains("0123456789abcdef0123456789abcdef") && !shown.contains("1111111111"),
            "{shown}"
        );
        assert_eq!(
            client.token_breaker_state(Drm::Widevine),
            BreakerState::Open
        );
        assert_eq!(
            client.token_breaker_state(Drm::FairPlay),
            BreakerState::Open
        );
        assert_eq!(
            client.breaker_states(),
            (BreakerState::Open, BreakerState::Closed)
        );
        assert_eq!(
            client.token_breaker_state(Drm::PlayReady),
            BreakerState::Closed
        );
        // PlayReady still goes out (and fails on its own), FairPlay is refused at once.
        let error = client
            .playready_token(&playready(&key), &budget)
            .await
            .unwrap_err();
        assert!(matches!(error, UpstreamError::Connect(_)), "{error:?}");
        let fairplay = TokenRequest {
            key: &key,
            expiration_time: "+600".to_owned(),
            rental_duration_s: 0,
            cookie: None,
            device: None,
        };
        assert_eq!(
            client.fairplay_token(&fairplay, &budget).await,
            Err(UpstreamError::CircuitOpen)
        );
    }
}
