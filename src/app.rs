//! The composition root: builds every part from `Settings`, binds the listener, and runs until told
//! to stop. Tests start the same `Application` on port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::admin::jwt::providers::{EntitlementProviders, ProviderConfigError};
use crate::admin::jwt::{JwtConfigError, JwtVerifier};
use crate::admin::tokens::ApiTokens;
use crate::admin::{AdminIdentity, AdminLimits, AdminState, UserPlaybackState};
use crate::audit::{AuditError, AuditLog};
use crate::catalog::{Billing, Catalog, PlaybackSessions, StreamLeases, UserDevices};
use crate::clock::{Clock, SystemClock};
use crate::config::{DecisionMode, Settings};
use crate::decision::Decider;
use crate::devices::DeviceBindings;
use crate::drm::Drm;
use crate::expressplay::{ClientSetupError, ExpressPlayClient};
use crate::ids::ContentId;
use crate::keys::{KeyStore, KeyStoreError, MasterKey, MasterKeyError, MASTER_KEY_ENV};
use crate::net::rate_limit::RateLimiter;
use crate::net::shedding::LoadShedder;
use crate::net::{serve_tls, ClientGate, ConnectionLimits, EdgeAnswers, TlsSource};
use crate::ops::{serve_plain, Health, OpsState};
use crate::playback::{EntitlementService, ServiceParts, TokenDefaults};
use crate::sees::handler::SeesState;
use crate::speke::{SpekeCredentials, SpekeState};
use crate::store::coherence;
use crate::store::subscriber::Subscriber;
use crate::store::{redact_password, Store, StoreError};
use crate::tls::live::LiveTls;
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
    Upstream(#[from] ClientSetupError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("auth: {0}")]
    EndUsers(#[from] JwtConfigError),
    #[error(transparent)]
    EntitlementProviders(#[from] ProviderConfigError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(
        "expressplay.customer_authenticator is not set: configure it (or SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR), \
         or run `sees serve --dev` to use the local ExpressPlay simulator"
    )]
    NoAuthenticator,
}

/// The store and what lives in it, opened as `settings` say with the master key proven.
pub struct Stores {
    pub store: Store,
    pub master: Arc<MasterKey>,
    pub keys: KeyStore,
    pub devices: DeviceBindings,
}

/// Opens the store, the key store and the device bindings, proving the master key.
pub async fn open_stores(settings: &Settings) -> Result<Stores, StartError> {
    let master = Arc::new(MasterKey::load(
        std::env::var(MASTER_KEY_ENV).ok().as_deref(),
        &settings.keys.master_key_file,
    )?);
    let store = Store::connect_with(
        &settings.store.url,
        settings.store.max_connections,
        settings.store.acquire_timeout,
    )
    .await?;
    let keys = KeyStore::open(
        store.clone(),
        Arc::clone(&master),
        settings.keys.cache_capacity,
        settings.keys.cache_ttl,
        &redact_password(&settings.store.url),
    )
    .await?;
    let devices = DeviceBindings::new(
        store.clone(),
        Arc::clone(&master),
        settings.devices.binding_ttl,
    );
    Ok(Stores {
        store,
        master,
        keys,
        devices,
    })
}

/// A built, bound, not yet running sees.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    gate: Arc<ClientGate>,
    router: Router,
    limits: ConnectionLimits,
    keys: Arc<KeyStore>,
    catalog: Catalog,
    state: Arc<SeesState>,
    admin: AdminListener,
    ops: OpsListener,
    speke: Option<SpekeListener>,
    health: Arc<Health>,
    store: Store,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
    heartbeat: Duration,
}

/// How often expired stream leases are deleted.
const LEASE_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The ops listener: plain HTTP, no client certificate.
struct OpsListener {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
}

/// The SPEKE key-provider listener: TLS, packagers authenticated per `speke.auth`.
struct SpekeListener {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
}

/// The admin API's listener: plain HTTP (loopback only) or TLS.
struct AdminListener {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
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
        let tls = LiveTls::load(&settings.tls)?;
        let gate = Arc::new(
            ClientGate::new(
                tls,
                RateLimiter::new(settings.server.rate_limit_per_s, settings.server.rate_burst),
            )
            .with_shedder(LoadShedder::new(settings.server.shedding())),
        );
        let stores = open_stores(settings).await?;
        let audit =
            AuditLog::start(stores.store.clone(), &settings.audit, Arc::clone(&clock)).await?;
        let clock_for_admin = Arc::clone(&clock);
        let keys = Arc::new(stores.keys);
        let cache_capacity = settings.decision.cache_entries();
        stores
            .store
            .coherence()
            .set_consistency(settings.decision.consistency, settings.decision.strict_wait);
        let catalog = Catalog::new(stores.store.clone(), settings.admin.graph_max_depth)
            .with_decision_cache(cache_capacity);
        let sessions = PlaybackSessions::new(stores.store.clone(), Arc::clone(&stores.master))
            .with_cache(cache_capacity);
        let decider = Decider::new(
            catalog.clone(),
            sessions.clone(),
            settings.decision.clock_skew,
        );
        let expressplay = Arc::new(ExpressPlayClient::new(&settings.expressplay)?);
        let service = Arc::new(EntitlementService::new(ServiceParts {
            decider: decider.clone(),
            open_mode: match settings.decision.mode {
                DecisionMode::Catalog => false,
                DecisionMode::Open => {
                    tracing::warn!(
                        "decision.mode = \"open\": ANY content with a key is allowed, as in the reference \
                         SEES; the catalogue is not consulted"
                    );
                    true
                }
            },
            user_devices: UserDevices::new(stores.store.clone()),
            leases: StreamLeases::new(stores.store.clone()),
            concurrency: settings.concurrency.clone(),
            max_devices: settings.devices.max_per_user,
            keys: Arc::clone(&keys),
            devices: stores.devices,
            expressplay: Arc::clone(&expressplay),
            defaults: TokenDefaults {
                lifetime: settings.expressplay.token_lifetime,
                rental_duration_s: settings.expressplay.rental_duration_s,
            },
            registration_content: settings
                .devices
                .registration_content_ids
                .iter()
                .filter_map(|id| ContentId::parse(id.clone()).ok())
                .collect(),
            upstream_budget: settings.expressplay.budget,
            clock,
            drm: settings.drm.clone(),
        }));
        let state = Arc::new(SeesState {
            service: Arc::clone(&service),
            max_body_bytes: settings.server.max_body_bytes,
            request_timeout: settings.server.request_timeout,
            audit: audit.clone(),
        });
        let paths = [
            (Drm::FairPlay, settings.server.paths.clone()),
            (Drm::Widevine, settings.server.widevine_paths.clone()),
            (Drm::PlayReady, settings.server.playready_paths.clone()),
        ];
        let router = crate::sees::router(Arc::clone(&state), &paths);
        let (listener, local_addr) = bind(settings.server.listen).await?;
        let admin_state = Arc::new(AdminState {
            catalog: catalog.clone(),
            billing: Billing::new(stores.store.clone()),
            users: UserPlaybackState {
                sessions,
                user_devices: UserDevices::new(stores.store.clone()),
                leases: StreamLeases::new(stores.store.clone()),
                lease_duration: settings.concurrency.lease,
            },
            identity: AdminIdentity {
                tokens: ApiTokens::new(stores.store.clone()),
                end_users: JwtVerifier::from_settings(&settings.auth)?,
                entitlement_providers: EntitlementProviders::from_settings(&settings.auth)?,
            },
            decider,
            playback: service,
            quote_sees: crate::sees::errors::quote,
            edge_auth: crate::akamai::EdgeAuth::from_settings(&settings.entitlement_tokens),
            country_header: settings
                .entitlement_tokens
                .country_header
                .as_deref()
                .and_then(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).ok()),
            clock: Arc::clone(&clock_for_admin),
            limits: AdminLimits {
                max_body_bytes: settings.admin.max_body_bytes,
                max_page_size: settings.admin.max_page_size,
                max_list_len: settings.admin.max_list_len,
            },
            audit: audit.clone(),
        });
        let admin_tls = match (&settings.admin.tls_cert, &settings.admin.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::admin_server_config(
                cert,
                key,
                settings.admin.client_ca.as_deref(),
            )?),
            _ => None,
        };
        let (admin_listener, admin_addr) = bind(settings.admin.listen).await?;
        let health = Arc::new(Health::new(stores.store.clone(), Arc::clone(&keys)));
        let ops_router = crate::ops::router(Arc::new(OpsState {
            health: Arc::clone(&health),
            metrics: crate::ops::metrics::install(),
            expressplay,
            tls: Arc::clone(gate.tls()),
            audit: audit.clone(),
            keys: Arc::clone(&keys),
            leases: StreamLeases::new(stores.store.clone()),
            clock: Arc::clone(&clock_for_admin),
        }));
        let (ops_listener, ops_addr) = bind(settings.ops.listen).await?;
        let speke = match settings.speke.listen {
            Some(addr) => Some(
                speke_listener(
                    settings,
                    addr,
                    SpekeState {
                        keys: Arc::clone(&keys),
                        credentials: SpekeCredentials::new(stores.store.clone()),
                        settings: settings.speke.clone(),
                        audit: audit.clone(),
                    },
                )
                .await?,
            ),
            None => None,
        };
        Ok(Application {
            listener,
            local_addr,
            gate,
            router,
            limits: ConnectionLimits {
                handshake_timeout: settings.server.handshake_timeout,
                header_read_timeout: settings.server.header_read_timeout,
                max_connections: settings.server.max_connections,
                shutdown_grace: settings.server.shutdown_grace,
                max_connection_age: settings.tls.connection_age_limit(),
                name: "sees",
            },
            clock: Arc::clone(&clock_for_admin),
            keys,
            catalog,
            state,
            admin: AdminListener {
                listener: admin_listener,
                local_addr: admin_addr,
                tls: admin_tls,
                router: crate::admin::router(admin_state),
            },
            ops: OpsListener {
                listener: ops_listener,
                local_addr: ops_addr,
                router: ops_router,
            },
            speke,
            health,
            store: stores.store,
            audit,
            heartbeat: settings.decision.heartbeat,
        })
    }

    /// The bound address of the SEES listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The catalogue the server reads (seeding, tests).
    pub fn catalog(&self) -> Catalog {
        self.catalog.clone()
    }

    /// The generations this node's caches are stamped with, and whether they are in use (tests).
    pub fn coherence(&self) -> Arc<coherence::Coherence> {
        Arc::clone(self.store.coherence())
    }

    /// The key store the server reads (seeding, tests).
    pub fn key_store(&self) -> Arc<KeyStore> {
        Arc::clone(&self.keys)
    }

    /// The SEES state shared with the handler (breaker states, counters), usable while serving.
    pub fn state(&self) -> Arc<SeesState> {
        Arc::clone(&self.state)
    }

    /// The reloadable TLS configuration of the SEES listener: `reload` is what SIGHUP calls;
    /// `counters` counts reloads and client refusals.
    pub fn tls(&self) -> Arc<LiveTls> {
        Arc::clone(self.gate.tls())
    }

    /// The bound address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr
    }

    /// The bound address of the ops listener.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.local_addr
    }

    /// The bound address of the SPEKE listener, when `speke.listen` is set.
    pub fn speke_addr(&self) -> Option<SocketAddr> {
        self.speke.as_ref().map(|s| s.local_addr)
    }

    /// Readiness (tests; the TLS reload marks a lost configuration here).
    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// Serves every listener until `shutdown` completes. Then readiness turns false at once, the SEES
    /// and admin listeners stop accepting and drain in-flight requests for up to
    /// `server.shutdown_grace_ms`, the ops listener closes last (so `/readyz` answers 503 during the
    /// drain), and the store pool closes.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let signal = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        // The SEES shape of what the TLS listeners refuse before routing.
        let answers: Arc<dyn EdgeAnswers> = Arc::new(crate::sees::SeesEdge);
        let (ops_stop, ops_stopped) = tokio::sync::watch::channel(false);
        let ops = self.ops;
        tracing::info!(addr = %ops.local_addr, "ops listener ready (plain HTTP)");
        let ops_task = serve_plain(
            ops.listener,
            "ops",
            ops.router,
            self.limits.shutdown_grace,
            signal(ops_stopped),
        );
        let health = Arc::clone(&self.health);
        let admin = self.admin;
        let admin_limits = ConnectionLimits {
            max_connection_age: None,
            name: "admin",
            ..self.limits
        };
        let admin_stopped = signal(stopped.clone());
        let admin_answers = Arc::clone(&answers);
        let admin_task = async move {
            match admin.tls {
                Some(tls) => {
                    tracing::info!(addr = %admin.local_addr, "admin listener ready (TLS)");
                    serve_tls(
                        admin.listener,
                        TlsSource::Fixed(tls),
                        admin.router,
                        admin_limits,
                        admin_answers,
                        admin_stopped,
                    )
                    .await;
                }
                None => {
                    tracing::info!(addr = %admin.local_addr, "admin listener ready (plain HTTP, loopback)");
                    serve_plain(
                        admin.listener,
                        "admin",
                        admin.router,
                        admin_limits.shutdown_grace,
                        admin_stopped,
                    )
                    .await;
                }
            }
        };
        let speke_limits = ConnectionLimits {
            max_connection_age: None,
            name: "speke",
            ..self.limits
        };
        let speke_task = serve_speke(self.speke, speke_limits, signal(stopped.clone()));
        let live = Arc::clone(self.gate.tls());
        let watch_task = Arc::clone(&live).watch_files(signal(stopped.clone()));
        let sighup_task = reload_on_sighup(live, signal(stopped.clone()));
        let sweep_task = sweep_leases(
            StreamLeases::new(self.store.clone()),
            Arc::clone(&self.clock),
            signal(stopped.clone()),
        );
        let coherence_task =
            keep_caches_coherent(self.store.clone(), self.heartbeat, signal(stopped.clone()));
        tracing::info!(addr = %self.local_addr, "SEES listener ready (mutual TLS)");
        let sees_task = serve_tls(
            self.listener,
            TlsSource::Live(self.gate),
            self.router,
            self.limits,
            answers,
            signal(stopped),
        );
        let trigger = async move {
            shutdown.await;
            health.start_draining();
            tracing::info!("draining: readiness is false, the listeners stop accepting");
            let _ = stop.send(true);
        };
        let serving = async move {
            tokio::join!(
                sees_task,
                admin_task,
                speke_task,
                watch_task,
                sighup_task,
                sweep_task,
                coherence_task,
                trigger
            );
            let _ = ops_stop.send(true);
        };
        tokio::join!(serving, ops_task);
        self.audit.flush().await;
        self.store.close().await;
        tracing::info!("stopped");
    }
}

/// Binds the SPEKE listener with its TLS configuration: the `[tls]` server certificate, packagers'
/// client certificates from `speke.client_ca` as `speke.auth` demands.
async fn speke_listener(
    settings: &Settings,
    addr: SocketAddr,
    state: SpekeState,
) -> Result<SpekeListener, StartError> {
    let tls = crate::tls::listener_server_config(
        &settings.tls.cert,
        &settings.tls.key,
        settings.speke.client_ca.as_deref(),
        settings.speke.auth.certificate_required(),
    )?;
    let (listener, local_addr) = bind(addr).await?;
    Ok(SpekeListener {
        listener,
        local_addr,
        tls,
        router: crate::speke::router(Arc::new(state)),
    })
}

/// Serves the SPEKE listener, when there is one, until `stop` completes.
async fn serve_speke(
    speke: Option<SpekeListener>,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let Some(speke) = speke else { return };
    tracing::info!(addr = %speke.local_addr, "SPEKE key-provider listener ready (TLS)");
    serve_tls(
        speke.listener,
        TlsSource::Fixed(speke.tls),
        speke.router,
        limits,
        Arc::new(crate::speke::SpekeEdge),
        stop,
    )
    .await;
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let bind_error = |source| StartError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local))
}

/// Deletes expired stream leases every [`LEASE_SWEEP_EVERY`] until `stop` completes (the leases
/// opened without a limit are never cleaned up per user).
async fn sweep_leases(leases: StreamLeases, clock: Arc<dyn Clock>, stop: impl Future<Output = ()>) {
    let mut every = tokio::time::interval(LEASE_SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = every.tick() => {
                match leases.sweep_expired(clock.now()).await {
                    Ok(0) => {}
                    Ok(swept) => tracing::debug!(swept, "expired stream leases deleted"),
                    Err(e) => tracing::warn!(error = %e, "sweeping expired stream leases failed"),
                }
            }
        }
    }
}

/// On a store other nodes share (PostgreSQL), keeps this node's caches coherent with their writes
/// until `stop` completes (see `store::subscriber`); nothing to do on a store of its own.
async fn keep_caches_coherent(store: Store, heartbeat: Duration, stop: impl Future<Output = ()>) {
    if store.coherence().shared() {
        Subscriber::new(store, heartbeat).run(stop).await;
    }
}

/// Reloads the SEES listener's TLS configuration on every SIGHUP until `stop` completes. Signals
/// arriving during a reload are coalesced into one more reload.
pub async fn reload_on_sighup(tls: Arc<LiveTls>, stop: impl Future<Output = ()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS reloads only on file changes");
                return;
            }
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                received = hangups.recv() => {
                    if received.is_none() {
                        return;
                    }
                    tls.reload("SIGHUP").await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        stop.await;
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
