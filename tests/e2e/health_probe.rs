//! `sees health`, the probe the Docker HEALTHCHECK and compose healthchecks run: exit 0 on a 2xx answer,
//! 1 with a reason on any other status or when nothing answers.

use std::process::Command;

use crate::harness;

/// Runs the probe (blocking: the test runtime has other threads to serve the server meanwhile).
fn probe(url: &str) -> (bool, String) {
    let output = Command::new(harness::sees_binary())
        .args(["health", "--url", url, "--timeout-ms", "2000"])
        .env_remove("SEES_CONFIG")
        .output()
        .expect("running sees");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_passes_on_2xx_and_fails_otherwise() {
    let server = harness::spawn().await;
    let base = format!("http://{}", server.admin_addr);
    let (ok, text) = probe(&format!("{base}/openapi.json"));
    assert!(ok, "{text}");
    let (ok, text) = probe(&format!("{base}/no-such-route"));
    assert!(!ok && text.contains("404"), "{text}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (ok, text) = probe(&format!("http://127.0.0.1:{port}/healthz"));
    assert!(!ok && text.contains("error"), "{text}");
}
