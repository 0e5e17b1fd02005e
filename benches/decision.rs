//! The catalogue decision (`Decider::for_user`, what the SEES decision ends in) on a catalogue of 1M
//! users, 3M entitlements, 100k packages (graph four edges deep), 1M assets — see
//! `benches/support/catalogue.rs` for the shape.
//!
//! `cargo bench --bench decision`. The SQLite catalogue lives at `target/bench-data/catalogue.sqlite`
//! and is seeded on first use (a marker table records the sizes; later runs reuse it). With
//! `SEES_BENCH_DATABASE_URL=postgres://…` the PostgreSQL database there is benched too (seeded the same
//! way; `examples/seed_catalogue.rs` seeds either ahead of time).
//!
//! Two workloads:
//! - `warm`: a working set of 10,000 users, half asking for an asset they are entitled to (through
//!   the graph: the entitled package or a descendant), half for a random asset; one pass to warm up,
//!   then `SEES_BENCH_PASSES` (default 3) timed passes;
//! - `cold-user`: every request from a user not asked before (the process already warm).
//!
//! Four runs: SQLite with the decision and session caches (the server's default there), SQLite
//! without them, PostgreSQL without them (its default: other nodes' writes) and PostgreSQL with them
//! (`decision.cache = "on"`, a single node).
//!
//! Criterion gives the mean of each; every individual decision is also timed and p50/p90/p99/max and
//! the allowed/denied mix go to the terminal and to
//! `target/bench-results/decision-<backend>-<workload>.json`.

#[path = "support/catalogue.rs"]
mod catalogue;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalogue::{Rng, Sizes};
use chrono::Utc;
use criterion::Criterion;
use sees::catalog::{Catalog, PlaybackSessions};
use sees::config::DecisionSettings;
use sees::decision::{Decider, Decision};
use sees::ids::{AssetId, UserId};
use sees::keys::MasterKey;
use sees::store::{redact_password, Store};

/// Users in the warm working set.
const WORKING_SET: usize = 10_000;
/// Decisions in the cold-user pass.
const COLD_SAMPLES: usize = 10_000;

/// The one place the bench builds the decision path: adapt here when the decision's construction
/// changes (a cache, other arguments).
/// `cached`: with the decision and session caches the server uses by default on SQLite
/// (`decision.cache = "auto"`), at their default capacity.
fn decider(store: &Store, cached: bool) -> Decider {
    let capacity = if cached {
        DecisionSettings::default().cache_capacity
    } else {
        0
    };
    Decider::new(
        Catalog::new(store.clone(), 8).with_decision_cache(capacity),
        PlaybackSessions::new(store.clone(), Arc::new(MasterKey::from_bytes(&[9; 32])))
            .with_cache(capacity),
        Duration::from_secs(60),
    )
}

/// One decision to ask for.
struct Ask {
    uid: UserId,
    asset: AssetId,
    country: &'static str,
}

/// The `n`-th user of a fixed permutation of all users: positions `0..WORKING_SET` are the warm
/// working set, later ones are users the warm workload never asks about.
fn user_at(sizes: &Sizes, n: usize) -> usize {
    (n.wrapping_mul(7_919).wrapping_add(13)) % sizes.users
}

/// The request of user `u`: an even `i` asks for an asset `u` is entitled to (in an entitled package or
/// up to two levels below it, or — one time in four for users that have one — their direct asset
/// grant), an odd one for a random asset (one in fifty in a free package); one request in ten comes
/// from the US (outside every region whitelist).
fn ask(sizes: &Sizes, u: usize, i: usize, rng: &mut Rng) -> Ask {
    let held = sizes.entitled_packages(u);
    let asset = if i % 2 == 0 && sizes.asset_grant(u).is_some() && rng.below(4) == 0 {
        sizes.asset_grant(u).unwrap_or_default()
    } else if i % 2 == 1 && rng.below(50) == 0 {
        // An asset of a free package.
        let free = (0..sizes.packages)
            .rev()
            .find(|&p| sizes.free(p))
            .unwrap_or(0);
        sizes.asset_in(free, rng.below(sizes.assets_per_package()))
    } else if i % 2 == 0 && !held.is_empty() {
        let mut p = held[rng.below(held.len())];
        for _ in 0..rng.below(3) {
            let child = p * 10 + rng.below(10);
            if p == 0 || child >= sizes.packages {
                break;
            }
            p = child;
        }
        sizes.asset_in(p, rng.below(sizes.assets_per_package()))
    } else {
        rng.below(sizes.assets)
    };
    Ask {
        uid: UserId::parse(format!("u{u}")).expect("a valid user ID"),
        asset: AssetId::parse(format!("a{asset}")).expect("a valid asset ID"),
        country: if rng.below(10) == 0 { "US" } else { "SE" },
    }
}

fn asks(sizes: &Sizes, positions: std::ops::Range<usize>, seed: u64) -> Vec<Ask> {
    let mut rng = Rng(seed);
    positions
        .map(|n| ask(sizes, user_at(sizes, n), n, &mut rng))
        .collect()
}

async fn decide(decider: &Decider, ask: &Ask) -> Decision {
    decider
        .for_user(&ask.asset, &ask.uid, Some(ask.country), Utc::now())
        .await
}

/// Individual timings of one workload.
#[derive(Default)]
struct Timings {
    micros: Vec<f64>,
    allowed: usize,
    denied_by: BTreeMap<String, usize>,
}

impl Timings {
    async fn time(&mut self, decider: &Decider, asks: &[Ask]) {
        for ask in asks {
            let started = Instant::now();
            let decision = decide(decider, ask).await;
            self.micros.push(started.elapsed().as_secs_f64() * 1e6);
            match &decision.outcome {
                Ok(_) => self.allowed += 1,
                Err(denial) => *self.denied_by.entry(format!("{denial:?}")).or_default() += 1,
            }
        }
    }

    /// Prints the percentiles and writes them for bench/run.
    fn report(mut self, backend: &str, workload: &str) {
        self.micros.sort_by(f64::total_cmp);
        let n = self.micros.len();
        let pct = |p: f64| self.micros[((n as f64 * p) as usize).min(n - 1)];
        let denied: usize = self.denied_by.values().sum();
        let (p50, p90, p99, max) = (pct(0.50), pct(0.90), pct(0.99), self.micros[n - 1]);
        let mean = self.micros.iter().sum::<f64>() / n as f64;
        let round = |us: f64| (us * 100.0).round() / 100.0;
        println!(
            "decision {backend:<8} {workload:<9} p50 {p50:>8.1} µs  p90 {p90:>8.1} µs  p99 {p99:>8.1} µs  \
             max {max:>9.1} µs | {n} samples, {} allowed, {denied} denied {:?}",
            self.allowed, self.denied_by
        );
        let report = serde_json::json!({
            "backend": backend,
            "workload": workload,
            "samples": n,
            "p50_us": round(p50),
            "p90_us": round(p90),
            "p99_us": round(p99),
            "max_us": round(max),
            "mean_us": round(mean),
            "allowed": self.allowed,
            "denied": denied,
            "denied_by": self.denied_by,
            "catalogue": Sizes::default().marker(),
        });
        let dir = catalogue::target_dir().join("bench-results");
        let path = dir.join(format!("decision-{backend}-{workload}.json"));
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap() + "\n")
        });
        if let Err(e) = written {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
}

/// Connects and seeds the catalogue unless the marker says it is there.
async fn open(backend: &str, url: &str) -> Store {
    if backend == "postgres" {
        catalogue::create_postgres_database(url)
            .await
            .expect("creating the bench database");
    }
    let store = Store::connect(url, 8)
        .await
        .expect("opening the bench store");
    eprintln!(
        "decision {backend}: catalogue at {} ({})",
        redact_password(url),
        Sizes::default().marker()
    );
    match catalogue::ensure(&store, Sizes::default(), false)
        .await
        .expect("seeding the bench catalogue")
    {
        Some(seconds) => eprintln!("decision {backend}: seeded in {seconds:.1} s"),
        None => eprintln!("decision {backend}: reusing the seeded catalogue"),
    }
    store
}

/// `label` names the figures (the backend, and the cache when it is not the backend's default).
fn bench_backend(
    criterion: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    (backend, label, cached): (&str, &str, bool),
    url: &str,
) {
    let sizes = Sizes::default();
    let store = runtime.block_on(open(backend, url));
    let decider = decider(&store, cached);
    let passes: usize = std::env::var("SEES_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);

    let warm = asks(&sizes, 0..WORKING_SET, 0x5EE5);
    let cold = asks(&sizes, WORKING_SET..WORKING_SET + COLD_SAMPLES, 0xC01D);
    runtime.block_on(async {
        Timings::default().time(&decider, &warm).await; // warms the process and the store
        let mut timings = Timings::default();
        for _ in 0..passes {
            timings.time(&decider, &warm).await;
        }
        timings.report(label, "warm");
        let mut timings = Timings::default();
        timings.time(&decider, &cold).await;
        timings.report(label, "cold-user");
    });

    let mut group = criterion.benchmark_group(format!("decision/{label}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let mut next = 0;
    group.bench_function("warm", |b| {
        b.to_async(runtime).iter(|| {
            let ask = &warm[next % warm.len()];
            next += 1;
            decide(&decider, ask)
        })
    });
    // Users after those of the percentile passes: not asked before (unless a very long run wraps).
    let mut position = WORKING_SET + COLD_SAMPLES;
    let mut rng = Rng(0xC0FFEE);
    group.bench_function("cold-user", |b| {
        b.to_async(runtime).iter_batched(
            || {
                position += 1;
                ask(&sizes, user_at(&sizes, position), position, &mut rng)
            },
            |ask| {
                let decider = &decider;
                async move { decide(decider, &ask).await }
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
    runtime.block_on(store.close());
}

fn main() {
    // `cargo test --benches` runs benches once as tests: seeding a million users is no test.
    if !std::env::args().any(|a| a == "--bench") {
        println!("decision: skipped outside `cargo bench`");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let mut criterion = Criterion::default().configure_from_args();
    let sqlite = catalogue::target_dir().join("bench-data/catalogue.sqlite");
    let sqlite = format!("sqlite://{}", sqlite.display());
    // Each backend as the server runs it by default (`decision.cache = "auto"`: on for SQLite, off
    // for PostgreSQL), then with the other setting for comparison.
    for run in [
        ("sqlite", "sqlite", true),
        ("sqlite", "sqlite-uncached", false),
    ] {
        bench_backend(&mut criterion, &runtime, run, &sqlite);
    }
    match std::env::var("SEES_BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            for run in [
                ("postgres", "postgres", false),
                ("postgres", "postgres-cached", true),
            ] {
                bench_backend(&mut criterion, &runtime, run, &url);
            }
        }
        _ => eprintln!("decision postgres: skipped (SEES_BENCH_DATABASE_URL not set)"),
    }
    criterion.final_summary();
}
