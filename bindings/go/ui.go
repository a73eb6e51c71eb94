package dremioorch

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"sync"
)

// UIOptions says how StartUI serves. Empty fields take the defaults.
type UIOptions struct {
	// Listen is "host:port"; "" is 127.0.0.1:8080. Port 0 picks a free
	// port (see UI.Address).
	Listen string
	// Username and Password, both set, make every request need these HTTP
	// basic credentials. Set both or neither.
	Username string
	Password string
}

// UI is a running web UI over a backend's history. Close stops it.
type UI struct {
	mu  sync.RWMutex
	ptr *C.DorchUi
}

// StartUI starts the web UI over b's history; the UI keeps its own
// reference to the backend.
func StartUI(b *Backend, opts UIOptions) (*UI, error) {
	const op = "StartUI"
	if err := checkNUL(op, opts.Listen, opts.Username, opts.Password); err != nil {
		return nil, err
	}
	var ui *UI
	err := b.use(op, func(bp *C.DorchBackend) error {
		listen, user, pass := cstringOrNull(opts.Listen), cstringOrNull(opts.Username), cstringOrNull(opts.Password)
		defer cfree(listen)
		defer cfree(user)
		defer cfree(pass)
		var out *C.DorchUi
		var msg *C.char
		if err := cerr(op, C.dg_ui_start(bp, listen, user, pass, &out, &msg), msg); err != nil {
			return err
		}
		ui = &UI{ptr: out}
		runtime.SetFinalizer(ui, (*UI).Close)
		return nil
	})
	return ui, err
}

func (u *UI) use(op string, f func(*C.DorchUi) error) error {
	if u == nil {
		return errClosed(op)
	}
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.ptr == nil {
		return errClosed(op)
	}
	err := f(u.ptr)
	runtime.KeepAlive(u)
	return err
}

// AddPipeline lists p on the Pipelines page with a "Run now" button,
// which runs it on a new thread. The UI keeps its own reference to the
// pipeline: its tasks stay callable after p.Close.
func (u *UI) AddPipeline(p *Pipeline) error {
	const op = "UI.AddPipeline"
	return u.use(op, func(up *C.DorchUi) error {
		return p.read(op, func(pp *C.DorchPipeline) error {
			var msg *C.char
			return cerr(op, C.dg_ui_add_pipeline(up, pp, &msg), msg)
		})
	})
}

// Address is the address the UI listens on, "127.0.0.1:PORT".
func (u *UI) Address() (string, error) {
	const op = "UI.Address"
	var s string
	err := u.use(op, func(up *C.DorchUi) error {
		var out, msg *C.char
		if err := cerr(op, C.dg_ui_address(up, &out, &msg), msg); err != nil {
			return err
		}
		s = C.GoString(out)
		C.dorch_string_free(out)
		return nil
	})
	return s, err
}

// Close stops the server and frees the UI. Calling it again does nothing.
func (u *UI) Close() error {
	if u == nil {
		return nil
	}
	u.mu.Lock()
	ptr := u.ptr
	u.ptr = nil
	u.mu.Unlock()
	if ptr != nil {
		runtime.SetFinalizer(u, nil)
		C.dorch_ui_free(ptr)
	}
	return nil
}
