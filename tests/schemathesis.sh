#!/usr/bin/env bash
# API fuzzing: schemathesis against the admin API's OpenAPI document, served by a real `sees serve`.
#
#   bash tests/schemathesis.sh [--max-examples N] [--seed N] [extra schemathesis args…]
#
# Starts the `sees` binary (SEES_BIN, default target/debug/sees, the one `cargo test` built) on a
# temporary configuration (SQLite, fresh dev PKI and master key, every listener on a free port), makes
# an admin token with `sees tokens create`, seeds a small catalogue through the admin API (billing
# plans, packages with assets, a product, entitlements, a playback session, a content key) so that the
# fixed path parameters name real objects, then runs schemathesis on GET /openapi.json with the checks
# not_a_server_error, status_code_conformance, content_type_conformance and
# response_schema_conformance. Exit status: schemathesis's.
#
# schemathesis comes from PyPI into target/schemathesis-venv (pinned; installed when missing).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

MAX_EXAMPLES=25
SEED=20261122
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --max-examples) MAX_EXAMPLES=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        *) EXTRA+=("$1"); shift ;;
    esac
done

SCHEMATHESIS_VERSION=4.32.5
VENV=target/schemathesis-venv
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

SEES_BIN=${SEES_BIN:-target/debug/sees}
[ -x "$SEES_BIN" ] || cargo build --bin sees
SEES_BIN=$(realpath "$SEES_BIN")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sees-schemathesis.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$SEES_BIN" certs dev --out "$WORK/certs" >/dev/null
"$SEES_BIN" keys gen-master-key --out "$WORK/master.key" >/dev/null
cat >"$WORK/sees.toml" <<EOF
[server]
listen = "127.0.0.1:0"
[tls]
cert = "$WORK/certs/server.pem"
key = "$WORK/certs/server.key"
client_ca = "$WORK/certs/ca.pem"
[store]
url = "sqlite://$WORK/sees.db"
[keys]
master_key_file = "$WORK/master.key"
[expressplay]
# Never called: the admin API does not ask ExpressPlay.
token_url = "http://127.0.0.1:9/hms/fp/token"
record_url = "http://127.0.0.1:9/cmiapi/getrecord/"
customer_authenticator = "4242,0123456789abcdef0123456789abcdef"
[admin]
listen = "127.0.0.1:0"
[ops]
listen = "127.0.0.1:0"
[log]
level = "info"
EOF
export SEES_CONFIG="$WORK/sees.toml"
unset SEES_MASTER_KEY RUST_LOG

"$SEES_BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
ADMIN=""
for _ in $(seq 1 600); do
    ADMIN=$(sed -n 's/.*addr=\([0-9.:]*\).*admin listener ready.*/\1/p; s/.*admin listener ready.*addr=\([0-9.:]*\).*/\1/p' \
        "$WORK/serve.log" | head -1)
    [ -n "$ADMIN" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log"; echo "sees exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$ADMIN" ] || { cat "$WORK/serve.log"; echo "admin listener not ready" >&2; exit 1; }
BASE="http://$ADMIN"
echo "sees admin API on $BASE"

TOKEN=$("$SEES_BIN" tokens create --role admin --name schemathesis 2>/dev/null)

# admin METHOD PATH [BODY]: one admin call that must answer 2xx.
admin() {
    local status
    status=$(curl -sS -o "$WORK/answer.json" -w '%{http_code}' -X "$1" \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$BASE$2")
    case "$status" in
        2??) ;;
        *) echo "seeding: $1 $2 answered $status: $(cat "$WORK/answer.json")" >&2; return 1 ;;
    esac
}

# The catalogue the fixed path parameters below name.
admin POST /oem/v1/billingplans '{"billingPlan":{"id":"plan1","recurrence":"1M","prices":{"Vindicia":{"USD":1.11}}}}'
admin POST /oem/v1/billingplans '{"billingPlan":{"id":"plan2","recurrence":"1y"}}'
admin POST /oem/v1/user/packages '{"package":{"id":"gold","name":"Gold","description":"all","assetIDs":["a1","a2"],"billingPlanIDs":["plan1"]}}'
admin POST /oem/v1/user/packages '{"package":{"id":"silver","name":"Silver","description":"some","assetIDs":["a1"],"billingPlanIDs":[]}}'
admin PUT /oem/v1/packages/gold/child/silver
admin POST /oem/v1/products '{"product":{"packageID":"silver","billingPlanID":"plan2","name":{"en":"Silver yearly"}}}'
admin POST /oem/v1/admin/entitlements '{"entitlement":{"packageID":"gold","uid":"alice","startDate":"2020-01-01T00:00:00Z"}}'
"$SEES_BIN" keys add --content-id a1 --key 8c3f2a91d04b6e7f1a2b3c4d5e6f7081 \
    --iv f1e2d3c4b5a697887766554433221100 >/dev/null

# Path parameters that name the seeded objects (schemathesis still fuzzes bodies and queries).
cat >"$WORK/schemathesis.toml" <<EOF
[parameters]
"path.packageID" = "gold"
"path.parentID" = "gold"
"path.childID" = "silver"
"path.userid" = "alice"
"path.user_id" = "alice"
"path.assetID" = "a1"
"path.billingPlanID" = "plan1"
"path.productID" = "silver_plan2"
"path.offer_id" = "gold"
EOF

REPORT_DIR=$(realpath -m "${SCHEMATHESIS_REPORT_DIR:-target/schemathesis-report}")
set +e
# From the temp dir: schemathesis keeps a `.schemathesis/` cache in its working directory.
(cd "$WORK" && "$ROOT/$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run "$BASE/openapi.json" \
    --url "$BASE" \
    -H "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 1 \
    --phases examples,coverage,fuzzing \
    --output-sanitize true --no-color \
    --report junit --report-dir "$REPORT_DIR" \
    "${EXTRA[@]}")
rc=$?
set -e
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "sees died during the run:" >&2
    tail -50 "$WORK/serve.log" >&2
    exit 1
fi
exit "$rc"
