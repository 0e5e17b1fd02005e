//! The store behind a test: SQLite by default, PostgreSQL when the environment asks for it, and one
//! store per backend for the tests that call the catalogue directly. Each call makes a new file or
//! database; nothing is shared between tests.

use std::path::Path;

/// The store a test server uses: a new SQLite file in `dir`, or — when `SEES_TEST_STORE=postgres` —
/// a fresh database on the PostgreSQL server named by `SEES_TEST_DATABASE_URL` (CI runs the admin
/// tests both ways).
pub async fn test_store_url(dir: &Path) -> String {
    if std::env::var("SEES_TEST_STORE").as_deref() == Ok("postgres") {
        let server = std::env::var("SEES_TEST_DATABASE_URL")
            .expect("SEES_TEST_STORE=postgres needs SEES_TEST_DATABASE_URL");
        return sees::store::fresh_postgres_database(&server)
            .await
            .expect("creating a PostgreSQL test database");
    }
    format!("sqlite://{}", dir.join("sees.db").display())
}

/// One fresh store per backend, for catalogue tests that call the library directly: an SQLite file
/// in `dir` always, and a new PostgreSQL database when `SEES_TEST_DATABASE_URL` names a server (else
/// the test prints that PostgreSQL was skipped).
pub async fn backend_stores(dir: &Path) -> Vec<(&'static str, sees::store::Store)> {
    let url = format!("sqlite://{}/backend.db", dir.display());
    let mut stores = vec![(
        "sqlite",
        sees::store::Store::connect(&url, 4)
            .await
            .expect("SQLite store"),
    )];
    match std::env::var("SEES_TEST_DATABASE_URL") {
        Ok(server) => {
            let url = sees::store::fresh_postgres_database(&server)
                .await
                .expect("PostgreSQL test database");
            stores.push((
                "postgres",
                sees::store::Store::connect(&url, 4)
                    .await
                    .expect("PostgreSQL store"),
            ));
        }
        Err(_) => println!("PostgreSQL: skipped (SEES_TEST_DATABASE_URL not set)"),
    }
    stores
}
