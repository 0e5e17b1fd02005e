//! The quick start (`sees serve --dev`): development certificates, a master key and an SQLite store
//! under the working directory, the ExpressPlay SIMULATOR when no authenticator is configured, and one
//! demo content key — everything a fresh clone needs to answer a `curl`.

use std::path::Path;

use secrecy::SecretString;

use crate::catalog::{Catalog, Package};
use crate::config::Settings;
use crate::expressplay::sim::{SimConfig, Simulator};
use crate::ids::{AssetId, ContentId, PackageId};
use crate::keys::{
    ContentKey, KeyPolicy, KeyStore, KeyStoreError, MasterKey, MasterKeyError, NewContentKey,
    MASTER_KEY_ENV,
};
use crate::tls::dev_pki::{DevPki, DevPkiPaths, PkiError};

/// The content ID the demo key is stored under.
pub const DEMO_CONTENT_ID: &str = "demo-content";

/// The authenticator the dev simulator accepts (a made-up, well-formed value).
const DEV_AUTHENTICATOR: &str = "0,00000000000000000000000000000000";

/// What the quick start could not prepare.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("development certificates: {0}")]
    Pki(#[from] PkiError),
    #[error(
        "tls.cert, tls.key and tls.client_ca are missing and not in the default layout \
         (DIR/server.pem, DIR/server.key, DIR/ca.pem), so --dev will not create them"
    )]
    CertLayout,
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error("cannot start the ExpressPlay simulator: {0}")]
    Simulator(std::io::Error),
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    #[error("demo catalogue: {0}")]
    Catalog(crate::catalog::CatalogError),
}

/// Creates what is missing and adjusts `settings`; the returned simulator (if any) must stay alive.
pub async fn prepare(settings: &mut Settings) -> Result<Option<Simulator>, DevError> {
    ensure_certificates(settings)?;
    if std::env::var(MASTER_KEY_ENV).is_err() && !settings.keys.master_key_file.exists() {
        MasterKey::generate_file(&settings.keys.master_key_file)?;
        tracing::warn!(path = %settings.keys.master_key_file.display(), "created a development master key");
    }
    if settings.expressplay.has_authenticator() {
        return Ok(None);
    }
    let simulator = Simulator::start(SimConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        authenticators: vec![DEV_AUTHENTICATOR.to_owned()],
        ..SimConfig::default()
    })
    .await
    .map_err(DevError::Simulator)?;
    tracing::warn!(
        token_url = %simulator.token_url(),
        "NO expressplay.customer_authenticator CONFIGURED: tokens come from the local ExpressPlay SIMULATOR \
         and will not play on any device"
    );
    settings.expressplay.token_url = simulator.token_url();
    settings.expressplay.widevine_token_url = format!("http://{}/hms/wv/token", simulator.addr());
    settings.expressplay.playready_token_url = format!("http://{}/hms/pr/token", simulator.addr());
    settings.expressplay.record_url = format!("http://{}/cmiapi/getrecord/", simulator.addr());
    settings.expressplay.customer_authenticator = SecretString::from(DEV_AUTHENTICATOR.to_owned());
    Ok(Some(simulator))
}

fn ensure_certificates(settings: &Settings) -> Result<(), DevError> {
    let tls = &settings.tls;
    if tls.cert.exists() && tls.key.exists() && tls.client_ca.exists() {
        return Ok(());
    }
    let dir = tls.cert.parent().unwrap_or(Path::new("."));
    let layout = DevPkiPaths::in_dir(dir);
    if layout.server_cert != tls.cert
        || layout.server_key != tls.key
        || layout.ca_cert != tls.client_ca
    {
        return Err(DevError::CertLayout);
    }
    DevPki::generate(&[])?.write_to(dir, false)?;
    tracing::warn!(dir = %dir.display(), "created development certificates (CA, server, client)");
    Ok(())
}

/// The free package that makes the demo content playable in catalogue mode.
pub const DEMO_PACKAGE_ID: &str = "demo-free";

/// Stores random keys for the demo content and the registration content IDs, and a free package
/// holding the demo asset, unless they exist.
pub async fn seed_demo(
    keys: &KeyStore,
    catalog: &Catalog,
    settings: &Settings,
) -> Result<(), DevError> {
    seed_key(keys, DEMO_CONTENT_ID).await?;
    for id in &settings.devices.registration_content_ids {
        seed_key(keys, id).await?;
    }
    let id = PackageId::parse(DEMO_PACKAGE_ID).expect("a valid package ID");
    if catalog.package(&id).await.is_err() {
        let now = chrono::Utc::now();
        catalog
            .create_package(&Package {
                id,
                name: "Demo (free)".to_owned(),
                description: "Seeded by serve --dev: makes demo-content playable without a session"
                    .to_owned(),
                bypass: true,
                asset_ids: vec![AssetId::parse(DEMO_CONTENT_ID).expect("a valid asset ID")],
                billing_plan_ids: Vec::new(),
                region_ids: Vec::new(),
                custom_data: Default::default(),
                drm_policy: Default::default(),
                created_at: now,
                modified_at: now,
            })
            .await
            .map_err(DevError::Catalog)?;
        tracing::info!(package = DEMO_PACKAGE_ID, "seeded a free demo package");
    }
    Ok(())
}

async fn seed_key(keys: &KeyStore, content_id: &str) -> Result<(), DevError> {
    let Ok(id) = ContentId::parse(content_id) else {
        return Ok(());
    };
    if keys.get(&id).await?.is_some() {
        return Ok(());
    }
    let key = ContentKey::generate();
    keys.put(
        NewContentKey {
            content_id: id,
            key,
            // A KID too, so that the Widevine and PlayReady paths answer for the demo content.
            policy: KeyPolicy {
                kid: Some(*uuid::Uuid::new_v4().as_bytes()),
                ..KeyPolicy::default()
            },
        },
        false,
    )
    .await?;
    tracing::info!(content_id, "seeded a demo content key");
    Ok(())
}

/// The `curl` command that gets an allowed answer from the quick start.
pub fn curl_command(settings: &Settings, port: u16) -> String {
    let host = if settings.server.listen.ip().is_unspecified()
        || settings.server.listen.ip().is_loopback()
    {
        "localhost".to_owned()
    } else {
        settings.server.listen.ip().to_string()
    };
    let dir = settings.tls.cert.parent().unwrap_or(Path::new("."));
    let layout = DevPkiPaths::in_dir(dir);
    format!(
        "curl --cert {} --key {} --cacert {} \\\n  -H 'Content-Type: application/json' \\\n  \
         -d '{{\"messageID\":\"{}\",\"version\":1,\"contentID\":\"{DEMO_CONTENT_ID}\"}}' \\\n  \
         https://{host}:{port}{}",
        layout.client_cert.display(),
        layout.client_key.display(),
        settings.tls.client_ca.display(),
        uuid::Uuid::new_v4(),
        settings
            .server
            .paths
            .first()
            .map_or("/sees/v1/entitlement", String::as_str),
    )
}
