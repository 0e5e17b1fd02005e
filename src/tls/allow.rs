//! The client allow-list (`tls.allowed_clients`): which verified client certificates may use the
//! SEES endpoint. Entries: `dns:NAME` (a SAN DNS name, case-insensitive), `uri:URI` (a SAN URI,
//! exact), `cn:NAME` (a subject common name, exact), `spki-sha256:HASH` (SHA-256 of the
//! SubjectPublicKeyInfo, 64 hex digits or base64). An empty list admits every certificate that
//! chains to the client CA.

use base64::Engine;

use super::peer::PeerCertificate;

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    Dns(String),
    Uri(String),
    CommonName(String),
    SpkiSha256([u8; 32]),
}

impl AllowEntry {
    /// Parses `kind:value`; the error explains the expected form.
    pub fn parse(raw: &str) -> Result<AllowEntry, String> {
        let Some((kind, value)) = raw.trim().split_once(':') else {
            return Err(format!(
                "{raw:?} must be dns:NAME, uri:URI, cn:NAME or spki-sha256:HASH"
            ));
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("{raw:?} has an empty value"));
        }
        match kind.trim().to_ascii_lowercase().as_str() {
            "dns" => Ok(AllowEntry::Dns(value.to_ascii_lowercase())),
            "uri" => Ok(AllowEntry::Uri(value.to_owned())),
            "cn" => Ok(AllowEntry::CommonName(value.to_owned())),
            "spki-sha256" => spki_hash(value).map(AllowEntry::SpkiSha256).ok_or_else(|| {
                format!("{raw:?}: the hash must be 32 bytes as 64 hex digits or base64")
            }),
            other => Err(format!(
                "{raw:?}: unknown kind {other:?} (dns, uri, cn or spki-sha256)"
            )),
        }
    }

    /// Whether `peer` carries this name or key.
    pub fn matches(&self, peer: &PeerCertificate) -> bool {
        match self {
            AllowEntry::Dns(name) => peer.dns_names.iter().any(|d| d.eq_ignore_ascii_case(name)),
            AllowEntry::Uri(uri) => peer.uris.iter().any(|u| u == uri),
            AllowEntry::CommonName(cn) => peer.common_names.iter().any(|c| c == cn),
            AllowEntry::SpkiSha256(hash) => peer.spki_sha256 == *hash,
        }
    }
}

/// 32 bytes from hex (colons allowed) or base64 (standard or URL-safe, padded or not).
fn spki_hash(value: &str) -> Option<[u8; 32]> {
    let hex_digits: String = value.chars().filter(|c| *c != ':').collect();
    let bytes = if hex_digits.len() == 64 && hex_digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(&hex_digits).ok()?
    } else {
        let trimmed = value.trim_end_matches('=');
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
            .ok()?
    };
    bytes.try_into().ok()
}

/// The parsed `tls.allowed_clients`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<AllowEntry>,
}

impl AllowList {
    /// Parses every entry; the first bad one is the error.
    pub fn parse(raw: &[String]) -> Result<AllowList, String> {
        let entries = raw
            .iter()
            .map(|entry| AllowEntry::parse(entry))
            .collect::<Result<_, _>>()?;
        Ok(AllowList { entries })
    }

    /// Whether the list admits `peer` (an empty list admits everyone).
    pub fn admits(&self, peer: &PeerCertificate) -> bool {
        self.entries.is_empty() || self.entries.iter().any(|e| e.matches(peer))
    }

    /// Whether the list is empty (every certificate from the client CA is admitted).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerCertificate {
        PeerCertificate {
            cert_sha256: [0; 32],
            subject: "CN=player-1".to_owned(),
            common_names: vec!["player-1".to_owned()],
            dns_names: vec!["Player.Example.com".to_owned()],
            uris: vec!["spiffe://example.com/player".to_owned()],
            spki_sha256: [7u8; 32],
            serial: vec![1],
            issuer: vec![],
        }
    }

    #[test]
    fn each_kind_matches_and_strangers_do_not() {
        let p = peer();
        let hex = hex::encode([7u8; 32]);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
        for entry in [
            "dns:player.example.COM".to_owned(),
            "uri:spiffe://example.com/player".to_owned(),
            "cn:player-1".to_owned(),
            format!("spki-sha256:{hex}"),
            format!("spki-sha256:{}", hex.to_uppercase()),
            format!("spki-sha256:{b64}"),
            format!("spki-sha256:{url}"),
        ] {
            let list = AllowList::parse(std::slice::from_ref(&entry)).unwrap();
            assert!(list.admits(&p), "{entry}");
        }
        for entry in [
            "dns:other.example.com",
            "uri:spiffe://example.com/other",
            "cn:Player-1",
            "cn:player",
        ] {
            let list = AllowList::parse(&[entry.to_owned()]).unwrap();
            assert!(!list.admits(&p), "{entry}");
        }
        let list = AllowList::parse(&[format!("spki-sha256:{}", hex::encode([8u8; 32]))]).unwrap();
        assert!(!list.admits(&p));
        assert!(AllowList::default().admits(&p), "empty admits everyone");
    }

    #[test]
    fn bad_entries_are_explained() {
        for (raw, says) in [
            ("player", "must be"),
            ("ip:127.0.0.1", "unknown kind"),
            ("cn:", "empty"),
            ("spki-sha256:abcd", "32 bytes"),
            ("spki-sha256:!!!!", "32 bytes"),
        ] {
            let err = AllowEntry::parse(raw).unwrap_err();
            assert!(err.contains(says), "{raw}: {err}");
        }
    }
}
