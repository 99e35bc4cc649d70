#!/usr/bin/env bash
# Resource-server benchmark: the same protected route (`GET /protected`, a bearer token verified
# against the issuer's key, issuer and audience checked, the subject returned) behind Portcullis's
# ResourceServer and behind jwt-authorizer 0.15, for RS256, ES256, EdDSA and HS256; Portcullis also
# with its verified-token cache. Asymmetric keys come from a JWKS URL on both sides, the HMAC secret
# is static on both.
#
#   bash bench/resource-server.sh
#
# The server is pinned to core 0 and wrk (-t1 -c32) to core 1; the server's CPU time per request is
# read from /proc/<pid>/stat around the run. Each configuration runs REPEAT times, alternating with
# the others; the table shows the median run (by CPU per request) of each.
# Knobs (environment): DURATION (10s), CONNECTIONS (32), ALGS ("RS256 ES256 EdDSA HS256"),
# REPEAT (3), PORT (18090).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
ALGS="${ALGS:-RS256 ES256 EdDSA HS256}"
PORT="${PORT:-18090}"
REPEAT="${REPEAT:-3}"
log() { printf '[resource-server.sh] %s\n' "$*" >&2; }

command -v wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null
cd "$ROOT"
log "building portcullis-resource-bench and the jwt-authorizer peer (release)"
cargo build --release -q -p portcullis-bench --bin portcullis-resource-bench >&2
(cd bench/peers/jwt-authorizer && cargo build --release -q >&2)
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
OURS="${TARGET_DIR}/release/portcullis-resource-bench"
PEER="bench/peers/jwt-authorizer/target/release/jwt-authorizer-peer"

WORK="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$OURS" prepare "$WORK"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_per_second="$(getconf CLK_TCK)"

run() { # name alg command...
    local name="$1" alg="$2"; shift 2
    taskset -c 0 "$@" &
    PID=$!
    for _ in $(seq 100); do
        curl -sf -o /dev/null -H "authorization: Bearer $(cat "$WORK/$alg.jwt")" "http://127.0.0.1:$PORT/protected" && break
        sleep 0.1
    done
    local status
    status="$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $(cat "$WORK/$alg.jwt")" "http://127.0.0.1:$PORT/protected")"
    [ "$status" = 200 ] || { log "$name $alg answers $status"; exit 1; }
    # Warm-up, then the measured run.
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s -H "authorization: Bearer $(cat "$WORK/$alg.jwt")" "http://127.0.0.1:$PORT/protected" >/dev/null
    local before after out requests rps
    before="$(cpu_ticks "$PID")"
    out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "authorization: Bearer $(cat "$WORK/$alg.jwt")" "http://127.0.0.1:$PORT/protected")"
    after="$(cpu_ticks "$PID")"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    if grep -q "Non-2xx" <<<"$out"; then log "$name $alg: non-2xx answers"; echo "$out" >&2; exit 1; fi
    requests="$(awk '/requests in/ { print $1 }' <<<"$out")"
    rps="$(awk '/Requests\/sec/ { printf "%d", $2 }' <<<"$out")"
    awk -v n="$name" -v a="$alg" -v r="$rps" -v q="$requests" -v t="$((after - before))" -v hz="$ticks_per_second" \
        'BEGIN { printf "%s\t%s\t%s\t%.1f\n", n, a, r, t * 1e6 / hz / q }' >>"$WORK/runs.tsv"
}

for _ in $(seq "$REPEAT"); do
    for alg in $ALGS; do
        run "Portcullis ResourceServer" "$alg" "$OURS" serve "$alg" "$WORK" "$PORT"
        run "Portcullis ResourceServer + token cache" "$alg" "$OURS" serve "$alg" "$WORK" "$PORT" cache
        run "jwt-authorizer 0.15" "$alg" "$PEER" serve "$alg" "$WORK" "$PORT"
    done
done

echo "| server | alg | req/s | server CPU µs/request (median of $REPEAT) |"
echo "|---|---|---:|---:|"
for alg in $ALGS; do
    for name in "Portcullis ResourceServer" "Portcullis ResourceServer + token cache" "jwt-authorizer 0.15"; do
        awk -F'\t' -v n="$name" -v a="$alg" '$1 == n && $2 == a' "$WORK/runs.tsv" | sort -t$'\t' -k4,4n \
            | awk -F'\t' -v m="$(( (REPEAT + 1) / 2 ))" 'NR == m { printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }'
    done
done
