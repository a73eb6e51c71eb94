// Package dremioorch is the Go binding of dremioorch, an embeddable pipeline
// orchestrator: define a DAG of tasks written in Go, run it on a pool of
// worker threads, and keep the run history in a backend (memory, SQLite,
// PostgreSQL, MySQL/MariaDB, or a Store written in Go).
//
// The package calls the C API of libdremioorch through cgo. By default it
// links the static library of the repository it sits in
// (target/release/libdremioorch.a: build it first with `cargo build
// --release` at the repository root). Built with the tag dorch_pkgconfig
// (`go build -tags dorch_pkgconfig`), it links the installed library found
// by pkg-config instead, from any directory.
package dremioorch

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Version returns the version of the linked libdremioorch.
func Version() string { return C.GoString(C.dorch_version()) }

// cerr turns the code and the copied message of a shim into a Go error.
func cerr(op string, code C.DorchCode, msg *C.char) error {
	if msg != nil {
		defer C.free(unsafe.Pointer(msg))
	}
	if code == C.DORCH_OK {
		return nil
	}
	e := &Error{Code: Code(code), Op: op}
	if msg != nil {
		e.Message = C.GoString(msg)
	}
	return e
}

// cstring returns a C copy of s; free it with C.free.
func cstring(s string) *C.char { return C.CString(s) }

// cstringOrNull is cstring, with NULL for the empty string.
func cstringOrNull(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

func cfree(p *C.char) {
	if p != nil {
		C.free(unsafe.Pointer(p))
	}
}

func taskStatusToC(s TaskStatus) (C.int, bool) {
	switch s {
	case TaskPending:
		return C.DORCH_TASK_PENDING, true
	case TaskRunning:
		return C.DORCH_TASK_RUNNING, true
	case TaskSuccess:
		return C.DORCH_TASK_SUCCESS, true
	case TaskFailed:
		return C.DORCH_TASK_FAILED, true
	case TaskSkipped:
		return C.DORCH_TASK_SKIPPED, true
	}
	return 0, false
}

func taskStatusFromC(s C.int) TaskStatus {
	switch s {
	case C.DORCH_TASK_PENDING:
		return TaskPending
	case C.DORCH_TASK_RUNNING:
		return TaskRunning
	case C.DORCH_TASK_SUCCESS:
		return TaskSuccess
	case C.DORCH_TASK_FAILED:
		return TaskFailed
	case C.DORCH_TASK_SKIPPED:
		return TaskSkipped
	}
	return TaskStatus("UNKNOWN")
}

func runStatusToC(s RunStatus) (C.int, bool) {
	switch s {
	case RunRunning:
		return C.DORCH_RUN_RUNNING, true
	case RunSuccess:
		return C.DORCH_RUN_SUCCESS, true
	case RunFailed:
		return C.DORCH_RUN_FAILED, true
	}
	return 0, false
}

func runStatusFromC(s C.int) RunStatus {
	switch s {
	case C.DORCH_RUN_RUNNING:
		return RunRunning
	case C.DORCH_RUN_SUCCESS:
		return RunSuccess
	case C.DORCH_RUN_FAILED:
		return RunFailed
	}
	return RunStatus("UNKNOWN")
}

func triggerToC(r TriggerRule) (C.int, bool) {
	switch r {
	case "", AllSuccess:
		return C.DORCH_TRIGGER_ALL_SUCCESS, true
	case OneFailed:
		return C.DORCH_TRIGGER_ONE_FAILED, true
	case AllDone:
		return C.DORCH_TRIGGER_ALL_DONE, true
	}
	return 0, false
}

// runFromC copies a borrowed C run record into Go values.
func runFromC(ri *C.DorchRunInfo) PipelineRun {
	r := PipelineRun{
		PipelineName: C.GoString(ri.pipeline_name),
		RunID:        C.GoString(ri.run_id),
		StartTime:    fromEpoch(float64(ri.start_time)),
		Status:       runStatusFromC(C.int(ri.status)),
		Tasks:        make(map[string]TaskStatus, int(ri.tasks_len)),
	}
	if bool(ri.has_end_time) {
		r.EndTime = fromEpoch(float64(ri.end_time))
	}
	if n := int(ri.tasks_len); n > 0 {
		for _, e := range unsafe.Slice(ri.tasks, n) {
			r.Tasks[C.GoString(e.name)] = taskStatusFromC(C.int(e.status))
		}
	}
	return r
}

// runToC makes a C copy of r, to be freed with C.dg_run_free. Unknown
// statuses are an ErrInvalidArgument.
func runToC(op string, r *PipelineRun) (*C.DorchRunInfo, error) {
	if r == nil {
		return nil, &Error{Code: CodeInvalidArgument, Op: op, Message: "run is nil"}
	}
	if err := checkNUL(op, r.PipelineName, r.RunID); err != nil {
		return nil, err
	}
	rs, ok := runStatusToC(r.Status)
	if !ok {
		return nil, &Error{Code: CodeInvalidArgument, Op: op, Message: "unknown run status " + quote(string(r.Status))}
	}
	names := r.TaskNames()
	statuses := make([]C.int, len(names))
	for i, n := range names {
		if err := checkNUL(op, n); err != nil {
			return nil, err
		}
		s, ok := taskStatusToC(r.Tasks[n])
		if !ok {
			return nil, &Error{Code: CodeInvalidArgument, Op: op,
				Message: "task " + quote(n) + ": unknown task status " + quote(string(r.Tasks[n]))}
		}
		statuses[i] = s
	}
	ri := C.dg_run_alloc(C.size_t(len(names)))
	if ri == nil {
		panic("dremioorch: out of C memory")
	}
	var end C.double
	if r.Finished() {
		end = C.double(toEpoch(r.EndTime))
	}
	C.dg_run_set_head(ri, cstring(r.PipelineName), cstring(r.RunID), C.double(toEpoch(r.StartTime)),
		C.bool(r.Finished()), end, rs)
	for i, n := range names {
		C.dg_run_set_task(ri, C.size_t(i), cstring(n), statuses[i])
		ri.tasks_len = C.size_t(i + 1)
	}
	return ri, nil
}

func quote(s string) string { return "\"" + s + "\"" }

// Go wrappers of the static C helpers above, for the other files of the
// package (a cgo preamble's static functions are visible only to its file).

func freeCRun(ri *C.DorchRunInfo) { C.dg_run_free(ri) }

func sinkPush(sink *C.DorchRunSink, ri *C.DorchRunInfo) C.DorchCode {
	var msg *C.char
	code := C.dg_run_sink_push(sink, ri, &msg)
	// The library has already recorded its message for this thread; the
	// copy is not needed.
	cfree(msg)
	return code
}

func contextSetOutput(ctx *C.DorchTaskContext, b []byte) C.DorchCode {
	if len(b) == 0 {
		return C.dg_context_set_output(ctx, nil, 0)
	}
	// A Go pointer to pointer-free memory, used by C only during the call
	// (the library copies the bytes).
	return C.dg_context_set_output(ctx, (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b)))
}

// checkNUL refuses strings with a NUL byte, which C would silently cut.
func checkNUL(op string, ss ...string) error {
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				return &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("%q contains a NUL byte", s)}
			}
		}
	}
	return nil
}
