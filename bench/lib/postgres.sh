# Sourced by bench/run: a throwaway PostgreSQL server for the benchmark, started as .ci/run starts the
# tests' one (initdb in a temporary directory under /tmp, run as the user `postgres` when we are root,
# trust authentication, 127.0.0.1 on a free port, its unix socket in that directory, max_connections=200),
# but with PostgreSQL's NORMAL durability: fsync, synchronous_commit and full_page_writes are left on, so
# every commit waits for its WAL flush as in production.
#
#   pg_ensure_installed   installs Debian's `postgresql` when no server binaries are found
#   pg_start              sets PG_BIN, PG_DIR, PG_PORT, PG_VERSION; logs to $PG_DIR/server.log
#   pg_createdb NAME      creates database NAME; prints its store URL (postgres://postgres@127.0.0.1:PORT/NAME)
#   pg_psql DB SQL        runs one statement, unaligned tuples only (for counts)
#   pg_stop               stops the server (fast shutdown) and removes its directory

PG_BIN=; PG_DIR=; PG_PORT=; PG_VERSION=

pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

pg_ensure_installed() {
    if [ -z "$(pg_bin_dir)" ] || [ ! -x "$(pg_bin_dir)/initdb" ]; then
        printf '\n== installing PostgreSQL (Debian)\n' >&2
        local sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    fi
    PG_BIN=$(pg_bin_dir)
    [ -x "$PG_BIN/initdb" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql" >&2; return 1; }
}

# postgres refuses to run as root.
pg_as() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    pg_ensure_installed
    if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
    # Under /tmp, a short path: the postgres user must reach it and the socket path has a length limit.
    PG_DIR=$(mktemp -d /tmp/sees-bench-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DIR"; fi
    pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-instructions \
        >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    local port try
    for try in 1 2 3 4 5; do
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
        if pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DIR -c max_connections=200" \
            start >/dev/null; then
            PG_PORT=$port
            PG_VERSION=$("$PG_BIN/postgres" --version)
            printf '   %s on 127.0.0.1:%s (fsync on, synchronous_commit on)\n' "$PG_VERSION" "$PG_PORT" >&2
            return 0
        fi
        tail -5 "$PG_DIR/server.log" >&2 || true
    done
    echo "could not start PostgreSQL" >&2
    return 1
}

pg_createdb() {
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1" >&2
    echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
}

pg_psql() {
    "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -Atqc "$2"
}

pg_settings() {  # the durability settings in force, as JSON
    "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atqc \
        "select json_object_agg(name, setting) from pg_settings where name in ('fsync','synchronous_commit','full_page_writes','max_connections','shared_buffers','wal_level')"
}

pg_stop() {
    if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
        pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$PG_DIR" ]; then rm -rf "$PG_DIR"; fi
    PG_DIR=
}
