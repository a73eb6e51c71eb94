#!/usr/bin/env bash
# Instructions per task of a no-op memory-backend run (benches/chain_once.rs)
# under valgrind's callgrind: a count, not a time, so it is the same on a
# busy machine. Each figure is (instructions of an N-task run minus those of
# a 1-task run) / (N - 1): building and running the tasks, without process
# start-up. "further run": what each run after the first adds per task
# (an N-task pipeline run twice, less run once, over N), the cost a
# pipeline run again and again pays. Shapes: chain, fan-out, layered (see
# chain_once.rs).
# Usage: bash benches/callgrind.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
cargo bench --quiet --bench chain_once --no-run 2>/dev/null
BIN=$(cargo bench --bench chain_once --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*chain_once[^"]*\)".*/\1/p' | tail -n 1)
count() { # tasks shape [runs]
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$1" "$2" "${3:-1}" >/dev/null 2>&1
    sed -n 's/^summary: //p' "$out"
    rm -f "$out"
}
printf '%-8s %10s %28s %22s\n' shape tasks "instructions/task build+run" "further run/task"
for shape in chain fan-out layered; do
    base=$(count 1 "$shape")
    full=$(count "$N" "$shape")
    twice=$(count "$N" "$shape" 2)
    printf '%-8s %10d %28d %22d\n' "$shape" "$N" $(((full - base) / (N - 1))) $(((twice - full) / N))
done
