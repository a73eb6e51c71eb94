package dremioorch

// The Go functions C calls back: task bodies and custom-backend operations.
// Their C callers are the static trampolines of cgo.go, which turn the
// user_data pointer back into the runtime/cgo.Handle it carries.

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime/cgo"
	"sync/atomic"
	"time"
	"unsafe"
)

//export goReleaseHandle
func goReleaseHandle(h C.uintptr_t) {
	releaseHandle(cgo.Handle(h))
}

// releaseHandle deletes h; a handle already deleted is ignored (the library
// and Go may both try to release one after a failed registration).
func releaseHandle(h cgo.Handle) {
	defer func() { _ = recover() }()
	h.Delete()
	liveHandles.Add(-1)
}

// newHandle is cgo.NewHandle, counted in liveHandles.
func newHandle(v interface{}) cgo.Handle {
	liveHandles.Add(1)
	return cgo.NewHandle(v)
}

// liveHandles counts the handles given to the library and not yet released
// (tests check that Close and finalizers release every one).
var liveHandles atomic.Int64

//export goTaskCall
func goTaskCall(ctx *C.DorchTaskContext, h C.uintptr_t) (code C.DorchCode) {
	t := cgo.Handle(h).Value().(*taskEntry)
	tc := &TaskContext{ctx: ctx, task: t, start: time.Now()}
	if rs := activeRuns.of(ctx); rs != nil {
		tc.run, tc.parent = rs, rs.ctx
	}
	if t.remote {
		// A remote task learns of its cancellation or timeout from the
		// library: relay it to the task's context.
		var stop func()
		tc.parent, stop = watchCancel(ctx)
		defer stop()
	}
	tc.live.Store(true)
	defer func() {
		tc.live.Store(false)
		tc.finish()
		if tc.run != nil {
			// A task that cancelled its run's context is followed by no
			// other task: fire the token before the library goes on.
			tc.run.stop()
		}
		if r := recover(); r != nil {
			t.fail(ctx, fmt.Sprintf("task %q panicked: %v", t.name, r))
			code = C.DORCH_ERR_TASK_FAILED
		}
	}()
	out, err := t.fn(tc)
	if err != nil {
		t.fail(ctx, err.Error())
		return C.DORCH_ERR_TASK_FAILED
	}
	if out != nil {
		if c := contextSetOutput(ctx, out); c != C.DORCH_OK {
			t.fail(ctx, fmt.Sprintf("task %q: storing its output failed: %s", t.name, C.GoString(C.dorch_last_error())))
			return c
		}
	}
	return C.DORCH_OK
}

// storeReturn hands a Store's error back to C: its message through
// dorch_set_error (copied by the library), its code as the result.
func storeReturn(err error) C.DorchCode {
	if err == nil {
		return C.DORCH_OK
	}
	text := err.Error()
	if e, ok := err.(*Error); ok && e.Message != "" {
		text = e.Message // without the "dremioorch: " prefix
		if e.Op != "" {
			text = e.Op + ": " + text
		}
	}
	msg := C.CString(text)
	C.dorch_set_error(msg)
	C.free(unsafe.Pointer(msg))
	return C.DorchCode(codeOf(err, CodeBackend))
}

// storeRecover turns a panic in a Store method into a backend error.
func storeRecover(op string, code *C.DorchCode) {
	if r := recover(); r != nil {
		*code = storeReturn(&Error{Code: CodeBackend, Op: op, Message: fmt.Sprintf("custom backend panicked: %v", r)})
	}
}

func storeOf(h C.uintptr_t) Store {
	return cgo.Handle(h).Value().(*customState).store
}

//export goStoreSaveRun
func goStoreSaveRun(h C.uintptr_t, run *C.DorchRunInfo) (code C.DorchCode) {
	defer storeRecover("Store.SaveRun", &code)
	r := runFromC(run)
	return storeReturn(storeOf(h).SaveRun(&r))
}

//export goStoreGetRun
func goStoreGetRun(h C.uintptr_t, runID *C.char, sink *C.DorchRunSink) (code C.DorchCode) {
	defer storeRecover("Store.GetRun", &code)
	r, err := storeOf(h).GetRun(C.GoString(runID))
	if errors.Is(err, ErrNotFound) {
		return C.DORCH_OK // no run: push nothing
	}
	if err != nil {
		return storeReturn(err)
	}
	if r == nil {
		return C.DORCH_OK
	}
	return pushRun("Store.GetRun", sink, r)
}

//export goStoreUpdateTaskStatus
func goStoreUpdateTaskStatus(h C.uintptr_t, runID, task *C.char, status C.int) (code C.DorchCode) {
	defer storeRecover("Store.UpdateTaskStatus", &code)
	return storeReturn(storeOf(h).UpdateTaskStatus(C.GoString(runID), C.GoString(task), taskStatusFromC(status)))
}

//export goStoreListRuns
func goStoreListRuns(h C.uintptr_t, pipeline *C.char, limit C.uint32_t, sink *C.DorchRunSink) (code C.DorchCode) {
	defer storeRecover("Store.ListRuns", &code)
	name := ""
	if pipeline != nil {
		name = C.GoString(pipeline)
	}
	runs, err := storeOf(h).ListRuns(name, int(limit))
	if err != nil {
		return storeReturn(err)
	}
	if len(runs) > int(limit) {
		runs = runs[:limit]
	}
	for i := range runs {
		if c := pushRun("Store.ListRuns", sink, &runs[i]); c != C.DORCH_OK {
			return c
		}
	}
	return C.DORCH_OK
}

func pushRun(op string, sink *C.DorchRunSink, r *PipelineRun) C.DorchCode {
	ri, err := runToC(op, r)
	if err != nil {
		return storeReturn(err)
	}
	defer freeCRun(ri)
	return sinkPush(sink, ri)
}
