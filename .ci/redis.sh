#!/usr/bin/env bash
# A throwaway Redis for tests, on 127.0.0.1 only, no persistence.
#
# Usage (as root):
#   .ci/redis.sh [start]   install redis-server if missing, start it, wait until it answers;
#                          prints the URL (and nothing else) on stdout:
#                            export PORTCULLIS_TEST_REDIS_URL=$(.ci/redis.sh)
#   .ci/redis.sh stop      stop the server this script started (no-op when not running)
#
# Environment: PORTCULLIS_REDIS_PORT (default 16379; below 32768, the ephemeral range).
set -euo pipefail

PORT="${PORTCULLIS_REDIS_PORT:-16379}"
BASE="/tmp/portcullis-redis"
PIDFILE="$BASE/redis.pid"
URL="redis://127.0.0.1:$PORT"

die() {
    echo "redis.sh: $*" >&2
    exit 1
}

running() {
    command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG
}

start() {
    mkdir -p "$BASE"
    if running; then
        echo "$URL"
        return 0
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq redis-server >>"$BASE/install.log" 2>&1; then
            apt-get update -qq >>"$BASE/install.log" 2>&1 || die "apt-get update failed (see $BASE/install.log)"
            apt-get install -y -qq redis-server >>"$BASE/install.log" 2>&1 \
                || die "apt-get install redis-server failed (see $BASE/install.log)"
        fi
    fi
    redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no --daemonize yes \
        --pidfile "$PIDFILE" --logfile "$BASE/redis.log" --dir "$BASE" >/dev/null
    for _ in $(seq 1 50); do
        if running; then
            echo "$URL"
            return 0
        fi
        sleep 0.1
    done
    die "redis-server did not answer on port $PORT (see $BASE/redis.log)"
}

stop() {
    if [[ -f "$PIDFILE" ]]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        rm -f "$PIDFILE"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) die "unknown command ${1}" ;;
esac
