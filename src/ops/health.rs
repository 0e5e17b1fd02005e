//! Readiness: the store answers a cheap query, the master key decrypts the key store's canary, the
//! TLS configuration is loaded, and the process is not draining. Failures name the check and a short
//! reason; store errors are logged, never put in the answer (they may name hosts).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::keys::KeyStore;
use crate::store::Store;

/// What readiness looks at, shared by the listeners and the shutdown path.
pub struct Health {
    store: Store,
    keys: Arc<KeyStore>,
    tls_loaded: AtomicBool,
    draining: AtomicBool,
}

/// The answer of a readiness check.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    /// Check name → "ok" or why it fails, in a fixed order.
    pub checks: Map<String, Value>,
    /// The names of the failing checks.
    pub failing: Vec<&'static str>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.failing.is_empty()
    }

    /// The JSON body of `/readyz`.
    pub fn body(&self) -> Value {
        json!({
            "status": if self.is_ready() { "ready" } else { "not ready" },
            "failing": self.failing,
            "checks": self.checks,
        })
    }

    fn check(&mut self, name: &'static str, result: Result<(), String>) {
        let value = match result {
            Ok(()) => Value::String("ok".to_owned()),
            Err(why) => {
                self.failing.push(name);
                Value::String(why)
            }
        };
        self.checks.insert(name.to_owned(), value);
    }
}

impl Health {
    /// Health over `store` and `keys`; the TLS configuration counts as loaded (the listener was
    /// built with it) until `set_tls_loaded(false)`.
    pub fn new(store: Store, keys: Arc<KeyStore>) -> Self {
        Self {
            store,
            keys,
            tls_loaded: AtomicBool::new(true),
            draining: AtomicBool::new(false),
        }
    }

    /// Marks the TLS configuration as loaded or not (a reload that leaves no usable configuration).
    pub fn set_tls_loaded(&self, loaded: bool) {
        self.tls_loaded.store(loaded, Ordering::SeqCst);
    }

    /// From now on readiness is false: shutdown has started.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Runs the checks. While draining, answers at once without touching the store.
    pub async fn readiness(&self) -> Readiness {
        let mut readiness = Readiness {
            checks: Map::new(),
            failing: Vec::new(),
        };
        if self.is_draining() {
            readiness.check("draining", Err("shutting down".to_owned()));
            return readiness;
        }
        let store = sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(self.store.pool())
            .await;
        let store_ok = match store {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the store does not answer");
                false
            }
        };
        readiness.check(
            "store",
            store_ok
                .then_some(())
                .ok_or_else(|| "unreachable".to_owned()),
        );
        let master_key = if store_ok {
            match self.keys.master_key_opens_canary().await {
                Ok(true) => Ok(()),
                Ok(false) => Err("does not decrypt the key store's canary".to_owned()),
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: cannot read the canary");
                    Err("cannot read the canary".to_owned())
                }
            }
        } else {
            Err("not checked: the store is unreachable".to_owned())
        };
        readiness.check("master_key", master_key);
        readiness.check(
            "tls",
            self.tls_loaded
                .load(Ordering::SeqCst)
                .then_some(())
                .ok_or_else(|| "no TLS configuration loaded".to_owned()),
        );
        readiness
    }
}
