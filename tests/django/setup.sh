#!/usr/bin/env bash
# Create (or reuse) the Python virtualenv used to build the Django fixture
# databases for `portcullis import django` tests.
#
#   tests/django/setup.sh            # prints the venv's python path last
#
# Venv location: ${PORTCULLIS_DJANGO_VENV:-<repo>/target/django-venv}
# Idempotent: the pip install is skipped when the marker file records the
# same hash of requirements.txt (+ python version).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${PORTCULLIS_DJANGO_VENV:-$REPO/target/django-venv}"
REQS="$HERE/requirements.txt"
PYTHON_BIN="${PYTHON:-python3}"
MARKER="$VENV/.portcullis-requirements.sha256"

hash_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum | cut -d' ' -f1
    else
        shasum -a 256 | cut -d' ' -f1
    fi
}

WANT="$( { cat "$REQS"; "$PYTHON_BIN" -c 'import sys; print(sys.version)'; } | hash_of)"

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup.sh: creating virtualenv at $VENV" >&2
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON_BIN" -m venv "$VENV"
fi

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$WANT" ]; then
    echo "setup.sh: requirements up to date ($VENV)" >&2
else
    echo "setup.sh: installing requirements into $VENV" >&2
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >&2
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQS" >&2
    echo "$WANT" > "$MARKER"
fi

echo "$VENV/bin/python"
