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
