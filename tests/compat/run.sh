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
VENV_OUT=$(bash "$ROOT/scripts/compat-venv.sh")
VENV_PY=$(sed -n 1p <<<"$VENV_OUT")
BACKEND_PY=$(sed -n 2p <<<"$VENV_OUT")

cargo build --quiet --example compat_tool
TOOL="$TARGET/debug/examples/compat_tool"

"$VENV_PY" "$ROOT/tests/compat/check.py" "$TOOL" "$BACKEND_PY"

# The web UI's /api/runs beside dremioframe's own start_ui on one SQLite file.
cargo build --quiet --bin dremioorch
"$VENV_PY" "$ROOT/tests/compat/df_ui.py" "$TARGET/debug/dremioorch" "$BACKEND_PY" 2> >(grep -v "HTTP/1.1" >&2)
