#!/usr/bin/env python3
"""Regenerate tests/data/speke/*.xml and cases.json: SPEKE v2 (CPIX 2.3) request documents
modelled on the cases of awslabs/speke-reference-server's spekev2_verification_testsuite,
plus our own extensions. KIDs are random-looking UUIDv4s from a fixed seed, so a rerun
rewrites identical files. Run from the repo root:  python3 tests/speke/make_requests.py
"""
import json, random, uuid
from pathlib import Path

OUT = Path("tests/data/speke")
RNG = random.Random(0x5EE5)
WV, PR, FP = ("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed", "9a04f079-9840-4286-ab92-e65be0885f95",
              "94ce86fb-07ff-4f43-adb8-93d2fa968ca2")
NAMES = {WV: "widevine", PR: "playready", FP: "fairplay"}
COMBOS = [[WV], [PR], [FP], [WV, PR], [WV, FP], [PR, FP], [WV, PR, FP]]
FILTERS = {  # intendedTrackType -> (filter element, attributes), as the suite builds them
    "VIDEO": ("VideoFilter", ""), "AUDIO": ("AudioFilter", ""),
    "SD": ("VideoFilter", ' maxPixels="589824"'), "HD": ("VideoFilter", ' minPixels="589825"'),
    "HD1": ("VideoFilter", ' minPixels="589825" maxPixels="921600"'),
    "HD2": ("VideoFilter", ' minPixels="921601" maxPixels="2073600"'),
    "SD+HD1": ("VideoFilter", ' maxPixels="921600"'), "UHD": ("VideoFilter", ' minPixels="2073601"'),
    "UHD1": ("VideoFilter", ' minPixels="2073601" maxPixels="8847360"'),
    "UHD2": ("VideoFilter", ' minPixels="8847361"'),
    "STEREO_AUDIO": ("AudioFilter", ' maxChannels="2"'),
    "MULTICHANNEL_AUDIO": ("AudioFilter", ' minChannels="3"'),
    "MULTICHANNEL_AUDIO_3_6": ("AudioFilter", ' minChannels="3" maxChannels="6"'),
    "MULTICHANNEL_AUDIO_7": ("AudioFilter", ' minChannels="7"'),
}
PRESETS = {  # suite test_case_1..6
    "preset_video_1_audio_1": ["VIDEO", "AUDIO"],
    "preset_video_3_audio_2": ["SD", "HD", "UHD", "STEREO_AUDIO", "MULTICHANNEL_AUDIO"],
    "preset_video_5_audio_3": ["SD", "HD1", "HD2", "UHD1", "UHD2", "STEREO_AUDIO",
                               "MULTICHANNEL_AUDIO_3_6", "MULTICHANNEL_AUDIO_7"],
    "preset_video_8_audio_2": ["SD+HD1", "HD2", "UHD1", "UHD2", "STEREO_AUDIO", "MULTICHANNEL_AUDIO"],
    "preset_video_2_audio_unencrypted": ["SD", "HD"],
    "preset_video_unencrypted_audio_2": ["STEREO_AUDIO", "MULTICHANNEL_AUDIO"],
}
CASES = []
BOTH = "<cpix:VideoFilter/>\n      <cpix:AudioFilter/>"


def uid():
    return str(uuid.UUID(int=RNG.getrandbits(128), version=4))


def doc(content_id, keys, systems, scheme, tracks, periods=None, version="2.3", ivs=None, rule_periods=None):
    """keys: list of KIDs; tracks: intendedTrackType per key ('ALL' -> both filters);
    periods: list of (id, index) or None (VOD); rule_periods: periodId per key (default: first period)."""
    cid = f' contentId="{content_id}"' if content_id is not None else ""
    ver = f' version="{version}"' if version is not None else ""
    out = [f'<?xml version="1.0" encoding="UTF-8"?>',
           f'<cpix:CPIX{cid}{ver} xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">',
           "  <cpix:ContentKeyList>"]
    for i, k in enumerate(keys):
        sch = scheme[i] if isinstance(scheme, list) else scheme
        iv = f' explicitIV="{ivs[i]}"' if ivs else ""
        out.append(f'    <cpix:ContentKey kid="{k}" commonEncryptionScheme="{sch}"{iv}/>')
    out += ["  </cpix:ContentKeyList>", "  <cpix:DRMSystemList>"]
    for s in systems:
        for k in keys:
            out.append(f'    <cpix:DRMSystem kid="{k}" systemId="{s}">')
            out.append("      <cpix:PSSH/>")
            if s != FP:
                out.append("      <cpix:ContentProtectionData/>")
            out.append('      <cpix:HLSSignalingData playlist="media"/>')
            out.append('      <cpix:HLSSignalingData playlist="master"/>')
            out.append("    </cpix:DRMSystem>")
    out.append("  </cpix:DRMSystemList>")
    if periods:
        out.append("  <cpix:ContentKeyPeriodList>")
        out += [f'    <cpix:ContentKeyPeriod id="{pid}" index="{idx}"/>' for pid, idx in periods]
        out.append("  </cpix:ContentKeyPeriodList>")
    out.append("  <cpix:ContentKeyUsageRuleList>")
    for i, (k, t) in enumerate(zip(keys, tracks)):
        out.append(f'    <cpix:ContentKeyUsageRule kid="{k}" intendedTrackType="{t}">')
        if periods:
            pid = rule_periods[i] if rule_periods else periods[0][0]
            out.append(f'      <cpix:KeyPeriodFilter periodId="{pid}"/>')
        if t == "ALL":
            out += ["      <cpix:VideoFilter/>", "      <cpix:AudioFilter/>"]
        else:
            el, attrs = FILTERS[t]
            out.append(f"      <cpix:{el}{attrs}/>")
        out.append("    </cpix:ContentKeyUsageRule>")
    out += ["  </cpix:ContentKeyUsageRuleList>", "</cpix:CPIX>", ""]
    return "\n".join(out)


def case(name, text, expect, source, note="", **meta):
    (OUT / f"{name}.xml").write_text(text)
    CASES.append(dict(file=f"{name}.xml", expect=expect, source=source, note=note, **meta))


def positive(name, keys, systems, scheme, tracks, periods, source, note="", **kw):
    case(name, doc(f"sees_{name}", keys, systems, scheme, tracks, periods, **kw), 200, source, note,
         keys=len(keys), scheme=scheme if isinstance(scheme, str) else "mixed",
         drm_systems={NAMES[s]: len(keys) for s in systems}, tracks=tracks,
         periods=[p[1] for p in periods or []])


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for f in OUT.glob("*.xml"):
        f.unlink()
    # 1. suite presets x DRM combinations (live form: one ContentKeyPeriod index 0 + KeyPeriodFilter)
    for preset, tracks in PRESETS.items():
        for combo in COMBOS:
            scheme = "cbcs" if FP in combo else "cenc"
            name = f"{preset}_{'_'.join(NAMES[s] for s in combo)}"
            positive(name, [uid() for _ in tracks], combo, scheme, tracks,
                     [(f"keyPeriod_{uid()}", 0)], "suite test_case_*")
        # VOD form (suite --test-vod: no ContentKeyPeriodList / KeyPeriodFilter)
        positive(f"vod_{preset}_widevine_playready_fairplay", [uid() for _ in tracks], [WV, PR, FP], "cbcs",
                 tracks, None, "suite test_case_* (--test-vod)")
    # 2. suite static files
    generic = [uid(), uid()]
    gen_args = (generic, [WV], "cenc", ["VIDEO", "AUDIO"], None)
    positive("generic_dash_widevine_video_1_audio_1", *gen_args, "suite 1_generic (basic/mandatory checks)",
             "used by test_basic_checks + test_check_mandatory_elements; same request twice must give same keys")
    positive("preset_shared_widevine", [uid()], [WV], "cenc", ["ALL"], [(f"keyPeriod_{uid()}", 0)],
             "suite 2_speke_v1_style", "one key for audio+video (SHARED preset)")
    positive("vod_preset_shared_widevine", [uid()], [WV], "cenc", ["ALL"], None, "suite 2_speke_v1_style (vod)")
    # 3. our positive extensions
    positive("ext_preset_shared_widevine_playready_fairplay", [uid()], [WV, PR, FP], "cbcs", ["ALL"],
             [(f"keyPeriod_{uid()}", 0)], "ours", "SHARED key, all three DRMs")
    fp_keys = [uid(), uid()]
    positive("ext_explicit_iv_fairplay", fp_keys, [FP], "cbcs", ["VIDEO", "AUDIO"], None, "ours",
             "request carries explicitIV: echo it unchanged", ivs=["OFj2IjCsPJFfMAxmQxLGPw==", "ASgwx9pQ2/2lnDzJsUxWcQ=="])
    positive("ext_key_period_index_nonzero", [uid(), uid()], [WV, PR], "cenc", ["VIDEO", "AUDIO"],
             [(f"keyPeriod_{uid()}", 11425)], "ours", "one ContentKeyPeriod with a non-zero index, as in the AWS spec examples")
    p1, p2 = f"keyPeriod_{uid()}", f"keyPeriod_{uid()}"
    positive("ext_two_key_periods", [uid() for _ in range(4)], [WV, PR], "cenc", ["VIDEO", "AUDIO", "VIDEO", "AUDIO"],
             [(p1, 7), (p2, 8)], "ours", "two periods in one document (CPIX rotation form; intendedTrackType unique per"
             " period): recommended 200, not covered by the suite",
             rule_periods=[p1, p1, p2, p2])
    k = [uid(), uid()]
    reordered = doc("sees_ext_drm_children_aws_doc_order", k, [WV], "cbcs", ["VIDEO", "AUDIO"], None).replace(
        "      <cpix:PSSH/>\n      <cpix:ContentProtectionData/>\n", "").replace(
        '      <cpix:HLSSignalingData playlist="master"/>\n',
        '      <cpix:HLSSignalingData playlist="master"/>\n      <cpix:ContentProtectionData/>\n      <cpix:PSSH/>\n')
    case("ext_drm_children_aws_doc_order", reordered, 200, "ours",
         "DRMSystem children in the order of the AWS doc examples (HLSSignalingData, ContentProtectionData, PSSH):"
         " not XSD order, but a lenient parser should accept", keys=2, scheme="cbcs", drm_systems={"widevine": 2},
         tracks=["VIDEO", "AUDIO"], periods=[])
    # 4. suite negative cases (test_negative_cases.py), derived from the generic request
    g = doc("sees_negative", *gen_args)
    neg = lambda name, text, src, note="": case(name, text, "4xx", src, note)
    (OUT / "negative_empty_body.xml").write_text("")
    CASES.append(dict(file="negative_empty_body.xml", expect="4xx", source="suite test_empty_request",
                      note="0-byte body"))
    neg("negative_wrong_version", doc("sees_negative", *gen_args, version="4.0"), "suite 3_negative_wrong_version",
        "CPIX@version=4.0")
    cut = lambda text, start, end: text[:text.index(start)] + text[text.index(end) + len(end) + 1:]
    neg("negative_missing_content_key_list", cut(g, "  <cpix:ContentKeyList>", "</cpix:ContentKeyList>"),
        "suite test_mandatory_elements_missing_in_request")
    neg("negative_missing_drm_system_list", cut(g, "  <cpix:DRMSystemList>", "</cpix:DRMSystemList>"),
        "suite test_mandatory_elements_missing_in_request")
    neg("negative_missing_content_key_usage_rule_list",
        cut(g, "  <cpix:ContentKeyUsageRuleList>", "</cpix:ContentKeyUsageRuleList>"),
        "suite test_mandatory_elements_missing_in_request")
    strip = lambda text, prefix: "\n".join(l for l in text.split("\n") if not l.strip().startswith(prefix))
    neg("negative_missing_content_key", strip(g, "<cpix:ContentKey kid"),
        "suite test_mandatory_elements_missing_in_request", "empty ContentKeyList")
    t = g
    while "<cpix:DRMSystem kid" in t:
        t = cut(t, "    <cpix:DRMSystem kid", "</cpix:DRMSystem>")
    neg("negative_missing_drm_system", t, "suite test_mandatory_elements_missing_in_request", "empty DRMSystemList")
    t = g
    while "<cpix:ContentKeyUsageRule kid" in t:
        t = cut(t, "    <cpix:ContentKeyUsageRule kid", "</cpix:ContentKeyUsageRule>")
    neg("negative_missing_content_key_usage_rule", t, "suite test_mandatory_elements_missing_in_request",
        "empty ContentKeyUsageRuleList")
    neg("negative_missing_filters", strip(strip(g, "<cpix:VideoFilter"), "<cpix:AudioFilter"),
        "suite test_both_mandatory_filter_elements_missing_in_request")
    a, b = generic
    t = g
    for x in (a, b):
        t = t.replace(f'<cpix:ContentKey kid="{x}" commonEncryptionScheme="cenc"/>', "<cpix:ContentKey/>")
    neg("negative_missing_content_key_attributes", t, "suite test_missing_mandatory_attributes_in_request",
        "ContentKey without kid and commonEncryptionScheme")
    t = g
    for x in (a, b):
        t = t.replace(f'<cpix:DRMSystem kid="{x}" systemId="{WV}">', "<cpix:DRMSystem>")
    neg("negative_missing_drm_system_attributes", t, "suite test_missing_mandatory_attributes_in_request",
        "DRMSystem without kid and systemId")
    t = g.replace(f'<cpix:ContentKeyUsageRule kid="{a}" intendedTrackType="VIDEO">', "<cpix:ContentKeyUsageRule>")
    t = t.replace(f'<cpix:ContentKeyUsageRule kid="{b}" intendedTrackType="AUDIO">', "<cpix:ContentKeyUsageRule>")
    neg("negative_missing_usage_rule_attributes", t, "suite test_missing_mandatory_attributes_in_request",
        "ContentKeyUsageRule without kid and intendedTrackType")
    neg("negative_fairplay_cenc", doc("sees_negative_fairplay_cenc", [uid(), uid()], [FP], "cenc", ["VIDEO", "AUDIO"],
                                      [(f"keyPeriod_{uid()}", 0)]),
        "suite test_common_encryption_scheme_for_fairplay_should_not_be_cenc", "FairPlay requires cbcs")
    neg("negative_preset_shared_video",
        doc("sees_negative_shared_video", [uid() for _ in range(4)], [WV], "cenc",
            ["ALL", "ALL", "STEREO_AUDIO", "MULTICHANNEL_AUDIO"], [(f"keyPeriod_{uid()}", 0)]).replace(
            BOTH, '<cpix:VideoFilter maxPixels="589824"/>', 1).replace(BOTH, '<cpix:VideoFilter minPixels="589825"/>', 1),
        "suite 4_spekev2_negative_preset_shared_video", "two ALL rules (video filters) + two audio rules")
    neg("negative_preset_shared_audio",
        doc("sees_negative_shared_audio", [uid() for _ in range(4)], [WV], "cenc",
            ["SD", "HD", "ALL", "ALL"], [(f"keyPeriod_{uid()}", 0)]).replace(
            BOTH, '<cpix:AudioFilter maxChannels="2"/>', 1).replace(BOTH, '<cpix:AudioFilter minChannels="3"/>', 1),
        "suite 5_spekev2_negative_preset_shared_audio", "two video rules + two ALL rules (audio filters)")
    # 5. our negative extensions
    k2 = lambda: [uid(), uid()]
    neg("negative_missing_content_id", doc(None, k2(), [WV], "cenc", ["VIDEO", "AUDIO"], None), "ours",
        "spec text: Missing CPIX@contentId")
    neg("negative_missing_version", doc("sees_negative", k2(), [WV], "cenc", ["VIDEO", "AUDIO"], None, version=None),
        "ours", "spec text: Missing CPIX@version")
    kk = k2()
    neg("negative_missing_common_encryption_scheme",
        doc("sees_negative", kk, [WV], "cenc", ["VIDEO", "AUDIO"], None).replace(
            f'kid="{kk[1]}" commonEncryptionScheme="cenc"', f'kid="{kk[1]}"'), "ours",
        f"spec text: Missing ContentKey@commonEncryptionScheme for KID {kk[1]}")
    neg("negative_mixed_encryption_schemes", doc("sees_negative", k2(), [WV, PR], ["cenc", "cbcs"], ["VIDEO", "AUDIO"],
                                                 None), "ours",
        "spec text: Non compliant ContentKey@commonEncryptionScheme combination")
    neg("negative_unknown_encryption_scheme", doc("sees_negative", k2(), [WV], "cbc2", ["VIDEO", "AUDIO"], None),
        "ours", "commonEncryptionScheme not in cenc/cbc1/cens/cbcs")
    neg("negative_unknown_system_id",
        doc("sees_negative", k2(), [WV], "cenc", ["VIDEO", "AUDIO"], None).replace(WV, "11111111-2222-4333-8444-555555555555"),
        "ours", "systemId not a known DRM")
    kk = k2()
    neg("negative_drm_system_kid_not_in_key_list",
        doc("sees_negative", kk, [WV], "cenc", ["VIDEO", "AUDIO"], None).replace(
            f'<cpix:DRMSystem kid="{kk[1]}"', f'<cpix:DRMSystem kid="{uid()}"'), "ours",
        "DRMSystem@kid references no ContentKey")
    kk = k2()
    neg("negative_usage_rule_kid_not_in_key_list",
        doc("sees_negative", kk, [WV], "cenc", ["VIDEO", "AUDIO"], None).replace(
            f'<cpix:ContentKeyUsageRule kid="{kk[1]}"', f'<cpix:ContentKeyUsageRule kid="{uid()}"'), "ours",
        "ContentKeyUsageRule@kid references no ContentKey")
    kk = k2()
    neg("negative_key_period_filter_unknown_period",
        doc("sees_negative", kk, [WV], "cenc", ["VIDEO", "AUDIO"], [(f"keyPeriod_{uid()}", 0)],
            rule_periods=[f"keyPeriod_{uid()}"] * 2), "ours",
        "KeyPeriodFilter@periodId not in ContentKeyPeriodList (the suite's live shared_video file has this too)")
    neg("negative_duplicate_intended_track_type", doc("sees_negative", k2(), [WV], "cenc", ["VIDEO", "VIDEO"], None),
        "ours", "intendedTrackType must be unique in an encryption contract")
    neg("negative_invalid_kid",
        doc("sees_negative", ["not-a-uuid", uid()], [WV], "cenc", ["VIDEO", "AUDIO"], None), "ours", "kid not a UUID")
    neg("negative_not_xml", "this is not <xml", "ours", "body is not XML")
    (OUT / "cases.json").write_text(json.dumps(CASES, indent=1) + "\n")
    print(f"wrote {len(CASES)} cases to {OUT}")


if __name__ == "__main__":
    main()
