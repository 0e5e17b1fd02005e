# Sourced by bench/soak, bench/overload and bench/pg-kill: the ExpressPlay simulator as a process of its
# own and `sees serve --dev` (SQLite unless SEES__STORE__URL is given; the seeded free package `demo-free`
# holding `demo-content`: every request below is a full allowed SEES answer — catalogue decision, cached
# key, simulator token) in a temporary directory on free ports, and an oha load function for it.
#
#   need_oha                    installs oha (cargo) when missing
#   dev_start [ENV=VALUE ...]   builds sees (DEV_PROFILE: release, the default, or debug); sets WORK,
#                               BIN, SEES_PORT, ADMIN_PORT, OPS_PORT, SIM_PORT, SIM_PID, PID (the sees
#                               process itself); extra settings go to sees's environment
#   load [OHA ARGS ...]         oha on the allowed path with the dev client certificate, JSON on stdout
#   field FILE EXPR             a Python expression over the JSON file FILE (as `d`)
#   rss PID                     VmRSS of PID in KiB
#   dev_stop                    stops both processes, removes WORK and calls `on_dev_stop` when the
#                               caller defines it (the EXIT trap calls it)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

need_oha() { command -v oha >/dev/null 2>&1 || cargo install oha --locked; }

dev_start() {
    local profile=${DEV_PROFILE:-release}
    if [ "$profile" = release ]; then cargo build --release --quiet --bin sees; else cargo build --quiet --bin sees; fi
    BIN=$PWD/target/$profile/sees
    WORK=$(mktemp -d /tmp/sees-bench-dev.XXXXXX)
    SEES_PORT=$(free_port); ADMIN_PORT=$(free_port); OPS_PORT=$(free_port); SIM_PORT=$(free_port)
    local authenticator=4242,0123456789abcdef0123456789abcdef
    trap dev_stop EXIT
    "$BIN" expressplay-sim --listen "127.0.0.1:$SIM_PORT" --authenticator "$authenticator" >"$WORK/sim.log" 2>&1 &
    SIM_PID=$!
    (cd "$WORK" && exec env SEES__SERVER__LISTEN=127.0.0.1:$SEES_PORT SEES__ADMIN__LISTEN=127.0.0.1:$ADMIN_PORT \
        SEES__OPS__LISTEN=127.0.0.1:$OPS_PORT \
        SEES__EXPRESSPLAY__TOKEN_URL=http://127.0.0.1:$SIM_PORT/hms/fp/token \
        SEES__EXPRESSPLAY__RECORD_URL=http://127.0.0.1:$SIM_PORT/cmiapi/getrecord/ \
        SEES__EXPRESSPLAY__CUSTOMER_AUTHENTICATOR=$authenticator \
        "$@" "$BIN" serve --dev >"$WORK/server.log" 2>&1) &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        curl -fsS "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null || { cat "$WORK/server.log"; exit 1; }
    # The server runs as a child of the subshell: find the sees process itself.
    PID=$(pgrep -f "$BIN serve --dev" | head -1)
}

dev_stop() {
    # A child ended by SIGTERM waits with status 143: not a failure of the run.
    if [ -n "${SERVER_PID:-}" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ -n "${SIM_PID:-}" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    if [ -n "${WORK:-}" ] && [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; fi
    if declare -F on_dev_stop >/dev/null; then on_dev_stop; fi
}

BODY='{"messageID":"6f3cd031-a372-4d6e-87f0-bb0a1501b9fd","version":1,"contentID":"demo-content"}'
load() {
    oha --no-tui --output-format json --cacert "$WORK/certs/ca.pem" --cert "$WORK/certs/client.pem" \
        --key "$WORK/certs/client.key" -m POST -T application/json -d "$BODY" "$@" \
        "https://localhost:$SEES_PORT/sees/v1/entitlement"
}

field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
