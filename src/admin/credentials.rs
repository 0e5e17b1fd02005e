//! The admin API's bearer-token store: tokens are created by `sees tokens create`, shown once, stored
//! only as a SHA-256 (tokens are 256 random bits, so a plain hash cannot be reversed), listed and
//! revoked by name or id. The roles they carry are defined here too.
//!
//! Storage only: no HTTP here (the `Authorization` header is read in `auth`). Never logs or stores a
//! token itself.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

use crate::store::secrets::{digest, new_secret, valid_name};
use crate::store::{from_unix_millis, unix_millis, Store, StoreError};

/// Every token starts with this, so that leaked tokens are easy to find and to tell from JWTs.
pub const TOKEN_PREFIX: &str = "sees_";

/// What a token may do: `reader` reads, `support` also grants, extends and deletes entitlements,
/// `admin` does everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Role {
    Reader,
    Support,
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Reader => "reader",
            Role::Support => "support",
            Role::Admin => "admin",
        })
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "reader" => Ok(Role::Reader),
            "support" => Ok(Role::Support),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token named {0:?} exists")]
    DuplicateName(String),
    #[error("no token with the name or id {0:?}")]
    NotFound(String),
    #[error("token names are 1-64 characters of letters, digits, '.', '_' and '-'")]
    BadName,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        TokenError::Store(StoreError::Database(e))
    }
}

/// The token table.
#[derive(Debug, Clone)]
pub struct ApiTokens {
    store: Store,
}

impl ApiTokens {
    /// Tokens in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a token; the returned secret is the only copy.
    pub async fn create(
        &self,
        name: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(TokenInfo, SecretString), TokenError> {
        if !valid_name(name) {
            return Err(TokenError::BadName);
        }
        let token = new_secret(TOKEN_PREFIX);
        let info = TokenInfo {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            role,
            created_at: now,
            revoked_at: None,
        };
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&info.id)
        .bind(&info.name)
        .bind(role.to_string())
        .bind(digest(token.expose_secret()))
        .bind(unix_millis(now))
        .execute(self.store.pool())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(TokenError::DuplicateName(name.to_owned()));
        }
        Ok((info, token))
    }

    /// The live token matching `token`, if any.
    pub async fn authenticate(&self, token: &str) -> Result<Option<TokenInfo>, TokenError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, name, role, created_at, revoked_at FROM api_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(digest(token))
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|row| info_from_row(&row)).transpose()
    }

    /// Every token, oldest first.
    pub async fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let rows = sqlx::query(
            "SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY created_at, name",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(info_from_row).collect()
    }

    /// Revokes the token named or numbered `which`.
    pub async fn revoke(&self, which: &str, now: DateTime<Utc>) -> Result<(), TokenError> {
        let result = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE (name = $2 OR id = $2) AND revoked_at IS NULL",
        )
        .bind(unix_millis(now))
        .bind(which)
        .execute(self.store.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Err(TokenError::NotFound(which.to_owned()));
        }
        Ok(())
    }
}

fn info_from_row(row: &sqlx::any::AnyRow) -> Result<TokenInfo, TokenError> {
    let role: String = row.try_get("role")?;
    Ok(TokenInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
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
            let tokens = ApiTokens::new(test.store.clone());
            let now = Utc::now();
            let (info, secret) = tokens
                .create("support-desk", Role::Support, now)
                .await
                .unwrap();
            assert!(secret.expose_secret().starts_with(TOKEN_PREFIX));
            let found = tokens
                .authenticate(secret.expose_secret())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (found.name.as_str(), found.role),
                ("support-desk", Role::Support)
            );
            assert!(tokens.authenticate("sees_wrong").await.unwrap().is_none());
            assert!(tokens
                .authenticate("not-a-sees-token")
                .await
                .unwrap()
                .is_none());
            assert!(matches!(
                tokens.create("support-desk", Role::Admin, now).await,
                Err(TokenError::DuplicateName(_))
            ));
            assert!(matches!(
                tokens.create("bad name", Role::Admin, now).await,
                Err(TokenError::BadName)
            ));

            let (stored_hash,): (String,) = sqlx::query_as("SELECT token_hash FROM api_tokens")
                .fetch_one(test.store.pool())
                .await
                .unwrap();
            assert!(!stored_hash.contains(&secret.expose_secret()[TOKEN_PREFIX.len()..]));

            tokens.revoke(&info.id, now).await.unwrap();
            assert!(tokens
                .authenticate(secret.expose_secret())
                .await
                .unwrap()
                .is_none());
            assert!(matches!(
                tokens.revoke("support-desk", now).await,
                Err(TokenError::NotFound(_))
            ));
            assert!(tokens.list().await.unwrap()[0].revoked_at.is_some());
        }
    }
}
