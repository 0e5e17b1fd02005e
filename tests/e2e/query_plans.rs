//! The decision's hot queries use indexes on both backends: none of them scans a table that grows with
//! the catalogue. SQLite's `EXPLAIN QUERY PLAN` must say SEARCH (not SCAN); PostgreSQL's `EXPLAIN`, with
//! sequential scans discouraged, must pick an index. Run with `--nocapture` to print the plans.

use sees::store::{Backend, Store};
use sqlx::Row;

use crate::harness;

/// The queries a decision runs, as the catalogue, key and session code issue them.
const HOT_QUERIES: &[(&str, &str)] = &[
    ("content key", "SELECT sealed, asset_id, token_lifetime, rental_duration_s FROM content_keys WHERE content_id = $1"),
    ("packages holding an asset", "SELECT asset_id, package_id FROM package_assets WHERE asset_id IN ($1)"),
    ("package rules", "SELECT id, bypass, drm_policy FROM packages WHERE id IN ($1)"),
    ("package regions", "SELECT package_id, region_id FROM package_regions WHERE package_id IN ($1)"),
    ("parents in the graph", "SELECT child_id, parent_id FROM package_edges WHERE child_id IN ($1)"),
    ("a user's entitlements", "SELECT package_id, start_at, end_at FROM entitlements WHERE uid = $1"),
    ("a user's asset grants", "SELECT asset_id FROM asset_entitlements WHERE uid = $1 AND asset_id IN ($2)"),
    ("the playback session", "SELECT uid, expires_at, revoked_at FROM playback_sessions WHERE cookie_hash = $1"),
    ("device binding", "SELECT device_id, learned_at FROM device_bindings WHERE cookie_hash = $1"),
];

async fn plan(store: &Store, sql: &str) -> String {
    let explained = match store.backend() {
        Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
        Backend::Postgres => format!("EXPLAIN {sql}"),
    };
    let binds = sql.matches('$').count();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(explained));
    for _ in 0..binds {
        query = query.bind("x");
    }
    let mut conn = store.pool().acquire().await.unwrap();
    if store.backend() == Backend::Postgres {
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let rows = query.fetch_all(&mut *conn).await.unwrap();
    rows.iter()
        .map(|row| match store.backend() {
            Backend::Sqlite => row.try_get::<String, _>("detail").unwrap(),
            Backend::Postgres => row.try_get::<String, _>(0).unwrap(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test]
async fn every_hot_query_uses_an_index_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in harness::backend_stores(dir.path()).await {
        for (name, sql) in HOT_QUERIES {
            let plan = plan(&store, sql).await;
            println!("{backend:<8} {name:<28} {plan}");
            let indexed = match store.backend() {
                Backend::Sqlite => plan.contains("SEARCH") && !plan.contains("SCAN"),
                Backend::Postgres => plan.contains("Index") && !plan.contains("Seq Scan"),
            };
            assert!(indexed, "{backend}: {name} does not use an index: {plan}");
        }
    }
}
