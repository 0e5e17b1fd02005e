//! Playback sessions: how a `customerCookie` names a viewer. The customer's backend opens a session for
//! a user (optionally a device and a country) and hands the player a random 32-character cookie;
//! only a keyed hash of it is stored.
//!
//! A session is live while it is not revoked and `now < expires_at`; `resolve` returns a session in any
//! state and the caller decides with `PlaybackSession::is_live`. Revoking only touches live sessions,
//! so a revoke reports whether it ended something. Times are kept to the millisecond.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::cache::Shards;
use super::{decode, CatalogError};
use crate::ids::{CustomerCookie, UserId};
use crate::keys::MasterKey;
use crate::store::coherence::{Change, Coherence};
use crate::store::{from_unix_millis, unix_millis, Store};

/// The length of a session cookie, in characters (the `customerCookie` limit).
const COOKIE_CHARS: usize = CustomerCookie::MAX_CHARS;

/// The characters a session cookie is drawn from.
const COOKIE_ALPHABET: &[u8; 62] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Random bytes at or above this are redrawn: 248 = 4 × 62, so `byte % 62` is uniform below it.
const REJECT_FROM: u8 = (256 / COOKIE_ALPHABET.len() * COOKIE_ALPHABET.len()) as u8;

/// The domain of the cookie's keyed hash.
const HASH_DOMAIN: &str = "playback-session-cookie";

/// A live or past playback session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybackSession {
    pub uid: UserId,
    pub device_id: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl PlaybackSession {
    /// Whether the session names its viewer at `now`: not revoked and `now < expires_at`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A fresh cookie: 32 characters drawn uniformly from `[A-Za-z0-9]` by the system random generator
/// (rejection sampling: no modulo bias).
fn new_cookie() -> CustomerCookie {
    let mut cookie = String::with_capacity(COOKIE_CHARS);
    let mut pool = [0u8; 64];
    while cookie.len() < COOKIE_CHARS {
        aws_lc_rs::rand::fill(&mut pool).expect("the system random generator works");
        for &byte in pool.iter().filter(|&&b| b < REJECT_FROM) {
            if cookie.len() == COOKIE_CHARS {
                break;
            }
            cookie.push(char::from(
                COOKIE_ALPHABET[usize::from(byte) % COOKIE_ALPHABET.len()],
            ));
        }
    }
    CustomerCookie::parse(cookie).expect("32 alphanumerics are a valid customerCookie")
}

/// `now + ttl`, saturating at the latest time the store can hold.
fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

const COLUMNS: &str = "uid, device_id, country, created_at, expires_at, revoked_at";

/// How often `open` draws a new cookie when the hash is taken (practically never: 62^32 cookies).
const OPEN_ATTEMPTS: usize = 4;

/// The session table.
#[derive(Clone)]
pub struct PlaybackSessions {
    store: Store,
    master: Arc<MasterKey>,
    cache: Option<Arc<SessionCache>>,
}

/// Sessions found by `resolve`, by cookie hash, stamped with the store's session generation (see
/// `with_cache`). Unknown cookies are never kept; every revocation, on this node or another sharing
/// the store, moves the generation, so a revoked session is never served from here.
struct SessionCache {
    coherence: Arc<Coherence>,
    hasher: RandomState,
    sessions: Shards<String, u64, PlaybackSession>,
}

impl std::fmt::Debug for PlaybackSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackSessions").finish_non_exhaustive()
    }
}

impl PlaybackSessions {
    /// Sessions in `store`, cookies hashed under `master`.
    pub fn new(store: Store, master: Arc<MasterKey>) -> Self {
        Self {
            store,
            master,
            cache: None,
        }
    }

    /// These sessions with a cache of up to `capacity` resolved sessions (0: none), kept coherent
    /// with revocations of this and every other node through the store's generations.
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.cache = (capacity > 0).then(|| {
            Arc::new(SessionCache {
                coherence: Arc::clone(self.store.coherence()),
                hasher: RandomState::new(),
                sessions: Shards::new(capacity),
            })
        });
        self
    }

    /// Whether `cookie` has the shape of a session cookie: exactly 32 characters of `[A-Za-z0-9]`. A
    /// cookie of another shape cannot name a session (the player chose it itself).
    pub fn is_session_cookie(cookie: &CustomerCookie) -> bool {
        let raw = cookie.expose();
        raw.len() == COOKIE_CHARS && raw.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    /// The stored form of a session's country: `raw` upper-cased when it is exactly two ASCII letters
    /// (the shape of an ISO 3166-1 alpha-2 code; the list of assigned codes is not checked), else why not.
    pub fn country_code(raw: &str) -> Result<String, &'static str> {
        if raw.chars().count() != 2 {
            return Err("must be two letters (ISO 3166-1 alpha-2, such as US or de)");
        }
        if !raw.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err("must be two ASCII letters (ISO 3166-1 alpha-2, such as US or de)");
        }
        Ok(raw.to_ascii_uppercase())
    }

    /// Who holds a stream opened through this session: its device, or else the session itself (a prefix
    /// of the cookie's keyed hash — never the cookie).
    pub fn stream_holder(&self, session: &PlaybackSession, cookie: &CustomerCookie) -> String {
        match &session.device_id {
            Some(device) => device.clone(),
            None => format!("session-{}", &self.hash(cookie)[..16]),
        }
    }

    /// The keyed hash a cookie is stored under.
    fn hash(&self, cookie: &CustomerCookie) -> String {
        self.master
            .lookup_hash(HASH_DOMAIN, cookie.expose().as_bytes())
    }

    /// Opens a session for `uid` (on `device_id`, in `country`) lasting `ttl` from `now`: the new
    /// cookie (shown once; only its hash is stored) and the session. `country` is stored upper-case;
    /// the caller checks its shape (`country_code`) and the device id's (`DeviceId::parse`) first.
    /// One row is written, or none.
    pub async fn open(
        &self,
        uid: &UserId,
        device_id: Option<&str>,
        country: Option<&str>,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(CustomerCookie, PlaybackSession), CatalogError> {
        let country = country.map(str::to_ascii_uppercase);
        let sql = format!(
            "INSERT INTO playback_sessions (cookie_hash, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL) \
             ON CONFLICT (cookie_hash) DO NOTHING RETURNING {COLUMNS}"
        );
        for _ in 0..OPEN_ATTEMPTS {
            let cookie = new_cookie();
            let row = sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(self.hash(&cookie))
                .bind(uid.as_str())
                .bind(device_id)
                .bind(country.as_deref())
                .bind(unix_millis(now))
                .bind(unix_millis(expiry(now, ttl)))
                .fetch_optional(self.store.pool())
                .await?;
            if let Some(row) = row {
                return Ok((cookie, session_from_row(&row)?));
            }
        }
        Err(CatalogError::from(sqlx::Error::Protocol(
            "no free playback-session cookie after several draws".into(),
        )))
    }

    /// The session `cookie` names, whatever its state (expired and revoked ones included); `None`
    /// for an unknown cookie or one that does not have the shape of a session cookie.
    pub async fn resolve(
        &self,
        cookie: &CustomerCookie,
    ) -> Result<Option<PlaybackSession>, CatalogError> {
        if !Self::is_session_cookie(cookie) {
            return Ok(None);
        }
        let hash = self.hash(cookie);
        let Some(cache) = self.cache.as_deref() else {
            return self.read(&hash).await;
        };
        if !cache.coherence.caching() {
            return self.read(&hash).await;
        }
        let slot = cache.hasher.hash_one(&hash);
        let generation = cache.coherence.sessions();
        if let Some(session) = cache.sessions.get(slot, &hash, generation) {
            return Ok(Some(PlaybackSession::clone(&session)));
        }
        let found = self.read(&hash).await?;
        if let (Some(session), true) = (&found, cache.coherence.caching()) {
            cache
                .sessions
                .put(slot, hash, generation, Arc::new(session.clone()));
        }
        Ok(found)
    }

    /// The session stored under the cookie hash `hash`.
    async fn read(&self, hash: &str) -> Result<Option<PlaybackSession>, CatalogError> {
        let sql = format!("SELECT {COLUMNS} FROM playback_sessions WHERE cookie_hash = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(self.store.pool())
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Revokes the session `cookie` names at `now`: true when it was live (false: unknown, of another
    /// shape, already revoked or expired).
    pub async fn revoke(
        &self,
        cookie: &CustomerCookie,
        now: DateTime<Utc>,
    ) -> Result<bool, CatalogError> {
        if !Self::is_session_cookie(cookie) {
            return Ok(false);
        }
        let _invalidation = self.store.coherence().invalidation(&[Change::Sessions]);
        let mut tx = self.store.begin_write().await?;
        let result = sqlx::query(
            "UPDATE playback_sessions SET revoked_at = $2 \
             WHERE cookie_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(self.hash(cookie))
        .bind(unix_millis(now))
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        self.store.publish(&mut tx, &[Change::Sessions]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes every live session of `uid` at `now` (one statement); how many.
    pub async fn revoke_user(&self, uid: &UserId, now: DateTime<Utc>) -> Result<u64, CatalogError> {
        let _invalidation = self.store.coherence().invalidation(&[Change::Sessions]);
        let mut tx = self.store.begin_write().await?;
        let result = sqlx::query(
            "UPDATE playback_sessions SET revoked_at = $2 \
             WHERE uid = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(uid.as_str())
        .bind(unix_millis(now))
        .execute(&mut *tx)
        .await?;
        let revoked = result.rows_affected();
        if revoked > 0 {
            self.store.publish(&mut tx, &[Change::Sessions]).await?;
            tx.commit().await?;
        }
        Ok(revoked)
    }

    /// Every session of `uid` (live or not), newest first.
    pub async fn sessions_of(&self, uid: &UserId) -> Result<Vec<PlaybackSession>, CatalogError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM playback_sessions WHERE uid = $1 \
             ORDER BY created_at DESC, expires_at DESC"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(uid.as_str())
            .fetch_all(self.store.pool())
            .await?;
        rows.iter().map(session_from_row).collect()
    }
}

fn session_from_row(row: &AnyRow) -> Result<PlaybackSession, CatalogError> {
    Ok(PlaybackSession {
        uid: UserId::parse(row.try_get::<String, _>("uid")?).map_err(|e| decode("uid", e))?,
        device_id: row.try_get("device_id")?,
        country: row.try_get("country")?,
        created_at: from_unix_millis(row.try_get("created_at")?),
        expires_at: from_unix_millis(row.try_get("expires_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(from_unix_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_32_alphanumerics_and_differ() {
        let a = new_cookie();
        let b = new_cookie();
        assert!(PlaybackSessions::is_session_cookie(&a));
        assert!(PlaybackSessions::is_session_cookie(&b));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(REJECT_FROM, 248);
    }

    #[test]
    fn every_character_of_the_alphabet_is_drawn() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.extend(new_cookie().expose().bytes());
        }
        assert_eq!(seen.len(), COOKIE_ALPHABET.len());
    }

    #[test]
    fn other_shapes_are_not_session_cookies() {
        for raw in [
            "short",
            &"a".repeat(31),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-",
            "ÄÄ",
        ] {
            assert!(
                !PlaybackSessions::is_session_cookie(&CustomerCookie::parse(raw).unwrap()),
                "{raw}"
            );
        }
    }

    #[test]
    fn countries_are_two_letters_stored_upper_case() {
        assert_eq!(PlaybackSessions::country_code("de").unwrap(), "DE");
        assert_eq!(PlaybackSessions::country_code("Us").unwrap(), "US");
        for bad in ["", "U", "USA", "1A", "U ", "ÄÖ", "é"] {
            assert!(PlaybackSessions::country_code(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn expiry_saturates() {
        let now = from_unix_millis(1_700_000_000_000);
        assert_eq!(
            expiry(now, Duration::from_secs(60)),
            from_unix_millis(1_700_000_060_000)
        );
        assert_eq!(expiry(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
