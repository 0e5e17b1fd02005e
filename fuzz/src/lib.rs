//! What each fuzz target does with one input, shared by the libFuzzer targets (`fuzz_targets/`) and
//! the stable replay test (`tests/e2e/fuzz_corpus.rs`, which includes this file). Every function
//! panics only when an invariant breaks.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sees::admin::fuzzing::{parse_body, BodyKind};
use sees::admin::jwt::fuzzing::{sign_hs256, JwtHarness};
use sees::config::RecordFields;
use sees::cpix::{
    parse_key_document, parse_speke_request, write_key_document, write_speke_response, CpixError,
    CpixRequest, DrmSystem, DrmSystemRequest, EncryptionScheme, KeyAnswer, Kid, SignallingSettings,
    MAX_NODES, NS_CPIX, NS_PSKC, SUPPORTED_VERSIONS,
};
use sees::expressplay::fuzzing::{error_response, playready_response, token_response};
use sees::expressplay::{devices_for_cookie, DeviceLookup, UpstreamError};
use sees::keys::{parse_import, ContentKey, ImportFormat};
use sees::sees::{parse_request, EntitlementResponse};
use serde_json::Value;

/// The fixed "now" of the date checks (2027-01-15), so a corpus replays the same way every day.
pub const NOW: i64 = 1_800_000_000;

/// The public half of the RS256 fuzz issuer's key (its private half signed the RS256 seeds and was
/// thrown away).
pub const RS256_PUBLIC_PEM: &str = include_str!("../keys/rs256_public.pem");

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap_or_default()
}

/// The SEES request path: never panics; an accepted request answers with a response that serializes,
/// fits the response schema and echoes the request's `messageID` and a version no higher than ours.
pub fn sees_request(data: &[u8]) {
    static RESPONSE: OnceLock<Value> = OnceLock::new();
    let request = match parse_request(data) {
        Ok(request) => request,
        Err(rejection) => {
            assert!(rejection.version <= sees::sees::wire::PROTOCOL_VERSION);
            let denied = EntitlementResponse::denied(
                rejection.message_id,
                rejection.version,
                rejection.code,
                &rejection.detail,
            );
            assert!(serde_json::to_string(&denied).is_ok());
            return;
        }
    };
    let schema = RESPONSE.get_or_init(|| {
        serde_json::from_str(sees::sees::wire::RESPONSE_SCHEMA).expect("response schema")
    });
    let response = EntitlementResponse::allowed(&request, "https://fuzz.invalid/t".to_owned());
    let json = serde_json::to_value(&response).expect("an allowed response serializes");
    assert!(jsonschema::is_valid(schema, &json), "{json}");
    assert_eq!(json["messageID"], request.message_id.as_str());
    assert!(request.answer_version() >= 1);
    // The same bytes parse the same way.
    let again = parse_request(data).expect("parsing is deterministic");
    assert_eq!(again.message_id, request.message_id);
    assert_eq!(again.content_id, request.content_id);
}

/// Admin bodies: the first byte picks the body kind, the rest is the body; never panics.
pub fn admin_body(data: &[u8]) {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let _ = parse_body(BodyKind::from_byte(*selector), body, now());
}

/// The secret the ExpressPlay error reader must remove in [`expressplay_token`].
const AUTHENTICATOR: &str = "FUZZAUTH0123456789abcdef";

/// ExpressPlay token answers: the first byte picks token (even) or error (odd) reading. A token URL
/// is an http(s) URL taken from the body; an error's text never holds the authenticator.
pub fn expressplay_token(data: &[u8]) {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let body = String::from_utf8_lossy(rest);
    if selector % 4 == 2 {
        // PlayReady: a JSON {licenseAcquisitionUrl, token} answer becomes one URL, a uri-list is kept.
        if let Ok(url) = playready_response(&body) {
            assert!(url.to_ascii_lowercase().starts_with("http"), "{url}");
            assert!(
                !url.chars().any(|c| c.is_control() || c.is_whitespace()),
                "{url:?}"
            );
            assert!(
                url.contains("ExpressPlayToken=") || body.contains(url.as_str()),
                "{url}"
            );
        }
        return;
    }
    if selector % 2 == 0 {
        if let Ok(url) = token_response(&body) {
            // Schemes are case-insensitive (`HTTPS:` is an https URL).
            assert!(url.to_ascii_lowercase().starts_with("http"), "{url}");
            assert!(
                !url.chars().any(|c| c.is_control() || c.is_whitespace()),
                "{url:?}"
            );
            assert!(body.contains(url.as_str()));
        }
        return;
    }
    let content_type = match selector % 6 {
        1 => "application/json",
        3 => "text/html; charset=utf-8",
        _ => "text/plain",
    };
    let status = 400 + u16::from(*selector);
    match error_response(status, content_type, &body, &[AUTHENTICATOR]) {
        UpstreamError::Rejected { text, .. } => {
            let lower = text.to_ascii_lowercase();
            assert!(
                !lower.contains(&AUTHENTICATOR.to_ascii_lowercase()),
                "the authenticator leaked: {text}"
            );
        }
        other => panic!("an error answer read as {other:?}"),
    }
}

/// Record service answers: never panics; a found device was logged under the cookie asked about.
pub fn expressplay_records(data: &[u8]) {
    let body = String::from_utf8_lossy(data);
    let fields = RecordFields::default();
    if let Ok(DeviceLookup::One(device)) = devices_for_cookie(&body, &fields, "fuzz-cookie") {
        assert!(body.contains(device.as_str()) || body.contains('\\'));
    }
}

/// Key import files: the first byte picks JSONL (even) or CSV (odd); never panics, and an accepted
/// file yields no more keys than it has lines.
pub fn key_import(data: &[u8]) {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = if selector % 2 == 0 {
        ImportFormat::Jsonl
    } else {
        ImportFormat::Csv
    };
    if let Ok(keys) = parse_import(text, format) {
        assert!(keys.len() <= text.lines().count() + 1);
    }
}

fn jwt_harness() -> &'static JwtHarness {
    static HARNESS: OnceLock<JwtHarness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        JwtHarness::new(RS256_PUBLIC_PEM, std::env::temp_dir()).expect("the fuzz issuers load")
    })
}

/// The JWT path. First byte even: the rest is a token as sent. Odd: the rest is `header\npayload`,
/// signed here with the HS256 fuzz secret so the claim checks behind the signature are reached.
/// Never panics.
pub fn jwt(data: &[u8]) {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let harness = jwt_harness();
    let token = if selector % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let cut = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let (header, payload) = rest.split_at(cut);
        sign_hs256(header, payload.get(1..).unwrap_or_default())
    };
    let _ = harness.check(&token, NOW);
}

/// The fixed content keys (CEK, IV, as hex) the `cpix_request` target answers with, assigned to the
/// requested KIDs in turn. Their hex and base64 forms are what an error text must never carry.
pub const CPIX_TEST_KEYS: [(&str, &str); 3] = [
    (
        "c0ffee00f022fa11c0ffee01f022fa11",
        "1f0e1d2c3b4a59687786950413223140",
    ),
    (
        "5ee5cb1c0de0000100020003d00df00d",
        "a5a5a5a55a5a5a5a0f0f0f0ff0f0f0f0",
    ),
    (
        "7e57c0de7e57c0de7e57c0de7e57c0de",
        "0123456789abcdeffedcba9876543210",
    ),
];

/// The FairPlay key URI the `cpix_request` target answers with for `kid`.
fn cpix_skd_uri(kid: &Kid) -> String {
    format!("skd://fuzz.invalid/{}?a=1&b=2", kid.hex())
}

/// The PlayReady LA_URL the `cpix_request` target signals (markup characters to escape on the way).
const CPIX_LA_URL: &str = "https://pr.fuzz.invalid/rightsmanager.asmx?cfg=a&b=<c>\"d\"";

fn cpix_keys() -> &'static [ContentKey] {
    static KEYS: OnceLock<Vec<ContentKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        CPIX_TEST_KEYS
            .iter()
            .map(|(cek, iv)| ContentKey::from_hex(cek, iv).expect("test keys are hex"))
            .collect()
    })
}

/// Every text form of the test keys an error must not carry: hex (compared in lowercase) and base64
/// (without its padding, so a cut-off copy is caught too).
fn cpix_key_texts() -> &'static [String] {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let mut out = Vec::new();
        for (cek, iv) in CPIX_TEST_KEYS {
            for hex_text in [cek, iv] {
                let bytes = hex_bytes(hex_text);
                out.push(hex_text.to_owned());
                out.push(STANDARD.encode(bytes).trim_end_matches('=').to_owned());
            }
        }
        out
    })
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The XML reading `parse_speke_request` does (no DTD), without the node limit: an answer may have more
/// nodes than its request.
fn cpix_xml(text: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, options)
        .unwrap_or_else(|e| panic!("the written CPIX does not parse again ({e}): {text}"))
}

fn is_cpix(node: roxmltree::Node<'_, '_>, name: &str) -> bool {
    node.is_element()
        && node.tag_name().namespace() == Some(NS_CPIX)
        && node.tag_name().name() == name
}

fn cpix_child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| is_cpix(*c, name))
}

fn cpix_children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
    node.children().filter(move |c| is_cpix(*c, name))
}

/// An element subtree as namespaces, local names, attributes and text: comments and processing
/// instructions left out, adjacent text joined, empty text dropped (what an echo must keep).
#[derive(Debug, PartialEq, Eq)]
enum XmlTree {
    Element {
        ns: Option<String>,
        name: String,
        attrs: Vec<(Option<String>, String, String)>,
        children: Vec<XmlTree>,
    },
    Text(String),
}

fn xml_tree(node: roxmltree::Node<'_, '_>) -> XmlTree {
    let mut children: Vec<XmlTree> = Vec::new();
    for child in node.children() {
        if child.is_element() {
            children.push(xml_tree(child));
        } else if let Some(text) = child.text().filter(|_| child.is_text()) {
            if let Some(XmlTree::Text(last)) = children.last_mut() {
                last.push_str(text);
            } else if !text.is_empty() {
                children.push(XmlTree::Text(text.to_owned()));
            }
        }
    }
    XmlTree::Element {
        ns: node.tag_name().namespace().map(str::to_owned),
        name: node.tag_name().name().to_owned(),
        attrs: node
            .attributes()
            .map(|a| {
                (
                    a.namespace().map(str::to_owned),
                    a.name().to_owned(),
                    a.value().to_owned(),
                )
            })
            .collect(),
        children,
    }
}

/// The `pskc:PlainValue` texts of a document the parser accepted as XML, trimmed, at least 8 long, that
/// occur nowhere else in the document (no other text, attribute value, name or namespace holds them):
/// key material an error text must never quote.
fn plain_values(data: &[u8]) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Vec::new();
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..roxmltree::ParsingOptions::default()
    };
    let Ok(doc) = roxmltree::Document::parse_with_options(text, options) else {
        return Vec::new();
    };
    let values: Vec<(roxmltree::NodeId, String)> = doc
        .descendants()
        .filter(|n| {
            n.is_element()
                && n.tag_name().namespace() == Some(NS_PSKC)
                && n.tag_name().name() == "PlainValue"
        })
        .filter_map(|n| Some((n.id(), n.text()?.trim().to_owned())))
        .filter(|(_, v)| v.len() >= 8)
        .collect();
    let elsewhere = |id: roxmltree::NodeId, value: &str| {
        doc.descendants().any(|n| {
            let own_text = n.parent().is_some_and(|p| p.id() == id);
            (n.is_text() && !own_text && n.text().is_some_and(|t| t.contains(value)))
                || (n.is_element()
                    && (n.tag_name().name().contains(value)
                        || n.tag_name()
                            .namespace()
                            .is_some_and(|ns| ns.contains(value))
                        || n.attributes().any(|a| {
                            a.name().contains(value)
                                || a.value().contains(value)
                                || a.namespace().is_some_and(|ns| ns.contains(value))
                        })))
        })
    };
    values
        .iter()
        .filter(|(id, value)| !elsewhere(*id, value))
        .map(|(_, value)| value.clone())
        .collect()
}

/// The error text a parser gives for `data` (`None` when it accepts it).
type Refusal = fn(&[u8]) -> Option<String>;

/// A refusal: 400 for `Malformed`, 422 for `Rejected`; a one-line text that never holds a key value
/// of the input (`pskc:PlainValue`) nor, unless the input itself holds it, a test key. A key value
/// that the text holds is a leak only when it came from the input: `reparse` of the input with that
/// value overwritten must give another text (a value such as `sing ContentKey@kid` is also part of
/// the fixed message "Missing ContentKey@kid").
fn cpix_refusal(error: &CpixError, input: Option<(&[u8], Refusal)>) {
    let status = error.status();
    match error {
        CpixError::Malformed(_) => assert_eq!(status, 400),
        CpixError::Rejected(_) => assert_eq!(status, 422),
    }
    let text = error.to_string();
    assert!(!text.is_empty());
    assert!(!text.chars().any(char::is_control), "{text:?}");
    let lower = text.to_ascii_lowercase();
    let (input, reparse) = match input {
        Some((data, reparse)) => (Some(data), Some(reparse)),
        None => (None, None),
    };
    let raw = input.map(|data| String::from_utf8_lossy(data).to_ascii_lowercase());
    for secret in cpix_key_texts() {
        let found = if secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            lower.contains(secret.as_str())
                && !raw.as_deref().is_some_and(|r| r.contains(secret.as_str()))
        } else {
            text.contains(secret.as_str())
                && !input
                    .is_some_and(|data| String::from_utf8_lossy(data).contains(secret.as_str()))
        };
        assert!(!found, "a test key leaked into the error: {text}");
    }
    for value in input.map(plain_values).unwrap_or_default() {
        if !text.contains(value.as_str()) {
            continue;
        }
        let (Some(data), Some(reparse)) = (input, reparse) else {
            continue;
        };
        let overwritten =
            String::from_utf8_lossy(data).replace(value.as_str(), &"Q".repeat(value.len()));
        assert_eq!(
            reparse(overwritten.as_bytes()).as_deref(),
            Some(text.as_str()),
            "a pskc:PlainValue leaked into the error: {text}"
        );
    }
}

/// SPEKE requests: bytes → `parse_speke_request`. A refusal is [`cpix_refusal`]-clean. An accepted
/// request is a valid SPEKE v2 request (parsing is deterministic); its answer, written with
/// [`CPIX_TEST_KEYS`] for every KID, parses again as XML and holds the request's `contentId`, every
/// KID with its key and IV, the DRM signalling asked for (well-formed `pssh` boxes and HLS tags), the
/// echoed period and usage rule lists unchanged, and reads back as a key document with the same keys.
/// Never panics.
pub fn cpix_request(data: &[u8]) {
    let request = match parse_speke_request(data) {
        Ok(request) => request,
        Err(error) => {
            let reparse: Refusal = |d| parse_speke_request(d).err().map(|e| e.to_string());
            return cpix_refusal(&error, Some((data, reparse)));
        }
    };
    // What the parser promises about an accepted request.
    assert!(!request.content_id.trim().is_empty());
    assert!(SUPPORTED_VERSIONS.contains(&request.version.as_str()));
    assert!(!request.keys.is_empty() && !request.drm_systems.is_empty());
    let scheme = request.keys[0].scheme;
    assert!(scheme.is_some());
    for (i, key) in request.keys.iter().enumerate() {
        assert_eq!(key.scheme, scheme, "mixed schemes accepted");
        assert!(request.keys[..i].iter().all(|k| k.kid != key.kid));
    }
    for (i, drm) in request.drm_systems.iter().enumerate() {
        assert!(request.key(&drm.kid).is_some());
        assert!(request.drm_systems[..i]
            .iter()
            .all(|d| (d.kid, d.system) != (drm.kid, drm.system)));
        assert!(!drm.smooth_streaming || drm.system == DrmSystem::PlayReady);
    }
    let again = parse_speke_request(data).expect("parsing is deterministic");
    assert_eq!(again.content_id, request.content_id);
    assert_eq!(again.keys, request.keys);
    assert_eq!(again.drm_systems, request.drm_systems);

    let keys = cpix_keys();
    let answers: Vec<KeyAnswer<'_>> = request
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| KeyAnswer {
            kid: k.kid,
            key: &keys[i % keys.len()],
            skd_uri: cpix_skd_uri(&k.kid),
        })
        .collect();
    let settings = SignallingSettings {
        playready_la_url: Some(CPIX_LA_URL.to_owned()),
    };
    let answer = match write_speke_response(&request, &answers, &settings) {
        Ok(answer) => answer,
        Err(error) => return cpix_refusal(&error, None),
    };
    cpix_answer(data, &request, &answer);
}

/// The checks of an answer (see [`cpix_request`]).
fn cpix_answer(data: &[u8], request: &CpixRequest, answer: &str) {
    let keys = cpix_keys();
    let doc = cpix_xml(answer);
    let root = doc.root_element();
    assert!(is_cpix(root, "CPIX"), "{answer}");
    assert_eq!(
        root.attribute("contentId"),
        Some(request.content_id.as_str())
    );
    assert_eq!(root.attribute("version"), Some(request.version.as_str()));
    for key in &request.keys {
        assert!(
            answer.contains(&key.kid.to_string()),
            "KID {} missing",
            key.kid
        );
    }

    // The keys, in request order, each with its test key and IV.
    let list = cpix_child(root, "ContentKeyList").expect("a ContentKeyList");
    let written: Vec<_> = list.children().filter(|n| n.is_element()).collect();
    assert_eq!(written.len(), request.keys.len(), "{answer}");
    for (i, (node, key)) in written.iter().zip(&request.keys).enumerate() {
        let (cek, iv) = CPIX_TEST_KEYS[i % keys.len()];
        assert!(is_cpix(*node, "ContentKey"));
        assert_eq!(node.attribute("kid"), Some(key.kid.to_string().as_str()));
        assert_eq!(
            node.attribute("commonEncryptionScheme"),
            key.scheme.map(|s| s.as_str())
        );
        assert_eq!(
            node.attribute("explicitIV"),
            Some(STANDARD.encode(hex_bytes(iv)).as_str())
        );
        let value = cpix_child(*node, "Data")
            .into_iter()
            .flat_map(|d| d.children())
            .filter(|n| {
                n.tag_name().namespace() == Some(NS_PSKC) && n.tag_name().name() == "Secret"
            })
            .flat_map(|s| s.children())
            .find(|n| {
                n.tag_name().namespace() == Some(NS_PSKC) && n.tag_name().name() == "PlainValue"
            })
            .and_then(|n| n.text());
        assert_eq!(value, Some(STANDARD.encode(hex_bytes(cek)).as_str()));
    }

    // The signalling, one DRMSystem per requested one, in order.
    let list = cpix_child(root, "DRMSystemList").expect("a DRMSystemList");
    let written: Vec<_> = list.children().filter(|n| n.is_element()).collect();
    assert_eq!(written.len(), request.drm_systems.len(), "{answer}");
    for (node, drm) in written.iter().zip(&request.drm_systems) {
        cpix_drm_system(*node, drm, request.key(&drm.kid).and_then(|k| k.scheme));
    }

    // The echoed lists, unchanged.
    let text = std::str::from_utf8(data).expect("an accepted request is UTF-8");
    let input = cpix_xml(text.strip_prefix('\u{feff}').unwrap_or(text));
    for name in ["ContentKeyPeriodList", "ContentKeyUsageRuleList"] {
        let asked = cpix_child(input.root_element(), name).map(xml_tree);
        let echoed = cpix_child(root, name).map(xml_tree);
        assert_eq!(asked, echoed, "{name} not echoed unchanged: {answer}");
    }
    let order: Vec<&str> = root
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    let mut expected = vec!["ContentKeyList", "DRMSystemList"];
    if cpix_child(input.root_element(), "ContentKeyPeriodList").is_some() {
        expected.push("ContentKeyPeriodList");
    }
    expected.push("ContentKeyUsageRuleList");
    assert_eq!(order, expected);

    // The answer is a key document with the same keys (unless it outgrew the node limit).
    match parse_key_document(answer.as_bytes()) {
        Ok((content_id, read)) => {
            assert_eq!(content_id, request.content_id);
            assert_eq!(read.len(), request.keys.len());
            for (i, (got, key)) in read.iter().zip(&request.keys).enumerate() {
                assert_eq!(got.kid, key.kid);
                assert!(
                    got.key == keys[i % keys.len()],
                    "KID {} has another key",
                    key.kid
                );
            }
        }
        Err(error) => assert!(
            doc.descendants().count() + 2 >= MAX_NODES as usize,
            "the answer does not read back as a key document: {error}"
        ),
    }
}

/// One answered `DRMSystem`: its KID and system, and exactly the signalling asked for, well-formed.
fn cpix_drm_system(
    node: roxmltree::Node<'_, '_>,
    drm: &DrmSystemRequest,
    scheme: Option<EncryptionScheme>,
) {
    assert!(is_cpix(node, "DRMSystem"));
    assert_eq!(node.attribute("kid"), Some(drm.kid.to_string().as_str()));
    assert_eq!(node.attribute("systemId"), Some(drm.system.system_id()));
    let decoded = |n: roxmltree::Node<'_, '_>| {
        STANDARD
            .decode(n.text().unwrap_or_default())
            .expect("signalling is base64")
    };
    let fairplay = drm.system == DrmSystem::FairPlay;
    let pssh: Vec<_> = cpix_children(node, "PSSH").collect();
    assert_eq!(pssh.len(), usize::from(drm.pssh && !fairplay));
    for n in pssh {
        let b = decoded(n);
        assert!(b.len() >= 32, "{b:?}");
        assert_eq!(
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
            b.len()
        );
        assert_eq!(&b[4..8], b"pssh");
        assert_eq!(b[12..28], drm.system.system_id_bytes());
        if drm.system == DrmSystem::Widevine {
            assert!(
                b.windows(16).any(|w| w == drm.kid.0),
                "KID not in the pssh data"
            );
        }
    }
    let cpd: Vec<_> = cpix_children(node, "ContentProtectionData").collect();
    assert_eq!(
        cpd.len(),
        usize::from(drm.content_protection_data && !fairplay)
    );
    for n in cpd {
        let text = String::from_utf8(decoded(n)).expect("ContentProtectionData is UTF-8");
        assert!(text.starts_with("<cenc:pssh "), "{text}");
    }
    let hls: Vec<_> = cpix_children(node, "HLSSignalingData").collect();
    let wanted: Vec<&str> = [(drm.hls_media, "media"), (drm.hls_master, "master")]
        .into_iter()
        .filter(|(w, _)| *w)
        .map(|(_, p)| p)
        .collect();
    assert_eq!(
        hls.iter()
            .map(|n| n.attribute("playlist").unwrap_or_default())
            .collect::<Vec<_>>(),
        wanted
    );
    for n in hls {
        let line = String::from_utf8(decoded(n)).expect("an HLS tag is UTF-8");
        let tag = if n.attribute("playlist") == Some("media") {
            "#EXT-X-KEY:"
        } else {
            "#EXT-X-SESSION-KEY:"
        };
        assert!(line.starts_with(tag), "{line}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
        let method = match scheme {
            Some(s) if !s.is_cbc() => "METHOD=SAMPLE-AES-CTR,",
            _ => "METHOD=SAMPLE-AES,",
        };
        assert!(line.contains(method), "{line}");
        if fairplay {
            assert!(
                line.contains(&format!("URI=\"{}\"", cpix_skd_uri(&drm.kid))),
                "{line}"
            );
        }
    }
    let smooth = cpix_children(node, "SmoothStreamingProtectionHeaderData").count();
    assert_eq!(smooth, usize::from(drm.smooth_streaming));
    let known = [
        "PSSH",
        "ContentProtectionData",
        "HLSSignalingData",
        "SmoothStreamingProtectionHeaderData",
    ];
    assert!(node
        .children()
        .filter(|n| n.is_element())
        .all(|n| known.iter().any(|k| is_cpix(n, k))));
}

/// CPIX key files: bytes → `parse_key_document`. A refusal is [`cpix_refusal`]-clean (it never quotes a
/// key value). Accepted keys have unique KIDs, and `write_key_document` → `parse_key_document` gives
/// the same `contentId`, KIDs and keys, and writes the same text again. Never panics.
pub fn cpix_document(data: &[u8]) {
    let (content_id, keys) = match parse_key_document(data) {
        Ok(read) => read,
        Err(error) => {
            let reparse: Refusal = |d| parse_key_document(d).err().map(|e| e.to_string());
            return cpix_refusal(&error, Some((data, reparse)));
        }
    };
    assert!(!keys.is_empty());
    for (i, key) in keys.iter().enumerate() {
        assert!(
            keys[..i].iter().all(|k| k.kid != key.kid),
            "duplicate KID {}",
            key.kid
        );
    }
    let pairs: Vec<(Kid, &ContentKey)> = keys.iter().map(|k| (k.kid, &k.key)).collect();
    let text = write_key_document(&content_id, &pairs);
    let (content_id_again, keys_again) = parse_key_document(text.as_bytes())
        .unwrap_or_else(|e| panic!("a written key document does not read back ({e}): {text}"));
    assert_eq!(content_id_again, content_id);
    assert!(keys_again == keys, "the keys changed on the way round");
    let pairs_again: Vec<(Kid, &ContentKey)> = keys_again.iter().map(|k| (k.kid, &k.key)).collect();
    assert_eq!(write_key_document(&content_id_again, &pairs_again), text);
}
