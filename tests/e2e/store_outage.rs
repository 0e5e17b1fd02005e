//! The store goes away (issue 19, first part): sees on PostgreSQL reached through a TCP proxy the test
//! controls. Cutting the proxy drops every connection and refuses new ones, as a killed or failed-over
//! server does. While it is down every Entitlement Request is answered within a second (5001, fail
//! closed; `store.acquire_timeout_ms` bounds the wait), readiness says the store is down, and admin
//! writes get a 503 with nothing half-written; when it is back sees serves allowed answers again
//! without a restart, and every write acknowledged before the cut is there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::harness::{self, AdminWorld};

/// A TCP proxy to `upstream` that can be cut (every connection dropped, new ones refused), made a
/// black hole (connections dropped, new ones accepted and never answered: a network partition or a
/// failover in progress) and restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    black_hole: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let black_hole = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (up, hole, links) = (Arc::clone(&up), Arc::clone(&black_hole), Arc::clone(&links));
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    if hole.load(Ordering::SeqCst) {
                        let held = tokio::spawn(async move {
                            let _client = client;
                            std::future::pending::<()>().await;
                        });
                        links.lock().unwrap().push(held);
                        continue;
                    }
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            })
        };
        Proxy {
            port,
            up,
            black_hole,
            links,
            _accept: accept,
        }
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Drops every connection; new ones are accepted and never answered.
    fn black_hole(&self) {
        self.black_hole.store(true, Ordering::SeqCst);
        self.cut();
    }

    fn restore(&self) {
        self.black_hole.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn while_postgresql_is_down_answers_are_quick_denials_and_it_comes_back_without_a_restart() {
    let Ok(server) = std::env::var("SEES_TEST_DATABASE_URL") else {
        println!("store outage: skipped (SEES_TEST_DATABASE_URL not set)");
        return;
    };
    let database = sees::store::fresh_postgres_database(&server).await.unwrap();
    let parsed = url::Url::parse(&database).unwrap();
    let upstream = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(upstream).await;
    let mut through = parsed.clone();
    through.set_port(Some(proxy.port)).unwrap();
    let through = through.to_string();
    let w = AdminWorld::start_with(chrono::Utc::now(), |s| {
        s.store.url = through.clone();
        s.decision.mode = sees::config::DecisionMode::Catalog;
        // The catalogue is read from the store on every decision: no cache to hide the outage.
        s.decision.cache = sees::config::DecisionCacheMode::Off;
        s.keys.cache_ttl = Duration::from_millis(1);
    })
    .await;
    w.server.add_key("movie").await;
    let package = json!({"package": {"id": "free", "name": "free", "description": "d",
        "assetIDs": ["movie"], "billingPlanIDs": ["plan"], "bypassEntitlementCheck": true}});
    let (status, answer) = w.call("POST", "/oem/v1/user/packages", Some(package)).await;
    assert_eq!(status, 200, "{answer}");
    let ops = format!("http://{}/readyz", w.server.ops_addr);
    let play = || async {
        let started = Instant::now();
        let (status, answer) = w.server.post(harness::request("m", "movie")).await;
        (started.elapsed(), status, answer)
    };
    let (_, _, before) = play().await;
    assert_eq!(before["isAllowed"], true, "{before}");

    // Killed (connections refused), then partitioned (connections never answered): either way every
    // answer is a 5001 within a second.
    let mut slowest = [Duration::ZERO; 2];
    for (phase, outage) in ["refused", "black hole"].into_iter().enumerate() {
        if phase == 0 {
            proxy.cut();
        } else {
            proxy.black_hole();
        }
        for _ in 0..5 {
            let (took, status, answer) = play().await;
            slowest[phase] = slowest[phase].max(took);
            assert_eq!(
                (status, &answer["isAllowed"]),
                (200, &json!(false)),
                "{answer}"
            );
            assert_eq!(answer["error"], 5001, "{outage}: {answer}");
        }
        assert!(
            slowest[phase] < Duration::from_secs(1),
            "slowest answer while {outage}: {:?}",
            slowest[phase]
        );
    }
    let ready = reqwest::get(&ops).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("store"));
    let started = Instant::now();
    let write = json!({"package": {"id": "gold", "name": "gold", "description": "d",
        "assetIDs": ["movie"], "billingPlanIDs": ["plan"]}});
    let (status, answer) = w.call("POST", "/oem/v1/user/packages", Some(write)).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    proxy.restore();
    let back = Instant::now();
    loop {
        let (_, _, answer) = play().await;
        if answer["isAllowed"] == true {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not back: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "store outage: slowest answer while refused {:?}, while a black hole {:?}; first allowed answer \
         {:?} after the store came back",
        slowest[0],
        slowest[1],
        back.elapsed()
    );
    assert_eq!(reqwest::get(&ops).await.unwrap().status(), 200);
    // A clean restart's effect, or an operator's `pg_terminate_backend`: every connection of sees is
    // ended from the server's side; the next requests are answered (the pool pings before use and
    // opens new connections), none denied.
    let admin = sees::store::Store::connect(&server, 1).await.unwrap();
    let database_name = parsed.path().trim_start_matches('/').to_owned();
    let ended: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&database_name)
    .fetch_all(admin.pool())
    .await
    .unwrap();
    assert!(!ended.is_empty(), "sees had connections to end");
    for _ in 0..5 {
        let (took, _, answer) = play().await;
        assert_eq!(
            answer["isAllowed"], true,
            "after pg_terminate_backend: {answer}"
        );
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    // What was acknowledged before the cut is there; the refused write is not.
    let (status, _) = w.call("GET", "/oem/v1/user/packages/free", None).await;
    assert_eq!(status, 200);
    let (status, _) = w.call("GET", "/oem/v1/user/packages/gold", None).await;
    assert_eq!(status, 404);
}
