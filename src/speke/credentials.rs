//! Packagers' HTTP Basic credentials for the SPEKE listener: created by `sees speke credentials
//! create`, the secret shown once and stored only as a SHA-256 (secrets are 256 random bits, so a
//! plain hash cannot be reversed), listed and revoked by name or id like admin tokens. Storage only:
//! the `Authorization` header is read in `auth`. Never logs or stores a secret itself.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

use crate::store::secrets::{digest, new_secret, valid_name};
use crate::store::{from_unix_millis, unix_millis, Store, StoreError};

/// Every secret starts with this, so that leaked ones are easy to find.
pub const SECRET_PREFIX: &str = "speke_";

/// A credential as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    pub id: String,
    /// The Basic user name.
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a credential operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("a SPEKE credential named {0:?} exists")]
    DuplicateName(String),
    #[error("no SPEKE credential with the name or id {0:?}")]
    NotFound(String),
    #[error("SPEKE credential names are 1-64 characters of letters, digits, '.', '_' and '-'")]
    BadName,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CredentialError {
    fn from(e: sqlx::Error) -> Self {
        CredentialError::Store(StoreError::Database(e))
    }
}

/// The credential table.
#[derive(Debug, Clone)]
pub struct SpekeCredentials {
    store: Store,
}

impl SpekeCredentials {
    /// Credentials in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a credential named `name`; the returned secret (the Basic password) is the only copy.
    pub async fn create(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(CredentialInfo, SecretString), CredentialError> {
        if !valid_name(name) {
            return Err(CredentialError::BadName);
        }
        let secret = new_secret(SECRET_PREFIX);
        let info = CredentialInfo {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            created_at: now,
            revoked_at: None,
        };
        let inserted = sqlx::query(
            "INSERT INTO speke_credentials (id, name, secret_sha256, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&info.id)
        .bind(&info.name)
        .bind(digest(secret.expose_secret()))
        .bind(unix_millis(now))
        .execute(self.store.pool())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(CredentialError::DuplicateName(name.to_owned()));
        }
        Ok((info, secret))
    }

    /// The live credential named `name` whose secret is `secret`, if any.
    pub async fn authenticate(
        &self,
        name: &str,
        secret: &str,
    ) -> Result<Option<CredentialInfo>, CredentialError> {
        if !valid_name(name) || !secret.starts_with(SECRET_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, name, created_at, revoked_at FROM speke_credentials \
             WHERE name = $1 AND secret_sha256 = $2 AND revoked_at IS NULL",
        )
        .bind(name)
        .bind(digest(secret))
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|row| info_from_row(&row)).transpose()
    }

    /// Every credential, oldest first.
    pub async fn list(&self) -> Result<Vec<CredentialInfo>, CredentialError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, revoked_at FROM speke_credentials ORDER BY created_at, name",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(info_from_row).collect()
    }

    /// Revokes the credential named or numbered `which`.
    pub async fn revoke(&self, which: &str, now: DateTime<Utc>) -> Result<(), CredentialError> {
        let result = sqlx::query(
            "UPDATE speke_credentials SET revoked_at = $1 \
             WHERE (name = $2 OR id = $2) AND revoked_at IS NULL",
        )
        .bind(unix_millis(now))
        .bind(which)
        .execute(self.store.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Err(CredentialError::NotFound(which.to_owned()));
        }
        Ok(())
    }
}

fn info_from_row(row: &sqlx::any::AnyRow) -> Result<CredentialInfo, CredentialError> {
    Ok(CredentialInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: from_unix_millis(row.try_get("created_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(from_unix_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    #[tokio::test]
    async fn create_authenticate_list_revoke_on_every_backend() {
        for test in testing::stores().await {
            let credentials = SpekeCredentials::new(test.store.clone());
            let now = Utc::now();
            let (info, secret) = credentials.create("mediapackage", now).await.unwrap();
            let secret = secret.expose_secret();
            assert!(secret.starts_with(SECRET_PREFIX));
            let found = credentials.authenticate("mediapackage", secret).await;
            assert_eq!(found.unwrap().unwrap().name, "mediapackage");
            for (name, wrong) in [
                ("mediapackage", "speke_wrong"),
                ("other", secret),
                ("mediapackage", "no-prefix"),
            ] {
                let refused = credentials.authenticate(name, wrong).await.unwrap();
                assert!(refused.is_none(), "{name}");
            }
            assert!(matches!(
                credentials.create("mediapackage", now).await,
                Err(CredentialError::DuplicateName(_))
            ));
            assert!(matches!(
                credentials.create("a:b", now).await,
                Err(CredentialError::BadName)
            ));
            let (stored,): (String,) =
                sqlx::query_as("SELECT secret_sha256 FROM speke_credentials")
                    .fetch_one(test.store.pool())
                    .await
                    .unwrap();
            assert!(!stored.contains(&secret[SECRET_PREFIX.len()..]));
            credentials.revoke(&info.id, now).await.unwrap();
            let revoked = credentials.authenticate("mediapackage", secret).await;
            assert!(revoked.unwrap().is_none());
            assert!(credentials.list().await.unwrap()[0].revoked_at.is_some());
            assert!(matches!(
                credentials.revoke("mediapackage", now).await,
                Err(CredentialError::NotFound(_))
            ));
        }
    }
}
