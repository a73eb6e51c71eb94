package dremioorch

// Durable history: run options (lease, stored outputs), resuming a run,
// recovering the runs of processes that died, purging old runs, and the
// optional DurableStore part of a Store written in Go.

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime/cgo"
	"time"
	"unsafe"
)

// RunOption configures one run (Run, RunContext, Resume, ResumeContext).
type RunOption func(*runConfig)

type runConfig struct {
	lease     time.Duration
	maxOutput int
}

// WithLeaseInterval sets how often the run renews its lease in the backend
// (default 2 s; millisecond resolution, rounded up). Recovery never touches
// a run whose lease is younger than three of these intervals.
func WithLeaseInterval(d time.Duration) RunOption {
	return func(c *runConfig) { c.lease = d }
}

// WithMaxStoredOutput stores task outputs of up to n bytes with the run
// (default, and 0: 1 MiB; at most math.MaxUint32). A larger output is
// passed downstream as usual but recorded as not stored, so a resume that
// would need it fails.
func WithMaxStoredOutput(n int) RunOption {
	return func(c *runConfig) { c.maxOutput = n }
}

// cRunConfig is a run's options as the C API takes them (0: the default).
type cRunConfig struct{ leaseMS, maxOutput uint32 }

func runConfigOf(op string, opts []RunOption) (cRunConfig, error) {
	var cfg runConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	bad := func(msg string) (cRunConfig, error) {
		return cRunConfig{}, &Error{Code: CodeInvalidArgument, Op: op, Message: msg}
	}
	lease, ok := timeoutMS(cfg.lease)
	if !ok {
		return bad(fmt.Sprintf("lease interval out of range: %v", cfg.lease))
	}
	if cfg.maxOutput < 0 || uint64(cfg.maxOutput) > math.MaxUint32 {
		return bad(fmt.Sprintf("max stored output out of range: %d", cfg.maxOutput))
	}
	return cRunConfig{leaseMS: lease, maxOutput: uint32(cfg.maxOutput)}, nil
}

// Resume starts a new run of the pipeline that takes the tasks that ended
// SUCCESS in run runID (a finished run of this pipeline in its backend) as
// done, their stored outputs readable downstream through TaskContext.Get,
// and runs the others as Run would. The new run has its own id and is
// linked to runID in the backend (see Backend.ResumedFrom).
//
// Results and errors as for Run. Before anything runs, with a nil result:
// ErrNotFound (no such run), ErrInvalidArgument (a run of another pipeline,
// one still RUNNING, a task set that no longer matches, an output needed
// downstream that was not stored), ErrUnsupported (a backend that stores no
// outputs: a Store that is not a DurableStore).
func (p *Pipeline) Resume(runID string, opts ...RunOption) (*RunResult, error) {
	return p.resume("Pipeline.Resume", context.Background(), runID, opts)
}

// ResumeContext is Resume, stopped early when ctx is done, as RunContext.
func (p *Pipeline) ResumeContext(ctx context.Context, runID string, opts ...RunOption) (*RunResult, error) {
	const op = "Pipeline.ResumeContext"
	if ctx == nil {
		return nil, &Error{Code: CodeInvalidArgument, Op: op, Message: "ctx is nil"}
	}
	if err := ctx.Err(); err != nil && p != nil {
		return nil, ctxError(op, err, fmt.Sprintf("run %s of pipeline %q not resumed: %v", runID, p.name, err))
	}
	return p.resume(op, ctx, runID, opts)
}

func (p *Pipeline) resume(op string, ctx context.Context, runID string, opts []RunOption) (*RunResult, error) {
	if p == nil {
		return nil, errClosed(op)
	}
	if runID == "" {
		return nil, &Error{Code: CodeInvalidArgument, Op: op, Message: "run id is empty"}
	}
	return p.run(op, ctx, runID, opts)
}

// Recover finishes the RUNNING runs whose owner is gone: a run whose owner
// last renewed its lease more than staleAfter ago (and more than three of
// its renewal intervals ago, so a live run is never touched), or, with no
// lease at all (written by dremioframe, say), that started more than
// staleAfter ago. Each becomes FAILED, its RUNNING tasks FAILED (detail
// "owner lost"), its PENDING tasks SKIPPED. It returns how many runs this
// call recovered; several processes may recover at once (each run is
// recovered once). Errors: ErrUnsupported for a backend that cannot (a
// Store that is not a DurableStore), ErrInvalidArgument for a negative
// staleAfter (millisecond resolution, rounded down).
func (b *Backend) Recover(staleAfter time.Duration) (uint64, error) {
	const op = "Backend.Recover"
	if staleAfter < 0 {
		return 0, &Error{Code: CodeInvalidArgument, Op: op, Message: "staleAfter is negative"}
	}
	var n C.uint64_t
	err := b.use(op, func(p *C.DorchBackend) error {
		var msg *C.char
		return cerr(op, C.dg_backend_recover(p, C.uint64_t(staleAfter/time.Millisecond), &n, &msg), msg)
	})
	return uint64(n), err
}

// Purge deletes the finished runs (never a RUNNING one) that started before
// before, of the pipeline named pipeline or of all when it is "", with every
// row that belongs to them; dryRun only counts. It returns how many runs
// were (or would be) deleted. Errors: ErrUnsupported for a backend that
// cannot (a Store that is not a DurableStore).
func (b *Backend) Purge(before time.Time, pipeline string, dryRun bool) (uint64, error) {
	const op = "Backend.Purge"
	if err := checkNUL(op, pipeline); err != nil {
		return 0, err
	}
	cname := cstringOrNull(pipeline)
	defer cfree(cname)
	var n C.uint64_t
	err := b.use(op, func(p *C.DorchBackend) error {
		var msg *C.char
		code := C.dg_backend_purge(p, C.double(toEpoch(before)), cname, C.int(boolInt(dryRun)), &n, &msg)
		return cerr(op, code, msg)
	})
	return uint64(n), err
}

// ResumedFrom returns the id of the run that run runID resumes, or "" when
// it resumes none. Errors: ErrNotFound for an unknown run; ErrUnsupported
// for a backend that keeps no resume links (a Store that is not a
// DurableStore).
func (b *Backend) ResumedFrom(runID string) (string, error) {
	const op = "Backend.ResumedFrom"
	if err := checkNUL(op, runID); err != nil {
		return "", err
	}
	cid := cstring(runID)
	defer cfree(cid)
	var original string
	err := b.use(op, func(p *C.DorchBackend) error {
		var out, msg *C.char
		if err := cerr(op, C.dg_backend_resumed_from(p, cid, &out, &msg), msg); err != nil {
			return err
		}
		if out != nil {
			original = C.GoString(out)
			C.dorch_string_free(out)
		}
		return nil
	})
	return original, err
}

// StoredOutput is a task's output as a backend keeps it.
type StoredOutput struct {
	// Stored is false for an output above its run's limit
	// (WithMaxStoredOutput): only its Size was kept.
	Stored bool
	// Data is the output, when Stored.
	Data []byte
	// Size is the output's length in bytes (len(Data) when Stored).
	Size int64
}

// DurableStore is the optional part of a Store that keeps what makes runs
// durable: leases (so that Recover can tell a live run from one whose
// process died), task outputs and resume links (so that Resume can work),
// and that recovers and purges runs. NewCustomBackend checks for it with a
// type assertion; without it Backend.Recover, Backend.Purge,
// Backend.ResumedFrom and Pipeline.Resume fail with ErrUnsupported, and runs
// work as before (no lease, no stored outputs).
//
// A method may return an error matching ErrUnsupported for what the store
// does not do: it counts as the method being absent (RenewLease: the run
// keeps no lease). Other errors and panics are handled as for Store; an
// error from StoreOutput during a run stops the run like one from
// UpdateTaskStatus. The methods are called from the library's threads, at
// once unless the backend was made ThreadSafe.
type DurableStore interface {
	// RenewLease records that the owner of RUNNING run runID is alive at
	// at and renews at least every interval. A run calls it when it starts
	// and then from a thread of its own while its tasks run. An error
	// matching ErrNotFound for an unknown run.
	RenewLease(runID string, at time.Time, interval time.Duration) error
	// Recover does what Backend.Recover says, with the leases the store
	// keeps, and returns how many runs it finished.
	Recover(staleAfter time.Duration) (uint64, error)
	// Purge does what Backend.Purge says (with the store's outputs, leases
	// and links of those runs) and returns the count.
	Purge(before time.Time, pipeline string, dryRun bool) (uint64, error)
	// StoreOutput keeps task's output with run runID, replacing any
	// earlier one. It is called just before the update that records the
	// task SUCCESS (so a task stored SUCCESS has its output), and when a
	// resumed run starts, for the outputs it takes over. out.Data is the
	// store's to keep.
	StoreOutput(runID, task string, out StoredOutput) error
	// Outputs returns the outputs kept with run runID by task name; an
	// error matching ErrNotFound for an unknown run.
	Outputs(runID string) (map[string]StoredOutput, error)
	// LinkResume records that run runID resumes run original.
	LinkResume(runID, original string) error
	// ResumedFrom returns the run that runID resumes, or "" for none; an
	// error matching ErrNotFound for an unknown run.
	ResumedFrom(runID string) (string, error)
}

func durableStoreOf(h C.uintptr_t) DurableStore {
	return cgo.Handle(h).Value().(*customState).store.(DurableStore)
}

// millisDuration converts milliseconds from C to a Duration, saturating.
func millisDuration(ms C.uint64_t) time.Duration {
	if uint64(ms) > uint64(math.MaxInt64/int64(time.Millisecond)) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ms) * time.Millisecond
}

//export goStoreRenewLease
func goStoreRenewLease(h C.uintptr_t, runID *C.char, at C.double, intervalMS C.uint64_t) (code C.DorchCode) {
	defer storeRecover("Store.RenewLease", &code)
	return storeReturn(durableStoreOf(h).RenewLease(C.GoString(runID), fromEpoch(float64(at)), millisDuration(intervalMS)))
}

//export goStoreRecover
func goStoreRecover(h C.uintptr_t, staleAfterMS C.uint64_t, out *C.uint64_t) (code C.DorchCode) {
	defer storeRecover("Store.Recover", &code)
	n, err := durableStoreOf(h).Recover(millisDuration(staleAfterMS))
	if err != nil {
		return storeReturn(err)
	}
	*out = C.uint64_t(n)
	return C.DORCH_OK
}

//export goStorePurge
func goStorePurge(h C.uintptr_t, before C.double, pipeline *C.char, dryRun C.int, out *C.uint64_t) (code C.DorchCode) {
	defer storeRecover("Store.Purge", &code)
	name := ""
	if pipeline != nil {
		name = C.GoString(pipeline)
	}
	n, err := durableStoreOf(h).Purge(fromEpoch(float64(before)), name, dryRun != 0)
	if err != nil {
		return storeReturn(err)
	}
	*out = C.uint64_t(n)
	return C.DORCH_OK
}

//export goStoreStoreOutput
func goStoreStoreOutput(h C.uintptr_t, runID, task *C.char, data *C.uint8_t, n C.size_t, stored C.int) (code C.DorchCode) {
	defer storeRecover("Store.StoreOutput", &code)
	out := StoredOutput{Stored: stored != 0, Size: int64(n)}
	if out.Stored {
		out.Data = make([]byte, int(n))
		if n > 0 {
			copy(out.Data, unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))
		}
	}
	return storeReturn(durableStoreOf(h).StoreOutput(C.GoString(runID), C.GoString(task), out))
}

//export goStoreGetOutputs
func goStoreGetOutputs(h C.uintptr_t, runID *C.char, sink *C.DorchOutputSink) (code C.DorchCode) {
	const op = "Store.Outputs"
	defer storeRecover(op, &code)
	outs, err := durableStoreOf(h).Outputs(C.GoString(runID))
	if err != nil {
		return storeReturn(err)
	}
	for name, o := range outs {
		if c := pushOutput(op, sink, name, o); c != C.DORCH_OK {
			return c
		}
	}
	return C.DORCH_OK
}

// pushOutput hands one of a Store's outputs to the library's sink.
func pushOutput(op string, sink *C.DorchOutputSink, name string, o StoredOutput) C.DorchCode {
	if err := checkNUL(op, name); err != nil {
		return storeReturn(err)
	}
	if !o.Stored && o.Size < 0 {
		return storeReturn(&Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("task %q: negative output size %d", name, o.Size)})
	}
	cname := cstring(name)
	defer cfree(cname)
	var data *C.uint8_t
	n := C.size_t(o.Size)
	if o.Stored {
		n = C.size_t(len(o.Data))
		if len(o.Data) > 0 {
			// A Go pointer to pointer-free memory, used by C only during
			// the call (the library copies the bytes).
			data = (*C.uint8_t)(unsafe.Pointer(&o.Data[0]))
		}
	}
	c := C.dg_output_sink_push(sink, cname, data, n, C.int(boolInt(o.Stored)))
	if c != C.DORCH_OK {
		// Hand the library's message (why the push was refused) back as the store's.
		return storeReturn(&Error{Code: Code(c), Op: op, Message: C.GoString(C.dorch_last_error())})
	}
	return c
}

//export goStoreLinkResume
func goStoreLinkResume(h C.uintptr_t, runID, original *C.char) (code C.DorchCode) {
	defer storeRecover("Store.LinkResume", &code)
	return storeReturn(durableStoreOf(h).LinkResume(C.GoString(runID), C.GoString(original)))
}

//export goStoreResumedFrom
func goStoreResumedFrom(h C.uintptr_t, runID *C.char, sink *C.DorchResumeSink) (code C.DorchCode) {
	const op = "Store.ResumedFrom"
	defer storeRecover(op, &code)
	original, err := durableStoreOf(h).ResumedFrom(C.GoString(runID))
	if err != nil {
		return storeReturn(err)
	}
	if original == "" {
		return C.DORCH_OK
	}
	if err := checkNUL(op, original); err != nil {
		return storeReturn(err)
	}
	c := cstring(original)
	defer cfree(c)
	if rc := C.dg_resume_sink_set(sink, c); rc != C.DORCH_OK {
		return storeReturn(&Error{Code: Code(rc), Op: op, Message: C.GoString(C.dorch_last_error())})
	}
	return C.DORCH_OK
}
