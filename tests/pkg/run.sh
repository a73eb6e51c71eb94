#!/usr/bin/env bash
# The library as a C user gets it:
#   1. the README's C commands, run exactly as written (the blocks marked
#      <!-- readme-test: ... -->), with HOME pointing at a temporary directory:
#      install into "$HOME/.local", build app.c with pkg-config, run it with
#      no LD_LIBRARY_PATH (the rpath finds the library), link it statically;
#   2. the installed tree: libdremioorch.so.X.Y.Z with SONAME
#      libdremioorch.so.X and its two links, no debug info in either library,
#      the pkg-config file (version, --static flags), the header;
#   3. the two programs: the dynamic one loads libdremioorch.so.0 through its
#      rpath, the static one has no NEEDED libdremioorch; sqlite:///history.db
#      made ./history.db;
#   4. the 0.1.0 ABI against the installed library (tests/abi/run.sh).
# Needs target/release built (SKIP_CARGO_BUILD=1 is passed to nothing: the
# README's install command builds, which is quick when the build is current).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=$(mktemp -d /tmp/dorch-pkg.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
fail() { echo "pkg: FAIL: $*" >&2; exit 1; }
ok() { echo "pkg: ok   $*"; }

# The block that follows the marker <!-- readme-test: NAME --> in README.md.
readme_block() {
    awk -v m="<!-- readme-test: $1 -->" '
        $0 == m { want = 1; next }
        want && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' README.md
}
for b in install app.c build; do
    [ -n "$(readme_block "$b")" ] || fail "README.md has no readme-test block '$b'"
done

# 1. The README's commands. Cargo and rustup keep their own homes.
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
export HOME=$OUT/home
mkdir -p "$HOME" "$OUT/app"
unset LD_LIBRARY_PATH PKG_CONFIG_PATH
PREFIX=$HOME/.local
LIB=$PREFIX/lib
readme_block install >"$OUT/install.sh"
readme_block app.c >"$OUT/app/app.c"
readme_block build >"$OUT/build.sh"
echo "pkg: README install block:"; sed 's/^/    /' "$OUT/install.sh"
bash -euo pipefail "$OUT/install.sh" >"$OUT/install.log" 2>&1 ||
    { cat "$OUT/install.log"; fail "the README's install command failed"; }
echo "pkg: README build block, in a directory holding the README's app.c:"; sed 's/^/    /' "$OUT/build.sh"
(cd "$OUT/app" && bash -euo pipefail "$OUT/build.sh") >"$OUT/build.log" 2>&1 ||
    { cat "$OUT/build.log"; fail "the README's build commands failed"; }
sed 's/^/    | /' "$OUT/build.log" | grep -v 'statically linked applications\|in function' || true
[ "$(grep -c '^run .*: SUCCESS$' "$OUT/build.log")" = 2 ] ||
    fail "the README's program did not print two SUCCESS runs"
[ "$(grep -c '^loading 42 rows on attempt 1$' "$OUT/build.log")" = 2 ] ||
    fail "the README's program did not load its rows"
ok "the README's commands, as written: install, pkg-config build, run without LD_LIBRARY_PATH, static link"
# The README's program under the warnings the C tests use.
gcc -std=c11 -Wall -Wextra -Werror -I"$PREFIX/include" -fsyntax-only "$OUT/app/app.c" ||
    fail "the README's app.c has warnings"

# 2. The installed tree.
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR=${VERSION%%.*}
[ -f "$LIB/libdremioorch.so.$VERSION" ] && [ ! -L "$LIB/libdremioorch.so.$VERSION" ] ||
    fail "no file $LIB/libdremioorch.so.$VERSION"
[ "$(readlink "$LIB/libdremioorch.so.$MAJOR")" = "libdremioorch.so.$VERSION" ] ||
    fail "libdremioorch.so.$MAJOR is not a link to libdremioorch.so.$VERSION"
[ "$(readlink "$LIB/libdremioorch.so")" = "libdremioorch.so.$MAJOR" ] ||
    fail "libdremioorch.so is not a link to libdremioorch.so.$MAJOR"
soname=$(readelf -d "$LIB/libdremioorch.so.$VERSION" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libdremioorch.so.$MAJOR" ] || fail "SONAME is '$soname', expected libdremioorch.so.$MAJOR"
ok "libdremioorch.so.$VERSION, SONAME $soname, links libdremioorch.so.$MAJOR and libdremioorch.so"
for f in "$LIB/libdremioorch.so.$VERSION" "$LIB/libdremioorch.a"; do
    n=$(readelf -S -W "$f" 2>/dev/null | grep -c ' \.debug_' || true)
    [ "$n" = 0 ] || fail "$f has $n debug sections"
done
ok "no debug info: .so $(stat -c %s "$LIB/libdremioorch.so.$VERSION") bytes, .a $(stat -c %s "$LIB/libdremioorch.a") bytes"
export PKG_CONFIG_PATH=$LIB/pkgconfig
[ "$(pkg-config --modversion dremioorch)" = "$VERSION" ] || fail "pkg-config --modversion"
[ "$(pkg-config --variable=libdir dremioorch)" = "$LIB" ] || fail "pkg-config libdir"
static_libs=$(pkg-config --static --libs dremioorch)
for l in "-L$LIB" -ldremioorch -lpthread -ldl -lm; do
    grep -qw -- "$l" <<<"$static_libs" || fail "pkg-config --static --libs lacks $l: $static_libs"
done
cmp -s include/dremioorch.h "$PREFIX/include/dremioorch.h" || fail "installed header differs"
ok "dremioorch.pc: version $VERSION, --static: $static_libs"

# 3. The programs.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '; }
app=$OUT/app/app
readelf -d "$app" | grep -q "NEEDED.*\[libdremioorch\.so\.$MAJOR\]" || fail "app does not need libdremioorch.so.$MAJOR: $(needed "$app")"
readelf -d "$app" | grep -Eq "(RUNPATH|RPATH).*\[$LIB\]" || fail "app has no rpath to $LIB"
loaded=$(ldd "$app" | sed -n 's/.*libdremioorch\.so\.[0-9]* => \([^ ]*\).*/\1/p')
[ "$loaded" = "$LIB/libdremioorch.so.$MAJOR" ] || fail "app loads '$loaded'"
ok "app: NEEDED $(needed "$app"), loads $loaded"
static=$OUT/app/app-static
if needed "$static" | grep -q libdremioorch; then fail "app-static needs libdremioorch"; fi
ok "app-static: no NEEDED libdremioorch (NEEDED: $(needed "$static"))"
[ -f "$OUT/app/history.db" ] || fail "sqlite:///history.db did not make ./history.db"
[ ! -e /history.db ] || fail "sqlite:///history.db made /history.db"
ok "sqlite:///history.db is ./history.db"

# 4. The 0.1.0 ABI, against the installed library.
bash tests/abi/run.sh "$PREFIX"
echo "pkg: all checks passed"
