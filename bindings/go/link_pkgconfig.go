//go:build dorch_pkgconfig

package dremioorch

// With -tags dorch_pkgconfig: the installed library and header, as
// pkg-config finds them (scripts/install.sh writes dremioorch.pc; set
// PKG_CONFIG_PATH for a prefix pkg-config does not search).

/*
#cgo pkg-config: dremioorch
*/
import "C"
