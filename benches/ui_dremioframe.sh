#!/usr/bin/env bash
# `GET /api/runs` of `dremioorch ui` (release) beside dremioframe's own
# start_ui on one 1,000,000-run SQLite file, in the same run (median and p95
# of 50 requests each, client side); also checks both answer the same JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
VENV_OUT=$(bash scripts/compat-venv.sh)
cargo build --quiet --release --bin dremioorch
"$(sed -n 1p <<<"$VENV_OUT")" tests/compat/df_ui.py "$TARGET/release/dremioorch" \
    "$(sed -n 2p <<<"$VENV_OUT")" --bench 2> >(grep -v 'HTTP/1.1' >&2)
