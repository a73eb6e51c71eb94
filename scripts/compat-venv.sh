#!/usr/bin/env bash
# Makes (or reuses) the virtualenv with dremioframe and the two database
# drivers, installed with --no-deps (only dremioframe/orchestration/backend.py
# is loaded, by path: the package's __init__ pulls about 1 GB of libraries).
# Prints two lines: the venv's python, then the path of backend.py.
# Used by tests/compat/run.sh and benches/servers.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
VENV=${DORCH_COMPAT_VENV:-$TARGET/compat-venv}
PY=${PYTHON:-python3}

find_backend() { find "$VENV" -path '*dremioframe/orchestration/backend.py' -print -quit 2>/dev/null; }

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import psycopg2, mysql.connector" 2>/dev/null \
   || [ -z "$(find_backend)" ]; then
    echo "compat-venv: creating $VENV" >&2
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        dremioframe psycopg2-binary mysql-connector-python >&2
fi
BACKEND_PY=$(find_backend)
[ -n "$BACKEND_PY" ] || { echo "compat-venv: dremioframe's backend.py not found in $VENV" >&2; exit 1; }
echo "$VENV/bin/python"
echo "$BACKEND_PY"
