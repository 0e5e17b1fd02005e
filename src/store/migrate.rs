//! Numbered migrations, embedded in the binary, each applied once in its own transaction. On
//! PostgreSQL an advisory lock keeps nodes that start together from racing.

use sqlx::Connection;

use super::{Backend, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

impl Migration {
    /// A migration whose SQL differs between the backends (byte types).
    const fn per_backend(
        version: i64,
        name: &'static str,
        sqlite: &'static str,
        postgres: &'static str,
    ) -> Self {
        Self {
            version,
            name,
            sqlite,
            postgres,
        }
    }

    /// A migration whose SQL is the same on both backends.
    const fn shared(version: i64, name: &'static str, sql: &'static str) -> Self {
        Self::per_backend(version, name, sql, sql)
    }
}

const MIGRATIONS: &[Migration] = &[
    Migration::per_backend(
        1,
        "content keys",
        include_str!("migrations/sqlite/0001_content_keys.sql"),
        include_str!("migrations/postgres/0001_content_keys.sql"),
    ),
    Migration::shared(
        2,
        "device bindings",
        include_str!("migrations/common/0002_device_bindings.sql"),
    ),
    Migration::per_backend(
        3,
        "catalogue and admin tokens",
        include_str!("migrations/sqlite/0003_catalogue.sql"),
        include_str!("migrations/postgres/0003_catalogue.sql"),
    ),
    Migration::shared(
        4,
        "content assets and playback sessions",
        include_str!("migrations/common/0004_decisions.sql"),
    ),
    Migration::shared(
        5,
        "monetization fields and user devices",
        include_str!("migrations/common/0005_monetization_and_devices.sql"),
    ),
    Migration::shared(
        6,
        "stream leases",
        include_str!("migrations/common/0006_stream_leases.sql"),
    ),
    Migration::shared(
        7,
        "per-entitlement concurrency policy",
        include_str!("migrations/common/0007_entitlement_policy.sql"),
    ),
    Migration::shared(
        8,
        "billing plans and products",
        include_str!("migrations/common/0008_billing.sql"),
    ),
    Migration::shared(
        9,
        "applied entitlement token ids",
        include_str!("migrations/common/0009_entitlement_token_jtis.sql"),
    ),
    Migration::shared(
        10,
        "content keys by asset",
        include_str!("migrations/common/0010_content_keys_by_asset.sql"),
    ),
    Migration::shared(
        11,
        "audit events",
        include_str!("migrations/common/0011_audit_events.sql"),
    ),
    Migration::shared(
        12,
        "cache generation",
        include_str!("migrations/common/0012_cache_generation.sql"),
    ),
    Migration::shared(
        13,
        "key IDs, packager keys and SPEKE credentials",
        include_str!("migrations/common/0013_packager_keys.sql"),
    ),
    Migration::shared(
        14,
        "package DRM policies",
        include_str!("migrations/common/0014_package_drm_policy.sql"),
    ),
    Migration::shared(
        15,
        "the DRM of audit events",
        include_str!("migrations/common/0015_audit_drm.sql"),
    ),
];

/// Arbitrary constant naming sees's migration lock.
const PG_LOCK_ID: i64 = 0x5EE5_0001;

/// The newest migration this binary knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies every migration the store lacks.
pub async fn run(store: &Store) -> Result<(), StoreError> {
    let mut conn = store.pool().acquire().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_LOCK_ID)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply_pending(store.backend(), &mut conn).await;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_LOCK_ID)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply_pending(backend: Backend, conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS sees_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await?;
    let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM sees_migrations")
        .fetch_all(&mut *conn)
        .await?;
    if let Some(&(unknown,)) = applied.iter().find(|(v,)| *v > latest_version()) {
        return Err(StoreError::UnknownMigration(unknown));
    }
    for migration in MIGRATIONS {
        if applied.iter().any(|(v,)| *v == migration.version) {
            continue;
        }
        let sql = match backend {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        let failed = |source| StoreError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        let mut tx = conn.begin().await?;
        for statement in statements(sql) {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
        }
        sqlx::query("INSERT INTO sees_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
    }
    Ok(())
}

/// The statements of a migration file: comment lines (`--`) dropped, then split on `;`. Migration
/// files hold no `;` inside literals.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_split_into_statements() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert_eq!(
                statements(m.sqlite).len(),
                statements(m.postgres).len(),
                "{}",
                m.name
            );
        }
        assert_eq!(
            statements("-- only a comment; with a semicolon\n;\n  ;CREATE TABLE x (a TEXT);"),
            ["CREATE TABLE x (a TEXT)"]
        );
    }
}
