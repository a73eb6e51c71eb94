#!/usr/bin/env bash
# The C-vs-Rust benchmark: a 10,000-task chain of no-op callbacks on the
# memory backend, driven from C (benches/c/chain.c, linked to the release
# libdremioorch.so, installed into a temporary prefix) and from Rust (benches/c/chain_rust.rs), in one run.
# Prints both per-task figures and fails if C is more than 1.5x Rust.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
N=${1:-10000}
ROUNDS=${2:-7}
cargo build --release
OUT=$(mktemp -d /tmp/dorch-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
SKIP_CARGO_BUILD=1 bash scripts/install.sh "$OUT/prefix" >/dev/null
gcc -std=c11 -O2 -Iinclude benches/c/chain.c -o "$OUT/chain" \
    -L"$OUT/prefix/lib" -ldremioorch -Wl,-rpath,"$OUT/prefix/lib"
rust_line=$(cargo bench --bench c_chain -q -- "$N" "$ROUNDS" 2>/dev/null | grep '^rust:')
c_line=$("$OUT/chain" "$N" "$ROUNDS")
echo "$rust_line"
echo "$c_line"
rust=$(echo "$rust_line" | awk '{print $2}')
c=$(echo "$c_line" | awk '{print $2}')
awk -v c="$c" -v r="$rust" 'BEGIN {
    ratio = c / r
    printf "c/rust: %.2fx (limit 1.5x)\n", ratio
    exit (ratio <= 1.5) ? 0 : 1
}'
