//! Writing the SPEKE v2 answer: the request filled in with keys, IVs and DRM signalling.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::keys::ContentKey;

use super::model::{CpixRequest, DrmSystem, DrmSystemRequest, EncryptionScheme, KeyAnswer, Kid};
use super::signalling::{self, Playlist};
use super::xml::XmlOut;
use super::{rejected, CpixError, NS_CPIX, NS_PSKC};

/// The longest PlayReady LA_URL written into a PlayReady header.
pub const MAX_LA_URL_BYTES: usize = 2048;

/// Writes the answer to `req`: root `cpix:CPIX` with the request's `contentId` and `version`, then
/// `ContentKeyList` (each key with `explicitIV` and `cpix:Data/pskc:Secret/pskc:PlainValue`),
/// `DRMSystemList` with the requested signalling filled in, and the request's
/// `ContentKeyPeriodList` and `ContentKeyUsageRuleList` echoed unchanged, in the schema's order.
///
/// `answers` must hold one answer per requested KID (extra answers are ignored; the first answer for
/// a KID wins). Errors — a missing answer, a FairPlay `skd_uri` that cannot go into an HLS tag, an
/// LA_URL over [`MAX_LA_URL_BYTES`] — are the server's fault, not the packager's.
///
/// The returned text holds the clear keys: send it and drop it.
pub fn write_speke_response(
    req: &CpixRequest,
    answers: &[KeyAnswer<'_>],
    signalling: &super::SignallingSettings,
) -> Result<String, CpixError> {
    let la_url = signalling
        .playready_la_url
        .as_deref()
        .filter(|u| !u.is_empty());
    if la_url.is_some_and(|u| u.len() > MAX_LA_URL_BYTES) {
        return Err(rejected(format!(
            "the configured PlayReady LA_URL is longer than {MAX_LA_URL_BYTES} bytes"
        )));
    }
    let mut pairs = Vec::with_capacity(req.keys.len());
    for key in &req.keys {
        let answer = answers
            .iter()
            .find(|a| a.kid == key.kid)
            .ok_or_else(|| rejected(format!("no content key for KID {}", key.kid)))?;
        pairs.push((key, answer));
    }

    // Everything after the keys is written first, so the final buffer is sized once and the key
    // material is never left behind in a reallocated buffer.
    let mut tail = XmlOut::new(4096);
    tail.buf.push_str("<cpix:DRMSystemList>");
    for drm in &req.drm_systems {
        let (key, answer) = pairs
            .iter()
            .find(|(k, _)| k.kid == drm.kid)
            .ok_or_else(|| rejected(format!("DRMSystem KID {} has no ContentKey", drm.kid)))?;
        write_drm_system(&mut tail, drm, key.scheme, &answer.skd_uri, la_url)?;
    }
    tail.close("cpix:DRMSystemList");
    if let Some(periods) = &req.periods {
        tail.element(periods);
    }
    if let Some(rules) = &req.usage_rules {
        tail.element(rules);
    }
    tail.close("cpix:CPIX");

    let mut out = XmlOut::new(512 + 6 * req.content_id.len() + 400 * pairs.len() + tail.buf.len());
    out.declaration();
    out.open("cpix:CPIX");
    out.attr("xmlns:cpix", NS_CPIX);
    out.attr("xmlns:pskc", NS_PSKC);
    out.attr("contentId", &req.content_id);
    out.attr("version", &req.version);
    out.buf.push_str("><cpix:ContentKeyList>");
    for (key, answer) in &pairs {
        write_content_key(&mut out, key.kid, key.scheme, answer.key);
    }
    out.close("cpix:ContentKeyList");
    out.buf.push_str(&tail.buf);
    Ok(out.buf)
}

/// The CEK and IV as bytes, in zeroizing buffers.
fn key_bytes(key: &ContentKey) -> (Zeroizing<[u8; 16]>, Zeroizing<[u8; 16]>) {
    let mut cek = Zeroizing::new([0u8; 16]);
    let mut iv = Zeroizing::new([0u8; 16]);
    hex::decode_to_slice(key.cek_hex().as_str(), &mut *cek).expect("ContentKey hex is 16 bytes");
    hex::decode_to_slice(key.iv_hex().as_str(), &mut *iv).expect("ContentKey hex is 16 bytes");
    (cek, iv)
}

/// `<cpix:ContentKey kid=… [commonEncryptionScheme=…] explicitIV=…>` with the key as a PSKC plain
/// value. Base64 needs no escaping, so it is encoded straight into the output.
pub(crate) fn write_content_key(
    out: &mut XmlOut,
    kid: Kid,
    scheme: Option<EncryptionScheme>,
    key: &ContentKey,
) {
    let (cek, iv) = key_bytes(key);
    out.open("cpix:ContentKey");
    out.attr("kid", &kid.to_string());
    if let Some(scheme) = scheme {
        out.attr("commonEncryptionScheme", scheme.as_str());
    }
    out.buf.push_str(" explicitIV=\"");
    STANDARD.encode_string(iv.as_slice(), &mut out.buf);
    out.buf
        .push_str("\"><cpix:Data><pskc:Secret><pskc:PlainValue>");
    STANDARD.encode_string(cek.as_slice(), &mut out.buf);
    out.buf
        .push_str("</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>");
}

/// One `DRMSystem` with its children in the schema's order: `PSSH`, `ContentProtectionData`,
/// `HLSSignalingData` (media, then master), `SmoothStreamingProtectionHeaderData`.
fn write_drm_system(
    out: &mut XmlOut,
    drm: &DrmSystemRequest,
    scheme: Option<EncryptionScheme>,
    skd_uri: &str,
    la_url: Option<&str>,
) -> Result<(), CpixError> {
    let kid = drm.kid;
    out.open("cpix:DRMSystem");
    out.attr("kid", &kid.to_string());
    out.attr("systemId", drm.system.system_id());
    out.buf.push('>');
    let b64 = |bytes: &[u8]| STANDARD.encode(bytes);
    let playlists = [
        (drm.hls_media, Playlist::Media),
        (drm.hls_master, Playlist::Master),
    ];
    let hls = |out: &mut XmlOut, line: &dyn Fn(Playlist) -> String| {
        for (wanted, playlist) in playlists {
            if wanted {
                out.text_element(
                    "cpix:HLSSignalingData",
                    &[("playlist", playlist.attribute())],
                    &b64(line(playlist).as_bytes()),
                );
            }
        }
    };
    match drm.system {
        DrmSystem::FairPlay => {
            if (drm.hls_media || drm.hls_master)
                && (skd_uri.is_empty() || skd_uri.contains(|c: char| c == '"' || c.is_control()))
            {
                return Err(rejected(format!(
                    "the FairPlay key URI for KID {kid} cannot be written into an HLS tag \
                     (empty, or holds a quote or control character)"
                )));
            }
            hls(out, &|p| signalling::hls_fairplay(p, skd_uri));
        }
        DrmSystem::Widevine => {
            let pssh = signalling::pssh_box(DrmSystem::Widevine, &[kid], scheme, None);
            if drm.pssh {
                out.text_element("cpix:PSSH", &[], &b64(&pssh));
            }
            if drm.content_protection_data {
                let cpd = signalling::widevine_content_protection(&pssh);
                out.text_element("cpix:ContentProtectionData", &[], &b64(cpd.as_bytes()));
            }
            hls(out, &|p| signalling::hls_widevine(p, &kid, scheme, &pssh));
        }
        DrmSystem::PlayReady => {
            let pro = signalling::playready_object(&[kid], scheme, la_url);
            let pssh = signalling::pssh_box(DrmSystem::PlayReady, &[kid], scheme, la_url);
            if drm.pssh {
                out.text_element("cpix:PSSH", &[], &b64(&pssh));
            }
            if drm.content_protection_data {
                let cpd = signalling::playready_content_protection(&pssh, &pro);
                out.text_element("cpix:ContentProtectionData", &[], &b64(cpd.as_bytes()));
            }
            hls(out, &|p| signalling::hls_playready(p, scheme, &pro));
            if drm.smooth_streaming {
                out.text_element("cpix:SmoothStreamingProtectionHeaderData", &[], &b64(&pro));
            }
        }
    }
    out.close("cpix:DRMSystem");
    Ok(())
}
