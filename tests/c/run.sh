#!/usr/bin/env bash
# Builds the C/C++ tests and examples against include/dremioorch.h, links each
# once to the shared library (installed by scripts/install.sh into a
# temporary prefix: its SONAME, libdremioorch.so.0, names the installed
# link) and once to target/release/libdremioorch.a, runs them under
# AddressSanitizer + UBSan (leak detection on), and runs the Redis example
# against the local Redis. Exits non-zero on any failure. (Installing and
# linking as a user would is tested by tests/pkg/run.sh.)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

if [ "${SKIP_CARGO_BUILD:-0}" != 1 ]; then
    cargo build --release || { echo "c-tests: cargo build failed"; exit 1; }
fi
LIBDIR="$ROOT/target/release"
[ -f "$LIBDIR/libdremioorch.so" ] && [ -f "$LIBDIR/libdremioorch.a" ] || {
    echo "c-tests: $LIBDIR lacks libdremioorch.so/.a"; exit 1; }

OUT=$(mktemp -d /tmp/dorch-c-tests.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
SKIP_CARGO_BUILD=1 bash scripts/install.sh "$OUT/prefix" >/dev/null ||
    { echo "c-tests: scripts/install.sh failed"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=exitcode=23
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -Wall -Wextra -Werror -g $SAN -I$ROOT/include -I$ROOT/tests/c"
CXXFLAGS="-std=c++17 -Wall -Wextra -Werror -g $SAN -I$ROOT/include"
STATIC_LIBS="$LIBDIR/libdremioorch.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
SHARED_LIBS="-L$OUT/prefix/lib -ldremioorch -Wl,-rpath,$OUT/prefix/lib -lpthread"

# test_api writes rows another tool could have written with the sqlite3 command.
if ! command -v sqlite3 >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get install -y sqlite3 || (apt-get update && apt-get install -y sqlite3)) >/dev/null 2>&1
fi
command -v sqlite3 >/dev/null || { echo "c-tests: the sqlite3 command is missing"; exit 1; }

passed=0
failed=0
# case NAME CMD...: runs CMD, counts it, shows its output on failure.
case_() {
    local name=$1; shift
    if "$@" >"$OUT/$name.log" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $name: $(tail -n 1 "$OUT/$name.log")"
    else
        failed=$((failed + 1))
        echo "FAIL $name (exit $?):"
        sed 's/^/    /' "$OUT/$name.log" | tail -n 60
    fi
}

build_and_run() { # compiler flags src name link [args...]
    local cc=$1 flags=$2 src=$3 name=$4 link=$5; shift 5
    local libs=$SHARED_LIBS
    [ "$link" = static ] && libs=$STATIC_LIBS
    $cc $flags "$src" -o "$OUT/$name-$link" $libs -lpthread && "$OUT/$name-$link" "$@"
}

for link in shared static; do
    for t in test_api test_custom_backend test_pipeline test_hardening test_spawn test_url test_durable \
        test_custom_durable test_scheduler test_ui; do
        case_ "$t-$link" build_and_run gcc "$CFLAGS" "tests/c/$t.c" "$t" "$link"
    done
    case_ "test_run_control-$link" build_and_run gcc "$CFLAGS" tests/c/test_run_control.c \
        test_run_control "$link" "sqlite:///$OUT/run-control-$link.db"
    case_ "test_cpp-$link" build_and_run g++ "$CXXFLAGS" tests/c/test_cpp.cpp test_cpp "$link"
done

# AddressSanitizer does not see reads inside the (uninstrumented) Rust
# library; valgrind does: the pipeline freed or changed during its run, and
# what the library reads of a custom vtable and its sinks.
check_valgrind() {
    local t=$1
    command -v valgrind >/dev/null ||
        (apt-get install -y valgrind || (apt-get update && apt-get install -y valgrind)) >/dev/null 2>&1
    gcc -std=c11 -Wall -Wextra -Werror -g -I"$ROOT/include" -I"$ROOT/tests/c" "tests/c/$t.c" \
        -o "$OUT/$t-vg" $SHARED_LIBS || return 1
    # --fair-sched: the tests' threads spin-wait on each other; valgrind's
    # default scheduler can starve the thread they wait for indefinitely.
    valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=no "$OUT/$t-vg"
}
for t in test_hardening test_custom_durable; do
    case_ "$t-valgrind" check_valgrind "$t"
done

# The quickstart example: an ETL pipeline on SQLite, checked by its output.
check_quickstart() {
    local link=$1 dir="$OUT/qs-$link"
    mkdir -p "$dir"
    build_and_run gcc "$CFLAGS" examples/c/quickstart.c quickstart "$link" "$dir/history.db" \
        >"$dir/out.txt" || return 1
    cat "$dir/out.txt"
    grep -q "run .* SUCCESS" "$dir/out.txt" &&
        grep -q "alert: SKIPPED" "$dir/out.txt" &&
        grep -q "cleanup: SUCCESS" "$dir/out.txt" &&
        grep -q "loaded 3 rows" "$dir/out.txt" &&
        [ "$(grep -c '^  run ' "$dir/out.txt")" -ge 2 ] &&
        echo "quickstart output checked"
}
for link in shared static; do
    case_ "quickstart-$link" check_quickstart "$link"
done

# The Redis example against the local Redis (started if down).
ensure_redis() {
    if ! pkg-config --exists hiredis 2>/dev/null && [ ! -f /usr/include/hiredis/hiredis.h ]; then
        if [ "$(id -u)" = 0 ]; then
            (apt-get install -y libhiredis-dev || (apt-get update && apt-get install -y libhiredis-dev)) >/dev/null 2>&1
        fi
    fi
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        mkdir -p /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
        for _ in $(seq 50); do
            redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
            sleep 0.1
        done
    fi
}
check_redis() {
    local link=$1
    ensure_redis
    [ -f /usr/include/hiredis/hiredis.h ] || { echo "libhiredis-dev is not installed"; return 1; }
    local libs=$SHARED_LIBS
    [ "$link" = static ] && libs=$STATIC_LIBS
    gcc $CFLAGS examples/c/redis_backend.c -o "$OUT/redis-$link" $libs -lhiredis -lpthread || return 1
    "$OUT/redis-$link" --check --cleanup
}
for link in shared static; do
    case_ "redis_backend-$link" check_redis "$link"
done

# Remote workers: a C worker on a thread serving a pipeline's remote tasks
# (local Redis), and the C worker example built. Their queue's keys go after.
check_remote() {
    local link=$1
    ensure_redis
    build_and_run gcc "$CFLAGS" tests/c/test_remote.c test_remote "$link" redis://127.0.0.1:6379 &&
        build_and_run gcc "$CFLAGS" examples/c/remote_worker.c remote_worker "$link" 2>&1 | grep -q usage &&
        echo "examples/c/remote_worker.c builds"
}
for link in shared static; do
    case_ "test_remote-$link" check_remote "$link"
done
redis-cli -h 127.0.0.1 -p 6379 --scan --pattern 'dorch_c_remote_*' 2>/dev/null |
    xargs -r redis-cli -h 127.0.0.1 -p 6379 del >/dev/null 2>&1

echo "c-tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
