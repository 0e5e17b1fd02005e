//! The client allow-list and the per-client rate limit, with real client certificates: each entry
//! kind admits its certificate, an unlisted one gets the documented 403 / 1015, a reload changes the
//! list, and one identity hammering gets 429 / 1016 while another is served.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sees::tls::live::ReloadOutcome;
use sees::tls::peer::PeerCertificate;

use crate::harness::{
    self, request, spawn_with_tls, tls_client_config, ClientCert, KeptConnection, TestServer,
};

/// One request on a new connection presenting (`cert`, `key`); status, headers, answer.
async fn ask(
    server: &TestServer,
    cert: &str,
    key: &str,
) -> (u16, Vec<(String, String)>, serde_json::Value) {
    let mut connection = KeptConnection::open(
        server.addr,
        tls_client_config(&server.pki, Some(ClientCert::Pem(cert, key)), &[]),
    )
    .await
    .expect("the handshake succeeds: the allow-list acts at the HTTP layer");
    connection
        .post(&request("m-allow", "c-1"))
        .await
        .expect("an answer")
}

fn spki_hex(cert_pem: &str) -> String {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    PeerCertificate::parse(&der).unwrap().spki_hex()
}

#[tokio::test]
async fn each_entry_kind_admits_its_certificate_and_others_get_1015() {
    let pki = sees::tls::dev_pki::DevPki::generate(&[]).unwrap();
    let by_dns = pki
        .issue_client_with_sans("dns-client", &["player.example.com"])
        .unwrap();
    let by_uri = pki
        .issue_client_with_sans("uri-client", &["spiffe://example.com/player"])
        .unwrap();
    let by_cn = pki.issue_client("listed-by-cn").unwrap();
    let by_key = pki.issue_client("pinned").unwrap();
    let stranger = pki
        .issue_client_with_sans("stranger", &["other.example.com"])
        .unwrap();
    let pin = spki_hex(&by_key.0);
    let (server, tls) = harness::spawn_with_pki(pki, |s| {
        s.tls.allowed_clients = vec![
            "dns:Player.Example.com".to_owned(),
            "uri:spiffe://example.com/player".to_owned(),
            "cn:listed-by-cn".to_owned(),
            format!("spki-sha256:{pin}"),
        ];
    })
    .await;
    server.add_key("c-1").await;

    for (what, (cert, key)) in [
        ("dns", &by_dns),
        ("uri", &by_uri),
        ("cn", &by_cn),
        ("spki-sha256", &by_key),
    ] {
        let (status, _, answer) = ask(&server, cert, key).await;
        assert_eq!(
            (status, answer["isAllowed"].as_bool()),
            (200, Some(true)),
            "{what}: {answer}"
        );
    }
    for (what, cert, key) in [
        ("stranger", stranger.0.as_str(), stranger.1.as_str()),
        (
            "dev client",
            server.pki.client_cert_pem(),
            server.pki.client_key_pem(),
        ),
    ] {
        let (status, _, answer) = ask(&server, cert, key).await;
        assert_eq!(status, 403, "{what}: {answer}");
        assert_eq!(answer["error"], 1015, "{what}: {answer}");
        assert_eq!(answer["isAllowed"], false);
        assert_eq!(answer["messageID"], "");
        assert!(
            answer["errorText"]
                .as_str()
                .is_some_and(|t| t.contains("tls.allowed_clients")),
            "{answer}"
        );
    }
    assert_eq!(tls.counters().values().not_allowed_refused, 2);
}

#[tokio::test]
async fn an_empty_list_admits_every_certificate_of_the_client_ca() {
    let (server, tls) = spawn_with_tls(|_| {}).await;
    server.add_key("c-1").await;
    let (cert, key) = server.pki.issue_client("anyone").unwrap();
    assert_eq!(ask(&server, &cert, &key).await.0, 200);
    assert_eq!(tls.counters().values().not_allowed_refused, 0);
}

#[tokio::test]
async fn a_reload_that_reads_new_settings_changes_the_list() {
    let (server, tls) =
        spawn_with_tls(|s| s.tls.allowed_clients = vec!["cn:nobody".to_owned()]).await;
    server.add_key("c-1").await;
    let dev = (server.pki.client_cert_pem(), server.pki.client_key_pem());
    assert_eq!(ask(&server, dev.0, dev.1).await.0, 403);

    let mut next = server.settings.tls.clone();
    next.allowed_clients = vec!["cn:sees-dev-client".to_owned()];
    let source = std::sync::Mutex::new(Ok(next));
    let source = Arc::new(source);
    let reader = Arc::clone(&source);
    tls.reread_settings_with(Arc::new(move || reader.lock().unwrap().clone()));
    assert_eq!(tls.reload("SIGHUP").await, ReloadOutcome::Reloaded);
    assert_eq!(ask(&server, dev.0, dev.1).await.0, 200);

    // A configuration that can no longer be read keeps the list in use.
    *source.lock().unwrap() = Err("tls.allowed_clients: \"bogus\" must be dns:NAME, …".to_owned());
    let outcome = tls.reload("SIGHUP").await;
    assert!(
        matches!(&outcome, ReloadOutcome::Failed(why) if why.contains("bogus")),
        "{outcome:?}"
    );
    assert_eq!(ask(&server, dev.0, dev.1).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_identity_hammering_gets_429_while_another_is_served() {
    let (server, tls) = spawn_with_tls(|s| {
        s.server.rate_limit_per_s = 1;
        s.server.rate_burst = 5;
    })
    .await;
    server.add_key("c-1").await;
    let mut hammer = KeptConnection::open(
        server.addr,
        tls_client_config(&server.pki, Some(ClientCert::Dev), &[]),
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let (mut served, mut limited) = (0u64, 0u64);
    let mut retry_after = None;
    for i in 0..30 {
        let (status, headers, answer) = hammer
            .post(&request(&format!("h-{i}"), "c-1"))
            .await
            .unwrap();
        match status {
            200 => served += 1,
            429 => {
                limited += 1;
                assert_eq!(answer["error"], 1016, "{answer}");
                assert_eq!(answer["isAllowed"], false, "{answer}");
                retry_after = headers
                    .iter()
                    .find(|(name, _)| name == "retry-after")
                    .map(|(_, v)| v.clone());
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    let elapsed = started.elapsed().as_secs();
    // The burst, plus at most one token per elapsed second.
    assert!(
        served >= 5 && served <= 5 + elapsed + 1,
        "{served} served in {elapsed} s"
    );
    assert_eq!(served + limited, 30);
    let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=1).contains(&retry_after), "{retry_after}");

    // Another identity (another key) is served, on the same server, at once.
    let (cert, key) = server.pki.issue_client("patient").unwrap();
    let (status, _, answer) = ask(&server, &cert, &key).await;
    assert_eq!(
        (status, answer["isAllowed"].as_bool()),
        (200, Some(true)),
        "{answer}"
    );
    assert_eq!(tls.counters().values().rate_limited, limited);
}
