package dremioorch

// Task details: attempts, start and end times and error of each task of a
// run, from a RunResult, from a Backend, and from a Store written in Go that
// keeps them (DetailStore).

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"math"
	"time"
)

// TaskDetail is what is known about one task of a run.
type TaskDetail struct {
	Name   string
	Status TaskStatus
	// Attempts is the number of attempts started; 0: the task never started.
	Attempts int
	// StartTime is when its first attempt started; the zero time when it
	// never started.
	StartTime time.Time
	// EndTime is when it reached its final status; the zero time until then.
	EndTime time.Time
	// Error says why it failed or did not run ("" when nothing went wrong):
	// the task's own error, "timed out after N ms" (its WithTimeout passed),
	// "cancelled: <reason>" (its run was stopped, e.g. "cancelled: context
	// canceled" or "cancelled: context deadline exceeded").
	Error string
}

// Started reports whether the task started (StartTime is set).
func (d *TaskDetail) Started() bool { return !d.StartTime.IsZero() }

// Finished reports whether the task reached its final status (EndTime is set).
func (d *TaskDetail) Finished() bool { return !d.EndTime.IsZero() }

// DetailStore is the optional part of a Store that keeps task details.
// NewCustomBackend checks for it with a type assertion: a Store that also
// has these methods keeps details, and Backend.TaskDetails returns them;
// without them Backend.TaskDetails fails with ErrUnsupported (runs work the
// same).
//
// For a DetailStore, runs call UpdateTaskDetail instead of UpdateTaskStatus
// on every task change: it must also update the task's status in the run
// record, as UpdateTaskStatus would. (UpdateTaskStatus is still called by
// Backend.UpdateTaskStatus.) Errors and panics are handled as for Store.
type DetailStore interface {
	// UpdateTaskDetail records one task's change with its detail; an error
	// matching ErrNotFound for an unknown run.
	UpdateTaskDetail(runID string, d TaskDetail) error
	// TaskDetails returns the detail of every task of the run (in any
	// order; the library sorts them by name); an error matching ErrNotFound
	// for an unknown run.
	TaskDetails(runID string) ([]TaskDetail, error)
}

// TaskDetail returns the detail of task name in this run: an error matching
// ErrNotFound for a task the pipeline does not have, ErrInvalidArgument for
// an empty name or a nil result.
func (r *RunResult) TaskDetail(name string) (TaskDetail, error) {
	const op = "RunResult.TaskDetail"
	if r == nil {
		return TaskDetail{}, &Error{Code: CodeInvalidArgument, Op: op, Message: "result is nil"}
	}
	if name == "" {
		return TaskDetail{}, &Error{Code: CodeInvalidArgument, Op: op, Message: "task name is empty"}
	}
	d, ok := r.details[name]
	if !ok {
		return TaskDetail{}, &Error{Code: CodeNotFound, Op: op, Message: fmt.Sprintf("run %s has no task %q", r.RunID, name)}
	}
	return d, nil
}

// TaskDetails returns the detail of every task of run runID, sorted by task
// name. Errors: ErrNotFound for an unknown run; ErrUnsupported when the
// backend keeps no details (a Store that is not a DetailStore; the SQL
// backends of this library version); ErrInvalidArgument for an empty id.
func (b *Backend) TaskDetails(runID string) ([]TaskDetail, error) {
	const op = "Backend.TaskDetails"
	if err := checkNUL(op, runID); err != nil {
		return nil, err
	}
	cid := cstring(runID)
	defer cfree(cid)
	var out []TaskDetail
	err := b.use(op, func(p *C.DorchBackend) error {
		var list *C.DorchTaskDetailList
		var msg *C.char
		if err := cerr(op, C.dg_backend_get_task_details(p, cid, &list, &msg), msg); err != nil {
			return err
		}
		defer C.dorch_task_detail_list_free(list)
		n := int(C.dorch_task_detail_list_len(list))
		out = make([]TaskDetail, 0, n)
		for i := 0; i < n; i++ {
			d := C.dorch_task_detail_list_get(list, C.size_t(i))
			if d == nil {
				break
			}
			out = append(out, detailFromC(d))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// detailFromC copies a borrowed C detail into Go values.
func detailFromC(d *C.DorchTaskDetail) TaskDetail {
	return detailFromCNamed(d, C.GoString(d.name))
}

// detailFromCNamed is detailFromC for a detail whose name is known.
func detailFromCNamed(d *C.DorchTaskDetail, name string) TaskDetail {
	td := TaskDetail{
		Name:     name,
		Status:   taskStatusFromC(C.int(d.status)),
		Attempts: int(d.attempts),
	}
	if bool(d.has_start_time) {
		td.StartTime = fromEpoch(float64(d.start_time))
	}
	if bool(d.has_end_time) {
		td.EndTime = fromEpoch(float64(d.end_time))
	}
	if d.error != nil {
		td.Error = C.GoString(d.error)
	}
	return td
}

// resultDetail copies the detail of task name (cname in C) from a C run result.
func resultDetail(out *C.DorchRunResult, cname *C.char, name string) (TaskDetail, bool) {
	var d *C.DorchTaskDetail
	if C.dorch_run_result_task_detail(out, cname, &d) != C.DORCH_OK || d == nil {
		return TaskDetail{}, false
	}
	return detailFromCNamed(d, name), true
}

// pushDetail hands a Store's detail to the library's sink.
func pushDetail(op string, sink *C.DorchTaskDetailSink, d *TaskDetail) C.DorchCode {
	fail := func(msg string) C.DorchCode {
		return storeReturn(&Error{Code: CodeInvalidArgument, Op: op, Message: msg})
	}
	if err := checkNUL(op, d.Name, d.Error); err != nil {
		return storeReturn(err)
	}
	st, ok := taskStatusToC(d.Status)
	if !ok {
		return fail("task " + quote(d.Name) + ": unknown task status " + quote(string(d.Status)))
	}
	if d.Attempts < 0 || uint64(d.Attempts) > math.MaxUint32 {
		return fail(fmt.Sprintf("task %q: attempts out of range: %d", d.Name, d.Attempts))
	}
	name := cstring(d.Name)
	defer cfree(name)
	var cerrText *C.char
	if d.Error != "" {
		cerrText = cstring(d.Error)
		defer cfree(cerrText)
	}
	var start, end C.double
	if d.Started() {
		start = C.double(toEpoch(d.StartTime))
	}
	if d.Finished() {
		end = C.double(toEpoch(d.EndTime))
	}
	return C.dg_detail_sink_push(sink, name, st, C.uint32_t(d.Attempts), C.bool(d.Started()), start,
		C.bool(d.Finished()), end, cerrText)
}

func detailStoreOf(h C.uintptr_t) DetailStore {
	return storeOf(h).(DetailStore)
}

//export goStoreUpdateTaskDetail
func goStoreUpdateTaskDetail(h C.uintptr_t, runID *C.char, d *C.DorchTaskDetail) (code C.DorchCode) {
	defer storeRecover("Store.UpdateTaskDetail", &code)
	return storeReturn(detailStoreOf(h).UpdateTaskDetail(C.GoString(runID), detailFromC(d)))
}

//export goStoreGetTaskDetails
func goStoreGetTaskDetails(h C.uintptr_t, runID *C.char, sink *C.DorchTaskDetailSink) (code C.DorchCode) {
	const op = "Store.TaskDetails"
	defer storeRecover(op, &code)
	details, err := detailStoreOf(h).TaskDetails(C.GoString(runID))
	if err != nil {
		return storeReturn(err) // an ErrNotFound keeps its code
	}
	for i := range details {
		if c := pushDetail(op, sink, &details[i]); c != C.DORCH_OK {
			return c
		}
	}
	return C.DORCH_OK
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
