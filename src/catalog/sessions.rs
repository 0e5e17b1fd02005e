//! Playback sessions: how a `customerCookie` names a viewer. The customer's backend opens a session for
//! a user (optionally a device and a country) and hands the player a random 32-character cookie;
//! only a keyed hash of it is stored.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::ids::{CustomerCookie, UserId};
use crate::keys::MasterKey;
use crate::store::Store;

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

/// The session table.
#[derive(Clone)]
pub struct PlaybackSessions {
    #[allow(dead_code)]
    store: Store,
    #[allow(dead_code)]
    master: Arc<MasterKey>,
}

impl std::fmt::Debug for PlaybackSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackSessions").finish_non_exhaustive()
    }
}

impl PlaybackSessions {
    /// Sessions in `store`, cookies hashed under `master`.
    pub fn new(store: Store, master: Arc<MasterKey>) -> Self {
        Self { store, master }
    }

    /// The keyed hash a cookie is stored under.
    #[allow(dead_code)]
    fn hash(&self, cookie: &CustomerCookie) -> String {
        self.master
            .lookup_hash("playback-session-cookie", cookie.expose().as_bytes())
    }
}
