#!/usr/bin/env bash
# Browser test of the embedded web UI: headless Chromium driven by
# playwright-core (no browser download; the system /usr/bin/chromium is used).
#
#   bash tests/browser/run.sh
#
# Installs what is missing: chromium with apt-get (when run as root) and
# playwright-core with npm into a cache dir under the target dir. Builds the
# `dremioorch` binary and the `ui_demo` example (release), then runs ui.cjs,
# which writes docs/img/ui-runs.png and docs/img/ui-run.png and prints the
# page-load figure.
#
# Environment:
#   CHROMIUM           browser binary (default /usr/bin/chromium)
#   BROWSER_PROFILE    cargo profile for the binaries: release (default) or debug
#   DORCH_UI_BENCH_DB  SQLite file with a large history (e.g. 1,000,000 runs) to
#                      measure the page load on; default: the file the UI bench
#                      leaves under the target dir, when present
#   NO_SCREENSHOTS=1   do not overwrite docs/img/*.png
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
PROFILE=${BROWSER_PROFILE:-release}

if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "browser: installing chromium with apt-get" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "browser: $CHROMIUM is missing; install chromium (apt-get install chromium) or set CHROMIUM" >&2
        exit 1
    fi
fi

if ! command -v node >/dev/null; then
    echo "browser: node is missing (needs Node.js >= 18)" >&2
    exit 1
fi

NODE_DIR=$TARGET/browser-node
if [ ! -f "$NODE_DIR/node_modules/playwright-core/package.json" ]; then
    echo "browser: installing playwright-core into $NODE_DIR" >&2
    mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent playwright-core@1.65.1 >/dev/null)
fi

if [ "$PROFILE" = release ]; then
    cargo build --release --bin dremioorch --example ui_demo
else
    cargo build --bin dremioorch --example ui_demo
fi

BENCH_DB=${DORCH_UI_BENCH_DB:-}
if [ -z "$BENCH_DB" ]; then
    for f in "$TARGET"/ui-bench*/*.db "$TARGET"/ui_bench*.db "$TARGET"/ui-bench*.db; do
        if [ -f "$f" ]; then BENCH_DB=$f; break; fi
    done
fi

export CHROMIUM
export DORCH_UI_DEMO="$TARGET/$PROFILE/examples/ui_demo"
export DORCH_CLI="$TARGET/$PROFILE/dremioorch"
export DORCH_UI_BENCH_DB="$BENCH_DB"
export DORCH_UI_SCREENSHOTS="${NO_SCREENSHOTS:+}"
[ -n "${NO_SCREENSHOTS:-}" ] || export DORCH_UI_SCREENSHOTS="$ROOT/docs/img"
NODE_PATH="$NODE_DIR/node_modules" node "$ROOT/tests/browser/ui.cjs"
