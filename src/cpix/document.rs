//! CPIX key files for the CLI: plain (unencrypted) keys in, plain keys out.

use roxmltree::Node;

use crate::keys::ContentKey;

use super::model::{DocumentKey, Kid};
use super::response::write_content_key;
use super::xml::{self, display_name, elements, is, quote_short, XmlOut};
use super::{rejected, CpixError, NS_CPIX, NS_PSKC};

const ENCRYPTED: &str = "encrypted CPIX documents are not supported yet";

/// Reads the keys of a CPIX file: `(contentId or "", keys)`. Each `ContentKey` needs a `kid`, an
/// `explicitIV` (sees stores the IV with the key; a key without one is refused rather than given an
/// invented IV) and `cpix:Data/pskc:Secret/pskc:PlainValue`. A `DeliveryDataList` or a
/// `pskc:EncryptedValue` is refused with "encrypted CPIX documents are not supported yet". Other
/// lists (DRM systems, usage rules) and the `version` are not looked at.
pub fn parse_key_document(body: &[u8]) -> Result<(String, Vec<DocumentKey>), CpixError> {
    let text = xml::body_text(body)?;
    let doc = xml::parse(text)?;
    let root = doc.root_element();
    if elements(root).any(|c| is(c, NS_CPIX, "DeliveryDataList"))
        || root.descendants().any(|n| is(n, NS_PSKC, "EncryptedValue"))
    {
        return Err(rejected(ENCRYPTED));
    }
    let list = elements(root)
        .find(|c| is(*c, NS_CPIX, "ContentKeyList"))
        .ok_or_else(|| rejected("the CPIX document has no cpix:ContentKeyList"))?;
    let mut keys: Vec<DocumentKey> = Vec::new();
    for node in elements(list) {
        if !is(node, NS_CPIX, "ContentKey") {
            return Err(rejected(format!(
                "unexpected element {} in cpix:ContentKeyList",
                display_name(node)
            )));
        }
        let key = read_key(node)?;
        if keys.iter().any(|k| k.kid == key.kid) {
            return Err(rejected(format!(
                "duplicate ContentKey for KID {}",
                key.kid
            )));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(rejected("cpix:ContentKeyList has no ContentKey"));
    }
    let content_id = root.attribute("contentId").unwrap_or_default().to_owned();
    Ok((content_id, keys))
}

fn read_key(node: Node<'_, '_>) -> Result<DocumentKey, CpixError> {
    let raw = node
        .attribute("kid")
        .ok_or_else(|| rejected("Missing ContentKey@kid"))?;
    let kid = Kid::parse(raw)
        .map_err(|e| rejected(format!("ContentKey@kid \"{}\" {e}", quote_short(raw, 40))))?;
    let iv = node.attribute("explicitIV").ok_or_else(|| {
        rejected(format!(
            "ContentKey for KID {kid} has no explicitIV (sees keeps the IV with the key)"
        ))
    })?;
    let iv = decode16(iv).ok_or_else(|| {
        rejected(format!(
            "ContentKey@explicitIV for KID {kid} is not base64 of 16 bytes"
        ))
    })?;
    let value = elements(node)
        .filter(|n| is(*n, NS_CPIX, "Data"))
        .flat_map(elements)
        .filter(|n| is(*n, NS_PSKC, "Secret"))
        .flat_map(elements)
        .find(|n| is(*n, NS_PSKC, "PlainValue"))
        .ok_or_else(|| {
            rejected(format!(
                "ContentKey for KID {kid} has no cpix:Data/pskc:Secret/pskc:PlainValue"
            ))
        })?;
    let cek = decode16(value.text().unwrap_or_default()).ok_or_else(|| {
        rejected(format!(
            "pskc:PlainValue for KID {kid} is not base64 of a 16-byte key"
        ))
    })?;
    Ok(DocumentKey {
        kid,
        key: ContentKey::new(*cek, *iv),
    })
}

/// Base64 of exactly 16 bytes, in a zeroizing buffer.
fn decode16(text: &str) -> Option<zeroize::Zeroizing<[u8; 16]>> {
    let bytes = xml::decode_base64(text)?;
    let mut out = zeroize::Zeroizing::new([0u8; 16]);
    (bytes.len() == 16).then(|| {
        out.copy_from_slice(&bytes);
        out
    })
}

/// Writes a CPIX 2.3 key file: `contentId` (left out when empty) and one `ContentKey` per key with
/// `explicitIV` and a PSKC plain value. The text holds the clear keys.
pub fn write_key_document(content_id: &str, keys: &[(Kid, &ContentKey)]) -> String {
    let mut out = XmlOut::new(256 + 6 * content_id.len() + 300 * keys.len());
    out.declaration();
    out.open("cpix:CPIX");
    out.attr("xmlns:cpix", NS_CPIX);
    out.attr("xmlns:pskc", NS_PSKC);
    if !content_id.is_empty() {
        out.attr("contentId", content_id);
    }
    out.attr("version", "2.3");
    out.buf.push_str("><cpix:ContentKeyList>");
    for (kid, key) in keys {
        write_content_key(&mut out, *kid, None, key);
    }
    out.close("cpix:ContentKeyList");
    out.close("cpix:CPIX");
    out.buf
}
