#!/usr/bin/env bash
# Builds libdremioorch and runs the Go binding's checks: gofmt, go vet,
# go test -race, and the cgo pointer checks (GODEBUG=cgocheck=1, and the
# full check: GOEXPERIMENT=cgocheck2 on Go >= 1.21, GODEBUG=cgocheck=2 before).
# The server tests use the local PostgreSQL and MariaDB (DORCH_GO_PG_URL,
# DORCH_GO_MYSQL_URL override the URLs; DORCH_GO_SKIP_SERVERS=1 skips them);
# their tables (prefix dorch_go_) are dropped at the end.
# BENCH=1 also runs the 10,000-task chain benchmark.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v go >/dev/null || (apt-get update && apt-get install -y golang-go)
# A test writes rows another tool could have written with the sqlite3 command.
command -v sqlite3 >/dev/null || (apt-get update && apt-get install -y sqlite3)
command -v pkg-config >/dev/null || (apt-get update && apt-get install -y pkg-config)

drop_tables() {
	if [ "${DORCH_GO_SKIP_SERVERS:-}" = 1 ]; then return 0; fi
	if command -v psql >/dev/null; then
		psql -q -h 127.0.0.1 -U postgres -d test -v ON_ERROR_STOP=0 -At -c \
			"select 'DROP TABLE IF EXISTS \"' || tablename || '\" CASCADE;' from pg_tables where tablename like 'dorch\_go\_%'" 2>/dev/null |
			psql -q -h 127.0.0.1 -U postgres -d test >/dev/null 2>&1 || true
	fi
	if command -v mariadb >/dev/null; then
		mariadb -h 127.0.0.1 -u root test -N -e \
			"select concat('DROP TABLE IF EXISTS \`', table_name, '\`;') from information_schema.tables where table_schema = 'test' and table_name like 'dorch\\_go\\_%' order by table_name like '%\\_task\\_state' desc" 2>/dev/null |
			mariadb -h 127.0.0.1 -u root test >/dev/null 2>&1 || true
	fi
}
trap drop_tables EXIT

echo "== cargo build --release"
(cd "$root" && cargo build --release)

# Go's build cache does not notice a changed C library or header
# (golang/go#24355): put their identity into the cgo flags, which it does hash,
# so a rebuilt libdremioorch.a is always the one linked.
lib="$root/target/release/libdremioorch.a"
stamp="$(stat -c '%s-%Y' "$lib" "$root/include/dremioorch.h" | tr '\n' '-')"
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -DDORCH_GO_LIB_STAMP=$stamp"

cd "$here"
go version

echo "== gofmt"
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
	echo "not gofmt'ed: $unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...

echo "== GODEBUG=cgocheck=1"
GODEBUG=cgocheck=1 go test -count=1 ./...

minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
if [ "$minor" -ge 21 ] 2>/dev/null; then
	echo "== GOEXPERIMENT=cgocheck2"
	GOEXPERIMENT=cgocheck2 go test -count=1 ./...
else
	echo "== GODEBUG=cgocheck=2 (Go 1.$minor has no GOEXPERIMENT=cgocheck2; this is its equivalent)"
	GODEBUG=cgocheck=2 go test -count=1 ./...
fi

echo "== a program outside the repository, against the installed library (-tags dorch_pkgconfig)"
# The library installed into a temporary prefix; the package's sources
# copied away from the checkout (as a module cache or a vendored copy holds
# them); the program in a module of its own, as bindings/go/README.md says.
out="$(mktemp -d /tmp/dorch-go-outside.XXXXXX)"
trap 'rm -rf "$out"; drop_tables' EXIT
SKIP_CARGO_BUILD=1 bash "$root/scripts/install.sh" "$out/prefix" >/dev/null
mkdir -p "$out/dremioorch-go" "$out/app"
for f in "$here"/*.go "$here"/shim.c "$here"/shim.h "$here"/go.mod; do
	case "$f" in *_test.go) continue ;; esac
	cp "$f" "$out/dremioorch-go/"
done
cp "$here/testdata/outside/main.go" "$out/app/"
(
	cd "$out/app"
	go mod init example.com/outside >/dev/null 2>&1
	go mod edit -go=1.19 -require=dremioorch.dev/go/dremioorch@v0.0.0 \
		-replace=dremioorch.dev/go/dremioorch="$out/dremioorch-go"
	export PKG_CONFIG_PATH="$out/prefix/lib/pkgconfig"
	export CGO_LDFLAGS="-Wl,-rpath,$(pkg-config --variable=libdir dremioorch)"
	GOFLAGS=-mod=mod GOPROXY=off go build -tags dorch_pkgconfig -o app .
	readelf -d app | grep -q 'NEEDED.*\[libdremioorch\.so\.0\]' ||
		{ echo "the program does not load libdremioorch.so.0" >&2; exit 1; }
	env -u LD_LIBRARY_PATH ./app | tee app.out
	grep -q "run .* SUCCESS, loaded 42 rows, alert SKIPPED, 1 run(s)" app.out
	[ -f history.db ]
)

if [ "${BENCH:-}" = 1 ]; then
	echo "== benchmark"
	go test -run '^$' -bench 'Chain10k' -benchtime 20x .
fi
echo "Go bindings: all checks passed"
