//! Seeds the benchmark catalogue (the shape is described in `benches/support/catalogue.rs`): by default
//! 1M users, 3M entitlements, 100k packages in a graph four edges deep, 1M assets, region rules, a few
//! free packages and direct asset grants.
//!
//! ```text
//! cargo run --release --example seed_catalogue -- --database-url sqlite://target/bench-data/catalogue.sqlite
//! cargo run --release --example seed_catalogue -- --database-url postgres://postgres@127.0.0.1:54329/sees_bench_catalogue --create-database
//! ```
//!
//! Idempotent: a marker table (`bench_catalogue`) records the sizes seeded; when they match, nothing is
//! done (`--force` reseeds). Other sizes empty the catalogue tables and seed anew.

#[path = "../benches/support/catalogue.rs"]
mod catalogue;

use clap::Parser;
use sees::store::{redact_password, Store};

#[derive(Parser, Debug)]
#[command(about = "Seed the benchmark catalogue (idempotent)")]
struct Args {
    /// sqlite://PATH or postgres://… (the store is migrated first).
    #[arg(long, env = "SEES_BENCH_DATABASE_URL")]
    database_url: String,
    /// Create the PostgreSQL database named in the URL when it does not exist.
    #[arg(long)]
    create_database: bool,
    #[arg(long, default_value_t = 1_000_000)]
    users: usize,
    #[arg(long, default_value_t = 100_000)]
    packages: usize,
    #[arg(long, default_value_t = 1_000_000)]
    assets: usize,
    #[arg(long, default_value_t = 3)]
    entitlements_per_user: usize,
    /// One user in N holds a direct asset grant (0 = none).
    #[arg(long, default_value_t = 10)]
    asset_grant_every: usize,
    /// Reseed even when the marker says these sizes are there.
    #[arg(long)]
    force: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes = catalogue::Sizes {
        users: args.users,
        packages: args.packages,
        assets: args.assets,
        entitlements_per_user: args.entitlements_per_user,
        asset_grant_every: args.asset_grant_every,
    };
    anyhow::ensure!(
        sizes.users > 0 && sizes.packages > 0 && sizes.assets > 0,
        "--users, --packages and --assets must be at least 1"
    );
    if args.create_database && !args.database_url.starts_with("sqlite:") {
        catalogue::create_postgres_database(&args.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("creating the database: {e}"))?;
    }
    let store = Store::connect(&args.database_url, 4).await?;
    eprintln!(
        "seeding {} ({})",
        redact_password(&args.database_url),
        sizes.marker()
    );
    match catalogue::ensure(&store, sizes, args.force).await? {
        Some(seconds) => eprintln!("seeded in {seconds:.1} s"),
        None => eprintln!("already seeded with these sizes: nothing to do (--force reseeds)"),
    }
    store.close().await;
    Ok(())
}
