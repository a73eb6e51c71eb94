package dremioorch

// Run listeners, and the pipeline's C listener that also tells Go the id of
// each run started by RunContext (see runcontrol.go).

/*
#include "shim.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
)

// Listener is told of a pipeline's run events (see Pipeline.SetListener).
//
// Its methods are called from the run's threads (any worker), possibly
// concurrently for different tasks, but in order for each task: a task's
// RUNNING before its final status, every parent's final status before a
// child's first event. OnRun(RUNNING) comes first and OnRun with the final
// status last, all before the Run call returns. A call happens after the
// backend recorded the change. A panic in a method is recovered and ignored.
// The methods must not change the pipeline (that fails, as during any run).
type Listener interface {
	// OnRun: a run started (RunRunning) or ended (RunSuccess, RunFailed).
	OnRun(pipeline, runID string, status RunStatus)
	// OnTask: a task's state changed (RUNNING, then its final status; a
	// task that never starts has only its final SKIPPED).
	OnTask(runID string, d TaskDetail)
}

// ListenerFuncs is a Listener made of functions; a nil function ignores its events.
type ListenerFuncs struct {
	Run  func(pipeline, runID string, status RunStatus)
	Task func(runID string, d TaskDetail)
}

// OnRun calls f.Run, if set.
func (f ListenerFuncs) OnRun(pipeline, runID string, status RunStatus) {
	if f.Run != nil {
		f.Run(pipeline, runID, status)
	}
}

// OnTask calls f.Task, if set.
func (f ListenerFuncs) OnTask(runID string, d TaskDetail) {
	if f.Task != nil {
		f.Task(runID, d)
	}
}

// listenerState is what a pipeline's C listener refers to (through a
// cgo.Handle, created with the pipeline and deleted by Close). It does not
// refer to the Pipeline, so that an unreachable Pipeline can be finalized.
type listenerState struct {
	user atomic.Value // listenerBox
}

type listenerBox struct{ l Listener }

func (s *listenerState) get() Listener {
	b, _ := s.user.Load().(listenerBox)
	return b.l
}

// SetListener makes l the pipeline's listener (nil removes it), replacing
// the previous one. Like every change, it fails with ErrInvalidArgument
// while the pipeline runs.
func (p *Pipeline) SetListener(l Listener) error {
	const op = "Pipeline.SetListener"
	return p.write(op, func(ptr *C.DorchPipeline) error {
		if err := p.installListener(op, ptr, l != nil); err != nil {
			return err
		}
		p.listener.user.Store(listenerBox{l})
		return nil
	})
}

// installListener gives the library the pipeline's C listener: on_run
// always (RunContext needs it), on_task only when a Go listener wants it
// (each event is a call from C into Go).
func (p *Pipeline) installListener(op string, ptr *C.DorchPipeline, withTask bool) error {
	var msg *C.char
	return cerr(op, C.dg_pipeline_set_listener(ptr, C.uintptr_t(p.listenerHandle), C.int(boolInt(withTask)), &msg), msg)
}

//export goOnRun
func goOnRun(h, run C.uintptr_t, pipeline, runID *C.char, status C.int) {
	defer func() { _ = recover() }()
	id := C.GoString(runID)
	if run != 0 {
		cgo.Handle(run).Value().(*runState).started(id)
	}
	if l := cgo.Handle(h).Value().(*listenerState).get(); l != nil {
		l.OnRun(C.GoString(pipeline), id, runStatusFromC(status))
	}
}

//export goOnTask
func goOnTask(h C.uintptr_t, runID *C.char, d *C.DorchTaskDetail) {
	defer func() { _ = recover() }()
	if l := cgo.Handle(h).Value().(*listenerState).get(); l != nil {
		l.OnTask(C.GoString(runID), detailFromC(d))
	}
}
