#!/usr/bin/env bash
# Cluster run (issue 19): three Portcullis processes (two on axum, one on poem) on one PostgreSQL
# database, rate limits shared in Redis, under a mixed load (bench/src/cluster.rs: register,
# sign-in, MFA sign-in, refresh chains, protected reads, sign-out, sign-out-all) with faults: one
# server killed with SIGKILL and restarted, PostgreSQL restarted. At the end it checks, from the
# outside and from the database:
#   - no 5xx but 503s inside the outage windows (and no connection error but to the killed
#     server while it is down, or to any while PostgreSQL restarts);
#   - no committed user or grant lost, an audit row for every successful sign-in;
#   - every refresh chain (live grant) has exactly one live refresh token;
#   - every sign-out refused by every process within the revocation bound;
#   - each process's memory flat after warm-up (RSS at the end within 1.5x of the RSS at a
#     quarter of the run, plus 16 MiB);
# and prints a table (throughput, p50/p99 per request kind, statuses, invariants).
#
#   bash bench/cluster.sh                  # 120 s with faults, release build
#   SOAK=1 bash bench/cluster.sh           # 20 s to measure capacity, then 600 s at half of it, no faults
#   DURATION=40 PROFILE=dev REDIS=0 bash bench/cluster.sh   # the CI smoke
#
# Knobs: DURATION (120 s; SOAK: 600), MAX_REQUESTS (0: none), CONCURRENCY (24), RATE (0: as fast
# as answered), FAULTS (1; SOAK: 0), PROFILE (release | dev), REDIS (1: rate limits in Redis,
# needs the server's `redis` feature; 0: in the database), BASE_PORT (18300), RESULTS_DIR.
# PostgreSQL and Redis come from .ci/postgres.sh and .ci/redis.sh (127.0.0.1:15432 and :16379).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SOAK="${SOAK:-0}"
if [ "$SOAK" = 1 ]; then
    DURATION="${DURATION:-600}"
    FAULTS="${FAULTS:-0}"
else
    DURATION="${DURATION:-120}"
    FAULTS="${FAULTS:-1}"
fi
MAX_REQUESTS="${MAX_REQUESTS:-0}"
CONCURRENCY="${CONCURRENCY:-24}"
RATE="${RATE:-0}"
PROFILE="${PROFILE:-release}"
REDIS="${REDIS:-1}"
BASE_PORT="${BASE_PORT:-18300}"
POLL_MS=1000
# A process whose revocation sync has failed this long refuses access tokens (503): so a
# revocation reaches every process, or makes it fail closed, within max(POLL_MS, STALE_MS).
STALE_MS=2000
BOUND_MS=$((POLL_MS > STALE_MS ? POLL_MS : STALE_MS))
SECRET="cluster-secret-cluster-secret-cluster-secret-0123456789"

log() { printf '[cluster.sh] %s\n' "$*" >&2; }
if ! command -v jq >/dev/null 2>&1; then
    log "jq not found: installing it with apt-get"
    apt-get install -y -qq jq >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq jq >/dev/null; }
fi
for tool in curl jq psql cargo; do
    command -v "$tool" >/dev/null 2>&1 || { log "missing required tool: $tool"; exit 1; }
done

features=()
[ "$REDIS" = 1 ] && features=(--features redis)
log "building the server and the load generator (${PROFILE})"
cargo build --profile "$PROFILE" -p auth-server "${features[@]}" --bin portcullis >&2
cargo build --profile "$PROFILE" -p portcullis-bench --bin portcullis-cluster-load >&2
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
out_dir="$PROFILE"
[ "$PROFILE" = dev ] && out_dir=debug
SERVER_BIN="${TARGET_DIR}/${out_dir}/portcullis"
LOAD_BIN="${TARGET_DIR}/${out_dir}/portcullis-cluster-load"
RESULTS_DIR="${RESULTS_DIR:-${TARGET_DIR}/cluster-results}"
mkdir -p "$RESULTS_DIR"

ADMIN_URL="$(bash .ci/postgres.sh start)"
DB="pc_cluster"
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)" -c "CREATE DATABASE ${DB}" >/dev/null
DB_URL="${ADMIN_URL%/*}/${DB}"
RATE_STORE="database"
if [ "$REDIS" = 1 ]; then
    RATE_STORE="$(bash .ci/redis.sh start)"
    redis-cli -u "$RATE_STORE" FLUSHALL >/dev/null 2>&1 || true
fi

WORK="$(mktemp -d)"
declare -a PIDS=() PORTS=() ADAPTERS=(axum axum poem)
WINDOWS="${WORK}/windows.txt" # "start_ms end_ms what" per outage
: >"$WINDOWS"
now_ms() { date +%s%3N; }

start_server() {
    local i="$1"
    env -i PATH="$PATH" HOME="$HOME" \
        PORTCULLIS_BIND="127.0.0.1:${PORTS[$i]}" \
        PORTCULLIS_DATABASE_URL="$DB_URL" \
        PORTCULLIS_ADAPTER="${ADAPTERS[$i]}" \
        PORTCULLIS_JWT_ALGORITHM=HS256 \
        PORTCULLIS_JWT_SECRET="$SECRET" \
        PORTCULLIS_RATE_LIMIT_STORE="$RATE_STORE" \
        PORTCULLIS_REVOCATION_POLL_MS="$POLL_MS" \
        PORTCULLIS_REVOCATION_STALE_AFTER_MS="$STALE_MS" \
        PORTCULLIS_ARGON2_MEMORY_KIB=19456 \
        PORTCULLIS_SIGNIN_LIMIT_PER_IP=100000000 \
        PORTCULLIS_REGISTER_LIMIT_PER_IP=100000000 \
        PORTCULLIS_REGISTER_LIMIT_GLOBAL=100000000 \
        PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS=2000 \
        PORTCULLIS_LOG=warn \
        "$SERVER_BIN" >>"${RESULTS_DIR}/server-${i}.log" 2>&1 &
    PIDS[$i]=$!
    echo "${PIDS[$i]}" >"${WORK}/pid-${i}"
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "http://127.0.0.1:${PORTS[$i]}/healthz" 2>/dev/null && return 0
        kill -0 "${PIDS[$i]}" 2>/dev/null || { log "server $i exited:"; tail -20 "${RESULTS_DIR}/server-${i}.log" >&2; exit 1; }
        sleep 0.1
    done
    log "server $i did not start"
    exit 1
}

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

servers=""
for i in 0 1 2; do
    PORTS[$i]=$((BASE_PORT + i))
    rm -f "${RESULTS_DIR}/server-${i}.log"
    start_server "$i"
    servers="${servers:+${servers},}http://127.0.0.1:${PORTS[$i]}"
done
log "servers up: ${servers} (database ${DB}, rate limits: ${RATE_STORE})"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
run_load() { # run_load SECONDS RATE OUT
    CLUSTER_SERVERS="$servers" CLUSTER_DURATION_SECS="$1" CLUSTER_RATE="$2" CLUSTER_OUT="$3" \
        CLUSTER_CONCURRENCY="$CONCURRENCY" CLUSTER_MAX_REQUESTS="$MAX_REQUESTS" \
        CLUSTER_REVOCATION_BOUND_MS="$BOUND_MS" "$LOAD_BIN"
}

if [ "$SOAK" = 1 ] && [ "$RATE" = 0 ]; then
    log "measuring capacity (20 s, no faults)"
    run_load 20 0 "${WORK}/capacity.json"
    capacity="$(jq -r .throughput "${WORK}/capacity.json")"
    RATE="$(awk -v c="$capacity" 'BEGIN { printf "%d", c / 2 }')"
    log "capacity ${capacity} req/s: the soak runs at ${RATE} req/s"
fi

log "load: ${DURATION} s, ${CONCURRENCY} workers, rate ${RATE} (0: unbounded), faults ${FAULTS}"
REPORT="${RESULTS_DIR}/report.json"
run_load "$DURATION" "$RATE" "$REPORT" &
LOAD_PID=$!

# RSS samples of the three servers: every 5 s, "seconds pid0 pid1 pid2".
RSS_LOG="${WORK}/rss.txt"
(
    start=$(date +%s)
    while kill -0 "$LOAD_PID" 2>/dev/null; do
        echo "$(($(date +%s) - start)) $(rss_kib "$(cat "${WORK}/pid-0")") $(rss_kib "$(cat "${WORK}/pid-1")") $(rss_kib "$(cat "${WORK}/pid-2")")"
        sleep 5
    done
) >"$RSS_LOG" &
RSS_PID=$!

if [ "$FAULTS" = 1 ]; then
    sleep "$((DURATION / 3))"
    log "SIGKILL server 1 (axum)"
    t0=$(now_ms)
    kill -9 "${PIDS[1]}"
    wait "${PIDS[1]}" 2>/dev/null || true
    sleep 3
    start_server 1
    echo "$t0 $(now_ms) server1" >>"$WINDOWS"
    log "server 1 restarted"
    sleep "$((DURATION / 3))"
    log "restarting PostgreSQL"
    t0=$(now_ms)
    bash .ci/postgres.sh stop >/dev/null
    bash .ci/postgres.sh start >/dev/null
    # The outage lasts until every server answers /readyz again.
    for i in 0 1 2; do
        for _ in $(seq 1 300); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORTS[$i]}/readyz")" = 200 ] && break
            sleep 0.1
        done
    done
    echo "$t0 $(now_ms) postgres" >>"$WINDOWS"
    log "PostgreSQL back"
fi
wait "$LOAD_PID"
kill "$RSS_PID" 2>/dev/null || true
wait "$RSS_PID" 2>/dev/null || true

# ---- invariants
fail=0
check() { # check NAME OK(0/1) DETAIL
    local mark="ok"
    if [ "$2" != 0 ]; then mark="FAILED"; fail=1; fi
    INVARIANTS+=("| $1 | ${mark} | $3 |")
}
declare -a INVARIANTS=()

# 5xx and connection errors outside the windows (a window is widened by 2 s on each side: the
# load generator's clock reads the time an answer came back).
unexpected="$(jq -r '.failures[] | "\(.at_ms) \(.server) \(.status) \(.kind) \(.detail)"' "$REPORT" | awk -v wf="$WINDOWS" '
    BEGIN { n = 0; while ((getline line < wf) > 0) { split(line, w, " "); s[n] = w[1] - 2000; e[n] = w[2] + 2000; what[n] = w[3]; n++ } }
    {
        at = $1; server = $2; status = $3; ok = 0
        for (i = 0; i < n; i++) {
            if (at >= s[i] && at <= e[i]) {
                if (what[i] == "postgres" && (status == 503 || status == 0)) ok = 1
                if (what[i] == "server1" && server == 1 && status == 0) ok = 1
            }
        }
        if (!ok) print
    }')"
n_unexpected=$(printf '%s' "$unexpected" | grep -c . || true)
check "no 5xx or connection error outside the outage windows" "$n_unexpected" "${n_unexpected} unexpected"
[ "$n_unexpected" -gt 0 ] && printf '%s\n' "$unexpected" | head -20 >&2

q() { psql -At "$DB_URL" -c "$1"; }
registered="$(jq -r '.registered | length' "$REPORT")"
jq -r '.registered[]' "$REPORT" >"${WORK}/users.txt"
missing_users="$(psql -At "$DB_URL" -c "CREATE TEMP TABLE wanted(u text)" -c "\\copy wanted FROM '${WORK}/users.txt'" \
    -c "SELECT count(*) FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM portcullis_users u WHERE u.username = w.u)" | tail -1)"
check "every registered user is in the database" "$missing_users" "${registered} registered, ${missing_users} missing"

grants="$(jq -r '.grants | length' "$REPORT")"
jq -r '.grants[]' "$REPORT" >"${WORK}/grants.txt"
missing_grants="$(psql -At "$DB_URL" -c "CREATE TEMP TABLE wanted(g text)" -c "\\copy wanted FROM '${WORK}/grants.txt'" \
    -c "SELECT count(*) FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM portcullis_grants g WHERE g.id = w.g)" | tail -1)"
check "every grant signed in is in the database" "$missing_grants" "${grants} grants, ${missing_grants} missing"

# A sign-in whose audit write met the database restarting is answered, and the failure logged
# ("audit event could not be stored"): every completed sign-in is either in the table or there.
sign_ins="$(jq -r .completed_sign_ins "$REPORT")"
audited="$(q "SELECT count(*) FROM portcullis_audit_events WHERE kind = 'sign_in_succeeded'")"
unstored="$(cat "${RESULTS_DIR}"/server-*.log | grep 'audit event could not be stored' | grep -c 'sign_in_succeeded' || true)"
short=$((audited + unstored >= sign_ins ? 0 : 1))
check "every completed sign-in audited (or its failed write logged)" "$short" \
    "${sign_ins} sign-ins, ${audited} audit rows, ${unstored} logged as not stored"

not_one="$(q "SELECT count(*) FROM (SELECT g.id FROM portcullis_grants g JOIN portcullis_refresh_tokens t ON t.grant_id = g.id
    WHERE g.revoked_at IS NULL GROUP BY g.id HAVING count(*) FILTER (WHERE t.consumed_at IS NULL) <> 1) x")"
check "every live refresh chain has exactly one live token" "$not_one" "${not_one} chains with 0 or 2+ live tokens"

checks="$(jq -r .revocation_checks "$REPORT")"
violations="$(jq -r '.revocation_violations | length' "$REPORT")"
check "every sign-out refused (401, or 503 failing closed) by every process within ${BOUND_MS} ms" "$violations" \
    "${checks} checks, ${violations} violations"
[ "$violations" -gt 0 ] && jq -r '.revocation_violations[]' "$REPORT" | head -10 >&2

rss_fail=0
rss_detail=""
samples=$(wc -l <"$RSS_LOG")
if [ "$samples" -ge 4 ]; then
    quarter=$((samples / 4 + 1))
    for col in 2 3 4; do
        warm=$(awk -v l="$quarter" -v c="$col" 'NR == l {print $c}' "$RSS_LOG")
        last=$(awk -v c="$col" 'END {print $c}' "$RSS_LOG")
        rss_detail="${rss_detail}server $((col - 2)): ${warm} -> ${last} KiB; "
        # Server 1 restarts in a faulty run: its samples after the restart are another process.
        if [ "$FAULTS" = 1 ] && [ "$col" = 3 ]; then continue; fi
        awk -v w="$warm" -v l="$last" 'BEGIN { exit !(l > w * 1.5 + 16384) }' && rss_fail=1
    done
else
    rss_detail="too short to sample"
fi
check "memory flat after warm-up (RSS)" "$rss_fail" "$rss_detail"

# ---- the table
echo
echo "## Cluster run: 3 servers (axum, axum, poem), PostgreSQL, rate limits in ${RATE_STORE%%:*}, ${DURATION} s"
echo
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr); profile ${PROFILE}; ${CONCURRENCY} workers; rate ${RATE} (0: unbounded); faults ${FAULTS}"
echo
jq -r '"throughput: \(.throughput | floor) req/s over \(.seconds | floor) s, \(.requests) requests"' "$REPORT"
echo
echo "| request | count | p50 ms | p99 ms | statuses |"
echo "|---------|------:|-------:|-------:|----------|"
jq -r '.kinds | to_entries[] | "| \(.key) | \(.value.count) | \(.value.p50_ms) | \(.value.p99_ms) | \(.value.statuses | to_entries | map("\(.key): \(.value)") | join(", ")) |"' "$REPORT"
echo
if [ -s "$WINDOWS" ]; then
    echo "Outage windows: $(awk '{printf "%s %.1f s; ", $3, ($2 - $1) / 1000}' "$WINDOWS")"
    echo
fi
echo "| invariant | result | detail |"
echo "|-----------|--------|--------|"
printf '%s\n' "${INVARIANTS[@]}"
echo
echo "Report: ${REPORT}; server logs: ${RESULTS_DIR}/server-*.log"
exit "$fail"
