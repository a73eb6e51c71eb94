//go:build !dorch_pkgconfig

package dremioorch

// The default: the static library and the header of the repository this
// package sits in, so `go test` works in a built checkout with no install.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libdremioorch.a -lm -ldl -lpthread
*/
import "C"
