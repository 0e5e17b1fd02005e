//! CPIX key files for the CLI: a document with plain keys in (`keys import --format cpix`), named by
//! the same `[speke]` templates as keys a packager asks for; the keys of one packager content out
//! (`keys export --format cpix`). Messages never carry key material.

use crate::cpix::{self, Kid};
use crate::ids::{AssetId, ContentId};
use crate::keys::{KeyPolicy, NewContentKey, PackagerKey};

use super::settings::{render, SpekeSettings};

/// The keys of a CPIX document with plain values, each under the contentID the templates give it.
pub fn keys_from_cpix(body: &[u8], settings: &SpekeSettings) -> Result<Vec<NewContentKey>, String> {
    let (content_id, keys) = cpix::parse_key_document(body).map_err(|e| e.to_string())?;
    if content_id.is_empty() {
        return Err("the CPIX document has no contentId: its keys could not be named".to_owned());
    }
    let template = if keys.len() == 1 {
        &settings.content_id_template
    } else {
        &settings.multi_key_content_id_template
    };
    keys.into_iter()
        .map(|document_key| {
            let kid = document_key.kid.0;
            let named = ContentId::parse(render(template, &content_id, &kid))
                .map_err(|e| format!("the contentID made for KID {} {e}", document_key.kid))?;
            let asset = AssetId::parse(render(&settings.asset_template, &content_id, &kid))
                .map_err(|e| format!("the asset ID made for KID {} {e}", document_key.kid))?;
            Ok(NewContentKey {
                content_id: named,
                key: document_key.key,
                policy: KeyPolicy {
                    asset_id: Some(asset),
                    kid: Some(kid),
                    packager_content_id: Some(content_id.clone()),
                    ..KeyPolicy::default()
                },
            })
        })
        .collect()
}

/// A CPIX document with the plain keys of `content_id`; every key must have a KID.
pub fn cpix_document(
    content_id: &str,
    stored: &[(Option<[u8; 16]>, PackagerKey)],
) -> Result<String, String> {
    if stored.is_empty() {
        return Err(format!("no key is stored for {content_id:?}"));
    }
    let keys = stored
        .iter()
        .map(|(kid, key)| match kid {
            Some(kid) => Ok((Kid(*kid), &key.key)),
            None => Err(format!(
                "the key of {} has no KID (give it one with `keys add --kid … --replace`)",
                key.content_id
            )),
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(cpix::write_key_document(content_id, &keys))
}
