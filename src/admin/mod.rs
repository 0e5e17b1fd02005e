//! The admin API: the OEM Entitlements API v1 and Package Graphs routes, with the same paths, bodies
//! and envelopes, on a listener of its own (plain HTTP only on loopback; TLS, optionally with client
//! certificates, elsewhere). Authentication in `auth` (the token store in `credentials`), the
//! envelope and error shape in `envelope` and `errors`, typed path and query extractors answering in
//! that shape in `extract`, the audit of writes in `audit`; the routes in `packages`, `packages_v2`,
//! `billing` (billing plans and products, sees extensions), `entitlements`, `jwt_entitlements`,
//! `playback_tokens` and `graphs`; the OpenAPI document in `openapi`.
//!
//! Never logs bearer tokens or JWTs.

mod audit;
pub mod auth;
mod billing;
pub mod credentials;
mod entitlements;
pub mod envelope;
pub mod errors;
mod explain;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod graphs;
pub mod jwt;
mod jwt_entitlements;
mod monetization;
pub mod openapi;
pub mod packages;
mod packages_v2;
mod playback_tokens;
mod sessions;
pub mod settings;
mod streams;
pub mod tokens;
mod user_devices;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::Uri;
use axum::Router;
use tower::ServiceExt;

use crate::catalog::{Billing, Catalog, CatalogError, PlaybackSessions, StreamLeases, UserDevices};
use crate::clock::Clock;
use credentials::ApiTokens;
use envelope::{ApiError, BodyCap};
use errors::AdminCode;
use jwt::providers::EntitlementProviders;
use jwt::JwtVerifier;

/// Limits that shape requests.
#[derive(Debug, Clone, Copy)]
pub struct AdminLimits {
    pub max_body_bytes: usize,
    pub max_page_size: u32,
    pub max_list_len: usize,
}

/// What the admin handlers share, in named parts.
pub struct AdminState {
    /// The catalogue: packages, assets, entitlements and the package graph.
    pub catalog: Catalog,
    /// Billing plans and products.
    pub billing: Billing,
    /// Users' playback sessions, devices and running streams.
    pub users: UserPlaybackState,
    /// Who may call, and the issuers of entitlement tokens.
    pub identity: AdminIdentity,
    /// The same decision the SEES endpoint makes (explanations).
    pub decider: crate::decision::Decider,
    /// The SEES flow the entitlement-token endpoints share (decision, lease, keys, ExpressPlay).
    pub playback: Arc<crate::playback::EntitlementService>,
    /// How the SEES protocol numbers a refusal: the OEM token routes quote it ("SEES 3008: …").
    /// Wired by the composition root from the SEES table; admin never imports `sees`.
    pub quote_sees: crate::playback::QuoteRefusal,
    /// The Akamai signer, when `entitlement_tokens.akamai_key` is set.
    pub edge_auth: Option<crate::akamai::EdgeAuth>,
    /// `entitlement_tokens.country_header`.
    pub country_header: Option<axum::http::HeaderName>,
    pub clock: Arc<dyn Clock>,
    pub limits: AdminLimits,
    /// Where every write is recorded.
    pub audit: crate::audit::AuditLog,
}

/// The per-user state of playback: sessions (cookies), registered devices and stream leases.
pub struct UserPlaybackState {
    pub sessions: PlaybackSessions,
    pub user_devices: UserDevices,
    pub leases: StreamLeases,
    /// How long a lease lasts unless renewed.
    pub lease_duration: std::time::Duration,
}

/// Who may call the admin API: staff tokens, end users' JWTs, and the issuers of entitlement
/// tokens.
pub struct AdminIdentity {
    pub tokens: ApiTokens,
    pub end_users: JwtVerifier,
    /// The issuers of entitlement tokens, by provider name.
    pub entitlement_providers: EntitlementProviders,
}

/// Every admin route, behind the envelope; a trailing `/` on a path is ignored (the spec writes some
/// paths with one and some without).
pub fn router(state: Arc<AdminState>) -> Router {
    let cap = BodyCap(state.limits.max_body_bytes);
    let audit_log = state.audit.clone();
    let routes = Router::new()
        .merge(packages::routes())
        .merge(packages_v2::routes())
        .merge(billing::routes())
        .merge(entitlements::routes())
        .merge(jwt_entitlements::routes())
        .merge(playback_tokens::routes())
        .merge(graphs::routes())
        .merge(sessions::routes())
        .merge(explain::routes())
        .merge(monetization::routes())
        .merge(user_devices::routes())
        .merge(streams::routes())
        .merge(openapi::routes())
        .route_layer(axum::middleware::from_fn(audit::note_route))
        .with_state(state)
        .layer(axum::middleware::from_fn(crate::ops::http::mark_route));
    Router::new()
        .fallback_service(tower::service_fn(move |mut request: Request| {
            let routes = routes.clone();
            async move {
                trim_trailing_slash(&mut request);
                request.extensions_mut().insert(cap);
                routes.oneshot(request).await
            }
        }))
        .layer(axum::middleware::from_fn_with_state(
            audit_log,
            audit::record_writes,
        ))
        .layer(axum::middleware::from_fn(envelope::envelope))
        .layer(axum::middleware::from_fn(crate::ops::http::count_admin))
}

fn trim_trailing_slash(request: &mut Request) {
    let uri = request.uri();
    let path = uri.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match uri.query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(new_uri) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = new_uri;
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let code = match &e {
            CatalogError::PackageNotFound(_) | CatalogError::PackagesNotFound(_) => {
                AdminCode::PackageNotFound
            }
            CatalogError::UserNotFound(_) => AdminCode::UserNotFound,
            CatalogError::DuplicatePackage(_) => AdminCode::DuplicatePackage,
            CatalogError::DuplicateEntitlement(..) => AdminCode::DuplicateEntitlement,
            CatalogError::Cycle { .. } => AdminCode::GraphCycle,
            CatalogError::TooDeep { .. } => AdminCode::GraphTooDeep,
            CatalogError::DatesOutOfOrder => AdminCode::DatesOutOfOrder,
            CatalogError::BillingPlanNotFound(_) => AdminCode::BillingPlanNotFound,
            CatalogError::ProductNotFound(_) => AdminCode::ProductNotFound,
            CatalogError::DuplicateBillingPlan(_) => AdminCode::DuplicateBillingPlan,
            CatalogError::DuplicateProduct(_) => AdminCode::DuplicateProduct,
            CatalogError::DuplicateProductPlan { .. } => AdminCode::DuplicateProductPlan,
            CatalogError::VersionConflict { .. } => AdminCode::VersionConflict,
            CatalogError::BillingPlanInUse { .. } => AdminCode::BillingPlanInUse,
            CatalogError::TokenReplayed => AdminCode::EntitlementTokenReplayed,
            CatalogError::Store(store) => {
                tracing::error!(error = %store, "catalogue store failure");
                return ApiError::plain(AdminCode::StoreUnavailable);
            }
        };
        ApiError::new(code, e.to_string())
    }
}
