#!/usr/bin/env bash
# The scheduler's figures (benches/schedule.rs) beside APScheduler 3's
# (benches/apscheduler_schedule.py) in the same run: fire lateness of a 50 ms
# interval (median, p99 over 200 fires) and idle CPU with 10,000 schedules.
# APScheduler comes from PyPI into a virtualenv under target/ (made once).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
VENV=$TARGET/sched-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import apscheduler" 2>/dev/null; then
    echo "schedule.sh: creating $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'apscheduler<4' >&2
fi
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "== dremioorch (cargo bench --bench schedule)"
cargo bench --quiet --bench schedule 2>&1 | tee -a "$OUT" | grep -v '^RESULT'
echo "== APScheduler $("$VENV/bin/python" -c 'import apscheduler; print(apscheduler.__version__)')"
"$VENV/bin/python" benches/apscheduler_schedule.py | tee -a "$OUT" | grep -v '^RESULT'
get() { awk -v k="$1" -v m="$2" '$1 == "RESULT" && $2 == k && $3 == m { print $4 }' "$OUT"; }
echo
echo "== side by side"
printf '%-40s %12s %12s\n' "" "dremioorch" "APScheduler"
printf '%-40s %12s %12s\n' "lateness median, ms (50 ms interval)" "$(get dremioorch lateness_median_ms)" "$(get apscheduler lateness_median_ms)"
printf '%-40s %12s %12s\n' "lateness p99, ms" "$(get dremioorch lateness_p99_ms)" "$(get apscheduler lateness_p99_ms)"
printf '%-40s %12s %12s\n' "idle CPU, ms over 5 s (10,000 sched.)" "$(get dremioorch idle_cpu_ms_per_5s)" "$(get apscheduler idle_cpu_ms_per_5s)"
