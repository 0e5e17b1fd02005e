//! The end-to-end harness: a fresh PKI, SQLite file and master key per server, the ExpressPlay
//! simulator as upstream, and the real `sees` application on 127.0.0.1:0, spoken to over real TLS.

#![allow(dead_code)]

pub mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;
use sees::app::Application;
use sees::clock::{Clock, SystemClock};
use sees::config::Settings;
use sees::expressplay::sim::{SimConfig, Simulator};
use sees::ids::ContentId;
use sees::keys::{ContentKey, KeyPolicy, KeyStore, MasterKey, NewContentKey};
use sees::sees::handler::SeesState;
use sees::tls::dev_pki::DevPki;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The authenticator the test simulator accepts.
pub const AUTHENTICATOR: &str = "4242,0123456789abcdef0123456789abcdef";

/// A running sees with everything it needs.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin API's (plain HTTP, loopback) address.
    pub admin_addr: SocketAddr,
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

/// The store a test server uses: a new SQLite file in `dir`, or — when `SEES_TEST_STORE=postgres` —
/// a fresh database on the PostgreSQL server named by `SEES_TEST_DATABASE_URL` (CI runs the admin
/// tests both ways).
pub async fn test_store_url(dir: &Path) -> String {
    if std::env::var("SEES_TEST_STORE").as_deref() == Ok("postgres") {
        let server = std::env::var("SEES_TEST_DATABASE_URL")
            .expect("SEES_TEST_STORE=postgres needs SEES_TEST_DATABASE_URL");
        return sees::store::fresh_postgres_database(&server)
            .await
            .expect("creating a PostgreSQL test database");
    }
    format!("sqlite://{}", dir.join("sees.db").display())
}

/// One fresh store per backend, for catalogue tests that call the library directly: an SQLite file
/// in `dir` always, and a new PostgreSQL database when `SEES_TEST_DATABASE_URL` names a server (else
/// the test prints that PostgreSQL was skipped).
pub async fn backend_stores(dir: &Path) -> Vec<(&'static str, sees::store::Store)> {
    let url = format!("sqlite://{}/backend.db", dir.display());
    let mut stores = vec![(
        "sqlite",
        sees::store::Store::connect(&url, 4)
            .await
            .expect("SQLite store"),
    )];
    match std::env::var("SEES_TEST_DATABASE_URL") {
        Ok(server) => {
            let url = sees::store::fresh_postgres_database(&server)
                .await
                .expect("PostgreSQL test database");
            stores.push((
                "postgres",
                sees::store::Store::connect(&url, 4)
                    .await
                    .expect("PostgreSQL store"),
            ));
        }
        Err(_) => println!("PostgreSQL: skipped (SEES_TEST_DATABASE_URL not set)"),
    }
    stores
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
    let app = Application::build_with_clock(&settings, Arc::clone(&clock))
        .await
        .expect("building sees");
    let addr = app.local_addr();
    let admin_addr = app.admin_addr();
    let keys = app.key_store();
    let state = app.state();
    let coherence = app.coherence();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        admin_addr,
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
    }
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
        let mut request = reqwest::Client::new().request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
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

/// Asserts the admin envelope: a UUID `requestID` and an RFC 3339 `timestamp`.
pub fn assert_envelope(answer: &Value) {
    let id = answer["requestID"].as_str().expect("requestID");
    assert_eq!(id.len(), 36, "{answer}");
    let at = answer["timestamp"].as_str().expect("timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{answer}");
}

/// Asserts an admin error answer: the HTTP status, the `code`, a message, the envelope.
pub fn assert_error(status: u16, answer: &Value, expected_status: u16, code: u64) {
    assert_eq!(
        (status, answer["error"]["code"].as_u64()),
        (expected_status, Some(code)),
        "{answer}"
    );
    assert_eq!(answer["error"]["status"], expected_status, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
    assert_envelope(answer);
}

/// A minimal valid request body.
pub fn request(message_id: &str, content_id: &str) -> String {
    json!({"messageID": message_id, "version": 1, "contentID": content_id}).to_string()
}

/// Which client certificate a TLS client presents.
pub enum ClientCert<'a> {
    /// The dev PKI's client certificate.
    Dev,
    /// Another (cert PEM, key PEM).
    Pem(&'a str, &'a str),
}

/// A rustls client config trusting `pki`'s CA, presenting `cert` (or none), offering `alpn`.
pub fn tls_client_config(
    pki: &DevPki,
    cert: Option<ClientCert<'_>>,
    alpn: &[&[u8]],
) -> rustls::ClientConfig {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_cert_pem().as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(sees::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match cert {
        None => builder.with_no_client_auth(),
        Some(cert) => {
            let (cert_pem, key_pem) = match cert {
                ClientCert::Dev => (pki.client_cert_pem(), pki.client_key_pem()),
                ClientCert::Pem(cert, key) => (cert, key),
            };
            let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A reqwest client over `config`.
pub fn client_with(config: rustls::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .expect("reqwest client")
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
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = Application::build_with_clock(&settings, Arc::clone(&clock))
        .await
        .expect("building sees");
    let tls = app.tls();
    let addr = app.local_addr();
    let admin_addr = app.admin_addr();
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

/// Replaces `path` with `contents` atomically (a temporary file renamed over it), as operators should.
pub fn replace_file(path: &Path, contents: &[u8]) {
    let temporary = path.with_extension("tmp-replace");
    std::fs::write(&temporary, contents).expect("writing a temporary file");
    std::fs::rename(&temporary, path).expect("renaming over the target");
}

/// One TLS connection to `server` with `config`, kept open for several HTTP/1.1 requests.
pub struct KeptConnection {
    stream: tokio::io::BufReader<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
}

impl KeptConnection {
    /// Connects and handshakes; the error text when either fails.
    pub async fn open(addr: SocketAddr, config: rustls::ClientConfig) -> Result<Self, String> {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("a server name");
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        Ok(KeptConnection {
            stream: tokio::io::BufReader::new(tls),
        })
    }

    /// The server's leaf certificate (DER).
    pub fn server_certificate(&self) -> Vec<u8> {
        self.stream
            .get_ref()
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.as_ref().to_vec())
            .expect("the server's certificate")
    }

    /// POSTs `body` to the main path on this connection; the status, the headers (lowercase names)
    /// and the JSON answer; the error text when the connection fails.
    pub async fn post(
        &mut self,
        body: &str,
    ) -> Result<(u16, Vec<(String, String)>, Value), String> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let head = format!(
            "POST /sees/v1/entitlement HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut status_line = String::new();
        let read = self
            .stream
            .read_line(&mut status_line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err("closed by the server".to_owned());
        }
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.stream
                .read_line(&mut line)
                .await
                .map_err(|e| format!("read: {e}"))?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or("no content-length")?;
        let mut body = vec![0u8; length];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(|e| format!("read body: {e}"))?;
        let value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        Ok((status, headers, value))
    }

    /// Waits until the server closes the connection (end of stream or an error), up to `limit`;
    /// whether it did.
    pub async fn closed_within(&mut self, limit: std::time::Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 64];
        matches!(
            tokio::time::timeout(limit, self.stream.read(&mut buffer)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// The `iss` of the test end-user identity provider.
pub const END_USER_ISSUER: &str = "https://login.example.test/";
/// Its HS256 secret.
pub const END_USER_SECRET: &str = "a-test-secret-of-more-than-32-bytes!!";

/// `auth.issuers` entry for the test identity provider (HS256, no audience).
pub fn end_user_issuer() -> sees::config::IssuerSettings {
    sees::config::IssuerSettings {
        issuer: END_USER_ISSUER.to_owned(),
        audience: None,
        algorithms: vec!["HS256".to_owned()],
        hs256_secret: Some(SecretString::from(END_USER_SECRET.to_owned())),
        public_key_file: None,
        jwks_file: None,
    }
}

/// An end-user JWT of the test provider for `sub`, issued at `now` (Unix seconds), valid `ttl_s`.
pub fn end_user_jwt(sub: &str, now: i64, ttl_s: i64) -> String {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let claims = json!({"iss": END_USER_ISSUER, "sub": sub, "iat": now, "exp": now + ttl_s});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(END_USER_SECRET.as_bytes()),
    )
    .expect("signing a test JWT")
}

/// xorshift64*: a small deterministic generator, so a seed replays a randomized test.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}
