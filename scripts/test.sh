#!/usr/bin/env bash
# Runs every test of dremioorch: Rust (unit, integration, doc), the C and C++
# programs under AddressSanitizer, the dremioframe interoperability checks,
# and the Go bindings. Installs what a fresh machine lacks and starts the
# local services the tests need. Exits non-zero on the first failing suite.
set -euo pipefail
cd "$(dirname "$0")/.."

suites=0
step() { echo; echo "=== $* ==="; }
ran() { suites=$((suites + 1)); }

step "services"
bash scripts/services.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
ran

step "Rust tests"
cargo test
ran

step "release build (used by the C and Go tests)"
cargo build --release

if [ -f tests/c/run.sh ]; then
    step "C and C++ tests (AddressSanitizer)"
    bash tests/c/run.sh
    ran
fi

if [ -f tests/compat/run.sh ]; then
    step "dremioframe interoperability"
    bash tests/compat/run.sh
    ran
fi

if [ -f bindings/go/test.sh ]; then
    step "Go bindings"
    bash bindings/go/test.sh
    ran
fi

echo
echo "test suites: $suites passed, 0 failed"
