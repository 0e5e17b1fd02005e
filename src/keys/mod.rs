//! Content keys: the CEK and IV of each `contentID`, sealed at rest under the master key, cached
//! decrypted in memory for the hot path, imported from JSON lines or CSV, and issued to packagers
//! (SPEKE) by KID.
//!
//! Key material lives only in zeroizing types whose `Debug` prints `[redacted]`; no error, log line or
//! listing in this module ever carries it.

mod cache;
mod import;
mod lifetime;
mod master;
mod material;
mod packager;
mod record;
pub mod settings;
mod store;

pub use import::{parse_import, parse_key_id, ImportError, ImportFormat};
pub use lifetime::{LifetimeExpired, LifetimeParseError, TokenLifetime, MAX_LIFETIME_SECS};
pub use master::{MasterKey, MasterKeyError, MASTER_KEY_ENV};
pub use material::{ContentKey, KeyMaterialError};
pub use packager::{KeyOrigin, PackagerKey, PackagerKeyRequest};
pub use record::{KeyPolicy, KeySummary, NewContentKey, StoredKey};
pub use settings::KeysSettings;
pub use store::{KeyStore, KeyStoreError};
