#!/usr/bin/env bash
# dremioframe <-> dremioorch interoperability on SQLite, PostgreSQL and
# MySQL/MariaDB. Needs the local servers (DORCH_TEST_PG_URL, default
# postgresql://postgres@127.0.0.1:5432/test; DORCH_TEST_MYSQL_URL, default
# mysql://root@127.0.0.1:3306/test). Makes (or reuses) a virtualenv under
# target/compat-venv with dremioframe and the two drivers, installed with
# --no-deps: only dremioframe/orchestration/backend.py is loaded, by path.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=${DORCH_COMPAT_VENV:-$TARGET/compat-venv}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import psycopg2, mysql.connector" 2>/dev/null \
   || [ -z "$(find "$VENV" -path '*dremioframe/orchestration/backend.py' -print -quit 2>/dev/null)" ]; then
    echo "compat: creating virtualenv in $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        dremioframe psycopg2-binary mysql-connector-python
fi
BACKEND_PY=$(find "$VENV" -path '*dremioframe/orchestration/backend.py' -print -quit)
[ -n "$BACKEND_PY" ] || { echo "compat: dremioframe's backend.py not found in $VENV"; exit 1; }

cargo build --quiet --example compat_tool
TOOL="$TARGET/debug/examples/compat_tool"

"$VENV/bin/python" "$ROOT/tests/compat/check.py" "$TOOL" "$BACKEND_PY"
