//! Stream leases for concurrency limits (placeholder until the implementation lands).

use crate::store::Store;

/// Running streams.
#[derive(Debug, Clone)]
pub struct StreamLeases {
    #[allow(dead_code)]
    store: Store,
}

impl StreamLeases {
    /// Leases in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}
