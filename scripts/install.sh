#!/usr/bin/env bash
# Installs libdremioorch (.so and .a), include/dremioorch.h and a generated
# pkg-config file into a prefix:
#
#   bash scripts/install.sh [PREFIX]        # PREFIX defaults to /usr/local
#   cc app.c $(pkg-config --cflags --libs dremioorch)
#
# (set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a prefix pkg-config does not
# search). DESTDIR is honoured for staged installs; LIBDIR overrides PREFIX/lib.
# SKIP_CARGO_BUILD=1 installs what target/release already holds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${1:-${PREFIX:-/usr/local}}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=$PREFIX/include
DEST=${DESTDIR:-}

cd "$ROOT"
if [ "${SKIP_CARGO_BUILD:-0}" != 1 ]; then
    cargo build --release
fi
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
SONAME_LIB=target/release/libdremioorch.so
STATIC_LIB=target/release/libdremioorch.a
for f in "$SONAME_LIB" "$STATIC_LIB" include/dremioorch.h; do
    [ -f "$f" ] || { echo "install.sh: $f is missing (run cargo build --release)" >&2; exit 1; }
done

install -d "$DEST$LIBDIR/pkgconfig" "$DEST$INCLUDEDIR"
install -m 0755 "$SONAME_LIB" "$DEST$LIBDIR/libdremioorch.so"
install -m 0644 "$STATIC_LIB" "$DEST$LIBDIR/libdremioorch.a"
install -m 0644 include/dremioorch.h "$DEST$INCLUDEDIR/dremioorch.h"
cat >"$DEST$LIBDIR/pkgconfig/dremioorch.pc" <<PC
prefix=$PREFIX
libdir=$LIBDIR
includedir=$INCLUDEDIR

Name: dremioorch
Description: Embeddable pipeline orchestrator (C API)
Version: $VERSION
Libs: -L\${libdir} -ldremioorch
Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
Cflags: -I\${includedir}
PC
echo "installed dremioorch $VERSION into $DEST$PREFIX"
