//! The layers of a configuration, lowest first: built-in defaults (each component's `Default`) → the
//! `--dev` layer → a TOML file → `SEES__SECTION__KEY` environment variables. Reads, never checks:
//! `Settings::load_with_env` checks what this returns.

use std::path::Path;

use super::{ConfigError, Settings};

/// The `--dev` layer, embedded so that `serve --dev` works from any directory.
pub const DEV_LAYER: &str = include_str!("../../config/dev.toml");

/// Prefix of environment overrides: `SEES__SERVER__LISTEN=0.0.0.0:8443`.
pub const ENV_PREFIX: &str = "SEES";

/// The settings the layers describe, unchecked.
pub fn read(
    file: Option<&Path>,
    dev: bool,
    env: Vec<(String, String)>,
) -> Result<Settings, ConfigError> {
    let mut builder = config::Config::builder();
    if dev {
        builder = builder.add_source(config::File::from_str(DEV_LAYER, config::FileFormat::Toml));
    }
    if let Some(file) = file {
        builder = builder.add_source(
            config::File::from(file)
                .format(config::FileFormat::Toml)
                .required(true),
        );
    }
    let environment = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .source(Some(env.into_iter().collect()));
    Ok(builder.add_source(environment).build()?.try_deserialize()?)
}
