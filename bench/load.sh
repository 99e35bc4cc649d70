#!/usr/bin/env bash
# HTTP load test of the real Portcullis server (portcullis-bench-server) with wrk.
#
#   bash bench/load.sh
#
# Builds the bench server in release mode, starts it on 127.0.0.1:18080 with a temporary SQLite
# database, registers ACCOUNTS accounts (the sign-in and refresh loads are spread over them, as
# real clients are: one account signing in 64 times at once from one address is what the sign-in
# limits stop), signs in with every credential kind, then measures with wrk:
#   - GET  /bench/public                  (no authentication)
#   - GET  /bench/protected               (Bearer access token; same handler)
#   - GET  /bench/protected               (opaque token, API key, cookie session: the same route)
#   - GET  /api/auth/me                   (Bearer access token, cookie session: the user record)
#   - GET  /bench/authenticated           (RequireAuthLayer, authentication only)
#   - GET  /bench/guarded                 (RequireAuthLayer + Guard::role("bench"): authorization)
#   - POST /api/auth/mobile/token-refresh (rotating refresh tokens, one grant per connection)
#   - POST /api/auth/mobile/sign-in       (argon2id verify at OWASP parameters, over the accounts)
# first with HS256, then (public + protected only) with RS256 and EdDSA keys generated into a
# temporary keys directory. Prints a markdown table, then issue 18's goals with the measured
# ratio next to each; raw wrk output goes to $RESULTS_DIR.
#
# The bench server runs with raised per-network sign-in and registration limits (settings only:
# every request comes from 127.0.0.1 here); every other setting is the server's default.
#
# Knobs (environment): DURATION (10s), THREADS (2), CONNECTIONS (64), PORT (18080),
# ALGS ("HS256 RS256 EdDSA"; the first one also runs the other credential kinds, refresh and
# sign-in), ACCOUNTS (256), RESULTS_DIR,
# PIN (1: the server on core 0 and wrk on core 1 with `taskset`, THREADS 1 and CONNECTIONS 32
# unless set: the issue's method; default 0: wrk and the server share the cores),
# DB_TEMPLATE (a SQLite file copied as each run's database, e.g. bench/scale.sh's seeded one),
# STATS (1: print the server's /bench/stats after the runs: cache sizes, RSS),
# GUARD_ONLY (1: only the authenticated/guarded pair, REPEAT times alternated; default REPEAT 1),
# ONLY (a bash regular expression: only the rows whose name matches run, e.g. ONLY=refresh),
# SIGNIN_CONNECTIONS (16: the sign-in run's connections, within the hasher's queue),
# SERVER_BIN (a bench server binary to run instead of building one).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10s}"
PIN="${PIN:-0}"
if [ "$PIN" = 1 ]; then
    THREADS="${THREADS:-1}"
    CONNECTIONS="${CONNECTIONS:-32}"
    SERVER_CPU=(taskset -c 0)
    WRK_CPU=(taskset -c 1)
else
    THREADS="${THREADS:-2}"
    CONNECTIONS="${CONNECTIONS:-64}"
    SERVER_CPU=()
    WRK_CPU=()
fi
ACCOUNTS="${ACCOUNTS:-256}"
DB_TEMPLATE="${DB_TEMPLATE:-}"
STATS="${STATS:-0}"
PORT="${PORT:-18080}"
ALGS="${ALGS:-HS256 RS256 EdDSA}"
GUARD_ONLY="${GUARD_ONLY:-0}"
ONLY="${ONLY:-.}"
# The hasher runs a few argon2 verifications at once and queues a bounded number more; beyond
# that a sign-in is shed with 503 (by design). The sign-in run keeps within the queue.
SIGNIN_CONNECTIONS="${SIGNIN_CONNECTIONS:-16}"
REPEAT="${REPEAT:-1}"
BASE="http://127.0.0.1:${PORT}"
USERNAME="bench"
PASSWORD="bench-password-0f-decent-length"

log() { printf '[load.sh] %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
    log "wrk not found: installing it with apt-get"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
    else
        sudo apt-get install -y wrk >/dev/null
    fi
fi
for tool in curl jq cargo; do
    command -v "$tool" >/dev/null 2>&1 || { log "missing required tool: $tool"; exit 1; }
done

cd "$ROOT"
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
if [ -n "${SERVER_BIN:-}" ]; then
    SERVER="$SERVER_BIN"
else
    log "building portcullis-bench-server (release)"
    cargo build --release -p portcullis-bench --bin portcullis-bench-server >&2
    SERVER="${TARGET_DIR}/release/portcullis-bench-server"
fi
RESULTS_DIR="${RESULTS_DIR:-${TARGET_DIR}/bench-results}"
mkdir -p "$RESULTS_DIR"

WORK="$(mktemp -d)"
SERVER_PID=""

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server ALG: a fresh database (and keys directory) per algorithm.
start_server() {
    local alg="$1"
    local -a env=(
        "PORTCULLIS_BIND=127.0.0.1:${PORT}"
        "PORTCULLIS_DATABASE_URL=sqlite://${WORK}/${alg}.db?mode=rwc"
        "PORTCULLIS_JWT_ALGORITHM=${alg}"
        "PORTCULLIS_ACCESS_TTL=3600"
        "PORTCULLIS_LOG=warn"
        # Every client is 127.0.0.1 here: the per-network limits would see one client.
        "PORTCULLIS_SIGNIN_LIMIT_PER_IP=100000000"
        "PORTCULLIS_REGISTER_LIMIT_PER_IP=100000"
        "PORTCULLIS_REGISTER_LIMIT_GLOBAL=100000"
        # The sign-in load gives each account its own client address in X-Forwarded-For, as
        # behind a proxy in production.
        "PORTCULLIS_TRUSTED_PROXIES=127.0.0.1"
    )
    if [ -n "$DB_TEMPLATE" ]; then
        cp "$DB_TEMPLATE" "${WORK}/${alg}.db"
    fi
    case "$alg" in
        HS*) env+=("PORTCULLIS_JWT_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')") ;; # 64 hex chars
        *) env+=("PORTCULLIS_KEYS_DIR=${WORK}/keys-${alg}") ;;
    esac
    if curl -s -o /dev/null --max-time 2 "${BASE}/"; then
        log "something already listens on 127.0.0.1:${PORT}; set PORT to a free port"
        exit 1
    fi
    env "${env[@]}" "${SERVER_CPU[@]}" "$SERVER" >"${RESULTS_DIR}/server-${alg}.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        if curl -fsS -o /dev/null "${BASE}/bench/public" 2>/dev/null; then
            kill -0 "$SERVER_PID" 2>/dev/null && return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || { log "server exited:"; cat "${RESULTS_DIR}/server-${alg}.log" >&2; exit 1; }
        sleep 0.2
    done
    log "server did not become ready"
    exit 1
}

post_json() { # post_json PATH BODY
    curl -fsS -X POST -H 'Content-Type: application/json' --data "$2" "${BASE}$1"
}

# Registers and signs in; sets ACCESS.
sign_in() {
    post_json /api/auth/register \
        "$(jq -nc --arg u "$USERNAME" --arg p "$PASSWORD" '{username:$u,email:"bench@example.com",password:$p}')" \
        >/dev/null
    local pair
    pair="$(post_json /api/auth/mobile/sign-in "$(jq -nc --arg u "$USERNAME" --arg p "$PASSWORD" '{username:$u,password:$p}')")"
    ACCESS="$(jq -r .access <<<"$pair")"
    # Sanity checks: the protected route accepts the token and refuses its absence.
    curl -fsS -o /dev/null -H "Authorization: Bearer ${ACCESS}" "${BASE}/bench/protected"
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' "${BASE}/bench/protected")"
    [ "$code" = 401 ] || { log "unauthenticated /bench/protected returned $code, expected 401"; exit 1; }
    # The guarded route needs the `bench` role: refused before it is granted, accepted after.
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${ACCESS}" "${BASE}/bench/guarded")"
    [ "$code" = 403 ] || { log "/bench/guarded without the role returned $code, expected 403"; exit 1; }
    curl -fsS -o /dev/null -X POST -H "Authorization: Bearer ${ACCESS}" "${BASE}/bench/grant-bench-role"
    curl -fsS -o /dev/null -H "Authorization: Bearer ${ACCESS}" "${BASE}/bench/guarded"
}

login_body() { # login_body USERNAME
    jq -nc --arg u "$1" --arg p "$PASSWORD" '{username:$u,password:$p}'
}

# The other credential kinds of the bench user; sets OPAQUE, API_KEY and SESSION_COOKIE, each
# checked on /bench/protected.
other_credentials() {
    OPAQUE="$(post_json /api/auth/token/sign-in "$(login_body "$USERNAME")" | jq -r .token)"
    API_KEY="$(curl -fsS -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer ${ACCESS}" \
        --data '{"name":"bench"}' "${BASE}/api/auth/api-keys" | jq -r .key)"
    SESSION_COOKIE="$(curl -fsS -o /dev/null -D - -X POST -H 'Content-Type: application/json' \
        --data "$(login_body "$USERNAME")" "${BASE}/api/auth/session/sign-in" |
        tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*portcullis_session=[^;]*\).*/\1/p')"
    if [ -z "$OPAQUE" ] || [ -z "$API_KEY" ] || [ -z "$SESSION_COOKIE" ]; then
        log "could not obtain an opaque token, an API key and a session"
        exit 1
    fi
    curl -fsS -o /dev/null -H "Authorization: Token ${OPAQUE}" "${BASE}/bench/protected"
    curl -fsS -o /dev/null -H "X-API-Key: ${API_KEY}" "${BASE}/bench/protected"
    curl -fsS -o /dev/null -H "Cookie: ${SESSION_COOKIE}" "${BASE}/bench/protected"
}

# Registers the load accounts (two at a time: argon2 runs on the server's blocking pool).
register_accounts() {
    log "registering ${ACCOUNTS} accounts"
    seq 0 $((ACCOUNTS - 1)) | xargs -P 2 -I{} curl -fsS -o /dev/null -X POST \
        -H 'Content-Type: application/json' \
        --data "{\"username\":\"load-{}\",\"password\":\"${PASSWORD}\"}" "${BASE}/api/auth/register"
}

# sign_in_script FILE: a wrk Lua script signing in to the load accounts in turn (each thread
# starts at its own offset).
sign_in_script() {
    cat >"$1" <<LUA
local threads = {}
function setup(thread)
    thread:set("id", #threads)
    threads[#threads + 1] = thread
end
function init(args)
    n = id * 7919
end
function request()
    n = n + 1
    local account = n % ${ACCOUNTS}
    local body = '{"username":"load-' .. account .. '","password":"${PASSWORD}"}'
    -- Each account signs in from its own address (believed: PORTCULLIS_TRUSTED_PROXIES), as
    -- real clients do: one address with dozens of attempts in flight is what the limits slow.
    local ip = "10.0." .. math.floor(account / 250) .. "." .. (account % 250 + 1)
    return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip}, body)
end
LUA
}

# refresh_tokens N: N refresh tokens from N separate sign-ins (N grants) over the load accounts,
# one per line.
refresh_tokens() {
    for i in $(seq 1 "$1"); do
        post_json /api/auth/mobile/sign-in "$(login_body "load-$((i % ACCOUNTS))")" | jq -r .refresh
    done
}

# refresh_script FILE TOKENS: a wrk Lua script for rotating refresh tokens. A refresh token is
# single-use (replaying one revokes its grant), so each wrk thread gets its own share of the
# tokens (one grant per connection) as a pool: request() takes a token, response() puts back the
# rotated one from the body. Each connection has at most one request in flight, so the pool never
# runs dry while the server answers 200. wrk calls request() once more on its first thread before
# the run to check the script: one spare token per thread covers that.
refresh_script() {
    cat >"$1" <<EOF
local all = {}
for line in io.lines("$2") do all[#all + 1] = line end
local threads = {}

function setup(thread)
    thread:set("id", #threads)
    threads[#threads + 1] = thread
end

function init(args)
    pool = {}
    for i = 1, #all do
        if (i - 1) % ${THREADS} == id then pool[#pool + 1] = all[i] end
    end
end

function request()
    -- An empty pool only happens after failures: send a malformed token (refused, revokes nothing).
    local token = table.remove(pool) or "exhausted"
    return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
        '{"refresh":"' .. token .. '"}')
end

function response(status, headers, body)
    if status == 200 then
        local token = string.match(body, '"refresh"%s*:%s*"([^"]+)"')
        if token then pool[#pool + 1] = token end
    end
end
EOF
}

ROWS=()
declare -A RPS CPU USER STATS_JSON
CLK_TCK="$(getconf CLK_TCK)"

# CPU ticks the server process has used so far: "user system".
server_cpu_ticks() {
    # utime and stime are fields 14 and 15 of /proc/PID/stat, i.e. 12 and 13 after "pid (comm) ".
    local stat
    stat="$(cat "/proc/${SERVER_PID}/stat")"
    awk '{print $12, $13}' <<<"${stat##*) }"
}

# run_wrk NAME ALG LABEL wrk-args...
run_wrk() {
    local name="$1" alg="$2" label="$3"
    shift 3
    local out="${RESULTS_DIR}/wrk-${name}.txt"
    if ! [[ "$name" =~ $ONLY ]]; then
        return 0
    fi
    log "wrk ${label} (${alg}, ${DURATION}, ${THREADS} threads, ${CONNECTIONS} connections)"
    local user_before sys_before user_after sys_after
    read -r user_before sys_before <<<"$(server_cpu_ticks)"
    "${WRK_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" >"$out"
    read -r user_after sys_after <<<"$(server_cpu_ticks)"
    local rps latency errors requests cpu_us user_us
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    requests="$(awk '/requests in/ {print $1; exit}' "$out")"
    # Server CPU time (user + system) per request, independent of wrk's own CPU use.
    per_request() { # per_request TICKS: microseconds per request
        awk -v d="$1" -v hz="$CLK_TCK" -v n="$requests" \
            'BEGIN {if (n > 0) printf "%.1f", d / hz * 1e6 / n; else print "-"}'
    }
    cpu_us="$(per_request "$((user_after - user_before + sys_after - sys_before))")"
    # User-space time alone: the work of hyper, axum and Portcullis. The kernel's share per
    # request grows when the request rate falls (less batching per wake-up while wrk competes
    # for the same cores), so it is reported apart.
    user_us="$(per_request "$((user_after - user_before))")"
    CPU["$name"]="$cpu_us"
    USER["$name"]="$user_us"
    latency="$(awk '$1 == "Latency" {print $2; exit}' "$out")"
    errors="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    local sockerr
    sockerr="$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' "$out")"
    errors="${errors:-0}${sockerr:+ (socket: ${sockerr})}"
    RPS["$name"]="$rps"
    ROWS+=("| ${label} | ${alg} | ${rps} | ${latency} | ${cpu_us} | ${user_us} | ${errors} |")
}

FIRST=1
for alg in $ALGS; do
    log "=== ${alg} ==="
    start_server "$alg"
    sign_in
    if [ "$FIRST" = 1 ] && [ "$GUARD_ONLY" != 1 ]; then
        other_credentials
        register_accounts
        # Taken before the sign-in load: a grant per connection, from the load accounts.
        refresh_tokens "$((CONNECTIONS + THREADS))" >"${WORK}/refresh-tokens.txt"
    fi
    for i in $(seq 1 "$REPEAT"); do
        run_wrk "authenticated-${alg}-${i}" "$alg" "GET /bench/authenticated (run ${i})" \
            -H "Authorization: Bearer ${ACCESS}" "${BASE}/bench/authenticated"
        run_wrk "guarded-${alg}-${i}" "$alg" "GET /bench/guarded, role guard (run ${i})" \
            -H "Authorization: Bearer ${ACCESS}" "${BASE}/bench/guarded"
    done
    if [ "$GUARD_ONLY" = 1 ]; then
        stop_server
        continue
    fi
    run_wrk "public-${alg}" "$alg" "GET /bench/public" "${BASE}/bench/public"
    # The same request bytes as the protected run (the header is ignored): isolates the cost of
    # authentication from the cost of carrying a 551-byte header through the kernel and hyper.
    run_wrk "public-hdr-${alg}" "$alg" "GET /bench/public + Authorization header" \
        -H "Authorization: Bearer ${ACCESS}" "${BASE}/bench/public"
    run_wrk "protected-${alg}" "$alg" "GET /bench/protected" \
        -H "Authorization: Bearer ${ACCESS}" "${BASE}/bench/protected"
    run_wrk "stateless-${alg}" "$alg" "GET /bench/protected-stateless" \
        -H "Authorization: Bearer ${ACCESS}" "${BASE}/bench/protected-stateless"
    if [ "$FIRST" = 1 ]; then
        run_wrk "opaque-${alg}" "$alg" "GET /bench/protected, opaque token" \
            -H "Authorization: Token ${OPAQUE}" "${BASE}/bench/protected"
        run_wrk "api-key-${alg}" "$alg" "GET /bench/protected, API key" \
            -H "X-API-Key: ${API_KEY}" "${BASE}/bench/protected"
        run_wrk "session-${alg}" "$alg" "GET /bench/protected, cookie session" \
            -H "Cookie: ${SESSION_COOKIE}" "${BASE}/bench/protected"
        run_wrk "me-${alg}" "$alg" "GET /api/auth/me, bearer" \
            -H "Authorization: Bearer ${ACCESS}" "${BASE}/api/auth/me"
        run_wrk "me-session-${alg}" "$alg" "GET /api/auth/me, cookie session" \
            -H "Cookie: ${SESSION_COOKIE}" "${BASE}/api/auth/me"
        refresh_script "${WORK}/refresh.lua" "${WORK}/refresh-tokens.txt"
        run_wrk "refresh-${alg}" "$alg" "POST /api/auth/mobile/token-refresh" \
            -s "${WORK}/refresh.lua" "${BASE}/api/auth/mobile/token-refresh"
        sign_in_script "${WORK}/sign-in.lua"
        CONNECTIONS="$SIGNIN_CONNECTIONS" run_wrk "sign-in-${alg}" "$alg" \
            "POST /api/auth/mobile/sign-in (${ACCOUNTS} accounts, ${SIGNIN_CONNECTIONS} connections)" \
            --timeout 30s -s "${WORK}/sign-in.lua" "${BASE}/api/auth/mobile/sign-in"
        FIRST=0
    fi
    if [ "$STATS" = 1 ]; then
        STATS_JSON["$alg"]="$(curl -fsS "${BASE}/bench/stats" || echo '{}')"
    fi
    stop_server
done

echo
echo "## wrk: ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION} per run ($(nproc) cores shared by wrk and the server)"
echo
echo "| request | algorithm | req/s | avg latency | server CPU µs/req | of which user space | non-2xx |"
echo "|---------|-----------|------:|------------:|------------------:|--------------------:|--------:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| ratio | value |"
echo "|-------|------:|"
for alg in $ALGS; do
    for i in $(seq 1 "$REPEAT"); do
        echo "| guarded / authenticated server CPU per request (${alg}, run ${i}) | $(awk -v a="${CPU[guarded-${alg}-${i}]}" -v b="${CPU[authenticated-${alg}-${i}]}" 'BEGIN {if (b > 0) printf "%.1f%%", 100 * a / b; else print "-"}') |"
    done
    pub="${RPS[public-${alg}]:-}"
    prot="${RPS[protected-${alg}]:-}"
    if [ -n "$pub" ] && [ -n "$prot" ]; then
        ph="${RPS[public-hdr-${alg}]:-}"
        [ -n "$ph" ] && echo "| protected / public with the same Authorization header req/s (${alg}) | $(awk -v a="$prot" -v b="$ph" 'BEGIN {printf "%.1f%%", 100 * a / b}') |"
        echo "| protected / public req/s (${alg}) | $(awk -v a="$prot" -v b="$pub" 'BEGIN {printf "%.1f%%", 100 * a / b}') |"
        sl="${RPS[stateless-${alg}]:-}"
        [ -n "$sl" ] && echo "| protected (revocation + user-state checks) / protected-stateless (signature and claims only) req/s (${alg}) | $(awk -v a="$prot" -v b="$sl" 'BEGIN {printf "%.1f%%", 100 * a / b}') |"
        echo "| public / protected server CPU per request (${alg}) | $(awk -v a="${CPU[public-${alg}]}" -v b="${CPU[protected-${alg}]}" 'BEGIN {if (b > 0) printf "%.1f%%", 100 * a / b; else print "-"}') |"
        echo "| user-space µs added by authentication, protected - public with header (${alg}) | $(awk -v a="${USER[protected-${alg}]}" -v b="${USER[public-hdr-${alg}]}" 'BEGIN {printf "%.1f", a - b}') |"
    fi
done

# ratio A B: A / B with two decimals, "-" when either is missing.
ratio() {
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {if (a > 0 && b > 0) printf "%.2fx", a / b; else print "-"}'
}
first_alg="${ALGS%% *}"
jwt="${CPU[protected-${first_alg}]:-}"
if [ "$GUARD_ONLY" != 1 ]; then
    echo
    echo "## Issue 18's goals (server CPU per request unless said)"
    echo
    echo "| goal | measured | target |"
    echo "|------|---------:|-------:|"
    for kind in opaque api-key session; do
        echo "| /bench/protected, ${kind} / bearer (${first_alg}) | $(ratio "${CPU[${kind}-${first_alg}]:-}" "$jwt") | ≤ 1.30x |"
    done
    echo "| /api/auth/me, bearer / /bench/protected, bearer | $(ratio "${CPU[me-${first_alg}]:-}" "$jwt") | ≤ 2.00x |"
    echo "| /api/auth/me, cookie session / /bench/protected, bearer | $(ratio "${CPU[me-session-${first_alg}]:-}" "$jwt") | ≤ 2.00x |"
    echo "| refresh with rotation, req/s | ${RPS[refresh-${first_alg}]:--} | ≥ 7000 |"
    for alg in $ALGS; do
        [ "$alg" = "$first_alg" ] && continue
        echo "| /bench/protected, ${alg} (a token seen again) / ${first_alg} | $(ratio "${CPU[protected-${alg}]:-}" "$jwt") | ≤ 1.20x |"
    done
    echo
    echo "The HS256 route against the hand-written extractor (goal: at least 0.90 of its req/s): bench/peers.sh."
fi
if [ "$STATS" = 1 ]; then
    echo
    echo "## Server state after the runs (/bench/stats)"
    echo
    for alg in $ALGS; do
        echo "- ${alg}: \`${STATS_JSON[$alg]:-}\`"
    done
fi
echo
echo "Raw wrk output and server logs: ${RESULTS_DIR}"
