#!/usr/bin/env bash
# Before/after: builds the core and server benches of git revision REV (in a
# temporary copy, with a target directory of its own) and of the work tree,
# runs them alternately ROUNDS times (default 8), and prints the median of
# every figure for both, with the ratio. Alternating spreads the noise of a
# shared machine over both sides. The core bench runs with
# DORCH_BENCH_QUICK=1 (no 1,000,000-run history); the server bench needs the
# local PostgreSQL and MariaDB (see benches/servers.rs).
#
#   bash benches/compare.sh e5237c2            # 8 rounds, both benches
#   ROUNDS=5 ONLY=servers bash benches/compare.sh HEAD~3
set -euo pipefail
REV=${1:?usage: benches/compare.sh REV}
ROUNDS=${ROUNDS:-8}
ONLY=${ONLY:-}   # core or servers: that bench only
cd "$(dirname "$0")/.."
ROOT=$PWD
OLD_SRC=${COMPARE_OLD_DIR:-/tmp/dorch-compare-$(git rev-parse --short "$REV")}
OUT=$(mktemp -d /tmp/dorch-compare-out.XXXXXX)

if [ ! -f "$OLD_SRC/Cargo.toml" ]; then
    mkdir -p "$OLD_SRC"
    git archive "$REV" | tar -x -C "$OLD_SRC"
fi
bench_bins() { # crate dir -> the core and servers bench executables
    (cd "$1" && cargo bench --no-run --bench core --bench servers 2>&1) |
        sed -n 's/.*Executable benches\/\(core\|servers\)\.rs (\(.*\))/\1 \2/p'
}
echo "building $REV in $OLD_SRC and the work tree"
declare -A BIN
while read -r name path; do BIN[old_$name]="$OLD_SRC/$path"; done < <(bench_bins "$OLD_SRC")
while read -r name path; do BIN[new_$name]="$ROOT/$path"; done < <(bench_bins "$ROOT")

for i in $(seq 1 "$ROUNDS"); do
    for v in old new; do
        echo "round $i/$ROUNDS $v (load $(cut -d' ' -f1 /proc/loadavg))"
        if [ "$ONLY" != servers ]; then
            (cd /tmp && DORCH_BENCH_QUICK=1 "${BIN[${v}_core]}" --bench >"$OUT/core-$v-$i.txt" 2>&1)
        fi
        if [ "$ONLY" != core ]; then
            (cd /tmp && "${BIN[${v}_servers]}" --bench >"$OUT/servers-$v-$i.txt" 2>&1)
        fi
    done
done

python3 - "$OUT" "$REV" <<'PY'
import glob, re, statistics, sys
out, rev = sys.argv[1], sys.argv[2]
def core(path):
    for line in open(path):
        m = re.match(r'(memory|sqlite)\s+(chain|fan-out)\s+(\d+)\s+(\d+)\s+([\d.]+)', line)
        if m:
            yield f"{m[1]} {m[2]} {m[3]} tasks, {m[4]} worker(s), us/task", float(m[5])
def servers(path):
    for line in open(path):
        m = re.match(r'RESULT (\S+) (\S+) ([\d.]+)', line)
        if m:
            yield f"{m[1]} {m[2]}", float(m[3])
for kind, parse in (("core", core), ("servers", servers)):
    vals = {}
    for v in ("old", "new"):
        for f in sorted(glob.glob(f"{out}/{kind}-{v}-*.txt")):
            for k, x in parse(f):
                vals.setdefault(k, {}).setdefault(v, []).append(x)
    print(f"\n== {kind}: median of each side ({rev} = old, work tree = new)")
    print(f"{'figure':52} {'old':>9} {'new':>9} {'new/old':>8}")
    for k, vv in vals.items():
        o, n = vv.get("old", []), vv.get("new", [])
        if o and n:
            mo, mn = statistics.median(o), statistics.median(n)
            print(f"{k:52} {mo:9.2f} {mn:9.2f} {mn / mo:8.2f}")
print(f"\n(every run's output: {out})")
PY
