#!/usr/bin/env bash
# The C API stays compatible with release 0.1.0: a host built against the
# 0.1.0 header (tests/abi/0.1.0/dremioorch.h, kept unchanged) works with the
# current library. Checks, against an installed library:
#   1. layout: enum values, struct field offsets and the sizes of the structs
#      without struct_size are the same with the old and the current header;
#   2. prototypes: every 0.1.0 declaration, repeated after the current header,
#      compiles (a changed parameter or return type is a conflict);
#   3. symbols: the shared library exports every 0.1.0 function;
#   4. the program abi_0_1_0.c, built against the 0.1.0 header, runs against
#      the current shared library (AddressSanitizer and UBSan on).
#
#   bash tests/abi/run.sh [PREFIX]   # PREFIX: an installed library; default: a
#                                    # temporary install of target/release
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=$(mktemp -d /tmp/dorch-abi.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
PREFIX=${1:-}
if [ -z "$PREFIX" ]; then
    PREFIX=$OUT/prefix
    SKIP_CARGO_BUILD=1 bash scripts/install.sh "$PREFIX" >/dev/null
fi
OLD=tests/abi/0.1.0
LIB=$PREFIX/lib
NEW_INCLUDE=$PREFIX/include
CFLAGS="-std=c11 -Wall -Wextra -Werror"
fail() { echo "abi: $*" >&2; exit 1; }

# 1. Layout.
gcc $CFLAGS -I"$OLD" tests/abi/layout.c -o "$OUT/layout-old"
gcc $CFLAGS -I"$NEW_INCLUDE" tests/abi/layout.c -o "$OUT/layout-new"
"$OUT/layout-old" >"$OUT/layout-old.txt"
"$OUT/layout-new" >"$OUT/layout-new.txt"
diff -u "$OUT/layout-old.txt" "$OUT/layout-new.txt" ||
    fail "the current header changes the 0.1.0 layout (- 0.1.0, + now)"
echo "abi: layout of 0.1.0 unchanged ($(wc -l <"$OUT/layout-old.txt") enum values, offsets and sizes)"

# 2. Prototypes: the declarations of the 0.1.0 header, verbatim, after the current one.
{
    echo '#include <dremioorch.h>'
    awk '/^extern "C" \{/ { on = 1; next } on && /^#ifdef __cplusplus/ { exit } on && !/^#endif/ { print }' \
        "$OLD/dremioorch.h"
} >"$OUT/prototypes.c"
n_old=$(grep -c '^[a-z].*dorch_[a-z_]*(' "$OUT/prototypes.c" || true)
[ "$n_old" -ge 38 ] || fail "found only $n_old declarations in the 0.1.0 header"
gcc $CFLAGS -I"$NEW_INCLUDE" -c "$OUT/prototypes.c" -o "$OUT/prototypes.o" ||
    fail "a 0.1.0 declaration conflicts with the current header"
echo "abi: the $n_old function declarations of 0.1.0 agree with the current header"

# 3. Symbols.
missing=""
for f in $(grep -o 'dorch_[a-z_]*(' "$OLD/dremioorch.h" | tr -d '(' | sort -u); do
    nm -D --defined-only "$LIB/libdremioorch.so.0" | grep -qw "T $f" || missing="$missing $f"
done
[ -z "$missing" ] || fail "libdremioorch.so.0 lacks:$missing"
echo "abi: libdremioorch.so.0 exports every 0.1.0 function"

# 4. The 0.1.0 host.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
gcc $CFLAGS $SAN -I"$OLD" tests/abi/abi_0_1_0.c -o "$OUT/abi_0_1_0" \
    -L"$LIB" -ldremioorch -Wl,-rpath,"$LIB"
readelf -d "$OUT/abi_0_1_0" | grep -q 'NEEDED.*\[libdremioorch\.so\.0\]' ||
    fail "the program does not load libdremioorch.so.0"
mkdir "$OUT/scratch"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$OUT/abi_0_1_0" "$OUT/scratch"
