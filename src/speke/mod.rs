//! SPEKE v2: sees as the key provider packagers call. A listener of its own (`[speke] listen`, TLS
//! with the server's certificate), packager authentication by client certificate and/or HTTP Basic
//! credentials, and one route that answers a CPIX document with the keys of the key store — the same
//! keys the SEES endpoint later sends to ExpressPlay. The documents themselves are `cpix`'s; keys are
//! issued by `keys::KeyStore::issue_for_packager`.

pub mod auth;
pub mod credentials;
pub mod files;
pub mod handler;
pub mod settings;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::audit::AuditLog;
use crate::keys::KeyStore;
use crate::net::{EdgeAnswers, EdgeRefusal, PlainAnswer};

pub use credentials::{CredentialError, CredentialInfo, SpekeCredentials};
pub use settings::{SpekeAuth, SpekeSettings};

/// What the SPEKE handler needs.
pub struct SpekeState {
    pub keys: Arc<KeyStore>,
    pub credentials: SpekeCredentials,
    pub settings: SpekeSettings,
    pub audit: AuditLog,
}

/// The SPEKE routes: `POST {speke.path}`; anything else is 404/405. Every answer, refusals by the
/// router included, carries `X-Speke-User-Agent`.
pub fn router(state: Arc<SpekeState>) -> Router {
    let path = state.settings.path.clone();
    Router::new()
        .route(&path, post(handler::copy_protection))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such SPEKE route") })
        .layer(axum::middleware::map_response(name_the_server))
        .with_state(state)
}

async fn name_the_server(mut response: Response) -> Response {
    response.headers_mut().insert(
        handler::USER_AGENT_HEADER,
        axum::http::HeaderValue::from_static(handler::USER_AGENT),
    );
    response
}

/// The SPEKE listener's answers to what `net` refuses before routing: plain text.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpekeEdge;

impl EdgeAnswers for SpekeEdge {
    fn refused(&self, refusal: EdgeRefusal) -> Response {
        let status = match refusal {
            EdgeRefusal::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            EdgeRefusal::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            EdgeRefusal::ClientRevoked | EdgeRefusal::ClientNotAllowed => StatusCode::FORBIDDEN,
        };
        (status, "refused before routing").into_response()
    }

    fn plaintext(&self) -> PlainAnswer {
        PlainAnswer {
            status: 400,
            content_type: "text/plain; charset=utf-8",
            body: b"plaintext HTTP on the SPEKE TLS port: use https://".to_vec(),
        }
    }
}
