//! Secret hygiene end to end: the real binary at `RUST_LOG=trace` with JSON logs and an audit JSONL
//! file goes through a full scenario (keys imported, admin tokens created and used, playback
//! sessions opened, SEES requests allowed, denied and failed upstream, an end-user JWT, keys issued to
//! a packager over SPEKE and a refused packager, a SIGHUP
//! reload, `sees audit query`, /metrics, admin error bodies), and everything it produced — plus the
//! `Debug` renderings of the settings and key types — is scanned for every secret in play: no hits.
//! A positive control proves the scanner finds a secret that is there.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine;
use sees::expressplay::sim::{Behaviour, ForcedError};
use sees::tls::dev_pki::DevPki;
use serde_json::{json, Value};

use crate::harness::{self, process::SeesProcess, sees_binary, start_simulator, AUTHENTICATOR};

const KEYS: [(&str, &str, &str); 2] = [
    (
        "c-1",
        "8c3f2a91d04b6e7f1a2b3c4d5e6f7081",
        "f1e2d3c4b5a697887766554433221100",
    ),
    (
        "c-2",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "99887766554433221100ffeeddccbbaa",
    ),
];
const ISSUER: &str = "https://login.example.test/";
const JWT_SECRET: &str = "an-hs256-secret-of-more-than-32-bytes!";

fn sees(dir: &Path, config: &Path, args: &[&str]) -> Output {
    let output = Command::new(sees_binary())
        .current_dir(dir)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SEES_MASTER_KEY")
        .env("RUST_LOG", "trace")
        .output()
        .expect("running sees");
    assert!(output.status.success(), "sees {args:?}: {}", text(&output));
    output
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The forms in which `bytes` could leak: hex (both cases), base64 and base64url.
fn forms(bytes: &[u8]) -> Vec<String> {
    vec![
        hex::encode(bytes),
        hex::encode_upper(bytes),
        base64::engine::general_purpose::STANDARD.encode(bytes),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    ]
}

/// Every (haystack, secret) pair where the secret occurs.
fn hits(haystacks: &[(String, String)], secrets: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (where_, text) in haystacks {
        for (name, secret) in secrets {
            if text.contains(secret.as_str()) {
                found.push(format!("{name} in {where_}"));
            }
        }
    }
    found
}

fn jwt(sub: &str) -> String {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": ISSUER, "sub": sub, "iat": now, "exp": now + 600, "aud": "sees"});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_the_server_emits_contains_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::generate(&[]).unwrap();
    let sim = start_simulator().await;
    let settings = harness::test_settings(dir.path(), &pki, &sim);
    let audit_file = dir.path().join("audit.jsonl");
    let config = dir.path().join("sees.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[decision]\nmode = \"open\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [speke]\nlisten = \"127.0.0.1:0\"\n\
             [ops]\nlisten = \"127.0.0.1:0\"\n[tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n[store]\nurl = {:?}\n\
             [keys]\nmaster_key_file = {:?}\n[expressplay]\ntoken_url = {:?}\nrecord_url = {:?}\n\
             widevine_token_url = {:?}\nplayready_token_url = {:?}\n\
             [audit]\njsonl_path = {:?}\n[log]\nformat = \"json\"\nlevel = \"trace\"\n\
             [[auth.issuers]]\nissuer = {ISSUER:?}\naudience = \"sees\"\nalgorithms = [\"HS256\"]\nhs256_secret = {JWT_SECRET:?}\n",
            settings.tls.cert,
            settings.tls.key,
            settings.tls.client_ca,
            settings.store.url,
            settings.keys.master_key_file,
            settings.expressplay.token_url,
            settings.expressplay.record_url,
            settings.expressplay.widevine_token_url,
            settings.expressplay.playready_token_url,
            audit_file,
        ),
    )
    .unwrap();

    let mut outputs: Vec<(String, String)> = Vec::new();
    let import = dir.path().join("keys.jsonl");
    let lines: Vec<String> = KEYS
        .iter()
        .enumerate()
        .map(|(i, (id, key, iv))| {
            json!({"content_id": id, "key": key, "iv": iv, "kid": format!("{i:032x}")}).to_string()
        })
        .collect();
    std::fs::write(&import, lines.join("\n")).unwrap();
    let imported = sees(
        dir.path(),
        &config,
        &["keys", "import", import.to_str().unwrap()],
    );
    outputs.push(("`sees keys import` output".into(), text(&imported)));
    outputs.push((
        "`sees keys list` output".into(),
        text(&sees(dir.path(), &config, &["keys", "list"])),
    ));
    let created = sees(
        dir.path(),
        &config,
        &["tokens", "create", "--role", "admin", "--name", "hygiene"],
    );
    let admin_token = text(&created)
        .split_whitespace()
        .find(|w| w.starts_with(sees::admin::tokens::TOKEN_PREFIX))
        .expect("the printed token")
        .to_owned();
    outputs.push((
        "`sees tokens list` output".into(),
        text(&sees(dir.path(), &config, &["tokens", "list"])),
    ));
    let speke_created = sees(
        dir.path(),
        &config,
        &["speke", "credentials", "create", "--name", "packager"],
    );
    let speke_secret = String::from_utf8_lossy(&speke_created.stdout)
        .trim()
        .to_owned();
    assert!(
        speke_secret.starts_with("speke_"),
        "{}",
        text(&speke_created)
    );
    outputs.push((
        "`sees speke credentials list` output".into(),
        text(&sees(
            dir.path(),
            &config,
            &["speke", "credentials", "list"],
        )),
    ));

    let mut served = SeesProcess::start(
        dir.path(),
        &["--config", config.to_str().unwrap(), "serve"],
        &[
            ("RUST_LOG", "trace"),
            ("SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR", AUTHENTICATOR),
        ],
    );
    let port = served.addr("SEES listener ready").port().to_string();
    let admin = format!("http://{}", served.addr("admin listener ready"));
    let ops = format!("http://{}", served.addr("ops listener ready"));
    let speke = served.addr("SPEKE key-provider listener ready");
    let http = reqwest::Client::new();
    let mut bodies: Vec<(String, String)> = Vec::new();
    let mut call = async |what: &str,
                          method: reqwest::Method,
                          path: &str,
                          token: Option<&str>,
                          body: Option<Value>| {
        let request = harness::admin_request(&http, method, format!("{admin}{path}"), token, body);
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        // The answers that issue a cookie are where it is meant to be (shown once).
        if !what.starts_with("open") {
            bodies.push((format!("admin answer: {what} ({status})"), text.clone()));
        }
        (status, text)
    };

    // Admin API: sessions opened and revoked, and every kind of error.
    let sessions = "/oem/v1/admin/playback-sessions";
    let (status, opened) = call(
        "open a session",
        reqwest::Method::POST,
        sessions,
        Some(&admin_token),
        Some(json!({"uid": "alice"})),
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    let cookie = serde_json::from_str::<Value>(&opened).unwrap()["customerCookie"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, second) = call(
        "open another session",
        reqwest::Method::POST,
        sessions,
        Some(&admin_token),
        Some(json!({"uid": "bob"})),
    )
    .await;
    let revoked_cookie = serde_json::from_str::<Value>(&second).unwrap()["customerCookie"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        "revoke a session",
        reqwest::Method::DELETE,
        &format!("{sessions}/{revoked_cookie}"),
        Some(&admin_token),
        None,
    )
    .await;
    let forged = format!("{admin_token}x");
    let (status, _) = call(
        "a wrong token",
        reqwest::Method::POST,
        sessions,
        Some(&forged),
        Some(json!({"uid": "x"})),
    )
    .await;
    assert_eq!(status, 401);
    call(
        "no token",
        reqwest::Method::POST,
        sessions,
        None,
        Some(json!({"uid": "x"})),
    )
    .await;
    call(
        "an unknown field",
        reqwest::Method::POST,
        sessions,
        Some(&admin_token),
        Some(json!({"uid": "x", "cookie": cookie})),
    )
    .await;
    call(
        "a malformed body",
        reqwest::Method::POST,
        sessions,
        Some(&admin_token),
        Some(json!(format!("{{\"uid\": \"{cookie}"))),
    )
    .await;
    call(
        "an unknown route",
        reqwest::Method::GET,
        &format!("/oem/v1/admin/{admin_token}"),
        Some(&admin_token),
        None,
    )
    .await;
    // An end user with a JWT.
    let user_jwt = jwt("alice");
    call(
        "an end user's entitlements",
        reqwest::Method::GET,
        "/oem/v1/entitlements",
        Some(&user_jwt),
        None,
    )
    .await;
    call(
        "a forged end-user JWT",
        reqwest::Method::GET,
        "/oem/v1/entitlements",
        Some(&format!("{user_jwt}x")),
        None,
    )
    .await;

    // SEES: allowed, denied, and an upstream error that echoes the key.
    let client = harness::client_with(harness::tls_client_config(
        &pki,
        Some(harness::ClientCert::Dev),
        &[b"h2", b"http/1.1"],
    ));
    let url = format!("https://localhost:{port}/sees/v1/entitlement");
    let mut answers: Vec<(String, String)> = Vec::new();
    let mut post = async |what: &str, body: Value| {
        let answer = client
            .post(&url)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let text = answer.text().await.unwrap();
        answers.push((format!("SEES answer: {what}"), text.clone()));
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let allowed = post(
        "allowed",
        json!({"messageID": "m-1", "version": 1, "contentID": "c-1",
        "customerCookie": cookie}),
    )
    .await;
    assert_eq!(allowed["isAllowed"], true, "{allowed}");
    post(
        "unknown content",
        json!({"messageID": "m-2", "version": 1, "contentID": "nope",
        "customerCookie": cookie}),
    )
    .await;
    post(
        "an over-long cookie",
        json!({"messageID": "m-3", "version": 1, "contentID": "c-1",
        "customerCookie": format!("{cookie}{cookie}{cookie}{cookie}{cookie}")}),
    )
    .await;
    sim.set_behaviour(Behaviour {
        force_error: Some(ForcedError {
            status: 400,
            code: -2005,
            text: format!("invalid content key {} for {AUTHENTICATOR}", KEYS[0].1),
        }),
        ..Behaviour::default()
    });
    let upstream = post(
        "an upstream refusal echoing the key",
        json!({"messageID": "m-4",
        "version": 1, "contentID": "c-1", "customerCookie": cookie}),
    )
    .await;
    assert_eq!(upstream["error"], 4011, "{upstream}");
    sim.set_behaviour(Behaviour {
        force_error: Some(ForcedError {
            status: 500,
            code: -1,
            text: format!("internal error, authenticator {AUTHENTICATOR}"),
        }),
        ..Behaviour::default()
    });
    post(
        "an upstream failure",
        json!({"messageID": "m-5", "version": 1, "contentID": "c-2",
        "customerCookie": revoked_cookie}),
    )
    .await;

    // SPEKE: a packager gets a new key (the answer is where it is meant to be), and a wrong
    // password is refused.
    let speke_url = format!(
        "https://localhost:{}/speke/v2.0/copyProtection",
        speke.port()
    );
    let speke_client = harness::client_with(harness::tls_client_config(&pki, None, &[b"http/1.1"]));
    let cpix = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/speke/preset_video_1_audio_1_fairplay.xml"),
    )
    .unwrap();
    let mut speke_keys = Vec::new();
    for (user, password) in [
        ("packager", speke_secret.as_str()),
        ("packager", "speke_wrong"),
    ] {
        let answer = speke_client
            .post(&speke_url)
            .basic_auth(user, Some(password))
            .header("x-speke-version", "2.0")
            .header("content-type", "application/xml")
            .body(cpix.clone())
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap();
        if status == 200 {
            let doc = roxmltree::Document::parse(&body).unwrap();
            for key in doc.descendants().filter(|n| n.has_tag_name("ContentKey")) {
                let b64 = |t: &str| base64::engine::general_purpose::STANDARD.decode(t).unwrap();
                let plain = key
                    .descendants()
                    .find(|n| n.has_tag_name("PlainValue"))
                    .unwrap();
                speke_keys.push((
                    b64(plain.text().unwrap()),
                    b64(key.attribute("explicitIV").unwrap()),
                ));
            }
        } else {
            assert_eq!(status, 401, "{body}");
            answers.push(("SPEKE refusal".into(), body));
        }
    }
    assert_eq!(speke_keys.len(), 2, "the packager got its keys");

    // Widevine and PlayReady: allowed, and a Widevine refusal that echoes the key.
    for (drm, path) in [
        ("widevine", "/sees/v1/widevine"),
        ("playready", "/sees/v1/playready"),
    ] {
        let answer = client
            .post(format!("https://localhost:{port}{path}"))
            .body(
                json!({"messageID": format!("m-{drm}"), "version": 1, "contentID": "c-1",
                "customerCookie": cookie})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        let text = answer.text().await.unwrap();
        assert!(text.contains("\"isAllowed\":true"), "{drm}: {text}");
        answers.push((format!("SEES answer: {drm}"), text));
    }
    sim.set_behaviour_for(
        sees::drm::Drm::Widevine,
        Behaviour {
            force_error: Some(ForcedError {
                status: 400,
                code: -7004,
                text: format!(
                    "invalid security level for key {} ({AUTHENTICATOR})",
                    KEYS[0].1
                ),
            }),
            ..Behaviour::default()
        },
    );
    let refused = client
        .post(format!("https://localhost:{port}/sees/v1/widevine"))
        .body(
            json!({"messageID": "m-wv-err", "version": 1, "contentID": "c-1", "customerCookie": cookie})
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.contains("4020"), "{refused}");
    answers.push((
        "SEES answer: a Widevine refusal echoing the key".into(),
        refused,
    ));

    served.signal("HUP");
    served.wait_for("TLS configuration reloaded");
    let metrics = http
        .get(format!("{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("# TYPE"), "{metrics}");
    assert!(
        served.terminate(),
        "sees did not exit cleanly:\n{}",
        served.log()
    );
    let log = format!("{}\n{}", served.stdout(), served.log());
    assert!(
        log.contains("entitlement decided"),
        "the log is captured:\n{log}"
    );

    let audit_query = text(&sees(dir.path(), &config, &["audit", "query"]));
    assert!(audit_query.contains("m-1"), "{audit_query}");
    let audit_jsonl = std::fs::read_to_string(&audit_file).expect("the audit JSONL file");
    assert!(audit_jsonl.contains("m-4"), "{audit_jsonl}");

    // Debug renderings reachable in-process.
    let loaded = sees::config::Settings::load_with_env(
        Some(&config),
        false,
        vec![(
            "SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR".to_owned(),
            AUTHENTICATOR.to_owned(),
        )],
    )
    .expect("the configuration loads");
    let master_text = std::fs::read_to_string(&settings.keys.master_key_file).unwrap();
    let master = sees::keys::MasterKey::load(None, &settings.keys.master_key_file).unwrap();
    let content_keys: Vec<String> = KEYS
        .iter()
        .map(|(_, key, iv)| {
            let mut cek = [0u8; 16];
            let mut v = [0u8; 16];
            cek.copy_from_slice(&hex::decode(key).unwrap());
            v.copy_from_slice(&hex::decode(iv).unwrap());
            format!(
                "{:?} {:#?}",
                sees::keys::ContentKey::new(cek, v),
                sees::keys::ContentKey::new(cek, v)
            )
        })
        .collect();
    let debug = [
        ("Debug of Settings", format!("{loaded:?} {loaded:#?}")),
        ("Debug of MasterKey", format!("{master:?} {master:#?}")),
        ("Debug of ContentKey", content_keys.join("\n")),
        ("Debug of DevPki", format!("{pki:?} {pki:#?}")),
    ];

    let mut haystacks: Vec<(String, String)> = vec![
        ("server log (JSON, trace)".into(), log.clone()),
        ("audit JSONL file".into(), audit_jsonl),
        ("`sees audit query` output".into(), audit_query),
        ("/metrics".into(), metrics),
    ];
    haystacks.extend(outputs);
    haystacks.extend(bodies);
    haystacks.extend(answers);
    haystacks.extend(debug.into_iter().map(|(k, v)| (k.to_owned(), v)));

    let mut secrets: Vec<(String, String)> = Vec::new();
    for (id, key, iv) in KEYS {
        for form in forms(&hex::decode(key).unwrap()) {
            secrets.push((format!("content key of {id}"), form));
        }
        for form in forms(&hex::decode(iv).unwrap()) {
            secrets.push((format!("IV of {id}"), form));
        }
    }
    let master_bytes = base64::engine::general_purpose::STANDARD
        .decode(master_text.trim())
        .expect("the master key file is base64");
    for form in forms(&master_bytes) {
        secrets.push(("master key".into(), form));
    }
    for (key, iv) in &speke_keys {
        for form in forms(key) {
            secrets.push(("content key issued over SPEKE".into(), form));
        }
        for form in forms(iv) {
            secrets.push(("IV issued over SPEKE".into(), form));
        }
    }
    secrets.push((
        "SPEKE credential secret".into(),
        speke_secret["speke_".len()..].to_owned(),
    ));
    secrets.push((
        "ExpressPlay authenticator".into(),
        AUTHENTICATOR[5..].to_owned(),
    ));
    secrets.push((
        "admin API token".into(),
        admin_token[sees::admin::tokens::TOKEN_PREFIX.len()..].to_owned(),
    ));
    secrets.push(("playback-session cookie".into(), cookie.clone()));
    secrets.push((
        "revoked playback-session cookie".into(),
        revoked_cookie.clone(),
    ));
    secrets.push((
        "end-user JWT signature".into(),
        user_jwt.rsplit('.').next().unwrap().to_owned(),
    ));
    secrets.push(("end-user JWT".into(), user_jwt.clone()));
    secrets.push(("JWT issuer secret".into(), JWT_SECRET.to_owned()));
    for (name, pem) in [
        ("server private key", pki.server_key_pem()),
        ("client private key", pki.client_key_pem()),
    ] {
        for line in pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        {
            secrets.push((name.into(), line.to_owned()));
        }
    }

    // Positive control: the scanner finds each kind of secret where it is.
    let planted: Vec<(String, String)> = secrets
        .iter()
        .map(|(name, secret)| {
            (
                format!("planted {name}"),
                format!("{{\"x\":\"..{secret}..\"}}"),
            )
        })
        .collect();
    assert!(
        hits(&planted, &secrets).len() >= secrets.len(),
        "the scanner misses secrets"
    );
    assert!(!hits(
        &[(
            "control".into(),
            log.replace("entitlement decided", &cookie)
        )],
        &secrets
    )
    .is_empty());

    let found = hits(&haystacks, &secrets);
    let scanned: usize = haystacks.iter().map(|(_, t)| t.len()).sum();
    println!(
        "secret hygiene: {} secret forms scanned in {} outputs ({scanned} bytes, {} log lines): {} hits",
        secrets.len(),
        haystacks.len(),
        log.lines().count(),
        found.len()
    );
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
}
