package dremioorch

// Run control: RunContext (a run stopped by a context.Context), task
// timeouts (WithTimeout), and the TaskContext's own context (Done, Err,
// Sleep).
//
// How a task finds its run's context: RunContext hands the run's Go state
// (a cgo.Handle) to the C shim, which keeps it in a thread-local variable
// during the run call; the library tells the pipeline's listener
// on_run(RUNNING), with the new run's id, on that thread before any task
// starts, so the state is registered under the run id (activeRuns) before
// the tasks look it up.

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// WithTimeout limits each attempt of the task to d (default: no limit;
// millisecond resolution, rounded up). When an attempt passes it, the task
// is recorded FAILED ("timed out after N ms") at once, its retries are not
// tried, and its children are decided by their trigger rules without
// waiting for it; its TaskContext is done (Err is
// context.DeadlineExceeded). The library cannot stop Go code: a task that
// ignores its context keeps its worker until it returns (and the run waits
// for it), and its result is then dropped.
func WithTimeout(d time.Duration) TaskOption { return func(c *taskConfig) { c.timeout = d } }

// timeoutMS converts a task timeout to whole milliseconds, rounded up.
func timeoutMS(d time.Duration) (uint32, bool) {
	if d < 0 {
		return 0, false
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxUint32 {
		return 0, false
	}
	return uint32(ms), true
}

// runState is a RunContext run, as its tasks and the watching goroutine see it.
type runState struct {
	ctx   context.Context
	token *C.DorchCancelToken
	fire  sync.Once    // a second caller waits until the token has fired
	id    atomic.Value // string: the run id, once started
}

// started registers the run under its id (called by goOnRun).
func (rs *runState) started(runID string) {
	if rs.id.Load() != nil {
		return
	}
	rs.id.Store(runID)
	activeRuns.add(runID, rs)
}

// stop fires the run's cancel token if its context is done: the run starts
// no more tasks. Called by the goroutine watching the context and, so that
// a task which cancelled the context itself is followed by no other task,
// after each task of the run returns.
func (rs *runState) stop() {
	err := rs.ctx.Err()
	if err == nil {
		return
	}
	// Once, and not a flag: when the watching goroutine is firing the token,
	// a task that returns must wait for it before the library goes on.
	rs.fire.Do(func() {
		reason := strings.ToValidUTF8(strings.ReplaceAll(err.Error(), "\x00", ""), "?")
		if reason == "" {
			reason = "context done"
		}
		creason := C.CString(reason)
		defer C.free(unsafe.Pointer(creason))
		var msg *C.char
		C.dg_cancel_token_cancel(rs.token, creason, &msg)
		cfree(msg)
	})
}

// activeRuns maps the ids of RunContext runs in progress to their state.
var activeRuns = runRegistry{m: make(map[string]*runState)}

type runRegistry struct {
	n  atomic.Int32 // len(m), read without the lock by every task call
	mu sync.RWMutex
	m  map[string]*runState
}

func (r *runRegistry) add(id string, rs *runState) {
	r.mu.Lock()
	r.m[id] = rs
	r.n.Store(int32(len(r.m)))
	r.mu.Unlock()
}

func (r *runRegistry) remove(rs *runState) {
	id, ok := rs.id.Load().(string)
	if !ok {
		return
	}
	r.mu.Lock()
	if r.m[id] == rs {
		delete(r.m, id)
	}
	r.n.Store(int32(len(r.m)))
	r.mu.Unlock()
}

// of returns the state of the run whose task ctx is, or nil.
func (r *runRegistry) of(ctx *C.DorchTaskContext) *runState {
	if r.n.Load() == 0 {
		return nil
	}
	id := C.GoString(C.dorch_context_run_id(ctx))
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[id]
}

// RunContext runs the pipeline like Run, stopped early when ctx is done
// (cancelled, or past its deadline): the run then starts no more tasks,
// records the tasks it did not start as SKIPPED (their TaskDetail.Error is
// "cancelled: " and ctx's error, e.g. "cancelled: context canceled"), and
// ends FAILED. Running tasks see their TaskContext done (see
// TaskContext.Done); the library cannot stop Go code, so RunContext returns
// once every running task has returned. A task that finishes after ctx is
// done is followed by no other task.
//
// Errors: nil when the run ended SUCCESS. When ctx stopped it, the result
// and an *Error matching ErrCancelled and context.Canceled (ctx was
// cancelled) or ErrTimeout and context.DeadlineExceeded (its deadline
// passed). When a task failed, the result and an error matching
// ErrTaskFailed. When ctx is done before the run starts, no run is made:
// (nil, that error). Other failures as for Run (nil result). A nil ctx is
// ErrInvalidArgument. Options as for Run.
func (p *Pipeline) RunContext(ctx context.Context, opts ...RunOption) (*RunResult, error) {
	const op = "Pipeline.RunContext"
	if ctx == nil {
		return nil, &Error{Code: CodeInvalidArgument, Op: op, Message: "ctx is nil"}
	}
	if p == nil {
		return nil, errClosed(op)
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(op, err, fmt.Sprintf("pipeline %q not run: %v", p.name, err))
	}
	return p.run(op, ctx, "", opts)
}

// ctxError is the error of a run stopped by its context's error cause.
func ctxError(op string, cause error, msg string) *Error {
	code := CodeCancelled
	if errors.Is(cause, context.DeadlineExceeded) {
		code = CodeTimeout
	}
	return &Error{Code: code, Op: op, Message: msg, cause: cause}
}

// startRun prepares a run of ctx: nil for a context that is never done
// (nothing to watch). Otherwise it returns the run's state with its cancel
// token, a handle to it for the C shim, and a function to call once the
// run returned, which ends the watching goroutine and frees the rest.
func startRun(op string, ctx context.Context) (*runState, cgo.Handle, func(), error) {
	if ctx.Done() == nil {
		return nil, 0, nil, nil
	}
	var tok *C.DorchCancelToken
	var msg *C.char
	if err := cerr(op, C.dg_cancel_token_new(&tok, &msg), msg); err != nil {
		return nil, 0, nil, err
	}
	rs := &runState{ctx: ctx, token: tok}
	h := newHandle(rs)
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			rs.stop()
		case <-quit:
		}
	}()
	end := func() {
		close(quit)
		<-exited // the token is not used after this
		activeRuns.remove(rs)
		releaseHandle(h)
		C.dorch_cancel_token_free(rs.token)
		rs.token = nil
	}
	return rs, h, end, nil
}

// Context returns a context.Context that is done when this task should
// stop: its run's context (RunContext) is done, or this attempt passed the
// task's timeout (WithTimeout), or the task returned. Its Err is then
// context.Canceled or context.DeadlineExceeded, and its values are those of
// the run's context. It may be used after the task returned (it is then
// done) and from any goroutine.
//
// A TaskContext is itself a context.Context with the same Deadline, Done,
// Err and Value, so it can be passed where one is expected.
func (c *TaskContext) Context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goctx == nil {
		parent := c.parent
		if parent == nil {
			parent = context.Background()
		}
		if c.task.timeout > 0 {
			c.goctx, c.cancel = context.WithDeadline(parent, c.start.Add(c.task.timeout))
		} else {
			c.goctx, c.cancel = context.WithCancel(parent)
		}
		if c.ended {
			c.cancel()
		}
	}
	return c.goctx
}

// finish ends the task's context when its callback returns.
func (c *TaskContext) finish() {
	c.mu.Lock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
}

// Done returns a channel closed when the task should stop (see Context).
// Every call returns the same channel; no goroutine is started.
func (c *TaskContext) Done() <-chan struct{} { return c.Context().Done() }

// Err is nil until Done is closed, then context.Canceled (the run's context
// was cancelled, or the task returned) or context.DeadlineExceeded (the
// task's timeout or the run's context's deadline passed).
func (c *TaskContext) Err() error { return c.Context().Err() }

// Deadline is the earlier of the task's timeout and the run's context's
// deadline, if either is set.
func (c *TaskContext) Deadline() (time.Time, bool) { return c.Context().Deadline() }

// Value returns the value of the run's context for key.
func (c *TaskContext) Value(key interface{}) interface{} { return c.Context().Value(key) }

// Sleep waits for d, or less when the task should stop: it then returns
// Err() (context.Canceled or context.DeadlineExceeded), which the task
// should return. It returns nil after the full wait.
func (c *TaskContext) Sleep(d time.Duration) error {
	done := c.Done()
	if d <= 0 {
		return c.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return c.Err()
	case <-t.C:
		return nil
	}
}

var _ context.Context = (*TaskContext)(nil)
