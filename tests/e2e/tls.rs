//! The listener's TLS policy, tested with real clients: tokio-rustls, raw TCP and `openssl s_client`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sees::tls::dev_pki::DevPki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{request, spawn, spawn_with, tls_client_config, ClientCert, TestServer};

/// Sends one HTTP/1.1 request over a TLS client built from `config`; the raw answer, or the error that
/// ended the exchange.
async fn exchange(server: &TestServer, config: rustls::ClientConfig) -> Result<String, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let body = request("m-tls", "c-1");
    let head = format!(
        "POST /sees/v1/entitlement HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(head.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer)
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(answer)
}

#[tokio::test]
async fn the_dev_client_certificate_is_accepted() {
    let server = spawn().await;
    server.add_key("c-1").await;
    let answer = exchange(
        &server,
        tls_client_config(&server.pki, Some(ClientCert::Dev), &[]),
    )
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""isAllowed":true"#), "{answer}");
}

#[tokio::test]
async fn no_client_certificate_is_refused_at_the_handshake() {
    let server = spawn().await;
    let outcome = exchange(&server, tls_client_config(&server.pki, None, &[])).await;
    let error = outcome.expect_err("a client without a certificate got an answer");
    assert!(
        error.contains("CertificateRequired") || error.contains("certificate"),
        "{error}"
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_at_the_handshake() {
    let server = spawn().await;
    let stranger = DevPki::generate(&[]).unwrap();
    let (cert, key) = stranger.issue_client("stranger").unwrap();
    let outcome = exchange(
        &server,
        tls_client_config(&server.pki, Some(ClientCert::Pem(&cert, &key)), &[]),
    )
    .await;
    let error = outcome.expect_err("a certificate from another CA got an answer");
    assert!(
        error.contains("UnknownCA") || error.contains("alert"),
        "{error}"
    );

    let (cert, key) = server.pki.issue_client("second-client").unwrap();
    let answer = exchange(
        &server,
        tls_client_config(&server.pki, Some(ClientCert::Pem(&cert, &key)), &[]),
    )
    .await;
    assert!(
        answer.unwrap().starts_with("HTTP/1.1 "),
        "a second certificate from the right CA is fine"
    );
}

#[tokio::test]
async fn plaintext_http_on_the_tls_port_gets_a_clear_answer() {
    let server = spawn().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let body = request("m", "c");
    tcp.write_all(
        format!(
            "POST /sees/v1/entitlement HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains(r#""error":1012"#), "{answer}");
}

#[tokio::test]
async fn a_silent_client_is_dropped_at_the_handshake_deadline() {
    let server = spawn_with(|s| s.server.handshake_timeout = Duration::from_millis(300)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buffer)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "connection still open: {read:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// Runs `openssl s_client` with `args` against the server; its combined output and exit status.
async fn s_client(server: &TestServer, args: &[&str]) -> (bool, String) {
    let certs = server.dir.path().join("certs");
    let output = tokio::process::Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(server.addr.to_string())
        .arg("-servername")
        .arg("localhost")
        .arg("-CAfile")
        .arg(certs.join("ca.pem"))
        .arg("-cert")
        .arg(certs.join("client.pem"))
        .arg("-key")
        .arg(certs.join("client.key"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("openssl is installed (.ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn tls_1_0_and_1_1_are_refused_while_1_2_and_1_3_work() {
    let server = spawn().await;
    for version in ["-tls1_2", "-tls1_3"] {
        let (ok, text) = s_client(&server, &[version, "-brief"]).await;
        assert!(
            ok && text.contains("Verification: OK"),
            "{version} should work:\n{text}"
        );
    }
    for version in ["-tls1", "-tls1_1"] {
        // SECLEVEL=0 lets the local OpenSSL offer the old protocol at all, so the refusal is the server's.
        let (ok, text) = s_client(
            &server,
            &[version, "-cipher", "DEFAULT:@SECLEVEL=0", "-brief"],
        )
        .await;
        assert!(!ok, "{version} was accepted:\n{text}");
        // The refusal must come from the server, as a TLS alert (OpenSSL prints "SSL alert number N").
        assert!(text.contains("SSL alert number"), "{version}:\n{text}");
    }
}

#[tokio::test]
async fn weak_tls_1_2_cipher_suites_are_refused() {
    let server = spawn().await;
    let (ok, text) = s_client(
        &server,
        &[
            "-tls1_2",
            "-cipher",
            "AES128-SHA:DES-CBC3-SHA:@SECLEVEL=0",
            "-brief",
        ],
    )
    .await;
    assert!(!ok, "a non-forward-secret suite was accepted:\n{text}");
    assert!(
        text.contains("handshake failure") || text.contains("alert"),
        "{text}"
    );
}
