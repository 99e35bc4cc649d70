#!/usr/bin/env bash
# Fuzzes the served OpenAPI document against the real server with schemathesis (`--checks all`):
# every status, header and body the server answers must be the documented one, and no input may
# cause a 5xx. One short, seeded run per adapter (axum, then poem), anonymously and with a signed-in
# user's bearer token, on a fresh SQLite database each. Exits non-zero when schemathesis reports
# anything.
#
#   bash .ci/schemathesis.sh                 # both adapters
#   bash .ci/schemathesis.sh poem            # one adapter
#   SCHEMATHESIS_MAX_EXAMPLES=200 bash .ci/schemathesis.sh   # a longer run
#
# schemathesis comes from PyPI into a virtualenv outside the work tree (reused by later runs and
# clones; `SCHEMATHESIS_VENV` to put it elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."

version="4.32.5"
venv="${SCHEMATHESIS_VENV:-/tmp/portcullis-schemathesis-$version}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
seed="${SCHEMATHESIS_SEED:-1313}"
adapters=("$@")
[ ${#adapters[@]} -gt 0 ] || adapters=(axum poem)

if [ ! -x "$venv/bin/st" ]; then
    echo "== installing schemathesis $version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

echo "== building the server"
cargo build --quiet -p auth-server --bin portcullis
bin="$(pwd)/target/debug/portcullis"

work="$(mktemp -d)"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the server with `adapter` on a fresh database; sets `base`.
start_server() {
    local adapter="$1" dir="$work/$1" port
    mkdir -p "$dir"
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    # Plain http on 127.0.0.1 (insecure cookies), cheap argon2, every capability on (account emails
    # to files), and limits high enough that the fuzzer is rarely throttled (429 stays documented).
    env PORTCULLIS_ADAPTER="$adapter" \
        PORTCULLIS_BIND="127.0.0.1:$port" \
        PORTCULLIS_DATABASE_URL="sqlite://$dir/portcullis.db?mode=rwc" \
        PORTCULLIS_KEYS_DIR="$dir/keys" \
        PORTCULLIS_INSECURE_COOKIES=true \
        PORTCULLIS_DOCS_UI=true \
        PORTCULLIS_ARGON2_MEMORY_KIB=64 \
        PORTCULLIS_ARGON2_ITERATIONS=1 \
        PORTCULLIS_ACCESS_TTL=3600 \
        PORTCULLIS_EMAIL_BACKEND="file:$dir/mail" \
        PORTCULLIS_EMAIL_FROM="Portcullis <no-reply@example.test>" \
        PORTCULLIS_FRONTEND_URL="https://app.example.test" \
        PORTCULLIS_SIGNIN_LIMIT_PER_IP=1000000 \
        PORTCULLIS_REGISTER_LIMIT_PER_IP=1000000 \
        PORTCULLIS_REGISTER_LIMIT_GLOBAL=1000000 \
        PORTCULLIS_LOG=warn \
        "$bin" serve >"$dir/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        if curl -fsS "$base/healthz" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.2
    done
    echo "the $adapter server did not start:" >&2
    cat "$dir/server.log" >&2
    return 1
}

# Registers and signs in a user through the mobile flow; prints the access token.
access_token() {
    local user='{"username": "schemathesis", "email": "schemathesis@example.test", "password": "correct horse battery staple"}'
    curl -fsS -H 'content-type: application/json' -d "$user" "$base/api/auth/register" >/dev/null
    curl -fsS -H 'content-type: application/json' \
        -d '{"username": "schemathesis", "password": "correct horse battery staple"}' \
        "$base/api/auth/mobile/sign-in" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access"])'
}

# One schemathesis run against the running server; extra arguments are passed on.
fuzz() {
    local label="$1"
    shift
    echo "== schemathesis: $label"
    "$venv/bin/st" --no-color --config-file .ci/schemathesis.toml run "$base/api/openapi.json" \
        --checks all \
        --max-examples "$max_examples" \
        --seed "$seed" \
        --workers 1 \
        --max-failures 50 \
        --request-timeout 10 \
        "$@"
}

status=0
for adapter in "${adapters[@]}"; do
    start_server "$adapter"
    token="$(access_token)"
    # Signed in first (sign-out-all would end the session the other operations use).
    fuzz "$adapter, signed in" -H "Authorization: Bearer $token" --exclude-operation-id sign_out_all ||
        status=1
    fuzz "$adapter, anonymous" || status=1
    stop_server
    if grep -q "internal error" "$work/$adapter/server.log"; then
        echo "the $adapter server logged internal errors:" >&2
        grep "internal error" "$work/$adapter/server.log" >&2
        status=1
    fi
done
exit "$status"
