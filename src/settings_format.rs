//! How settings are written in the file and the environment, for the components' own settings types:
//! durations as whole numbers of a unit named in the key (`request_timeout_ms = 5000` → `millis`,
//! `binding_ttl_s` → `secs`, `retention_days` → `days`), and lists that an environment variable gives
//! as one comma-separated string.
//!
//! A leaf: it must never import another module of the crate (every component's settings use it, and
//! `config` only assembles them).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// A `Duration` written as whole milliseconds (`*_ms` keys).
pub mod millis {
    use super::*;

    /// Reads whole milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }

    /// Writes whole milliseconds (saturating).
    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A `Duration` written as whole seconds (`*_s`, `*_seconds` keys).
pub mod secs {
    use super::*;

    /// Reads whole seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }

    /// Writes whole seconds.
    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(value.as_secs())
    }
}

/// A `Duration` written as whole days (`*_days` keys), at most `u32::MAX` of them.
pub mod days {
    use super::*;

    const DAY_SECS: u64 = 24 * 3600;

    /// Reads whole days.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(
            u64::from(u32::deserialize(d)?) * DAY_SECS,
        ))
    }

    /// Writes whole days.
    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(u32::try_from(value.as_secs() / DAY_SECS).unwrap_or(u32::MAX))
    }
}

/// A list, or (from an environment variable) one comma-separated string.
pub fn list_or_comma_separated<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(list) => list,
        Either::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// "`name` must be greater than 0" for each named setting that is zero, in the order given.
pub fn zero_problems<'a>(
    settings: impl IntoIterator<Item = (&'a str, bool)> + 'a,
) -> impl Iterator<Item = String> + 'a {
    settings
        .into_iter()
        .filter(|(_, zero)| *zero)
        .map(|(name, _)| format!("{name} must be greater than 0"))
}

/// Paths as a list, or (from an environment variable) one comma-separated string.
pub fn paths_or_comma_separated<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    Ok(list_or_comma_separated(d)?
        .into_iter()
        .map(PathBuf::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Units {
        #[serde(rename = "wait_ms", with = "millis")]
        wait: Duration,
        #[serde(rename = "ttl_s", with = "secs")]
        ttl: Duration,
        #[serde(rename = "keep_days", with = "days")]
        keep: Duration,
    }

    #[derive(Debug, Deserialize)]
    struct Lists {
        #[serde(deserialize_with = "list_or_comma_separated")]
        names: Vec<String>,
        #[serde(deserialize_with = "paths_or_comma_separated")]
        files: Vec<PathBuf>,
    }

    #[test]
    fn millis_secs_and_days_read_and_write_whole_units() {
        let units: Units =
            serde_json::from_str(r#"{"wait_ms": 1500, "ttl_s": 90, "keep_days": 2}"#).unwrap();
        assert_eq!(units.wait, Duration::from_millis(1500));
        assert_eq!(units.ttl, Duration::from_secs(90));
        assert_eq!(units.keep, Duration::from_secs(2 * 24 * 3600));
        let written = serde_json::to_value(&units).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"wait_ms": 1500, "ttl_s": 90, "keep_days": 2})
        );
    }

    #[test]
    fn units_refuse_what_is_not_a_whole_number() {
        for bad in [
            r#"{"wait_ms": -1, "ttl_s": 1, "keep_days": 1}"#,
            r#"{"wait_ms": 1, "ttl_s": 1.5, "keep_days": 1}"#,
            r#"{"wait_ms": 1, "ttl_s": 1, "keep_days": 4294967296}"#,
        ] {
            assert!(serde_json::from_str::<Units>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_come_as_lists_or_comma_separated_text() {
        let lists: Lists =
            serde_json::from_str(r#"{"names": "a, b,,c", "files": ["/x", "/y"]}"#).unwrap();
        assert_eq!(lists.names, vec!["a", "b", "c"]);
        assert_eq!(lists.files, vec![PathBuf::from("/x"), PathBuf::from("/y")]);
        let lists: Lists = serde_json::from_str(r#"{"names": [], "files": "/x,/y"}"#).unwrap();
        assert!(lists.names.is_empty());
        assert_eq!(lists.files.len(), 2);
    }
}

/// Test support for the sections' `problems()` checks.
#[cfg(test)]
pub mod testing {
    /// The default section, first checked to have no problems, then changed by `change`.
    pub fn default_with<T: Default>(
        problems: fn(&T) -> Vec<String>,
        change: impl FnOnce(&mut T),
    ) -> T {
        let mut settings = T::default();
        let found = problems(&settings);
        assert!(found.is_empty(), "the default has problems: {found:?}");
        change(&mut settings);
        settings
    }
}
