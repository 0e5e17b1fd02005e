//! The TLS attack matrix: a sees listener on a PKI generated for this run, driven by real clients
//! (`openssl s_client`, `curl`, and hand-made bytes over raw TCP) through every way a client should
//! be turned away, plus control cases that must succeed. The test asserts every outcome and writes
//! the observed table to `target/tmp/tls-matrix.md` (and prints it); with
//! `SEES_WRITE_TLS_MATRIX=RELIABILITY.md` it also refreshes the table between the
//! `<!-- tls-matrix:begin -->` and `<!-- tls-matrix:end -->` markers of that file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sees::tls::dev_pki::{ClientFlaw, DevPki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{request, spawn_with_pki, TestServer};

/// How long one client run may take before it counts as hung (a failure of the test).
const CLIENT_LIMIT: Duration = Duration::from_secs(20);

/// Whether a case must be refused or must succeed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Refused,
    Served,
}

/// One row of the matrix.
struct Row {
    case: String,
    tool: &'static str,
    expect: Expect,
    /// `None` when the local tool cannot even offer the case (then it is not counted as tried).
    served: Option<bool>,
    observed: String,
}

/// A client certificate and key written to files.
struct Identity {
    cert: PathBuf,
    key: PathBuf,
}

fn write_identity(dir: &Path, name: &str, cert: &str, key: &str) -> Identity {
    let identity = Identity {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&identity.cert, cert).expect("writing a client certificate");
    std::fs::write(&identity.key, key).expect("writing a client key");
    identity
}

/// The HTTP request every client sends once connected.
fn http_request() -> String {
    let body = request("m-matrix", "c-1");
    format!(
        "POST /sees/v1/entitlement HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The reason in OpenSSL's error lines (`...:SSL routines:function:reason:file:line:SSL alert
/// number N`), with the alert number when there is one.
fn openssl_reason(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.contains("SSL routines:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    let at = fields.iter().position(|f| *f == "SSL routines")?;
    let reason = fields.get(at + 2)?.split(',').next()?.trim().to_owned();
    let alert = line
        .split("SSL alert number ")
        .nth(1)
        .map(|n| format!(" (alert {})", n.trim()))
        .unwrap_or_default();
    Some(format!("{reason}{alert}"))
}

/// The HTTP status line's code in `text`, if a response arrived.
fn http_status(text: &str) -> Option<u16> {
    ["HTTP/1.1 ", "HTTP/2 "].iter().find_map(|version| {
        let at = text.find(version)? + version.len();
        text.get(at..at + 3)?.parse().ok()
    })
}

/// Runs a command with `stdin` fed in; combined stdout and stderr.
async fn run(command: tokio::process::Command, stdin: &[u8]) -> String {
    let (text, finished) = run_limited(command, stdin, CLIENT_LIMIT).await;
    assert!(finished, "a client hung:\n{text}");
    text
}

/// Runs a command with `stdin` fed in for at most `limit`; combined stdout and stderr so far, and
/// whether it finished by itself (else it was killed).
async fn run_limited(
    mut command: tokio::process::Command,
    stdin: &[u8],
    limit: Duration,
) -> (String, bool) {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("openssl and curl are installed");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin).await;
    }
    let collect = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes).await;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = collect(child.stdout.take().map(|p| Box::new(p) as _));
    let err = collect(child.stderr.take().map(|p| Box::new(p) as _));
    let finished = tokio::time::timeout(limit, child.wait()).await.is_ok();
    if !finished {
        let _ = child.kill().await;
    }
    let out = out.await.unwrap_or_default();
    let err = err.await.unwrap_or_default();
    (format!("{out}{err}"), finished)
}

/// Runs `openssl s_client` against the server, presenting `identity`, sending one HTTP request
/// (or `stdin` when given, with interactive commands on); whether an entitlement answer was served
/// and what was observed.
async fn s_client(
    server: &TestServer,
    ca: &Path,
    identity: Option<&Identity>,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String) {
    let mut command = tokio::process::Command::new("openssl");
    command
        .arg("s_client")
        .arg("-connect")
        .arg(server.addr.to_string())
        .arg("-servername")
        .arg("localhost")
        .arg("-CAfile")
        .arg(ca);
    if let Some(identity) = identity {
        command
            .arg("-cert")
            .arg(&identity.cert)
            .arg("-key")
            .arg(&identity.key);
    }
    command.args(args);
    let text = match stdin {
        Some(input) => run(command, input.as_bytes()).await,
        None => {
            command.arg("-ign_eof");
            run(command, http_request().as_bytes()).await
        }
    };
    describe(&text)
}

/// Runs `curl` against `url`, presenting `identity`, POSTing the entitlement request.
async fn curl(url: &str, ca: &Path, identity: Option<&Identity>, args: &[&str]) -> (bool, String) {
    let mut command = tokio::process::Command::new("curl");
    command
        .args(["-sS", "-i", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["-H", "content-type: application/json", "--data"])
        .arg(request("m-matrix", "c-1"));
    if let Some(identity) = identity {
        command
            .arg("--cert")
            .arg(&identity.cert)
            .arg("--key")
            .arg(&identity.key);
    }
    command.args(args).arg(url);
    describe(&run(command, b"").await)
}

/// Whether `text` holds a served entitlement answer (HTTP 200), and a one-line description.
fn describe(text: &str) -> (bool, String) {
    if let Some(status) = http_status(text) {
        let error = text
            .split("\"error\":")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .map(|code| format!(", SEES error {code}"))
            .unwrap_or_default();
        return (status == 200, format!("HTTP {status}{error}"));
    }
    if let Some(reason) = openssl_reason(text) {
        return (false, format!("refused: {reason}"));
    }
    if let Some(line) = text.lines().find(|l| l.starts_with("curl: (")) {
        return (
            false,
            format!("refused: {}", line.trim_start_matches("curl: ")),
        );
    }
    if text.contains("errno=104") {
        return (false, "refused: connection reset by the server".to_owned());
    }
    // EPIPE: the server closed the connection while the client was still writing (a long
    // certificate chain refused before it was all sent) — a refusal seen from the writing side.
    if text.contains("errno=32") {
        return (
            false,
            "refused: connection closed by the server while the client was still sending"
                .to_owned(),
        );
    }
    (false, format!("no answer: {}", last_line(text)))
}

/// Asks for a TLS 1.2 renegotiation with s_client's `R` command; whether a second handshake
/// completed, and what was observed.
async fn renegotiation(server: &TestServer, ca: &Path, identity: &Identity) -> (bool, String) {
    let mut command = tokio::process::Command::new("openssl");
    command
        .arg("s_client")
        .arg("-connect")
        .arg(server.addr.to_string())
        .args(["-servername", "localhost", "-tls1_2", "-CAfile"])
        .arg(ca)
        .arg("-cert")
        .arg(&identity.cert)
        .arg("-key")
        .arg(&identity.key);
    let (text, finished) = run_limited(command, b"R\n", Duration::from_secs(6)).await;
    let asked = text.contains("RENEGOTIATING");
    let secure = if text.contains("Secure Renegotiation IS supported") {
        "server offers secure renegotiation"
    } else {
        "server offers no renegotiation (RFC 5746 not advertised)"
    };
    // s_client prints "SSL_do_handshake -> 1" when the second handshake completed.
    let completed = text.contains("SSL_do_handshake -> 1");
    let observed = match (asked, openssl_reason(&text), finished) {
        (false, _, _) => format!("s_client did not ask: {}", last_line(&text)),
        (true, Some(reason), _) => format!("renegotiation refused: {reason}; {secure}"),
        (true, None, false) if !completed => {
            format!("renegotiation refused: no second handshake within 6 s; {secure}")
        }
        (true, None, _) => format!("{}; {secure}", last_line(&text)),
    };
    (completed || !asked, observed)
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// Whether this OpenSSL build can offer the TLS 1.2 suite `name` at all.
async fn openssl_offers(name: &str) -> bool {
    let mut command = tokio::process::Command::new("openssl");
    command
        .args(["ciphers", "-tls1_2", "-s", "-v"])
        .arg(format!("{name}:@SECLEVEL=0"));
    let text = run(command, b"").await;
    text.lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

/// A TLS record carrying handshake bytes.
fn record(content_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![content_type, 3, 1];
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A ClientHello with a padding extension of `padding` bytes, as TLS records of at most 16 KiB.
fn huge_client_hello(padding: usize) -> Vec<u8> {
    let mut extensions = Vec::new();
    // supported_versions: TLS 1.3 and 1.2.
    extensions.extend_from_slice(&[0, 43, 0, 5, 4, 3, 4, 3, 3]);
    // padding (21), `padding` zero bytes.
    extensions.extend_from_slice(&[0, 21]);
    extensions.extend_from_slice(&(padding as u16).to_be_bytes());
    extensions.extend(std::iter::repeat_n(0u8, padding));
    // Extension lengths are 16-bit: a second padding-like extension (private use) adds more.
    extensions.extend_from_slice(&[0xff, 0x01]);
    extensions.extend_from_slice(&(padding as u16).to_be_bytes());
    extensions.extend(std::iter::repeat_n(0u8, padding));
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0); // no session id
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2b]); // two suites
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut message = vec![1];
    message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend_from_slice(&body);
    message
        .chunks(16_384)
        .flat_map(|chunk| record(22, chunk))
        .collect()
}

/// Sends a ClientHello far over rustls's handshake message limit over raw TCP; what came back.
async fn oversized_client_hello(server: &TestServer) -> (bool, String) {
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let bytes = huge_client_hello(60_000);
    // The server may close before everything is written; that is an answer too.
    let written = tcp.write_all(&bytes).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(CLIENT_LIMIT, tcp.read_to_end(&mut answer))
        .await
        .expect("the server neither answered nor closed");
    let described = match (answer.as_slice(), read) {
        ([21, 3, _, 0, 2, level, description, ..], _) => {
            format!("refused: alert level {level} description {description}")
        }
        ([22, ..], _) => "answered with a handshake (ServerHello)".to_owned(),
        ([], Ok(_)) => format!(
            "connection closed without an answer (write: {})",
            if written.is_ok() {
                "complete"
            } else {
                "cut off"
            }
        ),
        ([], Err(e)) => format!("refused: connection reset by the server ({e})"),
        (other, _) => format!("unexpected {} bytes", other.len()),
    };
    let served =
        answer.first() == Some(&22) || http_status(&String::from_utf8_lossy(&answer)).is_some();
    (
        served,
        format!("{} bytes of ClientHello: {described}", bytes.len()),
    )
}

/// Renders the matrix as Markdown.
fn markdown(rows: &[Row]) -> String {
    let tried = rows.iter().filter(|r| r.served.is_some()).count();
    let refused = rows
        .iter()
        .filter(|r| r.expect == Expect::Refused && r.served == Some(false))
        .count();
    let must_refuse = rows
        .iter()
        .filter(|r| r.expect == Expect::Refused && r.served.is_some())
        .count();
    let controls = rows.iter().filter(|r| r.expect == Expect::Served).count();
    let mut out = format!(
        "Generated by `cargo test --test e2e tls_matrix` ({}): {refused} of {must_refuse} attack cases refused, \
         {controls} control cases served, {} cases not offered by the local tools, {tried} runs in all.\n\n\
         | # | Case | Tool | Expected | Observed |\n|---|---|---|---|---|\n",
        openssl_version(),
        rows.len() - tried,
    );
    for (i, row) in rows.iter().enumerate() {
        let expected = match row.expect {
            Expect::Refused => "refused",
            Expect::Served => "served",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {expected} | {} |\n",
            i + 1,
            row.case,
            row.tool,
            row.observed.replace('|', "\\|")
        ));
    }
    out
}

fn openssl_version() -> String {
    std::process::Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "openssl".to_owned())
}

/// Replaces the text between the matrix markers in `path` with `table`.
fn refresh(path: &Path, table: &str) {
    const BEGIN: &str = "<!-- tls-matrix:begin -->";
    const END: &str = "<!-- tls-matrix:end -->";
    let text = std::fs::read_to_string(path).expect("the file to refresh");
    let (head, rest) = text.split_once(BEGIN).expect("the begin marker");
    let (_, tail) = rest.split_once(END).expect("the end marker");
    std::fs::write(path, format!("{head}{BEGIN}\n{table}{END}{tail}")).expect("refreshing");
}

#[tokio::test]
async fn every_attack_case_is_refused_by_the_listener() {
    let pki = DevPki::generate(&[]).expect("test PKI");
    let work = tempfile::tempdir().expect("temporary directory");
    let dir = work.path();
    let (revoked_cert, revoked_key) = pki.issue_client("revoked-client").unwrap();
    let crl = dir.join("revoked.crl.pem");
    std::fs::write(&crl, pki.crl_pem(&[&revoked_cert], 1).unwrap()).unwrap();

    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pki.ca_cert_pem()).unwrap();
    let good = write_identity(dir, "good", pki.client_cert_pem(), pki.client_key_pem());
    let revoked = write_identity(dir, "revoked", &revoked_cert, &revoked_key);
    let stranger_pki = DevPki::generate(&[]).unwrap();
    let (cert, key) = stranger_pki.issue_client("stranger").unwrap();
    let stranger = write_identity(dir, "stranger", &cert, &key);
    let flawed = |flaw: ClientFlaw, name: &str| {
        let (cert, key) = pki.issue_flawed_client(name, flaw).unwrap();
        write_identity(dir, name, &cert, &key)
    };
    let expired = flawed(ClientFlaw::Expired, "expired");
    let not_yet = flawed(ClientFlaw::NotYetValid, "not-yet-valid");
    let server_auth = flawed(ClientFlaw::ServerAuthOnly, "server-auth-only");
    let self_signed = flawed(ClientFlaw::SelfSigned, "self-signed");
    // A chain of 300 extra certificates (~150 KB): the Certificate message exceeds rustls's 64 KiB.
    let oversized_chain = dir.join("oversized-chain.pem");
    std::fs::write(&oversized_chain, stranger_pki.ca_cert_pem().repeat(300)).unwrap();

    let crl_path = crl.clone();
    let (server, _tls) = spawn_with_pki(pki, move |s| s.tls.crls = vec![crl_path]).await;
    server.add_key("c-1").await;
    let url = server.url("/sees/v1/entitlement");
    let plain_url = format!(
        "http://localhost:{}/sees/v1/entitlement",
        server.addr.port()
    );

    let mut rows = Vec::new();
    let mut add =
        |case: &str, tool: &'static str, expect: Expect, outcome: Option<(bool, String)>| {
            let (served, observed) = match outcome {
                Some((served, observed)) => (Some(served), observed),
                None => (None, "not offered by this OpenSSL build".to_owned()),
            };
            rows.push(Row {
                case: case.to_owned(),
                tool,
                expect,
                served,
                observed,
            });
        };
    use Expect::{Refused, Served};
    const S: &str = "openssl s_client";
    const C: &str = "curl";

    add(
        "control: valid client certificate, TLS 1.3",
        S,
        Served,
        Some(s_client(&server, &ca, Some(&good), &["-tls1_3"], None).await),
    );
    add(
        "control: valid client certificate, TLS 1.2",
        S,
        Served,
        Some(s_client(&server, &ca, Some(&good), &["-tls1_2"], None).await),
    );
    add(
        "control: valid client certificate",
        C,
        Served,
        Some(curl(&url, &ca, Some(&good), &[]).await),
    );

    let identities: [(&str, Option<&Identity>); 7] = [
        ("no client certificate", None),
        ("certificate from another CA", Some(&stranger)),
        ("expired certificate", Some(&expired)),
        ("not yet valid certificate", Some(&not_yet)),
        ("certificate revoked by CRL (`tls.crls`)", Some(&revoked)),
        (
            "wrong extended key usage (serverAuth only)",
            Some(&server_auth),
        ),
        ("self-signed client certificate", Some(&self_signed)),
    ];
    for (case, identity) in identities {
        add(
            &format!("{case}, TLS 1.3"),
            S,
            Refused,
            Some(s_client(&server, &ca, identity, &["-tls1_3"], None).await),
        );
        add(
            &format!("{case}, TLS 1.2"),
            S,
            Refused,
            Some(s_client(&server, &ca, identity, &["-tls1_2"], None).await),
        );
        add(case, C, Refused, Some(curl(&url, &ca, identity, &[]).await));
    }

    for (case, s_flag, curl_flags) in [
        ("TLS 1.0", "-tls1", ["--tlsv1.0", "--tls-max", "1.0"]),
        ("TLS 1.1", "-tls1_1", ["--tlsv1.1", "--tls-max", "1.1"]),
    ] {
        // SECLEVEL=0 lets the local OpenSSL offer the old protocol at all, so the refusal is the server's.
        add(
            case,
            S,
            Refused,
            Some(
                s_client(
                    &server,
                    &ca,
                    Some(&good),
                    &[s_flag, "-cipher", "DEFAULT:@SECLEVEL=0"],
                    None,
                )
                .await,
            ),
        );
        let mut args = curl_flags.to_vec();
        args.extend(["--ciphers", "DEFAULT:@SECLEVEL=0"]);
        add(
            case,
            C,
            Refused,
            Some(curl(&url, &ca, Some(&good), &args).await),
        );
    }

    for (case, suite) in [
        ("RSA key exchange, AES-CBC-SHA1", "AES128-SHA"),
        ("RSA key exchange, AES-GCM", "AES256-GCM-SHA384"),
        ("3DES", "DES-CBC3-SHA"),
        ("RC4", "RC4-SHA"),
        ("ECDHE, CBC with SHA-1", "ECDHE-ECDSA-AES128-SHA"),
        ("ECDHE, CBC with SHA-256", "ECDHE-ECDSA-AES128-SHA256"),
        ("NULL encryption", "ECDHE-ECDSA-NULL-SHA"),
    ] {
        let case = format!("weak TLS 1.2 suite: {case} ({suite})");
        if !openssl_offers(suite).await {
            add(&case, S, Refused, None);
            continue;
        }
        let cipher = format!("{suite}:@SECLEVEL=0");
        add(
            &case,
            S,
            Refused,
            Some(
                s_client(
                    &server,
                    &ca,
                    Some(&good),
                    &["-tls1_2", "-cipher", &cipher],
                    None,
                )
                .await,
            ),
        );
        if suite == "ECDHE-ECDSA-AES128-SHA" {
            add(
                &case,
                C,
                Refused,
                Some(
                    curl(
                        &url,
                        &ca,
                        Some(&good),
                        &["--tls-max", "1.2", "--ciphers", &cipher],
                    )
                    .await,
                ),
            );
        }
    }

    add(
        "plaintext HTTP on the TLS port",
        C,
        Refused,
        Some(curl(&plain_url, &ca, None, &[]).await),
    );

    // `R` asks s_client to renegotiate once the TLS 1.2 session is up; a server that ignores the
    // request leaves s_client waiting for a ServerHello, so it gets a bounded time.
    add(
        "renegotiation (TLS 1.2, `R`)",
        S,
        Refused,
        Some(renegotiation(&server, &ca, &good).await),
    );
    add(
        "oversized client certificate chain (~150 KB)",
        S,
        Refused,
        Some(
            s_client(
                &server,
                &ca,
                Some(&good),
                &["-tls1_3", "-cert_chain", oversized_chain.to_str().unwrap()],
                None,
            )
            .await,
        ),
    );
    add(
        "oversized ClientHello (two 60 KB extensions)",
        "raw TCP",
        Refused,
        Some(oversized_client_hello(&server).await),
    );

    let table = markdown(&rows);
    println!("{table}");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tls-matrix.md");
    std::fs::write(&target, &table).expect("writing the matrix");
    if let Ok(path) = std::env::var("SEES_WRITE_TLS_MATRIX") {
        refresh(&Path::new(env!("CARGO_MANIFEST_DIR")).join(path), &table);
    }

    let wrong: Vec<String> = rows
        .iter()
        .filter(|r| {
            r.served
                .is_some_and(|served| served != (r.expect == Expect::Served))
        })
        .map(|r| format!("{} via {}: {}", r.case, r.tool, r.observed))
        .collect();
    assert!(
        wrong.is_empty(),
        "cases with the wrong outcome:\n{}",
        wrong.join("\n")
    );
    for row in rows
        .iter()
        .filter(|r| r.expect == Expect::Refused && r.served.is_some())
    {
        assert!(
            row.observed.contains("refused") || row.observed.contains("HTTP 400, SEES error 1012"),
            "{} via {} was not refused by the server: {}",
            row.case,
            row.tool,
            row.observed
        );
    }
    server.stop().await;
}
