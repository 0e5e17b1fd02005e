//! A failing ExpressPlay never stalls sees: every fault mode of the simulator ends in a documented
//! denial within the request's upstream budget (measured here), retries happen only where they are
//! safe, the circuit breaker opens and closes, and the in-flight cap refuses at once.
//!
//! Run with `--nocapture` to see the measured answer times.

use std::time::{Duration, Instant};

use sees::expressplay::sim::{Behaviour, Fault, ForcedError};
use sees::expressplay::BreakerState;
use serde_json::{json, Value};

use crate::harness::{post_json, request, spawn_with, TestServer};

/// Slack over the budget for the answer itself (TLS, JSON, a loaded CI machine).
const SLACK: Duration = Duration::from_millis(750);

fn budget(server: &TestServer) -> Duration {
    server.settings.expressplay.budget
}

/// POSTs `body` and measures the answer.
async fn timed(server: &TestServer, body: String) -> (Value, Duration) {
    let started = Instant::now();
    let (status, answer) = server.post(body).await;
    assert_eq!(status, 200, "{answer}");
    (answer, started.elapsed())
}

/// Asserts that an answer measured at `elapsed` came within the budget (plus slack).
fn assert_within_budget(server: &TestServer, elapsed: Duration, what: &str) {
    assert!(
        elapsed <= budget(server) + SLACK,
        "{what}: answered after {elapsed:?}"
    );
}

/// Prints each fault's answer time, for the CI log.
fn print_report(server: &TestServer, service: &str, report: &[(String, Duration)]) {
    eprintln!(
        "{service} fault → answer time (budget {:?}):",
        budget(server)
    );
    for (name, elapsed) in report {
        eprintln!("  {name:<36} {:>6} ms", elapsed.as_millis());
    }
}

fn token_requests(server: &TestServer) -> usize {
    server
        .sim
        .recent_requests()
        .iter()
        .filter(|r| r.path.contains("/hms/fp/token"))
        .count()
}

fn fault(fault: Fault) -> Behaviour {
    Behaviour {
        fault: Some(fault),
        ..Behaviour::default()
    }
}

#[tokio::test]
async fn every_token_fault_mode_is_a_denial_within_the_budget() {
    let server = spawn_with(|s| s.expressplay.breaker_failures = 1000).await;
    server.add_key("c-1").await;
    let cases: Vec<(&str, Behaviour, Option<i64>)> = vec![
        (
            "latency 300 ms",
            Behaviour {
                delay_ms: 300,
                ..Behaviour::default()
            },
            None,
        ),
        (
            "latency 10 s",
            Behaviour {
                delay_ms: 10_000,
                ..Behaviour::default()
            },
            Some(4002),
        ),
        ("never answers", fault(Fault::Hang), Some(4002)),
        (
            "HTTP 500, empty body",
            fault(Fault::Status { status: 500 }),
            Some(4003),
        ),
        (
            "HTTP 503, retried",
            fault(Fault::Status { status: 503 }),
            Some(4003),
        ),
        (
            "200 with a body that is not a URL",
            fault(Fault::Malformed {
                status: 200,
                content_type: "text/uri-list".into(),
                body: "not a url".into(),
            }),
            Some(4004),
        ),
        (
            "400 with broken JSON",
            fault(Fault::Malformed {
                status: 400,
                content_type: "application/json".into(),
                body: "{\"errorCode\":".into(),
            }),
            Some(4003),
        ),
        (
            "HTML error page (-2019)",
            Behaviour {
                force_error: Some(ForcedError {
                    status: 400,
                    code: -2019,
                    text: "Insufficient tokens".into(),
                }),
                force_html: true,
                ..Behaviour::default()
            },
            Some(4013),
        ),
        (
            "connection closed mid-response",
            fault(Fault::CloseMidResponse),
            Some(4001),
        ),
    ];
    let mut report = Vec::new();
    for (name, behaviour, expected) in cases {
        server.sim.set_behaviour(behaviour);
        let (answer, elapsed) = timed(&server, request(&format!("m-{name}"), "c-1")).await;
        assert_eq!(answer["error"].as_i64(), expected, "{name}: {answer}");
        assert_eq!(answer["isAllowed"], expected.is_none(), "{name}");
        assert_within_budget(&server, elapsed, name);
        report.push((name.to_owned(), elapsed));
    }
    print_report(&server, "token service", &report);
}

#[tokio::test]
async fn record_service_faults_and_a_shared_budget() {
    let server = spawn_with(|s| s.expressplay.breaker_failures = 1000).await;
    server.add_key("movie").await;
    server.sim.log_device("viewer", "DEVICE-A");
    let bound = |id: &str| {
        json!({"messageID": id, "version": 1, "requestType": 3, "contentID": "movie", "customerCookie": "viewer"})
            .to_string()
    };
    let mut report = Vec::new();
    for (name, behaviour, expected) in [
        ("record: never answers", fault(Fault::Hang), 4002),
        (
            "record: HTTP 502, retried",
            fault(Fault::Status { status: 502 }),
            4003,
        ),
        (
            "record: connection closed",
            fault(Fault::CloseMidResponse),
            4001,
        ),
        (
            "record: garbage",
            fault(Fault::Malformed {
                status: 200,
                content_type: "application/json".into(),
                body: "[1,2".into(),
            }),
            4004,
        ),
    ] {
        server.sim.set_record_behaviour(behaviour);
        let (answer, elapsed) = timed(&server, bound(name)).await;
        assert_eq!(answer["error"], expected, "{name}: {answer}");
        assert_within_budget(&server, elapsed, name);
        report.push((name.to_owned(), elapsed));
    }

    // Both calls share one budget: a slow record answer leaves the token call only the rest.
    server.sim.set_record_behaviour(Behaviour {
        delay_ms: 1_200,
        ..Behaviour::default()
    });
    server.sim.set_behaviour(Behaviour {
        delay_ms: 1_200,
        ..Behaviour::default()
    });
    let (answer, elapsed) = timed(&server, bound("shared budget")).await;
    assert_eq!(answer["error"], 4002, "{answer}");
    assert_within_budget(&server, elapsed, "shared budget");
    assert!(
        elapsed >= budget(&server) - Duration::from_millis(100),
        "the whole budget was used: {elapsed:?}"
    );
    report.push(("record 1.2 s + token 1.2 s".to_owned(), elapsed));

    print_report(&server, "record service", &report);
}

#[tokio::test]
async fn gateway_errors_are_retried_inside_the_budget_and_refusals_are_not() {
    let server = spawn_with(|_| {}).await;
    server.add_key("c-1").await;

    server.sim.set_behaviour(Behaviour {
        fault: Some(Fault::Status { status: 503 }),
        fault_times: Some(2),
        ..Behaviour::default()
    });
    let (answer, _) = timed(&server, request("m-retry", "c-1")).await;
    assert_eq!(
        answer["isAllowed"], true,
        "the third attempt succeeds: {answer}"
    );
    assert_eq!(token_requests(&server), 3);

    server
        .sim
        .set_behaviour(fault(Fault::Status { status: 500 }));
    timed(&server, request("m-500", "c-1")).await;
    assert_eq!(
        token_requests(&server),
        4,
        "a 500 may have been acted on: no retry"
    );

    server.sim.set_behaviour(Behaviour {
        force_error: Some(ForcedError {
            status: 400,
            code: -2019,
            text: "Insufficient tokens".into(),
        }),
        ..Behaviour::default()
    });
    let (answer, _) = timed(&server, request("m-2019", "c-1")).await;
    assert_eq!(answer["error"], 4013);
    assert_eq!(token_requests(&server), 5, "a refusal is not retried");
}

#[tokio::test]
async fn the_breaker_opens_answers_at_once_and_closes_after_a_good_probe() {
    let server = spawn_with(|s| {
        s.expressplay.breaker_failures = 3;
        s.expressplay.breaker_open = Duration::from_millis(400);
    })
    .await;
    server.add_key("c-1").await;
    let breakers = || server.state.service.expressplay().breaker_states().0;

    server
        .sim
        .set_behaviour(fault(Fault::Status { status: 500 }));
    for i in 0..3 {
        let (answer, _) = timed(&server, request(&format!("m-{i}"), "c-1")).await;
        assert_eq!(answer["error"], 4003);
    }
    assert_eq!(breakers(), BreakerState::Open);
    let seen = token_requests(&server);
    let (answer, elapsed) = timed(&server, request("m-open", "c-1")).await;
    assert_eq!(answer["error"], 4005, "{answer}");
    assert_eq!(
        token_requests(&server),
        seen,
        "an open breaker sends nothing"
    );
    eprintln!("breaker open → answer time {} ms", elapsed.as_millis());
    assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");

    tokio::time::sleep(Duration::from_millis(450)).await;
    let (answer, _) = timed(&server, request("m-failed-probe", "c-1")).await;
    assert_eq!(answer["error"], 4003, "the probe goes out and fails");
    assert_eq!(breakers(), BreakerState::Open);

    server.sim.set_behaviour(Behaviour::default());
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (answer, _) = timed(&server, request("m-probe", "c-1")).await;
    assert_eq!(answer["isAllowed"], true, "{answer}");
    assert_eq!(breakers(), BreakerState::Closed);
    let (answer, _) = timed(&server, request("m-after", "c-1")).await;
    assert_eq!(answer["isAllowed"], true);
}

#[tokio::test]
async fn the_in_flight_cap_refuses_at_once_when_the_upstream_stalls() {
    let server = spawn_with(|s| s.expressplay.max_in_flight = 2).await;
    server.add_key("c-1").await;
    server.sim.set_behaviour(Behaviour {
        delay_ms: 800,
        ..Behaviour::default()
    });
    let started = Instant::now();
    let client = server.client();
    let url = server.url("/sees/v1/entitlement");
    let answers = futures_util::future::join_all((0..6).map(|i| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let sent = Instant::now();
            let answer = post_json(&client, &url, request(&format!("m-{i}"), "c-1")).await;
            (answer, sent.elapsed())
        }
    }))
    .await;
    let allowed = answers
        .iter()
        .filter(|(a, _)| a["isAllowed"] == true)
        .count();
    let busy: Vec<Duration> = answers
        .iter()
        .filter(|(a, _)| a["error"] == 4006)
        .map(|(_, t)| *t)
        .collect();
    assert_eq!((allowed, busy.len()), (2, 4), "{answers:?}");
    let slowest_busy = busy.iter().max().unwrap();
    eprintln!(
        "in-flight cap reached → answer time {} ms",
        slowest_busy.as_millis()
    );
    assert!(
        *slowest_busy < Duration::from_millis(600),
        "refused at once: {slowest_busy:?}"
    );
    assert!(started.elapsed() < budget(&server) + SLACK);
}

#[tokio::test]
async fn an_unreachable_upstream_is_retried_then_denied_quickly() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let server =
        spawn_with(|s| s.expressplay.token_url = format!("http://127.0.0.1:{port}/hms/fp/token"))
            .await;
    server.add_key("c-1").await;
    let (answer, elapsed) = timed(&server, request("m", "c-1")).await;
    assert_eq!(answer["error"], 4001, "{answer}");
    eprintln!(
        "connection refused → answer time {} ms",
        elapsed.as_millis()
    );
    assert!(elapsed < budget(&server));
}
