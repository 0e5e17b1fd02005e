//! The server under test: a fresh PKI, store and master key per server, the ExpressPlay simulator as
//! upstream, and the real `sees` application on 127.0.0.1:0 inside the test's own runtime. It must
//! never bind a fixed port or share a file between servers: every area's tests run side by side in
//! one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sees::app::Application;
use sees::clock::{Clock, FixedClock, SystemClock};
use sees::config::Settings;
use sees::expressplay::sim::{SimConfig, Simulator};
use sees::ids::ContentId;
use sees::keys::{ContentKey, KeyPolicy, KeyStore, MasterKey, NewContentKey};
use sees::sees::handler::SeesState;
use sees::tls::dev_pki::DevPki;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::stores::test_store_url;
use super::tls::{client_with, tls_client_config, ClientCert};

/// The authenticator the test simulator accepts.
pub const AUTHENTICATOR: &str = "4242,0123456789abcdef0123456789abcdef";

/// A running sees with everything it needs.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin API's (plain HTTP, loopback) address.
    pub admin_addr: SocketAddr,
    /// The SPEKE listener's address, when `speke.listen` is set.
    pub speke_addr: Option<SocketAddr>,
    /// The ops listener's (plain HTTP: health, readiness, metrics) address.
    pub ops_addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub pki: DevPki,
    pub sim: Simulator,
    pub keys: Arc<KeyStore>,
    pub state: Arc<SeesState>,
    /// Whether the node's caches are in use, and their generations.
    pub coherence: Arc<sees::store::coherence::Coherence>,
    pub settings: Settings,
    clock: Arc<dyn Clock>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<AbortOnDrop>,
}

/// The server task, aborted when the `TestServer` is dropped without `stop`.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A fresh PKI written to `dir`, and settings pointing at it, a new SQLite file, a new master key and
/// the simulator.
pub fn test_settings(dir: &Path, pki: &DevPki, sim: &Simulator) -> Settings {
    let paths = pki
        .write_to(&dir.join("certs"), false)
        .expect("writing the test PKI");
    let master = dir.join("master.key");
    MasterKey::generate_file(&master).expect("writing the master key");
    let mut settings = Settings::default();
    settings.server.listen = ([127, 0, 0, 1], 0).into();
    settings.admin.listen = ([127, 0, 0, 1], 0).into();
    settings.ops.listen = ([127, 0, 0, 1], 0).into();
    // Protocol tests run in open mode; the decision tests switch to the catalogue.
    settings.decision.mode = sees::config::DecisionMode::Open;
    settings.server.handshake_timeout = std::time::Duration::from_millis(2_000);
    settings.server.request_timeout = std::time::Duration::from_millis(4_000);
    settings.tls.cert = paths.server_cert;
    settings.tls.key = paths.server_key;
    settings.tls.client_ca = paths.ca_cert;
    settings.store.url = format!("sqlite://{}", dir.join("sees.db").display());
    settings.keys.master_key_file = master;
    settings.expressplay.token_url = sim.token_url();
    settings.expressplay.widevine_token_url = format!("http://{}/hms/wv/token", sim.addr());
    settings.expressplay.playready_token_url = format!("http://{}/hms/pr/token", sim.addr());
    settings.expressplay.record_url = format!("http://{}/cmiapi/getrecord/", sim.addr());
    settings.expressplay.customer_authenticator = SecretString::from(AUTHENTICATOR.to_owned());
    settings.expressplay.connect_timeout = std::time::Duration::from_millis(500);
    settings.expressplay.timeout = std::time::Duration::from_millis(1_500);
    settings
}

/// A started simulator accepting `AUTHENTICATOR`.
pub async fn start_simulator() -> Simulator {
    start_simulator_with(SimConfig::default()).await
}

/// A started simulator with `config`, accepting `AUTHENTICATOR`.
pub async fn start_simulator_with(config: SimConfig) -> Simulator {
    Simulator::start(SimConfig {
        authenticators: vec![AUTHENTICATOR.to_owned()],
        ..config
    })
    .await
    .expect("starting the simulator")
}

/// A server on default test settings.
pub async fn spawn() -> TestServer {
    spawn_with(|_| {}).await
}

/// A server on test settings adjusted by `adjust`.
pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestServer {
    spawn_custom(SimConfig::default(), Arc::new(SystemClock), adjust).await
}

/// A server on a [`FixedClock`] standing at `t0` (the test moves it), on test settings adjusted by
/// `adjust`; and the clock.
pub async fn spawn_at(
    t0: DateTime<Utc>,
    adjust: impl FnOnce(&mut Settings),
) -> (TestServer, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(t0));
    let server = spawn_custom(SimConfig::default(), clock.clone(), adjust).await;
    (server, clock)
}

/// A server with its own simulator configuration and clock, on test settings adjusted by `adjust`.
pub async fn spawn_custom(
    sim_config: SimConfig,
    clock: Arc<dyn Clock>,
    adjust: impl FnOnce(&mut Settings),
) -> TestServer {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pki = DevPki::generate(&[]).expect("test PKI");
    let sim = start_simulator_with(sim_config).await;
    let mut settings = test_settings(dir.path(), &pki, &sim);
    settings.store.url = test_store_url(dir.path()).await;
    adjust(&mut settings);
    start(dir, pki, sim, settings, clock).await
}

async fn start(
    dir: tempfile::TempDir,
    pki: DevPki,
    sim: Simulator,
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> TestServer {
    start_with_tls(dir, pki, sim, settings, clock).await.0
}

/// Builds and starts sees on `settings`; the server and its reloadable TLS configuration.
async fn start_with_tls(
    dir: tempfile::TempDir,
    pki: DevPki,
    sim: Simulator,
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> (TestServer, Arc<sees::tls::live::LiveTls>) {
    let app = Application::build_with_clock(&settings, Arc::clone(&clock))
        .await
        .expect("building sees");
    let tls = app.tls();
    let addr = app.local_addr();
    let admin_addr = app.admin_addr();
    let speke_addr = app.speke_addr();
    let ops_addr = app.ops_addr();
    let keys = app.key_store();
    let state = app.state();
    let coherence = app.coherence();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let server = TestServer {
        addr,
        admin_addr,
        speke_addr,
        ops_addr,
        dir,
        pki,
        sim,
        keys,
        state,
        coherence,
        settings,
        clock,
        stop: Some(stop),
        task: Some(AbortOnDrop(task)),
    };
    (server, tls)
}

impl TestServer {
    /// `https://localhost:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// A reqwest client presenting the dev client certificate and trusting the test CA.
    pub fn client(&self) -> reqwest::Client {
        client_with(tls_client_config(
            &self.pki,
            Some(ClientCert::Dev),
            &[b"http/1.1"],
        ))
    }

    /// POSTs `body` to the main path; the status and the JSON answer.
    pub async fn post(&self, body: impl Into<String>) -> (u16, Value) {
        self.post_to("/sees/v1/entitlement", body).await
    }

    /// POSTs `body` to `path`; the status and the JSON answer.
    pub async fn post_to(&self, path: &str, body: impl Into<String>) -> (u16, Value) {
        let response = self
            .client()
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .expect("request over mTLS");
        let status = response.status().as_u16();
        let text = response.text().await.expect("response body");
        let value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, value)
    }

    /// Stores a key for `content_id` with `policy`; returns the material.
    pub async fn add_key_with(&self, content_id: &str, policy: KeyPolicy) -> ContentKey {
        let mut material = [0u8; 32];
        for (i, byte) in material.iter_mut().enumerate() {
            *byte = (i as u8)
                .wrapping_mul(37)
                .wrapping_add(content_id.len() as u8);
        }
        let mut cek = [0u8; 16];
        let mut iv = [0u8; 16];
        cek.copy_from_slice(&material[..16]);
        iv.copy_from_slice(&material[16..]);
        let key = ContentKey::new(cek, iv);
        self.keys
            .put(
                NewContentKey {
                    content_id: ContentId::parse(content_id).unwrap(),
                    key: key.clone(),
                    policy,
                },
                true,
            )
            .await
            .expect("storing a test key");
        key
    }

    /// Stores a key for `content_id` with the default policy.
    pub async fn add_key(&self, content_id: &str) -> ContentKey {
        self.add_key_with(content_id, KeyPolicy::default()).await
    }

    /// A new admin API token with `role` (created the way `sees tokens create` does).
    pub async fn admin_token(&self, role: sees::admin::tokens::Role) -> String {
        use secrecy::ExposeSecret;
        let stores = sees::app::open_stores(&self.settings)
            .await
            .expect("opening the store");
        let tokens = sees::admin::tokens::ApiTokens::new(stores.store.clone());
        let name = format!("{role}-{}", uuid::Uuid::new_v4().simple());
        let (_, secret) = tokens
            .create(&name, role, chrono::Utc::now())
            .await
            .expect("creating a token");
        stores.store.close().await;
        secret.expose_secret().to_owned()
    }

    /// Calls the admin API: `method` `path` with an optional bearer `token` and JSON `body`; the status
    /// and the JSON answer.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("http://{}{path}", self.admin_addr);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let request = admin_request(&reqwest::Client::new(), method, url, token, body);
        let response = request.send().await.expect("admin request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("admin response body");
        let value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, value)
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            let _ = (&mut task.0).await;
        }
    }

    /// Stops the server and starts a new one on the same files, PKI, simulator and clock (it listens
    /// on a new port).
    pub async fn restart(mut self) -> TestServer {
        self.halt().await;
        let TestServer {
            dir,
            pki,
            sim,
            settings,
            clock,
            ..
        } = self;
        start(dir, pki, sim, settings, clock).await
    }
}

/// A request to the admin API at `url`, with an optional bearer `token` and JSON `body`.
pub fn admin_request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::RequestBuilder {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request
}

/// POSTs `body` to `url` on `client` (so concurrent callers share its connections); the JSON answer.
pub async fn post_json(client: &reqwest::Client, url: &str, body: String) -> Value {
    client
        .post(url)
        .body(body)
        .send()
        .await
        .expect("request over mTLS")
        .json()
        .await
        .expect("a JSON answer")
}

/// A minimal valid request body.
pub fn request(message_id: &str, content_id: &str) -> String {
    json!({"messageID": message_id, "version": 1, "contentID": content_id}).to_string()
}

/// The `sees` binary built for these tests.
pub fn sees_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sees"))
}

/// A server on test settings adjusted by `adjust`, and its reloadable TLS configuration (`reload` is
/// what SIGHUP calls).
pub async fn spawn_with_tls(
    adjust: impl FnOnce(&mut Settings),
) -> (TestServer, Arc<sees::tls::live::LiveTls>) {
    spawn_with_pki(DevPki::generate(&[]).expect("test PKI"), adjust).await
}

/// As `spawn_with_tls`, with the PKI given (to write CRLs of its CA before the server starts).
pub async fn spawn_with_pki(
    pki: DevPki,
    adjust: impl FnOnce(&mut Settings),
) -> (TestServer, Arc<sees::tls::live::LiveTls>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let sim = start_simulator().await;
    let mut settings = test_settings(dir.path(), &pki, &sim);
    settings.store.url = test_store_url(dir.path()).await;
    adjust(&mut settings);
    start_with_tls(dir, pki, sim, settings, Arc::new(SystemClock)).await
}

/// Replaces `path` with `contents` atomically (a temporary file renamed over it), as operators should.
pub fn replace_file(path: &Path, contents: &[u8]) {
    let temporary = path.with_extension("tmp-replace");
    std::fs::write(&temporary, contents).expect("writing a temporary file");
    std::fs::rename(&temporary, path).expect("renaming over the target");
}
