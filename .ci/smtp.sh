#!/usr/bin/env bash
# A throwaway SMTP server for tests: aiosmtpd (Debian's python3-aiosmtpd, an independent RFC 5321
# implementation), on 127.0.0.1 only, storing every message in a Maildir.
#
# Usage (as root):
#   .ci/smtp.sh [start]   install python3-aiosmtpd if missing, start it, wait until it listens;
#                         prints two lines: the SMTP URL for PORTCULLIS_EMAIL_BACKEND and the Maildir
#   .ci/smtp.sh stop      stop the server this script started
#
# Environment: PORTCULLIS_SMTP_PORT (default 12525; below 32768, the ephemeral range).
set -euo pipefail

PORT="${PORTCULLIS_SMTP_PORT:-12525}"
BASE="/tmp/portcullis-smtp"
PIDFILE="$BASE/smtp.pid"
MAILDIR="$BASE/maildir"
PY=/usr/bin/python3

die() {
    echo "smtp.sh: $*" >&2
    exit 1
}

listening() {
    "$PY" - "$PORT" <<'PYEOF' 2>/dev/null
import smtplib, sys
smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=1).quit()
PYEOF
}

start() {
    mkdir -p "$BASE"
    if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && listening; then
        printf 'smtp://127.0.0.1:%s?tls=none\n%s\n' "$PORT" "$MAILDIR"
        return 0
    fi
    if ! "$PY" -c 'import aiosmtpd' 2>/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq python3-aiosmtpd >>"$BASE/install.log" 2>&1; then
            apt-get update -qq >>"$BASE/install.log" 2>&1 || die "apt-get update failed (see $BASE/install.log)"
            apt-get install -y -qq python3-aiosmtpd >>"$BASE/install.log" 2>&1 \
                || die "apt-get install python3-aiosmtpd failed (see $BASE/install.log)"
        fi
    fi
    rm -rf "$MAILDIR"
    nohup "$PY" -m aiosmtpd -n -l "127.0.0.1:$PORT" -c aiosmtpd.handlers.Mailbox "$MAILDIR" \
        >"$BASE/smtp.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 50); do
        if listening; then
            printf 'smtp://127.0.0.1:%s?tls=none\n%s\n' "$PORT" "$MAILDIR"
            return 0
        fi
        sleep 0.1
    done
    die "aiosmtpd did not listen on port $PORT (see $BASE/smtp.log)"
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
