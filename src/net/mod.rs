//! The listener: accept, TLS handshake under a deadline (a plaintext HTTP request gets a short
//! explanation instead), the verified client certificate attached to every request, HTTP/1.1 and
//! HTTP/2 served by hyper, a cap on open connections, a maximum connection age, the per-request
//! client gate (`gate`: revocation, allow-list, rate limit) and load shedding (`shedding`), and a
//! graceful drain at shutdown.
//! The client certificate is parsed once per connection, into the one
//! [`PeerCertificate`](crate::tls::peer::PeerCertificate) the gate, the log and the handlers read.
//!
//! It serves no protocol of its own: refusals are answered by the [`EdgeAnswers`] it is given, so it
//! never imports `sees` (or any other front end).

pub mod answers;
pub mod gate;
pub mod rate_limit;
pub mod settings;
pub mod shedding;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

pub use answers::{EdgeAnswers, EdgeRefusal, PlainAnswer};
pub use gate::ClientGate;

use crate::ops::metrics::{handshake_failed, HandshakeFailure};
use crate::tls::peer::{ClientLabel, PeerCertificate};

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
    /// The listener's name in metrics (`sees`, `admin`).
    pub name: &'static str,
    /// Connections older than this are closed after their in-flight request; `None` = no limit.
    pub max_connection_age: Option<Duration>,
}

/// Where a listener's TLS configuration comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// One configuration for the listener's lifetime (the admin listener).
    Fixed(Arc<rustls::ServerConfig>),
    /// The reloadable SEES configuration, read at each accepted connection, and the checks every
    /// request passes.
    Live(Arc<ClientGate>),
}

impl TlsSource {
    fn acceptor(&self) -> TlsAcceptor {
        match self {
            TlsSource::Fixed(config) => TlsAcceptor::from(Arc::clone(config)),
            TlsSource::Live(gate) => TlsAcceptor::from(Arc::clone(&gate.tls().current().config)),
        }
    }

    fn gate(&self) -> Option<Arc<ClientGate>> {
        match self {
            TlsSource::Fixed(_) => None,
            TlsSource::Live(gate) => Some(Arc::clone(gate)),
        }
    }
}

/// Serves `router` over mutual TLS on `listener` until `shutdown` completes, then drains open
/// connections for up to `limits.shutdown_grace`. Requests refused before routing (and plaintext HTTP
/// on the port) are answered by `answers`.
pub async fn serve_tls(
    listener: TcpListener,
    tls: TlsSource,
    router: Router,
    limits: ConnectionLimits,
    answers: Arc<dyn EdgeAnswers>,
    shutdown: impl Future<Output = ()>,
) {
    let plaintext: Arc<[u8]> = answers::plaintext_bytes(&answers.plaintext()).into();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (drain, draining) = tokio::sync::watch::channel(false);
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    let http = Arc::new(http);
    let gate = tls.gate();

    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = tls.acceptor();
        let router = router.clone();
        let http = Arc::clone(&http);
        let gate = gate.clone();
        let answers = Arc::clone(&answers);
        let plaintext = Arc::clone(&plaintext);
        let mut draining = draining.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = crate::ops::metrics::OpenConnection::open(limits.name);
            let _ = tcp.set_nodelay(true);
            let Some((tls, certificate)) = handshake(
                tcp,
                &acceptor,
                limits.handshake_timeout,
                limits.name,
                &plaintext,
            )
            .await
            else {
                return;
            };
            tracing::debug!(
                %peer,
                client = %ClientLabel(certificate.as_deref()),
                "connection established"
            );
            let service = TowerToHyperService::new(tower::service_fn(
                move |mut request: hyper::Request<Incoming>| {
                    let gate = gate.clone();
                    let certificate = certificate.clone();
                    let answers = Arc::clone(&answers);
                    let router = router.clone();
                    async move {
                        let admitted = match &gate {
                            Some(gate) => match gate.admit(certificate.as_deref()).await {
                                Ok(admitted) => admitted,
                                Err(refusal) => {
                                    return Ok(answers::refusal_response(answers.as_ref(), refusal))
                                }
                            },
                            None => None,
                        };
                        request
                            .extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        if let Some(certificate) = certificate {
                            request.extensions_mut().insert(certificate);
                        }
                        let answer = router.oneshot(request).await;
                        // The slot is held until the answer is ready.
                        drop(admitted);
                        answer
                    }
                },
            ));
            let connection = http.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(connection);
            let aged = async {
                match limits.max_connection_age {
                    Some(age) => tokio::time::sleep(age).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(aged);
            let mut closing = false;
            let ended = loop {
                tokio::select! {
                    ended = connection.as_mut() => break ended,
                    () = &mut aged, if !closing => {
                        tracing::debug!(%peer, "connection reached its maximum age; closing after the in-flight request");
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    _ = draining.wait_for(|d| *d), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let open = limits.max_connections - slots.available_permits();
    tracing::info!(open, "draining connections");
    let _ = drain.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing the remaining connections");
    }
}

/// The TLS handshake under its deadline, and the client certificate, parsed (the one place it is),
/// when one was presented (the server configuration decides whether one is required); `None` when
/// the handshake fails (logged at debug: scanners are common) or the client spoke plaintext HTTP (it
/// is sent `plaintext` first).
async fn handshake(
    tcp: TcpStream,
    acceptor: &TlsAcceptor,
    deadline: Duration,
    listener: &'static str,
    plaintext: &[u8],
) -> Option<(
    tokio_rustls::server::TlsStream<TcpStream>,
    Option<Arc<PeerCertificate>>,
)> {
    let outcome = tokio::time::timeout(deadline, async {
        let mut first = [0u8; 1];
        if tcp.peek(&mut first).await.ok()? == 1 && first[0].is_ascii_uppercase() {
            let mut tcp = tcp;
            let _ = tcp.write_all(plaintext).await;
            let _ = tcp.shutdown().await;
            tracing::debug!("plaintext HTTP on the TLS port");
            handshake_failed(listener, HandshakeFailure::PlaintextHttp);
            return None;
        }
        match acceptor.accept(tcp).await {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                handshake_failed(listener, HandshakeFailure::classify(&e));
                None
            }
        }
    })
    .await;
    let stream = match outcome {
        Ok(stream) => stream?,
        Err(_) => {
            tracing::debug!("TLS handshake deadline passed");
            handshake_failed(listener, HandshakeFailure::Timeout);
            return None;
        }
    };
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first());
    let certificate = leaf.and_then(|leaf| PeerCertificate::parse(leaf.as_ref()).map(Arc::new));
    Some((stream, certificate))
}
