//! Everything the SEES listener's TLS depends on, loaded from files in one go: the server certificate
//! and key, the client CA bundle, the CRLs and the allow-list. A `Material` is complete or not built
//! at all, so a reload can swap it in atomically or keep the old one.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use x509_parser::prelude::{CertificateRevocationList, FromDer, X509Certificate};

use super::allow::AllowList;
use super::peer::PeerCertificate;
use super::settings::TlsSettings;
use super::{load_certs, pem_error, provider, TlsError};

/// A complete, consistent TLS configuration of the SEES listener.
pub struct Material {
    /// The rustls configuration new connections handshake with.
    pub config: Arc<ServerConfig>,
    /// What is checked on every request of an open connection.
    pub policy: Arc<ClientPolicy>,
}

/// A revoked certificate: its issuer's DER name and its serial as encoded.
pub type RevokedSerial = (Vec<u8>, Vec<u8>);

/// Per-request client checks: revoked serials (from the CRLs) and the allow-list.
#[derive(Debug, Default)]
pub struct ClientPolicy {
    /// Issuer DER name → serials of its revoked certificates.
    revoked: HashMap<Vec<u8>, HashSet<Vec<u8>>>,
    allow: AllowList,
}

impl ClientPolicy {
    /// Whether a loaded CRL lists `peer`.
    pub fn is_revoked(&self, peer: &PeerCertificate) -> bool {
        self.revoked
            .get(peer.issuer.as_slice())
            .is_some_and(|serials| serials.contains(peer.serial.as_slice()))
    }

    /// Whether the allow-list admits `peer`.
    pub fn admits(&self, peer: &PeerCertificate) -> bool {
        self.allow.admits(peer)
    }

    /// Number of revoked serials known.
    pub fn revoked_count(&self) -> usize {
        self.revoked.values().map(HashSet::len).sum()
    }
}

/// Loads and checks every file `settings` name and builds the server configuration.
pub fn load(settings: &TlsSettings) -> Result<Material, TlsError> {
    let provider = provider();
    let chain = load_certs(&settings.cert)?;
    let key = load_key(&settings.key)?;
    let cas = load_certs(&settings.client_ca)?;
    let mut roots = RootCertStore::empty();
    for ca in &cas {
        roots.add(ca.clone()).map_err(|e| TlsError::ClientCa {
            path: settings.client_ca.clone(),
            why: e.to_string(),
        })?;
    }
    let mut revoked: HashMap<Vec<u8>, HashSet<Vec<u8>>> = HashMap::new();
    let mut crl_ders = Vec::new();
    for path in &settings.crls {
        for crl in load_crls(path)? {
            for (issuer, serial) in check_crl(path, &crl, &cas)? {
                revoked.entry(issuer).or_default().insert(serial);
            }
            crl_ders.push(crl);
        }
    }
    let allow = AllowList::parse(&settings.allowed_clients).map_err(TlsError::AllowList)?;
    let mut verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
    if !crl_ders.is_empty() {
        // Leaves are checked against the CRL of their issuer; a CA of the bundle without a CRL in
        // tls.crls has no revocation information, which is accepted (documented).
        verifier = verifier
            .with_crls(crl_ders)
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status();
    }
    let verifier = verifier.build().map_err(|e| TlsError::ClientCa {
        path: settings.client_ca.clone(),
        why: e.to_string(),
    })?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                key: settings.key.clone(),
                cert: settings.cert.clone(),
            },
            other => TlsError::Config(other.to_string()),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(16 * 1024);
    config.ticketer =
        rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Material {
        config: Arc::new(config),
        policy: Arc::new(ClientPolicy { revoked, allow }),
    })
}

/// The private key in `path` (PEM: PKCS#8, SEC1 or PKCS#1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read {
        path: path.to_owned(),
        why: pem_error(&e),
    })
}

/// The CRLs in `path`: PEM (`X509 CRL` blocks) or one DER CRL.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_owned(),
        why: e.to_string(),
    })?;
    let crl_error = |why: String| TlsError::Crl {
        path: path.to_owned(),
        why,
    };
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| crl_error(pem_error(&e)))?;
        if crls.is_empty() {
            return Err(crl_error("holds no PEM X509 CRL".to_owned()));
        }
        Ok(crls)
    } else {
        Ok(vec![CertificateRevocationListDer::from(bytes)])
    }
}

/// Checks that `crl` parses and is signed by one of `cas`; its revoked (issuer, serial) pairs.
pub fn check_crl(
    path: &Path,
    crl: &CertificateRevocationListDer<'_>,
    cas: &[CertificateDer<'_>],
) -> Result<Vec<RevokedSerial>, TlsError> {
    let crl_error = |why: String| TlsError::Crl {
        path: path.to_owned(),
        why,
    };
    let (_, parsed) = CertificateRevocationList::from_der(crl.as_ref())
        .map_err(|_| crl_error("is not a readable CRL (corrupt PEM or DER)".to_owned()))?;
    let issuer = parsed.issuer().as_raw();
    let signer = cas.iter().find_map(|ca| {
        let (_, ca) = X509Certificate::from_der(ca.as_ref()).ok()?;
        (ca.subject().as_raw() == issuer).then_some(ca)
    });
    let Some(signer) = signer else {
        return Err(crl_error(format!(
            "is issued by \"{}\", which is not a CA of tls.client_ca",
            parsed.issuer()
        )));
    };
    parsed
        .verify_signature(signer.public_key())
        .map_err(|_| crl_error("has a signature the client CA did not make".to_owned()))?;
    Ok(parsed
        .iter_revoked_certificates()
        .map(|r| (issuer.to_vec(), r.raw_serial().to_vec()))
        .collect())
}

/// The files a configuration is read from, in a fixed order (for change detection and messages).
pub fn files(settings: &TlsSettings) -> Vec<PathBuf> {
    let mut files = vec![
        settings.cert.clone(),
        settings.key.clone(),
        settings.client_ca.clone(),
    ];
    files.extend(settings.crls.iter().cloned());
    files
}
