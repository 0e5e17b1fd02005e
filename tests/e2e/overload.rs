//! Load shedding through real mutual TLS: past `server.max_in_flight` requests in service a request waits
//! `server.queue_wait_ms` for a slot and is then answered with SEES 5004, HTTP 503 and `Retry-After`,
//! unread, on a connection that stays open (or at once with waiting off); a waiter takes a slot that
//! frees in time; the limits compose (a client over its rate limit hears 1016, never "retry"; a full
//! upstream cap answers 4006 before the listener's limit is reached); and the listener takes requests
//! again as soon as answers complete. The adaptive limit is tested in `net::shedding` and measured by
//! `bench/overload`.

use std::time::{Duration, Instant};

use sees::expressplay::sim::Behaviour;

use crate::harness::{
    request, spawn_with_tls, tls_client_config, ClientCert, KeptConnection, TestServer,
};

/// An answer refused at once is back within this (TLS and JSON on a loaded CI machine).
const AT_ONCE: Duration = Duration::from_millis(400);
/// How long the simulator holds each token request.
const UPSTREAM_DELAY_MS: u64 = 1_000;
/// How long a request waits for a slot in the first test.
const QUEUE_WAIT: Duration = Duration::from_millis(250);

/// A server adjusted by `adjust`, with the key `c-1`, whose simulator holds every token request
/// `UPSTREAM_DELAY_MS`.
async fn with_slow_upstream(adjust: impl FnOnce(&mut sees::config::Settings)) -> TestServer {
    let (server, _) = spawn_with_tls(adjust).await;
    server.add_key("c-1").await;
    server.sim.set_behaviour(Behaviour {
        delay_ms: UPSTREAM_DELAY_MS,
        ..Behaviour::default()
    });
    server
}

async fn connection(server: &TestServer, cert: Option<(&str, &str)>) -> KeptConnection {
    let client = match cert {
        Some((cert, key)) => ClientCert::Pem(cert, key),
        None => ClientCert::Dev,
    };
    KeptConnection::open(
        server.addr,
        tls_client_config(&server.pki, Some(client), &[]),
    )
    .await
    .unwrap()
}

/// Sends `message_id` on a connection of its own and waits for the answer in the background.
fn in_background(
    server: &TestServer,
    message_id: &'static str,
) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
    let addr = server.addr;
    let config = tls_client_config(&server.pki, Some(ClientCert::Dev), &[]);
    tokio::spawn(async move {
        let mut held = KeptConnection::open(addr, config).await.unwrap();
        let (status, _, answer) = held.post(&request(message_id, "c-1")).await.unwrap();
        (status, answer)
    })
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn shed_metric(server: &TestServer, reason: &str) -> u64 {
    let text = reqwest::get(format!("http://{}/metrics", server.ops_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let needle = format!("sees_requests_shed_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(needle.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_limit_a_request_waits_then_is_shed_and_the_connection_stays_open() {
    let server = with_slow_upstream(|s| {
        s.server.max_in_flight = 2;
        s.server.queue_wait = QUEUE_WAIT;
        s.expressplay.max_in_flight = 8;
    })
    .await;
    let shed_before = shed_metric(&server, "waited").await;
    let started = Instant::now();
    let held = [
        in_background(&server, "m-held-1"),
        in_background(&server, "m-held-2"),
    ];
    tokio::time::sleep(Duration::from_millis(150)).await;

    let mut kept = connection(&server, None).await;
    for i in 0..2 {
        let sent = Instant::now();
        let (status, headers, answer) = kept.post(&request("m-shed", "c-1")).await.unwrap();
        let elapsed = sent.elapsed();
        assert_eq!(status, 503, "{answer}");
        assert_eq!(answer["error"], 5004, "{answer}");
        assert_eq!(answer["isAllowed"], false);
        assert_eq!(answer["epTokenURL"], "");
        assert!(
            answer["errorText"].as_str().unwrap().contains("overloaded"),
            "{answer}"
        );
        assert_eq!(header(&headers, "retry-after"), Some("1"));
        eprintln!("shed answer {i}: {} ms", elapsed.as_millis());
        assert!(
            elapsed >= QUEUE_WAIT && elapsed < QUEUE_WAIT + AT_ONCE,
            "shed after waiting {QUEUE_WAIT:?}: {elapsed:?}"
        );
    }
    assert!(shed_metric(&server, "waited").await >= shed_before + 2);

    // A request that starts waiting less than `QUEUE_WAIT` before the held ones end takes a freed
    // slot: answered, not shed.
    tokio::time::sleep_until((started + Duration::from_millis(UPSTREAM_DELAY_MS - 150)).into())
        .await;
    let slow_waiter = in_background(&server, "m-waits");
    for answer in held {
        let (status, answer) = answer.await.unwrap();
        assert_eq!((status, answer["isAllowed"].as_bool()), (200, Some(true)));
    }
    // The same connection, once the held answers are out: taken on again, no restart, no new handshake.
    server.sim.set_behaviour(Behaviour::default());
    let (status, _, answer) = kept.post(&request("m-after", "c-1")).await.unwrap();
    assert_eq!((status, answer["isAllowed"].as_bool()), (200, Some(true)));
    let (status, answer) = slow_waiter.await.unwrap();
    assert_eq!(
        (status, answer["isAllowed"].as_bool()),
        (200, Some(true)),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_compose_a_refused_client_is_never_told_to_retry() {
    let server = with_slow_upstream(|s| {
        s.server.max_in_flight = 1;
        s.server.queue_wait = Duration::ZERO;
        s.server.rate_limit_per_s = 1;
        s.server.rate_burst = 1;
    })
    .await;
    // The dev client spends its one-request burst on a request that holds the only slot.
    let held = in_background(&server, "m-held");
    tokio::time::sleep(Duration::from_millis(150)).await;

    // The same identity again: over its rate limit, which is said first (1016, 429).
    let (status, _, answer) = connection(&server, None)
        .await
        .post(&request("m-again", "c-1"))
        .await
        .unwrap();
    assert_eq!((status, answer["error"].as_i64()), (429, Some(1016)));

    // Another identity, within its rate: the listener is full and waiting is off, so it is shed at
    // once (5004, 503).
    let (cert, key) = server.pki.issue_client("second").unwrap();
    let mut other = connection(&server, Some((&cert, &key))).await;
    let sent = Instant::now();
    let (status, headers, answer) = other.post(&request("m-other", "c-1")).await.unwrap();
    assert!(sent.elapsed() < AT_ONCE, "{:?}", sent.elapsed());
    assert_eq!((status, answer["error"].as_i64()), (503, Some(5004)));
    assert_eq!(header(&headers, "retry-after"), Some("1"));

    let (status, answer) = held.await.unwrap();
    assert_eq!((status, answer["isAllowed"].as_bool()), (200, Some(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_upstream_cap_answers_4006_before_the_listener_cap_is_reached() {
    let server = with_slow_upstream(|s| {
        s.server.max_in_flight = 4;
        s.expressplay.max_in_flight = 1;
    })
    .await;
    let held = in_background(&server, "m-held");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut kept = connection(&server, None).await;
    for _ in 0..5 {
        let sent = Instant::now();
        let (status, headers, answer) = kept.post(&request("m-busy", "c-1")).await.unwrap();
        assert_eq!((status, answer["error"].as_i64()), (200, Some(4006)));
        assert_eq!(header(&headers, "retry-after"), None);
        assert!(sent.elapsed() < AT_ONCE, "{:?}", sent.elapsed());
    }
    let (status, answer) = held.await.unwrap();
    assert_eq!((status, answer["isAllowed"].as_bool()), (200, Some(true)));
}
