package dremioorch

// The scheduler: pipelines run on cron expressions (in IANA time zones) or
// fixed intervals, with an overlap policy and catch-up, once across
// processes that share a claims backend.

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

// Overlap says what a fire does while the schedule's previous run still runs.
type Overlap int

const (
	// OverlapSkip skips the fire (the default; APScheduler's max_instances=1).
	OverlapSkip Overlap = iota
	// OverlapBufferOne queues the fire until the current run ends; at most
	// one fire waits (a newer one replaces it).
	OverlapBufferOne
	// OverlapAllow runs the fire at once, beside the current run.
	OverlapAllow
)

// Schedule says when a pipeline runs: set exactly one of Cron and Interval.
type Schedule struct {
	// Cron is a cron expression: 5 fields (minute hour day-of-month month
	// day-of-week), or 6 with seconds first.
	Cron string
	// Timezone is the IANA zone Cron is read in ("Europe/Berlin"); empty: UTC.
	Timezone string
	// Interval fires at the multiples of Interval since 1970-01-01 UTC
	// (millisecond resolution), so every process computes the same times.
	Interval time.Duration
	// Overlap is the overlap policy (default OverlapSkip).
	Overlap Overlap
	// MaxCatchup: after downtime (fire times that passed while no scheduler
	// sharing the claims backend ran the schedule), run at most this many
	// of the newest missed fires. 0: none.
	MaxCatchup uint32
}

// Scheduler runs pipelines on schedules, from threads of the library's
// own: each fire is a normal run of its pipeline (history, listener).
// Its methods are safe for concurrent use. Close releases it.
type Scheduler struct {
	mu  sync.RWMutex
	ptr *C.DorchScheduler
}

// NewScheduler creates a stopped scheduler. claims (nil: this process only)
// is a backend shared with other schedulers, in this process or others:
// each fire time of a schedule name runs once in all of them, and the
// schedules are recorded there (`dremioorch schedules list`). The scheduler
// keeps its own reference to claims.
func NewScheduler(claims *Backend) (*Scheduler, error) {
	const op = "NewScheduler"
	var out *C.DorchScheduler
	create := func(b *C.DorchBackend) error {
		var msg *C.char
		return cerr(op, C.dg_scheduler_new(b, &out, &msg), msg)
	}
	var err error
	if claims == nil {
		err = create(nil)
	} else {
		err = claims.use(op, create)
	}
	if err != nil {
		return nil, err
	}
	s := &Scheduler{ptr: out}
	runtime.SetFinalizer(s, (*Scheduler).Close)
	return s, nil
}

// use runs f with the live C pointer (Close waits for it), or fails with
// ErrClosed.
func (s *Scheduler) use(op string, f func(*C.DorchScheduler) error) error {
	if s == nil {
		return errClosed(op)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return errClosed(op)
	}
	err := f(s.ptr)
	runtime.KeepAlive(s)
	return err
}

// Add adds schedule name running p when sch says. The scheduler keeps its
// own reference to p: p may be closed afterwards. A malformed cron
// expression or an unknown time zone is an ErrInvalidArgument error naming
// the problem; a name already added is ErrDuplicate.
func (s *Scheduler) Add(name string, p *Pipeline, sch Schedule) error {
	const op = "Scheduler.Add"
	if err := checkNUL(op, name, sch.Cron, sch.Timezone); err != nil {
		return err
	}
	if sch.Interval < 0 || (sch.Interval > 0 && sch.Interval < time.Millisecond) {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("interval %v: at least 1 ms", sch.Interval)}
	}
	if sch.Overlap < OverlapSkip || sch.Overlap > OverlapAllow {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("unknown overlap policy %d", sch.Overlap)}
	}
	ms := uint64(sch.Interval / time.Millisecond)
	if ms > math.MaxInt64/4 {
		return &Error{Code: CodeInvalidArgument, Op: op, Message: fmt.Sprintf("interval %v is too long", sch.Interval)}
	}
	cname := cstring(name)
	defer cfree(cname)
	ccron := cstringOrNull(sch.Cron)
	defer cfree(ccron)
	ctz := cstringOrNull(sch.Timezone)
	defer cfree(ctz)
	return s.use(op, func(sp *C.DorchScheduler) error {
		return p.read(op, func(pp *C.DorchPipeline) error {
			var msg *C.char
			return cerr(op, C.dg_scheduler_add(sp, cname, pp, ccron, C.uint64_t(ms), ctz,
				C.int(sch.Overlap), C.uint32_t(sch.MaxCatchup), &msg), msg)
		})
	})
}

// Start starts firing, from a thread of the library's own, and returns.
// Times that passed before do not fire, except up to MaxCatchup missed
// ones of a schedule whose last fire is recorded in the claims backend.
func (s *Scheduler) Start() error {
	const op = "Scheduler.Start"
	return s.use(op, func(sp *C.DorchScheduler) error {
		var msg *C.char
		return cerr(op, C.dg_scheduler_start(sp, &msg), msg)
	})
}

// Run starts the scheduler and blocks until ctx is done, then stops it,
// cancelling the runs in progress, and returns once they have ended. It
// returns the error of Start, or nil.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Stop(true)
}

// NextFire is the next fire time of schedule name. An unknown name (or a
// cron expression that never matches again) is ErrNotFound.
func (s *Scheduler) NextFire(name string) (time.Time, error) {
	const op = "Scheduler.NextFire"
	if err := checkNUL(op, name); err != nil {
		return time.Time{}, err
	}
	cname := cstring(name)
	defer cfree(cname)
	var at C.double
	err := s.use(op, func(sp *C.DorchScheduler) error {
		var msg *C.char
		return cerr(op, C.dg_scheduler_next_fire(sp, cname, &at, &msg), msg)
	})
	if err != nil {
		return time.Time{}, err
	}
	ms := int64(math.Round(float64(at) * 1000))
	return time.UnixMilli(ms), nil
}

// Stop stops firing and returns when every run the scheduler started has
// ended: with cancelRunning they are cancelled first (they end FAILED),
// otherwise they run to their end. A stopped scheduler may be started again.
// A task of one of the scheduler's runs must not call it (it would wait for
// itself).
func (s *Scheduler) Stop(cancelRunning bool) error {
	const op = "Scheduler.Stop"
	c := 0
	if cancelRunning {
		c = 1
	}
	return s.use(op, func(sp *C.DorchScheduler) error {
		var msg *C.char
		return cerr(op, C.dg_scheduler_stop(sp, C.int(c), &msg), msg)
	})
}

// Close stops the scheduler (waiting for its runs) and frees it with its
// pipeline and backend references. Calling it again does nothing.
func (s *Scheduler) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	ptr := s.ptr
	s.ptr = nil
	s.mu.Unlock()
	if ptr != nil {
		runtime.SetFinalizer(s, nil)
		C.dorch_scheduler_free(ptr)
	}
	return nil
}
