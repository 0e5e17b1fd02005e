//! Akamai EdgeAuth tokens (Token Authentication 2.0), the `akamai` entitlement token type.
//!
//! A token is `st=<start>~exp=<end>~acl=<acl>~hmac=<hex>`: the fields Akamai's edge reads, then the
//! HMAC-SHA256 of the fields before it (joined by `~`) under the property's key, which Akamai shows as
//! hex. The client appends it to the playback URL as `?<token name>=<token>`; the edge serves every path
//! the ACL matches until `exp`. The ACL comes from `entitlement_tokens.akamai_acl`, a template over the
//! playback URL (`{dir}/*` by default: everything beside the manifest, as HLS needs for its segments).
//!
//! The key never leaves this module: `Debug` redacts it and no error names it.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hmac;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::settings_format::secs;

/// Characters the token format reserves: the field and ACL delimiters, and the ACL wildcard (a playback
/// URL whose path holds one would widen what the token opens).
const RESERVED: [char; 3] = ['~', '!', '*'];

/// Shortest accepted key, in bytes.
const MIN_KEY_BYTES: usize = 16;

/// Signs EdgeAuth tokens with the configured key.
pub struct EdgeAuth {
    key: hmac::Key,
    window_s: i64,
    acl_template: String,
    token_name: String,
}

impl fmt::Debug for EdgeAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeAuth")
            .field("key", &"[redacted]")
            .field("window_s", &self.window_s)
            .field("acl_template", &self.acl_template)
            .field("token_name", &self.token_name)
            .finish()
    }
}

/// Why no ACL can be made for a playback URL (safe to show the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("playbackUrl must be an absolute http or https URL")]
    NotHttp,
    #[error("playbackUrl's path holds a character the token format reserves (~ ! *)")]
    ReservedCharacter,
}

impl EdgeAuth {
    /// The signer `settings` describe; `None` when no key is configured. Call after
    /// [`settings_problems`] found nothing.
    pub fn from_settings(settings: &EntitlementTokenSettings) -> Option<EdgeAuth> {
        use secrecy::ExposeSecret;
        let key = settings.akamai_key.as_ref()?;
        let bytes = zeroize::Zeroizing::new(hex::decode(key.expose_secret().trim()).ok()?);
        Some(EdgeAuth {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            window_s: i64::try_from(settings.akamai_window.as_secs()).unwrap_or(i64::MAX),
            acl_template: settings.akamai_acl.clone(),
            token_name: settings.akamai_token_name.clone(),
        })
    }

    /// The query parameter the token goes in.
    pub fn token_name(&self) -> &str {
        &self.token_name
    }

    /// The ACL a token for `playback_url` opens.
    pub fn acl_for(&self, playback_url: &Url) -> Result<String, AclError> {
        if !matches!(playback_url.scheme(), "http" | "https") || playback_url.host().is_none() {
            return Err(AclError::NotHttp);
        }
        let path = playback_url.path();
        if path.contains(RESERVED) {
            return Err(AclError::ReservedCharacter);
        }
        let dir = match path.rfind('/') {
            Some(slash) => &path[..slash],
            None => "",
        };
        Ok(self
            .acl_template
            .replace("{dir}", dir)
            .replace("{path}", path))
    }

    /// A token for `acl` valid from `now` (Unix seconds) for the configured window.
    pub fn token(&self, acl: &str, now: i64) -> String {
        let fields = format!(
            "st={now}~exp={}~acl={acl}",
            now.saturating_add(self.window_s)
        );
        let mac = hmac::sign(&self.key, fields.as_bytes());
        format!("{fields}~hmac={}", hex::encode(mac.as_ref()))
    }
}

/// `[entitlement_tokens]`: the OEM entitlement-token endpoints (`tokentype=none|akamai|expressplay`) —
/// the trusted country header and the Akamai EdgeAuth signer. Its own defaults and checks; `config`
/// only assembles it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntitlementTokenSettings {
    /// A request header carrying the viewer's ISO 3166-1 country, set by a trusted edge (for example
    /// `CloudFront-Viewer-Country`); unset = no country is known and region-restricted packages deny.
    pub country_header: Option<String>,
    /// The Akamai EdgeAuth key, hex (as Akamai's property manager shows it); unset = `akamai` is not
    /// offered.
    pub akamai_key: Option<SecretString>,
    /// How long an Akamai token is valid, whole seconds (`akamai_window_s`).
    #[serde(rename = "akamai_window_s", with = "secs")]
    pub akamai_window: Duration,
    /// The token's ACL: `{dir}` is the playback URL's directory, `{path}` its path.
    pub akamai_acl: String,
    /// The query parameter the CDN reads the token from (told to the client, not signed).
    pub akamai_token_name: String,
}

impl Default for EntitlementTokenSettings {
    fn default() -> Self {
        Self {
            country_header: None,
            akamai_key: None,
            akamai_window: Duration::from_secs(300),
            akamai_acl: "{dir}/*".to_owned(),
            akamai_token_name: "hdnts".to_owned(),
        }
    }
}

impl EntitlementTokenSettings {
    /// Everything wrong with `[entitlement_tokens]`, one sentence each (never shows the key).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = settings_problems(self);
        if let Some(header) = &self.country_header {
            if axum::http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                problems.push(format!(
                    "entitlement_tokens.country_header: {header:?} is not a header name"
                ));
            }
        }
        problems
    }
}

/// What is wrong with the `entitlement_tokens.akamai_*` settings (never shows the key).
pub fn settings_problems(settings: &EntitlementTokenSettings) -> Vec<String> {
    use secrecy::ExposeSecret;
    let mut problems = Vec::new();
    if let Some(key) = &settings.akamai_key {
        match hex::decode(key.expose_secret().trim()) {
            Ok(bytes) if bytes.len() >= MIN_KEY_BYTES => {}
            Ok(_) => problems.push(format!(
                "entitlement_tokens.akamai_key must be at least {MIN_KEY_BYTES} bytes ({} hex digits)",
                MIN_KEY_BYTES * 2
            )),
            Err(_) => problems.push(
                "entitlement_tokens.akamai_key must be hex digits (an even number of them)".to_owned(),
            ),
        }
    }
    if !(1..=86_400).contains(&settings.akamai_window.as_secs()) {
        problems.push("entitlement_tokens.akamai_window_s must be between 1 and 86400".to_owned());
    }
    let acl = &settings.akamai_acl;
    let expanded = acl.replace("{dir}", "").replace("{path}", "/");
    if !(acl.starts_with('/') || acl.starts_with("{dir}") || acl.starts_with("{path}"))
        || expanded.contains(['~', '!'])
        || expanded.chars().any(char::is_control)
    {
        problems.push(
            "entitlement_tokens.akamai_acl must be a path (starting with /, {dir} or {path}) without ~, ! \
             or control characters"
                .to_owned(),
        );
    }
    let name = &settings.akamai_token_name;
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        problems.push(
            "entitlement_tokens.akamai_token_name must be 1-64 characters of A-Z a-z 0-9 _ -"
                .to_owned(),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings_format::testing::default_with;

    fn signer(key: &str, acl: &str) -> EdgeAuth {
        let settings = EntitlementTokenSettings {
            akamai_key: Some(SecretString::from(key.to_owned())),
            akamai_acl: acl.to_owned(),
            ..EntitlementTokenSettings::default()
        };
        assert!(settings_problems(&settings).is_empty());
        EdgeAuth::from_settings(&settings).unwrap()
    }

    /// The vector comes from Akamai's own Python SDK (`akamai-edgeauth` 0.3.2 on PyPI):
    /// `EdgeAuth(key="aabbccddeeff00112233445566778899", start_time=1700000000, window_seconds=300)
    /// .generate_acl_token("/dir/dir2/*")`.
    #[test]
    fn matches_akamais_reference_sdk() {
        let edge = signer("aabbccddeeff00112233445566778899", "{dir}/*");
        let url = Url::parse("http://www.some.akamai.com/dir/dir2/master.m3u8?x=1").unwrap();
        let acl = edge.acl_for(&url).unwrap();
        assert_eq!(acl, "/dir/dir2/*");
        assert_eq!(
            edge.token(&acl, 1_700_000_000),
            "st=1700000000~exp=1700000300~acl=/dir/dir2/*~hmac=9b99be34e7fcf10c3cff6be0f34b0d39a9364e88ec81391edd173489d3399bd9"
        );
    }

    #[test]
    fn acl_templates_and_refusals() {
        let edge = signer("00112233445566778899aabbccddeeff", "{path}");
        let url = |raw: &str| Url::parse(raw).unwrap();
        assert_eq!(
            edge.acl_for(&url("https://cdn.example/a/b.m3u8")).unwrap(),
            "/a/b.m3u8"
        );
        let dir = signer("00112233445566778899aabbccddeeff", "{dir}/*");
        assert_eq!(
            dir.acl_for(&url("https://cdn.example/m.m3u8")).unwrap(),
            "/*"
        );
        assert_eq!(
            dir.acl_for(&url("https://cdn.example/a~b/m.m3u8")),
            Err(AclError::ReservedCharacter)
        );
        assert_eq!(
            dir.acl_for(&url("https://cdn.example/a/*/m.m3u8")),
            Err(AclError::ReservedCharacter)
        );
        assert_eq!(
            dir.acl_for(&url("ftp://cdn.example/m.m3u8")),
            Err(AclError::NotHttp)
        );
    }

    #[test]
    fn bad_settings_are_reported_without_the_key() {
        let settings = EntitlementTokenSettings {
            akamai_key: Some(SecretString::from("zz-secret-zz".to_owned())),
            akamai_window: Duration::ZERO,
            akamai_acl: "no-slash".to_owned(),
            akamai_token_name: "bad name".to_owned(),
            ..EntitlementTokenSettings::default()
        };
        let problems = settings_problems(&settings);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().all(|p| !p.contains("zz-secret-zz")));
        let short = EntitlementTokenSettings {
            akamai_key: Some(SecretString::from("abcd".to_owned())),
            ..EntitlementTokenSettings::default()
        };
        assert_eq!(settings_problems(&short).len(), 1);
        let edge = signer("00112233445566778899aabbccddeeff", "{dir}/*");
        assert!(!format!("{edge:?}").contains("00112233"));
    }

    #[test]
    fn the_country_header_must_be_a_header_name() {
        let bad = default_with(EntitlementTokenSettings::problems, |s| {
            s.country_header = Some("Viewer Country".to_owned());
        });
        assert_eq!(
            bad.problems(),
            vec!["entitlement_tokens.country_header: \"Viewer Country\" is not a header name"]
        );
    }
}
