package dremioorch

// Remote workers on Redis Streams: a pipeline's remote tasks go to a queue
// (Executor, Pipeline.AddRemoteTask) and run on Workers, in this process or
// in others (Go, C or Rust) that registered their names.

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
)

// RemoteOptions configure a queue; give its coordinator and its workers the
// same values. Zero fields take the defaults.
type RemoteOptions struct {
	// A task held this long by a worker that stopped renewing its claim
	// (it died) goes to another worker (default 30 s).
	VisibilityTimeout time.Duration
	// A task that no worker takes within this time fails with an error
	// naming the task and the queue (default 60 s).
	DispatchTimeout time.Duration
	// The largest inputs (upstream outputs plus initial context) or output
	// of one task, in bytes (default 1 MiB).
	MaxPayload int
}

func (o *RemoteOptions) toC(op string) (vis, disp, maxp C.uint32_t, err error) {
	if o == nil {
		return 0, 0, 0, nil
	}
	v, ok1 := timeoutMS(o.VisibilityTimeout)
	d, ok2 := timeoutMS(o.DispatchTimeout)
	if !ok1 || !ok2 || o.MaxPayload < 0 || uint64(o.MaxPayload) > math.MaxUint32 {
		return 0, 0, 0, &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("remote options out of range: %+v", *o)}
	}
	return C.uint32_t(v), C.uint32_t(d), C.uint32_t(o.MaxPayload), nil
}

// Executor sends remote tasks to one Redis queue. Close it when done;
// pipelines keep their own reference.
type Executor struct {
	mu    sync.Mutex
	ptr   *C.DorchExecutor
	queue string
}

// NewRedisExecutor connects to the Redis server at redisURL
// ("redis://host:port/db") for queue. opts may be nil (defaults). An invalid
// URL is a CodeConfig error, an unreachable server a CodeBackend error.
func NewRedisExecutor(redisURL, queue string, opts *RemoteOptions) (*Executor, error) {
	const op = "NewRedisExecutor"
	if err := checkNUL(op, redisURL, queue); err != nil {
		return nil, err
	}
	vis, disp, maxp, err := opts.toC(op)
	if err != nil {
		return nil, err
	}
	curl, cqueue := cstring(redisURL), cstring(queue)
	defer cfree(curl)
	defer cfree(cqueue)
	var out *C.DorchExecutor
	var msg *C.char
	if err := cerr(op, C.dg_executor_redis(curl, cqueue, vis, disp, maxp, &out, &msg), msg); err != nil {
		return nil, err
	}
	e := &Executor{ptr: out, queue: queue}
	runtime.SetFinalizer(e, (*Executor).Close)
	return e, nil
}

// Queue is the executor's queue name.
func (e *Executor) Queue() string { return e.queue }

// Close frees the executor; pipelines given it keep working. Idempotent.
func (e *Executor) Close() error {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ptr != nil {
		C.dorch_executor_free(e.ptr)
		e.ptr = nil
	}
	return nil
}

// AddRemoteTask adds a task that runs on a worker of e's queue that
// registered name. Its upstream outputs and the run's initial context
// travel with it; its output comes back and is read downstream as a local
// task's. Options as for AddTask; a timeout or the run's cancellation
// reaches the worker.
func (p *Pipeline) AddRemoteTask(name string, e *Executor, opts ...TaskOption) error {
	const op = "Pipeline.AddRemoteTask"
	if e == nil {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: "executor is nil"}
	}
	cfg, o, err := readTaskOptions(op, name, opts)
	if err != nil {
		return err
	}
	if err := checkNUL(op, name); err != nil {
		return err
	}
	cname := cstring(name)
	defer cfree(cname)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ptr == nil {
		return errClosed(op)
	}
	return p.write(op, func(ptr *C.DorchPipeline) error {
		var msg *C.char
		code := C.dg_pipeline_add_remote_task(ptr, cname, e.ptr, C.uint32_t(cfg.retries),
			C.uint32_t(o.delayMS), o.rule, C.uint32_t(o.timeout), &msg)
		if err := cerr(op, code, msg); err != nil {
			return err
		}
		p.tasks = append(p.tasks, name)
		return nil
	})
}

// Worker serves the remote tasks of one queue whose names it registered
// with AddTask, until the context given to Run is done. Delivery is
// at-least-once (a task whose worker died runs again elsewhere): make
// tasks idempotent.
type Worker struct {
	mu      sync.Mutex
	ptr     *C.DorchWorker
	running bool
}

// NewWorker makes a worker for queue on the Redis server at redisURL
// (checked now; it connects in Run). opts may be nil (defaults).
func NewWorker(redisURL, queue string, opts *RemoteOptions) (*Worker, error) {
	const op = "NewWorker"
	if err := checkNUL(op, redisURL, queue); err != nil {
		return nil, err
	}
	vis, disp, maxp, err := opts.toC(op)
	if err != nil {
		return nil, err
	}
	curl, cqueue := cstring(redisURL), cstring(queue)
	defer cfree(curl)
	defer cfree(cqueue)
	var out *C.DorchWorker
	var msg *C.char
	if err := cerr(op, C.dg_worker_new(curl, cqueue, vis, disp, maxp, &out, &msg), msg); err != nil {
		return nil, err
	}
	w := &Worker{ptr: out}
	runtime.SetFinalizer(w, (*Worker).Close)
	return w, nil
}

func (w *Worker) change(op string, f func(*C.DorchWorker) error) error {
	if w == nil {
		return errClosed(op)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ptr == nil {
		return errClosed(op)
	}
	if w.running {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: "the worker is running and cannot be changed"}
	}
	return f(w.ptr)
}

// AddTask registers fn for the remote tasks named name. fn sees a
// TaskContext as a local task does: Get reads upstream outputs and the
// initial context, the returned bytes are the output, and its Context is
// done when the run is cancelled or the task's timeout passes.
func (w *Worker) AddTask(name string, fn TaskFunc) error {
	const op = "Worker.AddTask"
	if fn == nil {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: "task " + quote(name) + ": fn is nil"}
	}
	if err := checkNUL(op, name); err != nil {
		return err
	}
	cname := cstring(name)
	defer cfree(cname)
	return w.change(op, func(ptr *C.DorchWorker) error {
		h := newHandle(&taskEntry{name: name, fn: fn, remote: true})
		var msg *C.char
		if err := cerr(op, C.dg_worker_add_task(ptr, cname, C.uintptr_t(h), &msg), msg); err != nil {
			releaseHandle(h)
			return err
		}
		return nil
	})
}

// SetConcurrency sets how many tasks the worker runs at once (default 1).
func (w *Worker) SetConcurrency(n int) error {
	const op = "Worker.SetConcurrency"
	if n < 1 || uint64(n) > math.MaxUint32 {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("concurrency must be at least 1, got %d", n)}
	}
	return w.change(op, func(ptr *C.DorchWorker) error {
		var msg *C.char
		return cerr(op, C.dg_worker_set_concurrency(ptr, C.uint32_t(n), &msg), msg)
	})
}

// Run serves the queue until ctx is done, then finishes the tasks it holds
// and returns nil. It fails at once when Redis cannot be reached or no task
// is registered; later connection losses are retried until ctx is done.
func (w *Worker) Run(ctx context.Context) error {
	const op = "Worker.Run"
	var ptr *C.DorchWorker
	if err := w.change(op, func(p *C.DorchWorker) error {
		ptr = p
		w.running = true
		return nil
	}); err != nil {
		return err
	}
	defer func() {
		w.mu.Lock()
		w.running = false
		w.mu.Unlock()
		runtime.KeepAlive(w)
	}()
	var token *C.DorchCancelToken
	if code := C.dorch_cancel_token_new(&token); code != C.DORCH_OK {
		return &Error{Code: CodeBackend, Op: op, Message: "cannot make a cancel token"}
	}
	defer C.dorch_cancel_token_free(token)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			C.dorch_cancel_token_cancel(token, nil)
		case <-done:
		}
	}()
	var msg *C.char
	err := cerr(op, C.dg_worker_run(ptr, token, &msg), msg)
	close(done)
	wg.Wait()
	return err
}

// Close frees the worker and its tasks. Refused while Run runs. Idempotent.
func (w *Worker) Close() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return &Error{Code: CodeInvalidArgument, Op: "Worker.Close", Message: "the worker is running"}
	}
	if w.ptr != nil {
		C.dorch_worker_free(w.ptr)
		w.ptr = nil
	}
	return nil
}

// watchCancel returns a context cancelled once the library says the task
// running with ctx should stop, and a function that stops watching (called
// before the task returns to the library).
func watchCancel(ctx *C.DorchTaskContext) (context.Context, func()) {
	goctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if C.dorch_context_is_cancelled(ctx) {
					cancel()
					return
				}
			}
		}
	}()
	return goctx, func() {
		close(done)
		wg.Wait()
		cancel()
	}
}
