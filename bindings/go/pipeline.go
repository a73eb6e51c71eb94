package dremioorch

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// TaskFunc is the body of a task. It runs once per attempt, possibly on a
// worker thread of the library, and may run concurrently with other tasks.
// Its returned bytes become the task's output, which downstream tasks read
// with TaskContext.Get. A non-nil error, or a panic, fails the attempt.
type TaskFunc func(*TaskContext) ([]byte, error)

// TaskOption configures a task added with Pipeline.AddTask.
type TaskOption func(*taskConfig)

type taskConfig struct {
	retries    int
	retryDelay time.Duration
	rule       TriggerRule
	timeout    time.Duration // WithTimeout (runcontrol.go)
}

// WithRetries sets the number of extra attempts after a failed one (default 0).
func WithRetries(n int) TaskOption { return func(c *taskConfig) { c.retries = n } }

// WithRetryDelay sets the wait between attempts (default none; millisecond resolution).
func WithRetryDelay(d time.Duration) TaskOption { return func(c *taskConfig) { c.retryDelay = d } }

// WithTriggerRule sets when the task runs given its upstream statuses
// (default AllSuccess).
func WithTriggerRule(r TriggerRule) TaskOption { return func(c *taskConfig) { c.rule = r } }

// taskEntry is what a task's cgo.Handle refers to. It does not refer to the
// Pipeline, so that an unreachable Pipeline can be finalized.
type taskEntry struct {
	name    string
	fn      TaskFunc
	retries int
	timeout time.Duration // per attempt, whole milliseconds; 0: none
	errs    *runErrors
	remote  bool // served by a Worker (remote.go)
}

// fail records why an attempt failed, for the library (dorch_context_set_error)
// and for the RunResult.
func (t *taskEntry) fail(ctx *C.DorchTaskContext, msg string) {
	cmsg := C.CString(msg)
	C.dorch_context_set_error(ctx, cmsg)
	C.free(unsafe.Pointer(cmsg))
	runID := C.GoString(C.dorch_context_run_id(ctx))
	attempt := int(C.dorch_context_attempt(ctx))
	if t.retries > 0 {
		msg = fmt.Sprintf("%s (after %d attempts)", msg, attempt)
	}
	if t.errs != nil { // nil for a Worker's tasks: no run here to report to
		t.errs.record(runID, t.name, msg)
	}
}

// runErrors collects the error messages of failed task attempts by run id
// while runs are in flight.
type runErrors struct {
	mu     sync.Mutex
	active int
	byRun  map[string]map[string]string
}

func (e *runErrors) record(runID, task, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.byRun[runID]
	if m == nil {
		m = make(map[string]string)
		e.byRun[runID] = m
	}
	m[task] = msg
}

func (e *runErrors) begin() {
	e.mu.Lock()
	e.active++
	e.mu.Unlock()
}

// end returns the messages of runID and, once no run is in flight, drops
// everything (including the messages of runs that never produced a result).
func (e *runErrors) end(runID string) map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.byRun[runID]
	delete(e.byRun, runID)
	e.active--
	if e.active == 0 && len(e.byRun) > 0 {
		e.byRun = make(map[string]map[string]string)
	}
	return m
}

// TaskContext is what a task sees during one attempt. Its methods that read
// the run (RunID, Attempt, Get) are valid only until the TaskFunc returns;
// its context.Context methods (Context, Done, Err, Deadline, Value, Sleep;
// see runcontrol.go) may be used from any goroutine, even afterwards.
type TaskContext struct {
	ctx  *C.DorchTaskContext
	task *taskEntry
	live atomic.Bool

	parent context.Context // the run's context (RunContext), else nil
	run    *runState       // the RunContext run, else nil
	start  time.Time       // when this attempt started
	mu     sync.Mutex
	goctx  context.Context // made on first use
	cancel context.CancelFunc
	ended  bool // the callback returned
}

func (c *TaskContext) check() {
	if !c.live.Load() {
		panic("dremioorch: TaskContext used after its task returned")
	}
}

// TaskName is the name of the running task.
func (c *TaskContext) TaskName() string { return c.task.name }

// RunID is the id of the run (a UUID v4).
func (c *TaskContext) RunID() string {
	c.check()
	return C.GoString(C.dorch_context_run_id(c.ctx))
}

// Attempt is 1 for the first attempt, 2 for the first retry, and so on.
func (c *TaskContext) Attempt() int {
	c.check()
	return int(C.dorch_context_attempt(c.ctx))
}

// Get returns a copy of the output of the finished task named name, else of
// the initial context entry name (see Pipeline.SetContext). Only upstream
// tasks are certain to have finished.
func (c *TaskContext) Get(name string) ([]byte, bool) {
	c.check()
	if checkNUL("", name) != nil {
		return nil, false
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var data *C.uint8_t
	var n C.size_t
	if C.dorch_context_get(c.ctx, cname, &data, &n) != C.DORCH_OK {
		return nil, false
	}
	if n == 0 {
		return []byte{}, true
	}
	return C.GoBytes(unsafe.Pointer(data), C.int(n)), true
}

// Pipeline is a named DAG of Go tasks. Build it (AddTask, AddDependency,
// SetContext), then Run it any number of times. Close releases it.
//
// Its methods are safe for concurrent use, and several runs of one pipeline
// may be in flight at once. A pipeline cannot be changed while it runs: the
// building methods then fail with ErrInvalidArgument, and Close waits for the
// runs to end (so a task must not Close its own pipeline).
type Pipeline struct {
	mu      sync.RWMutex
	ptr     *C.DorchPipeline
	name    string
	tasks   []string
	errs    *runErrors
	running atomic.Int32

	// The pipeline's C listener refers to listener through listenerHandle
	// (listener.go), deleted by Close.
	listener       *listenerState
	listenerHandle cgo.Handle
}

// NewPipeline creates a pipeline recording its runs in backend (a fresh
// memory backend when nil), running up to workers tasks at once (at least 1).
// The pipeline keeps its own reference to the backend.
func NewPipeline(name string, backend *Backend, workers int) (*Pipeline, error) {
	const op = "NewPipeline"
	if workers < 1 || uint64(workers) > math.MaxUint32 {
		return nil, &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("workers must be at least 1, got %d", workers)}
	}
	if err := checkNUL(op, name); err != nil {
		return nil, err
	}
	cname := cstring(name)
	defer cfree(cname)
	var out *C.DorchPipeline
	create := func(b *C.DorchBackend) error {
		var msg *C.char
		return cerr(op, C.dg_pipeline_new(cname, b, &out, &msg), msg)
	}
	var err error
	if backend == nil {
		err = create(nil)
	} else {
		err = backend.use(op, create)
	}
	if err != nil {
		return nil, err
	}
	var msg *C.char
	if err := cerr(op, C.dg_pipeline_set_max_workers(out, C.uint32_t(workers), &msg), msg); err != nil {
		C.dorch_pipeline_free(out)
		return nil, err
	}
	p := &Pipeline{ptr: out, name: name, errs: &runErrors{byRun: make(map[string]map[string]string)},
		listener: &listenerState{}}
	p.listenerHandle = newHandle(p.listener)
	if err := p.installListener(op, out, false); err != nil {
		C.dorch_pipeline_free(out)
		releaseHandle(p.listenerHandle)
		return nil, err
	}
	runtime.SetFinalizer(p, (*Pipeline).Close)
	return p, nil
}

// Name is the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// Close frees the pipeline and its tasks, and releases its backend
// reference. It waits for running runs. Calling it again does nothing.
func (p *Pipeline) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	ptr := p.ptr
	p.ptr = nil
	p.mu.Unlock()
	if ptr != nil {
		runtime.SetFinalizer(p, nil)
		C.dorch_pipeline_free(ptr)
		// No run is in progress (Close waited for them), so the library
		// calls the listener no more.
		releaseHandle(p.listenerHandle)
	}
	return nil
}

func (p *Pipeline) write(op string, f func(*C.DorchPipeline) error) error {
	if p == nil {
		return errClosed(op)
	}
	if p.running.Load() > 0 {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("pipeline %q is running and cannot be changed", p.name)}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ptr == nil {
		return errClosed(op)
	}
	err := f(p.ptr)
	runtime.KeepAlive(p)
	return err
}

func (p *Pipeline) read(op string, f func(*C.DorchPipeline) error) error {
	if p == nil {
		return errClosed(op)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.ptr == nil {
		return errClosed(op)
	}
	err := f(p.ptr)
	runtime.KeepAlive(p)
	return err
}

// SetMaxWorkers changes how many tasks may run at once (at least 1).
func (p *Pipeline) SetMaxWorkers(n int) error {
	const op = "Pipeline.SetMaxWorkers"
	if n < 0 || uint64(n) > math.MaxUint32 {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("workers out of range: %d", n)}
	}
	return p.write(op, func(ptr *C.DorchPipeline) error {
		var msg *C.char
		return cerr(op, C.dg_pipeline_set_max_workers(ptr, C.uint32_t(n), &msg), msg)
	})
}

// AddTask adds a task named name running fn. An empty or already used name
// is an error.
func (p *Pipeline) AddTask(name string, fn TaskFunc, opts ...TaskOption) error {
	const op = "Pipeline.AddTask"
	if fn == nil {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: "task " + quote(name) + ": fn is nil"}
	}
	cfg, o, err := readTaskOptions(op, name, opts)
	if err != nil {
		return err
	}
	rule, delayMS, timeout := o.rule, o.delayMS, o.timeout
	if err := checkNUL(op, name); err != nil {
		return err
	}
	cname := cstring(name)
	defer cfree(cname)
	return p.write(op, func(ptr *C.DorchPipeline) error {
		h := newHandle(&taskEntry{name: name, fn: fn, retries: cfg.retries, errs: p.errs,
			timeout: time.Duration(timeout) * time.Millisecond})
		var msg *C.char
		code := C.dg_pipeline_add_task(ptr, cname, C.uintptr_t(h), C.uint32_t(cfg.retries),
			C.uint32_t(delayMS), rule, C.uint32_t(timeout), &msg)
		if err := cerr(op, code, msg); err != nil {
			releaseHandle(h)
			return err
		}
		p.tasks = append(p.tasks, name)
		return nil
	})
}

// AddDependency makes downstream wait for upstream. Both must be tasks of
// the pipeline; a cycle is reported by Run.
func (p *Pipeline) AddDependency(upstream, downstream string) error {
	const op = "Pipeline.AddDependency"
	if err := checkNUL(op, upstream, downstream); err != nil {
		return err
	}
	cup, cdown := cstring(upstream), cstring(downstream)
	defer cfree(cup)
	defer cfree(cdown)
	return p.write(op, func(ptr *C.DorchPipeline) error {
		var msg *C.char
		return cerr(op, C.dg_pipeline_add_dependency(ptr, cup, cdown, &msg), msg)
	})
}

// SetContext sets an initial context entry that every run's tasks can read
// with TaskContext.Get. The value is copied.
func (p *Pipeline) SetContext(key string, value []byte) error {
	const op = "Pipeline.SetContext"
	if err := checkNUL(op, key); err != nil {
		return err
	}
	ckey := cstring(key)
	defer cfree(ckey)
	// Copy the value to C memory: it is small, and this keeps no Go pointer
	// in a C call that could outlive the slice's owner's expectations.
	var data unsafe.Pointer
	if len(value) > 0 {
		data = C.CBytes(value)
		defer C.free(data)
	}
	return p.write(op, func(ptr *C.DorchPipeline) error {
		var msg *C.char
		return cerr(op, C.dg_pipeline_set_context(ptr, ckey, (*C.uint8_t)(data), C.size_t(len(value)), &msg), msg)
	})
}

// Mermaid returns a Mermaid "graph TD" of the pipeline.
func (p *Pipeline) Mermaid() (string, error) {
	const op = "Pipeline.Mermaid"
	var s string
	err := p.read(op, func(ptr *C.DorchPipeline) error {
		var out, msg *C.char
		if err := cerr(op, C.dg_pipeline_to_mermaid(ptr, &out, &msg), msg); err != nil {
			return err
		}
		s = C.GoString(out)
		C.dorch_string_free(out)
		return nil
	})
	return s, err
}

// RunResult is the outcome of one run.
type RunResult struct {
	RunID        string
	PipelineName string
	Status       RunStatus
	// Tasks maps every task to its final status.
	Tasks map[string]TaskStatus
	// Outputs holds the output of each successful task that returned one.
	Outputs map[string][]byte
	// Errors holds why each FAILED task failed (its last attempt's error or
	// panic message, "timed out after N ms", "cancelled: <reason>").
	Errors map[string]string

	details map[string]TaskDetail // see TaskDetail (details.go)
}

// Output returns the output of task, or nil.
func (r *RunResult) Output(task string) []byte { return r.Outputs[task] }

// Run runs the pipeline to its end and records the run in the backend.
// Options (WithLeaseInterval, WithMaxStoredOutput) apply to this run.
//
// When the run ends SUCCESS, it returns the result and nil. When it ends
// FAILED, it returns the result and an error matching ErrTaskFailed that
// names the failed tasks. When the run could not run (a cycle, a backend
// failure, a bad option), it returns a nil result and an error with the
// library's code.
func (p *Pipeline) Run(opts ...RunOption) (*RunResult, error) {
	return p.run("Pipeline.Run", context.Background(), "", opts)
}

// run is Run, RunContext (runcontrol.go), Resume and ResumeContext
// (durable.go): a resume when resumeID is not "".
func (p *Pipeline) run(op string, ctx context.Context, resumeID string, opts []RunOption) (*RunResult, error) {
	cfg, err := runConfigOf(op, opts)
	if err != nil {
		return nil, err
	}
	if err := checkNUL(op, resumeID); err != nil {
		return nil, err
	}
	cresume := cstringOrNull(resumeID)
	defer cfree(cresume)
	var res *RunResult
	var runErr error
	err = p.read(op, func(ptr *C.DorchPipeline) error {
		p.running.Add(1)
		defer p.running.Add(-1)
		rs, h, end, err := startRun(op, ctx)
		if err != nil {
			return err
		}
		var tok *C.DorchCancelToken
		if rs != nil {
			tok = rs.token
			defer end()
		}
		p.errs.begin()
		var out *C.DorchRunResult
		var msg *C.char
		code := C.dg_pipeline_run_with(ptr, cresume, tok, C.uintptr_t(h), C.uint32_t(cfg.leaseMS),
			C.uint32_t(cfg.maxOutput), &out, &msg)
		if out == nil {
			p.errs.end("")
			return cerr(op, code, msg)
		}
		defer C.dorch_run_result_free(out)
		res = p.collect(out)
		// Keep the messages of the tasks that ended FAILED (an attempt
		// that failed before a successful retry leaves none), preferring
		// the library's, which says when a timeout or cancellation ended
		// the task.
		res.Errors = make(map[string]string)
		for name, msg := range p.errs.end(res.RunID) {
			if res.Tasks[name] == TaskFailed {
				res.Errors[name] = msg
			}
		}
		for name, d := range res.details {
			if d.Status == TaskFailed && d.Error != "" {
				res.Errors[name] = d.Error
			}
		}
		switch code {
		case C.DORCH_ERR_TASK_FAILED:
			cfree(msg)
			runErr = &Error{Code: CodeTaskFailed, Op: op, Message: res.failure()}
			return nil
		case C.DORCH_ERR_CANCELLED, C.DORCH_ERR_TIMEOUT:
			cause := ctx.Err()
			if cause == nil { // not from this binding's token: the library's own
				cause = context.Canceled
				if code == C.DORCH_ERR_TIMEOUT {
					cause = context.DeadlineExceeded
				}
			}
			text := C.GoString(msg)
			cfree(msg)
			runErr = ctxError(op, cause, text)
			return nil
		}
		return cerr(op, code, msg)
	})
	if err != nil {
		return res, err
	}
	return res, runErr
}

// collect copies a C run result into Go values.
func (p *Pipeline) collect(out *C.DorchRunResult) *RunResult {
	res := &RunResult{
		RunID:        C.GoString(C.dorch_run_result_run_id(out)),
		PipelineName: p.name,
		Status:       runStatusFromC(C.int(C.dorch_run_result_status(out))),
		Tasks:        make(map[string]TaskStatus, len(p.tasks)),
		Outputs:      make(map[string][]byte),
		details:      make(map[string]TaskDetail, len(p.tasks)),
	}
	for _, name := range p.tasks {
		cname := C.CString(name)
		// The detail carries the status too: one call for both.
		if d, ok := resultDetail(out, cname, name); ok {
			res.details[name] = d
			res.Tasks[name] = d.Status
		} else {
			res.Tasks[name] = taskStatusFromC(C.int(C.dorch_run_result_task_status(out, cname)))
		}
		var data *C.uint8_t
		var n C.size_t
		if C.dorch_run_result_output(out, cname, &data, &n) == C.DORCH_OK {
			if n == 0 {
				res.Outputs[name] = []byte{}
			} else {
				res.Outputs[name] = C.GoBytes(unsafe.Pointer(data), C.int(n))
			}
		}
		C.free(unsafe.Pointer(cname))
	}
	return res
}

func (r *RunResult) failure() string {
	var failed []string
	for name, s := range r.Tasks {
		if s == TaskFailed {
			failed = append(failed, name)
		}
	}
	sort.Strings(failed)
	var b strings.Builder
	fmt.Fprintf(&b, "run %s of pipeline %q ended FAILED", r.RunID, r.PipelineName)
	for i, name := range failed {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if msg, ok := r.Errors[name]; ok {
			fmt.Fprintf(&b, "task %q failed: %s", name, msg)
		} else {
			fmt.Fprintf(&b, "task %q failed", name)
		}
	}
	return b.String()
}

// cTaskOptions are a task's options as the C API takes them.
type cTaskOptions struct {
	rule    C.int
	delayMS int64
	timeout uint32
}

// readTaskOptions applies and checks opts for task name.
func readTaskOptions(op, name string, opts []TaskOption) (taskConfig, cTaskOptions, error) {
	cfg := taskConfig{rule: AllSuccess}
	for _, o := range opts {
		o(&cfg)
	}
	rule, ok := triggerToC(cfg.rule)
	if !ok {
		return cfg, cTaskOptions{}, &Error{Code: CodeInvalidArgument, Op: op, Message: "task " + quote(name) + ": unknown trigger rule " + quote(string(cfg.rule))}
	}
	if cfg.retries < 0 || uint64(cfg.retries) > math.MaxUint32 {
		return cfg, cTaskOptions{}, &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("task %q: retries out of range: %d", name, cfg.retries)}
	}
	delayMS := cfg.retryDelay.Milliseconds()
	if cfg.retryDelay > 0 && delayMS == 0 {
		delayMS = 1
	}
	if delayMS < 0 || delayMS > math.MaxUint32 {
		return cfg, cTaskOptions{}, &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("task %q: retry delay out of range: %v", name, cfg.retryDelay)}
	}
	timeout, ok := timeoutMS(cfg.timeout)
	if !ok {
		return cfg, cTaskOptions{}, &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("task %q: timeout out of range: %v", name, cfg.timeout)}
	}
	return cfg, cTaskOptions{rule: rule, delayMS: delayMS, timeout: timeout}, nil
}
