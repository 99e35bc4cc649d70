#!/usr/bin/env bash
# The facade's features one at a time: each combination of capabilities must compile (and lint
# clean) on its own, and a sessions-only or API-keys-only build must not pull in the JWT library or
# the mailer. Run from the repository root; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

all="jwt,opaque-tokens,api-keys,sessions,mfa,account-emails,rate-limit,audit,openapi,breached-passwords,redis,resource-server,social-login,email-sign-in,passkeys,django-hashes,axum,poem,sqlite,postgres,testing"
combos=(
    "default"
    "sessions,axum,sqlite"
    "api-keys,axum,sqlite"
    "jwt,axum,sqlite"
    "opaque-tokens,poem,postgres"
    "mfa,account-emails,rate-limit,audit,openapi"
    "resource-server,axum"
    "social-login,jwt,poem,postgres"
    "social-login,opaque-tokens,openapi,poem"
    "email-sign-in,sessions,axum,sqlite"
    "passkeys,jwt,poem,postgres"
    ""
    "$all"
)

for combo in "${combos[@]}"; do
    if [[ "$combo" == "default" ]]; then
        args=()
    else
        args=(--no-default-features --features "$combo")
    fi
    echo "== portcullis [${combo:-no features}]"
    cargo clippy -q -p portcullis "${args[@]}" -- -D warnings
done

# The server (the README's `cargo run -p auth-server`), the black-box tests and each example on
# their own, with exactly the features their manifests ask for.
for package in auth-server portcullis-tests portcullis-bench axum-quickstart axum-app axum-sessions poem-app resource-server; do
    echo "== $package on its own"
    cargo clippy -q -p "$package" --all-targets -- -D warnings
done

# What a capability pulls in.
absent() {
    local features="$1"; shift
    local tree
    tree="$(cargo tree -p portcullis --no-default-features --features "$features" -e normal --prefix none)"
    for crate in "$@"; do
        if grep -q "^$crate v" <<<"$tree"; then
            echo "features [$features] pull in $crate" >&2
            exit 1
        fi
    done
    echo "== [$features] has none of: $*"
}
absent "sessions,axum,sqlite" jsonwebtoken lettre
absent "api-keys,axum,sqlite" jsonwebtoken lettre
absent "jwt,axum,sqlite" lettre bcrypt pbkdf2 scrypt
# A resource server has no database.
absent "resource-server,axum" sea-orm sqlx lettre
if cargo tree -p axum-sessions -e normal --prefix none | grep -qE "^(jsonwebtoken|lettre) v"; then
    echo "examples/axum-sessions pulls in jsonwebtoken or lettre" >&2
    exit 1
fi
# The JWT engine is not the hub of the flows.
if grep -qE '^auth-(blacklist|token|session|mfa|mail|ratelimit)' crates/auth-jwt/Cargo.toml; then
    echo "crates/auth-jwt depends on a capability crate" >&2
    exit 1
fi
echo "== feature combinations: ok"
