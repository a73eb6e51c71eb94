package dremioorch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// starts records which tasks started, in order.
type starts struct {
	mu    sync.Mutex
	names []string
}

func (s *starts) add(name string) {
	s.mu.Lock()
	s.names = append(s.names, name)
	s.mu.Unlock()
}

func (s *starts) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.names...)
}

func chainName(i int) string { return fmt.Sprintf("t%02d", i) }

// wantNoRunningOrPending checks the stored record of a finished run.
func wantNoRunningOrPending(t *testing.T, b *Backend, runID string) *PipelineRun {
	t.Helper()
	run, err := b.GetRun(runID)
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if run.Status != RunFailed || !run.Finished() {
		t.Errorf("stored run: status %s, finished %v", run.Status, run.Finished())
	}
	for name, s := range run.Tasks {
		if s == TaskRunning || s == TaskPending {
			t.Errorf("stored task %s is %s", name, s)
		}
	}
	return run
}

// A 50-task chain whose task 10 cancels the run's context: nothing after it
// starts, and the backend is left with no RUNNING or PENDING task.
func TestRunContextCancelChain(t *testing.T) {
	sqlitePath := filepath.Join(t.TempDir(), "cancel.db")
	for _, url := range []string{"memory:", "sqlite:///" + sqlitePath} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			b, err := Open(url)
			must(t, err)
			defer b.Close()
			p := newPipeline(t, "chain50", b, 2)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var st starts
			const n = 50
			for i := 1; i <= n; i++ {
				i := i
				must(t, p.AddTask(chainName(i), func(c *TaskContext) ([]byte, error) {
					st.add(c.TaskName())
					if i == 10 {
						cancel()
						if c.Err() != context.Canceled {
							return nil, fmt.Errorf("task context not cancelled with its run: %v", c.Err())
						}
					}
					return nil, nil
				}))
				if i > 1 {
					must(t, p.AddDependency(chainName(i-1), chainName(i)))
				}
			}
			res, err := p.RunContext(ctx)
			if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
				t.Fatalf("RunContext: %v, want context.Canceled and ErrCancelled", err)
			}
			if errors.Is(err, ErrTaskFailed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
				t.Errorf("error matches another kind: %v", err)
			}
			if res == nil {
				t.Fatal("no result")
			}
			if res.Status != RunFailed {
				t.Errorf("run status %s", res.Status)
			}
			got := st.list()
			if len(got) != 10 || got[9] != chainName(10) {
				t.Fatalf("started %v, want t01..t10", got)
			}
			for i := 1; i <= n; i++ {
				want := TaskSuccess
				if i > 10 {
					want = TaskSkipped
				}
				if res.Tasks[chainName(i)] != want {
					t.Errorf("%s: %s, want %s", chainName(i), res.Tasks[chainName(i)], want)
				}
			}
			d, err := res.TaskDetail(chainName(11))
			must(t, err)
			if d.Error != "cancelled: context canceled" || d.Attempts != 0 || d.Started() || !d.Finished() {
				t.Errorf("detail of t11: %+v", d)
			}
			run := wantNoRunningOrPending(t, b, res.RunID)
			if run.Tasks[chainName(10)] != TaskSuccess || run.Tasks[chainName(50)] != TaskSkipped {
				t.Errorf("stored statuses %v", run.Tasks)
			}
			details, err := b.TaskDetails(res.RunID)
			switch {
			case err == nil:
				if len(details) != n {
					t.Fatalf("%d details", len(details))
				}
				for _, d := range details {
					if d.Status == TaskRunning || d.Status == TaskPending {
						t.Errorf("stored detail %+v", d)
					}
					if d.Name == chainName(30) && d.Error != "cancelled: context canceled" {
						t.Errorf("stored detail of t30: %+v", d)
					}
				}
			case strings.HasPrefix(url, "memory:") || !errors.Is(err, ErrUnsupported):
				t.Errorf("TaskDetails: %v", err)
			}
		})
	}
}

// Cancelling from another goroutine stops the tasks that run and skips the rest.
func TestRunContextCancelFromGoroutine(t *testing.T) {
	p := newPipeline(t, "wide", nil, 2)
	var st starts
	started := make(chan struct{}, 10)
	for i := 1; i <= 6; i++ {
		must(t, p.AddTask(chainName(i), func(c *TaskContext) ([]byte, error) {
			st.add(c.TaskName())
			started <- struct{}{}
			return nil, c.Sleep(time.Minute)
		}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-started
		<-started
		cancel()
	}()
	begin := time.Now()
	res, err := p.RunContext(ctx)
	if elapsed := time.Since(begin); elapsed > 20*time.Second {
		t.Errorf("the cancelled run took %v", elapsed)
	}
	if !errors.Is(err, context.Canceled) || res == nil {
		t.Fatalf("RunContext: %v, %v", res, err)
	}
	if got := st.list(); len(got) != 2 {
		t.Fatalf("started %v, want 2 tasks", got)
	}
	var failed, skipped int
	for name, s := range res.Tasks {
		switch s {
		case TaskFailed:
			failed++
			if res.Errors[name] != "cancelled: context canceled" {
				t.Errorf("error of %s: %q", name, res.Errors[name])
			}
		case TaskSkipped:
			skipped++
		default:
			t.Errorf("%s is %s", name, s)
		}
	}
	if failed != 2 || skipped != 4 {
		t.Errorf("%d failed, %d skipped: %v", failed, skipped, res.Tasks)
	}
}

// A context deadline over a cooperative task: the run returns soon after it
// with an error matching context.DeadlineExceeded.
func TestRunContextDeadline(t *testing.T) {
	p := newPipeline(t, "deadline", nil, 1)
	var seen atomic.Value
	must(t, p.AddTask("waits", func(c *TaskContext) ([]byte, error) {
		if _, ok := c.Deadline(); !ok {
			return nil, errors.New("no deadline")
		}
		select {
		case <-c.Done():
		case <-time.After(time.Minute):
		}
		seen.Store(c.Err())
		return nil, c.Err()
	}))
	must(t, p.AddTask("after", noop))
	must(t, p.AddDependency("waits", "after"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	res, err := p.RunContext(ctx)
	elapsed := time.Since(begin)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled) {
		t.Fatalf("RunContext: %v", err)
	}
	if elapsed < 250*time.Millisecond || elapsed > 20*time.Second {
		t.Errorf("the run took %v with a 300ms deadline", elapsed)
	}
	if seen.Load() != context.DeadlineExceeded {
		t.Errorf("the task saw %v", seen.Load())
	}
	if res.Tasks["waits"] != TaskFailed || res.Tasks["after"] != TaskSkipped {
		t.Errorf("statuses %v", res.Tasks)
	}
	if got := res.Errors["waits"]; got != "cancelled: context deadline exceeded" {
		t.Errorf("error %q", got)
	}
}

func TestRunContextDoneBeforeStart(t *testing.T) {
	b, err := NewMemoryBackend()
	must(t, err)
	defer b.Close()
	p := newPipeline(t, "never", b, 1)
	ran := false
	must(t, p.AddTask("a", func(*TaskContext) ([]byte, error) { ran = true; return nil, nil }))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := p.RunContext(ctx)
	if res != nil || !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("RunContext with a cancelled context: %v, %v", res, err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	if _, err := p.RunContext(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RunContext past its deadline: %v", err)
	}
	runs, err := b.ListRuns("", 10)
	must(t, err)
	if ran || len(runs) != 0 {
		t.Errorf("a run was made: %v %v", ran, runs)
	}
}

type ctxKey struct{}

// A context that is never cancelled: the run succeeds, the tasks see its
// values, and the goroutine watching it ends with the run.
func TestRunContextSuccessEndsWatcher(t *testing.T) {
	p := newPipeline(t, "fine", nil, 2)
	must(t, p.AddTask("a", func(c *TaskContext) ([]byte, error) {
		v, _ := c.Value(ctxKey{}).(string)
		return []byte(v), nil
	}))
	must(t, p.AddTask("b", func(c *TaskContext) ([]byte, error) {
		if err := c.Sleep(time.Millisecond); err != nil {
			return nil, err
		}
		return nil, c.Err()
	}))
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "from the caller"))
	defer cancel()
	before := runtime.NumGoroutine()
	for i := 0; i < 30; i++ {
		res, err := p.RunContext(ctx)
		if err != nil {
			t.Fatalf("RunContext: %v", err)
		}
		if string(res.Output("a")) != "from the caller" {
			t.Fatalf("output %q", res.Output("a"))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the runs, %d before", n, before)
	}
	if activeRuns.n.Load() != 0 {
		t.Errorf("%d runs still registered", activeRuns.n.Load())
	}
}

// Two runs of one pipeline at once with different contexts: cancelling one
// leaves the other alone (each task finds its own run's context).
func TestRunContextConcurrentRuns(t *testing.T) {
	p := newPipeline(t, "twice", nil, 2)
	entered := make(chan string, 4)
	must(t, p.AddTask("work", func(c *TaskContext) ([]byte, error) {
		entered <- c.Value(ctxKey{}).(string)
		if err := c.Sleep(800 * time.Millisecond); err != nil {
			return nil, err
		}
		return []byte(c.Value(ctxKey{}).(string)), nil
	}))
	ctxA, cancelA := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "A"))
	ctxB, cancelB := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "B"))
	defer cancelA()
	defer cancelB()
	var wg sync.WaitGroup
	var errA, errB error
	var resB *RunResult
	wg.Add(2)
	go func() { defer wg.Done(); _, errA = p.RunContext(ctxA) }()
	go func() { defer wg.Done(); resB, errB = p.RunContext(ctxB) }()
	for seen := map[string]bool{}; len(seen) < 2; {
		seen[<-entered] = true
	}
	cancelA()
	wg.Wait()
	if !errors.Is(errA, context.Canceled) {
		t.Errorf("run A: %v", errA)
	}
	if errB != nil || string(resB.Output("work")) != "B" {
		t.Errorf("run B: %v, %+v", errB, resB)
	}
}

// A task passes its run's TaskContext to a nested run: cancelling the outer
// run's context stops the nested run too.
func TestRunContextNested(t *testing.T) {
	inner := newPipeline(t, "inner", nil, 1)
	must(t, inner.AddTask("deep", func(c *TaskContext) ([]byte, error) { return nil, c.Sleep(time.Minute) }))
	outer := newPipeline(t, "outer", nil, 1)
	var innerErr error
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must(t, outer.AddTask("host", func(c *TaskContext) ([]byte, error) {
		time.AfterFunc(200*time.Millisecond, cancel)
		_, innerErr = inner.RunContext(c)
		return nil, innerErr
	}))
	_, err := outer.RunContext(ctx)
	if !errors.Is(err, context.Canceled) || !errors.Is(innerErr, context.Canceled) {
		t.Errorf("outer %v, inner %v", err, innerErr)
	}
}

// A task past its timeout is FAILED at its deadline and its children are
// decided at once, while its callback still runs; the run waits for it.
func TestTaskTimeoutReleasesChildren(t *testing.T) {
	p := newPipeline(t, "timeouts", nil, 2)
	var slowReturned, cleanupStarted atomic.Int64
	var doneAt atomic.Int64
	begin := time.Now()
	must(t, p.AddTask("slow", func(c *TaskContext) ([]byte, error) {
		go func() { // Done may be watched from another goroutine
			<-c.Done()
			doneAt.Store(int64(time.Since(begin)))
		}()
		time.Sleep(2 * time.Second) // ignores its context
		slowReturned.Store(int64(time.Since(begin)))
		return []byte("too late"), nil
	}, WithTimeout(200*time.Millisecond)))
	must(t, p.AddTask("cleanup", func(c *TaskContext) ([]byte, error) {
		cleanupStarted.Store(int64(time.Since(begin)))
		return nil, nil
	}, WithTriggerRule(AllDone)))
	must(t, p.AddTask("next", noop))
	must(t, p.AddTask("alert", noop, WithTriggerRule(OneFailed)))
	for _, c := range []string{"cleanup", "next", "alert"} {
		must(t, p.AddDependency("slow", c))
	}
	res, err := p.Run()
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("Run: %v", err)
	}
	elapsed := time.Since(begin)
	wantStatuses(t, res.Tasks, map[string]TaskStatus{"slow": TaskFailed, "cleanup": TaskSuccess, "next": TaskSkipped, "alert": TaskSuccess})
	if res.Errors["slow"] != "timed out after 200 ms" || res.Output("slow") != nil {
		t.Errorf("slow: error %q, output %q", res.Errors["slow"], res.Output("slow"))
	}
	if c, s := time.Duration(cleanupStarted.Load()), time.Duration(slowReturned.Load()); c == 0 || c >= s {
		t.Errorf("cleanup started at %v, slow returned at %v", c, s)
	}
	if elapsed < 2*time.Second {
		t.Errorf("the run returned after %v, before the slow callback", elapsed)
	}
	d, err := res.TaskDetail("slow")
	must(t, err)
	if d.Status != TaskFailed || d.Attempts != 1 || d.Error != "timed out after 200 ms" {
		t.Errorf("detail %+v", d)
	}
	if took := d.EndTime.Sub(d.StartTime); took < 150*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("slow recorded FAILED %v after its start, want about 200ms", took)
	}
	deadline := time.Now().Add(5 * time.Second)
	for doneAt.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if at := time.Duration(doneAt.Load()); at < 150*time.Millisecond || at > 1500*time.Millisecond {
		t.Errorf("the task's Done closed at %v, want about 200ms", at)
	}
}

// Retries are not tried after a timeout.
func TestTaskTimeoutNoRetry(t *testing.T) {
	p := newPipeline(t, "noretry", nil, 1)
	var attempts atomic.Int32
	var sawErr atomic.Value
	must(t, p.AddTask("polite", func(c *TaskContext) ([]byte, error) {
		attempts.Add(1)
		err := c.Sleep(time.Minute)
		sawErr.Store(err)
		return nil, err
	}, WithTimeout(100*time.Millisecond), WithRetries(3), WithRetryDelay(10*time.Millisecond)))
	begin := time.Now()
	res, err := p.Run()
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("Run: %v", err)
	}
	if elapsed := time.Since(begin); elapsed > 20*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if attempts.Load() != 1 || sawErr.Load() != context.DeadlineExceeded {
		t.Errorf("%d attempts, Sleep returned %v", attempts.Load(), sawErr.Load())
	}
	d, err := res.TaskDetail("polite")
	must(t, err)
	if d.Attempts != 1 || d.Status != TaskFailed || d.Error != "timed out after 100 ms" {
		t.Errorf("detail %+v", d)
	}
}

// The TaskContext as a context: Done is one channel (no goroutine per
// call), Sleep waits the full time when nothing stops it, and the context
// is done once the task returned.
func TestTaskContextDone(t *testing.T) {
	p := newPipeline(t, "done", nil, 1)
	var kept *TaskContext
	var goroutines [2]int
	must(t, p.AddTask("a", func(c *TaskContext) ([]byte, error) {
		kept = c
		goroutines[0] = runtime.NumGoroutine()
		ch := c.Done()
		for i := 0; i < 1000; i++ {
			if c.Done() != ch {
				return nil, errors.New("Done changed")
			}
			if c.Err() != nil {
				return nil, c.Err()
			}
		}
		goroutines[1] = runtime.NumGoroutine()
		if _, ok := c.Deadline(); ok {
			return nil, errors.New("a deadline without timeout")
		}
		begin := time.Now()
		if err := c.Sleep(50 * time.Millisecond); err != nil || time.Since(begin) < 50*time.Millisecond {
			return nil, fmt.Errorf("Sleep: %v after %v", err, time.Since(begin))
		}
		if err := c.Sleep(0); err != nil {
			return nil, err
		}
		return nil, nil
	}))
	_, err := p.Run()
	must(t, err)
	if goroutines[1] > goroutines[0] {
		t.Errorf("Done started goroutines: %v", goroutines)
	}
	select {
	case <-kept.Done():
	default:
		t.Error("the context of a returned task is not done")
	}
	if kept.Err() != context.Canceled || kept.Sleep(time.Minute) != context.Canceled {
		t.Errorf("after return: %v", kept.Err())
	}
	// A task that never asked for its context gets a done one afterwards.
	p2 := newPipeline(t, "late", nil, 1)
	must(t, p2.AddTask("b", func(c *TaskContext) ([]byte, error) { kept = c; return nil, nil }, WithTimeout(time.Hour)))
	_, err = p2.Run()
	must(t, err)
	if kept.Err() != context.Canceled {
		t.Errorf("late context: %v", kept.Err())
	}
	if dl, ok := kept.Deadline(); !ok || time.Until(dl) < 50*time.Minute {
		t.Errorf("deadline %v %v", dl, ok)
	}
}

func TestRunControlBadInput(t *testing.T) {
	var nilCtx context.Context
	p := newPipeline(t, "bad_rc", nil, 1)
	if _, err := p.RunContext(nilCtx); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil context: %v", err)
	}
	var nilp *Pipeline
	if _, err := nilp.RunContext(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("nil pipeline: %v", err)
	}
	if err := nilp.SetListener(ListenerFuncs{}); !errors.Is(err, ErrClosed) {
		t.Errorf("SetListener on a nil pipeline: %v", err)
	}
	if err := p.AddTask("neg", noop, WithTimeout(-time.Second)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative timeout: %v", err)
	}
	if err := p.AddTask("huge", noop, WithTimeout(time.Duration(1<<62))); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("huge timeout: %v", err)
	}
	if err := p.AddTask("", noop, WithTimeout(time.Second)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty name with a timeout: %v", err)
	}
	must(t, p.AddTask("tiny", noop, WithTimeout(time.Nanosecond))) // rounded up to 1 ms
	must(t, p.AddTask("zero", noop, WithTimeout(0)))               // no limit
	res, err := p.Run()
	if err != nil && !errors.Is(err, ErrTaskFailed) {
		t.Fatal(err)
	}
	var nilRes *RunResult
	if _, err := nilRes.TaskDetail("zero"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("TaskDetail on a nil result: %v", err)
	}
	if _, err := res.TaskDetail(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("TaskDetail of an empty name: %v", err)
	}
	if _, err := res.TaskDetail("ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("TaskDetail of an unknown task: %v", err)
	}
	if d, err := res.TaskDetail("zero"); err != nil || d.Status != TaskSuccess {
		t.Errorf("TaskDetail(zero): %+v, %v", d, err)
	}
	must(t, p.Close())
	if _, err := p.RunContext(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("RunContext on a closed pipeline: %v", err)
	}
	if err := p.SetListener(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SetListener on a closed pipeline: %v", err)
	}
	// A cycle is reported as by Run, with no result.
	c := newPipeline(t, "cyc", nil, 1)
	must(t, c.AddTask("x", noop))
	must(t, c.AddTask("y", noop))
	must(t, c.AddDependency("x", "y"))
	must(t, c.AddDependency("y", "x"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if res, err := c.RunContext(ctx); res != nil || !errors.Is(err, ErrCycle) {
		t.Errorf("cycle: %v, %v", res, err)
	}
}
