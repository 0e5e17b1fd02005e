//! Live TLS reload with real clients: the server certificate rotates under load without a failed
//! request, a client certificate revoked mid-test loses access on its open connection and at new
//! handshakes, every broken file keeps the old configuration serving, SIGHUP storms are coalesced, and
//! the real binary reloads on `kill -HUP`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sees::tls::dev_pki::DevPki;
use sees::tls::live::ReloadOutcome;

use crate::harness::{
    process::SeesProcess, replace_file, request, spawn_with_pki, spawn_with_tls, start_simulator,
    tls_client_config, ClientCert, KeptConnection, TestServer, AUTHENTICATOR,
};

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec()
}

/// The leaf certificate a new connection with the dev client certificate is served.
async fn served_certificate(server: &TestServer) -> Vec<u8> {
    KeptConnection::open(
        server.addr,
        tls_client_config(&server.pki, Some(ClientCert::Dev), &[]),
    )
    .await
    .expect("a new connection")
    .server_certificate()
}

/// Adds key `c-1`, opens a connection with the dev client certificate and checks that one
/// request on it is served (200); the connection stays open for the caller.
async fn served_dev_connection(server: &TestServer) -> KeptConnection {
    server.add_key("c-1").await;
    let mut connection = KeptConnection::open(
        server.addr,
        tls_client_config(&server.pki, Some(ClientCert::Dev), &[]),
    )
    .await
    .unwrap();
    assert_eq!(connection.post(&request("m", "c-1")).await.unwrap().0, 200);
    connection
}

/// One request on a new connection with `cert`; the status and error number, or the failure.
async fn fresh_request(server: &TestServer, cert: ClientCert<'_>) -> Result<(u16, i64), String> {
    let mut connection =
        KeptConnection::open(server.addr, tls_client_config(&server.pki, Some(cert), &[])).await?;
    let (status, _, answer) = connection.post(&request("m", "c-1")).await?;
    Ok((status, answer["error"].as_i64().unwrap_or(0)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_certificate_rotates_while_clients_keep_sending_without_a_failure() {
    let (server, tls) = spawn_with_tls(|s| s.tls.reload_check = Duration::ZERO).await;
    server.add_key("c-1").await;
    let server = Arc::new(server);
    let old = served_certificate(&server).await;
    assert_eq!(old, der(server.pki.server_cert_pem()));

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    // One keep-alive client (reqwest's pool) and one opening a new connection per request.
    for fresh in [false, true] {
        let (server, stop, done, failures) = (
            Arc::clone(&server),
            Arc::clone(&stop),
            Arc::clone(&done),
            Arc::clone(&failures),
        );
        clients.push(tokio::spawn(async move {
            let pooled = server.client();
            while !stop.load(Ordering::SeqCst) {
                let outcome = if fresh {
                    fresh_request(&server, ClientCert::Dev).await
                } else {
                    match pooled
                        .post(server.url("/sees/v1/entitlement"))
                        .body(request("m", "c-1"))
                        .send()
                        .await
                    {
                        Ok(r) => Ok((r.status().as_u16(), 0)),
                        Err(e) => Err(e.to_string()),
                    }
                };
                match outcome {
                    Ok((200, _)) => {}
                    other => failures.lock().unwrap().push(format!("{other:?}")),
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let wait_for = |count: u64| {
        let done = Arc::clone(&done);
        async move {
            while done.load(Ordering::SeqCst) < count {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait_for(20))
        .await
        .expect("requests before the rotation");

    let (cert, key) = server.pki.issue_server(&[]).unwrap();
    replace_file(&server.settings.tls.key, key.as_bytes());
    replace_file(&server.settings.tls.cert, cert.as_bytes());
    assert_eq!(tls.reload("test rotation").await, ReloadOutcome::Reloaded);
    let rotated_at = done.load(Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(30), wait_for(rotated_at + 40))
        .await
        .expect("requests after the rotation");
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }

    assert_eq!(*failures.lock().unwrap(), Vec::<String>::new());
    let new = served_certificate(&server).await;
    assert_ne!(new, old);
    assert_eq!(new, der(&cert), "new connections see the new certificate");
    assert_eq!(tls.counters().values().reloads, 1);
}

#[tokio::test]
async fn a_changed_certificate_is_picked_up_by_the_poll_without_a_signal() {
    let (server, tls) = spawn_with_tls(|s| s.tls.reload_check = Duration::from_millis(50)).await;
    let old = served_certificate(&server).await;
    let (cert, key) = server.pki.issue_server(&[]).unwrap();
    replace_file(&server.settings.tls.key, key.as_bytes());
    replace_file(&server.settings.tls.cert, cert.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(10);
    while tls.counters().values().reloads == 0 {
        assert!(Instant::now() < deadline, "the poll did not reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new = served_certificate(&server).await;
    assert_ne!(new, old);
    assert_eq!(new, der(&cert));
}

/// A client certificate of `pki` with common name `cn`: (certificate PEM, key PEM).
fn client(pki: &DevPki, cn: &str) -> (String, String) {
    let (cert, key) = pki.issue_client(cn).unwrap();
    (cert, key.to_string())
}

#[tokio::test]
async fn a_client_revoked_mid_test_loses_access_on_its_open_connection_and_at_new_handshakes() {
    let pki = DevPki::generate(&[]).unwrap();
    let crls = tempfile::tempdir().unwrap();
    let crl = crls.path().join("clients.crl");
    std::fs::write(&crl, pki.crl_pem(&[], 1).unwrap()).unwrap();
    let (revokee_cert, revokee_key) = client(&pki, "revokee");
    let (server, tls) = spawn_with_pki(pki, |s| {
        s.tls.reload_check = Duration::ZERO;
        s.tls.max_connection_age = Duration::from_secs(1);
        s.tls.crls = vec![crl.clone()];
    })
    .await;
    server.add_key("c-1").await;
    let revokee = || ClientCert::Pem(&revokee_cert, &revokee_key);

    let mut open = KeptConnection::open(
        server.addr,
        tls_client_config(&server.pki, Some(revokee()), &[]),
    )
    .await
    .unwrap();
    let opened = Instant::now();
    let (status, _, answer) = open.post(&request("before", "c-1")).await.unwrap();
    assert_eq!(
        (status, answer["isAllowed"].as_bool()),
        (200, Some(true)),
        "{answer}"
    );

    replace_file(
        &crl,
        server
            .pki
            .crl_pem(&[revokee_cert.as_str()], 2)
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(tls.reload("test revocation").await, ReloadOutcome::Reloaded);

    // The open connection: its next request is refused in the SEES shape…
    let (status, _, answer) = open.post(&request("after", "c-1")).await.unwrap();
    assert_eq!(
        (status, answer["error"].as_i64()),
        (403, Some(1014)),
        "{answer}"
    );
    assert_eq!(answer["isAllowed"], false);
    assert_eq!(answer["epTokenURL"], "");
    // …and the connection itself ends within tls.max_connection_age_s.
    assert!(
        open.closed_within(Duration::from_secs(5)).await,
        "the connection outlived its maximum age"
    );
    assert!(
        opened.elapsed() < Duration::from_millis(3_000),
        "{:?}",
        opened.elapsed()
    );

    // New connections: refused at the handshake (TLS 1.3 reports it on the first read).
    let refused = fresh_request(&server, revokee()).await;
    assert!(refused.is_err(), "{refused:?}");
    // Everyone else is still served.
    assert_eq!(fresh_request(&server, ClientCert::Dev).await, Ok((200, 0)));
    assert!(tls.counters().values().revoked_refused >= 1);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_its_maximum_age_and_unlimited_keeps_it() {
    let (server, _tls) =
        spawn_with_tls(|s| s.tls.max_connection_age = Duration::from_secs(1)).await;
    let mut connection = served_dev_connection(&server).await;
    assert!(connection.closed_within(Duration::from_secs(5)).await);

    let (server, _tls) = spawn_with_tls(|s| s.tls.max_connection_age = Duration::ZERO).await;
    let mut connection = served_dev_connection(&server).await;
    assert!(!connection.closed_within(Duration::from_millis(1_500)).await);
    assert_eq!(connection.post(&request("m", "c-1")).await.unwrap().0, 200);
}

#[tokio::test]
async fn each_broken_file_keeps_the_old_configuration_serving() {
    let pki = DevPki::generate(&[]).unwrap();
    let crls = tempfile::tempdir().unwrap();
    let crl = crls.path().join("clients.crl");
    let good_crl = pki.crl_pem(&[], 1).unwrap();
    std::fs::write(&crl, &good_crl).unwrap();
    let (server, tls) = spawn_with_pki(pki, |s| {
        s.tls.reload_check = Duration::ZERO;
        s.tls.crls = vec![crl.clone()];
    })
    .await;
    server.add_key("c-1").await;
    let original = served_certificate(&server).await;
    let paths = server.settings.tls.clone();
    let stranger = DevPki::generate(&[]).unwrap();
    let (other_cert, other_key) = server.pki.issue_server(&[]).unwrap();

    type Case<'a> = (&'a str, &'a Path, Vec<u8>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "corrupt certificate PEM",
            &paths.cert,
            b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"
                .to_vec(),
            "server.pem",
        ),
        (
            "a key that does not match the certificate",
            &paths.key,
            other_key.as_bytes().to_vec(),
            "server.key is not the private key of the certificate",
        ),
        (
            "a certificate without its key",
            &paths.cert,
            other_cert.as_bytes().to_vec(),
            "server.key is not the private key of the certificate",
        ),
        (
            "a CRL from another CA",
            &crl,
            stranger.crl_pem(&[], 1).unwrap().into_bytes(),
            "clients.crl has a signature the client CA did not make",
        ),
        (
            "a corrupt CRL",
            &crl,
            b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n".to_vec(),
            "clients.crl is not a readable CRL",
        ),
        (
            "a client CA bundle without certificates",
            &paths.client_ca,
            b"nothing here\n".to_vec(),
            "ca.pem",
        ),
    ];
    let mut failures = 0;
    for (what, path, contents, says) in cases {
        let before = std::fs::read(path).unwrap();
        replace_file(path, &contents);
        let outcome = tls.reload(what).await;
        failures += 1;
        match &outcome {
            ReloadOutcome::Failed(why) => {
                assert!(why.contains(says), "{what}: {why}");
                assert!(!why.contains("BEGIN"), "{what}: {why}");
            }
            ReloadOutcome::Reloaded => panic!("{what} was accepted"),
        }
        assert_eq!(tls.counters().values().reload_failures, failures, "{what}");
        assert_eq!(served_certificate(&server).await, original, "{what}");
        assert_eq!(
            fresh_request(&server, ClientCert::Dev).await,
            Ok((200, 0)),
            "{what}"
        );
        replace_file(path, &before);
    }

    // An unreadable file (removed).
    std::fs::remove_file(&paths.client_ca).unwrap();
    let ReloadOutcome::Failed(why) = tls.reload("missing CA").await else {
        panic!("a missing CA bundle was accepted");
    };
    assert!(
        why.contains("ca.pem") && why.contains("cannot read"),
        "{why}"
    );
    assert_eq!(fresh_request(&server, ClientCert::Dev).await, Ok((200, 0)));
    std::fs::write(&paths.client_ca, server.pki.ca_cert_pem()).unwrap();

    assert_eq!(tls.reload("restored").await, ReloadOutcome::Reloaded);
    assert_eq!(fresh_request(&server, ClientCert::Dev).await, Ok((200, 0)));
    assert_eq!(tls.counters().values().reloads, 1);
}

#[tokio::test]
async fn a_sighup_storm_is_coalesced() {
    let (_server, tls) = spawn_with_tls(|s| s.tls.reload_check = Duration::ZERO).await;
    // Fifty signals at once: each handler is a task of its own, all queued before the first reload
    // can finish (a `join_all` of 50 would poll them in batches of 32, spreading them over reloads).
    let storm: Vec<_> = (0..50)
        .map(|_| {
            let tls = Arc::clone(&tls);
            tokio::spawn(async move { tls.reload("SIGHUP").await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for handler in storm {
        outcomes.push(handler.await.unwrap());
    }
    assert!(outcomes.iter().all(|o| *o == ReloadOutcome::Reloaded));
    let reloads = tls.counters().values().reloads;
    assert!(
        (1..=2).contains(&reloads),
        "{reloads} reloads for 50 signals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_reloads_certificate_and_allow_list_on_kill_hup() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_simulator().await;
    let pki = DevPki::generate(&[]).unwrap();
    let paths = pki.write_to(&dir.path().join("certs"), false).unwrap();
    let master = dir.path().join("master.key");
    sees::keys::MasterKey::generate_file(&master).unwrap();
    let config = dir.path().join("sees.toml");
    let write_config = |allowed: &str| {
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n\
                 [admin]\nlisten = \"127.0.0.1:0\"\n\
                 [tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\nreload_check_ms = 0\n\
                 allowed_clients = [{allowed}]\n\
                 [store]\nurl = \"sqlite://{}\"\n\
                 [keys]\nmaster_key_file = {:?}\n\
                 [decision]\nmode = \"open\"\n\
                 [expressplay]\ntoken_url = {:?}\ncustomer_authenticator = {AUTHENTICATOR:?}\n",
                paths.server_cert,
                paths.server_key,
                paths.ca_cert,
                dir.path().join("sees.db").display(),
                master,
                sim.token_url(),
            ),
        )
        .unwrap();
    };
    write_config("");
    let mut served = SeesProcess::start(
        dir.path(),
        &["--config", config.to_str().unwrap(), "serve"],
        &[],
    );
    let addr = served.addr("SEES listener ready");
    let connect =
        || KeptConnection::open(addr, tls_client_config(&pki, Some(ClientCert::Dev), &[]));
    let before = connect().await.unwrap().server_certificate();
    assert_eq!(before, der(pki.server_cert_pem()));

    let (cert, key) = pki.issue_server(&[]).unwrap();
    replace_file(&paths.server_key, key.as_bytes());
    replace_file(&paths.server_cert, cert.as_bytes());
    write_config("\"cn:someone-else\"");
    served.signal("HUP");
    served.wait_for("TLS configuration reloaded");
    let mut after = connect().await.unwrap();
    assert_eq!(after.server_certificate(), der(&cert));
    let (status, _, answer) = after.post(&request("m", "c-1")).await.unwrap();
    assert_eq!(
        (status, answer["error"].as_i64()),
        (403, Some(1015)),
        "{answer}"
    );

    // A broken file on the next SIGHUP: one warning naming it, the previous configuration kept.
    replace_file(&paths.server_key, b"garbage");
    served.signal("HUP");
    let warning = served.wait_for("TLS reload failed");
    assert!(warning.contains("server.key"), "{warning}");
    assert!(!warning.contains("garbage"), "{warning}");
    assert_eq!(
        connect().await.unwrap().server_certificate(),
        der(&cert),
        "the previous configuration keeps serving"
    );
    served.signal("TERM");
}

#[tokio::test]
async fn shutdown_closes_idle_connections_at_once_instead_of_waiting_out_the_grace() {
    let (server, _tls) =
        spawn_with_tls(|s| s.server.shutdown_grace = Duration::from_millis(20_000)).await;
    let mut idle = served_dev_connection(&server).await;
    let started = Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(idle.closed_within(Duration::from_secs(1)).await);
}
