//! Admin routes: entitlement tokens (OEM "Request entitlement token", v2 for the calling user and v1 for
//! support). The decision, the concurrency lease, the content key and the ExpressPlay call are the SEES
//! endpoint's own (`EntitlementService::user_playback`); this file reads the request and shapes the
//! answer.
//!
//! `tokentype`: `none` (the decision only), `expressplay` (a FairPlay token URL for the asset's content
//! key) and, when `entitlement_tokens.akamai_key` is set, `akamai` (an EdgeAuth token for the playback
//! URL). The spec's other names (`turner-akamai`, `isp-atlas`) and anything else get a 400 that lists
//! what is offered. A refusal is never a 2xx: 403 (1080) with the SEES number and the reason.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::audit::AuditSlot;
use super::auth::{Access, Caller};
use super::envelope::{decode_body, invalid, AdminJson, ApiError, ApiOk};
use super::errors::AdminCode;
use super::extract::{AdminPath, Userid};
use super::AdminState;
use crate::decision::Denial;
use crate::drm::{DeviceSecurityLevel, Drm};
use crate::ids::{AssetId, DeviceId, UserId};
use crate::playback::{PlaybackRefusal, PlaybackToken, Refusal, UserPlayback};

/// The longest accepted playback URL, in bytes.
pub const MAX_PLAYBACK_URL_BYTES: usize = 4096;

/// The entitlement-token routes.
pub fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/oem/v2/entitlement", post(mine))
        .route("/oem/v1/user/accounts/{userid}/entitlement", post(for_user))
}

/// The body of both routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenBody {
    #[serde(rename = "assetID")]
    asset_id: AssetId,
    playback_url: String,
    #[serde(default, rename = "deviceID")]
    device_id: Option<String>,
    #[serde(default)]
    capabilities: Option<Capabilities>,
}

/// Device capabilities: a Widevine token is refused (SEES 3010) to a device reporting a lower security
/// level than the DRM policy demands.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Capabilities {
    #[serde(default)]
    widevine_security_level: Option<DeviceSecurityLevel>,
}

/// The token types this server knows, in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenType {
    None,
    Akamai,
    ExpressPlay,
}

/// What the query asks for: the token type and, for `expressplay`, the DRM (`drm`, default
/// `fairplay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wanted {
    kind: TokenType,
    drm: Drm,
}

impl TokenType {
    fn name(self) -> &'static str {
        match self {
            TokenType::None => "none",
            TokenType::Akamai => "akamai",
            TokenType::ExpressPlay => "expressplay",
        }
    }
}

/// `POST /oem/v2/entitlement?tokentype=…`: a token for the calling end user.
async fn mine(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    wanted: Result<Wanted, ApiError>,
    body: Result<AdminJson<TokenBody>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let uid = caller.end_user()?;
    issue(&state, &uid, wanted?, peer, &headers, body?.0).await
}

/// `POST /oem/v1/user/accounts/{userid}/entitlement?tokentype=…`: a token for `userid` (support and up:
/// it opens a stream lease in the user's name).
async fn for_user(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<AdminPath<Userid>, ApiError>,
    headers: HeaderMap,
    wanted: Result<Wanted, ApiError>,
    body: Result<AdminJson<TokenBody>, ApiError>,
) -> Result<ApiOk, ApiError> {
    let AdminPath(uid) = caller.allowed(Access::EntitlementWrite, path)?;
    issue(&state, &uid, wanted?, peer, &headers, body?.0).await
}

/// The query of both routes (`tokentype`, `drm`), read as [`token_type`] does; the DRM of an
/// ExpressPlay token is noted in the audit event.
impl FromRequestParts<Arc<AdminState>> for Wanted {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AdminState>,
    ) -> Result<Self, Self::Rejection> {
        let wanted = token_type(state, parts.uri.query())?;
        if let (Some(slot), TokenType::ExpressPlay) =
            (parts.extensions.get::<AuditSlot>(), wanted.kind)
        {
            slot.note_drm(wanted.drm.as_str());
        }
        Ok(wanted)
    }
}

/// Fuzzing: a body decoded and checked as the entitlement-token routes do before any lookup
/// (`playback_url`, `deviceID` when given), without HTTP.
pub(super) fn fuzz_token_body(bytes: &[u8]) -> Result<(), ApiError> {
    let body = decode_body::<TokenBody>(bytes)?;
    playback_url(&body.playback_url)?;
    if let Some(raw) = body.device_id {
        DeviceId::parse(raw).map_err(|e| invalid(format!("deviceID {e}")))?;
    }
    Ok(())
}

/// The `tokentype` query parameter (once, and one this server offers) and `drm` (at most once, a DRM
/// this server answers for; only with `tokentype=expressplay`).
fn token_type(state: &AdminState, query: Option<&str>) -> Result<Wanted, ApiError> {
    let offered: Vec<TokenType> = [TokenType::None, TokenType::Akamai, TokenType::ExpressPlay]
        .into_iter()
        .filter(|t| *t != TokenType::Akamai || state.edge_auth.is_some())
        .collect();
    let listed = offered
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ");
    let unsupported = |why: String| {
        ApiError::new(
            AdminCode::UnsupportedTokenType,
            format!("{why}; this server offers tokentype {listed}"),
        )
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| ApiError::new(AdminCode::InvalidQuery, "the query string is not valid"))?;
    let mut values = pairs.iter().filter(|(key, _)| key == "tokentype");
    let raw = match (values.next(), values.next()) {
        (Some((_, raw)), None) => raw.trim(),
        (None, _) => return Err(unsupported("tokentype is required".to_owned())),
        (Some(_), Some(_)) => {
            return Err(unsupported("tokentype is given more than once".to_owned()))
        }
    };
    if let Some((key, _)) = pairs
        .iter()
        .find(|(key, _)| key != "tokentype" && key != "drm")
    {
        return Err(ApiError::new(
            AdminCode::InvalidQuery,
            format!("unknown query parameter {key:?}"),
        ));
    }
    let kind = offered
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(raw))
        .ok_or_else(|| {
            let shown: String = raw.chars().take(64).collect();
            unsupported(format!("tokentype {shown:?} is not supported"))
        })?;
    let drm = drm_param(state, &pairs, kind)?;
    Ok(Wanted { kind, drm })
}

/// The `drm` query parameter: a DRM this server answers for, with `tokentype=expressplay` only.
fn drm_param(
    state: &AdminState,
    pairs: &[(String, String)],
    kind: TokenType,
) -> Result<Drm, ApiError> {
    let mut values = pairs.iter().filter(|(key, _)| key == "drm");
    let raw = match (values.next(), values.next()) {
        (None, _) => return Ok(Drm::FairPlay),
        (Some((_, raw)), None) => raw.trim().to_ascii_lowercase(),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                AdminCode::InvalidQuery,
                "drm is given more than once",
            ))
        }
    };
    if kind != TokenType::ExpressPlay {
        return Err(ApiError::new(
            AdminCode::InvalidQuery,
            "drm goes with tokentype=expressplay only",
        ));
    }
    let enabled: Vec<&str> = Drm::ALL
        .into_iter()
        .filter(|d| state.playback.drm_enabled(*d))
        .map(Drm::as_str)
        .collect();
    match Drm::parse(&raw) {
        Some(drm) if state.playback.drm_enabled(drm) => Ok(drm),
        found => {
            let shown: String = raw.chars().take(32).collect();
            let why = if found.is_some() {
                "is not enabled on this server"
            } else {
                "is not a DRM"
            };
            Err(ApiError::new(
                AdminCode::InvalidQuery,
                format!(
                    "drm {shown:?} {why}; this server answers for drm {}",
                    enabled.join(", ")
                ),
            ))
        }
    }
}

/// The playback URL: absolute http(s), bounded.
fn playback_url(raw: &str) -> Result<Url, ApiError> {
    if raw.len() > MAX_PLAYBACK_URL_BYTES {
        return Err(invalid(format!(
            "playbackUrl is longer than {MAX_PLAYBACK_URL_BYTES} bytes"
        )));
    }
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(invalid("playbackUrl must be an absolute http or https URL")),
    }
}

/// The viewer's country from the configured edge header, when it holds a two-letter code.
fn country(state: &AdminState, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(state.country_header.as_ref()?)?.to_str().ok()?;
    let value = value.trim();
    (value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| value.to_ascii_uppercase())
}

async fn issue(
    state: &AdminState,
    uid: &UserId,
    wanted: Wanted,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: TokenBody,
) -> Result<ApiOk, ApiError> {
    let url = playback_url(&body.playback_url)?;
    let device = match body.device_id {
        Some(raw) => DeviceId::parse(raw).map_err(|e| {
            invalid(format!(
                "deviceID {e} (1-256 characters of A-Z a-z 0-9 . _ : + / = -)"
            ))
        })?,
        None => DeviceId::parse(peer.ip().to_string())
            .map_err(|e| invalid(format!("deviceID is needed: the caller's address {e}")))?,
    };
    let device_level = body.capabilities.and_then(|c| c.widevine_security_level);
    let kind = wanted.kind;
    let token = match (kind, &state.edge_auth) {
        (TokenType::None, _) => PlaybackToken::None,
        (TokenType::ExpressPlay, _) => PlaybackToken::ExpressPlay(wanted.drm),
        (TokenType::Akamai, Some(signer)) => {
            signer.acl_for(&url).map_err(|e| invalid(e.to_string()))?;
            PlaybackToken::Akamai {
                signer,
                playback_url: &url,
            }
        }
        (TokenType::Akamai, None) => return Err(ApiError::plain(AdminCode::UnsupportedTokenType)),
    };
    let country = country(state, headers);
    let request = UserPlayback {
        uid,
        asset: &body.asset_id,
        device: &device,
        country: country.as_deref(),
        device_level,
    };
    match state.playback.user_playback(&request, token).await {
        Ok((token, _)) => Ok(ApiOk::created(json!({
            "entitled": true,
            "assetID": body.asset_id,
            "entitlementToken": token,
            "tokenType": kind.name(),
            "drm": (kind == TokenType::ExpressPlay).then(|| wanted.drm.as_str()),
        }))),
        Err(refusal) => Err(refusal_error(state, &body.asset_id, refusal).await),
    }
}

/// The admin error for a refusal: the one table. The message quotes the SEES number the same refusal
/// gets on the SEES endpoint.
async fn refusal_error(state: &AdminState, asset: &AssetId, refusal: PlaybackRefusal) -> ApiError {
    let sees = |refusal: &Refusal| {
        let quoted = (state.quote_sees)(refusal);
        let why = refusal.detail();
        if why.is_empty() {
            format!("SEES {}: {}", quoted.number, quoted.summary)
        } else {
            format!("SEES {}: {why}", quoted.number)
        }
    };
    match refusal {
        PlaybackRefusal::NotEntitled { refusal, .. } => {
            match state
                .catalog
                .packages_containing(std::slice::from_ref(asset))
                .await
            {
                Ok(holders) if holders.iter().all(|(_, packages)| packages.is_empty()) => {
                    ApiError::new(
                        AdminCode::AssetNotFound,
                        format!("asset {asset} is in no package"),
                    )
                }
                Ok(_) => ApiError::new(AdminCode::NotEntitled, sees(&refusal)),
                Err(e) => e.into(),
            }
        }
        PlaybackRefusal::Refused(refusal) => ApiError::new(AdminCode::NotEntitled, sees(&refusal)),
        PlaybackRefusal::NoContentKey => ApiError::new(
            AdminCode::ContentKeyNotFound,
            format!("no content key protects asset {asset} (sees keys add --asset-id)"),
        ),
        PlaybackRefusal::SeveralContentKeys => ApiError::new(
            AdminCode::AmbiguousContentKey,
            format!("several content keys protect asset {asset}; keep one per asset"),
        ),
        PlaybackRefusal::Failed(refusal) => match &refusal {
            Refusal::Upstream { .. } | Refusal::UnreadableRecord(_) => {
                ApiError::new(AdminCode::UpstreamFailed, sees(&refusal))
            }
            Refusal::StoreUnavailable
            | Refusal::NotEntitled {
                denial: Denial::StoreUnavailable,
                ..
            } => ApiError::plain(AdminCode::StoreUnavailable),
            _ => ApiError::plain(AdminCode::Internal),
        },
    }
}
