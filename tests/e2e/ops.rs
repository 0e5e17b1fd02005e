//! The ops listener, end to end with the real `sees` binary: `/healthz`, `/readyz`, `/metrics` after
//! real SEES and admin traffic (checked by `promtool check metrics` when it is installed), JSON log
//! lines carrying the request's messageID or requestID, and the graceful drain on SIGTERM.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sees::admin::tokens::{ApiTokens, Role};
use sees::expressplay::sim::{Behaviour, ForcedError, Simulator};
use sees::ids::ContentId;
use sees::keys::{ContentKey, KeyPolicy, NewContentKey};
use sees::tls::dev_pki::DevPki;
use serde_json::{json, Value};

use crate::harness::{self, ClientCert, AUTHENTICATOR};

/// How long any wait in these tests may take before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// A `sees serve` process started on a fresh PKI, store and master key, talking to `sim`; its JSON
/// log lines are collected.
struct Node {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    pki: DevPki,
    sees_port: u16,
    admin_port: u16,
    ops_port: u16,
    admin_token: String,
    store_url: String,
    _dir: tempfile::TempDir,
}

impl Node {
    /// Seeds a key for each of `content_ids`, makes an admin token, writes a configuration and starts
    /// `sees serve` with `log.format = "json"`.
    async fn start(sim: &Simulator, content_ids: &[&str]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::generate(&[]).unwrap();
        let mut settings = harness::test_settings(dir.path(), &pki, sim);
        settings.store.url = harness::test_store_url(dir.path()).await;
        let stores = sees::app::open_stores(&settings).await.unwrap();
        for (i, id) in content_ids.iter().enumerate() {
            let byte = u8::try_from(i).unwrap();
            stores
                .keys
                .put(
                    NewContentKey {
                        content_id: ContentId::parse(*id).unwrap(),
                        key: ContentKey::new([byte + 1; 16], [byte + 2; 16]),
                        policy: KeyPolicy::default(),
                    },
                    true,
                )
                .await
                .unwrap();
        }
        let (_, secret) = ApiTokens::new(stores.store.clone())
            .create("ops-test", Role::Admin, chrono::Utc::now())
            .await
            .unwrap();
        stores.store.close().await;
        let config = write_config(dir.path(), &settings);

        let mut child = Command::new(harness::sees_binary())
            .current_dir(dir.path())
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env_remove("SEES_MASTER_KEY")
            .env_remove("RUST_LOG")
            .env("SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR", AUTHENTICATOR)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sees");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(value);
            }
        });
        let mut node = Node {
            child,
            lines,
            pki,
            sees_port: 0,
            admin_port: 0,
            ops_port: 0,
            admin_token: secret_text(&secret),
            store_url: settings.store.url.clone(),
            _dir: dir,
        };
        node.sees_port = node.ready_port("SEES listener ready").await;
        node.admin_port = node.ready_port("admin listener ready").await;
        node.ops_port = node.ready_port("ops listener ready").await;
        node
    }

    /// The port logged on the line whose message starts with `message`.
    async fn ready_port(&mut self, message: &str) -> u16 {
        let started = Instant::now();
        loop {
            let found = self.lines.lock().unwrap().iter().find_map(|line| {
                let text = line["message"].as_str()?;
                text.starts_with(message).then_some(())?;
                line["addr"].as_str()?.rsplit(':').next()?.parse().ok()
            });
            if let Some(port) = found {
                return port;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sees exited ({status}):\n{}", self.log());
            }
            assert!(started.elapsed() < PATIENCE, "not ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The log lines whose message is `message`.
    fn lines_with(&self, message: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["message"] == message)
            .cloned()
            .collect()
    }

    fn sees_client(&self) -> reqwest::Client {
        harness::client_with(harness::tls_client_config(
            &self.pki,
            Some(ClientCert::Dev),
            &[b"http/1.1"],
        ))
    }

    /// POSTs `body` to the SEES endpoint: status and answer.
    async fn entitlement(&self, body: Value) -> (u16, Value) {
        let response = self
            .sees_client()
            .post(format!(
                "https://localhost:{}/sees/v1/entitlement",
                self.sees_port
            ))
            .body(body.to_string())
            .send()
            .await
            .expect("SEES request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// An admin call with the admin token (or none): status and answer.
    async fn admin(&self, path: &str, token: bool) -> (u16, Value) {
        let mut request =
            reqwest::Client::new().get(format!("http://127.0.0.1:{}{path}", self.admin_port));
        if token {
            request = request.bearer_auth(&self.admin_token);
        }
        let response = request.send().await.expect("admin request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// GET on the ops listener: status and body.
    async fn ops(&self, path: &str) -> (u16, String) {
        let response = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", self.ops_port))
            .send()
            .await
            .expect("ops request");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn scrape(&self) -> Scrape {
        let (status, text) = self.ops("/metrics").await;
        assert_eq!(status, 200, "{text}");
        Scrape::parse(&text)
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end; whether it exited with 0.
    async fn exit_status(&mut self) -> bool {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "still running:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn secret_text(secret: &secrecy::SecretString) -> String {
    use secrecy::ExposeSecret;
    secret.expose_secret().to_owned()
}

/// The configuration: every listener on port 0, JSON logs, and deadlines long enough for the drain
/// test's slow upstream (5 s) to finish inside them.
fn write_config(dir: &Path, settings: &sees::config::Settings) -> PathBuf {
    let path = dir.join("sees.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nrequest_timeout_ms = 12000\nshutdown_grace_ms = 20000\n\
         [decision]\nmode = \"open\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\
         [ops]\nlisten = \"127.0.0.1:0\"\n\
         [log]\nformat = \"json\"\n\
         [tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n\
         [store]\nurl = {:?}\n\
         [keys]\nmaster_key_file = {:?}\n\
         [expressplay]\ntoken_url = {:?}\nrecord_url = {:?}\ntimeout_ms = 8000\nbudget_ms = 9000\n",
        settings.tls.cert,
        settings.tls.key,
        settings.tls.client_ca,
        settings.store.url,
        settings.keys.master_key_file,
        settings.expressplay.token_url,
        settings.expressplay.record_url,
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A parsed Prometheus text exposition: samples by name and labels.
struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let sample = regex::Regex::new(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$").unwrap();
        let label = regex::Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#).unwrap();
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|line| {
                let caps = sample
                    .captures(line)
                    .unwrap_or_else(|| panic!("not a sample line: {line}"));
                let labels = caps.get(2).map_or_else(BTreeMap::new, |m| {
                    label
                        .captures_iter(m.as_str())
                        .map(|c| (c[1].to_owned(), c[2].to_owned()))
                        .collect()
                });
                let value = caps[3].parse().unwrap_or(f64::NAN);
                (caps[1].to_owned(), labels, value)
            })
            .collect();
        Scrape {
            text: text.to_owned(),
            samples,
        }
    }

    /// The value of `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map(|(_, _, v)| *v)
    }

    fn expect(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in\n{}", self.text))
    }

    fn has_family(&self, name: &str) -> bool {
        self.text.contains(&format!("# TYPE {name} "))
    }
}

/// `promtool check metrics` on `text` when promtool is installed (CI installs it).
fn promtool_check(text: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        println!("NOTICE: promtool is not on PATH; `promtool check metrics` skipped (CI runs it)");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("promtool check metrics: ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_metrics_after_real_traffic_pass_promtool() {
    let sim = harness::start_simulator().await;
    let node = Node::start(&sim, &["c-ok", "c-fail"]).await;

    let (status, body) = node.ops("/healthz").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = node.ops("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        ready,
        json!({"status": "ready", "failing": [],
               "checks": {"store": "ok", "master_key": "ok", "tls": "ok"}})
    );
    assert_eq!(node.ops("/nothing").await.0, 404);

    // SEES: allowed, denied (no key), an upstream refusal, an unreadable request.
    let (status, allowed) = node
        .entitlement(json!({"messageID": "m-1", "version": 1, "contentID": "c-ok"}))
        .await;
    assert_eq!(
        (status, &allowed["isAllowed"]),
        (200, &json!(true)),
        "{allowed}"
    );
    let (_, denied) = node
        .entitlement(json!({"messageID": "m-2", "version": 1, "contentID": "c-none"}))
        .await;
    assert_eq!(denied["error"], 2001, "{denied}");
    sim.set_behaviour(Behaviour {
        force_error: Some(ForcedError {
            status: 400,
            code: -2005,
            text: "invalid content key".to_owned(),
        }),
        ..Behaviour::default()
    });
    let (_, refused) = node
        .entitlement(json!({"messageID": "m-3", "version": 1, "contentID": "c-fail"}))
        .await;
    assert_eq!(refused["error"], 4011, "{refused}");
    sim.set_behaviour(Behaviour::default());
    let (status, again) = node
        .entitlement(json!({"messageID": "m-4", "version": 1, "contentID": "c-ok"}))
        .await;
    assert_eq!(
        (status, &again["isAllowed"]),
        (200, &json!(true)),
        "{again}"
    );
    let unreadable = node
        .sees_client()
        .post(format!(
            "https://localhost:{}/sees/v1/entitlement",
            node.sees_port
        ))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(unreadable.status(), 400);

    // Admin: a listing, an unauthenticated call, a templated route, an unknown route.
    assert_eq!(node.admin("/oem/v1/user/packages", true).await.0, 200);
    assert_eq!(node.admin("/oem/v1/user/packages", false).await.0, 401);
    assert_eq!(
        node.admin("/oem/v1/user/packages/no-such-package", true)
            .await
            .0,
        404
    );
    assert_eq!(node.admin("/no/such/route", true).await.0, 404);

    // Handshake failures: plain HTTP on the TLS port, and TLS without a client certificate.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", node.sees_port))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut plain, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut plain, &mut answer)
        .await
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 400"));
    let no_cert = harness::client_with(harness::tls_client_config(&node.pki, None, &[b"http/1.1"]));
    assert!(no_cert
        .post(format!(
            "https://localhost:{}/sees/v1/entitlement",
            node.sees_port
        ))
        .body("{}")
        .send()
        .await
        .is_err());

    let m = node.scrape().await;
    let requests = "sees_entitlement_requests_total";
    assert_eq!(
        m.expect(
            requests,
            &[("outcome", "allowed"), ("error", "0"), ("drm", "fairplay")]
        ),
        2.0
    );
    assert_eq!(
        m.expect(
            requests,
            &[
                ("outcome", "denied"),
                ("error", "2001"),
                ("drm", "fairplay")
            ]
        ),
        1.0
    );
    assert_eq!(
        m.expect(
            requests,
            &[("outcome", "error"), ("error", "4011"), ("drm", "fairplay")]
        ),
        1.0
    );
    assert_eq!(
        m.expect(
            requests,
            &[("outcome", "error"), ("error", "1001"), ("drm", "fairplay")]
        ),
        1.0
    );
    assert_eq!(
        m.expect("sees_entitlement_duration_seconds_count", &[]),
        5.0
    );
    assert_eq!(
        m.expect(
            "sees_entitlement_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        5.0
    );
    assert!(m
        .value(
            "sees_entitlement_duration_seconds_bucket",
            &[("le", "0.0001")]
        )
        .is_some());
    assert!(m
        .value("sees_entitlement_duration_seconds_bucket", &[("le", "10")])
        .is_some());
    assert_eq!(m.expect("sees_key_lookup_duration_seconds_count", &[]), 4.0);
    assert_eq!(
        m.expect(
            "sees_upstream_duration_seconds_count",
            &[("service", "token")]
        ),
        3.0
    );
    // c-ok: a miss, then a hit; c-none and c-fail: misses.
    assert_eq!(m.expect("sees_key_cache_hits_total", &[]), 1.0);
    assert_eq!(m.expect("sees_key_cache_misses_total", &[]), 3.0);
    assert!(m.expect("sees_upstream_attempts_total", &[]) >= 3.0);
    assert_eq!(
        m.expect("sees_upstream_refused_total", &[("reason", "breaker_open")]),
        0.0
    );
    for service in ["token", "record"] {
        assert_eq!(
            m.expect("sees_upstream_breaker_state", &[("service", service)]),
            0.0
        );
    }
    assert_eq!(m.expect("sees_active_stream_leases", &[]), 0.0);
    assert_eq!(m.expect("sees_ready", &[]), 1.0);
    assert_eq!(
        m.expect("sees_tls_reloads_total", &[("result", "failed")]),
        0.0
    );
    assert_eq!(
        m.expect("sees_client_refusals_total", &[("reason", "not_allowed")]),
        0.0
    );
    assert_eq!(m.expect("sees_entitlement_requests_in_flight", &[]), 0.0);

    let admin = "sees_admin_requests_total";
    let get = |route: &'static str, status: &'static str| {
        [("route", route), ("method", "GET"), ("status", status)]
    };
    assert_eq!(m.expect(admin, &get("/oem/v1/user/packages", "200")), 1.0);
    assert_eq!(m.expect(admin, &get("/oem/v1/user/packages", "401")), 1.0);
    assert_eq!(
        m.expect(admin, &get("/oem/v1/user/packages/{packageID}", "404")),
        1.0
    );
    assert_eq!(m.expect(admin, &get("unmatched", "404")), 1.0);
    assert!(m.has_family("sees_admin_request_duration_seconds"));

    let failures = "sees_tls_handshake_failures_total";
    assert_eq!(
        m.expect(
            failures,
            &[("listener", "sees"), ("reason", "plaintext_http")]
        ),
        1.0
    );
    assert_eq!(
        m.expect(
            failures,
            &[("listener", "sees"), ("reason", "no_client_certificate")]
        ),
        1.0
    );
    // The scrape itself is on an open ops connection.
    assert!(m.expect("sees_open_connections", &[("listener", "ops")]) >= 1.0);
    assert!(m
        .value("sees_open_connections", &[("listener", "sees")])
        .is_some());
    assert!(m
        .value("sees_open_connections", &[("listener", "admin")])
        .is_some());

    // Bounded labels only: no content ID, messageID or raw path leaks into the exposition.
    for leak in ["c-ok", "c-none", "m-1", "no-such-package", "/no/such/route"] {
        assert!(!m.text.contains(leak), "{leak} in the exposition");
    }
    promtool_check(&m.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_log_lines_carry_the_message_id_and_the_request_id() {
    let sim = harness::start_simulator().await;
    let node = Node::start(&sim, &["c-log"]).await;

    let (_, answer) = node
        .entitlement(json!({"messageID": "m-log-7", "version": 1, "contentID": "c-log"}))
        .await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
    let (status, listing) = node.admin("/oem/v1/user/packages", true).await;
    assert_eq!(status, 200);
    let request_id = listing["requestID"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let (decided, answered) = loop {
        let decided = node.lines_with("entitlement decided");
        let answered = node.lines_with("admin request answered");
        if !decided.is_empty() && !answered.is_empty() {
            break (decided, answered);
        }
        assert!(started.elapsed() < PATIENCE, "no lines:\n{}", node.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let line = &decided[0];
    assert_eq!(line["span"]["name"], "entitlement", "{line}");
    assert_eq!(line["span"]["message_id"], "m-log-7", "{line}");
    assert_eq!(line["span"]["content_id"], "c-log", "{line}");
    let line = answered
        .iter()
        .find(|l| l["span"]["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no line with requestID {request_id}:\n{}", node.log()));
    assert_eq!(line["span"]["name"], "admin", "{line}");
    assert_eq!(line["status"], 200, "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_turns_readiness_off_refuses_new_connections_and_drains_in_flight_requests() {
    let sim = harness::start_simulator().await;
    let mut node = Node::start(&sim, &["c-slow"]).await;
    // The token service answers after 5 s: long enough to watch the drain from outside.
    sim.set_behaviour(Behaviour {
        delay_ms: 5_000,
        ..Behaviour::default()
    });
    let slow = {
        let client = node.sees_client();
        let url = format!("https://localhost:{}/sees/v1/entitlement", node.sees_port);
        tokio::spawn(async move {
            let response = client
                .post(url)
                .body(
                    json!({"messageID": "m-slow", "version": 1, "contentID": "c-slow"}).to_string(),
                )
                .send()
                .await
                .expect("the in-flight request is answered");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        })
    };
    let started = Instant::now();
    while node
        .scrape()
        .await
        .value("sees_entitlement_requests_in_flight", &[])
        != Some(1.0)
    {
        assert!(started.elapsed() < PATIENCE, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    node.terminate();
    let started = Instant::now();
    let draining = loop {
        let (status, body) = node.ops("/readyz").await;
        if status == 503 {
            break body;
        }
        assert_eq!(status, 200);
        assert!(started.elapsed() < PATIENCE, "readiness never turned false");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let draining: Value = serde_json::from_str(&draining).unwrap();
    assert_eq!(draining["failing"], json!(["draining"]), "{draining}");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", node.sees_port))
        .await
        .is_ok()
    {
        assert!(
            started.elapsed() < PATIENCE,
            "the SEES listener still accepts"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !slow.is_finished(),
        "the slow request should still be in flight while the node drains"
    );
    let (status, answer) = slow.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["isAllowed"], true, "{answer}");
    assert_eq!(answer["messageID"], "m-slow");

    assert!(node.exit_status().await, "exit 0 expected:\n{}", node.log());
    let stopped = node.lines_with("stopped");
    assert_eq!(stopped.len(), 1, "{}", node.log());
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", node.ops_port))
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_names_the_check_that_fails() {
    let sim = harness::start_simulator().await;
    let node = Node::start(&sim, &[]).await;
    assert_eq!(node.ops("/readyz").await.0, 200);

    // Another master key's canary: the running node's key no longer decrypts it.
    let store = sees::store::Store::connect(&node.store_url, 1)
        .await
        .unwrap();
    sqlx::query("UPDATE sees_meta SET value = $1 WHERE name = 'master_key_canary'")
        .bind(vec![7u8; 60])
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;

    let (status, body) = node.ops("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "not ready", "{body}");
    assert_eq!(body["failing"], json!(["master_key"]), "{body}");
    assert_eq!(body["checks"]["store"], "ok", "{body}");
    assert_eq!(
        body["checks"]["master_key"],
        "does not decrypt the key store's canary"
    );
    assert_eq!(node.ops("/healthz").await.0, 200, "alive all the same");
    assert_eq!(node.scrape().await.expect("sees_ready", &[]), 0.0);
}
