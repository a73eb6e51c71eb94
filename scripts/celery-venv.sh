#!/usr/bin/env bash
# Makes a Python venv with Celery and its Redis transport (from PyPI) under
# target/celery-venv, for benches/remote.sh. Prints the venv's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${CARGO_TARGET_DIR:-$root/target}/celery-venv"
if [ ! -x "$venv/bin/celery" ]; then
	python3 -m venv "$venv" >&2
	"$venv/bin/pip" install --quiet "celery[redis]>=5.3,<6" >&2
fi
echo "$venv"
