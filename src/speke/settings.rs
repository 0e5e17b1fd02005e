//! `[speke]`: the key-provider listener packagers call (SPEKE v2 over TLS), how they authenticate,
//! and how the keys they receive are named for the SEES endpoint. Its own defaults and checks;
//! `config` only assembles it.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// How packagers prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpekeAuth {
    /// HTTP Basic credentials from `sees speke credentials create` (the default).
    Basic,
    /// A client certificate from `speke.client_ca` (required at the TLS handshake).
    Certificate,
    /// Either one: a certificate from `speke.client_ca` when presented, else Basic credentials.
    Either,
    /// Both: a certificate from `speke.client_ca` and Basic credentials.
    Both,
}

impl SpekeAuth {
    /// Whether Basic credentials are checked.
    pub fn basic(self) -> bool {
        self != SpekeAuth::Certificate
    }

    /// Whether the TLS handshake demands a client certificate.
    pub fn certificate_required(self) -> bool {
        matches!(self, SpekeAuth::Certificate | SpekeAuth::Both)
    }
}

/// The SPEKE key-provider listener. Off unless `listen` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpekeSettings {
    /// Address of the key-provider listener (TLS with the `[tls]` server certificate); unset = off.
    pub listen: Option<SocketAddr>,
    /// The route packagers POST CPIX documents to.
    pub path: String,
    /// How packagers authenticate.
    pub auth: SpekeAuth,
    /// CA bundle packagers' client certificates must chain to (required unless `auth = "basic"`).
    pub client_ca: Option<PathBuf>,
    /// Largest accepted CPIX document; larger ones are answered 413.
    pub max_body_bytes: usize,
    /// The SEES contentID of a key when the document asks for one key: `{content_id}` is the CPIX
    /// `contentId`, `{kid}` the KID as 32 hex digits, `{kid_uuid}` the KID as a UUID. The FairPlay
    /// `skd://` URI is `skd://` followed by this contentID.
    pub content_id_template: String,
    /// The same when the document asks for several keys; must name the KID.
    pub multi_key_content_id_template: String,
    /// The catalogue asset a new key protects (same placeholders); its entitlements decide who plays.
    pub asset_template: String,
    /// `LA_URL` written into PlayReady headers; unset = none.
    pub playready_la_url: Option<String>,
}

impl Default for SpekeSettings {
    fn default() -> Self {
        Self {
            listen: None,
            path: "/speke/v2.0/copyProtection".to_owned(),
            auth: SpekeAuth::Basic,
            client_ca: None,
            max_body_bytes: 1024 * 1024,
            content_id_template: "{content_id}".to_owned(),
            multi_key_content_id_template: "{content_id}:{kid}".to_owned(),
            asset_template: "{content_id}".to_owned(),
            playready_la_url: None,
        }
    }
}

/// The placeholders a template may use.
const PLACEHOLDERS: [&str; 3] = ["{content_id}", "{kid}", "{kid_uuid}"];

/// Fills `template` for one key.
pub fn render(template: &str, content_id: &str, kid: &[u8; 16]) -> String {
    template
        .replace("{content_id}", content_id)
        .replace("{kid_uuid}", &uuid::Uuid::from_bytes(*kid).to_string())
        .replace("{kid}", &hex::encode(kid))
}

impl SpekeSettings {
    /// Everything wrong with `[speke]`, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.path.starts_with('/') {
            problems.push(format!("speke.path must start with '/': {:?}", self.path));
        }
        if self.auth != SpekeAuth::Basic && self.client_ca.is_none() {
            problems.push(
                "speke.auth asks for client certificates: set speke.client_ca to the CA bundle \
                 packagers' certificates chain to"
                    .to_owned(),
            );
        }
        if self.max_body_bytes == 0 {
            problems.push("speke.max_body_bytes must be greater than 0".to_owned());
        }
        for (name, template) in [
            ("speke.content_id_template", &self.content_id_template),
            (
                "speke.multi_key_content_id_template",
                &self.multi_key_content_id_template,
            ),
            ("speke.asset_template", &self.asset_template),
        ] {
            let stripped = PLACEHOLDERS
                .iter()
                .fold(template.clone(), |t, p| t.replace(p, ""));
            if stripped.contains(['{', '}']) {
                problems.push(format!(
                    "{name} may only use the placeholders {{content_id}}, {{kid}} and {{kid_uuid}}: {template:?}"
                ));
            }
            if !template.contains("{content_id}") && !template.contains("{kid") {
                problems.push(format!(
                    "{name} names neither the content nor the KID, so every key would get the same name"
                ));
            }
        }
        if let Some(url) = &self.playready_la_url {
            if url.len() > 2048 || url.chars().any(char::is_control) {
                problems.push(
                    "speke.playready_la_url must be at most 2048 bytes without control characters"
                        .to_owned(),
                );
            }
        }
        if !self.multi_key_content_id_template.contains("{kid") {
            problems.push(
                "speke.multi_key_content_id_template must name the KID ({kid} or {kid_uuid}): each key \
                 of a document needs its own contentID"
                    .to_owned(),
            );
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_bad_ones_are_named() {
        let kid = [0xab; 16];
        assert_eq!(
            render("{content_id}:{kid}", "movie", &kid),
            format!("movie:{}", "ab".repeat(16))
        );
        assert_eq!(
            render("{kid_uuid}", "m", &kid),
            "abababab-abab-abab-abab-abababababab"
        );
        assert!(SpekeSettings::default().problems().is_empty());
        let bad = SpekeSettings {
            path: "speke".to_owned(),
            auth: SpekeAuth::Either,
            multi_key_content_id_template: "{content_id}-{track}".to_owned(),
            playready_la_url: Some(format!("https://pr.example/{}", "x".repeat(2048))),
            ..SpekeSettings::default()
        };
        let problems = bad.problems().join("\n");
        for expected in [
            "speke.path must start with '/'",
            "set speke.client_ca",
            "may only use the placeholders",
            "must name the KID",
            "speke.playready_la_url must be at most 2048 bytes",
        ] {
            assert!(problems.contains(expected), "{expected}: {problems}");
        }
    }
}
