//! Who is asking for keys: a packager's client certificate (verified at the handshake against
//! `speke.client_ca`) and/or its HTTP Basic credentials, as `speke.auth` demands.

use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::Engine;

use super::credentials::{CredentialError, SpekeCredentials};
use super::settings::SpekeAuth;
use crate::tls::peer::PeerCertificate;

/// An authenticated packager, as audit names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packager {
    /// `credential NAME`, `certificate SUBJECT`, or both joined by ` + `.
    pub label: String,
    /// The client certificate's subject when one was presented.
    pub subject: Option<String>,
}

/// Why a packager is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "authentication required: HTTP Basic credentials from `sees speke credentials create`"
    )]
    MissingCredentials,
    #[error("the credentials are not valid (unknown name, wrong secret or revoked)")]
    BadCredentials,
    #[error("a client certificate is required")]
    MissingCertificate,
    #[error("the credential store is unavailable")]
    Store(#[from] CredentialError),
}

/// Checks the request's certificate and credentials against `mode`.
pub async fn authenticate(
    mode: SpekeAuth,
    credentials: &SpekeCredentials,
    certificate: Option<&Arc<PeerCertificate>>,
    headers: &HeaderMap,
) -> Result<Packager, AuthError> {
    let subject = certificate.map(|c| c.subject.clone());
    let certified = || subject.clone().ok_or(AuthError::MissingCertificate);
    let basic = || async {
        let (name, secret) = basic_credentials(headers).ok_or(AuthError::MissingCredentials)?;
        credentials
            .authenticate(&name, &secret)
            .await?
            .map(|info| info.name)
            .ok_or(AuthError::BadCredentials)
    };
    let label = match mode {
        SpekeAuth::Basic => format!("credential {}", basic().await?),
        SpekeAuth::Certificate => format!("certificate {}", certified()?),
        SpekeAuth::Either => match &subject {
            Some(subject) => format!("certificate {subject}"),
            None => format!("credential {}", basic().await?),
        },
        SpekeAuth::Both => {
            let subject = certified()?;
            format!("credential {} + certificate {subject}", basic().await?)
        }
    };
    Ok(Packager { label, subject })
}

/// The user name and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, secret) = text.split_once(':')?;
    Some((name.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_headers_are_read_and_other_schemes_ignored() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("packager:speke_s3cret");
        headers.insert(AUTHORIZATION, format!("Basic {encoded}").parse().unwrap());
        assert_eq!(
            basic_credentials(&headers),
            Some(("packager".to_owned(), "speke_s3cret".to_owned()))
        );
        headers.insert(AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_credentials(&headers), None);
        headers.insert(AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&headers), None);
    }
}
