//! The benchmark catalogue: its shape, the seeding (bulk multi-row INSERTs in big transactions, on
//! SQLite and PostgreSQL) and the marker that lets a seeded catalogue be reused.
//!
//! Shared by `examples/seed_catalogue.rs` (the seeding command) and `benches/decision.rs` (which seeds
//! on first use). Everything is derived from the sizes by hashing, so the bench knows which packages a
//! user holds without asking the store.
//!
//! The shape, with the default sizes:
//! - packages `p0` … `p99999`; every package p ≥ 10 has the parent p / 10 (a graph four edges deep:
//!   `p0`–`p9` are roots, `p10000`–`p99999` are leaves);
//! - assets `a0` … `a999999`, asset j in package j / (assets / packages) (ten per package);
//! - every seventh package has the region whitelist `SE`, `NO`; every 20,000th (from 19,999) is free;
//! - users `u0` … `u999999`, three entitlements each to packages picked by hash (three million);
//!   one entitlement in 40 has expired, the rest are open-ended;
//! - every tenth user holds a direct grant to one asset.

#![allow(dead_code)] // each includer uses a part

use std::time::Instant;

use chrono::Utc;
use sees::store::Store;

/// The sizes of a catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub users: usize,
    pub packages: usize,
    pub assets: usize,
    pub entitlements_per_user: usize,
    /// One user in this many holds a direct asset grant (0 = none).
    pub asset_grant_every: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Self {
            users: 1_000_000,
            packages: 100_000,
            assets: 1_000_000,
            entitlements_per_user: 3,
            asset_grant_every: 10,
        }
    }
}

impl Sizes {
    /// How the marker records them.
    pub fn marker(&self) -> String {
        format!(
            "users={} packages={} assets={} entitlements_per_user={} asset_grant_every={} shape=v1",
            self.users,
            self.packages,
            self.assets,
            self.entitlements_per_user,
            self.asset_grant_every
        )
    }

    pub fn assets_per_package(&self) -> usize {
        (self.assets / self.packages).max(1)
    }

    /// The package that contains asset `a`.
    pub fn package_of_asset(&self, a: usize) -> usize {
        (a / self.assets_per_package()).min(self.packages - 1)
    }

    /// The `i`-th asset of package `p` (wrapping within the package's assets).
    pub fn asset_in(&self, p: usize, i: usize) -> usize {
        let per = self.assets_per_package();
        (p * per + i % per).min(self.assets - 1)
    }

    /// The packages user `u` holds (distinct, in the order they were picked).
    pub fn entitled_packages(&self, u: usize) -> Vec<usize> {
        let mut picked = Vec::with_capacity(self.entitlements_per_user);
        for k in 0..self.entitlements_per_user as u64 {
            let p = (mix(u as u64, k) % self.packages as u64) as usize;
            if !picked.contains(&p) {
                picked.push(p);
            }
        }
        picked
    }

    /// Whether user `u`'s entitlement to `p` has expired.
    pub fn expired(&self, u: usize, p: usize) -> bool {
        mix(u as u64 ^ 0xE7, p as u64) % 40 == 0
    }

    /// The asset user `u` holds a direct grant to, if any.
    pub fn asset_grant(&self, u: usize) -> Option<usize> {
        (self.asset_grant_every > 0 && u % self.asset_grant_every == 0)
            .then(|| (mix(u as u64, 0xA55E7) % self.assets as u64) as usize)
    }

    pub fn free(&self, p: usize) -> bool {
        p % 20_000 == 19_999
    }

    pub fn region_rule(&self, p: usize) -> bool {
        p % 7 == 0
    }
}

/// A 64-bit mix of two numbers (splitmix64's finaliser): reproducible picks without state.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x5EE5);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small xorshift generator (reproducible workloads).
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The marker table: what was seeded, written last (an interrupted seeding leaves none).
const MARKER_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS bench_catalogue (name TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// What the marker says was seeded, if anything.
pub async fn seeded(store: &Store) -> Result<Option<String>, sqlx::Error> {
    sqlx::query(MARKER_TABLE).execute(store.pool()).await?;
    sqlx::query_scalar("SELECT value FROM bench_catalogue WHERE name = 'sizes'")
        .fetch_optional(store.pool())
        .await
}

/// Seeds `sizes` unless the marker says exactly that was seeded already. Returns the seconds seeding
/// took, or `None` when the catalogue was reused.
pub async fn ensure(store: &Store, sizes: Sizes, force: bool) -> Result<Option<f64>, sqlx::Error> {
    if !force && seeded(store).await?.as_deref() == Some(sizes.marker().as_str()) {
        return Ok(None);
    }
    let started = Instant::now();
    seed(store, sizes).await?;
    Ok(Some(started.elapsed().as_secs_f64()))
}

/// Empties the catalogue tables, then fills them; writes the marker last.
pub async fn seed(store: &Store, sizes: Sizes) -> Result<(), sqlx::Error> {
    assert!(sizes.packages >= 1 && sizes.assets >= 1 && sizes.users >= 1);
    sqlx::query(MARKER_TABLE).execute(store.pool()).await?;
    {
        let mut tx = store.pool().begin().await?;
        for table in [
            "bench_catalogue",
            "asset_entitlements",
            "entitlements",
            "package_regions",
            "package_edges",
            "package_assets",
            "packages",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    let now = Utc::now().timestamp_millis();
    let day = 86_400_000;
    let step = |what: &str, started: Instant| {
        eprintln!("  {what:<20} {:>6.1} s", started.elapsed().as_secs_f64())
    };

    let t = Instant::now();
    bulk(
        store,
        "packages (id, name, description, bypass, created_at, modified_at)",
        (0..sizes.packages).map(|p| {
            format!(
                "('p{p}', 'Package {p}', 'bench', {}, {now}, {now})",
                u8::from(sizes.free(p))
            )
        }),
    )
    .await?;
    step("packages", t);

    let t = Instant::now();
    bulk(
        store,
        "package_assets (package_id, asset_id, position)",
        (0..sizes.assets).map(|a| {
            let p = sizes.package_of_asset(a);
            format!("('p{p}', 'a{a}', {})", a % sizes.assets_per_package())
        }),
    )
    .await?;
    step("package_assets", t);

    let t = Instant::now();
    bulk(
        store,
        "package_edges (parent_id, child_id, created_at)",
        (10..sizes.packages).map(|p| format!("('p{}', 'p{p}', {now})", p / 10)),
    )
    .await?;
    bulk(
        store,
        "package_regions (package_id, region_id, position)",
        (0..sizes.packages)
            .filter(|&p| sizes.region_rule(p))
            .flat_map(|p| [format!("('p{p}', 'SE', 0)"), format!("('p{p}', 'NO', 1)")]),
    )
    .await?;
    step("edges and regions", t);

    let t = Instant::now();
    bulk(
        store,
        "entitlements (uid, package_id, start_at, end_at, created_at, modified_at)",
        (0..sizes.users).flat_map(|u| {
            sizes.entitled_packages(u).into_iter().map(move |p| {
                if sizes.expired(u, p) {
                    format!(
                        "('u{u}', 'p{p}', {}, {}, {now}, {now})",
                        now - 60 * day,
                        now - 30 * day
                    )
                } else {
                    format!("('u{u}', 'p{p}', {}, NULL, {now}, {now})", now - day)
                }
            })
        }),
    )
    .await?;
    step("entitlements", t);

    let t = Instant::now();
    bulk(
        store,
        "asset_entitlements (uid, asset_id, start_at, end_at, created_at, modified_at)",
        (0..sizes.users).filter_map(|u| {
            sizes
                .asset_grant(u)
                .map(|a| format!("('u{u}', 'a{a}', {}, NULL, {now}, {now})", now - day))
        }),
    )
    .await?;
    step("asset grants", t);

    if store.backend() == sees::store::Backend::Postgres {
        let t = Instant::now();
        sqlx::query("ANALYZE").execute(store.pool()).await?;
        step("analyze", t);
    } else {
        sqlx::query("ANALYZE").execute(store.pool()).await?;
    }
    sqlx::query("INSERT INTO bench_catalogue (name, value) VALUES ('sizes', $1)")
        .bind(sizes.marker())
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Rows per INSERT statement.
const ROWS_PER_INSERT: usize = 1_000;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 500_000;

/// Inserts `rows` (each a parenthesised list of SQL literals made here from numbers and fixed words,
/// never from outside input) with multi-row INSERTs, in transactions of many statements.
async fn bulk(
    store: &Store,
    table_and_columns: &str,
    rows: impl Iterator<Item = String>,
) -> Result<(), sqlx::Error> {
    let sqlite = store.backend() == sees::store::Backend::Sqlite;
    let mut tx = store.pool().begin().await?;
    if sqlite {
        // Inserts land all over the primary-key B-trees: a big page cache keeps them off the disk.
        sqlx::query(SEED_CACHE).execute(&mut *tx).await?;
    }
    let mut in_tx = 0;
    let mut batch: Vec<String> = Vec::with_capacity(ROWS_PER_INSERT);
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        batch.extend(rows.by_ref().take(ROWS_PER_INSERT));
        let sql = format!("INSERT INTO {table_and_columns} VALUES {}", batch.join(","));
        in_tx += batch.len();
        batch.clear();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
        if in_tx >= ROWS_PER_TRANSACTION {
            tx.commit().await?;
            tx = store.pool().begin().await?;
            if sqlite {
                sqlx::query(SEED_CACHE).execute(&mut *tx).await?;
            }
            in_tx = 0;
        }
    }
    if sqlite {
        // Back to SQLite's default, so the pooled connection benches as the server's would.
        sqlx::query("PRAGMA cache_size = -2000")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// SQLite's page cache while seeding: 512 MiB.
const SEED_CACHE: &str = "PRAGMA cache_size = -524288";

/// Creates the PostgreSQL database `url` names when it does not exist (the name must be letters,
/// digits and `_`); connects to the server's `postgres` database to do it.
pub async fn create_postgres_database(
    url: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut parsed = reqwest::Url::parse(url)?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("database name {name:?}: letters, digits and _ only").into());
    }
    parsed.set_path("/postgres");
    let mut admin = sqlx::AnyConnection::connect(parsed.as_str()).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await?;
    Ok(())
}

/// Cargo's target directory (`CARGO_TARGET_DIR` when set, else `target/` in the package).
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}
