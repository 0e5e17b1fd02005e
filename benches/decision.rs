//! The catalogue decision on a catalogue of realistic size: 10,000 packages (a graph four levels deep),
//! 100,000 assets, 100,000 users with 300,000 entitlements. Seeds an SQLite file (and a PostgreSQL
//! database when `SEES_TEST_DATABASE_URL` is set), then times `Decider::for_user` — the function the
//! SEES endpoint's decision ends in — on random (user, asset) pairs and prints p50/p99.
//!
//! `cargo bench --bench decision` (release build; seeding takes a minute).

use std::time::{Duration, Instant};

use chrono::Utc;
use sees::catalog::{Catalog, PlaybackSessions};
use sees::decision::Decider;
use sees::ids::{AssetId, UserId};
use sees::keys::MasterKey;
use sees::store::Store;

const PACKAGES: usize = 10_000;
const ASSETS_PER_PACKAGE: usize = 10;
const USERS: usize = 100_000;
const ENTITLEMENTS_PER_USER: usize = 3;
const SAMPLES: usize = 2_000;

/// A small xorshift generator (reproducible runs).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Inserts `rows` (each a list of SQL literals already escaped by construction: only digits and
/// identifiers made here) with multi-row INSERTs in one transaction.
async fn bulk(store: &Store, table_and_columns: &str, rows: impl Iterator<Item = String>) {
    let mut tx = store.pool().begin().await.unwrap();
    let mut batch = Vec::with_capacity(500);
    let flush = |batch: &mut Vec<String>| {
        let sql = format!("INSERT INTO {table_and_columns} VALUES {}", batch.join(","));
        batch.clear();
        sql
    };
    for row in rows {
        batch.push(row);
        if batch.len() == 500 {
            let sql = flush(&mut batch);
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    if !batch.is_empty() {
        let sql = flush(&mut batch);
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn seed(store: &Store) {
    let now = Utc::now().timestamp_millis();
    bulk(
        store,
        "packages (id, name, description, bypass, created_at, modified_at)",
        (0..PACKAGES).map(|p| format!("('p{p}', 'Package {p}', 'bench', 0, {now}, {now})")),
    )
    .await;
    bulk(
        store,
        "package_assets (package_id, asset_id, position)",
        (0..PACKAGES).flat_map(|p| {
            (0..ASSETS_PER_PACKAGE)
                .map(move |i| format!("('p{p}', 'a{}', {i})", p * ASSETS_PER_PACKAGE + i))
        }),
    )
    .await;
    // A graph four levels deep: every package p ≥ 10 has the parent p / 10 (p0 … p9 are roots).
    bulk(
        store,
        "package_edges (parent_id, child_id, created_at)",
        (10..PACKAGES).map(|p| format!("('p{}', 'p{p}', {now})", p / 10)),
    )
    .await;
    bulk(
        store,
        "package_regions (package_id, region_id, position)",
        (0..PACKAGES)
            .filter(|p| p % 7 == 0)
            .map(|p| format!("('p{p}', 'SE', 0)")),
    )
    .await;
    let mut rng = Rng(0x5EE5);
    let grants: Vec<String> = (0..USERS)
        .flat_map(|u| {
            let mut picked = Vec::new();
            for _ in 0..ENTITLEMENTS_PER_USER {
                let p = rng.next(PACKAGES);
                if !picked.contains(&p) {
                    picked.push(p);
                }
            }
            picked
                .into_iter()
                .map(move |p| format!("('u{u}', 'p{p}', {}, NULL, {now}, {now})", now - 86_400_000))
        })
        .collect();
    bulk(
        store,
        "entitlements (uid, package_id, start_at, end_at, created_at, modified_at)",
        grants.into_iter(),
    )
    .await;
}

async fn measure(name: &str, store: Store) {
    let started = Instant::now();
    seed(&store).await;
    let seeded = started.elapsed();
    let decider = Decider::new(
        Catalog::new(store.clone(), 8),
        PlaybackSessions::new(
            store.clone(),
            std::sync::Arc::new(MasterKey::from_bytes(&[9; 32])),
        ),
        Duration::from_secs(60),
    );
    let catalog = Catalog::new(store.clone(), 8);
    let mut rng = Rng(42);
    let mut times = Vec::with_capacity(SAMPLES);
    let mut allowed = 0;
    for i in 0..SAMPLES + 200 {
        let uid = UserId::parse(format!("u{}", rng.next(USERS))).unwrap();
        // Half the requests ask for an asset the user is entitled to (in an entitled package or in a
        // child of it), half for a random asset.
        let entitled = if i % 2 == 0 {
            let held = catalog.entitlements_of(&uid).await.unwrap();
            held.first()
                .map(|e| e.package_id.as_str()[1..].parse::<usize>().unwrap())
        } else {
            None
        };
        let package = match entitled {
            Some(p) if p * 10 + 1 < PACKAGES && rng.next(2) == 0 => p * 10 + 1,
            Some(p) => p,
            None => rng.next(PACKAGES),
        };
        let asset = AssetId::parse(format!(
            "a{}",
            package * ASSETS_PER_PACKAGE + rng.next(ASSETS_PER_PACKAGE)
        ))
        .unwrap();
        let t = Instant::now();
        let decision = decider.for_user(&asset, &uid, Some("SE"), Utc::now()).await;
        let elapsed = t.elapsed();
        if i >= 200 {
            times.push(elapsed);
            allowed += usize::from(decision.allowed());
        }
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "{name:<10} seeded in {:>5.1} s | decision p50 {:>7.1} µs  p99 {:>7.1} µs  max {:>7.1} µs | {allowed}/{SAMPLES} allowed",
        seeded.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        times.last().unwrap().as_secs_f64() * 1e6,
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        measure("sqlite", Store::connect(&url, 8).await.unwrap()).await;
        if let Ok(server) = std::env::var("SEES_TEST_DATABASE_URL") {
            let url = sees::store::fresh_postgres_database(&server).await.unwrap();
            measure("postgres", Store::connect(&url, 8).await.unwrap()).await;
        } else {
            println!("postgres   skipped (SEES_TEST_DATABASE_URL not set)");
        }
    });
}
