//! The composition root: builds every part from `Settings`, binds the listener, and runs until told
//! to stop. Tests start the same `Application` on port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::expressplay::{TokenService, TokenServiceError};
use crate::keys::{KeyStore, KeyStoreError, MasterKey, MasterKeyError, MASTER_KEY_ENV};
use crate::net::{serve_tls, ConnectionLimits};
use crate::sees::handler::SeesState;
use crate::sees::{EntitlementService, TokenDefaults};
use crate::store::{redact_password, Store, StoreError};
use crate::tls::TlsError;

/// Why sees cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Upstream(#[from] TokenServiceError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "expressplay.customer_authenticator is not set: configure it (or SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR), \
         or run `sees serve --dev` to use the local ExpressPlay simulator"
    )]
    NoAuthenticator,
}

/// Opens the store and the key store as `settings` say, proving the master key.
pub async fn open_key_store(settings: &Settings) -> Result<KeyStore, StartError> {
    let master = MasterKey::load(
        std::env::var(MASTER_KEY_ENV).ok().as_deref(),
        &settings.keys.master_key_file,
    )?;
    let store = Store::connect(&settings.store.url, settings.store.max_connections).await?;
    Ok(KeyStore::open(
        store,
        master,
        settings.keys.cache_capacity,
        Duration::from_millis(settings.keys.cache_ttl_ms),
        &redact_password(&settings.store.url),
    )
    .await?)
}

/// A built, bound, not yet running sees.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    limits: ConnectionLimits,
    keys: Arc<KeyStore>,
}

impl Application {
    /// Builds everything and binds `server.listen` (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> Result<Application, StartError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As `build`, with the clock given (tests).
    pub async fn build_with_clock(
        settings: &Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartError> {
        if !settings.expressplay.has_authenticator() {
            return Err(StartError::NoAuthenticator);
        }
        let tls = crate::tls::server_config(&settings.tls)?;
        let keys = Arc::new(open_key_store(settings).await?);
        let tokens = TokenService::new(&settings.expressplay)?;
        let defaults = TokenDefaults {
            lifetime: settings.expressplay.token_lifetime,
            rental_duration_s: settings.expressplay.rental_duration_s,
        };
        let state = Arc::new(SeesState {
            service: EntitlementService::new(Arc::clone(&keys), tokens, defaults, clock),
            max_body_bytes: settings.server.max_body_bytes,
            request_timeout: settings.request_timeout(),
        });
        let router = crate::sees::router(state, &settings.server.paths);
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: settings.server.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: settings.server.listen,
            source,
        })?;
        Ok(Application {
            listener,
            local_addr,
            tls,
            router,
            limits: ConnectionLimits {
                handshake_timeout: Duration::from_millis(settings.server.handshake_timeout_ms),
                header_read_timeout: Duration::from_millis(settings.server.header_read_timeout_ms),
                max_connections: settings.server.max_connections,
                shutdown_grace: Duration::from_millis(settings.server.shutdown_grace_ms),
            },
            keys,
        })
    }

    /// The bound address of the SEES listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The key store the server reads (seeding, tests).
    pub fn key_store(&self) -> Arc<KeyStore> {
        Arc::clone(&self.keys)
    }

    /// Serves until `shutdown` completes, then drains.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(addr = %self.local_addr, "SEES listener ready (mutual TLS)");
        serve_tls(self.listener, self.tls, self.router, self.limits, shutdown).await;
        tracing::info!("stopped");
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
