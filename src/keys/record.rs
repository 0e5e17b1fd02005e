//! The records of the key store: a key to add, a key as read back (decrypted), what a listing shows,
//! and the per-content policy they carry. Plain data shared by `store` and `cache`; no I/O here.

use chrono::Utc;

use crate::ids::{AssetId, ContentId, IdError};

use super::lifetime::TokenLifetime;
use super::material::ContentKey;

/// Per-content settings: the asset the key protects (`None` = the content ID names the asset), the
/// key's ID and overrides of the token parameters (`None` = the configured default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPolicy {
    pub asset_id: Option<AssetId>,
    /// The key ID (KID) packagers, Widevine and PlayReady name this key by; `None` = not known.
    pub kid: Option<[u8; 16]>,
    /// The packager's content ID (CPIX `contentId`) the key was issued or imported for; `None` for
    /// keys added by hand.
    pub packager_content_id: Option<String>,
    pub token_lifetime: Option<TokenLifetime>,
    pub rental_duration_s: Option<u32>,
}

impl StoredKey {
    /// The asset this key protects: its `asset_id`, else the content ID read as an asset ID.
    pub fn asset(&self) -> Result<AssetId, IdError> {
        match &self.policy.asset_id {
            Some(asset) => Ok(asset.clone()),
            None => AssetId::parse(self.content_id.as_str()),
        }
    }
}

/// A key to add.
#[derive(Debug, Clone)]
pub struct NewContentKey {
    pub content_id: ContentId,
    pub key: ContentKey,
    pub policy: KeyPolicy,
}

/// A key as read back, decrypted.
#[derive(Debug)]
pub struct StoredKey {
    pub content_id: ContentId,
    pub key: ContentKey,
    pub policy: KeyPolicy,
}

/// What `list` shows: everything but the material.
#[derive(Debug, Clone)]
pub struct KeySummary {
    pub content_id: ContentId,
    pub policy: KeyPolicy,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}
