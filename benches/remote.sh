#!/usr/bin/env bash
# Per-task overhead of remote tasks beside Celery's, on the same Redis in the
# same run: a fan-out of 1,000 no-op tasks served by 1 and 4 dremioorch
# worker processes (benches/remote.rs), then 1,000 delay() + get() of a
# no-op Celery task served by 4 Celery worker processes (Celery from PyPI
# in a venv under target/, scripts/celery-venv.sh).
# DORCH_BENCH_REDIS_URL overrides redis://127.0.0.1:6379.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
url="${DORCH_BENCH_REDIS_URL:-redis://127.0.0.1:6379}"

cargo build --release --quiet --example remote_worker
DORCH_BENCH_REDIS_URL="$url" cargo bench --quiet --bench remote

venv="$(bash scripts/celery-venv.sh)"
queue="dorch_bench_celery_$$"
export DORCH_BENCH_REDIS_URL="$url/0" DORCH_BENCH_CELERY_QUEUE="$queue"
cd benches
"$venv/bin/celery" -A celery_noop worker --concurrency 4 --pool prefork -Q "$queue" \
	--loglevel WARNING --without-gossip --without-mingle --without-heartbeat >/tmp/"$queue".log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
"$venv/bin/python" celery_noop.py 1000
