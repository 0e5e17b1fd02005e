//! Request → answer round trips, refusals, and key files.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use roxmltree::{Document, Node};

use super::signalling::tests::{read_pro, read_pssh, read_widevine};
use super::xml::Element;
use super::*;
use crate::keys::ContentKey;

const VIDEO: &str = "873f3740-2508-4a2d-94bc-9b0f86649251";
const AUDIO: &str = "0c54f2b0-b433-45a4-ae73-664438bb0b4e";
const FAIRPLAY: &str = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2";
const WIDEVINE: &str = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
const PLAYREADY: &str = "9a04f079-9840-4286-ab92-e65be0885f95";

/// Shaped like AWS's SPEKE v2 samples: two cbcs keys (video, audio), FairPlay, Widevine and PlayReady,
/// one key period and usage rules with filters — plus an extension element and attribute in a foreign
/// namespace, to check that the echo declares it.
fn fixture() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX contentId="movie-42 &amp; &quot;friends&quot;" version="2.3" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">
  <cpix:ContentKeyList>
    <cpix:ContentKey kid="{VIDEO}" commonEncryptionScheme="cbcs"/>
    <cpix:ContentKey kid="{AUDIO}" commonEncryptionScheme="cbcs"></cpix:ContentKey>
  </cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="{VIDEO}" systemId="{FAIRPLAY}">
      <cpix:HLSSignalingData playlist="media"/>
      <cpix:HLSSignalingData playlist="master"/>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="{AUDIO}" systemId="{FAIRPLAY}">
      <cpix:HLSSignalingData playlist="media">
      </cpix:HLSSignalingData>
      <cpix:HLSSignalingData playlist="master"/>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="{VIDEO}" systemId="{WIDEVINE}">
      <cpix:PSSH/>
      <cpix:ContentProtectionData/>
      <cpix:HLSSignalingData playlist="media"/>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="{AUDIO}" systemId="EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED">
      <cpix:PSSH/>
      <cpix:ContentProtectionData/>
      <cpix:HLSSignalingData playlist="media"/>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="{VIDEO}" systemId="{PLAYREADY}">
      <cpix:PSSH/>
      <cpix:ContentProtectionData/>
      <cpix:SmoothStreamingProtectionHeaderData/>
    </cpix:DRMSystem>
    <cpix:DRMSystem kid="{AUDIO}" systemId="{PLAYREADY}">
      <cpix:PSSH/>
      <cpix:ContentProtectionData/>
      <cpix:SmoothStreamingProtectionHeaderData/>
    </cpix:DRMSystem>
  </cpix:DRMSystemList>
  <cpix:ContentKeyPeriodList>
    <cpix:ContentKeyPeriod id="keyPeriod_0b1c" index="0"/>
  </cpix:ContentKeyPeriodList>
  <cpix:ContentKeyUsageRuleList>
    <cpix:ContentKeyUsageRule kid="{VIDEO}" intendedTrackType="VIDEO">
      <cpix:KeyPeriodFilter periodId="keyPeriod_0b1c"/>
      <cpix:VideoFilter minPixels="0" maxPixels="8847360" ext:hint="a&lt;b" xmlns:ext="urn:example:ext"/>
    </cpix:ContentKeyUsageRule>
    <cpix:ContentKeyUsageRule kid="{AUDIO}" intendedTrackType="AUDIO">
      <cpix:KeyPeriodFilter periodId="keyPeriod_0b1c"/>
      <cpix:AudioFilter maxChannels="2"/>
      <ext:Note xmlns:ext="urn:example:ext" xml:lang="en">stereo &amp; "more"</ext:Note>
    </cpix:ContentKeyUsageRule>
  </cpix:ContentKeyUsageRuleList>
</cpix:CPIX>
"#
    )
}

/// The fixture with the first `from` replaced by `to` (the replacement must apply).
fn fixture_with(from: &str, to: &str) -> String {
    let f = fixture();
    assert!(f.contains(from), "fixture has no {from:?}");
    f.replacen(from, to, 1)
}

fn kid(s: &str) -> Kid {
    Kid::parse(s).unwrap()
}

const VIDEO_CEK: [u8; 16] = [0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x0f];
const VIDEO_IV: [u8; 16] = [0x10; 16];
const AUDIO_CEK: [u8; 16] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
];
const AUDIO_IV: [u8; 16] = [
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
];
const LA_URL: &str = "https://pr.example/rightsmanager.asmx?cfg=a&b=<1>";

fn answers<'a>(video: &'a ContentKey, audio: &'a ContentKey) -> Vec<KeyAnswer<'a>> {
    vec![
        KeyAnswer {
            kid: kid(AUDIO),
            key: audio,
            skd_uri: "skd://audio?x=1&y=2".into(),
        },
        KeyAnswer {
            kid: kid(VIDEO),
            key: video,
            skd_uri: "skd://video".into(),
        },
    ]
}

fn settings() -> SignallingSettings {
    SignallingSettings {
        playready_la_url: Some(LA_URL.into()),
    }
}

fn answer_fixture(body: &str) -> String {
    let (video, audio) = (
        ContentKey::new(VIDEO_CEK, VIDEO_IV),
        ContentKey::new(AUDIO_CEK, AUDIO_IV),
    );
    let req = parse_speke_request(body.as_bytes()).unwrap();
    write_speke_response(&req, &answers(&video, &audio), &settings()).unwrap()
}

fn b64(text: &str) -> Vec<u8> {
    STANDARD.decode(text.trim()).unwrap()
}

fn b64_text(node: Node<'_, '_>) -> String {
    String::from_utf8(b64(node.text().unwrap())).unwrap()
}

fn cpix_children<'a, 'i>(
    node: Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children()
        .filter(move |c| c.has_tag_name((NS_CPIX, name)))
}

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Node<'a, 'i> {
    node.children()
        .find(|c| c.has_tag_name((ns, name)))
        .unwrap_or_else(|| panic!("no {name}"))
}

/// The child element names of `node`, with the `playlist` attribute when present.
fn shape(node: Node<'_, '_>) -> Vec<String> {
    node.children()
        .filter(Node::is_element)
        .map(|c| match c.attribute("playlist") {
            Some(p) => format!("{}:{p}", c.tag_name().name()),
            None => c.tag_name().name().to_owned(),
        })
        .collect()
}

#[test]
fn parse_reads_keys_and_signalling_requests() {
    let req = parse_speke_request(fixture().as_bytes()).unwrap();
    assert_eq!(req.content_id, "movie-42 & \"friends\"");
    assert_eq!(req.version, "2.3");
    assert_eq!(
        req.keys,
        vec![
            RequestedKey {
                kid: kid(VIDEO),
                scheme: Some(EncryptionScheme::Cbcs),
                explicit_iv: None,
            },
            RequestedKey {
                kid: kid(AUDIO),
                scheme: Some(EncryptionScheme::Cbcs),
                explicit_iv: None,
            },
        ]
    );
    assert_eq!(req.drm_systems.len(), 6);
    let fp = &req.drm_systems[0];
    assert_eq!((fp.system, fp.kid), (DrmSystem::FairPlay, kid(VIDEO)));
    assert!(fp.hls_media && fp.hls_master && !fp.pssh && !fp.content_protection_data);
    let wv = &req.drm_systems[3];
    assert_eq!((wv.system, wv.kid), (DrmSystem::Widevine, kid(AUDIO)));
    assert!(
        wv.pssh
            && wv.content_protection_data
            && wv.hls_media
            && !wv.hls_master
            && !wv.smooth_streaming
    );
    let pr = &req.drm_systems[5];
    assert_eq!(pr.system, DrmSystem::PlayReady);
    assert!(pr.pssh && pr.content_protection_data && pr.smooth_streaming && !pr.hls_media);
    assert!(req.periods.is_some() && req.usage_rules.is_some());
    assert_eq!(req.key(&kid(AUDIO)).unwrap().kid, kid(AUDIO));
}

#[test]
fn namespaces_are_matched_by_uri_not_prefix() {
    let original = parse_speke_request(fixture().as_bytes()).unwrap();
    // The CPIX namespace as the default namespace, and PSKC under another prefix.
    let default_ns = fixture()
        .replace("cpix:", "")
        .replace("xmlns:cpix=", "xmlns=")
        .replace("xmlns:pskc=", "xmlns:k=");
    let other = parse_speke_request(default_ns.as_bytes()).unwrap();
    assert_eq!(other.keys, original.keys);
    assert_eq!(other.drm_systems, original.drm_systems);
    assert_eq!(other.usage_rules, original.usage_rules);
    // The right prefix bound to the wrong URI is not CPIX.
    let wrong = fixture_with(
        "xmlns:cpix=\"urn:dashif:org:cpix\"",
        "xmlns:cpix=\"urn:dashif:org:cpix2\"",
    );
    assert_eq!(
        parse_speke_request(wrong.as_bytes()).unwrap_err().status(),
        400
    );
}

#[test]
fn answer_keeps_identity_and_carries_keys_and_ivs() {
    let out = answer_fixture(&fixture());
    assert!(out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let doc = Document::parse(&out).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name((NS_CPIX, "CPIX")));
    assert_eq!(root.attribute("contentId"), Some("movie-42 & \"friends\""));
    assert_eq!(root.attribute("version"), Some("2.3"));
    assert_eq!(root.lookup_prefix(NS_PSKC), Some("pskc"));
    assert_eq!(
        shape(root),
        [
            "ContentKeyList",
            "DRMSystemList",
            "ContentKeyPeriodList",
            "ContentKeyUsageRuleList"
        ]
    );

    let keys: Vec<_> =
        cpix_children(child(root, NS_CPIX, "ContentKeyList"), "ContentKey").collect();
    assert_eq!(keys.len(), 2);
    for (node, (k, cek, iv)) in keys
        .iter()
        .zip([(VIDEO, VIDEO_CEK, VIDEO_IV), (AUDIO, AUDIO_CEK, AUDIO_IV)])
    {
        assert_eq!(node.attribute("kid"), Some(k));
        assert_eq!(node.attribute("commonEncryptionScheme"), Some("cbcs"));
        assert_eq!(b64(node.attribute("explicitIV").unwrap()), iv);
        let plain = child(
            child(child(*node, NS_CPIX, "Data"), NS_PSKC, "Secret"),
            NS_PSKC,
            "PlainValue",
        );
        assert_eq!(b64(plain.text().unwrap()), cek);
    }
}

#[test]
fn answer_signals_fairplay_in_hls_only() {
    let out = answer_fixture(&fixture());
    let doc = Document::parse(&out).unwrap();
    let list = child(doc.root_element(), NS_CPIX, "DRMSystemList");
    let systems: Vec<_> = cpix_children(list, "DRMSystem").collect();
    assert_eq!(systems.len(), 6);
    let audio_fp = systems[1];
    assert_eq!(
        (audio_fp.attribute("kid"), audio_fp.attribute("systemId")),
        (Some(AUDIO), Some(FAIRPLAY))
    );
    assert_eq!(
        shape(audio_fp),
        ["HLSSignalingData:media", "HLSSignalingData:master"]
    );
    let hls: Vec<_> = cpix_children(audio_fp, "HLSSignalingData")
        .map(b64_text)
        .collect();
    assert_eq!(
        hls,
        [
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://audio?x=1&y=2\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"",
            "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://audio?x=1&y=2\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"",
        ]
    );
    assert!(b64_text(
        cpix_children(systems[0], "HLSSignalingData")
            .next()
            .unwrap()
    )
    .contains("\"skd://video\""));
}

#[test]
fn answer_signals_widevine_pssh_dash_and_hls() {
    let out = answer_fixture(&fixture());
    let doc = Document::parse(&out).unwrap();
    let list = child(doc.root_element(), NS_CPIX, "DRMSystemList");
    let wv = cpix_children(list, "DRMSystem").nth(2).unwrap();
    assert_eq!(
        (wv.attribute("kid"), wv.attribute("systemId")),
        (Some(VIDEO), Some(WIDEVINE))
    );
    assert_eq!(
        shape(wv),
        ["PSSH", "ContentProtectionData", "HLSSignalingData:media"]
    );

    let pssh_text = child(wv, NS_CPIX, "PSSH").text().unwrap().to_owned();
    let pssh = b64(&pssh_text);
    let (version, system, _, data) = read_pssh(&pssh);
    assert_eq!((version, system), (0, kid(WIDEVINE).0));
    assert_eq!(
        read_widevine(&data),
        (vec![kid(VIDEO).0], Some(u32::from_be_bytes(*b"cbcs")))
    );

    let cpd = b64_text(child(wv, NS_CPIX, "ContentProtectionData"));
    let cpd_doc = Document::parse(&cpd).unwrap();
    assert!(cpd_doc.root_element().has_tag_name((NS_CENC, "pssh")));
    assert_eq!(cpd_doc.root_element().text(), Some(pssh_text.as_str()));

    assert_eq!(
        b64_text(cpix_children(wv, "HLSSignalingData").next().unwrap()),
        format!(
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"data:text/plain;base64,{pssh_text}\",KEYID=0x{},KEYFORMAT=\"urn:uuid:{WIDEVINE}\",KEYFORMATVERSIONS=\"1\"",
            kid(VIDEO).hex()
        )
    );
}

#[test]
fn answer_signals_playready_object_in_pssh_dash_and_smooth() {
    let out = answer_fixture(&fixture());
    let doc = Document::parse(&out).unwrap();
    let list = child(doc.root_element(), NS_CPIX, "DRMSystemList");
    let pr = cpix_children(list, "DRMSystem").nth(5).unwrap();
    assert_eq!(
        (pr.attribute("kid"), pr.attribute("systemId")),
        (Some(AUDIO), Some(PLAYREADY))
    );
    assert_eq!(
        shape(pr),
        [
            "PSSH",
            "ContentProtectionData",
            "SmoothStreamingProtectionHeaderData"
        ]
    );

    let pssh_text = child(pr, NS_CPIX, "PSSH").text().unwrap().to_owned();
    let (version, system, _, pro) = read_pssh(&b64(&pssh_text));
    assert_eq!((version, system), (0, kid(PLAYREADY).0));
    let header = read_pro(&pro);
    let header_doc = Document::parse(&header).unwrap();
    let wrm = header_doc.root_element();
    let ns = "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader";
    assert!(wrm.has_tag_name((ns, "WRMHEADER")));
    assert_eq!(wrm.attribute("version"), Some("4.3.0.0"));
    let data = child(wrm, ns, "DATA");
    let kid_el = child(child(child(data, ns, "PROTECTINFO"), ns, "KIDS"), ns, "KID");
    assert_eq!(kid_el.attribute("ALGID"), Some("AESCBC"));
    // PlayReady byte order: 0c54f2b0-b433-45a4 → b0f2540c 33b4 a445, the rest unchanged.
    assert_eq!(
        hex::encode(b64(kid_el.attribute("VALUE").unwrap())),
        "b0f2540c33b4a445ae73664438bb0b4e"
    );
    assert_eq!(child(data, ns, "LA_URL").text(), Some(LA_URL));

    let cpd = b64_text(child(pr, NS_CPIX, "ContentProtectionData"));
    let wrapped = format!("<r>{cpd}</r>");
    let cpd_doc = Document::parse(&wrapped).unwrap();
    let r = cpd_doc.root_element();
    assert_eq!(child(r, NS_CENC, "pssh").text(), Some(pssh_text.as_str()));
    assert_eq!(b64(child(r, NS_MSPR, "pro").text().unwrap()), pro);

    assert_eq!(
        b64(child(pr, NS_CPIX, "SmoothStreamingProtectionHeaderData")
            .text()
            .unwrap()),
        pro
    );
}

#[test]
fn answer_echoes_periods_and_usage_rules_unchanged() {
    let input = fixture();
    let out = answer_fixture(&input);
    let (before, after) = (
        Document::parse(&input).unwrap(),
        Document::parse(&out).unwrap(),
    );
    for list in ["ContentKeyPeriodList", "ContentKeyUsageRuleList"] {
        let a = child(before.root_element(), NS_CPIX, list);
        let b = child(after.root_element(), NS_CPIX, list);
        assert_eq!(Element::copy(a), Element::copy(b), "{list}");
    }
    let rules = child(after.root_element(), NS_CPIX, "ContentKeyUsageRuleList");
    let video = cpix_children(rules, "ContentKeyUsageRule").next().unwrap();
    assert_eq!(video.attribute("intendedTrackType"), Some("VIDEO"));
    let filter = child(video, NS_CPIX, "VideoFilter");
    assert_eq!(filter.attribute(("urn:example:ext", "hint")), Some("a<b"));
    assert_eq!(filter.attribute("maxPixels"), Some("8847360"));
    let audio = cpix_children(rules, "ContentKeyUsageRule").nth(1).unwrap();
    assert_eq!(shape(audio), ["KeyPeriodFilter", "AudioFilter", "Note"]);
    let note = child(audio, "urn:example:ext", "Note");
    assert_eq!(note.text(), Some("stereo & \"more\""));
    assert_eq!(
        note.attribute(("http://www.w3.org/XML/1998/namespace", "lang")),
        Some("en")
    );
    let period = child(
        child(after.root_element(), NS_CPIX, "ContentKeyPeriodList"),
        NS_CPIX,
        "ContentKeyPeriod",
    );
    assert_eq!(
        (period.attribute("id"), period.attribute("index")),
        (Some("keyPeriod_0b1c"), Some("0"))
    );
}

#[test]
fn answer_without_periods_or_la_url_and_with_cenc() {
    let body = fixture()
        .replace(
            "commonEncryptionScheme=\"cbcs\"",
            "commonEncryptionScheme=\"cenc\"",
        )
        .replace(&format!("systemId=\"{FAIRPLAY}\""), "systemId=\"other\"");
    // Drop FairPlay (cenc does not fit it) and the period list.
    let body = remove_between(
        &body,
        "<cpix:DRMSystem kid",
        "systemId=\"other\"",
        "</cpix:DRMSystem>",
    );
    let body = remove_between(
        &body,
        "<cpix:ContentKeyPeriodList>",
        "",
        "</cpix:ContentKeyPeriodList>",
    );
    let req = parse_speke_request(body.as_bytes()).unwrap();
    assert_eq!(req.drm_systems.len(), 4);
    let video = ContentKey::new(VIDEO_CEK, VIDEO_IV);
    let audio = ContentKey::new(AUDIO_CEK, AUDIO_IV);
    let out = write_speke_response(
        &req,
        &answers(&video, &audio),
        &SignallingSettings::default(),
    )
    .unwrap();
    let doc = Document::parse(&out).unwrap();
    assert_eq!(
        shape(doc.root_element()),
        ["ContentKeyList", "DRMSystemList", "ContentKeyUsageRuleList"]
    );
    let list = child(doc.root_element(), NS_CPIX, "DRMSystemList");
    let pr = cpix_children(list, "DRMSystem").nth(2).unwrap();
    assert_eq!(pr.attribute("systemId"), Some(PLAYREADY));
    let (_, _, _, pro) = read_pssh(&b64(child(pr, NS_CPIX, "PSSH").text().unwrap()));
    let header = read_pro(&pro);
    assert!(
        header.contains("version=\"4.0.0.0\"") && header.contains("<ALGID>AESCTR</ALGID>"),
        "{header}"
    );
    assert!(!header.contains("LA_URL"), "{header}");
    let wv = cpix_children(list, "DRMSystem").next().unwrap();
    assert!(
        b64_text(cpix_children(wv, "HLSSignalingData").next().unwrap())
            .starts_with("#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,")
    );
}

/// `text` without each `start … end` span (inclusive) whose body contains `marker`.
fn remove_between(text: &str, start: &str, marker: &str, end: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(start) {
        let j = rest[i..].find(end).unwrap() + i + end.len();
        out.push_str(&rest[..i]);
        if !rest[i..j].contains(marker) {
            out.push_str(&rest[i..j]);
        }
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

#[test]
fn fairplay_pssh_requests_are_accepted_and_left_out() {
    let body = fixture_with(
        "<cpix:HLSSignalingData playlist=\"media\"/>\n      <cpix:HLSSignalingData playlist=\"master\"/>",
        "<cpix:PSSH/><cpix:ContentProtectionData/><cpix:HLSSignalingData playlist=\"media\"/><cpix:HLSSignalingData playlist=\"master\"/>",
    );
    let req = parse_speke_request(body.as_bytes()).unwrap();
    assert!(!req.drm_systems[0].pssh && !req.drm_systems[0].content_protection_data);
    let out = answer_fixture(&body);
    let doc = Document::parse(&out).unwrap();
    let fp = cpix_children(
        child(doc.root_element(), NS_CPIX, "DRMSystemList"),
        "DRMSystem",
    )
    .next()
    .unwrap();
    assert_eq!(
        shape(fp),
        ["HLSSignalingData:media", "HLSSignalingData:master"]
    );
}

#[test]
fn cpix_2_4_is_accepted_for_speke_2_1() {
    let req =
        parse_speke_request(fixture_with("version=\"2.3\"", "version=\"2.4\"").as_bytes()).unwrap();
    assert_eq!(req.version, "2.4");
    assert!(
        answer_fixture(&fixture_with("version=\"2.3\"", "version=\"2.4\""))
            .contains("version=\"2.4\"")
    );
}

fn refusal(body: &[u8]) -> CpixError {
    match parse_speke_request(body) {
        Ok(req) => panic!("accepted: {req:?}"),
        Err(e) => e,
    }
}

#[test]
fn unreadable_bodies_are_400() {
    let not_cpix_root =
        r#"<cpix:Other xmlns:cpix="urn:dashif:org:cpix" contentId="a" version="2.3"/>"#;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", b"".to_vec(), "not well-formed"),
        (
            "not xml",
            b"contentId=abc version=2.3".to_vec(),
            "not well-formed",
        ),
        ("json", br#"{"contentId":"a"}"#.to_vec(), "not well-formed"),
        (
            "truncated",
            fixture().as_bytes()[..400].to_vec(),
            "not well-formed",
        ),
        ("not utf-8", b"<cpix:CPIX \xff\xfe/>".to_vec(), "UTF-8"),
        (
            "other root",
            not_cpix_root.as_bytes().to_vec(),
            "not cpix:CPIX",
        ),
        (
            "no namespace",
            b"<CPIX contentId=\"a\" version=\"2.3\"/>".to_vec(),
            "not cpix:CPIX",
        ),
    ];
    for (name, body, text) in cases {
        let err = refusal(&body);
        assert_eq!(err.status(), 400, "{name}: {err}");
        assert!(matches!(err, CpixError::Malformed(_)), "{name}");
        assert!(err.to_string().contains(text), "{name}: {err}");
    }
}

#[test]
fn doctype_and_entities_are_refused_without_expansion() {
    let internal = fixture().replacen(
        "<cpix:CPIX contentId=\"movie-42 &amp; &quot;friends&quot;\"",
        "<!DOCTYPE cpix:CPIX [<!ENTITY secret \"expanded-entity-text\">]>\n<cpix:CPIX contentId=\"&secret;\"",
        1,
    );
    assert!(internal.contains("&secret;"));
    let external = fixture().replacen(
        "<cpix:CPIX contentId=\"movie-42 &amp; &quot;friends&quot;\"",
        "<!DOCTYPE cpix:CPIX [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<cpix:CPIX contentId=\"&xxe;\"",
        1,
    );
    for body in [internal, external, "<!DOCTYPE CPIX><CPIX/>".to_owned()] {
        let err = refusal(body.as_bytes());
        assert_eq!(err.status(), 400);
        let text = err.to_string();
        assert!(text.contains("DOCTYPE"), "{text}");
        assert!(
            !text.contains("expanded-entity-text") && !text.contains("root:"),
            "{text}"
        );
    }
}

#[test]
fn billion_laughs_is_refused() {
    let mut body =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        body.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    body.push_str(
        "]>\n<cpix:CPIX xmlns:cpix=\"urn:dashif:org:cpix\" contentId=\"&lol9;\" version=\"2.3\"/>",
    );
    let started = std::time::Instant::now();
    let err = refusal(body.as_bytes());
    assert_eq!(err.status(), 400);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}{}", "<cpix:X>".repeat(1000), "</cpix:X>".repeat(1000));
    let body = fixture_with(
        "<cpix:ContentKeyPeriod id",
        &format!("{deep}<cpix:ContentKeyPeriod id"),
    );
    let err = refusal(body.as_bytes());
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("deeper than 32"), "{err}");
    // 32 levels in all is still fine: CPIX, the list, then 30 nested elements.
    let ok = format!("{}{}", "<cpix:X>".repeat(30), "</cpix:X>".repeat(30));
    let body = fixture_with(
        "<cpix:ContentKeyPeriod id",
        &format!("{ok}<cpix:ContentKeyPeriod id"),
    );
    assert!(parse_speke_request(body.as_bytes()).is_ok());
    let over = format!("{}{}", "<cpix:X>".repeat(31), "</cpix:X>".repeat(31));
    let body = fixture_with(
        "<cpix:ContentKeyPeriod id",
        &format!("{over}<cpix:ContentKeyPeriod id"),
    );
    assert_eq!(refusal(body.as_bytes()).status(), 400);
}

#[test]
fn node_cap_is_enforced() {
    let many = "<cpix:ContentKeyPeriod index=\"1\"/>".repeat(MAX_NODES as usize);
    let body = fixture_with(
        "<cpix:ContentKeyPeriod id",
        &format!("{many}<cpix:ContentKeyPeriod id"),
    );
    let err = refusal(body.as_bytes());
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("nodes"), "{err}");
}

#[test]
fn speke_rule_violations_are_422() {
    let v = VIDEO;
    let unknown_kid = "11111111-2222-3333-4444-555555555555";
    let cases: Vec<(&str, String, &str)> = vec![
        ("version 2.2", fixture_with("version=\"2.3\"", "version=\"2.2\""), "Unsupported CPIX@version \"2.2\""),
        ("missing version", fixture_with(" version=\"2.3\"", ""), "Missing CPIX@version"),
        ("missing contentId", fixture_with("contentId=\"movie-42 &amp; &quot;friends&quot;\"", ""), "Missing CPIX@contentId"),
        ("empty contentId", fixture_with("contentId=\"movie-42 &amp; &quot;friends&quot;\"", "contentId=\" \""), "Missing CPIX@contentId"),
        ("missing ContentKeyList", remove_between(&fixture(), "<cpix:ContentKeyList>", "", "</cpix:ContentKeyList>"), "Missing cpix:ContentKeyList"),
        ("empty ContentKeyList", remove_between(&fixture(), "<cpix:ContentKey ", "", ">\n"), "has no ContentKey"),
        ("non-UUID kid", fixture_with(&format!("<cpix:ContentKey kid=\"{v}\""), "<cpix:ContentKey kid=\"video-key-1\""), "ContentKey@kid \"video-key-1\" is not a UUID"),
        ("missing kid", fixture_with(&format!("<cpix:ContentKey kid=\"{v}\""), "<cpix:ContentKey"), "Missing ContentKey@kid"),
        ("duplicate KID", fixture_with(&format!("<cpix:ContentKey kid=\"{AUDIO}\""), &format!("<cpix:ContentKey kid=\"{}\"", v.to_uppercase())), "duplicate ContentKey for KID 873f3740"),
        ("missing scheme", fixture_with("commonEncryptionScheme=\"cbcs\"/>", "/>"), "Missing ContentKey@commonEncryptionScheme for KID 873f3740"),
        ("unknown scheme", fixture_with("commonEncryptionScheme=\"cbcs\"/>", "commonEncryptionScheme=\"SAMPLE-AES\"/>"), "Unsupported ContentKey@commonEncryptionScheme"),
        ("mixed schemes", fixture_with("commonEncryptionScheme=\"cbcs\"/>", "commonEncryptionScheme=\"cbc1\"/>"), "Non compliant ContentKey@commonEncryptionScheme combination"),
        ("bad explicitIV", fixture_with("commonEncryptionScheme=\"cbcs\"/>", "commonEncryptionScheme=\"cbcs\" explicitIV=\"AAEC\"/>"), "explicitIV for KID 873f3740"),
        ("key value in request", fixture_with("commonEncryptionScheme=\"cbcs\"/>", "commonEncryptionScheme=\"cbcs\"><cpix:Data><pskc:Secret><pskc:PlainValue>AAECAwQFBgcICQoLDA0ODw==</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>"), "must not carry key values"),
        ("missing DRMSystemList", remove_between(&fixture(), "<cpix:DRMSystemList>", "", "</cpix:DRMSystemList>"), "Missing cpix:DRMSystemList"),
        ("empty DRMSystemList", remove_between(&fixture(), "<cpix:DRMSystem kid", "", "</cpix:DRMSystem>"), "has no DRMSystem"),
        ("DRMSystem unknown KID", fixture_with(&format!("<cpix:DRMSystem kid=\"{v}\" systemId=\"{WIDEVINE}\""), &format!("<cpix:DRMSystem kid=\"{unknown_kid}\" systemId=\"{WIDEVINE}\"")), "DRMSystem names KID 11111111-2222-3333-4444-555555555555, which is not in"),
        ("unknown systemId", fixture_with(WIDEVINE, "81376844-f976-481e-a84e-cc25d39b0b33"), "unknown DRMSystem@systemId \"81376844-f976-481e-a84e-cc25d39b0b33\""),
        ("duplicate DRMSystem", fixture_with(&format!("systemId=\"{FAIRPLAY}\""), &format!("systemId=\"{FAIRPLAY}\"><cpix:HLSSignalingData playlist=\"media\"/></cpix:DRMSystem><cpix:DRMSystem kid=\"{v}\" systemId=\"{FAIRPLAY}\"")), "more than one fairplay DRMSystem"),
        ("bad playlist", fixture_with("playlist=\"master\"", "playlist=\"variant\""), "HLSSignalingData@playlist must be \"media\" or \"master\", not \"variant\""),
        ("missing playlist", fixture_with(" playlist=\"master\"", ""), "not missing"),
        ("URIExtXKey", fixture_with("<cpix:PSSH/>", "<cpix:URIExtXKey/>"), "URIExtXKey is SPEKE v1"),
        ("speke v1 element", fixture_with("<cpix:PSSH/>", "<speke:ProtectionHeader xmlns:speke=\"urn:aws:amazon:com:speke\"/>"), "unexpected element {urn:aws:amazon:com:speke}ProtectionHeader in cpix:DRMSystem"),
        ("smooth for widevine", fixture_with("<cpix:PSSH/>", "<cpix:SmoothStreamingProtectionHeaderData/>"), "not available for widevine"),
        ("filled PSSH", fixture_with("<cpix:PSSH/>", "<cpix:PSSH>AAAA</cpix:PSSH>"), "cpix:PSSH must be empty"),
        ("fairplay with cenc", fixture().replace("\"cbcs\"", "\"cenc\""), "fairplay cannot be used with commonEncryptionScheme cenc"),
        ("playready with cbc1", remove_between(&fixture().replace("\"cbcs\"", "\"cbc1\""), "<cpix:DRMSystem kid", FAIRPLAY, "</cpix:DRMSystem>"), "playready cannot be used with commonEncryptionScheme cbc1"),
        ("missing usage rules", remove_between(&fixture(), "<cpix:ContentKeyUsageRuleList>", "", "</cpix:ContentKeyUsageRuleList>"), "Missing cpix:ContentKeyUsageRuleList"),
        ("usage rule unknown KID", fixture_with(&format!("<cpix:ContentKeyUsageRule kid=\"{AUDIO}\""), &format!("<cpix:ContentKeyUsageRule kid=\"{unknown_kid}\"")), "ContentKeyUsageRule names KID 11111111-2222-3333-4444-555555555555"),
        ("usage rule without track type", fixture_with(" intendedTrackType=\"AUDIO\"", ""), "Missing ContentKeyUsageRule@intendedTrackType for KID 0c54f2b0"),
        ("usage rule without filter", fixture_with("<cpix:AudioFilter maxChannels=\"2\"/>", ""), "has no VideoFilter or AudioFilter"),
        ("DeliveryDataList", fixture_with("<cpix:ContentKeyList>", "<cpix:DeliveryDataList><cpix:DeliveryData/></cpix:DeliveryDataList><cpix:ContentKeyList>"), "encrypted key delivery is not supported"),
        ("signature", fixture_with("</cpix:CPIX>", "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></cpix:CPIX>"), "signed CPIX documents are not supported"),
        ("unknown top-level", fixture_with("</cpix:CPIX>", "<cpix:Extra/></cpix:CPIX>"), "unexpected element cpix:Extra in CPIX"),
        ("two key lists", fixture_with("<cpix:DRMSystemList>", "<cpix:ContentKeyList/><cpix:DRMSystemList>"), "more than one cpix:ContentKeyList"),
    ];
    for (name, body, text) in cases {
        let err = refusal(body.as_bytes());
        assert_eq!(err.status(), 422, "{name}: {err}");
        assert!(matches!(err, CpixError::Rejected(_)), "{name}");
        assert!(err.to_string().contains(text), "{name}: {err}");
    }
}

#[test]
fn update_history_is_ignored_and_the_answer_states_the_key_iv() {
    let body = fixture_with(
        "commonEncryptionScheme=\"cbcs\"/>",
        "commonEncryptionScheme=\"cbcs\" explicitIV=\"OFj2IjCsPJFfMAxmQxLGPw==\"/>",
    )
    .replacen(
        "</cpix:CPIX>",
        "<cpix:UpdateHistoryItemList/></cpix:CPIX>",
        1,
    );
    let proposed = parse_speke_request(body.as_bytes()).unwrap().keys[0].explicit_iv;
    assert_eq!(
        proposed.map(|iv| STANDARD.encode(iv)).as_deref(),
        Some("OFj2IjCsPJFfMAxmQxLGPw==")
    );
    // The answer states the IV of the key it carries (here a key that already exists).
    let out = answer_fixture(&body);
    assert!(!out.contains("OFj2IjCsPJFfMAxmQxLGPw==") && !out.contains("UpdateHistory"));
    assert!(out.contains(&format!("explicitIV=\"{}\"", STANDARD.encode(VIDEO_IV))));
}

#[test]
fn writer_refuses_what_it_cannot_answer() {
    let req = parse_speke_request(fixture().as_bytes()).unwrap();
    let (video, audio) = (
        ContentKey::new(VIDEO_CEK, VIDEO_IV),
        ContentKey::new(AUDIO_CEK, AUDIO_IV),
    );
    let mut all = answers(&video, &audio);
    let only_video = &all[1..];
    let err = write_speke_response(&req, only_video, &settings()).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("no content key for KID {AUDIO}")),
        "{err}"
    );

    all[0].skd_uri = "skd://a\",URI=\"evil".into();
    let err = write_speke_response(&req, &all, &settings()).unwrap_err();
    assert!(err.to_string().contains("FairPlay key URI"), "{err}");
    all[0].skd_uri = "skd://a\n#EXT-X-ENDLIST".into();
    assert!(write_speke_response(&req, &all, &settings()).is_err());

    all[0].skd_uri = "skd://a".into();
    let long = SignallingSettings {
        playready_la_url: Some(format!("https://{}", "a".repeat(MAX_LA_URL_BYTES))),
    };
    assert!(write_speke_response(&req, &all, &long)
        .unwrap_err()
        .to_string()
        .contains("LA_URL"));
    assert!(write_speke_response(&req, &all, &settings()).is_ok());
}

#[test]
fn key_material_never_shows_in_debug_or_errors() {
    let secrets = [
        hex::encode(VIDEO_CEK),
        hex::encode(AUDIO_CEK),
        STANDARD.encode(VIDEO_CEK),
        STANDARD.encode(AUDIO_CEK),
        format!("{:?}", VIDEO_CEK),
        format!("{:?}", AUDIO_CEK),
    ];
    let clean = |shown: &str| {
        for s in &secrets {
            assert!(!shown.contains(s.as_str()), "{shown} holds {s}");
        }
    };
    let (video, audio) = (
        ContentKey::new(VIDEO_CEK, VIDEO_IV),
        ContentKey::new(AUDIO_CEK, AUDIO_IV),
    );
    let req = parse_speke_request(fixture().as_bytes()).unwrap();
    clean(&format!("{req:?}"));
    clean(&format!("{:?}", answers(&video, &audio)));
    let doc_keys =
        parse_key_document(write_key_document("c", &[(kid(VIDEO), &video)]).as_bytes()).unwrap();
    clean(&format!("{doc_keys:?}"));

    // A key value in a request, and bad values in key files: refused without quoting them.
    let with_value = fixture_with(
        "commonEncryptionScheme=\"cbcs\"/>",
        &format!(
            "commonEncryptionScheme=\"cbcs\"><cpix:Data><pskc:Secret><pskc:PlainValue>{}</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>",
            STANDARD.encode(VIDEO_CEK)
        ),
    );
    let err = refusal(with_value.as_bytes());
    clean(&format!("{err} {err:?}"));
    let file = write_key_document("c", &[(kid(VIDEO), &video)]);
    let short = file.replace(
        &STANDARD.encode(VIDEO_CEK),
        &STANDARD.encode(&VIDEO_CEK[..15]),
    );
    let err = parse_key_document(short.as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("not base64 of a 16-byte key"),
        "{err}"
    );
    clean(&format!("{err} {err:?}"));
    let broken = file.replace("</pskc:PlainValue>", "</pskc:Plain>");
    let err = parse_key_document(broken.as_bytes()).unwrap_err();
    assert_eq!(err.status(), 400);
    clean(&format!("{err} {err:?}"));
}

#[test]
fn key_document_round_trip() {
    let (video, audio) = (
        ContentKey::new(VIDEO_CEK, VIDEO_IV),
        ContentKey::new(AUDIO_CEK, AUDIO_IV),
    );
    let text = write_key_document(
        "movie <42> & co",
        &[(kid(VIDEO), &video), (kid(AUDIO), &audio)],
    );
    let (content_id, keys) = parse_key_document(text.as_bytes()).unwrap();
    assert_eq!(content_id, "movie <42> & co");
    assert_eq!(
        keys,
        vec![
            DocumentKey {
                kid: kid(VIDEO),
                key: ContentKey::new(VIDEO_CEK, VIDEO_IV)
            },
            DocumentKey {
                kid: kid(AUDIO),
                key: ContentKey::new(AUDIO_CEK, AUDIO_IV)
            },
        ]
    );
    let doc = Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().attribute("version"), Some("2.3"));
    let no_id = write_key_document("", &[(kid(VIDEO), &video)]);
    assert!(!no_id.contains("contentId"));
    assert_eq!(parse_key_document(no_id.as_bytes()).unwrap().0, "");
}

#[test]
fn key_documents_from_other_tools_are_read_by_namespace() {
    let text = format!(
        r#"<CPIX xmlns="urn:dashif:org:cpix" xmlns:p="urn:ietf:params:xml:ns:keyprov:pskc" contentId="x">
             <DRMSystemList/>
             <ContentKeyList>
               <ContentKey kid="{}" explicitIV="{}" commonEncryptionScheme="cbcs">
                 <Data><p:Secret><p:PlainValue>
                   {}
                 </p:PlainValue></p:Secret></Data>
               </ContentKey>
             </ContentKeyList>
           </CPIX>"#,
        VIDEO.to_uppercase(),
        STANDARD.encode(VIDEO_IV),
        STANDARD.encode(VIDEO_CEK)
    );
    let (_, keys) = parse_key_document(text.as_bytes()).unwrap();
    assert_eq!(
        keys,
        vec![DocumentKey {
            kid: kid(VIDEO),
            key: ContentKey::new(VIDEO_CEK, VIDEO_IV)
        }]
    );
}

#[test]
fn encrypted_or_incomplete_key_documents_are_refused() {
    let video = ContentKey::new(VIDEO_CEK, VIDEO_IV);
    let file = write_key_document("c", &[(kid(VIDEO), &video)]);
    let encrypted = file.replace(
        &format!("<pskc:PlainValue>{}</pskc:PlainValue>", STANDARD.encode(VIDEO_CEK)),
        "<pskc:EncryptedValue><enc:EncryptionMethod xmlns:enc=\"http://www.w3.org/2001/04/xmlenc#\" Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes256-cbc\"/><enc:CipherData xmlns:enc=\"http://www.w3.org/2001/04/xmlenc#\"><enc:CipherValue>AAAA</enc:CipherValue></enc:CipherData></pskc:EncryptedValue>",
    );
    assert_ne!(encrypted, file);
    let delivery = file.replace(
        "<cpix:ContentKeyList>",
        "<cpix:DeliveryDataList/><cpix:ContentKeyList>",
    );
    for body in [encrypted, delivery] {
        let err = parse_key_document(body.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "encrypted CPIX documents are not supported yet"
        );
        assert_eq!(err.status(), 422);
    }
    let no_iv = file.replace(
        &format!(" explicitIV=\"{}\"", STANDARD.encode(VIDEO_IV)),
        "",
    );
    assert!(parse_key_document(no_iv.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("has no explicitIV"));
    let no_value = remove_between(&file, "<cpix:Data>", "", "</cpix:Data>");
    assert!(parse_key_document(no_value.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("has no cpix:Data/pskc:Secret/pskc:PlainValue"));
    let dup = file.replace(
        "</cpix:ContentKeyList>",
        &format!(
            "{}</cpix:ContentKeyList>",
            &file[file.find("<cpix:ContentKey ").unwrap()
                ..file.find("</cpix:ContentKeyList>").unwrap()]
        ),
    );
    assert!(parse_key_document(dup.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("duplicate ContentKey"));
    let doctype = format!("<!DOCTYPE x>{}", file.split_once('\n').unwrap().1);
    assert_eq!(
        parse_key_document(doctype.as_bytes()).unwrap_err().status(),
        400
    );
}
