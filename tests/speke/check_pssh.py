#!/usr/bin/env python3
"""Check DRM signalling (PSSH boxes, PlayReady Objects, HLS data: URIs, DASH ContentProtectionData)
independently of our Rust code: boxes are parsed with pymp4's Box parser, Widevine init data with a
tiny protobuf reader, PlayReady Objects/WRMHEADER (v4.0-4.3) with struct + xml.etree.

  target/pymp4-venv/bin/python tests/speke/check_pssh.py '{"system_id": "...", "kids": ["uuid", ...], ...}'
  echo '{...}' | target/pymp4-venv/bin/python tests/speke/check_pssh.py
  target/pymp4-venv/bin/python tests/speke/check_pssh.py --make widevine|playready KID... [--la-url URL]
      (prints a base64 pssh box built with pymp4, for test vectors)
  target/pymp4-venv/bin/python tests/speke/check_pssh.py --cpix ANSWER.xml [LA_URL]
      (checks every Widevine/PlayReady/FairPlay DRMSystem of a CPIX answer against its kid/systemId
       and its ContentKey's commonEncryptionScheme: PSSH, ContentProtectionData, both HLSSignalingData)
  target/pymp4-venv/bin/python tests/speke/check_pssh.py --selftest

JSON keys: kids (required), system_id (required unless only "pro"), and at least one of
  pssh   base64 PSSH box            pro  base64 PlayReady Object (mspr:pro)
  hls    data: URI or a whole #EXT-X-KEY / #EXT-X-SESSION-KEY line
  cpd    base64 cpix:ContentProtectionData (must hold namespace-declared cenc:pssh [+ mspr:pro])
optional: la_url (PlayReady LA_URL), scheme (cenc|cbcs: Widevine protection_scheme, PlayReady ALGID).
Prints one "ok ..." line per checked item; exits 1 with "FAIL ..." on the first mismatch.
"""
import base64, json, re, struct, sys, uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape
from pymp4.parser import Box

WIDEVINE = uuid.UUID("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")
PLAYREADY = uuid.UUID("9a04f079-9840-4286-ab92-e65be0885f95")
PR_NS = "{http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader}"
FOURCC = {"cenc": 0x63656E63, "cbcs": 0x63626373, "cens": 0x63656E73, "cbc1": 0x63626331}
ALGID = {"cenc": "AESCTR", "cbcs": "AESCBC"}


class Fail(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def varint(buf, i):
    val = shift = 0
    while True:
        expect(i < len(buf), "truncated protobuf varint")
        b = buf[i]; i += 1
        val |= (b & 0x7F) << shift; shift += 7
        if not b & 0x80:
            return val, i


def protobuf_fields(buf):
    """Yield (field_number, value) of a protobuf message (wire types 0, 1, 2, 5)."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            val, i = buf[i:i + n], i + n
            expect(len(val) == n, "truncated protobuf field")
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            val, i = buf[i:i + n], i + n
        else:
            raise Fail(f"protobuf wire type {wire} not supported")
        yield field, val


def check_widevine_data(data, job):
    fields = list(protobuf_fields(data))
    kids = {uuid.UUID(bytes=v) for f, v in fields if f == 2 and len(v) == 16}
    expect(kids == job["kids"], f"Widevine key_id {sorted(map(str, kids))} != expected {sorted(map(str, job['kids']))}")
    scheme = [v for f, v in fields if f == 9]
    if job.get("scheme") and scheme:
        expect(scheme[0] == FOURCC[job["scheme"]], f"Widevine protection_scheme {scheme[0]:#x} != {job['scheme']}")
    return f"widevine key_ids={len(kids)}" + (f" protection_scheme={scheme[0]:#x}" if scheme else "")


def check_pro(pro, job):
    expect(len(pro) >= 6, "PlayReady Object too short")
    total, count = struct.unpack_from("<IH", pro)
    expect(total == len(pro), f"PlayReady Object length field {total} != actual {len(pro)}")
    i, headers = 6, []
    for _ in range(count):
        rtype, rlen = struct.unpack_from("<HH", pro, i)
        if rtype == 1:
            headers.append(pro[i + 4:i + 4 + rlen].decode("utf-16-le"))
        i += 4 + rlen
    expect(i == len(pro), "PlayReady Object records do not fill the object")
    expect(len(headers) == 1, f"expected 1 WRMHEADER record, found {len(headers)}")
    root = ET.fromstring(headers[0])
    expect(root.tag == PR_NS + "WRMHEADER", f"root is {root.tag}, not WRMHEADER")
    version = root.get("version")
    data = root.find(PR_NS + "DATA")
    expect(data is not None, "WRMHEADER has no DATA")
    if version == "4.0.0.0":
        kid_vals = [e.text for e in data.findall(PR_NS + "KID")]
        algids = [e.text for e in data.findall(f"{PR_NS}PROTECTINFO/{PR_NS}ALGID")]
    else:
        els = data.findall(f"{PR_NS}PROTECTINFO/{PR_NS}KID") + data.findall(f"{PR_NS}PROTECTINFO/{PR_NS}KIDS/{PR_NS}KID")
        kid_vals, algids = [e.get("VALUE") for e in els], [e.get("ALGID") for e in els if e.get("ALGID")]
    expect(kid_vals and all(kid_vals), f"no KID in WRMHEADER v{version}")
    kids = {uuid.UUID(bytes_le=base64.b64decode(v)) for v in kid_vals}  # GUID byte order
    expect(kids == job["kids"], f"PlayReady KID {sorted(map(str, kids))} != expected {sorted(map(str, job['kids']))}")
    la = data.findtext(PR_NS + "LA_URL")
    if job.get("la_url") is not None:
        expect(la == job["la_url"], f"LA_URL {la!r} != expected {job['la_url']!r}")
    if job.get("scheme") in ALGID and algids:
        expect(all(a == ALGID[job["scheme"]] for a in algids), f"ALGID {algids} does not match {job['scheme']}")
    return f"playready WRMHEADER v{version} kids={len(kids)} la_url={la!r} algid={algids}"


def check_box(raw, job):
    try:
        box = Box.parse(raw)
    except Exception as e:
        raise Fail(f"pymp4 cannot parse box: {e}")
    expect(box.type == b"pssh", f"box type {box.type!r} is not pssh")
    expect(box.end == len(raw), f"{len(raw) - box.end} trailing bytes after the pssh box")
    sid = box.system_ID
    expect(sid == job["system_id"], f"systemID {sid} != expected {job['system_id']}")
    if box.version == 1:
        box_kids = set(box.key_IDs or [])
        expect(box_kids == job["kids"], f"pssh v1 KIDs {sorted(map(str, box_kids))} != expected")
    if sid == WIDEVINE:
        detail = check_widevine_data(box.init_data, job)
    elif sid == PLAYREADY:
        detail = check_pro(box.init_data, job)
    else:
        detail = f"data={len(box.init_data)} bytes (not inspected)"
    return f"pssh v{box.version} system={sid} {detail}"


def check_b64_payload(raw, job):
    """A data: URI payload is either a pssh box (Widevine) or a PlayReady Object."""
    if raw[4:8] == b"pssh":
        return check_box(raw, job)
    return check_pro(raw, job)


def check_hls(text, job):
    m = re.search(r'URI="([^"]+)"', text)
    uri = m.group(1) if m else text.strip()
    expect(uri.startswith("data:") and ";base64," in uri, f"not a base64 data: URI: {uri[:60]!r}")
    return "hls " + check_b64_payload(base64.b64decode(uri.split(";base64,", 1)[1]), job)


def check_cpd(b64, job):
    xml = base64.b64decode(b64).decode("utf-8")
    try:  # same wrapping as the SPEKE v2 suite: every element must declare its own namespace
        root = ET.fromstring(f"<cpd>{xml}</cpd>")
    except ET.ParseError as e:
        raise Fail(f"ContentProtectionData is not standalone namespace-declared XML: {e}")
    pssh = root.findall("{urn:mpeg:cenc:2013}pssh")
    expect(len(pssh) == 1, f"expected exactly one cenc:pssh in ContentProtectionData, found {len(pssh)}")
    out = ["cpd cenc:pssh " + check_box(base64.b64decode(pssh[0].text), job)]
    if job.get("pssh"):
        expect(pssh[0].text == job["pssh"], "cenc:pssh text differs from the PSSH element")
    for pro in root.findall("{urn:microsoft:playready}pro"):
        out.append("cpd mspr:pro " + check_pro(base64.b64decode(pro.text), job))
    return "; ".join(out)


def run(job):
    job = dict(job)
    expect(job.get("kids"), "kids is required")
    job["kids"] = {uuid.UUID(k) for k in job["kids"]}
    job["system_id"] = uuid.UUID(job["system_id"]) if job.get("system_id") else PLAYREADY
    checks = [("pssh", lambda v: check_box(base64.b64decode(v), job)),
              ("pro", lambda v: check_pro(base64.b64decode(v), job)),
              ("hls", lambda v: check_hls(v, job)), ("cpd", lambda v: check_cpd(v, job))]
    done = [f"ok {name}: {fn(job[name])}" for name, fn in checks if job.get(name)]
    expect(done, "nothing to check: give pssh, pro, hls or cpd")
    return done


def check_cpix(path, la_url=None):
    C = "{urn:dashif:org:cpix}"
    root, out = ET.parse(path).getroot(), []
    schemes = {k.get("kid"): k.get("commonEncryptionScheme") for k in root.iter(C + "ContentKey")}
    for d in root.iter(C + "DRMSystem"):
        kid, sid = d.get("kid"), uuid.UUID(d.get("systemId"))
        hls = {h.get("playlist"): base64.b64decode(h.text or "").decode() for h in d.findall(C + "HLSSignalingData")}
        media, master, a, b = hls.get("media", ""), hls.get("master", ""), {}, {}
        if "media" in hls or "master" in hls:  # the suite's m3u8 checks
            expect(media.startswith("#EXT-X-KEY:") and master.startswith("#EXT-X-SESSION-KEY:METHOD="),
                   f"{sid}/{kid}: HLSSignalingData must be '#EXT-X-KEY:...' (media) and '#EXT-X-SESSION-KEY:METHOD=...' (master)")
            attrs = lambda t: dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,\s]*)', t.split(":", 1)[1]))
            a, b = attrs(media), attrs(master)
            expect(all(a.get(x) == b.get(x) for x in ("METHOD", "KEYFORMAT", "KEYFORMATVERSIONS")),
                   f"{sid}/{kid}: METHOD/KEYFORMAT/KEYFORMATVERSIONS differ between media and master")
        job = {"kids": [kid], "system_id": str(sid), "la_url": la_url, "scheme": schemes.get(kid)}
        if sid in (WIDEVINE, PLAYREADY):
            job.update(pssh=d.findtext(C + "PSSH"), cpd=d.findtext(C + "ContentProtectionData"))
            if sid == WIDEVINE and job["cpd"]:  # the suite parses Widevine CPD as one XML element
                try:
                    ET.fromstring(base64.b64decode(job["cpd"]))
                except ET.ParseError as e:
                    raise Fail(f"Widevine {kid}: ContentProtectionData must be a single XML element: {e}")
            out += [f"{kid} {line}" for line in run(job)]
            out += [f"{kid} {line}" for t in (media, master) if t for line in run(dict(job, pssh=None, cpd=None, hls=t))]
        elif str(sid) == "94ce86fb-07ff-4f43-adb8-93d2fa968ca2":
            expect(d.find(C + "ContentProtectionData") is None, f"FairPlay {kid}: no ContentProtectionData expected")
            expect(not (d.findtext(C + "PSSH") or "").strip(), f"FairPlay {kid}: PSSH must be absent or empty")
            expect(a.get("KEYFORMAT") == '"com.apple.streamingkeydelivery"' and a.get("METHOD") == "SAMPLE-AES"
                   and a.get("URI") == b.get("URI") and a.get("URI", "").startswith('"skd://'),
                   f"FairPlay {kid}: want METHOD=SAMPLE-AES, KEYFORMAT com.apple.streamingkeydelivery, same skd:// URI")
            out.append(f"{kid} ok fairplay: URI={a['URI']}")
        else:
            out.append(f"{kid} skipped systemId {sid}")
    expect(out, "no DRMSystem found")
    return out


# ---- test-vector builders (used by --make and --selftest) ----
def widevine_box(kids, version=0, scheme=None):
    data = b"".join(b"\x12\x10" + k.bytes for k in kids)
    if scheme:
        data += b"\x48" + bytes(_varint_bytes(FOURCC[scheme]))
    return Box.build(dict(type=b"pssh", version=version, flags=0, system_ID=WIDEVINE,
                          key_IDs=kids if version == 1 else None, init_data=data))


def _varint_bytes(n):
    while True:
        b, n = n & 0x7F, n >> 7
        yield b | (0x80 if n else 0)
        if not n:
            return


def playready_pro(kids, la_url=None, version="4.0.0.0", algid="AESCTR"):
    b64 = [base64.b64encode(k.bytes_le).decode() for k in kids]
    la = f"<LA_URL>{xml_escape(la_url)}</LA_URL>" if la_url else ""
    if version == "4.0.0.0":
        inner = f"<PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>{algid}</ALGID></PROTECTINFO><KID>{b64[0]}</KID>"
    elif version == "4.1.0.0":
        inner = f'<PROTECTINFO><KID ALGID="{algid}" VALUE="{b64[0]}"></KID></PROTECTINFO>'
    else:
        inner = "<PROTECTINFO><KIDS>" + "".join(f'<KID ALGID="{algid}" VALUE="{v}"></KID>' for v in b64) + "</KIDS></PROTECTINFO>"
    xml = (f'<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="{version}">'
           f"<DATA>{inner}{la}</DATA></WRMHEADER>").encode("utf-16-le")
    return struct.pack("<IHHH", 10 + len(xml), 1, 1, len(xml)) + xml


def playready_box(kids, la_url=None, version="4.0.0.0", box_version=0):
    return Box.build(dict(type=b"pssh", version=box_version, flags=0, system_ID=PLAYREADY,
                          key_IDs=kids if box_version == 1 else None, init_data=playready_pro(kids, la_url, version)))


def selftest():
    b64 = lambda b: base64.b64encode(b).decode()
    k1, k2, other = uuid.UUID("6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"), uuid.uuid4(), uuid.uuid4()
    la = "https://license.example/rightsmanager.asmx?cid=abc&x=1"
    wv1, pr1 = b64(widevine_box([k1], scheme="cbcs")), b64(playready_box([k1], la))
    cpd_pr = b64(f'<cenc:pssh xmlns:cenc="urn:mpeg:cenc:2013">{pr1}</cenc:pssh>'
                 f'<mspr:pro xmlns:mspr="urn:microsoft:playready">{b64(playready_pro([k1], la))}</mspr:pro>'.encode())
    W, P, K = str(WIDEVINE), str(PLAYREADY), [str(k1)]
    good = [
        dict(system_id=W, kids=K, pssh=wv1, scheme="cbcs"),
        dict(system_id=W, kids=[str(k1), str(k2)], pssh=b64(widevine_box([k1, k2], version=1))),
        dict(system_id=W, kids=K, hls=f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,{wv1}",'
                                      'KEYFORMAT="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",KEYFORMATVERSIONS="1"'),
        dict(system_id=W, kids=K, pssh=wv1, cpd=b64(f'<cenc:pssh xmlns:cenc="urn:mpeg:cenc:2013">{wv1}</cenc:pssh>'.encode())),
        dict(system_id=P, kids=K, pssh=pr1, la_url=la, scheme="cenc"),
        dict(system_id=P, kids=K, pssh=b64(playready_box([k1], la, "4.1.0.0", box_version=1)), la_url=la),
        dict(kids=[str(k1), str(k2)], pro=b64(playready_pro([k1, k2], None, "4.3.0.0", "AESCBC")), scheme="cbcs"),
        dict(system_id=P, kids=K, hls=f"data:text/plain;charset=UTF-16;base64,{b64(playready_pro([k1], la))}"),
        dict(system_id=P, kids=K, pssh=pr1, cpd=cpd_pr, la_url=la),
    ]
    bad = [
        dict(system_id=W, kids=[str(other)], pssh=wv1),                      # wrong KID
        dict(system_id=P, kids=K, pssh=wv1),                                 # wrong system ID
        dict(system_id=W, kids=K, pssh=wv1, scheme="cenc"),                  # wrong protection_scheme
        dict(system_id=W, kids=K, pssh=b64(base64.b64decode(wv1)[:-3])),     # truncated box
        dict(system_id=W, kids=K, pssh=b64(base64.b64decode(wv1) + b"\0")),  # trailing garbage
        dict(system_id=W, kids=K, pssh=b64(b"\0\0\0\x08free")),              # not a pssh box
        dict(system_id=P, kids=K, pssh=pr1, la_url="https://other/"),        # wrong LA_URL
        dict(system_id=P, kids=[str(k1)], pro=b64(playready_pro([k1], None, "4.0.0.0"))[:-4] + "AAAA"),  # corrupt
        dict(system_id=P, kids=K, pssh=pr1, cpd=b64(f"<cenc:pssh>{pr1}</cenc:pssh>".encode())),  # unbound prefix
        dict(system_id=W, kids=K, pssh=wv1, cpd=b64(f'<cenc:pssh xmlns:cenc="urn:mpeg:cenc:2013">{pr1}</cenc:pssh>'.encode())),
    ]
    for job in good:
        print("\n".join(run(job)))
    for job in bad:
        try:
            run(job)
        except Exception as e:  # Fail, or a decoding error on corrupt input
            print(f"rejected as expected: {type(e).__name__}: {e}")
        else:
            raise Fail(f"selftest: bad vector accepted: {job}")
    print(f"selftest passed: {len(good)} good vectors accepted, {len(bad)} bad vectors rejected")


def main(argv):
    if argv[:1] == ["--selftest"]:
        return selftest()
    if argv[:1] == ["--cpix"]:
        return print("\n".join(check_cpix(argv[1], argv[2] if len(argv) > 2 else None)))
    if argv[:1] == ["--make"]:
        la = argv[argv.index("--la-url") + 1] if "--la-url" in argv else None
        kids = [uuid.UUID(a) for a in argv[2:] if a not in ("--la-url", la)]
        box = widevine_box(kids) if argv[1] == "widevine" else playready_box(kids, la)
        return print(base64.b64encode(box).decode())
    job = json.loads(argv[0] if argv else sys.stdin.read())
    print("\n".join(run(job)))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Fail as e:
        sys.exit(f"FAIL {e}")
    except Exception as e:
        sys.exit(f"FAIL {type(e).__name__}: {e}")
