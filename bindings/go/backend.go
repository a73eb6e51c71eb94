package dremioorch

/*
#include "shim.h"
*/
import "C"

import (
	"math"
	"runtime"
	"sync"
)

// Backend is where runs are kept: one of the built-in backends or a Store
// written in Go. It is safe for concurrent use. A Pipeline keeps its own
// reference, so a Backend may be closed while pipelines still use it.
type Backend struct {
	mu  sync.RWMutex
	ptr *C.DorchBackend
}

func newBackend(ptr *C.DorchBackend) *Backend {
	b := &Backend{ptr: ptr}
	runtime.SetFinalizer(b, (*Backend).Close)
	return b
}

// Close releases this reference to the backend. Calling it again does nothing.
func (b *Backend) Close() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	ptr := b.ptr
	b.ptr = nil
	b.mu.Unlock()
	if ptr != nil {
		runtime.SetFinalizer(b, nil)
		C.dorch_backend_free(ptr)
	}
	return nil
}

// NewMemoryBackend returns a backend keeping runs in memory.
func NewMemoryBackend() (*Backend, error) {
	var out *C.DorchBackend
	var msg *C.char
	if err := cerr("NewMemoryBackend", C.dg_backend_memory(&out, &msg), msg); err != nil {
		return nil, err
	}
	return newBackend(out), nil
}

// OpenSQLite opens (creating if needed) a SQLite history file, in
// dremioframe's layout.
func OpenSQLite(path string) (*Backend, error) {
	if err := checkNUL("OpenSQLite", path); err != nil {
		return nil, err
	}
	cpath := cstring(path)
	defer cfree(cpath)
	var out *C.DorchBackend
	var msg *C.char
	if err := cerr("OpenSQLite", C.dg_backend_sqlite(cpath, &out, &msg), msg); err != nil {
		return nil, err
	}
	return newBackend(out), nil
}

// OpenPostgres connects to PostgreSQL. An empty dsn means the environment
// variable DREMIOFRAME_PG_DSN; an empty table means "dremioframe_runs".
func OpenPostgres(dsn, table string) (*Backend, error) {
	if err := checkNUL("OpenPostgres", dsn, table); err != nil {
		return nil, err
	}
	cdsn, ctable := cstringOrNull(dsn), cstringOrNull(table)
	defer cfree(cdsn)
	defer cfree(ctable)
	var out *C.DorchBackend
	var msg *C.char
	if err := cerr("OpenPostgres", C.dg_backend_postgres(cdsn, ctable, &out, &msg), msg); err != nil {
		return nil, err
	}
	return newBackend(out), nil
}

// OpenMySQL connects to MySQL or MariaDB with a mysql://user:pass@host:port/db
// URL. An empty url means the DREMIOFRAME_MYSQL_* environment variables; an
// empty table means "dremioframe_runs".
func OpenMySQL(url, table string) (*Backend, error) {
	if err := checkNUL("OpenMySQL", url, table); err != nil {
		return nil, err
	}
	curl, ctable := cstringOrNull(url), cstringOrNull(table)
	defer cfree(curl)
	defer cfree(ctable)
	var out *C.DorchBackend
	var msg *C.char
	if err := cerr("OpenMySQL", C.dg_backend_mysql(curl, ctable, &out, &msg), msg); err != nil {
		return nil, err
	}
	return newBackend(out), nil
}

// Open opens any built-in backend from a URL: "memory:";
// "sqlite:///relative/path.db" (relative to the current directory),
// "sqlite:////absolute/path.db" or a path with no scheme (a SQLite file, as
// SQLAlchemy and dremioframe read these URLs; "sqlite://relative.db" is
// accepted too); "postgresql://..." (or "postgres://...");
// "mysql://user:pass@host:port/db". Server URLs may end with "?table=name"
// to use another table than "dremioframe_runs".
func Open(url string) (*Backend, error) {
	if err := checkNUL("Open", url); err != nil {
		return nil, err
	}
	curl := cstring(url)
	defer cfree(curl)
	var out *C.DorchBackend
	var msg *C.char
	if err := cerr("Open", C.dg_backend_open(curl, &out, &msg), msg); err != nil {
		return nil, err
	}
	return newBackend(out), nil
}

// Store is a backend written in Go: the four operations of dremioframe's
// backends. NewCustomBackend turns any Store into a Backend.
//
// A returned error fails the operation: its message reaches the caller
// through the library (dorch_set_error), as an error matching ErrBackend;
// an error matching ErrNotFound keeps that code (and from GetRun means "no
// such run"). A panic is caught and reported as an ErrBackend error. During a
// run a failed operation stops the run with an ErrBackend error naming what
// the history lacks.
type Store interface {
	// SaveRun inserts or replaces the whole run record. It is called when a
	// run starts (RUNNING, every task PENDING) and when it ends. The store
	// may keep run.
	SaveRun(run *PipelineRun) error
	// GetRun returns the run with this id; (nil, nil) or an error matching
	// ErrNotFound when there is none.
	GetRun(runID string) (*PipelineRun, error)
	// UpdateTaskStatus sets one task's status, on every task state change.
	UpdateTaskStatus(runID, taskName string, status TaskStatus) error
	// ListRuns returns up to limit runs, newest StartTime first, of the
	// pipeline named pipelineName, or of all pipelines when it is "".
	ListRuns(pipelineName string, limit int) ([]PipelineRun, error)
}

type customState struct{ store Store }

// CustomOption configures NewCustomBackend.
type CustomOption func(*customConfig)

type customConfig struct{ threadSafe bool }

// ThreadSafe declares that the Store's methods may be called concurrently.
// Without it the library never calls two of them at once.
func ThreadSafe() CustomOption { return func(c *customConfig) { c.threadSafe = true } }

// NewCustomBackend makes a Backend of a Store written in Go. The library
// calls the Store, from worker threads, during runs and for the Backend's
// own methods, until the last reference to the backend (this Backend and
// the pipelines using it) is released. A Store that is also a DetailStore
// keeps task details; one that is also a DurableStore keeps leases and
// outputs, and can recover, purge and resume runs.
func NewCustomBackend(store Store, opts ...CustomOption) (*Backend, error) {
	if store == nil {
		return nil, &Error{Code: CodeInvalidArgument, Op: "NewCustomBackend", Message: "store is nil"}
	}
	var cfg customConfig
	for _, o := range opts {
		o(&cfg)
	}
	h := newHandle(&customState{store: store})
	ts := C.int(0)
	if cfg.threadSafe {
		ts = 1
	}
	_, details := store.(DetailStore)  // see details.go
	_, durable := store.(DurableStore) // see durable.go
	var out *C.DorchBackend
	var msg *C.char
	code := C.dg_backend_custom(C.uintptr_t(h), ts, C.int(boolInt(details)), C.int(boolInt(durable)), &out, &msg)
	if err := cerr("NewCustomBackend", code, msg); err != nil {
		releaseHandle(h)
		return nil, err
	}
	return newBackend(out), nil
}

// use runs f with the live C pointer, or fails with ErrClosed.
func (b *Backend) use(op string, f func(*C.DorchBackend) error) error {
	if b == nil {
		return errClosed(op)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.ptr == nil {
		return errClosed(op)
	}
	err := f(b.ptr)
	runtime.KeepAlive(b)
	return err
}

// SaveRun writes a whole run record (an upsert).
func (b *Backend) SaveRun(run *PipelineRun) error {
	const op = "Backend.SaveRun"
	ri, err := runToC(op, run)
	if err != nil {
		return err
	}
	defer freeCRun(ri)
	return b.use(op, func(p *C.DorchBackend) error {
		var msg *C.char
		return cerr(op, C.dg_backend_save_run(p, ri, &msg), msg)
	})
}

// UpdateTaskStatus sets one task's status in a saved run.
func (b *Backend) UpdateTaskStatus(runID, taskName string, status TaskStatus) error {
	const op = "Backend.UpdateTaskStatus"
	s, ok := taskStatusToC(status)
	if !ok {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: "unknown task status " + quote(string(status))}
	}
	if err := checkNUL(op, runID, taskName); err != nil {
		return err
	}
	cid, ctask := cstring(runID), cstring(taskName)
	defer cfree(cid)
	defer cfree(ctask)
	return b.use(op, func(p *C.DorchBackend) error {
		var msg *C.char
		return cerr(op, C.dg_backend_update_task_status(p, cid, ctask, s, &msg), msg)
	})
}

// GetRun returns the run with this id, or an error matching ErrNotFound.
func (b *Backend) GetRun(runID string) (*PipelineRun, error) {
	const op = "Backend.GetRun"
	if err := checkNUL(op, runID); err != nil {
		return nil, err
	}
	cid := cstring(runID)
	defer cfree(cid)
	var runs []PipelineRun
	err := b.use(op, func(p *C.DorchBackend) error {
		var list *C.DorchRunList
		var msg *C.char
		if err := cerr(op, C.dg_backend_get_run(p, cid, &list, &msg), msg); err != nil {
			return err
		}
		runs = takeRunList(list)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, &Error{Code: CodeNotFound, Op: op, Message: "no run with id " + quote(runID)}
	}
	return &runs[0], nil
}

// ListRuns returns up to limit runs, newest first, of the pipeline named
// pipelineName, or of every pipeline when it is "". A stored row that cannot
// be read (written by another tool or by hand) is left out rather than
// failing the call; ListRunsReport names such rows.
func (b *Backend) ListRuns(pipelineName string, limit int) ([]PipelineRun, error) {
	l, err := b.listRuns("Backend.ListRuns", pipelineName, limit)
	if err != nil {
		return nil, err
	}
	return l.Runs, nil
}

// ListRunsReport is ListRuns, also naming the stored rows that cannot be
// read (text in start_time, an unknown status, a tasks column that is not a
// JSON object of status strings...) with why, in listing.Unreadable. These
// rows count toward limit, in their place in the newest-first order, so
// listing.Runs may hold fewer than limit runs although more are stored.
// Backends that cannot hold such rows (memory, a Store) report none.
func (b *Backend) ListRunsReport(pipelineName string, limit int) (RunListing, error) {
	return b.listRuns("Backend.ListRunsReport", pipelineName, limit)
}

func (b *Backend) listRuns(op, pipelineName string, limit int) (RunListing, error) {
	if limit < 0 || uint64(limit) > math.MaxUint32 {
		return RunListing{}, &Error{Code: CodeInvalidArgument, Op: op, Message: "limit out of range"}
	}
	if err := checkNUL(op, pipelineName); err != nil {
		return RunListing{}, err
	}
	cname := cstringOrNull(pipelineName)
	defer cfree(cname)
	var listing RunListing
	err := b.use(op, func(p *C.DorchBackend) error {
		var list *C.DorchRunList
		var msg *C.char
		if err := cerr(op, C.dg_backend_list_runs(p, cname, C.uint32_t(limit), &list, &msg), msg); err != nil {
			return err
		}
		listing = takeRunListing(list)
		return nil
	})
	return listing, err
}

// takeRunList copies the runs of a run list into Go values and frees it.
func takeRunList(list *C.DorchRunList) []PipelineRun {
	return takeRunListing(list).Runs
}

// takeRunListing copies a run list, runs and unreadable rows, into Go
// values and frees it.
func takeRunListing(list *C.DorchRunList) RunListing {
	defer C.dorch_run_list_free(list)
	n := int(C.dorch_run_list_len(list))
	l := RunListing{Runs: make([]PipelineRun, 0, n)}
	for i := 0; i < n; i++ {
		ri := C.dorch_run_list_get(list, C.size_t(i))
		if ri == nil {
			break
		}
		l.Runs = append(l.Runs, runFromC(ri))
	}
	if u := int(C.dorch_run_list_unreadable_len(list)); u > 0 {
		l.Unreadable = make([]UnreadableRun, 0, u)
		for i := 0; i < u; i++ {
			var id, why *C.char
			if C.dorch_run_list_unreadable_get(list, C.size_t(i), &id, &why) != C.DORCH_OK {
				break
			}
			l.Unreadable = append(l.Unreadable, UnreadableRun{RunID: C.GoString(id), Reason: C.GoString(why)})
		}
	}
	return l
}

// A *Backend is itself a Store, so a Store can wrap a built-in backend
// (to audit, filter or mirror what it receives).
var _ Store = (*Backend)(nil)
