#!/usr/bin/env bash
# Refresh with rotation on PostgreSQL (issue 18, goal 3's second figure): SERVERS bench servers
# (default 2) on one fresh PostgreSQL database, each under its own wrk refresh load (one grant per
# connection, as bench/load.sh does), all at once. Prints the summed req/s and the CPU per refresh
# of the servers and of PostgreSQL. Everything shares the machine's cores.
#
#   bash bench/refresh-pg.sh               # SERVERS=2
#   SERVERS=1 bash bench/refresh-pg.sh
#
# Knobs: SERVERS (2), DURATION (10s), CONNECTIONS (32 per server), PORT (18090), SERVER_BIN.
# PostgreSQL comes from .ci/postgres.sh (127.0.0.1:15432).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SERVERS="${SERVERS:-2}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-18090}"
PASSWORD="bench-password-0f-decent-length"
log() { printf '[refresh-pg.sh] %s\n' "$*" >&2; }
for tool in wrk psql jq curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "missing required tool: $tool (apt-get install -y wrk postgresql-client jq curl)"
        exit 1
    fi
done

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
if [ -z "${SERVER_BIN:-}" ]; then
    log "building portcullis-bench-server (release)"
    cargo build --release -p portcullis-bench --bin portcullis-bench-server >&2
    SERVER_BIN="${TARGET_DIR}/release/portcullis-bench-server"
fi
ADMIN_URL="$(bash .ci/postgres.sh start)"
DB=pc_refresh_bench
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)" -c "CREATE DATABASE ${DB}" >/dev/null
DB_URL="${ADMIN_URL%/*}/${DB}"
SECRET="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
WORK="$(mktemp -d)"
declare -a PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for i in $(seq 0 $((SERVERS - 1))); do
    env PORTCULLIS_BIND="127.0.0.1:$((PORT + i))" PORTCULLIS_DATABASE_URL="$DB_URL" \
        PORTCULLIS_JWT_ALGORITHM=HS256 PORTCULLIS_JWT_SECRET="$SECRET" PORTCULLIS_ACCESS_TTL=3600 \
        PORTCULLIS_LOG="${LOG:-warn}" PORTCULLIS_SIGNIN_LIMIT_PER_IP=100000000 \
        PORTCULLIS_REGISTER_LIMIT_PER_IP=100000 PORTCULLIS_REGISTER_LIMIT_GLOBAL=100000 \
        "$SERVER_BIN" >"${WORK}/server-${i}.log" 2>&1 &
    PIDS[$i]=$!
done
for i in $(seq 0 $((SERVERS - 1))); do
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "http://127.0.0.1:$((PORT + i))/bench/public" 2>/dev/null && break
        sleep 0.1
    done
done

# A grant per connection (and a spare), signed in through the server that will refresh it (64
# accounts).
post() { curl -fsS -H 'Content-Type: application/json' -d "$2" "$1"; }
for a in $(seq 0 63); do
    post "http://127.0.0.1:${PORT}/api/auth/register" "{\"username\":\"pg-${a}\",\"password\":\"${PASSWORD}\"}" >/dev/null
done
for i in $(seq 0 $((SERVERS - 1))); do
    # One token per connection, and a spare: wrk calls request() once more before the run to check
    # the script (that token is never sent); without the spare one connection would send
    # "exhausted" for the whole run.
    for c in $(seq 0 "$CONNECTIONS"); do
        post "http://127.0.0.1:$((PORT + i))/api/auth/mobile/sign-in" \
            "{\"username\":\"pg-$(((i * CONNECTIONS + c) % 64))\",\"password\":\"${PASSWORD}\"}" | jq -r .refresh
    done >"${WORK}/tokens-${i}.txt"
    cat >"${WORK}/refresh-${i}.lua" <<EOF
local pool = {}
for line in io.lines("${WORK}/tokens-${i}.txt") do pool[#pool + 1] = line end
function request()
    local token = table.remove(pool) or "exhausted"
    return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, '{"refresh":"' .. token .. '"}')
end
local failures = 0
function response(status, headers, body)
    if status == 200 then
        local token = string.match(body, '"refresh"%s*:%s*"([^"]+)"')
        if token then pool[#pool + 1] = token end
    elseif failures < 5 then
        -- The first failures, for the report: a lost token is never replaced, so one failure
        -- costs the rest of its connection's run.
        failures = failures + 1
        io.stderr:write("non-2xx: " .. status .. " " .. body .. "\n")
    end
end
EOF
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_ticks() { # every PostgreSQL process's CPU ticks
    local total=0 t
    for pid in $(pgrep -u postgres postgres 2>/dev/null || true); do
        t=$(awk '{print $14 + $15}' "/proc/${pid}/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}
declare -a BEFORE=()
for i in $(seq 0 $((SERVERS - 1))); do BEFORE[$i]=$(ticks "${PIDS[$i]}"); done
pg_before=$(pg_ticks)
log "wrk: ${SERVERS} server(s), -t1 -c${CONNECTIONS} each, ${DURATION}"
for i in $(seq 0 $((SERVERS - 1))); do
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "${WORK}/refresh-${i}.lua" \
        "http://127.0.0.1:$((PORT + i))/api/auth/mobile/token-refresh" >"${WORK}/wrk-${i}.txt" 2>"${WORK}/wrk-${i}.err" &
done
wait_wrk=$(jobs -p | tail -n "$SERVERS")
for pid in $wait_wrk; do wait "$pid" 2>/dev/null || true; done
pg_after=$(pg_ticks)
hz=$(getconf CLK_TCK)
total_rps=0
total_requests=0
server_ticks=0
errors=0
for i in $(seq 0 $((SERVERS - 1))); do
    rps=$(awk '/^Requests\/sec:/ {print $2}' "${WORK}/wrk-${i}.txt")
    requests=$(awk '/requests in/ {print $1; exit}' "${WORK}/wrk-${i}.txt")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "${WORK}/wrk-${i}.txt")
    total_rps=$(awk -v a="$total_rps" -v b="$rps" 'BEGIN { printf "%.1f", a + b }')
    total_requests=$((total_requests + requests))
    errors=$((errors + ${non2xx:-0}))
    server_ticks=$((server_ticks + $(ticks "${PIDS[$i]}") - BEFORE[$i]))
    log "server ${i}: ${rps} req/s"
    grep -E "Socket errors|Non-2xx|Latency" "${WORK}/wrk-${i}.txt" >&2 || true
    if [ -s "${WORK}/wrk-${i}.err" ]; then
        log "server ${i}: first failures:"
        head -n 5 "${WORK}/wrk-${i}.err" >&2
        log "server ${i} log:"
        grep -v "no transaction in progress" "${WORK}/server-${i}.log" | sort | uniq -c | sort -rn | head -n 5 >&2
    fi
done
per() { awk -v t="$1" -v n="$total_requests" -v hz="$hz" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }'; }
echo
echo "| PostgreSQL refresh, ${SERVERS} server process(es) | req/s | servers' CPU µs/refresh | PostgreSQL CPU µs/refresh | non-2xx |"
echo "|---|---:|---:|---:|---:|"
echo "| $(nproc) cores shared by wrk, the servers and PostgreSQL | ${total_rps} | $(per "$server_ticks") | $(per $((pg_after - pg_before))) | ${errors} |"
