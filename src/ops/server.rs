//! The ops routes and the plain-HTTP serving shared by the ops and (loopback) admin listeners: each
//! accepted connection counts in `sees_open_connections` while it is open.

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use super::health::Health;
use super::metrics::{OpenConnection, Snapshot};
use crate::catalog::StreamLeases;
use crate::clock::Clock;
use crate::drm::Drm;
use crate::expressplay::ExpressPlayClient;
use crate::keys::KeyStore;

/// What the ops routes read.
pub struct OpsState {
    pub health: Arc<Health>,
    pub metrics: PrometheusHandle,
    /// The ExpressPlay client the application service calls (breaker states, counters).
    pub expressplay: Arc<ExpressPlayClient>,
    /// The SEES listener's live TLS (reload and client-refusal counters).
    pub tls: Arc<crate::tls::live::LiveTls>,
    /// The audit log (events dropped when its queue is full).
    pub audit: crate::audit::AuditLog,
    pub keys: Arc<KeyStore>,
    pub leases: StreamLeases,
    pub clock: Arc<dyn Clock>,
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(state: Arc<OpsState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

async fn healthz() -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        "ok\n",
    )
        .into_response()
}

async fn readyz(State(state): State<Arc<OpsState>>) -> Response {
    let readiness = state.health.readiness().await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_vec(&readiness.body()).unwrap_or_default();
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

async fn scrape(State(state): State<Arc<OpsState>>) -> Response {
    let (token, record) = state.expressplay.breaker_states();
    let token_state = |drm| state.expressplay.token_breaker_state(drm);
    let counters = state.expressplay.counters();
    let load = |c: &std::sync::atomic::AtomicUsize| {
        u64::try_from(c.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(u64::MAX)
    };
    let (cache_hits, cache_misses) = state.keys.cache_stats();
    let active_leases = match state.leases.count_live(state.clock.now()).await {
        Ok(count) => Some(count),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot count the live leases");
            None
        }
    };
    let ready = !state.health.is_draining() && state.health.readiness().await.is_ready();
    Snapshot {
        breakers: [
            ("token", token),
            ("token_widevine", token_state(Drm::Widevine)),
            ("token_playready", token_state(Drm::PlayReady)),
            ("record", record),
        ],
        upstream_attempts: load(&counters.attempts),
        refused_open: load(&counters.refused_open),
        refused_busy: load(&counters.refused_busy),
        cache_hits,
        cache_misses,
        active_leases,
        ready,
        tls: state.tls.counters().values(),
        audit_dropped: state.audit.dropped(),
        audit_unstored: state.audit.unstored(),
    }
    .publish();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        state.metrics.render(),
    )
        .into_response()
}

/// Serves `router` over plain HTTP on `listener` (connections counted under `name`, `ConnectInfo`
/// given to handlers) until `shutdown` completes, then waits up to `grace` for open requests.
pub async fn serve_plain(
    listener: TcpListener,
    name: &'static str,
    router: Router,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let listener = CountingListener {
        inner: listener,
        name,
    };
    let make = tower::service_fn(move |incoming: IncomingStream<'_, CountingListener>| {
        let peer = *incoming.remote_addr();
        let router = router.clone();
        async move {
            Ok::<_, Infallible>(router.map_request(move |mut request: Request| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            }))
        }
    });
    let (done, drained) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        let _ = done.send(());
    };
    let serving = axum::serve(listener, make).with_graceful_shutdown(shutdown);
    let serving = std::pin::pin!(serving.into_future());
    let result = tokio::select! {
        result = serving => result,
        () = async {
            let _ = drained.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(listener = name, "shutdown grace period over; closing the remaining connections");
            Ok(())
        }
    };
    if let Err(e) = result {
        tracing::error!(listener = name, error = %e, "listener failed");
    }
}

/// A TCP listener whose connections count in the open-connections gauge.
struct CountingListener {
    inner: TcpListener,
    name: &'static str,
}

impl Listener for CountingListener {
    type Io = Counted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        (
            Counted {
                stream,
                _open: OpenConnection::open(self.name),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that counts as open until dropped.
struct Counted {
    stream: TcpStream,
    _open: OpenConnection,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
