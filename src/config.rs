//! Settings: built-in defaults (which run the embedded quick start) → the `--dev` layer → a TOML file →
//! `SEES__SECTION__KEY` environment variables. `validate` explains everything wrong at once.
//!
//! Secrets (`expressplay.customer_authenticator`) are held in `SecretString` and never printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::expressplay::TokenLifetime;

/// The `--dev` layer, embedded so that `serve --dev` works from any directory.
pub const DEV_LAYER: &str = include_str!("../config/dev.toml");

/// Prefix of environment overrides: `SEES__SERVER__LISTEN=0.0.0.0:8443`.
pub const ENV_PREFIX: &str = "SEES";

/// Everything sees can be told.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub tls: TlsSettings,
    pub store: StoreSettings,
    pub keys: KeysSettings,
    pub expressplay: ExpressPlaySettings,
    pub devices: DeviceSettings,
    pub decision: DecisionSettings,
    pub concurrency: ConcurrencySettings,
    pub admin: AdminSettings,
    pub ops: OpsSettings,
    pub auth: AuthSettings,
    pub entitlement_tokens: EntitlementTokenSettings,
    pub audit: AuditSettings,
    pub log: LogSettings,
}

/// The SEES listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the mutual-TLS SEES listener.
    pub listen: SocketAddr,
    /// Paths answering Entitlement Requests; `/sees/SEESServlet` is the reference server's path, which
    /// already-packaged content carries in its DRM policy. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub paths: Vec<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Deadline for the TLS handshake of a new connection.
    pub handshake_timeout_ms: u64,
    /// Deadline for reading a request head (slow-loris guard); it also closes HTTP/1.1 keep-alive
    /// connections idle this long.
    pub header_read_timeout_ms: u64,
    /// Deadline for a whole Entitlement Request (an outer guard around the upstream budget).
    pub request_timeout_ms: u64,
    /// Open connections beyond this wait in the kernel's accept queue.
    pub max_connections: usize,
    /// How long a shutdown waits for in-flight requests.
    pub shutdown_grace_ms: u64,
    /// Requests per second one client identity (certificate key) may make; 0 = no limit.
    pub rate_limit_per_s: u32,
    /// Requests one client identity may make at once above the steady rate (the bucket size).
    pub rate_burst: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            paths: vec![
                "/sees/v1/entitlement".to_owned(),
                "/sees/SEESServlet".to_owned(),
            ],
            max_body_bytes: 16 * 1024,
            handshake_timeout_ms: 5_000,
            header_read_timeout_ms: 20_000,
            request_timeout_ms: 5_000,
            max_connections: 16_384,
            shutdown_grace_ms: 10_000,
            rate_limit_per_s: 0,
            rate_burst: 20,
        }
    }
}

/// Certificates of the SEES listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM, PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// CA bundle (PEM) that client certificates must chain to.
    pub client_ca: PathBuf,
    /// CRL files (PEM or DER) issued by the client CA; revoked client certificates are refused.
    /// From the environment: comma-separated.
    #[serde(deserialize_with = "paths_or_comma_separated")]
    pub crls: Vec<PathBuf>,
    /// Client certificates admitted, as `dns:NAME`, `uri:URI`, `cn:NAME` or `spki-sha256:HASH`;
    /// empty = any certificate chaining to the client CA. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_clients: Vec<String>,
    /// How often the certificate, key, CA and CRL files are checked for changes; 0 = only on SIGHUP.
    pub reload_check_ms: u64,
    /// Age after which a client connection is closed (after its in-flight request); 0 = unlimited.
    pub max_connection_age_s: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert: PathBuf::from("certs/server.pem"),
            key: PathBuf::from("certs/server.key"),
            client_ca: PathBuf::from("certs/ca.pem"),
            crls: Vec::new(),
            allowed_clients: Vec::new(),
            reload_check_ms: 2_000,
            max_connection_age_s: 300,
        }
    }
}

/// The database.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://PATH` (created when absent) or `postgres://USER@HOST/DB`.
    pub url: String,
    /// Connection pool size.
    pub max_connections: u32,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/sees.db".to_owned(),
            max_connections: 8,
        }
    }
}

/// Content keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysSettings {
    /// File holding the base64 of the 32-byte master key; the `SEES_MASTER_KEY` variable takes precedence.
    pub master_key_file: PathBuf,
    /// Decrypted keys kept in memory.
    pub cache_capacity: usize,
    /// How long a cached key is trusted before the store is read again (bounds the staleness of a
    /// `keys delete` made by another process).
    pub cache_ttl_ms: u64,
}

impl Default for KeysSettings {
    fn default() -> Self {
        Self {
            master_key_file: PathBuf::from("data/master.key"),
            cache_capacity: 10_000,
            cache_ttl_ms: 60_000,
        }
    }
}

/// How the token request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamMethod {
    /// Parameters in the query string, as in ExpressPlay's examples.
    Get,
    /// Parameters in a form-encoded body, which keeps keys out of intermediaries' access logs.
    Post,
}

/// The ExpressPlay FairPlay token service.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpressPlaySettings {
    /// Token service URL (`https://fp-gen.service.expressplay.com/hms/fp/token` in production).
    pub token_url: String,
    /// `<number>,<32 hex>`; empty means "not configured" (only `serve --dev` accepts that, and then
    /// starts the local simulator).
    pub customer_authenticator: SecretString,
    /// `get` or `post`.
    pub method: UpstreamMethod,
    /// Record-retrieval URL (`https://api.service.expressplay.com/cmiapi/getrecord/` in production).
    pub record_url: String,
    /// Name of the token parameter that binds a token to a device (case-sensitive).
    pub device_param: String,
    /// Where the record service's answer keeps the device id logged under a cookie.
    pub record_fields: RecordFields,
    /// Deadline for connecting to ExpressPlay.
    pub connect_timeout_ms: u64,
    /// Deadline for one call to ExpressPlay (one attempt).
    pub timeout_ms: u64,
    /// Time budget of all ExpressPlay calls (retries included) for one Entitlement Request.
    pub budget_ms: u64,
    /// Retries of a call that failed before ExpressPlay could act on it (connect errors, 502/503/504).
    pub max_retries: u32,
    /// Base of the exponential, fully jittered backoff between retries.
    pub retry_backoff_ms: u64,
    /// ExpressPlay calls in flight at once; beyond it requests are denied at once (4006).
    pub max_in_flight: usize,
    /// Consecutive failures of a service that open its circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker denies at once before one probe call is let through.
    pub breaker_open_ms: u64,
    /// Default `expirationTime`: `+N` seconds or an RFC 3339 `Z` instant; capped at 30 days.
    #[serde(deserialize_with = "deserialize_lifetime")]
    pub token_lifetime: TokenLifetime,
    /// Default `rentalDuration` in seconds (0 = ExpressPlay's default).
    pub rental_duration_s: u32,
}

impl Default for ExpressPlaySettings {
    fn default() -> Self {
        Self {
            token_url: "https://fp-gen.test.expressplay.com/hms/fp/token".to_owned(),
            customer_authenticator: SecretString::from(String::new()),
            method: UpstreamMethod::Get,
            record_url: "https://api.test.expressplay.com/cmiapi/getrecord/".to_owned(),
            device_param: "deviceid".to_owned(),
            record_fields: RecordFields::default(),
            connect_timeout_ms: 500,
            timeout_ms: 1_500,
            budget_ms: 2_000,
            max_retries: 2,
            retry_backoff_ms: 50,
            max_in_flight: 512,
            breaker_failures: 5,
            breaker_open_ms: 5_000,
            token_lifetime: TokenLifetime::Relative(600),
            rental_duration_s: 0,
        }
    }
}

impl ExpressPlaySettings {
    /// Whether an authenticator is configured.
    pub fn has_authenticator(&self) -> bool {
        !self.customer_authenticator.expose_secret().is_empty()
    }
}

/// A list, or (from an environment variable) one comma-separated string.
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(list) => list,
        Either::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Paths as a list, or (from an environment variable) one comma-separated string.
fn paths_or_comma_separated<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<PathBuf>, D::Error> {
    Ok(list_or_comma_separated(d)?
        .into_iter()
        .map(PathBuf::from)
        .collect())
}

/// Field names in the record service's answer (ExpressPlay does not publish them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordFields {
    /// JSON pointer to the array of events (empty = the answer is the array).
    pub list: String,
    /// Field of an event holding the cookie.
    pub cookie: String,
    /// Field of an event holding the device id.
    pub device: String,
}

impl Default for RecordFields {
    fn default() -> Self {
        Self {
            list: "/records".to_owned(),
            cookie: "cookie".to_owned(),
            device: "deviceId".to_owned(),
        }
    }
}

/// Device registration (requestType 2) and device-bound tokens (requestType 3).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceSettings {
    /// The dummy content IDs a registration (requestType 2) may name; each needs a key in the key store.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub registration_content_ids: Vec<String>,
    /// How long a device id learned from the record service is trusted before it is asked again.
    pub binding_ttl_s: u64,
    /// Most devices one user may register (catalogue mode); 0 = no limit.
    pub max_per_user: u32,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self {
            registration_content_ids: vec!["sees-device-registration".to_owned()],
            binding_ttl_s: 7 * 24 * 3600,
            max_per_user: 5,
        }
    }
}

/// How Entitlement Requests are decided.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionSettings {
    /// `catalog`: decide from the catalogue (sessions, entitlements, graph, regions); `open`: the
    /// reference behaviour — any content with a key is allowed (for migrations; logged loudly).
    pub mode: DecisionMode,
    /// Tolerance applied to every entitlement window.
    pub clock_skew_s: u64,
    /// The in-process caches of what decisions read (packages, graph, rules, users' entitlements,
    /// playback sessions): `auto` and `on` = on for every store (on PostgreSQL kept coherent across
    /// nodes through `LISTEN`/`NOTIFY`), `off` = every decision reads the store.
    pub cache: DecisionCacheMode,
    /// Assets, and separately users, the cache holds at most.
    pub cache_capacity: usize,
    /// On PostgreSQL, how decisions use the caches: `bounded` (a write on another node is seen once
    /// its notification is applied, milliseconds) or `strict` (each decision first checks in one
    /// indexed read that every committed write has been applied).
    pub consistency: Consistency,
    /// On PostgreSQL, a node that hears nothing for this long pings itself through the store; three
    /// silent heartbeats end the subscription (caches off until it is back).
    pub heartbeat_ms: u64,
    /// Under `strict`, how long a decision waits for notifications still on their way before it reads
    /// the store instead of the caches (that decision only: uncached, never stale).
    pub strict_wait_ms: u64,
}

impl Default for DecisionSettings {
    fn default() -> Self {
        Self {
            mode: DecisionMode::Catalog,
            clock_skew_s: 60,
            cache: DecisionCacheMode::Auto,
            cache_capacity: 50_000,
            consistency: Consistency::Bounded,
            heartbeat_ms: 1_000,
            strict_wait_ms: 50,
        }
    }
}

/// See `DecisionSettings::cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionCacheMode {
    Auto,
    On,
    Off,
}

/// See `DecisionSettings::consistency`.
pub use crate::store::coherence::Consistency;

/// See `DecisionSettings::mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionMode {
    Catalog,
    Open,
}

/// Concurrent streams per user.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcurrencySettings {
    /// How long a stream lease lasts unless renewed (`PUT /oem/v2/streams/{assetID}`).
    pub lease_seconds: u64,
    /// Streams a user may run at once when the entitlement sets no `concurrency_limit`; 0 = no limit.
    pub default_limit: u32,
    /// What happens over the limit: `block-new` (deny) or `evict-oldest`.
    pub policy: ConcurrencyPolicy,
}

impl Default for ConcurrencySettings {
    fn default() -> Self {
        Self {
            lease_seconds: 120,
            default_limit: 0,
            policy: ConcurrencyPolicy::BlockNew,
        }
    }
}

/// See `ConcurrencySettings::policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConcurrencyPolicy {
    BlockNew,
    EvictOldest,
}

impl ConcurrencyPolicy {
    /// The name used in configuration, storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::BlockNew => "block-new",
            ConcurrencyPolicy::EvictOldest => "evict-oldest",
        }
    }

    /// The policy named `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "block-new" => Some(ConcurrencyPolicy::BlockNew),
            "evict-oldest" => Some(ConcurrencyPolicy::EvictOldest),
            _ => None,
        }
    }
}

/// The admin API listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// Address of the admin listener; plain HTTP is allowed only on a loopback address.
    pub listen: SocketAddr,
    /// Server certificate and key (PEM); required when `listen` is not a loopback address.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// When set, admin clients must also present a certificate from this CA bundle.
    pub client_ca: Option<PathBuf>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Largest `count` of a listing (larger values are clamped to it).
    pub max_page_size: u32,
    /// Longest list in one request body (asset IDs, package IDs…); longer lists are refused.
    pub max_list_len: usize,
    /// Deepest package graph: an edge that would make a longer parent → child chain is refused.
    pub graph_max_depth: u32,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8444)),
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            max_body_bytes: 1024 * 1024,
            max_page_size: 500,
            max_list_len: 10_000,
            graph_max_depth: 8,
        }
    }
}

/// JWTs: end users' tokens from the customer's identity providers, and entitlement tokens from
/// entitlement providers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Tolerance applied to `exp`, `nbf` and `iat`.
    pub clock_skew_s: u64,
    /// Accepted issuers; none = end-user routes refuse every token.
    pub issuers: Vec<IssuerSettings>,
    /// Issuers of entitlement tokens (`PUT /oem/v1/entitlements/token`); none = every one is refused.
    pub entitlement_providers: Vec<EntitlementProviderSettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            clock_skew_s: 60,
            issuers: Vec::new(),
            entitlement_providers: Vec::new(),
        }
    }
}

/// One entitlement provider: the `provider` named in `PUT /oem/v1/entitlements/token` and how its
/// tokens are verified (the fields of [`IssuerSettings`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementProviderSettings {
    /// The name callers give as `provider` (the spec's tenant name).
    pub name: String,
    /// The `iss` claim this provider signs with.
    pub issuer: String,
    /// When set, the `aud` claim must contain it.
    #[serde(default)]
    pub audience: Option<String>,
    /// Allowed algorithms: `HS256`, `RS256`, `ES256` (never `none`).
    pub algorithms: Vec<String>,
    /// Shared secret for HS256.
    #[serde(default)]
    pub hs256_secret: Option<SecretString>,
    /// A PEM public key (RSA or EC) for RS256/ES256.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// A JWKS file; the token's `kid` picks the key (rotation: list old and new keys).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
}

impl EntitlementProviderSettings {
    /// The issuer settings its tokens are verified with.
    pub fn issuer_settings(&self) -> IssuerSettings {
        IssuerSettings {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            algorithms: self.algorithms.clone(),
            hs256_secret: self.hs256_secret.clone(),
            public_key_file: self.public_key_file.clone(),
            jwks_file: self.jwks_file.clone(),
        }
    }
}

/// One identity provider. Exactly one of `hs256_secret`, `public_key_file` and `jwks_file` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The `iss` claim this provider signs with.
    pub issuer: String,
    /// When set, the `aud` claim must contain it.
    #[serde(default)]
    pub audience: Option<String>,
    /// Allowed algorithms: `HS256`, `RS256`, `ES256` (never `none`).
    pub algorithms: Vec<String>,
    /// Shared secret for HS256.
    #[serde(default)]
    pub hs256_secret: Option<SecretString>,
    /// A PEM public key (RSA or EC) for RS256/ES256.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// A JWKS file; the token's `kid` picks the key (rotation: list old and new keys).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
}

fn deserialize_lifetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<TokenLifetime, D::Error> {
    let raw = String::deserialize(d)?;
    raw.parse().map_err(serde::de::Error::custom)
}

/// The OEM entitlement-token endpoints (`tokentype=none|akamai|expressplay`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntitlementTokenSettings {
    /// A request header carrying the viewer's ISO 3166-1 country, set by a trusted edge (for example
    /// `CloudFront-Viewer-Country`); unset = no country is known and region-restricted packages deny.
    pub country_header: Option<String>,
    /// The Akamai EdgeAuth key, hex (as Akamai's property manager shows it); unset = `akamai` is not
    /// offered.
    pub akamai_key: Option<SecretString>,
    /// How long an Akamai token is valid, in seconds.
    pub akamai_window_s: u64,
    /// The token's ACL: `{dir}` is the playback URL's directory, `{path}` its path.
    pub akamai_acl: String,
    /// The query parameter the CDN reads the token from (told to the client, not signed).
    pub akamai_token_name: String,
}

impl Default for EntitlementTokenSettings {
    fn default() -> Self {
        Self {
            country_header: None,
            akamai_key: None,
            akamai_window_s: 300,
            akamai_acl: "{dir}/*".to_owned(),
            akamai_token_name: "hdnts".to_owned(),
        }
    }
}

/// The ops listener: `/healthz`, `/readyz`, `/metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsSettings {
    /// Address of the plain-HTTP ops listener (no client certificate: keep it on loopback or a
    /// private network).
    pub listen: SocketAddr,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

/// The audit log: one event per SEES decision and admin write.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Record events at all.
    pub enabled: bool,
    /// Events older than this many days are deleted (checked at start and hourly); 0 = keep forever.
    pub retention_days: u32,
    /// Also append each event as one JSON line to this file; unset = no file.
    pub jsonl_path: Option<PathBuf>,
    /// Events waiting for the writer; when full, new events are dropped and counted, never waited for.
    pub queue_capacity: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 90,
            jsonl_path: None,
            queue_capacity: 10_000,
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` (human-readable) or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,sees=debug`; `RUST_LOG` takes precedence.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Settings {
    /// Defaults, then the `--dev` layer when `dev`, then `file`, then the environment; validated.
    pub fn load(file: Option<&Path>, dev: bool) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(file, dev, env)
    }

    /// As `load`, with the environment given explicitly (tests).
    pub fn load_with_env(
        file: Option<&Path>,
        dev: bool,
        env: Vec<(String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder();
        if dev {
            builder =
                builder.add_source(config::File::from_str(DEV_LAYER, config::FileFormat::Toml));
        }
        if let Some(file) = file {
            builder = builder.add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .source(Some(env.into_iter().collect()));
        let settings: Settings = builder.add_source(environment).build()?.try_deserialize()?;
        let problems = settings.problems();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Everything wrong with these settings, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let server = &self.server;
        if server.paths.is_empty() {
            problems.push("server.paths must name at least one path".to_owned());
        }
        for path in &server.paths {
            if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c == '{') {
                problems.push(format!(
                    "server.paths: {path:?} must start with '/' and hold no spaces or '{{'"
                ));
            }
        }
        if !(256..=1024 * 1024).contains(&server.max_body_bytes) {
            problems.push("server.max_body_bytes must be between 256 and 1048576".to_owned());
        }
        for (name, value) in [
            ("server.handshake_timeout_ms", server.handshake_timeout_ms),
            (
                "server.header_read_timeout_ms",
                server.header_read_timeout_ms,
            ),
            ("server.request_timeout_ms", server.request_timeout_ms),
            (
                "expressplay.connect_timeout_ms",
                self.expressplay.connect_timeout_ms,
            ),
            ("expressplay.timeout_ms", self.expressplay.timeout_ms),
            ("expressplay.budget_ms", self.expressplay.budget_ms),
            (
                "expressplay.breaker_open_ms",
                self.expressplay.breaker_open_ms,
            ),
            ("devices.binding_ttl_s", self.devices.binding_ttl_s),
            ("keys.cache_ttl_ms", self.keys.cache_ttl_ms),
            ("decision.heartbeat_ms", self.decision.heartbeat_ms),
            ("decision.strict_wait_ms", self.decision.strict_wait_ms),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be greater than 0"));
            }
        }
        if server.rate_limit_per_s > 0 && server.rate_burst == 0 {
            problems.push(
                "server.rate_burst must be greater than 0 when server.rate_limit_per_s is set"
                    .to_owned(),
            );
        }
        for entry in &self.tls.allowed_clients {
            if let Err(why) = crate::tls::allow::AllowEntry::parse(entry) {
                problems.push(format!("tls.allowed_clients: {why}"));
            }
        }
        if server.max_connections == 0 {
            problems.push("server.max_connections must be greater than 0".to_owned());
        }
        if self.expressplay.budget_ms >= server.request_timeout_ms {
            problems.push(
                "expressplay.budget_ms must be shorter than server.request_timeout_ms, so an upstream \
                 failure is answered before the request deadline"
                    .to_owned(),
            );
        }
        if self.expressplay.max_in_flight == 0 || self.expressplay.breaker_failures == 0 {
            problems.push(
                "expressplay.max_in_flight and expressplay.breaker_failures must be greater than 0"
                    .to_owned(),
            );
        }
        if self.expressplay.device_param.is_empty()
            || !self
                .expressplay
                .device_param
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            problems.push(
                "expressplay.device_param must be a parameter name (letters, digits, _)".to_owned(),
            );
        }
        let fields = &self.expressplay.record_fields;
        if !(fields.list.is_empty() || fields.list.starts_with('/'))
            || fields.cookie.is_empty()
            || fields.device.is_empty()
        {
            problems.push(
                "expressplay.record_fields: list must be empty or a JSON pointer starting with '/', \
                 cookie and device must name fields"
                    .to_owned(),
            );
        }
        problems.extend(self.listener_clashes());
        let admin = &self.admin;
        if !admin.listen.ip().is_loopback() && (admin.tls_cert.is_none() || admin.tls_key.is_none())
        {
            problems.push(
                "admin.listen is not a loopback address: set admin.tls_cert and admin.tls_key (plain HTTP \
                 is only allowed on loopback)"
                    .to_owned(),
            );
        }
        if admin.tls_cert.is_some() != admin.tls_key.is_some() {
            problems.push("admin.tls_cert and admin.tls_key go together".to_owned());
        }
        if admin.max_page_size == 0 || admin.max_list_len == 0 || admin.graph_max_depth == 0 {
            problems.push(
                "admin.max_page_size, admin.max_list_len and admin.graph_max_depth must be greater than 0"
                    .to_owned(),
            );
        }
        for id in &self.devices.registration_content_ids {
            if let Err(e) = crate::ids::ContentId::parse(id.clone()) {
                problems.push(format!("devices.registration_content_ids: {id:?} {e}"));
            }
        }
        if !(self.store.url.starts_with("sqlite://")
            || self.store.url.starts_with("postgres://")
            || self.store.url.starts_with("postgresql://"))
        {
            problems.push("store.url must start with sqlite:// or postgres://".to_owned());
        }
        if self.store.max_connections == 0 {
            problems.push("store.max_connections must be greater than 0".to_owned());
        }
        if let Err(why) = check_upstream_url(&self.expressplay.token_url) {
            problems.push(format!("expressplay.token_url: {why}"));
        }
        if let Err(why) = check_upstream_url(&self.expressplay.record_url) {
            problems.push(format!("expressplay.record_url: {why}"));
        }
        if self.expressplay.has_authenticator()
            && !is_authenticator(self.expressplay.customer_authenticator.expose_secret())
        {
            problems.push(
                "expressplay.customer_authenticator must have the form <number>,<32 hex digits>"
                    .to_owned(),
            );
        }
        problems.extend(crate::akamai::settings_problems(&self.entitlement_tokens));
        if let Some(header) = &self.entitlement_tokens.country_header {
            if axum::http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                problems.push(format!(
                    "entitlement_tokens.country_header: {header:?} is not a header name"
                ));
            }
        }
        if self.audit.queue_capacity == 0 {
            problems.push("audit.queue_capacity must be greater than 0".to_owned());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            problems.push(format!(
                "log.level: {:?} is not a valid filter",
                self.log.level
            ));
        }
        problems
    }

    /// Every listener sees opens, by setting name.
    pub fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        vec![
            ("server.listen", self.server.listen),
            ("admin.listen", self.admin.listen),
            ("ops.listen", self.ops.listen),
        ]
    }

    /// Listeners that would take the same port on overlapping addresses (port 0 never clashes).
    pub fn listener_clashes(&self) -> Vec<String> {
        let listeners = self.listeners();
        let mut problems = Vec::new();
        for (i, (name, addr)) in listeners.iter().enumerate() {
            for (other, other_addr) in &listeners[i + 1..] {
                let overlap = addr.ip() == other_addr.ip()
                    || addr.ip().is_unspecified()
                    || other_addr.ip().is_unspecified();
                if addr.port() != 0 && addr.port() == other_addr.port() && overlap {
                    problems.push(format!(
                        "{name} ({addr}) and {other} ({other_addr}) would listen on the same port"
                    ));
                }
            }
        }
        problems
    }

    /// The request deadline.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.server.request_timeout_ms)
    }

    /// The upstream budget of one request.
    pub fn upstream_budget(&self) -> Duration {
        Duration::from_millis(self.expressplay.budget_ms)
    }
}

/// Whether `raw` has ExpressPlay's authenticator form, `<number>,<32 hex digits>`.
pub fn is_authenticator(raw: &str) -> bool {
    match raw.split_once(',') {
        Some((number, key)) => {
            !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
                && key.len() == 32
                && key.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// HTTPS, or plain HTTP to a loopback address (the local simulator).
fn check_upstream_url(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => {
            Err("plain http is only allowed to a loopback address (the simulator)".to_owned())
        }
        other => Err(format!("unsupported scheme {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_the_example_file_matches_them() {
        assert!(Settings::default().problems().is_empty());
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sees.example.toml");
        let loaded = Settings::load_with_env(Some(&example), false, vec![]).unwrap();
        assert_eq!(format!("{loaded:?}"), format!("{:?}", Settings::default()));
    }

    #[test]
    fn environment_overrides_every_section() {
        let settings = Settings::load_with_env(
            None,
            false,
            env(&[
                ("SEES__SERVER__LISTEN", "0.0.0.0:9443"),
                ("SEES__SERVER__PATHS", "/a,/b"),
                ("SEES__SERVER__MAX_BODY_BYTES", "4096"),
                ("SEES__STORE__URL", "sqlite:///tmp/x.db"),
                (
                    "SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR",
                    "12,0123456789abcdef0123456789abcdef",
                ),
                ("SEES__EXPRESSPLAY__TOKEN_LIFETIME", "+120"),
                ("SEES__EXPRESSPLAY__METHOD", "post"),
                ("SEES__KEYS__MASTER_KEY_FILE", "/run/secrets/master"),
                ("SEES__LOG__FORMAT", "json"),
                ("SEES_MASTER_KEY", "not a settings key"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.server.listen.to_string(), "0.0.0.0:9443");
        assert_eq!(settings.server.paths, vec!["/a", "/b"]);
        assert_eq!(settings.server.max_body_bytes, 4096);
        assert_eq!(settings.store.url, "sqlite:///tmp/x.db");
        assert_eq!(
            settings.expressplay.customer_authenticator.expose_secret(),
            "12,0123456789abcdef0123456789abcdef"
        );
        assert_eq!(
            settings.expressplay.token_lifetime,
            TokenLifetime::Relative(120)
        );
        assert_eq!(settings.expressplay.method, UpstreamMethod::Post);
        assert_eq!(
            settings.keys.master_key_file,
            PathBuf::from("/run/secrets/master")
        );
        assert_eq!(settings.log.format, LogFormat::Json);
    }

    #[test]
    fn problems_are_all_reported_and_never_show_the_authenticator() {
        let err = Settings::load_with_env(
            None,
            false,
            env(&[
                ("SEES__SERVER__PATHS", "no-slash"),
                ("SEES__STORE__URL", "mysql://x"),
                (
                    "SEES__EXPRESSPLAY__TOKEN_URL",
                    "http://example.com/hms/fp/token",
                ),
                (
                    "SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR",
                    "secret-looking-value",
                ),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.paths"), "{err}");
        assert!(err.contains("store.url"), "{err}");
        assert!(err.contains("expressplay.token_url"), "{err}");
        assert!(err.contains("customer_authenticator"), "{err}");
        assert!(!err.contains("secret-looking-value"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_lifetimes_are_refused() {
        assert!(
            Settings::load_with_env(None, false, env(&[("SEES__SERVER__LISTN", "x")])).is_err()
        );
        assert!(Settings::load_with_env(
            None,
            false,
            env(&[("SEES__EXPRESSPLAY__TOKEN_LIFETIME", "+99999999")])
        )
        .is_err());
    }

    #[test]
    fn debug_never_shows_the_authenticator() {
        let settings = Settings::load_with_env(
            None,
            false,
            env(&[(
                "SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR",
                "7,ffffffffffffffffffffffffffffffff",
            )]),
        )
        .unwrap();
        assert!(!format!("{settings:?}").contains("ffffffffffffffff"));
    }

    #[test]
    fn clashing_listeners_and_bad_allow_list_entries_are_problems() {
        let problems = Settings::load_with_env(
            None,
            false,
            env(&[
                ("SEES__SERVER__LISTEN", "0.0.0.0:8443"),
                ("SEES__ADMIN__LISTEN", "127.0.0.1:8443"),
                ("SEES__TLS__ALLOWED_CLIENTS", "cn:player,ip:10.0.0.1"),
                ("SEES__SERVER__RATE_LIMIT_PER_S", "5"),
                ("SEES__SERVER__RATE_BURST", "0"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            problems.contains("server.listen (0.0.0.0:8443) and admin.listen"),
            "{problems}"
        );
        assert!(problems.contains("tls.allowed_clients"), "{problems}");
        assert!(problems.contains("server.rate_burst"), "{problems}");
        let fine = Settings::load_with_env(
            None,
            false,
            env(&[
                ("SEES__SERVER__LISTEN", "127.0.0.1:0"),
                ("SEES__ADMIN__LISTEN", "127.0.0.1:0"),
                ("SEES__TLS__CRLS", "/etc/sees/a.crl, /etc/sees/b.crl"),
                ("SEES__TLS__ALLOWED_CLIENTS", "dns:player.example.com"),
            ]),
        )
        .unwrap();
        assert_eq!(fine.tls.crls.len(), 2);
        assert_eq!(fine.tls.allowed_clients, vec!["dns:player.example.com"]);
    }

    #[test]
    fn authenticator_form() {
        assert!(is_authenticator("1,0123456789abcdef0123456789ABCDEF"));
        assert!(!is_authenticator(",0123456789abcdef0123456789abcdef"));
        assert!(!is_authenticator("1,0123"));
        assert!(!is_authenticator("x,0123456789abcdef0123456789abcdef"));
    }
}
