//! The command line: `serve`, `check-config`, `certs dev`, `keys …`, `audit query`, `health`,
//! `expressplay-sim`. Parses arguments, calls the library, prints results, maps failures to exit codes
//! (1 = failed, 2 = usage).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use crate::app::{open_stores, shutdown_signal, Application};
use crate::config::Settings;
use crate::expressplay::TokenLifetime;
use crate::ids::{ContentId, CustomerCookie};
use crate::keys::{parse_import, ContentKey, ImportFormat, KeyPolicy, MasterKey, NewContentKey};
use crate::tls::dev_pki::DevPki;

/// sees — the SEES entitlement server.
#[derive(Debug, Parser)]
#[command(name = "sees", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Every key can be overridden by SEES__SECTION__KEY.
    #[arg(long, short, global = true, env = "SEES_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SEES endpoint (mutual TLS).
    Serve {
        /// Quick start: create development certificates, a master key and the store when absent, use
        /// the ExpressPlay simulator when no authenticator is configured, seed a demo key.
        #[arg(long)]
        dev: bool,
    },
    /// Validate the configuration and everything it names (files, certificates, CRLs, store, master
    /// key, listeners): one line per problem, exit status 1 when there is any.
    CheckConfig {
        /// Include the --dev layer.
        #[arg(long)]
        dev: bool,
    },
    /// Certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Content keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Cookie → device bindings (device registration and device-bound tokens).
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Admin API bearer tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// The SPEKE key provider packagers call.
    #[command(subcommand)]
    Speke(SpekeCommand),
    /// The audit log (SEES decisions and admin writes).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Probe a health URL (the ops listener's /healthz or /readyz): exit 0 on HTTP 2xx, 1 otherwise.
    /// Made for container HEALTHCHECKs, so the image needs no curl.
    Health {
        /// The plain-HTTP URL to GET.
        #[arg(long, default_value = "http://127.0.0.1:9090/healthz")]
        url: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Run the local ExpressPlay SIMULATOR (for tests and demos; tokens play nowhere).
    ExpressplaySim {
        /// Address to listen on (plain HTTP).
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: SocketAddr,
        /// An accepted customerAuthenticator (repeatable); none = any well-formed value.
        #[arg(long)]
        authenticator: Vec<String>,
        /// Name of the token parameter carrying the device restriction.
        #[arg(long, default_value = "deviceid")]
        device_param: String,
        /// Refuse device-bound tokens with -6008, like an account without device binding.
        #[arg(long)]
        no_device_binding: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Write a development PKI: ca.pem, server.pem/.key, client.pem/.key (keys mode 0600).
    Dev {
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// Extra server name or IP address (repeatable); localhost, 127.0.0.1 and ::1 are always in.
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Store the key of one content ID.
    Add {
        #[arg(long)]
        content_id: String,
        /// CEK, 32 hex digits. Note: visible in the process list; prefer `keys import` for real keys.
        #[arg(long)]
        key: String,
        /// IV, 32 hex digits.
        #[arg(long)]
        iv: String,
        /// The asset this content key protects (default: the content ID).
        #[arg(long)]
        asset_id: Option<String>,
        /// The key's ID (KID) as packagers, Widevine and PlayReady name it: 32 hex digits or a UUID.
        #[arg(long)]
        kid: Option<String>,
        /// Token lifetime for this content: +N seconds or an RFC 3339 instant ending in Z.
        #[arg(long)]
        token_lifetime: Option<TokenLifetime>,
        /// rentalDuration in seconds for this content.
        #[arg(long)]
        rental_duration: Option<u32>,
        /// Replace an existing key.
        #[arg(long)]
        replace: bool,
    },
    /// Import keys from a JSON-lines, CSV or CPIX file, all or nothing. A CPIX document's keys are
    /// named by the `[speke]` contentID templates, as if a packager had asked for them.
    Import {
        file: PathBuf,
        /// File format (default: from the extension; .xml/.cpix = cpix).
        #[arg(long, value_enum)]
        format: Option<KeyFileFormat>,
        /// Replace existing keys.
        #[arg(long)]
        replace: bool,
    },
    /// Write the keys of one packager content ID as a CPIX document with plain keys: to --out (mode
    /// 0600) or to standard output when it is not a terminal.
    Export {
        #[arg(long, value_enum, default_value = "cpix")]
        format: KeyFileFormat,
        /// The packager's content ID (CPIX contentId) or a content ID.
        #[arg(long)]
        content_id: String,
        /// The file to write.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List stored content IDs and their token settings (never key material).
    List,
    /// Delete the key of one content ID.
    Delete {
        #[arg(long)]
        content_id: String,
    },
    /// Write a new random master key (base64, mode 0600).
    GenMasterKey {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SpekeCommand {
    /// Packagers' HTTP Basic credentials.
    #[command(subcommand)]
    Credentials(SpekeCredentialsCommand),
}

#[derive(Debug, Subcommand)]
enum SpekeCredentialsCommand {
    /// Create a credential: its name is the Basic user name; the password is printed once.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List credentials (never their secrets).
    List,
    /// Revoke a credential by name or id.
    Revoke { name_or_id: String },
}

/// The formats of key files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KeyFileFormat {
    /// JSON lines.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// A DASH-IF CPIX document with plain-value keys (KIDs, keys and explicit IVs).
    Cpix,
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// List bindings: a prefix of the cookie's keyed hash, the device, when registered and learned.
    List,
    /// Forget what is known about one cookie; its next device-bound request asks ExpressPlay again.
    Forget {
        #[arg(long)]
        cookie: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Events from the store, newest first.
    Query {
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
        /// Only this contentID.
        #[arg(long)]
        content: Option<String>,
        /// At or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Only this outcome.
        #[arg(long, value_enum)]
        outcome: Option<crate::audit::AuditOutcome>,
        /// Only this kind.
        #[arg(long, value_enum)]
        kind: Option<crate::audit::Kind>,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        #[arg(long, value_enum)]
        role: crate::admin::tokens::Role,
        #[arg(long)]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by name or id.
    Revoke { name_or_id: String },
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // The log lines still buffered go out before anything else is printed.
    crate::telemetry::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve { dev } => serve(config, dev).await,
        Command::CheckConfig { dev } => check_config(config, dev).await,
        Command::Certs(CertsCommand::Dev { out, hosts, force }) => {
            let paths = DevPki::generate(&hosts)?.write_to(&out, force)?;
            println!(
                "wrote {}, {}, {}, {}, {}",
                paths.ca_cert.display(),
                paths.server_cert.display(),
                paths.server_key.display(),
                paths.client_cert.display(),
                paths.client_key.display()
            );
            Ok(())
        }
        Command::Keys(command) => keys(config, command).await,
        Command::Devices(command) => devices(config, command).await,
        Command::Tokens(command) => tokens(config, command).await,
        Command::Speke(SpekeCommand::Credentials(command)) => {
            speke_credentials(config, command).await
        }
        Command::Audit(command) => audit(config, command).await,
        Command::Health { url, timeout_ms } => health(&url, timeout_ms).await,
        Command::ExpressplaySim {
            listen,
            authenticator,
            device_param,
            no_device_binding,
        } => {
            crate::telemetry::init(&Default::default());
            crate::expressplay::sim::run(crate::expressplay::sim::SimConfig {
                listen,
                authenticators: authenticator,
                device_param,
                device_binding: !no_device_binding,
                ..Default::default()
            })
            .await
            .with_context(|| format!("simulator on {listen}"))
        }
    }
}

/// `sees check-config`: the settings, then the TLS files, then the store and the master key; every
/// problem on its own line.
async fn check_config(config: Option<&Path>, dev: bool) -> anyhow::Result<()> {
    let settings = match Settings::load(config, dev) {
        Ok(settings) => settings,
        Err(crate::config::ConfigError::Invalid(problems)) => {
            for problem in &problems {
                println!("problem: {problem}");
            }
            bail!("the configuration has {} problem(s)", problems.len());
        }
        Err(e) => return Err(e.into()),
    };
    let mut problems = crate::tls::check::problems(
        &settings.tls,
        settings.admin.tls_files(),
        settings.admin.client_ca.as_deref(),
    );
    if let (Some(_), Some(ca)) = (settings.speke.listen, &settings.speke.client_ca) {
        problems.extend(crate::tls::check::client_ca_problems("speke.client_ca", ca));
    }
    match open_stores(&settings).await {
        Ok(stores) => stores.store.close().await,
        Err(e) => problems.push(format!("store: {e}")),
    }
    for problem in &problems {
        println!("problem: {problem}");
    }
    if !problems.is_empty() {
        bail!("the configuration has {} problem(s)", problems.len());
    }
    if !dev && !settings.expressplay.has_authenticator() {
        println!(
            "configuration is valid, but expressplay.customer_authenticator is empty: \
             `serve` will refuse to start (use --dev for the simulator)"
        );
    } else {
        println!("configuration is valid");
    }
    Ok(())
}

async fn serve(config: Option<&Path>, dev: bool) -> anyhow::Result<()> {
    let mut settings = Settings::load(config, dev)?;
    crate::telemetry::init(&settings.log);
    let _simulator = if dev {
        crate::dev::prepare(&mut settings).await?
    } else {
        None
    };
    let Some(app) = build_when_the_store_answers(&settings).await? else {
        return Ok(());
    };
    let config_file = config.map(Path::to_path_buf);
    app.tls().reread_settings_with(std::sync::Arc::new(move || {
        Settings::load(config_file.as_deref(), dev)
            .map(|s| s.tls)
            .map_err(|e| e.to_string())
    }));
    if dev {
        crate::dev::seed_demo(&app.key_store(), &app.catalog(), &settings).await?;
        println!(
            "\nsees is ready. Ask it for the demo content:\n\n{}\n\n\
             The admin API listens on http://{} — make a token with\n  \
             sees tokens create --role admin --name me\n",
            crate::dev::curl_command(&settings, app.local_addr().port()),
            app.admin_addr()
        );
    }
    app.run_until(shutdown_signal()).await;
    Ok(())
}

/// Builds the application; while a PostgreSQL store cannot be reached (a node started before its
/// server), says so and tries again with a growing pause, until it can or a shutdown signal comes
/// (`None`). Any other start-up error ends at once.
async fn build_when_the_store_answers(settings: &Settings) -> anyhow::Result<Option<Application>> {
    use crate::app::StartError;
    use crate::store::StoreError;
    let mut pause = std::time::Duration::from_millis(500);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        match Application::build(settings).await {
            Err(StartError::Store(StoreError::Connect { url, source }))
                if !settings.store.url.starts_with("sqlite:") =>
            {
                tracing::warn!(store = %url, error = %source, retry_in_ms = pause.as_millis() as u64,
                    "the store cannot be reached; sees starts once it can");
            }
            built => return Ok(Some(built?)),
        }
        tokio::select! {
            () = &mut shutdown => return Ok(None),
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(std::time::Duration::from_secs(10));
    }
}

async fn keys(config: Option<&Path>, command: KeysCommand) -> anyhow::Result<()> {
    if let KeysCommand::GenMasterKey { out } = &command {
        MasterKey::generate_file(out)?;
        println!("wrote a new master key to {}", out.display());
        return Ok(());
    }
    let settings = Settings::load(config, false)?;
    let keys = open_stores(&settings).await?.keys;
    match command {
        KeysCommand::Add {
            content_id,
            asset_id,
            kid,
            key,
            iv,
            token_lifetime,
            rental_duration,
            replace,
        } => {
            let content_id = ContentId::parse(content_id).context("--content-id")?;
            let key = ContentKey::from_hex(&key, &iv)?;
            keys.put(
                NewContentKey {
                    content_id: content_id.clone(),
                    key,
                    policy: KeyPolicy {
                        asset_id: asset_id
                            .map(crate::ids::AssetId::parse)
                            .transpose()
                            .context("--asset-id")?,
                        kid: kid
                            .as_deref()
                            .map(crate::keys::parse_key_id)
                            .transpose()
                            .map_err(|e| anyhow::anyhow!("--kid: {e}"))?,
                        packager_content_id: None,
                        token_lifetime,
                        rental_duration_s: rental_duration,
                    },
                },
                replace,
            )
            .await?;
            println!("stored the key of {content_id}");
        }
        KeysCommand::Import {
            file,
            format,
            replace,
        } => {
            let Some(format) = format.or_else(|| key_file_format(&file)) else {
                bail!(
                    "cannot tell the format of {} from its name: pass --format jsonl|csv|cpix",
                    file.display()
                );
            };
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let parsed = match format {
                KeyFileFormat::Jsonl => parse_import(&text, ImportFormat::Jsonl)
                    .with_context(|| file.display().to_string())?,
                KeyFileFormat::Csv => parse_import(&text, ImportFormat::Csv)
                    .with_context(|| file.display().to_string())?,
                KeyFileFormat::Cpix => {
                    crate::speke::files::keys_from_cpix(text.as_bytes(), &settings.speke)
                        .map_err(anyhow::Error::msg)
                        .with_context(|| file.display().to_string())?
                }
            };
            let count = keys.import(parsed, replace).await?;
            println!("imported {count} keys from {}", file.display());
        }
        KeysCommand::Export {
            format,
            content_id,
            out,
        } => {
            if format != KeyFileFormat::Cpix {
                bail!("keys export writes CPIX only (--format cpix): other formats would be plain key files too");
            }
            let stored = keys.packager_content(&content_id).await?;
            let document = crate::speke::files::cpix_document(&content_id, &stored)
                .map_err(anyhow::Error::msg)?;
            write_secret_output(out.as_deref(), document.as_bytes())?;
            eprintln!("exported {} keys of {content_id}", stored.len());
        }
        KeysCommand::List => {
            let listed = keys.list().await?;
            println!(
                "{:<40} {:<22} {:>10} {:<20}",
                "CONTENT ID", "TOKEN LIFETIME", "RENTAL S", "UPDATED"
            );
            for summary in &listed {
                println!(
                    "{:<40} {:<22} {:>10} {:<20}",
                    summary.content_id,
                    summary
                        .policy
                        .token_lifetime
                        .map_or("(default)".to_owned(), |l| l.to_string()),
                    summary
                        .policy
                        .rental_duration_s
                        .map_or("(default)".to_owned(), |r| r.to_string()),
                    summary.updated_at.format("%Y-%m-%dT%H:%M:%SZ"),
                );
            }
            println!("{} keys", listed.len());
        }
        KeysCommand::Delete { content_id } => {
            let content_id = ContentId::parse(content_id).context("--content-id")?;
            if !keys.delete(&content_id).await? {
                bail!("no key stored for {content_id}");
            }
            println!("deleted the key of {content_id} (other running servers forget it within keys.cache_ttl_ms)");
        }
        KeysCommand::GenMasterKey { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// The key file format a file name suggests.
fn key_file_format(path: &Path) -> Option<KeyFileFormat> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "xml" | "cpix" => Some(KeyFileFormat::Cpix),
        _ => ImportFormat::from_path(path).map(|f| match f {
            ImportFormat::Jsonl => KeyFileFormat::Jsonl,
            ImportFormat::Csv => KeyFileFormat::Csv,
        }),
    }
}

/// Writes plain key material to `out` (created with mode 0600) or to standard output — never to a
/// terminal, where it would stay on screen and in scroll-back.
fn write_secret_output(out: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    match out {
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        None if std::io::stdout().is_terminal() => bail!(
            "refusing to write plain content keys to a terminal: pass --out FILE or redirect standard output"
        ),
        None => std::io::stdout().write_all(bytes)?,
    }
    Ok(())
}

async fn devices(config: Option<&Path>, command: DevicesCommand) -> anyhow::Result<()> {
    let settings = Settings::load(config, false)?;
    let devices = open_stores(&settings).await?.devices;
    match command {
        DevicesCommand::List => {
            let listed = devices.list().await?;
            println!(
                "{:<14} {:<40} {:<21} {:<21}",
                "COOKIE HASH", "DEVICE", "REGISTERED", "LEARNED"
            );
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or("-".to_owned(), |t| {
                    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                })
            };
            for binding in &listed {
                println!(
                    "{:<14} {:<40} {:<21} {:<21}",
                    binding.cookie_hash_prefix,
                    binding.device_id.as_deref().unwrap_or("-"),
                    time(binding.registered_at),
                    time(binding.learned_at),
                );
            }
            println!("{} bindings", listed.len());
        }
        DevicesCommand::Forget { cookie } => {
            let cookie = CustomerCookie::parse(cookie).context("--cookie")?;
            if !devices.forget(&cookie).await? {
                bail!("nothing is known about this cookie");
            }
            println!("forgot the binding; the next device-bound request asks ExpressPlay's record service");
        }
    }
    Ok(())
}

async fn tokens(config: Option<&Path>, command: TokensCommand) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let settings = Settings::load(config, false)?;
    let tokens = crate::admin::tokens::ApiTokens::new(open_stores(&settings).await?.store);
    let now = chrono::Utc::now();
    match command {
        TokensCommand::Create { role, name } => {
            let (info, secret) = tokens.create(&name, role, now).await?;
            eprintln!(
                "created token {} ({}, role {}); it is shown once:",
                info.name, info.id, info.role
            );
            println!("{}", secret.expose_secret());
        }
        TokensCommand::List => {
            let listed = tokens.list().await?;
            println!(
                "{:<36} {:<24} {:<8} {:<21} {:<21}",
                "ID", "NAME", "ROLE", "CREATED", "REVOKED"
            );
            let time =
                |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            for token in &listed {
                println!(
                    "{:<36} {:<24} {:<8} {:<21} {:<21}",
                    token.id,
                    token.name,
                    token.role.to_string(),
                    time(token.created_at),
                    token.revoked_at.map_or("-".to_owned(), time),
                );
            }
            println!("{} tokens", listed.len());
        }
        TokensCommand::Revoke { name_or_id } => {
            tokens.revoke(&name_or_id, now).await?;
            println!("revoked {name_or_id}");
        }
    }
    Ok(())
}

async fn speke_credentials(
    config: Option<&Path>,
    command: SpekeCredentialsCommand,
) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let settings = Settings::load(config, false)?;
    let credentials = crate::speke::SpekeCredentials::new(open_stores(&settings).await?.store);
    let now = chrono::Utc::now();
    match command {
        SpekeCredentialsCommand::Create { name } => {
            let (info, secret) = credentials.create(&name, now).await?;
            eprintln!(
                "created SPEKE credential {} ({}); the packager's user name is {:?} and its password, \
                 shown once, is:",
                info.name, info.id, info.name
            );
            println!("{}", secret.expose_secret());
        }
        SpekeCredentialsCommand::List => {
            let listed = credentials.list().await?;
            println!(
                "{:<36} {:<24} {:<21} {:<21}",
                "ID", "NAME", "CREATED", "REVOKED"
            );
            let time =
                |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            for credential in &listed {
                println!(
                    "{:<36} {:<24} {:<21} {:<21}",
                    credential.id,
                    credential.name,
                    time(credential.created_at),
                    credential.revoked_at.map_or("-".to_owned(), time),
                );
            }
            println!("{} credentials", listed.len());
        }
        SpekeCredentialsCommand::Revoke { name_or_id } => {
            credentials.revoke(&name_or_id, now).await?;
            println!("revoked {name_or_id}");
        }
    }
    Ok(())
}

async fn audit(config: Option<&Path>, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Query {
        user,
        content,
        since,
        until,
        outcome,
        kind,
        limit,
        json,
    } = command;
    let time = |flag: &str, raw: Option<String>| {
        raw.map(|raw| {
            chrono::DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&chrono::Utc))
                .with_context(|| {
                    format!("{flag} {raw:?}: not an RFC 3339 time such as 2026-01-31T00:00:00Z")
                })
        })
        .transpose()
    };
    let filter = crate::audit::AuditFilter {
        user,
        content,
        since: time("--since", since)?,
        until: time("--until", until)?,
        outcome,
        kind,
        limit: limit.max(1),
    };
    let settings = Settings::load(config, false)?;
    let store =
        crate::store::Store::connect(&settings.store.url, settings.store.max_connections).await?;
    let events = crate::audit::query(&store, &filter).await?;
    store.close().await;
    if json {
        for event in &events {
            println!("{}", serde_json::to_string(event)?);
        }
        return Ok(());
    }
    println!(
        "{:<24} {:<13} {:<7} {:>5} {:<28} {:<20} {:<20} WHAT",
        "TIME", "KIND", "OUTCOME", "ERROR", "WHO", "USER", "CONTENT/ASSET"
    );
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    for event in &events {
        let who = event
            .caller
            .clone()
            .or_else(|| event.client_subject.clone())
            .unwrap_or_else(|| "-".to_owned());
        let what = match event.kind {
            crate::audit::Kind::SeesDecision => format!("messageID {}", dash(&event.message_id)),
            crate::audit::Kind::AdminWrite => format!(
                "{} {} → {}",
                dash(&event.method),
                event
                    .route
                    .clone()
                    .unwrap_or_else(|| "(no route)".to_owned()),
                event.status.map_or("-".to_owned(), |s| s.to_string())
            ),
            crate::audit::Kind::KeyIssue => event
                .trail
                .first()
                .map_or_else(|| "-".to_owned(), |step| format!("SPEKE {}", step.detail)),
        };
        println!(
            "{:<24} {:<13} {:<7} {:>5} {:<28} {:<20} {:<20} {}",
            event
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event.kind.as_str(),
            event.outcome.as_str(),
            event.error.map_or("-".to_owned(), |e| e.to_string()),
            who,
            dash(&event.user),
            event
                .content_id
                .clone()
                .or_else(|| event.asset.clone())
                .unwrap_or_else(|| "-".to_owned()),
            what,
        );
    }
    println!("{} events", events.len());
    Ok(())
}

async fn health(url: &str, timeout_ms: u64) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(timeout_ms))
        .build()
        .context("HTTP client")?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("GET {url}: HTTP {status}");
    }
    println!("{url}: {status}");
    Ok(())
}
