#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from inputs the tests use.

Run from the repository root. RS256 seeds need the private half of fuzz/keys/rs256_public.pem in
SEES_FUZZ_RS256_KEY (a PEM file); that key was not kept, so without it the RS256 seeds stay as they are.
"""
import base64, hashlib, hmac, json, os, re, subprocess

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
NOW = 1_800_000_000
HS_SECRET = b"fuzz-only-hs256-secret-not-used-anywhere-else"
HS_ISS, RS_ISS, AUD = "https://hs.fuzz.invalid", "https://rs.fuzz.invalid", "sees-fuzz"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def raw_strings(path, must):
    text = open(path).read()
    for m in re.finditer(r'r#"(.*?)"#', text, re.S):
        if must in m.group(1):
            yield m.group(1)


# SEES requests: the wire unit tests' and the end-to-end tests' raw bodies, and a few built here.
for path in ["src/sees/wire.rs"] + [os.path.join("tests", f) for f in sorted(os.listdir("tests")) if f.endswith(".rs")]:
    for body in raw_strings(path, "messageID"):
        if "{}" not in body:
            put("sees_request", body)
for rt in (1, 2, 3):
    put("sees_request", json.dumps({"messageID": "m-%d" % rt, "version": 1, "requestType": rt,
                                    "contentID": "c-1", "customerCookie": "abc"}))
put("sees_request", '{"messageID":"m","version":"1","contentID":"c","customerCookie":""}')

# Admin bodies: first byte = BodyKind index (src/admin/fuzzing.rs).
K = dict(package_create=0, package_update=1, package_assets=2, monetization=3, session=4,
         plan=5, product=6, grant=7, ent_token=8, playback=9)
admin = [
    ("package_create", {"package": {"id": "argentina", "name": "Argentina Test", "description": "Line one\nline two\twith a tab\r\n",
                                    "assetIDs": ["a1", "a2"], "billingPlanIDs": ["616ARS-Monthly-FreeTrial"], "regionWhitelist": ["AR", "CL"],
                                    "customData": {"k": "v"}}}),
    ("package_create", {"package": {"id": "free", "name": "Free", "description": "", "assetIDs": ["a1"], "bypassEntitlementCheck": True}}),
    ("package_update", {"package": {"id": "argentina", "name": "New", "assetIDs": ["a3"], "regionWhitelist": []}}),
    ("package_assets", {"packageIDs": ["p1", "p2"], "assetIDs": ["a1", "a2", "a1"]}),
    ("monetization", {"offer_id": "p1", "project_id": "proj-1", "user_id": "alice", "concurrency_limit": "3",
                      "concurrency_policy": "evict-oldest", "expiration_time": "2030-02-01T01:00:00Z",
                      "origin_country_code": "de", "source_id": "s", "source_type": "t"}),
    ("session", {"uid": "alice", "deviceID": "dev-1:abc+/=", "country": "de", "ttlSeconds": 3600}),
    ("plan", {"billingPlan": {"id": "TESTBP_2776", "description": "s111111111111111", "recurrence": "1y",
                              "prices": {"Amazon": {"CAD": 0.02}, "Apple": {"CAD": 1.49, "USD": 3.99}},
                              "trialperiod": {"cycleLength": "3d", "cycles": 1}, "customData": {}}}),
    ("product", {"product": {"packageID": "p1", "billingPlanID": "bp", "name": {"en": "p1 via bp"}}}),
    ("grant", {"entitlement": {"packageID": "p1", "uid": "alice", "startDate": "2030-01-01T00:00:00Z", "endDate": "2031-01-01T00:00:00Z"}}),
    ("ent_token", {"entitlementToken": "a.b.c", "provider": "acme"}),
    ("playback", {"assetID": "a1", "playback_url": "https://cdn.example/v/a1/master.m3u8", "deviceID": "d1",
                  "capabilities": {"widevineSecurityLevel": "L1"}}),
]
for kind, body in admin:
    put("admin_body", bytes([K[kind]]) + json.dumps(body).encode())
put("admin_body", bytes([0]) + b"[1,2]")
put("admin_body", bytes([4]) + b'{"uid":"alice","extra":1}')

# ExpressPlay token and error answers (even first byte = token, odd = error; see fuzz/src/lib.rs).
put("expressplay_token", b"\x00https://fp.service.expressplay.com/hms/fp/rights/?ExpressPlayToken=AAAA\n")
put("expressplay_token", b"\x00# comment\n\nhttp://x/y\n")
put("expressplay_token", b"\x00ftp://x/y")
put("expressplay_token", b'\x01{"errorCode":-2024,"errorText":"bad FUZZAUTH0123456789abcdef"}')
put("expressplay_token", b'\x01{"error":{"code":"-3001","message":"denied"}}')
put("expressplay_token", b"\x03<html><title>T</title><body><h1>Error -2010</h1>nope</body></html>")
put("expressplay_token", b"\x05Bad gateway -1234")

# Record answers.
for body in raw_strings("src/expressplay/records.rs", "{"):
    put("expressplay_records", body)
put("expressplay_records", '{"records":[{"cookie":"fuzz-cookie","deviceId":"dev-1"},{"cookie":"other","deviceId":"dev-2"}]}')
put("expressplay_records", '{"records":[{"cookie":"fuzz-cookie","deviceId":"a"},{"cookie":"fuzz-cookie","deviceId":"b"}]}')

# Key import files (even first byte = JSONL, odd = CSV).
KEY, IV = "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100"
put("key_import", b"\x00" + ('{"content_id":"a","key":"%s","iv":"%s"}\n\n{"content_id":"b","key":"%s","iv":"%s","token_lifetime":"+60","rental_duration_s":30,"asset_id":"x"}\n' % (KEY, IV, KEY, IV)).encode())
put("key_import", b"\x01" + ('content_id,key,iv,rental_duration_s\na,%s,%s,\n"b,c",%s,%s,10\n' % (KEY, IV, KEY, IV)).encode())
put("key_import", b"\x01" + ('content_id,key,iv,asset_id,token_lifetime\na,%s,%s,as1,2030-01-01T00:00:00Z\n' % (KEY, IV)).encode())

# JWTs: odd first byte = header\npayload signed here; even = the token as sent.
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def claims(iss, **extra):
    c = {"iss": iss, "aud": AUD, "sub": "alice", "iat": NOW - 10, "exp": NOW + 600, "jti": "j-1",
         "entitlements": [{"packageID": "p1", "startDate": "2030-01-01T00:00:00Z", "endDate": "2031-01-01T00:00:00Z"}]}
    c.update(extra)
    return json.dumps(c).encode()


def hs_token(payload, header=b'{"alg":"HS256","typ":"JWT"}'):
    signing = b64(header) + "." + b64(payload)
    return signing + "." + b64(hmac.new(HS_SECRET, signing.encode(), hashlib.sha256).digest())


put("jwt", b"\x01" + b'{"alg":"HS256","typ":"JWT"}\n' + claims(HS_ISS))
put("jwt", b"\x01" + b'{"alg":"HS256"}\n' + claims(HS_ISS, aud=[AUD, "x"], nbf=NOW - 5))
put("jwt", b"\x01" + b'{"alg":"none"}\n' + claims(HS_ISS))
put("jwt", b"\x00" + hs_token(claims(HS_ISS)).encode())
put("jwt", b"\x00" + hs_token(claims(HS_ISS, exp=NOW - 1000)).encode())
put("jwt", b"\x00not.a.jwt")
key = os.environ.get("SEES_FUZZ_RS256_KEY")
if key:
    signing = b64(b'{"alg":"RS256","typ":"JWT"}') + "." + b64(claims(RS_ISS))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         capture_output=True, check=True).stdout
    put("jwt", b"\x00" + (signing + "." + b64(sig)).encode())

# CPIX / SPEKE v2 (src/cpix): a representative set of the SPEKE test documents (positive and negative),
# the hand-made answer, and hostile documents built here. Key documents: files as write_key_document
# writes them (tests/e2e/fuzz_corpus.rs checks one is byte-for-byte the crate's output), and broken ones.
SPEKE = "tests/data/speke"
for name in ["generic_dash_widevine_video_1_audio_1", "preset_video_1_audio_1_fairplay",
             "preset_video_1_audio_1_widevine_playready_fairplay", "preset_video_2_audio_unencrypted_playready",
             "preset_video_3_audio_2_widevine_playready_fairplay", "preset_shared_widevine",
             "vod_preset_shared_widevine", "ext_drm_children_aws_doc_order", "ext_explicit_iv_fairplay",
             "ext_key_period_index_nonzero", "ext_two_key_periods", "ext_preset_shared_widevine_playready_fairplay",
             "negative_fairplay_cenc", "negative_mixed_encryption_schemes", "negative_invalid_kid",
             "negative_unknown_system_id", "negative_missing_filters", "negative_wrong_version",
             "negative_duplicate_intended_track_type", "negative_key_period_filter_unknown_period",
             "negative_drm_system_kid_not_in_key_list", "negative_not_xml"]:
    put("cpix_request", open(os.path.join(SPEKE, name + ".xml"), "rb").read())
VALID_ANSWER = open(os.path.join(SPEKE, "answers", "valid_answer.xml"), "rb").read()
put("cpix_request", VALID_ANSWER)  # carries key values: refused as a request

NS = 'xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"'
KA, KB = "6f1d2c3b-4a59-4877-8695-041322314050", "0a0b0c0d-0e0f-1011-1213-141516171819"
WV, PR, FP = ("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed", "9a04f079-9840-4286-ab92-e65be0885f95",
              "94ce86fb-07ff-4f43-adb8-93d2fa968ca2")


def speke(content_id="fuzz&amp;&quot;id&quot;", version="2.3", scheme="cbcs", keys_extra="", drm=None,
          rules=None, periods="", head='<?xml version="1.0" encoding="UTF-8"?>\n', root_extra=""):
    """A small SPEKE v2 request (two keys, Widevine + PlayReady + FairPlay) with pieces replaceable."""
    if drm is None:
        drm = "".join(
            '<cpix:DRMSystem kid="%s" systemId="%s">%s</cpix:DRMSystem>' % (kid, sid, kids)
            for kid in (KA, KB)
            for sid, kids in ((WV, '<cpix:PSSH/><cpix:ContentProtectionData/><cpix:HLSSignalingData playlist="media"/>'),
                              (PR, '<cpix:PSSH/><cpix:ContentProtectionData/><cpix:HLSSignalingData playlist="master"/>'
                                   '<cpix:SmoothStreamingProtectionHeaderData/>'),
                              (FP, '<cpix:HLSSignalingData playlist="media"/><cpix:HLSSignalingData playlist="master"/>')))
    if rules is None:
        rules = ('<cpix:ContentKeyUsageRule kid="%s" intendedTrackType="VIDEO"><cpix:VideoFilter/></cpix:ContentKeyUsageRule>'
                 '<cpix:ContentKeyUsageRule kid="%s" intendedTrackType="AUDIO"><cpix:AudioFilter/></cpix:ContentKeyUsageRule>'
                 % (KA, KB))
    return (head + '<cpix:CPIX contentId="%s" version="%s" %s%s>' % (content_id, version, NS, root_extra)
            + '<cpix:ContentKeyList><cpix:ContentKey kid="%s" commonEncryptionScheme="%s"%s/>'
              '<cpix:ContentKey kid="%s" commonEncryptionScheme="%s"/></cpix:ContentKeyList>' % (KA, scheme, keys_extra, KB, scheme)
            + "<cpix:DRMSystemList>%s</cpix:DRMSystemList>" % drm + periods
            + "<cpix:ContentKeyUsageRuleList>%s</cpix:ContentKeyUsageRuleList></cpix:CPIX>" % rules)


put("cpix_request", speke())
put("cpix_request", speke(version="2.4", scheme="cenc", drm=(
    '<cpix:DRMSystem kid="%s" systemId="%s"><cpix:PSSH/></cpix:DRMSystem>'
    '<cpix:DRMSystem kid="%s" systemId="%s"><cpix:ContentProtectionData/></cpix:DRMSystem>' % (KA, WV.upper(), KB, PR))))
# Periods, and usage rules carrying what the answer must echo unchanged: comments, CDATA, character
# references in attributes, xml:lang, foreign namespaces (one under the prefix the writer makes up).
put("cpix_request", speke(
    periods='<cpix:ContentKeyPeriodList><cpix:ContentKeyPeriod id="p0" index="0"/><!-- c -->'
            '<cpix:ContentKeyPeriod id="p&amp;1" start="PT0S" end="PT60S"/></cpix:ContentKeyPeriodList>',
    rules=('<cpix:ContentKeyUsageRule kid="%s" intendedTrackType="VIDEO" xml:lang="en" a="tab&#9;nl&#10;cr&#13;&lt;&quot;"'
           ' xmlns:ns1="urn:fuzz:one" xmlns:x="urn:fuzz:two" ns1:q="1" x:q="2"><cpix:KeyPeriodFilter periodId="p&amp;1"/>'
           '<cpix:VideoFilter minPixels="0" maxPixels="8847360"><x:ext ns1:k="v">te<!--gap-->xt<![CDATA[<&>]]>'
           '<?pi data?><ns1:deeper xmlns="urn:fuzz:default"><plain attr=" sp  aces "/></ns1:deeper></x:ext></cpix:VideoFilter>'
           '</cpix:ContentKeyUsageRule>'
           '<cpix:ContentKeyUsageRule kid="%s" intendedTrackType="AUDIO"><cpix:KeyPeriodFilter periodId="p0"/>'
           '<cpix:AudioFilter/><cpix:VideoFilter/></cpix:ContentKeyUsageRule>' % (KA, KB))))
# The CPIX namespace as the default namespace; PSKC under another prefix; a cpix prefix rebound.
put("cpix_request", speke().replace("cpix:", "").replace("xmlns:cpix=", "xmlns=").replace("xmlns:pskc=", "xmlns:k="))
put("cpix_request", speke().replace('xmlns:cpix="urn:dashif:org:cpix"', 'xmlns:cpix="urn:dashif:org:cpix2"'))
put("cpix_request", speke(drm='<cpix:DRMSystem xmlns:cpix="urn:not:cpix" kid="%s" systemId="%s"/>' % (KA, WV)))
put("cpix_request", speke(rules='<c:ContentKeyUsageRule xmlns:c="urn:dashif:org:cpix" kid="%s" intendedTrackType="ALL">'
                                '<c:VideoFilter/><c:AudioFilter/></c:ContentKeyUsageRule>' % KA))
# Nesting: 32 levels in all (accepted and echoed), and one more (refused).
for levels in (28, 29):
    deep = "<n:d xmlns:n=\"urn:fuzz:deep\">" + "<n:d>" * (levels - 1) + "</n:d>" * levels
    put("cpix_request", speke(rules='<cpix:ContentKeyUsageRule kid="%s" intendedTrackType="VIDEO"><cpix:VideoFilter>%s'
                                    '</cpix:VideoFilter></cpix:ContentKeyUsageRule>' % (KA, deep)))
# DOCTYPE, internal entities (a small billion laughs) and an external entity: refused unexpanded.
put("cpix_request", speke(head='<?xml version="1.0"?>\n<!DOCTYPE cpix:CPIX [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
                               '<!ENTITY c "&b;&b;&b;&b;">]>\n', content_id="&c;"))
put("cpix_request", speke(head='<!DOCTYPE cpix:CPIX [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', content_id="&xxe;"))
# A huge attribute, text that is not UTF-8, UTF-16, a byte-order mark, an explicitIV, a key value.
put("cpix_request", speke(content_id="x" * 16384))
put("cpix_request", speke(content_id="caf\xe9").encode("latin-1"))
put("cpix_request", speke(head='<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16"))
put("cpix_request", "\ufeff" + speke(keys_extra=' explicitIV="ESIzRFVmd4iZqrvM3e7/AA=="'))
put("cpix_request", speke(scheme="cenc", keys_extra=' explicitIV="ESIzRFVmd4iZqrvM3e7/"'))
put("cpix_request", speke().replace('commonEncryptionScheme="cbcs"/>',
                                    'commonEncryptionScheme="cbcs"><cpix:Data><pskc:Secret><pskc:PlainValue>'
                                    'EjRWeJq83vASNFZ4mrze8A==</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>', 1))
# Refused structures: SPEKE v1 signalling, encrypted delivery, a signature.
put("cpix_request", speke(drm='<cpix:DRMSystem kid="%s" systemId="%s"><cpix:URIExtXKey/></cpix:DRMSystem>' % (KA, FP)))
put("cpix_request", speke(root_extra=' xmlns:ds="http://www.w3.org/2000/09/xmldsig#"').replace(
    "</cpix:CPIX>", "<cpix:DeliveryDataList/><ds:Signature/></cpix:CPIX>"))


def b64s(hex_text):
    return base64.b64encode(bytes.fromhex(hex_text)).decode()


def key_document(content_id, keys):
    """A key file exactly as write_key_document writes it (src/cpix/document.rs)."""
    out = '<?xml version="1.0" encoding="UTF-8"?>\n<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" ' \
          'xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"'
    if content_id:
        out += ' contentId="%s"' % content_id.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    out += ' version="2.3"><cpix:ContentKeyList>'
    for kid, cek, iv in keys:
        out += ('<cpix:ContentKey kid="%s" explicitIV="%s"><cpix:Data><pskc:Secret><pskc:PlainValue>%s'
                '</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>' % (kid, b64s(iv), b64s(cek)))
    return out + "</cpix:ContentKeyList></cpix:CPIX>"


DOC_KEYS = [(KA, "c0ffee00f022fa11c0ffee01f022fa11", "1f0e1d2c3b4a59687786950413223140"),
            (KB, "5ee5cb1c0de0000100020003d00df00d", "a5a5a5a55a5a5a5a0f0f0f0ff0f0f0f0")]
written = key_document('movie-42 & "friends"', DOC_KEYS)
put("cpix_document", written)
put("cpix_document", key_document("", DOC_KEYS[:1]))
put("cpix_document", VALID_ANSWER)
for name in ["generic_dash_widevine_video_1_audio_1", "negative_not_xml"]:
    put("cpix_document", open(os.path.join(SPEKE, name + ".xml"), "rb").read())
# Whitespace inside the base64, the default namespace, other prefixes, upper-case KIDs, comments.
put("cpix_document", written.replace("<pskc:PlainValue>", "<pskc:PlainValue>\n  ").replace("==</pskc", "=\n=\n</pskc")
    .replace(KA, KA.upper()).replace("<cpix:Data>", "<!-- k --><cpix:Data>"))
put("cpix_document", written.replace("cpix:", "").replace("xmlns:cpix=", "xmlns=").replace("pskc:", "k:")
    .replace("xmlns:pskc=", "xmlns:k="))
# Refused: no explicitIV, an encrypted value, encrypted delivery, a duplicate KID, bad base64, a
# 15-byte key, the wrong PSKC namespace, an unexpected element, no keys.
put("cpix_document", written.replace(' explicitIV="%s"' % b64s(DOC_KEYS[0][2]), "", 1))
put("cpix_document", written.replace("<pskc:PlainValue>%s</pskc:PlainValue>" % b64s(DOC_KEYS[0][1]),
                                     "<pskc:EncryptedValue><enc:CipherData xmlns:enc=\"http://www.w3.org/2001/04/xmlenc#\">"
                                     "<enc:CipherValue>AAAA</enc:CipherValue></enc:CipherData></pskc:EncryptedValue>", 1))
put("cpix_document", written.replace("</cpix:CPIX>", "<cpix:DeliveryDataList/></cpix:CPIX>"))
put("cpix_document", written.replace(KB, KA))
put("cpix_document", written.replace(b64s(DOC_KEYS[1][1]), "not base64 at all!"))
put("cpix_document", written.replace(b64s(DOC_KEYS[1][1]), base64.b64encode(b"\x01" * 15).decode()))
put("cpix_document", written.replace("urn:ietf:params:xml:ns:keyprov:pskc", "urn:ietf:params:xml:ns:keyprov:pskc2"))
put("cpix_document", written.replace("<cpix:ContentKeyList>", "<cpix:ContentKeyList><cpix:Other/>"))
put("cpix_document", key_document("empty", []))
# Hostile: DOCTYPE with entities, deep nesting, a huge attribute, not UTF-8.
put("cpix_document", '<!DOCTYPE cpix:CPIX [<!ENTITY k "%s">]>\n' % b64s(DOC_KEYS[0][1])
    + written.replace(b64s(DOC_KEYS[0][1]), "&k;"))
put("cpix_document", written.replace("<pskc:PlainValue>", "<pskc:PlainValue>" + "<x>" * 40 + "</x>" * 40, 1))
put("cpix_document", key_document("y" * 16384, DOC_KEYS[:1]))
put("cpix_document", key_document("caf\xe9", DOC_KEYS[:1]).encode("latin-1"))
