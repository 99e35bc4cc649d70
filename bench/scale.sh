#!/usr/bin/env bash
# Scale run (issue 18, goal 6): the load.sh routes measured on a SQLite database holding 10^6 users,
# 10^6 grants (each with its refresh token) and 10^5 revoked grants, against the same routes on a
# database of 10^3 users; the query plans of the per-request statements checked for index use; the
# server's cache sizes and resident memory reported after each run.
#
#   bash bench/scale.sh
#
# Steps:
#   1. builds portcullis-bench-server (release) and migrates two empty databases by starting it;
#   2. seeds them with sqlite3 (recursive CTEs copying a real registered row, so every value has
#      the exact stored format): "small" 10^3 users / 10^3 grants / 10^2 revoked, "large" 10^6 /
#      10^6 / 10^5 (SMALL and LARGE change the user counts; grants = users, revoked = users / 10);
#   3. prints EXPLAIN QUERY PLAN for each statement a request runs and fails on a full scan;
#   4. runs bench/load.sh on a copy of each database (DB_TEMPLATE), HS256 only, and prints the
#      per-request server CPU of both and their ratio (goal: within 10%) with /bench/stats (cache
#      sizes, revocation-list sizes, RSS) after the run.
#
# Knobs: SMALL (1000), LARGE (1000000), and every load.sh knob (DURATION, CONNECTIONS, PIN,
# SERVER_BIN, ...).
# Takes about 3 minutes to seed the large database on 2 cores, plus two load.sh runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMALL="${SMALL:-1000}"
LARGE="${LARGE:-1000000}"
PORT="${PORT:-18080}"
BASE="http://127.0.0.1:${PORT}"

log() { printf '[scale.sh] %s\n' "$*" >&2; }

for tool in sqlite3 curl jq cargo; do
    command -v "$tool" >/dev/null 2>&1 || {
        log "missing required tool: $tool (apt-get install -y sqlite3 curl jq)"
        exit 1
    }
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
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# migrate DB: starts the server once on DB (which runs the migrations) and registers the template
# user whose row the seed copies.
migrate() {
    local db="$1"
    PORTCULLIS_BIND="127.0.0.1:${PORT}" PORTCULLIS_DATABASE_URL="sqlite://${db}?mode=rwc" \
        PORTCULLIS_JWT_ALGORITHM=HS256 PORTCULLIS_JWT_SECRET="scale-secret-of-decent-length-0123456789" \
        PORTCULLIS_LOG=warn "$SERVER" >"${WORK}/migrate.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        curl -fsS -o /dev/null "${BASE}/healthz" 2>/dev/null && break
        sleep 0.1
    done
    curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
        --data '{"username":"template","password":"template-password-0f-decent-length"}' \
        "${BASE}/api/auth/register"
    # A real grant too: its timestamps are copied, in the stored format.
    curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
        --data '{"username":"template","password":"template-password-0f-decent-length"}' \
        "${BASE}/api/auth/mobile/sign-in"
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# seed DB USERS: USERS users, one grant (and live refresh token) each, one grant in ten revoked
# (with its revocation event).
seed() {
    local db="$1" users="$2"
    local revoked=$((users / 10))
    sqlite3 "$db" <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${users})
INSERT INTO portcullis_users (id, username, username_normalized, email, email_normalized,
    email_verified, password_hash, is_active, is_staff, is_superuser, roles, date_joined, tenant,
    last_login)
SELECT printf('seed-user-%08d', i), printf('seed%08d', i), printf('seed%08d', i),
    printf('seed%08d@example.test', i), printf('seed%08d@example.test', i), t.email_verified,
    t.password_hash, t.is_active, t.is_staff, t.is_superuser, t.roles, t.date_joined, t.tenant,
    t.last_login
FROM n, (SELECT * FROM portcullis_users WHERE username = 'template') AS t;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${users})
INSERT INTO portcullis_grants (id, user_id, created_at, last_used_at, expires_at, user_agent, ip,
    revoked_at, kind)
SELECT printf('seed-grant-%08d', i), printf('seed-user-%08d', i), g.created_at, g.last_used_at,
    g.expires_at, 'scale.sh', '127.0.0.1', CASE WHEN i <= ${revoked} THEN g.created_at END, g.kind
FROM n, (SELECT * FROM portcullis_grants LIMIT 1) AS g;
INSERT INTO portcullis_refresh_tokens (jti, grant_id, user_id, issued_at, expires_at, consumed_at,
    replaced_by)
SELECT 'seed-jti-' || substr(id, 12), id, user_id, created_at, expires_at, NULL, NULL
FROM portcullis_grants WHERE id LIKE 'seed-grant-%';
INSERT INTO portcullis_revocations (kind, grant_id, user_id, not_before, created_at)
SELECT 'grant', id, user_id, NULL, revoked_at FROM portcullis_grants
WHERE id LIKE 'seed-grant-%' AND revoked_at IS NOT NULL ORDER BY id;
COMMIT;
ANALYZE;
SQL
}

# explain DB: the plan of every statement a request runs, by name; a full table scan fails.
explain() {
    local db="$1" failed=0 name sql plan
    local -a statements=(
        "user by id|SELECT * FROM portcullis_users WHERE id = 'x'"
        "user by login|SELECT * FROM portcullis_users WHERE username_normalized IN ('x','y') OR email_normalized IN ('x','y')"
        "opaque token by hash|SELECT * FROM portcullis_opaque_tokens WHERE token_hash = 'x'"
        "session by hash|SELECT * FROM portcullis_sessions WHERE session_hash = 'x'"
        "API key by hash|SELECT * FROM portcullis_api_keys WHERE key_hash = 'x'"
        "refresh token by jti|SELECT * FROM portcullis_refresh_tokens WHERE jti = 'x'"
        "consume a refresh token|UPDATE portcullis_refresh_tokens SET consumed_at = 'x' WHERE jti = 'x' AND consumed_at IS NULL"
        "grant by id|SELECT * FROM portcullis_grants WHERE id = 'x'"
        "grants of a user|SELECT * FROM portcullis_grants WHERE user_id = 'x' AND revoked_at IS NULL"
        "revocations since|SELECT * FROM portcullis_revocations WHERE seq > 5 ORDER BY seq"
        "roles of a user|SELECT * FROM portcullis_user_roles WHERE user_id = 'x'"
    )
    echo "| statement | plan |"
    echo "|---|---|"
    for entry in "${statements[@]}"; do
        name="${entry%%|*}"
        sql="${entry#*|}"
        plan="$(sqlite3 "$db" "EXPLAIN QUERY PLAN ${sql}" | sed -E 's/^[|` -]+//' | paste -sd ';' -)"
        echo "| ${name} | ${plan} |"
        if grep -qE '(^|;)SCAN portcullis_' <<<"$plan"; then
            log "full scan in '${name}': ${plan}"
            failed=1
        fi
    done
    return "$failed"
}

declare -A CPU_ROWS
run_load() {
    local label="$1" db="$2"
    log "load.sh on the ${label} database"
    DB_TEMPLATE="$db" ALGS=HS256 RESULTS_DIR="${RESULTS_DIR}/scale-${label}" STATS=1 \
        bash "${ROOT}/bench/load.sh" >"${WORK}/load-${label}.md"
    CPU_ROWS[$label]="$(cat "${WORK}/load-${label}.md")"
}

for label in small large; do
    users="$SMALL"
    [ "$label" = large ] && users="$LARGE"
    db="${WORK}/${label}.db"
    log "migrating and seeding the ${label} database (${users} users)"
    migrate "$db"
    start=$(date +%s)
    seed "$db" "$users"
    log "seeded in $(($(date +%s) - start)) s: $(du -h "$db" | cut -f1)"
done

echo "## Query plans on the large database (${LARGE} users)"
echo
explain "${WORK}/large.db"
echo

run_load small "${WORK}/small.db"
run_load large "${WORK}/large.db"

# The per-request server CPU column of each row, side by side.
echo "## Per-request server CPU: ${SMALL} users against ${LARGE} users"
echo
echo "| route | ${SMALL} users µs | ${LARGE} users µs | ratio | goal |"
echo "|---|---:|---:|---:|---|"
paste -d '\t' <(grep -E '^\| (GET|POST) ' <<<"${CPU_ROWS[small]}") <(grep -E '^\| (GET|POST) ' <<<"${CPU_ROWS[large]}") |
    awk -F '\t' '{
        split($1, a, "|"); split($2, b, "|");
        name = a[2]; gsub(/^ +| +$/, "", name);
        sa = a[6]; sb = b[6]; gsub(/[^0-9.]/, "", sa); gsub(/[^0-9.]/, "", sb);
        if (sa > 0 && sb > 0) printf "| %s | %s | %s | %.2fx | ≤ 1.10x |\n", name, sa, sb, sb / sa;
    }'
echo
for label in small large; do
    echo "### load.sh on the ${label} database"
    echo
    echo "${CPU_ROWS[$label]}"
    echo
done
