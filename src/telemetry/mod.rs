//! Logging: human-readable lines by default, JSON lines with `log.format = "json"`, to stderr through
//! a buffer written in pieces ([`writer`]). The filter comes from `RUST_LOG` when set, else
//! `log.level`.

mod writer;

pub use writer::flush;

use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// `[log]`: log output. Its own defaults and checks; `config` only assembles it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` (human-readable) or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,sees=debug`; `RUST_LOG` takes precedence.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

impl LogSettings {
    /// Everything wrong with `[log]`, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if EnvFilter::try_new(&self.level).is_err() {
            problems.push(format!("log.level: {:?} is not a valid filter", self.level));
        }
        problems
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let Some(writer) = writer::stderr_writer() else {
        // No timer thread for the buffer: each line is written by the thread that logs it.
        install(filter, std::io::stderr, ansi, settings.format);
        return;
    };
    install(filter, writer, ansi, settings.format);
}

fn install<W>(filter: EnvFilter, writer: W, ansi: bool, format: LogFormat)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    #[test]
    fn the_level_must_be_a_filter() {
        let bad = default_with(LogSettings::problems, |s| {
            s.level = "info,[".to_owned();
        });
        assert_eq!(bad.problems().len(), 1);
    }
}
