//! TLS policy in one place: the aws-lc-rs provider, TLS 1.2 and 1.3 only, a client certificate always
//! required and verified against the configured CA bundle and CRLs, ALPN h2 and http/1.1, session
//! resumption. `material` loads a complete configuration, `live` reloads it while serving, `peer` and
//! `allow` are the per-request client checks, `check` explains a configuration's problems, and
//! `dev_pki` generates development certificates.
//!
//! Errors name files, never their contents.

pub mod allow;
pub mod check;
pub mod dev_pki;
pub mod live;
pub mod material;
pub mod peer;
pub mod settings;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub use settings::TlsSettings;

/// TLS material that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("client CA bundle {path} is unusable: {why}")]
    ClientCa { path: PathBuf, why: String },
    #[error("the server certificate and key do not form a usable pair: {0}")]
    Config(String),
    #[error("{key} is not the private key of the certificate in {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("CRL {path} {why}")]
    Crl { path: PathBuf, why: String },
    #[error("tls.allowed_clients: {0}")]
    AllowList(String),
}

/// The one crypto provider sees uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Server configuration of the mutual-TLS SEES listener (loaded once; [`live::LiveTls`] reloads it).
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    material::load(settings).map(|m| m.config)
}

/// Server configuration of the admin listener: TLS 1.2/1.3, and client certificates from
/// `client_ca` when one is given.
pub fn admin_server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    listener_server_config(cert, key, client_ca, true)
}

/// Server configuration of a listener of its own (admin, SPEKE): TLS 1.2/1.3 with `cert` and `key`;
/// client certificates from `client_ca` when one is given — demanded at the handshake when
/// `certificate_required`, else verified when presented.
pub fn listener_server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    certificate_required: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let chain = load_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Read {
        path: key.to_owned(),
        why: pem_error(&e),
    })?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in load_certs(path)? {
                roots.add(ca).map_err(|e| TlsError::ClientCa {
                    path: path.to_owned(),
                    why: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if certificate_required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier.build().map_err(|e| TlsError::ClientCa {
                path: path.to_owned(),
                why: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Read {
            path: path.to_owned(),
            why: pem_error(&e),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

pub(crate) fn pem_error(e: &rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind".to_owned(),
        _ => "malformed PEM".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dev_pki::DevPki;

    #[test]
    fn loads_a_dev_pki_and_explains_missing_or_wrong_files() {
        let dir = tempfile::tempdir().unwrap();
        let paths = DevPki::generate(&[])
            .unwrap()
            .write_to(dir.path(), false)
            .unwrap();
        let settings = TlsSettings {
            cert: paths.server_cert.clone(),
            key: paths.server_key.clone(),
            client_ca: paths.ca_cert.clone(),
            ..TlsSettings::default()
        };
        let config = server_config(&settings).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );

        let missing = TlsSettings {
            cert: dir.path().join("nope.pem"),
            ..settings.clone()
        };
        assert!(server_config(&missing)
            .unwrap_err()
            .to_string()
            .contains("nope.pem"));

        let swapped = TlsSettings {
            cert: paths.server_cert.clone(),
            key: paths.client_key.clone(),
            ..settings.clone()
        };
        let err = server_config(&swapped).unwrap_err().to_string();
        assert!(!err.contains("PRIVATE KEY"), "{err}");

        let key_as_ca = TlsSettings {
            client_ca: paths.server_key.clone(),
            ..settings
        };
        let err = server_config(&key_as_ca).unwrap_err().to_string();
        assert!(
            err.contains("server.key") && !err.contains("BEGIN"),
            "{err}"
        );
    }
}
