#!/usr/bin/env bash
# dremioorch's engine with the memory and SQLite backends (cargo bench --bench
# core) beside dremioframe's own engine and backends
# (benches/dremioframe_core.py), in one run. DORCH_BENCH_QUICK=1 shortens both.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_OUT=$(bash scripts/compat-venv.sh)
VENV_PY=$(sed -n 1p <<<"$VENV_OUT")
ORCH_DIR=$(dirname "$(sed -n 2p <<<"$VENV_OUT")")
echo "== dremioorch (cargo bench --bench core)"
cargo bench --quiet --bench core
echo
echo "== dremioframe $("$VENV_PY" -m pip show dremioframe 2>/dev/null | sed -n 's/^Version: //p')"
"$VENV_PY" benches/dremioframe_core.py "$ORCH_DIR" ${DORCH_BENCH_QUICK:+--quick} | grep -v '^RESULT'
