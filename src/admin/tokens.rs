//! The old home of the API-token store, kept as a path: `sees::admin::tokens::{Role, ApiTokens,
//! TOKEN_PREFIX}` is what the CLI and the tests name. The store itself is in
//! [`credentials`](super::credentials).

pub use super::credentials::{ApiTokens, Role, TokenError, TokenInfo, TOKEN_PREFIX};
