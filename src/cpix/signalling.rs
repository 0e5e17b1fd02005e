//! DRM signalling: `pssh` boxes, the Widevine PSSH protobuf, the PlayReady Object and header, and the
//! HLS key tags and DASH `ContentProtection` fragments written into SPEKE answers.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::model::{DrmSystem, EncryptionScheme, Kid};
use super::xml::escape;
use super::{NS_CENC, NS_MSPR};

/// The PlayReady header namespace.
const NS_PLAYREADY_HEADER: &str = "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader";

/// A `pssh` box (ISO/IEC 23001-7) for `system`:
/// - Widevine: version 0, data = [`widevine_pssh_data`];
/// - PlayReady: version 0, data = [`playready_object`] (`playready_la_url` is used only here);
/// - FairPlay (which defines no PSSH data): version 1 listing `kids`, empty data.
pub fn pssh_box(
    system: DrmSystem,
    kids: &[Kid],
    scheme: Option<EncryptionScheme>,
    playready_la_url: Option<&str>,
) -> Vec<u8> {
    let (version, data) = match system {
        DrmSystem::Widevine => (0, widevine_pssh_data(kids, scheme)),
        DrmSystem::PlayReady => (0, playready_object(kids, scheme, playready_la_url)),
        DrmSystem::FairPlay => (1, Vec::new()),
    };
    let kid_part = if version == 1 { 4 + 16 * kids.len() } else { 0 };
    let size = 8 + 4 + 16 + kid_part + 4 + data.len();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(
        &u32::try_from(size)
            .expect("pssh box under 4 GiB")
            .to_be_bytes(),
    );
    out.extend_from_slice(b"pssh");
    out.push(version);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&system.system_id_bytes());
    if version == 1 {
        out.extend_from_slice(&(kids.len() as u32).to_be_bytes());
        for kid in kids {
            out.extend_from_slice(&kid.0);
        }
    }
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&data);
    out
}

/// The Widevine PSSH data, a `WidevinePsshData` protobuf with only these fields:
/// field 2 `key_id` (bytes, once per KID) and field 9 `protection_scheme` (uint32, the scheme's
/// four-character code read big-endian, e.g. `'cbcs'` = 0x63626373; left out when `scheme` is
/// `None`, which Widevine reads as `cenc`).
pub fn widevine_pssh_data(kids: &[Kid], scheme: Option<EncryptionScheme>) -> Vec<u8> {
    const KEY_ID: u32 = 2;
    const PROTECTION_SCHEME: u32 = 9;
    const LENGTH_DELIMITED: u32 = 2;
    const VARINT: u32 = 0;
    let mut out = Vec::with_capacity(18 * kids.len() + 6);
    for kid in kids {
        varint(&mut out, u64::from(KEY_ID << 3 | LENGTH_DELIMITED));
        varint(&mut out, 16);
        out.extend_from_slice(&kid.0);
    }
    if let Some(scheme) = scheme {
        varint(&mut out, u64::from(PROTECTION_SCHEME << 3 | VARINT));
        varint(&mut out, u64::from(scheme.fourcc()));
    }
    out
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A KID in PlayReady (GUID) byte order: the first three fields little-endian.
pub fn playready_kid_bytes(kid: &Kid) -> [u8; 16] {
    let k = kid.0;
    [
        k[3], k[2], k[1], k[0], k[5], k[4], k[7], k[6], k[8], k[9], k[10], k[11], k[12], k[13],
        k[14], k[15],
    ]
}

/// The PlayReady header (`WRMHEADER`) XML:
/// - one KID, `cenc` (or no scheme): version 4.0.0.0 with `KEYLEN`/`ALGID AESCTR`/`KID`;
/// - several KIDs, `cenc`: version 4.2.0.0 with `KIDS/KID ALGID="AESCTR"`;
/// - CBC (`cbcs`): version 4.3.0.0 with `KIDS/KID ALGID="AESCBC"`.
///
/// `LA_URL` is escaped and left out when `la_url` is `None`. No `CHECKSUM` (it would need the key).
pub(crate) fn playready_header(
    kids: &[Kid],
    scheme: Option<EncryptionScheme>,
    la_url: Option<&str>,
) -> String {
    let cbc = scheme.is_some_and(|s| s.is_cbc());
    let b64 = |kid: &Kid| STANDARD.encode(playready_kid_bytes(kid));
    let la = la_url
        .map(|u| format!("<LA_URL>{}</LA_URL>", escape(u)))
        .unwrap_or_default();
    let (version, protect) = match kids {
        [kid] if !cbc => (
            "4.0.0.0",
            format!(
                "<PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>{}</KID>",
                b64(kid)
            ),
        ),
        _ => {
            let (version, algid) = if cbc {
                ("4.3.0.0", "AESCBC")
            } else {
                ("4.2.0.0", "AESCTR")
            };
            let list: String = kids
                .iter()
                .map(|k| format!("<KID ALGID=\"{algid}\" VALUE=\"{}\"></KID>", b64(k)))
                .collect();
            (
                version,
                format!("<PROTECTINFO><KIDS>{list}</KIDS></PROTECTINFO>"),
            )
        }
    };
    format!(
        "<WRMHEADER xmlns=\"{NS_PLAYREADY_HEADER}\" version=\"{version}\"><DATA>{protect}{la}</DATA></WRMHEADER>"
    )
}

/// A PlayReady Object: `u32` LE total length, `u16` LE record count (1), then one record of type 1
/// (`u16` LE) with its length (`u16` LE) and the [`playready_header`] as UTF-16LE.
///
/// # Panics
/// If the header exceeds 65,535 bytes (hundreds of KIDs or a huge LA_URL). `write_speke_response`
/// passes one KID and an LA_URL of at most [`super::MAX_LA_URL_BYTES`], so it never panics.
pub fn playready_object(
    kids: &[Kid],
    scheme: Option<EncryptionScheme>,
    la_url: Option<&str>,
) -> Vec<u8> {
    let header: Vec<u8> = playready_header(kids, scheme, la_url)
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let record_len = u16::try_from(header.len()).expect("PlayReady header fits a record (64 KiB)");
    let total = 4 + 2 + 2 + 2 + header.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&record_len.to_le_bytes());
    out.extend_from_slice(&header);
    out
}

/// Which playlist an HLS tag is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Playlist {
    /// `#EXT-X-KEY` in media playlists.
    Media,
    /// `#EXT-X-SESSION-KEY` in the master (multivariant) playlist.
    Master,
}

impl Playlist {
    pub fn attribute(self) -> &'static str {
        match self {
            Playlist::Media => "media",
            Playlist::Master => "master",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Playlist::Media => "#EXT-X-KEY:",
            Playlist::Master => "#EXT-X-SESSION-KEY:",
        }
    }
}

/// `SAMPLE-AES` for CBC schemes, `SAMPLE-AES-CTR` for CTR schemes (HLS's names for cbcs and cenc).
fn method(scheme: Option<EncryptionScheme>) -> &'static str {
    match scheme {
        Some(s) if !s.is_cbc() => "SAMPLE-AES-CTR",
        _ => "SAMPLE-AES",
    }
}

/// The FairPlay key tag; `skd_uri` must hold no `"` or line break (checked by the caller).
pub(crate) fn hls_fairplay(playlist: Playlist, skd_uri: &str) -> String {
    format!(
        "{}METHOD=SAMPLE-AES,URI=\"{skd_uri}\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"",
        playlist.tag()
    )
}

/// The Widevine key tag: the `pssh` box as a data URI, the KID, Widevine's system ID as key format.
pub(crate) fn hls_widevine(
    playlist: Playlist,
    kid: &Kid,
    scheme: Option<EncryptionScheme>,
    pssh_box: &[u8],
) -> String {
    format!(
        "{}METHOD={},URI=\"data:text/plain;base64,{}\",KEYID=0x{},KEYFORMAT=\"urn:uuid:{}\",KEYFORMATVERSIONS=\"1\"",
        playlist.tag(),
        method(scheme),
        STANDARD.encode(pssh_box),
        kid.hex(),
        DrmSystem::Widevine.system_id()
    )
}

/// The PlayReady key tag: the PlayReady Object as a UTF-16 data URI.
pub(crate) fn hls_playready(
    playlist: Playlist,
    scheme: Option<EncryptionScheme>,
    pro: &[u8],
) -> String {
    format!(
        "{}METHOD={},URI=\"data:text/plain;charset=UTF-16;base64,{}\",KEYFORMAT=\"com.microsoft.playready\",KEYFORMATVERSIONS=\"1\"",
        playlist.tag(),
        method(scheme),
        STANDARD.encode(pro)
    )
}

/// The DASH `ContentProtection` children for Widevine: `<cenc:pssh>`.
pub(crate) fn widevine_content_protection(pssh_box: &[u8]) -> String {
    format!(
        "<cenc:pssh xmlns:cenc=\"{NS_CENC}\">{}</cenc:pssh>",
        STANDARD.encode(pssh_box)
    )
}

/// The DASH `ContentProtection` children for PlayReady: `<cenc:pssh>` and `<mspr:pro>`.
pub(crate) fn playready_content_protection(pssh_box: &[u8], pro: &[u8]) -> String {
    format!(
        "{}<mspr:pro xmlns:mspr=\"{NS_MSPR}\">{}</mspr:pro>",
        widevine_content_protection(pssh_box),
        STANDARD.encode(pro)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const WV_KID: &str = "0a0b0c0d-0e0f-1011-1213-141516171819";

    /// (version, system id, kids of a v1 box, data) of a `pssh` box, checking its sizes.
    pub(crate) fn read_pssh(b: &[u8]) -> (u8, [u8; 16], Vec<[u8; 16]>, Vec<u8>) {
        assert_eq!(
            u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(&b[4..8], b"pssh");
        assert_eq!(&b[9..12], &[0, 0, 0], "flags");
        let version = b[8];
        let system: [u8; 16] = b[12..28].try_into().unwrap();
        let mut at = 28;
        let mut kids = Vec::new();
        if version == 1 {
            let n = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            at += 4;
            for _ in 0..n {
                kids.push(b[at..at + 16].try_into().unwrap());
                at += 16;
            }
        }
        let len = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(at + 4 + len, b.len(), "data size");
        (version, system, kids, b[at + 4..].to_vec())
    }

    /// (key ids, protection scheme) of Widevine PSSH data; fails on any other field.
    pub(crate) fn read_widevine(mut d: &[u8]) -> (Vec<[u8; 16]>, Option<u32>) {
        fn var(d: &mut &[u8]) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = d[0];
                *d = &d[1..];
                v |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    return v;
                }
            }
        }
        let (mut kids, mut scheme) = (Vec::new(), None);
        while !d.is_empty() {
            match var(&mut d) {
                0x12 => {
                    assert_eq!(var(&mut d), 16);
                    kids.push(d[..16].try_into().unwrap());
                    d = &d[16..];
                }
                0x48 => scheme = Some(u32::try_from(var(&mut d)).unwrap()),
                other => panic!("unexpected protobuf tag {other:#x}"),
            }
        }
        (kids, scheme)
    }

    /// The UTF-16 header of a PlayReady Object, checking its lengths.
    pub(crate) fn read_pro(p: &[u8]) -> String {
        assert_eq!(
            u32::from_le_bytes(p[0..4].try_into().unwrap()) as usize,
            p.len()
        );
        assert_eq!(u16::from_le_bytes([p[4], p[5]]), 1, "record count");
        assert_eq!(u16::from_le_bytes([p[6], p[7]]), 1, "record type");
        let len = u16::from_le_bytes([p[8], p[9]]) as usize;
        assert_eq!(10 + len, p.len(), "record length");
        let units: Vec<u16> = p[10..]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).unwrap()
    }

    #[test]
    fn playready_byte_order_swaps_the_first_three_fields() {
        let kid = Kid::parse(WV_KID).unwrap();
        assert_eq!(
            hex::encode(playready_kid_bytes(&kid)),
            "0d0c0b0a0f0e11101213141516171819"
        );
    }

    #[test]
    fn widevine_box_carries_kids_and_scheme() {
        let a = Kid::parse(WV_KID).unwrap();
        let b = Kid([0xff; 16]);
        let pssh = pssh_box(
            DrmSystem::Widevine,
            &[a, b],
            Some(EncryptionScheme::Cbcs),
            None,
        );
        let (version, system, _, data) = read_pssh(&pssh);
        assert_eq!(
            (version, system),
            (0, DrmSystem::Widevine.system_id_bytes())
        );
        assert_eq!(read_widevine(&data), (vec![a.0, b.0], Some(0x6362_6373)));
        // Field 9, varint of 'cbcs' = 0x63626373: 5 bytes, the last one 0x06.
        assert_eq!(
            &data[data.len() - 6..],
            &[0x48, 0xf3, 0xc6, 0x89, 0x9b, 0x06]
        );
        assert_eq!(
            read_widevine(&widevine_pssh_data(&[a], None)),
            (vec![a.0], None)
        );
    }

    #[test]
    fn playready_headers_by_scheme_and_count() {
        let a = Kid::parse(WV_KID).unwrap();
        let b = Kid([0x11; 16]);
        let one = read_pro(&playready_object(&[a], Some(EncryptionScheme::Cenc), None));
        assert!(one.contains("version=\"4.0.0.0\"") && one.contains("<ALGID>AESCTR</ALGID>"));
        assert!(one.contains("<KID>DQwLCg8OERASExQVFhcYGQ==</KID>"), "{one}");
        assert!(!one.contains("LA_URL"));
        let two = read_pro(&playready_object(
            &[a, b],
            None,
            Some("https://l/?a=1&b=<2>"),
        ));
        assert!(
            two.contains("version=\"4.2.0.0\"") && two.matches("ALGID=\"AESCTR\"").count() == 2
        );
        assert!(
            two.contains("<LA_URL>https://l/?a=1&amp;b=&lt;2&gt;</LA_URL>"),
            "{two}"
        );
        let cbcs = read_pro(&playready_object(&[a], Some(EncryptionScheme::Cbcs), None));
        assert!(cbcs.contains("version=\"4.3.0.0\""), "{cbcs}");
        assert!(cbcs.contains("<KID ALGID=\"AESCBC\" VALUE=\"DQwLCg8OERASExQVFhcYGQ==\"></KID>"));
        roxmltree::Document::parse(&two).unwrap();

        let pssh = pssh_box(DrmSystem::PlayReady, &[a], None, None);
        let (version, system, _, data) = read_pssh(&pssh);
        assert_eq!(
            (version, system),
            (0, DrmSystem::PlayReady.system_id_bytes())
        );
        assert_eq!(data, playready_object(&[a], None, None));
    }

    #[test]
    fn fairplay_box_is_v1_with_kids_only() {
        let a = Kid::parse(WV_KID).unwrap();
        let (version, system, kids, data) =
            read_pssh(&pssh_box(DrmSystem::FairPlay, &[a], None, None));
        assert_eq!((version, kids, data.len()), (1, vec![a.0], 0));
        assert_eq!(system, DrmSystem::FairPlay.system_id_bytes());
    }

    #[test]
    fn hls_tags() {
        let kid = Kid::parse(WV_KID).unwrap();
        assert_eq!(
            hls_fairplay(Playlist::Master, "skd://k"),
            "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://k\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\""
        );
        let wv = hls_widevine(
            Playlist::Media,
            &kid,
            Some(EncryptionScheme::Cenc),
            &[1, 2, 3],
        );
        assert_eq!(
            wv,
            "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,AQID\",KEYID=0x0a0b0c0d0e0f10111213141516171819,KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\""
        );
        assert!(
            hls_playready(Playlist::Media, Some(EncryptionScheme::Cbcs), &[0]).starts_with(
                "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"data:text/plain;charset=UTF-16;base64,AA==\""
            )
        );
    }
}
