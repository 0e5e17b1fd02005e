//! What the server knows about a verified client certificate: the names an allow-list can match,
//! the key pin, the serial and issuer a CRL can name, the certificate hash logs show. Parsed once per
//! connection (`net`), then shared: the client gate, the access log and the handlers (as a request
//! extension, `Arc<PeerCertificate>`) all read this one value.

use std::fmt;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The facts of a client's leaf certificate that policy, logs and audit look at: the one peer
/// identity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// SHA-256 of the whole leaf certificate (DER): the client in log lines.
    pub cert_sha256: [u8; 32],
    /// Subject distinguished name, RFC 4514 style (for logs and audit).
    pub subject: String,
    /// Subject common names.
    pub common_names: Vec<String>,
    /// DNS names of the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// URIs of the subject alternative name extension.
    pub uris: Vec<String>,
    /// SHA-256 of the DER SubjectPublicKeyInfo: the identity rate limits and key pins use.
    pub spki_sha256: [u8; 32],
    /// The serial number as encoded (DER integer content).
    pub serial: Vec<u8>,
    /// The issuer's DER-encoded name.
    pub issuer: Vec<u8>,
}

impl PeerCertificate {
    /// Parses a DER certificate; `None` when it is not one (a verified chain always is).
    pub fn parse(der: &[u8]) -> Option<PeerCertificate> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let common_names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        let mut dns_names = Vec::new();
        let mut uris = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                    GeneralName::URI(uri) => uris.push((*uri).to_owned()),
                    _ => {}
                }
            }
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let mut cert_sha256 = [0u8; 32];
        cert_sha256.copy_from_slice(digest.as_ref());
        let spki = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.public_key().raw);
        let mut spki_sha256 = [0u8; 32];
        spki_sha256.copy_from_slice(spki.as_ref());
        Some(PeerCertificate {
            cert_sha256,
            subject: cert.subject().to_string(),
            common_names,
            dns_names,
            uris,
            spki_sha256,
            serial: cert.raw_serial().to_vec(),
            issuer: cert.issuer().as_raw().to_vec(),
        })
    }

    /// The serial in colon-free lowercase hex (for logs and audit).
    pub fn serial_hex(&self) -> String {
        hex::encode(&self.serial)
    }

    /// The SPKI hash in lowercase hex: the client identity of rate limits.
    pub fn spki_hex(&self) -> String {
        hex::encode(self.spki_sha256)
    }
}

/// How log lines name a connection's client: the first 16 hex digits of its certificate hash, or `-`
/// without one. Formats in place, so a span that is not recorded costs nothing.
#[derive(Debug, Clone, Copy)]
pub struct ClientLabel<'a>(pub Option<&'a PeerCertificate>);

impl fmt::Display for ClientLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("-"),
            Some(peer) => peer.cert_sha256[..8]
                .iter()
                .try_for_each(|byte| write!(f, "{byte:02x}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::dev_pki::DevPki;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn reads_names_serial_and_key_hash_of_a_dev_certificate() {
        let pki = DevPki::generate(&["api.example.com".to_owned()]).unwrap();
        let der = CertificateDer::from_pem_slice(pki.server_cert_pem().as_bytes()).unwrap();
        let peer = PeerCertificate::parse(&der).unwrap();
        assert_eq!(peer.common_names, vec!["sees-dev-server"]);
        assert!(peer.dns_names.contains(&"api.example.com".to_owned()));
        assert!(
            peer.subject.contains("CN=sees-dev-server"),
            "{}",
            peer.subject
        );
        assert!(!peer.serial.is_empty());
        assert_eq!(peer.spki_hex().len(), 64);
        let whole = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
        assert_eq!(peer.cert_sha256.as_slice(), whole.as_ref());
        assert_eq!(
            ClientLabel(Some(&peer)).to_string(),
            hex::encode(whole.as_ref())[..16]
        );
        assert_eq!(ClientLabel(None).to_string(), "-");
        let client = CertificateDer::from_pem_slice(pki.client_cert_pem().as_bytes()).unwrap();
        let other = PeerCertificate::parse(&client).unwrap();
        assert_eq!(other.issuer, peer.issuer);
        assert_ne!(other.spki_sha256, peer.spki_sha256);
        assert!(PeerCertificate::parse(b"not a certificate").is_none());
    }
}
