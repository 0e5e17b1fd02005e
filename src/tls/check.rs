//! `sees check-config` for certificates: every problem of the TLS files, one sentence each (files are
//! named, their contents never shown).

use std::path::Path;

use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::material::{check_crl, load_crls, load_key};
use super::settings::TlsSettings;
use super::{load_certs, provider};

/// Every problem of the SEES listener's TLS files (`tls`) and of the admin listener's, if it has TLS
/// (`admin_cert_key`: `admin.tls_cert` and `admin.tls_key`; `admin_client_ca`: `admin.client_ca`).
pub fn problems(
    tls: &TlsSettings,
    admin_cert_key: Option<(&Path, &Path)>,
    admin_client_ca: Option<&Path>,
) -> Vec<String> {
    let mut problems = sees_problems(tls);
    if let Some((cert, key)) = admin_cert_key {
        problems.extend(pair_problems("admin.tls_cert", cert, "admin.tls_key", key));
    }
    if let Some(ca) = admin_client_ca {
        problems.extend(ca_problems("admin.client_ca", ca).1);
    }
    problems
}

/// Problems of the CA bundle `path` named by the setting `name` (`speke.client_ca`, …).
pub fn client_ca_problems(name: &str, path: &Path) -> Vec<String> {
    ca_problems(name, path).1
}

/// Problems of `[tls]`: files readable, certificate and key matching, chain signatures and dates,
/// the client CA bundle, the CRLs (readable, issued and signed by the client CA).
pub fn sees_problems(tls: &TlsSettings) -> Vec<String> {
    let mut problems = pair_problems("tls.cert", &tls.cert, "tls.key", &tls.key);
    let (cas, ca_problems) = ca_problems("tls.client_ca", &tls.client_ca);
    problems.extend(ca_problems);
    for path in &tls.crls {
        match load_crls(path) {
            Err(e) => problems.push(format!("tls.crls: {e}")),
            Ok(crls) if !cas.is_empty() => {
                for crl in crls {
                    if let Err(e) = check_crl(path, &crl, &cas) {
                        problems.push(format!("tls.crls: {e}"));
                    }
                }
            }
            Ok(_) => {}
        }
    }
    if let Err(why) = super::allow::AllowList::parse(&tls.allowed_clients) {
        problems.push(format!("tls.allowed_clients: {why}"));
    }
    if problems.is_empty() {
        if let Err(e) = super::material::load(tls) {
            problems.push(format!("tls: {e}"));
        }
    }
    problems
}

/// A certificate chain and its key: readable, matching, each certificate signed by the next and
/// within its validity period.
fn pair_problems(cert_key: &str, cert: &Path, key_key: &str, key: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let chain = match load_certs(cert) {
        Ok(chain) => Some(chain),
        Err(e) => {
            problems.push(format!("{cert_key}: {e}"));
            None
        }
    };
    let private_key = match load_key(key) {
        Ok(k) => Some(k),
        Err(e) => {
            problems.push(format!("{key_key}: {e}"));
            None
        }
    };
    let Some(chain) = chain else {
        return problems;
    };
    problems.extend(chain_problems(cert_key, cert, &chain));
    if let Some(private_key) = private_key {
        if let Err(e) = CertifiedKey::from_der(chain, private_key, &provider()) {
            problems.push(match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "{key_key}: {} is not the private key of the certificate in {}",
                    key.display(),
                    cert.display()
                ),
                other => format!("{key_key}: {} cannot be used: {other}", key.display()),
            });
        }
    }
    problems
}

/// Each certificate of `chain` parses, is within its validity period and is signed by the next one
/// (the last by itself when it is self-signed; otherwise its issuer is not in the file, which is
/// normal).
fn chain_problems(what: &str, path: &Path, chain: &[CertificateDer<'_>]) -> Vec<String> {
    let mut problems = Vec::new();
    let parsed: Vec<Option<X509Certificate<'_>>> = chain
        .iter()
        .map(|der| X509Certificate::from_der(der.as_ref()).ok().map(|(_, c)| c))
        .collect();
    for (i, cert) in parsed.iter().enumerate() {
        let Some(cert) = cert else {
            problems.push(format!(
                "{what}: certificate #{} in {} is not a readable X.509 certificate",
                i + 1,
                path.display()
            ));
            continue;
        };
        if !cert.validity().is_valid() {
            problems.push(format!(
                "{what}: certificate #{} in {} (\"{}\") is outside its validity period ({} to {})",
                i + 1,
                path.display(),
                cert.subject(),
                cert.validity().not_before,
                cert.validity().not_after
            ));
        }
        let signer = match parsed.get(i + 1) {
            Some(Some(next)) => Some(next),
            Some(None) => None,
            None if cert.subject().as_raw() == cert.issuer().as_raw() => Some(cert),
            None => None,
        };
        if let Some(signer) = signer {
            if cert.verify_signature(Some(signer.public_key())).is_err() {
                problems.push(format!(
                    "{what}: certificate #{} in {} (\"{}\") is not signed by the next certificate \
                     of the chain (\"{}\")",
                    i + 1,
                    path.display(),
                    cert.subject(),
                    signer.subject()
                ));
            }
        }
    }
    problems
}

/// A CA bundle: readable, CA certificates within their validity period. The certificates, for CRL
/// checks.
fn ca_problems(what: &str, path: &Path) -> (Vec<CertificateDer<'static>>, Vec<String>) {
    let cas = match load_certs(path) {
        Ok(cas) => cas,
        Err(e) => return (Vec::new(), vec![format!("{what}: {e}")]),
    };
    let mut problems = Vec::new();
    for (i, der) in cas.iter().enumerate() {
        match X509Certificate::from_der(der.as_ref()) {
            Err(_) => problems.push(format!(
                "{what}: certificate #{} in {} is not a readable X.509 certificate",
                i + 1,
                path.display()
            )),
            Ok((_, ca)) => {
                if !ca.is_ca() {
                    problems.push(format!(
                        "{what}: certificate #{} in {} (\"{}\") is not a CA certificate",
                        i + 1,
                        path.display(),
                        ca.subject()
                    ));
                }
                if !ca.validity().is_valid() {
                    problems.push(format!(
                        "{what}: certificate #{} in {} (\"{}\") is outside its validity period",
                        i + 1,
                        path.display(),
                        ca.subject()
                    ));
                }
            }
        }
    }
    (cas, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::dev_pki::DevPki;

    #[test]
    fn a_dev_pki_has_no_problems_and_each_broken_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::generate(&[]).unwrap();
        let paths = pki.write_to(dir.path(), false).unwrap();
        let crl = dir.path().join("ca.crl");
        std::fs::write(&crl, pki.crl_pem(&[pki.client_cert_pem()], 1).unwrap()).unwrap();
        let tls = TlsSettings {
            cert: paths.server_cert.clone(),
            key: paths.server_key.clone(),
            client_ca: paths.ca_cert.clone(),
            crls: vec![crl.clone()],
            ..TlsSettings::default()
        };
        assert_eq!(sees_problems(&tls), Vec::<String>::new());

        let stranger = DevPki::generate(&[]).unwrap();
        let foreign = dir.path().join("foreign.crl");
        std::fs::write(&foreign, stranger.crl_pem(&[], 1).unwrap()).unwrap();
        let corrupt = dir.path().join("corrupt.pem");
        std::fs::write(
            &corrupt,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let broken = TlsSettings {
            key: paths.client_key.clone(),
            client_ca: paths.ca_cert.clone(),
            crls: vec![foreign.clone(), dir.path().join("missing.crl")],
            allowed_clients: vec!["cn:ok".to_owned(), "bogus".to_owned()],
            ..tls.clone()
        };
        let found = sees_problems(&broken);
        let text = found.join("\n");
        assert_eq!(found.len(), 4, "{text}");
        assert!(text.contains("client.key is not the private key"), "{text}");
        // Another CA with the same name: caught by the signature.
        assert!(
            text.contains("foreign.crl has a signature the client CA did not make"),
            "{text}"
        );
        assert!(text.contains("missing.crl"), "{text}");
        assert!(text.contains("tls.allowed_clients"), "{text}");
        assert!(!text.contains("BEGIN"), "{text}");

        let corrupt_cert = TlsSettings {
            cert: corrupt.clone(),
            client_ca: paths.server_key.clone(),
            ..tls
        };
        let text = sees_problems(&corrupt_cert).join("\n");
        assert!(
            text.contains("tls.cert") && text.contains("corrupt.pem"),
            "{text}"
        );
        assert!(text.contains("tls.client_ca"), "{text}");
    }
}
