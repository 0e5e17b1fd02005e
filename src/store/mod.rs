//! The database: one sqlx pool over SQLite (the embedded default) or PostgreSQL (several nodes sharing
//! state), numbered migrations applied at start, and helpers the query modules share.
//!
//! SQL elsewhere is written once for both backends: `$N` placeholders (SQLite accepts them too),
//! `BIGINT` for integers and Unix-millisecond times, `TEXT`, and bytes as `BLOB`/`BYTEA`.

pub mod coherence;
mod generation_reads;
mod locked;
mod migrate;
pub mod secrets;
pub mod settings;
pub mod subscriber;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

use coherence::{Change, Coherence};
use generation_reads::GenerationReads;
pub use locked::LockKey;

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store that cannot be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot create the directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error("the store is newer than this binary: migration {0} is unknown here")]
    UnknownMigration(i64),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The shared connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    ephemeral: AnyPool,
    backend: Backend,
    url: Arc<str>,
    coherence: Arc<Coherence>,
    generation_reads: Arc<GenerationReads>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may hold the database password.
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("coherence", &self.coherence)
            .finish_non_exhaustive()
    }
}

/// `BEGIN IMMEDIATE` on a connection of the SQLite `pool`. SQLite ends a transaction by itself when
/// its COMMIT fails for a full disk (`SQLITE_FULL`); sqlx's count of open transactions on that
/// connection then never returns to zero, and every later `BEGIN` on it fails ("begin_with at
/// non-zero transaction depth") — after space is freed too. Such a connection is closed and another
/// taken, so that a full disk leaves nothing stuck behind.
pub(crate) async fn begin_immediate(
    pool: &AnyPool,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    for _ in 0..=pool.size() {
        match pool.begin_with("BEGIN IMMEDIATE").await {
            Err(sqlx::Error::InvalidSavePointStatement) => close_a_stuck_connection(pool).await?,
            other => return other,
        }
    }
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Takes a connection of `pool` and closes it when it is stuck inside a transaction SQLite ended.
async fn close_a_stuck_connection(pool: &AnyPool) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = pool.acquire().await?;
    let stuck = {
        // A transaction that does begin is dropped at once: rolled back, nothing written.
        let begun = (*conn).begin_with("BEGIN IMMEDIATE").await;
        matches!(begun, Err(sqlx::Error::InvalidSavePointStatement))
    };
    if stuck {
        tracing::warn!("a store connection left inside a transaction SQLite had ended was closed");
        conn.close_on_drop();
    }
    Ok(())
}

/// The connection checkout deadline of [`Store::connect`] (`store.acquire_timeout_ms`'s default).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);

impl Store {
    /// Opens (creating an SQLite file and its directory when absent) and migrates the store at `url`,
    /// with the default connection checkout deadline.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        Self::connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// As `connect`, with queries failing after waiting `acquire_timeout` for a connection (the
    /// pool's, or a new one while the database is unreachable).
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Store, StoreError> {
        install_drivers();
        let (backend, connect_url) = if let Some(path) = url.strip_prefix("sqlite://") {
            (Backend::Sqlite, sqlite_url(path)?)
        } else {
            (Backend::Postgres, url.to_owned())
        };
        let options =
            AnyConnectOptions::from_str(&connect_url).map_err(|source| StoreError::Connect {
                url: redact_password(url),
                source,
            })?;
        let open = |durability: Durability, connections: u32| {
            let options = options.clone();
            async move {
                AnyPoolOptions::new()
                    .max_connections(connections)
                    .acquire_timeout(acquire_timeout)
                    // A ping before every checkout guards against a PostgreSQL server that dropped
                    // the connection; an SQLite connection is a file handle: the ping is only a
                    // round trip to its worker thread.
                    .test_before_acquire(backend == Backend::Postgres)
                    .after_connect(move |conn, _meta| {
                        Box::pin(async move {
                            for statement in session_settings(backend, durability) {
                                sqlx::query(statement).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(|source| StoreError::Connect {
                        url: redact_password(url),
                        source,
                    })
            }
        };
        let pool = open(Durability::Flushed, max_connections).await?;
        // SQLite takes one writer at a time, and a connection waiting for the write lock sleeps in
        // the busy handler (milliseconds): one connection queues lease writes in the pool instead.
        let ephemeral_connections = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => (max_connections / 2).max(2),
        };
        let ephemeral = open(Durability::Relaxed, ephemeral_connections).await?;
        let store = Store {
            pool,
            ephemeral,
            backend,
            url: Arc::from(connect_url.as_str()),
            coherence: Arc::new(Coherence::new(backend == Backend::Postgres)),
            generation_reads: Arc::new(GenerationReads::new()),
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// The pool, for query functions.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A second pool for state that expires within minutes (stream leases): its commits are not
    /// flushed to disk before they are acknowledged (SQLite `synchronous = NORMAL` under WAL,
    /// PostgreSQL `synchronous_commit = off`). A crash of sees loses nothing; a power cut or OS crash
    /// may forget the last moments of such writes — never a half-written one, and never anything
    /// written through [`Store::pool`].
    pub fn ephemeral_pool(&self) -> &AnyPool {
        &self.ephemeral
    }

    /// SQLite: copies what the write-ahead log holds into the database file without blocking readers
    /// or writers (`PRAGMA wal_checkpoint(PASSIVE)`), so that the log restarts small. A background
    /// writer that calls this often keeps the automatic checkpoint (at 1,000 pages, run by whichever
    /// commit crosses it) off the commits requests wait for. PostgreSQL: nothing to do.
    pub async fn checkpoint_wal(&self) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.ephemeral)
                .await?;
        }
        Ok(())
    }

    /// The engine behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction that will write: on SQLite it takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so a read followed by a write waits for other writers (busy timeout) instead of failing with
    /// "database is locked" when one commits in between (the audit writer commits often).
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        self.begin_write_on(&self.pool).await
    }

    /// The same on [`Store::ephemeral_pool`] (commits not flushed before they are acknowledged).
    pub async fn begin_write_ephemeral(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        self.begin_write_on(&self.ephemeral).await
    }

    async fn begin_write_on(
        &self,
        pool: &AnyPool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => begin_immediate(pool).await,
            Backend::Postgres => pool.begin().await,
        }
    }

    /// The generations the caches of this process are stamped with (see [`coherence`]).
    pub fn coherence(&self) -> &Arc<Coherence> {
        &self.coherence
    }

    /// The connection URL (with its password: never for messages; see [`redact_password`]).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Tells every node what the transaction on `conn` changed, when (and only if) it commits: on
    /// PostgreSQL it bumps `sees_cache_generation` and sends `NOTIFY` with the new generation and the
    /// changed scopes. Call it last before the commit (the generation row is locked until then). On
    /// SQLite nothing is sent: no other node shares the file.
    pub async fn publish(
        &self,
        conn: &mut sqlx::AnyConnection,
        changes: &[Change<'_>],
    ) -> Result<(), sqlx::Error> {
        if self.backend != Backend::Postgres || changes.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "WITH bumped AS (UPDATE sees_cache_generation SET generation = generation + 1 \
               WHERE id = 1 RETURNING generation), \
             sent AS (SELECT pg_notify('{channel}', \
               (SELECT generation FROM bumped)::text || chr({separator}) || $1) AS done) \
             SELECT bumped.generation FROM bumped, sent",
            channel = coherence::CHANNEL,
            separator = u32::from(coherence::GENERATION_SEPARATOR),
        );
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .bind(coherence::encode_scopes(changes))
            .fetch_one(conn)
            .await?;
        Ok(())
    }

    /// The store-wide generation of cached state (strict consistency's one indexed read).
    pub async fn cache_generation(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT generation FROM sees_cache_generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await
    }

    /// Under strict consistency, waits until every write committed before now has been applied to
    /// this node's caches: `false` when the decision must not use them (see
    /// [`Coherence::ensure_current`]). The read of the generation is shared by the decisions waiting
    /// for it.
    pub async fn ensure_current(&self) -> bool {
        self.coherence
            .ensure_current(self.generation_reads.read(self))
            .await
    }

    /// Closes every connection (after in-flight queries end).
    pub async fn close(&self) {
        self.pool.close().await;
        self.ephemeral.close().await;
    }
}

/// Registers sqlx's SQLite and PostgreSQL drivers with the `Any` pool (once per process).
fn install_drivers() {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
}

/// Whether a pool's commits reach the disk before they are acknowledged.
#[derive(Debug, Clone, Copy)]
enum Durability {
    /// Flushed: an acknowledged write survives power loss as well as a crash.
    Flushed,
    /// Survives a crash of sees, not necessarily a power cut (see `Store::ephemeral_pool`).
    Relaxed,
}

/// What every new connection runs first. SQLite: WAL for concurrent readers, FULL sync (flushed) or
/// NORMAL (relaxed: the WAL is synced at checkpoints only). PostgreSQL: nothing, or
/// `synchronous_commit = off` for the relaxed pool.
fn session_settings(backend: Backend, durability: Durability) -> Vec<&'static str> {
    match (backend, durability) {
        (Backend::Sqlite, durability) => vec![
            "PRAGMA journal_mode = WAL",
            match durability {
                Durability::Flushed => "PRAGMA synchronous = FULL",
                Durability::Relaxed => "PRAGMA synchronous = NORMAL",
            },
            "PRAGMA busy_timeout = 5000",
            "PRAGMA foreign_keys = ON",
        ],
        (Backend::Postgres, Durability::Flushed) => vec![],
        (Backend::Postgres, Durability::Relaxed) => vec!["SET synchronous_commit = off"],
    }
}

/// The sqlx URL for an SQLite file: its directory created, and the file created when absent.
fn sqlite_url(path: &str) -> Result<String, StoreError> {
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    if let Some(dir) = Path::new(file)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{file}?{query}"))
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages.
pub fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// `(…), (…)` — `rows` rows of `columns` parameters for a multi-row `VALUES`, bound in order: `?` on
/// SQLite, `$1, $2, …` on PostgreSQL. SQLite looks up a numbered parameter's name by a linear scan and
/// the driver asks for every parameter's name, so `$N` costs grow with the square of the parameters in
/// one statement (at 64 audit rows, 1,088 parameters, that scan was 15 % of the server's time under
/// load); plain `?` parameters have no name to scan for.
pub fn value_rows(backend: Backend, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * columns + column + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Milliseconds since the Unix epoch, the portable time column format.
pub fn unix_millis(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

/// The inverse of `unix_millis`.
pub fn from_unix_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fresh stores for tests: an SQLite file in a temporary directory, and a fresh PostgreSQL
    //! database when `SEES_TEST_DATABASE_URL` names a server (CI sets it).

    use super::*;

    /// A store and what keeps it alive.
    pub struct TestStore {
        pub store: Store,
        _dir: Option<tempfile::TempDir>,
    }

    /// One store per available backend.
    pub async fn stores() -> Vec<TestStore> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/test.db", dir.path().display());
        let mut stores = vec![TestStore {
            store: Store::connect(&url, 4).await.unwrap(),
            _dir: Some(dir),
        }];
        if let Ok(server) = std::env::var("SEES_TEST_DATABASE_URL") {
            stores.push(TestStore {
                store: Store::connect(&fresh_postgres_database(&server).await, 4)
                    .await
                    .unwrap(),
                _dir: None,
            });
        } else {
            println!("PostgreSQL: skipped (SEES_TEST_DATABASE_URL not set)");
        }
        stores
    }

    /// Creates an empty database on the server and returns its URL.
    pub async fn fresh_postgres_database(server_url: &str) -> String {
        super::fresh_postgres_database(server_url)
            .await
            .expect("creating a test database")
    }
}

/// Creates an empty database named `sees_test_<uuid>` on the PostgreSQL server at `server_url` and
/// returns its URL (tests and benchmarks; the role needs CREATEDB).
pub async fn fresh_postgres_database(server_url: &str) -> Result<String, StoreError> {
    use sqlx::Connection;
    install_drivers();
    let name = format!("sees_test_{}", uuid::Uuid::new_v4().simple());
    let connect_error = |source| StoreError::Connect {
        url: redact_password(server_url),
        source,
    };
    let mut admin = sqlx::AnyConnection::connect(server_url)
        .await
        .map_err(connect_error)?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let _ = admin.close().await;
    let mut url = url::Url::parse(server_url).map_err(|e| StoreError::Connect {
        url: redact_password(server_url),
        source: sqlx::Error::Configuration(e.into()),
    })?;
    url.set_path(&name);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_rows_use_each_backends_placeholders_in_bind_order() {
        assert_eq!(value_rows(Backend::Sqlite, 2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(
            value_rows(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(value_rows(Backend::Sqlite, 0, 3), "");
    }

    #[tokio::test]
    async fn migrations_are_applied_once_on_every_backend() {
        for test in testing::stores().await {
            let store = &test.store;
            migrate::run(store).await.unwrap();
            let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sees_migrations")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(count, migrate::latest_version(), "{:?}", store.backend());
        }
    }

    #[test]
    fn sqlite_urls_create_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = format!("{}/nested/sees.db", dir.path().display());
        assert_eq!(
            sqlite_url(&path).unwrap(),
            format!("sqlite://{path}?mode=rwc")
        );
        assert!(dir.path().join("nested").is_dir());
        assert_eq!(
            sqlite_url(&format!("{path}?mode=ro")).unwrap(),
            format!("sqlite://{path}?mode=ro")
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://sees:hunter2@db.internal/sees"),
            "postgres://sees:***@db.internal/sees"
        );
        assert_eq!(redact_password("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
