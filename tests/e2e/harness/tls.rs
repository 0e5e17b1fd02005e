//! TLS clients for the SEES listener: a rustls configuration with or without a client certificate,
//! a reqwest client over it, and one kept-open connection spoken to by hand.

use std::net::SocketAddr;
use std::sync::Arc;

use sees::tls::dev_pki::DevPki;
use serde_json::Value;

/// Which client certificate a TLS client presents.
pub enum ClientCert<'a> {
    /// The dev PKI's client certificate.
    Dev,
    /// Another (cert PEM, key PEM).
    Pem(&'a str, &'a str),
}

/// A rustls client config trusting `pki`'s CA, presenting `cert` (or none), offering `alpn`.
pub fn tls_client_config(
    pki: &DevPki,
    cert: Option<ClientCert<'_>>,
    alpn: &[&[u8]],
) -> rustls::ClientConfig {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_cert_pem().as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(sees::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match cert {
        None => builder.with_no_client_auth(),
        Some(cert) => {
            let (cert_pem, key_pem) = match cert {
                ClientCert::Dev => (pki.client_cert_pem(), pki.client_key_pem()),
                ClientCert::Pem(cert, key) => (cert, key),
            };
            let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A reqwest client over `config`.
pub fn client_with(config: rustls::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .expect("reqwest client")
}

/// One TLS connection to `server` with `config`, kept open for several HTTP/1.1 requests.
pub struct KeptConnection {
    stream: tokio::io::BufReader<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
}

impl KeptConnection {
    /// Connects and handshakes; the error text when either fails.
    pub async fn open(addr: SocketAddr, config: rustls::ClientConfig) -> Result<Self, String> {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("a server name");
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        Ok(KeptConnection {
            stream: tokio::io::BufReader::new(tls),
        })
    }

    /// The server's leaf certificate (DER).
    pub fn server_certificate(&self) -> Vec<u8> {
        self.stream
            .get_ref()
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.as_ref().to_vec())
            .expect("the server's certificate")
    }

    /// POSTs `body` to the main path on this connection; the status, the headers (lowercase names)
    /// and the JSON answer; the error text when the connection fails.
    pub async fn post(
        &mut self,
        body: &str,
    ) -> Result<(u16, Vec<(String, String)>, Value), String> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let head = format!(
            "POST /sees/v1/entitlement HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut status_line = String::new();
        let read = self
            .stream
            .read_line(&mut status_line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err("closed by the server".to_owned());
        }
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.stream
                .read_line(&mut line)
                .await
                .map_err(|e| format!("read: {e}"))?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or("no content-length")?;
        let mut body = vec![0u8; length];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(|e| format!("read body: {e}"))?;
        let value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        Ok((status, headers, value))
    }

    /// Waits until the server closes the connection (end of stream or an error), up to `limit`;
    /// whether it did.
    pub async fn closed_within(&mut self, limit: std::time::Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 64];
        matches!(
            tokio::time::timeout(limit, self.stream.read(&mut buffer)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}
