//! The devices each user registered (placeholder until the implementation lands).

use crate::store::Store;

/// A user's registered devices.
#[derive(Debug, Clone)]
pub struct UserDevices {
    #[allow(dead_code)]
    store: Store,
}

impl UserDevices {
    /// Devices in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}
