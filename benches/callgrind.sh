#!/usr/bin/env bash
# Instructions per task of a no-op memory-backend run (benches/chain_once.rs)
# under valgrind's callgrind: a count, not a time, so it is the same on a
# busy machine. Each figure is (instructions of an N-task run minus those of
# a 1-task run) / (N - 1): building and running the tasks, without process
# start-up. Shapes: chain, fan-out, layered (see chain_once.rs).
# Usage: bash benches/callgrind.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
cargo bench --quiet --bench chain_once --no-run 2>/dev/null
BIN=$(cargo bench --bench chain_once --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*chain_once[^"]*\)".*/\1/p' | tail -n 1)
count() { # tasks shape
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$1" "$2" >/dev/null 2>&1
    sed -n 's/^summary: //p' "$out"
    rm -f "$out"
}
printf '%-8s %10s %18s\n' shape tasks "instructions/task"
for shape in chain fan-out layered; do
    base=$(count 1 "$shape")
    full=$(count "$N" "$shape")
    printf '%-8s %10d %18d\n' "$shape" "$N" $(((full - base) / (N - 1)))
done
