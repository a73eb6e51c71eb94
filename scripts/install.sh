#!/usr/bin/env bash
# Installs libdremioorch into a prefix, as C libraries are installed:
#
#   PREFIX/lib/libdremioorch.so.X.Y.Z      the shared library (SONAME libdremioorch.so.X)
#   PREFIX/lib/libdremioorch.so.X          -> libdremioorch.so.X.Y.Z  (what programs load)
#   PREFIX/lib/libdremioorch.so            -> libdremioorch.so.X      (what -ldremioorch finds)
#   PREFIX/lib/libdremioorch.a             the static library
#   PREFIX/lib/pkgconfig/dremioorch.pc     pkg-config file (Libs.private for --static)
#   PREFIX/include/dremioorch.h
#
# Usage:
#   bash scripts/install.sh [PREFIX]        # PREFIX defaults to /usr/local
#
# The libraries carry no debug info; PROFILE=release-debug installs a build
# with it (cargo build --profile release-debug). As root, with no DESTDIR,
# into a directory the dynamic linker searches (/usr/local/lib...), it runs
# ldconfig; for any other prefix it prints how to link (an rpath).
# DESTDIR is honoured for staged installs; LIBDIR and INCLUDEDIR override
# PREFIX/lib and PREFIX/include. SKIP_CARGO_BUILD=1 installs what
# target/PROFILE already holds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${1:-${PREFIX:-/usr/local}}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
PROFILE=${PROFILE:-release}
DEST=${DESTDIR:-}

case "$PREFIX" in
/*) ;;
*) echo "install.sh: PREFIX must be an absolute path (got $PREFIX)" >&2; exit 2 ;;
esac

cd "$ROOT"
if [ "${SKIP_CARGO_BUILD:-0}" != 1 ]; then
    cargo build --profile "$PROFILE"
fi
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR=${VERSION%%.*}
BUILT=${CARGO_TARGET_DIR:-target}/$PROFILE
SHARED=$BUILT/libdremioorch.so
STATIC=$BUILT/libdremioorch.a
for f in "$SHARED" "$STATIC" include/dremioorch.h; do
    [ -f "$f" ] || { echo "install.sh: $f is missing (run cargo build --profile $PROFILE)" >&2; exit 1; }
done
soname=$(readelf -d "$SHARED" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != "libdremioorch.so.$MAJOR" ]; then
    echo "install.sh: $SHARED has SONAME '$soname', expected libdremioorch.so.$MAJOR (build.rs sets it)" >&2
    exit 1
fi

install -d "$DEST$LIBDIR/pkgconfig" "$DEST$INCLUDEDIR"
install -m 0755 "$SHARED" "$DEST$LIBDIR/libdremioorch.so.$VERSION"
ln -sfn "libdremioorch.so.$VERSION" "$DEST$LIBDIR/libdremioorch.so.$MAJOR"
ln -sfn "libdremioorch.so.$MAJOR" "$DEST$LIBDIR/libdremioorch.so"
install -m 0644 "$STATIC" "$DEST$LIBDIR/libdremioorch.a"
if [ "$PROFILE" = release ]; then
    # cargo strips the shared library's debug info itself, but not the debug
    # info the Rust standard library brings into the static one.
    strip --strip-debug "$DEST$LIBDIR/libdremioorch.a"
fi
install -m 0644 include/dremioorch.h "$DEST$INCLUDEDIR/dremioorch.h"

# Paths under the prefix are written relative to it, so a staged or moved
# tree can be used with pkg-config --define-prefix.
pc_path() {
    case "$1" in
    "$PREFIX"/*) echo "\${prefix}${1#"$PREFIX"}" ;;
    *) echo "$1" ;;
    esac
}
# Libs.private: what the static library needs besides libc's default
# libraries (rustc --print native-static-libs, without -lgcc_s: the compiler
# driver adds the unwinder itself, static or shared, and a -static link has
# no libgcc_s to find).
cat >"$DEST$LIBDIR/pkgconfig/dremioorch.pc" <<PC
prefix=$PREFIX
libdir=$(pc_path "$LIBDIR")
includedir=$(pc_path "$INCLUDEDIR")

Name: dremioorch
Description: Embeddable pipeline orchestrator (C API)
URL: https://pypi.org/project/dremioframe/
Version: $VERSION
Libs: -L\${libdir} -ldremioorch
Libs.private: -lutil -lrt -lpthread -lm -ldl -lc
Cflags: -I\${includedir}
PC
echo "installed dremioorch $VERSION into $DEST$PREFIX (libdremioorch.so.$VERSION, SONAME libdremioorch.so.$MAJOR)"

# The dynamic linker's cache, when LIBDIR is one of its directories.
searched() {
    local d
    for d in /lib /usr/lib /lib64 /usr/lib64; do [ "$1" = "$d" ] && return 0; done
    cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null | sed 's/#.*//; s/[[:space:]]*$//' |
        grep -qxF -- "$1"
}
if [ -z "$DEST" ] && searched "$LIBDIR"; then
    if [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then
        ldconfig && echo "ran ldconfig: programs find libdremioorch.so.$MAJOR in $LIBDIR"
    else
        echo "run ldconfig as root so that programs find libdremioorch.so.$MAJOR in $LIBDIR"
    fi
elif [ -z "$DEST" ]; then
    echo "$LIBDIR is not searched by the dynamic linker: link programs with" \
        "-Wl,-rpath,$LIBDIR (or add it to /etc/ld.so.conf.d and run ldconfig)"
fi
