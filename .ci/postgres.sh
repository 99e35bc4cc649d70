#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for tests, on 127.0.0.1 only, trust auth, data under /tmp.
#
# Usage (as root):
#   .ci/postgres.sh [start]   install if missing, initdb if needed, start, wait until ready;
#                             prints the admin URL (and nothing else) on stdout:
#                               export PORTCULLIS_TEST_DATABASE_URL=$(.ci/postgres.sh)
#   .ci/postgres.sh stop      fast shutdown (no-op when not running)
#   .ci/postgres.sh status    exit 0 when running and accepting connections
#   .ci/postgres.sh url       print the URL
#   .ci/postgres.sh reset     stop, delete the data directory, start afresh
#
# Environment: PORTCULLIS_PG_PORT (default 15432; keep it below 32768, the ephemeral range),
# PORTCULLIS_PG_DIR (default /tmp/portcullis-pg), PORTCULLIS_PG_VERSION (default 15; when its
# binaries are missing after `apt-get install postgresql`, the newest installed version is used).
#
# Every step is idempotent: `start` on a running server only prints the URL. Durability is off
# (fsync, synchronous_commit, full_page_writes): this cluster is for tests only.
set -euo pipefail

PORT="${PORTCULLIS_PG_PORT:-15432}"
BASE="${PORTCULLIS_PG_DIR:-/tmp/portcullis-pg}"
VERSION="${PORTCULLIS_PG_VERSION:-15}"
DATA="$BASE/data"
SOCK="$BASE/sock"
LOG="$BASE/postgres.log"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

# The wanted version's binaries, else the newest installed (Debian layout), else the wanted path.
bindir() {
    local dir="/usr/lib/postgresql/$VERSION/bin"
    if [[ ! -x "$dir/initdb" ]]; then
        local newest
        newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
        [[ -n "$newest" && -x "$newest/initdb" ]] && dir="$newest"
    fi
    echo "$dir"
}

as_postgres() {
    runuser -u postgres -- "$@"
}

install_if_missing() {
    if [[ -x "$(bindir)/initdb" && -x "$(bindir)/pg_ctl" ]] && id postgres >/dev/null 2>&1; then
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    local pkg="postgresql"
    # Only refresh the package lists when the package is not installable from the current ones.
    if ! apt-get install -y -qq "$pkg" >>"$BASE/install.log" 2>&1; then
        apt-get update -qq >>"$BASE/install.log" 2>&1 || die "apt-get update failed (see $BASE/install.log)"
        apt-get install -y -qq "$pkg" >>"$BASE/install.log" 2>&1 \
            || die "apt-get install $pkg failed (see $BASE/install.log)"
    fi
    [[ -x "$(bindir)/initdb" ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql after installing $pkg"
}

running() {
    [[ -f "$DATA/PG_VERSION" ]] && as_postgres "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

ready() {
    "$(bindir)/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres
}

start() {
    [[ $EUID -eq 0 ]] || die "run as root (initdb and pg_ctl run as the postgres user via runuser)"
    mkdir -p "$BASE"
    install_if_missing
    mkdir -p "$SOCK"
    chown postgres: "$BASE" "$SOCK"
    chmod 700 "$BASE"

    if running && ready; then
        echo "$URL"
        return 0
    fi

    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        rm -rf "$DATA"
        as_postgres "$(bindir)/initdb" -D "$DATA" -A trust -U postgres -E UTF8 --no-locale \
            >"$BASE/initdb.log" 2>&1 || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
    fi

    if ! running; then
        local opts="-c listen_addresses=127.0.0.1 -p $PORT -k $SOCK -c max_connections=300"
        opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        if ! as_postgres "$(bindir)/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "$opts" start >/dev/null 2>&1; then
            tail -n 30 "$LOG" >&2 || true
            die "pg_ctl start failed (log: $LOG; is port $PORT taken?)"
        fi
    fi

    for _ in $(seq 1 100); do
        if ready; then
            echo "$URL"
            return 0
        fi
        sleep 0.2
    done
    tail -n 30 "$LOG" >&2 || true
    die "PostgreSQL did not accept connections on 127.0.0.1:$PORT within 20 s (log: $LOG)"
}

stop() {
    [[ $EUID -eq 0 ]] || die "run as root"
    if running; then
        as_postgres "$(bindir)/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 \
            || die "pg_ctl stop failed (log: $LOG)"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) running && ready ;;
    url) echo "$URL" ;;
    reset)
        stop
        rm -rf "$DATA"
        start
        ;;
    *) die "usage: $0 [start|stop|status|url|reset]" ;;
esac
