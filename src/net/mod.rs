//! The listener: accept, TLS handshake under a deadline (a plaintext HTTP request gets a short
//! explanation instead), the verified client certificate attached to every request, HTTP/1.1 and
//! HTTP/2 served by hyper, a cap on open connections, and a graceful drain at shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::sees::wire::PROTOCOL_VERSION;
use crate::sees::{ClientIdentity, EntitlementResponse, ErrorCode};

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

/// What a plaintext HTTP client on the TLS port is told before the connection closes.
fn plaintext_answer() -> Vec<u8> {
    let code = ErrorCode::TlsRequired;
    let body = serde_json::to_string(&EntitlementResponse::denied(
        String::new(),
        PROTOCOL_VERSION,
        code,
        "use https:// with a client certificate",
    ))
    .unwrap_or_default();
    format!(
        "HTTP/1.1 {} Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        code.http_status(),
        body.len()
    )
    .into_bytes()
}

/// Serves `router` over mutual TLS on `listener` until `shutdown` completes, then drains open
/// connections for up to `limits.shutdown_grace`.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    let http = Arc::new(http);

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
        let acceptor = acceptor.clone();
        let router = router.clone();
        let http = Arc::clone(&http);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tcp.set_nodelay(true);
            let Some((tls, identity)) = handshake(tcp, &acceptor, limits.handshake_timeout).await
            else {
                return;
            };
            tracing::debug!(
                %peer,
                client = identity.as_ref().map_or("-", ClientIdentity::short),
                "connection established"
            );
            let service = TowerToHyperService::new(tower::service_fn(
                move |mut request: hyper::Request<Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    if let Some(identity) = &identity {
                        request.extensions_mut().insert(identity.clone());
                    }
                    router.clone().oneshot(request)
                },
            ));
            let connection = http.serve_connection(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(open = graceful.count(), "draining connections");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing the remaining connections");
    }
}

/// The TLS handshake under its deadline, and the client certificate when one was presented (the
/// server configuration decides whether one is required); `None` when the handshake fails (logged at
/// debug: scanners are common).
async fn handshake(
    tcp: TcpStream,
    acceptor: &TlsAcceptor,
    deadline: Duration,
) -> Option<(
    tokio_rustls::server::TlsStream<TcpStream>,
    Option<ClientIdentity>,
)> {
    let outcome = tokio::time::timeout(deadline, async {
        let mut first = [0u8; 1];
        if tcp.peek(&mut first).await.ok()? == 1 && first[0].is_ascii_uppercase() {
            let mut tcp = tcp;
            let _ = tcp.write_all(&plaintext_answer()).await;
            let _ = tcp.shutdown().await;
            tracing::debug!("plaintext HTTP on the TLS port");
            return None;
        }
        match acceptor.accept(tcp).await {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
        }
    })
    .await;
    let stream = match outcome {
        Ok(stream) => stream?,
        Err(_) => {
            tracing::debug!("TLS handshake deadline passed");
            return None;
        }
    };
    let identity = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| ClientIdentity::from_der(leaf.as_ref()));
    Some((stream, identity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_answer_is_a_well_formed_http_response() {
        let answer = plaintext_answer();
        let text = std::str::from_utf8(&answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], ErrorCode::TlsRequired.number());
    }
}
