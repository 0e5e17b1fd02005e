//! Entry points for the fuzz targets (`fuzz/`) and their stable replay test: each admin body decoded
//! and checked the way its route does, without HTTP or a store. Not an API.

use chrono::{DateTime, Utc};

use super::envelope::ApiError;
use super::{billing, entitlements, jwt_entitlements, monetization, packages};
use super::{playback_tokens, sessions};

/// The list limit the checks run with (the default `limits.max_list_len`).
const MAX_LIST_LEN: usize = 10_000;

/// The admin bodies the fuzzer knows, one per route body type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    PackageCreate,
    PackageUpdate,
    PackageAssets,
    MonetizationCreate,
    SessionOpen,
    BillingPlanCreate,
    ProductCreate,
    EntitlementGrant,
    EntitlementToken,
    PlaybackToken,
}

impl BodyKind {
    /// Every kind, in a fixed order (a fuzz input's first byte picks one).
    pub const ALL: [BodyKind; 10] = [
        BodyKind::PackageCreate,
        BodyKind::PackageUpdate,
        BodyKind::PackageAssets,
        BodyKind::MonetizationCreate,
        BodyKind::SessionOpen,
        BodyKind::BillingPlanCreate,
        BodyKind::ProductCreate,
        BodyKind::EntitlementGrant,
        BodyKind::EntitlementToken,
        BodyKind::PlaybackToken,
    ];

    /// The kind a selector byte stands for.
    pub fn from_byte(byte: u8) -> BodyKind {
        Self::ALL[usize::from(byte) % Self::ALL.len()]
    }
}

/// Decodes and checks `bytes` as a body of `kind` at `now`, as its route would before touching the store.
pub fn parse_body(kind: BodyKind, bytes: &[u8], now: DateTime<Utc>) -> Result<(), ApiError> {
    match kind {
        BodyKind::PackageCreate => packages::fuzz_create(bytes, MAX_LIST_LEN, now),
        BodyKind::PackageUpdate => packages::fuzz_update(bytes),
        BodyKind::PackageAssets => packages::fuzz_assets(bytes, MAX_LIST_LEN),
        BodyKind::MonetizationCreate => monetization::fuzz_create(bytes, now),
        BodyKind::SessionOpen => sessions::fuzz_open(bytes),
        BodyKind::BillingPlanCreate => billing::fuzz_create_plan(bytes),
        BodyKind::ProductCreate => billing::fuzz_create_product(bytes),
        BodyKind::EntitlementGrant => entitlements::fuzz_grant(bytes),
        BodyKind::EntitlementToken => jwt_entitlements::fuzz_token_body(bytes),
        BodyKind::PlaybackToken => playback_tokens::fuzz_token_body(bytes),
    }
}
