#!/usr/bin/env bash
# dremioorch's PostgreSQL and MySQL backends (benches/servers.rs) beside
# dremioframe's own (benches/dremioframe_servers.py), on the local servers,
# printed side by side. Uses the virtualenv of tests/compat/run.sh
# (target/compat-venv), creating it if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV_OUT=$(bash "$ROOT/scripts/compat-venv.sh")
VENV_PY=$(sed -n 1p <<<"$VENV_OUT")
BACKEND_PY=$(sed -n 2p <<<"$VENV_OUT")

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "== dremioorch (cargo bench --bench servers)"
cargo bench --quiet --bench servers 2>&1 | tee -a "$OUT" | grep -v '^RESULT'
echo "== dremioframe $("$VENV_PY" -m pip show dremioframe 2>/dev/null | sed -n 's/^Version: //p')"
"$VENV_PY" "$ROOT/benches/dremioframe_servers.py" "$BACKEND_PY" | tee -a "$OUT" | grep -v '^RESULT'

get() { awk -v k="$1" -v m="$2" '$1 == "RESULT" && $2 == k && $3 == m { print $4 }' "$OUT"; }
echo
echo "== side by side"
printf '%-34s %16s %16s\n' "" "PostgreSQL" "MariaDB/MySQL"
printf '%-34s %16s %16s\n' "dremioorch chain, us/task" "$(get postgres chain_us_per_task)" "$(get mysql chain_us_per_task)"
printf '%-34s %16s %16s\n' "  relaxed flush (see README)" "$(get postgres chain_us_per_task)" "$(get mysql chain_relaxed_flush_us_per_task)"
printf '%-34s %16s %16s\n' "dremioorch fan-out (4 workers)" "$(get postgres fanout_us_per_task)" "$(get mysql fanout_us_per_task)"
printf '%-34s %16s %16s\n' "dremioframe chain (500), us/task" "$(get dremioframe-postgres chain_us_per_task)" "$(get dremioframe-mysql chain_us_per_task)"
printf '%-34s %16s %16s\n' "dremioorch list_runs(10), ms" "$(get postgres list_runs_ms)" "$(get mysql list_runs_ms)"
printf '%-34s %16s %16s\n' "dremioframe list_runs(10), ms" "$(get dremioframe-postgres list_runs_ms)" "$(get dremioframe-mysql list_runs_ms)"
echo "(list_runs over 100,000 runs of history; chain targets <= 300 us/task, list_runs < 0.5 ms)"
