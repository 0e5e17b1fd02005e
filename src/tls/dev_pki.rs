//! Development PKI: a throw-away certificate authority plus a server and a client certificate, for
//! running `sees` locally and for tests.
//!
//! This is for development and tests only, never for production: the CA key lives in memory next to
//! the certificates it signs and nothing here is revocable. Keys are ECDSA P-256, generated with the
//! aws-lc-rs backend of rcgen. Private keys are held in [`Zeroizing`] buffers, are never logged, and
//! the [`Debug`](std::fmt::Debug) output of [`DevPki`] contains no key material.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

/// File name of the CA certificate written by [`DevPki::write_to`].
pub const CA_CERT: &str = "ca.pem";
/// File name of the server certificate written by [`DevPki::write_to`].
pub const SERVER_CERT: &str = "server.pem";
/// File name of the server private key written by [`DevPki::write_to`].
pub const SERVER_KEY: &str = "server.key";
/// File name of the client certificate written by [`DevPki::write_to`].
pub const CLIENT_CERT: &str = "client.pem";
/// File name of the client private key written by [`DevPki::write_to`].
pub const CLIENT_KEY: &str = "client.key";

/// Common name of the development CA.
const CA_COMMON_NAME: &str = "sees development CA";
/// Common name of the development server certificate.
const SERVER_COMMON_NAME: &str = "sees-dev-server";
/// Common name of the default development client certificate.
const CLIENT_COMMON_NAME: &str = "sees-dev-client";
/// Organization put in every subject.
const ORGANIZATION: &str = "sees development";

/// Host names always present in the server certificate.
const DEFAULT_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

const HOUR: Duration = Duration::from_secs(60 * 60);
/// Leaf validity after issuance (the CA/Browser Forum's former maximum).
const LEAF_VALIDITY: Duration = Duration::from_secs(825 * 24 * 60 * 60);
/// CA validity after issuance: ten years.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

const CERT_MODE: u32 = 0o644;
const KEY_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// Errors from generating or writing the development PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Key or certificate generation failed (message of the underlying rcgen error).
    #[error("certificate generation failed: {0}")]
    Generate(String),
    /// Reading metadata of, creating or writing `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A target file exists and overwriting was not requested.
    #[error("{} exists; pass --force to overwrite", .0.display())]
    WouldOverwrite(PathBuf),
}

impl From<rcgen::Error> for PkiError {
    fn from(err: rcgen::Error) -> Self {
        PkiError::Generate(err.to_string())
    }
}

/// A generated development CA with a server and a client certificate, all as PEM.
///
/// The CA key is kept (privately) so that more client certificates can be issued with
/// [`DevPki::issue_client`].
pub struct DevPki {
    ca_params: CertificateParams,
    ca_key: KeyPair,
    ca_cert_pem: String,
    server_cert_pem: String,
    server_key_pem: Zeroizing<String>,
    client_cert_pem: String,
    client_key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for DevPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevPki")
            .field("ca", &CA_COMMON_NAME)
            .field("keys", &format_args!("[redacted]"))
            .finish()
    }
}

impl DevPki {
    /// Generates a CA, a server certificate and a client certificate (ECDSA P-256).
    ///
    /// The server certificate names `localhost`, `127.0.0.1` and `::1` plus `extra_hosts`; each
    /// extra host becomes an IP address SAN when it parses as one, else a DNS name SAN. Leaves are
    /// valid from an hour ago for 825 days, the CA for ten years.
    pub fn generate(extra_hosts: &[String]) -> Result<DevPki, PkiError> {
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = subject(CA_COMMON_NAME);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut ca_params, CA_VALIDITY);
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let ca_cert_pem = ca_params.self_signed(&ca_key)?.pem();

        let mut pki = DevPki {
            ca_params,
            ca_key,
            ca_cert_pem,
            server_cert_pem: String::new(),
            server_key_pem: Zeroizing::new(String::new()),
            client_cert_pem: String::new(),
            client_key_pem: Zeroizing::new(String::new()),
        };

        let mut server_params =
            leaf_params(SERVER_COMMON_NAME, ExtendedKeyUsagePurpose::ServerAuth);
        server_params.subject_alt_names = server_sans(extra_hosts)?;
        let (server_cert_pem, server_key_pem) = pki.issue(&server_params)?;
        let (client_cert_pem, client_key_pem) = pki.issue_client(CLIENT_COMMON_NAME)?;

        pki.server_cert_pem = server_cert_pem;
        pki.server_key_pem = server_key_pem;
        pki.client_cert_pem = client_cert_pem;
        pki.client_key_pem = client_key_pem;
        Ok(pki)
    }

    /// The CA certificate (PEM); the trust anchor for both server and client certificates.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// The server certificate (PEM).
    pub fn server_cert_pem(&self) -> &str {
        &self.server_cert_pem
    }

    /// The server private key (PKCS#8 PEM).
    pub fn server_key_pem(&self) -> &str {
        &self.server_key_pem
    }

    /// The client certificate (PEM), common name `sees-dev-client`.
    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert_pem
    }

    /// The client private key (PKCS#8 PEM).
    pub fn client_key_pem(&self) -> &str {
        &self.client_key_pem
    }

    /// Issues another client certificate from the same CA with the given common name (EKU
    /// clientAuth). Returns the certificate PEM and the private key PEM.
    pub fn issue_client(&self, common_name: &str) -> Result<(String, Zeroizing<String>), PkiError> {
        self.issue(&leaf_params(
            common_name,
            ExtendedKeyUsagePurpose::ClientAuth,
        ))
    }

    /// Issues another server certificate (with a new key) for the default hosts plus `extra_hosts`,
    /// as a rotation would. Returns the certificate PEM and the private key PEM.
    pub fn issue_server(
        &self,
        extra_hosts: &[String],
    ) -> Result<(String, Zeroizing<String>), PkiError> {
        let mut params = leaf_params(SERVER_COMMON_NAME, ExtendedKeyUsagePurpose::ServerAuth);
        params.subject_alt_names = server_sans(extra_hosts)?;
        self.issue(&params)
    }

    /// A CRL (PEM) signed by the CA, revoking the given certificates (PEM), valid from an hour ago
    /// for a week; `crl_number` must grow with each new CRL.
    pub fn crl_pem(&self, revoked_cert_pems: &[&str], crl_number: u64) -> Result<String, PkiError> {
        let now = now!();
        let mut revoked_certs = Vec::new();
        for pem in revoked_cert_pems {
            let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| PkiError::Generate(format!("not a certificate: {e}")))?;
            let peer = super::peer::PeerCertificate::parse(&der)
                .ok_or_else(|| PkiError::Generate("not a certificate".to_owned()))?;
            revoked_certs.push(rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(&peer.serial),
                revocation_time: now - HOUR,
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            });
        }
        let params = rcgen::CertificateRevocationListParams {
            this_update: now - HOUR,
            next_update: now + 7 * 24 * HOUR,
            crl_number: rcgen::SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        Ok(params.signed_by(&issuer)?.pem()?)
    }

    /// Issues a client certificate with subject alternative names `sans` (DNS names, or URIs when
    /// they contain "://") besides the common name. Returns the certificate PEM and the key PEM.
    pub fn issue_client_with_sans(
        &self,
        common_name: &str,
        sans: &[&str],
    ) -> Result<(String, Zeroizing<String>), PkiError> {
        let mut params = leaf_params(common_name, ExtendedKeyUsagePurpose::ClientAuth);
        for san in sans {
            params.subject_alt_names.push(if san.contains("://") {
                SanType::URI((*san).try_into()?)
            } else {
                SanType::DnsName((*san).try_into()?)
            });
        }
        self.issue(&params)
    }

    /// Issues a deliberately unusable client certificate, for tests of the listener's refusals.
    /// Returns the certificate PEM and the private key PEM.
    pub fn issue_flawed_client(
        &self,
        common_name: &str,
        flaw: ClientFlaw,
    ) -> Result<(String, Zeroizing<String>), PkiError> {
        let usage = match flaw {
            ClientFlaw::ServerAuthOnly => ExtendedKeyUsagePurpose::ServerAuth,
            _ => ExtendedKeyUsagePurpose::ClientAuth,
        };
        let mut params = leaf_params(common_name, usage);
        let now = now!();
        match flaw {
            ClientFlaw::Expired => {
                params.not_before = now - 48 * HOUR;
                params.not_after = now - 24 * HOUR;
            }
            ClientFlaw::NotYetValid => {
                params.not_before = now + 24 * HOUR;
                params.not_after = now + 48 * HOUR;
            }
            ClientFlaw::ServerAuthOnly => {}
            ClientFlaw::SelfSigned => {
                let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
                let cert = params.self_signed(&key)?;
                return Ok((cert.pem(), Zeroizing::new(key.serialize_pem())));
            }
        }
        self.issue(&params)
    }

    /// Writes the five PEM files into `dir`, creating it (mode 0700) if missing.
    ///
    /// Refuses with [`PkiError::WouldOverwrite`] if any of the five files exists, checking all of
    /// them before writing any, unless `force`. Private keys are created with mode 0600,
    /// certificates with mode 0644.
    pub fn write_to(&self, dir: &Path, force: bool) -> Result<DevPkiPaths, PkiError> {
        let paths = DevPkiPaths::in_dir(dir);
        if !force {
            for path in paths.iter() {
                match fs::symlink_metadata(path) {
                    Ok(_) => return Err(PkiError::WouldOverwrite(path.to_path_buf())),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(PkiError::Io {
                            path: path.to_path_buf(),
                            source,
                        })
                    }
                }
            }
        }

        if !dir.is_dir() {
            create_dir(dir).map_err(|source| PkiError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }

        let files: [(&Path, &str, u32); 5] = [
            (&paths.ca_cert, &self.ca_cert_pem, CERT_MODE),
            (&paths.server_cert, &self.server_cert_pem, CERT_MODE),
            (&paths.server_key, &self.server_key_pem, KEY_MODE),
            (&paths.client_cert, &self.client_cert_pem, CERT_MODE),
            (&paths.client_key, &self.client_key_pem, KEY_MODE),
        ];
        for (path, contents, mode) in files {
            write_file(path, contents, mode, force).map_err(|source| PkiError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        Ok(paths)
    }

    /// Generates a fresh P-256 key and a certificate for it signed by the CA.
    fn issue(&self, params: &CertificateParams) -> Result<(String, Zeroizing<String>), PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), Zeroizing::new(key.serialize_pem())))
    }
}

/// What is wrong with a certificate from [`DevPki::issue_flawed_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFlaw {
    /// Signed by the CA, but its validity ended a day ago.
    Expired,
    /// Signed by the CA, but valid only from tomorrow.
    NotYetValid,
    /// Signed by the CA, with the extended key usage serverAuth only.
    ServerAuthOnly,
    /// Signed by its own key, not by the CA.
    SelfSigned,
}

/// Paths of the five files written by [`DevPki::write_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPkiPaths {
    /// `ca.pem`
    pub ca_cert: PathBuf,
    /// `server.pem`
    pub server_cert: PathBuf,
    /// `server.key`
    pub server_key: PathBuf,
    /// `client.pem`
    pub client_cert: PathBuf,
    /// `client.key`
    pub client_key: PathBuf,
}

impl DevPkiPaths {
    /// The standard file names inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        DevPkiPaths {
            ca_cert: dir.join(CA_CERT),
            server_cert: dir.join(SERVER_CERT),
            server_key: dir.join(SERVER_KEY),
            client_cert: dir.join(CLIENT_CERT),
            client_key: dir.join(CLIENT_KEY),
        }
    }

    /// Whether all five files exist.
    pub fn all_exist(&self) -> bool {
        self.iter().all(Path::exists)
    }

    fn iter(&self) -> impl Iterator<Item = &Path> {
        [
            &self.ca_cert,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
        ]
        .into_iter()
        .map(PathBuf::as_path)
    }
}

/// The current time in rcgen's date type, in whole seconds (a macro: that type's crate is not named
/// here).
macro_rules! now {
    () => {{
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(since_epoch.as_secs())
    }};
}
use now;

/// Sets `params` valid from an hour ago until `lifetime` from now.
///
/// rcgen's date type comes from the `time` crate, which this crate does not depend on directly, so
/// the current time is built from the Unix epoch with `std` durations instead of being named.
fn set_validity(params: &mut CertificateParams, lifetime: Duration) {
    let now = now!();
    params.not_before = now - HOUR;
    params.not_after = now + lifetime;
}

/// A subject with the given common name and the development organization.
fn subject(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, ORGANIZATION);
    name
}

/// Parameters for an end-entity certificate with one extended key usage.
fn leaf_params(common_name: &str, usage: ExtendedKeyUsagePurpose) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, LEAF_VALIDITY);
    params
}

/// Subject alternative names of the server certificate: the defaults plus `extra_hosts`, without
/// duplicates.
fn server_sans(extra_hosts: &[String]) -> Result<Vec<SanType>, PkiError> {
    let mut sans = Vec::new();
    for host in DEFAULT_HOSTS
        .into_iter()
        .chain(extra_hosts.iter().map(|h| h.trim()))
    {
        if host.is_empty() {
            return Err(PkiError::Generate("empty host name".to_owned()));
        }
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.try_into()?),
        };
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    Ok(sans)
}

/// Creates `dir` and missing parents (mode 0700 for those created here).
fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Writes `contents` to `path` with permission bits `mode` from the start. Without `force` the file
/// must not exist; with it an existing file is truncated and its permissions reset to `mode`.
fn write_file(path: &Path, contents: &str, mode: u32, force: bool) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut file: File = options.open(path)?;
    #[cfg(unix)]
    if force {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::client::WebPkiServerVerifier;
    use rustls::crypto::CryptoProvider;
    use rustls::server::WebPkiClientVerifier;
    use rustls::RootCertStore;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn cert(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("certificate PEM")
    }

    fn roots(pki: &DevPki) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots
            .add(cert(pki.ca_cert_pem()))
            .expect("CA as trust anchor");
        Arc::new(roots)
    }

    fn server_verifies(pki: &DevPki, cert_pem: &str, host: &str) -> bool {
        let verifier = WebPkiServerVerifier::builder_with_provider(roots(pki), provider())
            .build()
            .expect("server verifier");
        let name = ServerName::try_from(host.to_owned()).expect("server name");
        verifier
            .verify_server_cert(&cert(cert_pem), &[], &name, &[], UnixTime::now())
            .is_ok()
    }

    fn client_verifies(pki: &DevPki, cert_pem: &str) -> bool {
        let verifier = WebPkiClientVerifier::builder_with_provider(roots(pki), provider())
            .build()
            .expect("client verifier");
        verifier
            .verify_client_cert(&cert(cert_pem), &[], UnixTime::now())
            .is_ok()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn server_cert_verifies_for_default_and_extra_hosts_only() {
        let extra = ["sees.example.test".to_owned(), "10.1.2.3".to_owned()];
        let pki = DevPki::generate(&extra).unwrap();
        for host in [
            "localhost",
            "127.0.0.1",
            "::1",
            "sees.example.test",
            "10.1.2.3",
        ] {
            assert!(
                server_verifies(&pki, pki.server_cert_pem(), host),
                "server certificate should verify for {host}"
            );
        }
        for host in ["other.example", "10.1.2.4"] {
            assert!(
                !server_verifies(&pki, pki.server_cert_pem(), host),
                "server certificate must not verify for {host}"
            );
        }
        // The client certificate is not a server certificate (EKU clientAuth only).
        assert!(!server_verifies(&pki, pki.client_cert_pem(), "localhost"));
    }

    #[test]
    fn server_key_matches_server_cert() {
        let pki = DevPki::generate(&[]).unwrap();
        let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem().as_bytes()).unwrap();
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert(pki.server_cert_pem())], key)
            .expect("server key matches server certificate");
    }

    #[test]
    fn client_cert_verifies_only_against_its_own_ca() {
        let pki = DevPki::generate(&[]).unwrap();
        let other = DevPki::generate(&[]).unwrap();
        assert!(client_verifies(&pki, pki.client_cert_pem()));
        assert!(!client_verifies(&pki, other.client_cert_pem()));
        // The server certificate is not a client certificate (EKU serverAuth only).
        assert!(!client_verifies(&pki, pki.server_cert_pem()));
        let key = PrivateKeyDer::from_pem_slice(pki.client_key_pem().as_bytes());
        assert!(key.is_ok(), "client key parses as a private key");
    }

    #[test]
    fn issued_client_cert_verifies() {
        let pki = DevPki::generate(&[]).unwrap();
        let (cert_pem, key_pem) = pki.issue_client("another-client").unwrap();
        assert!(client_verifies(&pki, &cert_pem));
        assert!(key_pem.contains("PRIVATE KEY"));
        assert_ne!(cert_pem, pki.client_cert_pem());
    }

    #[test]
    fn rejects_invalid_extra_host() {
        assert!(matches!(
            DevPki::generate(&[String::new()]),
            Err(PkiError::Generate(_))
        ));
        assert!(matches!(
            DevPki::generate(&["bad\u{e9}host".to_owned()]),
            Err(PkiError::Generate(_))
        ));
    }

    #[test]
    fn write_to_writes_files_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let pki = DevPki::generate(&[]).unwrap();

        let paths = pki.write_to(&dir, false).unwrap();
        assert_eq!(paths, DevPkiPaths::in_dir(&dir));
        assert!(paths.all_exist());
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&paths.server_key), 0o600);
        assert_eq!(mode(&paths.client_key), 0o600);
        assert_eq!(
            fs::read_to_string(&paths.server_key).unwrap(),
            pki.server_key_pem()
        );
        assert_eq!(
            fs::read_to_string(&paths.ca_cert).unwrap(),
            pki.ca_cert_pem()
        );

        let before = fs::read_to_string(&paths.ca_cert).unwrap();
        let again = DevPki::generate(&[]).unwrap();
        match again.write_to(&dir, false) {
            Err(PkiError::WouldOverwrite(path)) => {
                assert_eq!(path, paths.ca_cert);
                let message = PkiError::WouldOverwrite(path.clone()).to_string();
                assert_eq!(
                    message,
                    format!("{} exists; pass --force to overwrite", path.display())
                );
            }
            other => panic!("expected WouldOverwrite, got {other:?}"),
        }
        assert_eq!(fs::read_to_string(&paths.ca_cert).unwrap(), before);

        // Loosen a key's permissions; a forced write must tighten them again.
        fs::set_permissions(&paths.server_key, fs::Permissions::from_mode(0o644)).unwrap();
        again.write_to(&dir, true).unwrap();
        assert_ne!(fs::read_to_string(&paths.ca_cert).unwrap(), before);
        assert_eq!(
            fs::read_to_string(&paths.client_key).unwrap(),
            again.client_key_pem()
        );
        assert_eq!(mode(&paths.server_key), 0o600);
        assert_eq!(mode(&paths.client_key), 0o600);
    }

    #[test]
    fn write_to_checks_every_file_before_writing_any() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = DevPkiPaths::in_dir(tmp.path());
        fs::write(&paths.client_key, "keep me").unwrap();
        let pki = DevPki::generate(&[]).unwrap();
        assert!(matches!(
            pki.write_to(tmp.path(), false),
            Err(PkiError::WouldOverwrite(path)) if path == paths.client_key
        ));
        assert!(!paths.ca_cert.exists());
        assert!(!paths.server_key.exists());
        assert_eq!(fs::read_to_string(&paths.client_key).unwrap(), "keep me");
        assert!(!paths.all_exist());
    }

    #[test]
    fn debug_output_has_no_key_material() {
        let pki = DevPki::generate(&[]).unwrap();
        let debug = format!("{pki:?}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        assert!(!debug.contains(pki.server_key_pem()));
        assert!(debug.contains("redacted"));
    }
}
