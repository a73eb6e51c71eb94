package dremioorch

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func noop(*TaskContext) ([]byte, error) { return nil, nil }

func fail(msg string) TaskFunc {
	return func(*TaskContext) ([]byte, error) { return nil, errors.New(msg) }
}

func newPipeline(t testing.TB, name string, b *Backend, workers int) *Pipeline {
	t.Helper()
	p, err := NewPipeline(name, b, workers)
	if err != nil {
		t.Fatalf("NewPipeline: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantStatuses(t *testing.T, got map[string]TaskStatus, want map[string]TaskStatus) {
	t.Helper()
	for name, w := range want {
		if got[name] != w {
			t.Errorf("task %s: status %s, want %s", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d task statuses, want %d: %v", len(got), len(want), got)
	}
}

func TestTriggerRules(t *testing.T) {
	p := newPipeline(t, "rules", nil, 2)
	must(t, p.AddTask("ok", noop))
	must(t, p.AddTask("bad", fail("boom")))
	tasks := []struct {
		name string
		rule TriggerRule
		ups  []string
	}{
		{"succ_after_ok", AllSuccess, []string{"ok"}},
		{"succ_after_both", AllSuccess, []string{"ok", "bad"}}, // skipped
		{"onefail_after_both", OneFailed, []string{"ok", "bad"}},
		{"onefail_after_ok", OneFailed, []string{"ok"}},                     // skipped
		{"alldone_after_skip", AllDone, []string{"bad", "succ_after_both"}}, // runs
		{"succ_after_skip", AllSuccess, []string{"succ_after_both"}},        // skip chain
		{"skip_chain_2", AllSuccess, []string{"succ_after_skip"}},           // skip chain
		{"onefail_after_skip", OneFailed, []string{"succ_after_both"}},      // skipped: no failure upstream
		{"alldone_after_alldone", AllDone, []string{"alldone_after_skip"}},
	}
	for _, tk := range tasks {
		must(t, p.AddTask(tk.name, noop, WithTriggerRule(tk.rule)))
		for _, u := range tk.ups {
			must(t, p.AddDependency(u, tk.name))
		}
	}
	res, err := p.Run()
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("Run error %v, want ErrTaskFailed", err)
	}
	if res == nil || res.Status != RunFailed {
		t.Fatalf("result %+v, want FAILED", res)
	}
	wantStatuses(t, res.Tasks, map[string]TaskStatus{
		"ok": TaskSuccess, "bad": TaskFailed,
		"succ_after_ok": TaskSuccess, "succ_after_both": TaskSkipped,
		"onefail_after_both": TaskSuccess, "onefail_after_ok": TaskSkipped,
		"alldone_after_skip": TaskSuccess, "succ_after_skip": TaskSkipped,
		"skip_chain_2": TaskSkipped, "onefail_after_skip": TaskSkipped,
		"alldone_after_alldone": TaskSuccess,
	})
	if res.Errors["bad"] != "boom" {
		t.Errorf("error of bad: %q, want boom", res.Errors["bad"])
	}
	if len(res.Errors) != 1 {
		t.Errorf("errors %v, want only bad's", res.Errors)
	}
	if !strings.Contains(err.Error(), `task "bad" failed: boom`) {
		t.Errorf("run error %q does not name the failed task and its message", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeTaskFailed {
		t.Errorf("errors.As: %#v", e)
	}
}

func TestAllSuccessRunSucceeds(t *testing.T) {
	p := newPipeline(t, "fine", nil, 1)
	must(t, p.AddTask("a", noop))
	must(t, p.AddTask("b", noop))
	must(t, p.AddDependency("a", "b"))
	res, err := p.Run()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunSuccess || len(res.Errors) != 0 {
		t.Fatalf("result %+v", res)
	}
	if len(res.RunID) != 36 {
		t.Errorf("run id %q is not a UUID", res.RunID)
	}
}

func TestRetries(t *testing.T) {
	p := newPipeline(t, "retries", nil, 2)
	var mu sync.Mutex
	attempts := map[string][]int{}
	note := func(c *TaskContext) {
		mu.Lock()
		attempts[c.TaskName()] = append(attempts[c.TaskName()], c.Attempt())
		mu.Unlock()
	}
	must(t, p.AddTask("flaky", func(c *TaskContext) ([]byte, error) {
		note(c)
		if c.Attempt() < 3 {
			return nil, fmt.Errorf("attempt %d failed", c.Attempt())
		}
		return []byte("third time"), nil
	}, WithRetries(2), WithRetryDelay(30*time.Millisecond)))
	must(t, p.AddTask("hopeless", func(c *TaskContext) ([]byte, error) {
		note(c)
		return nil, fmt.Errorf("attempt %d failed", c.Attempt())
	}, WithRetries(1)))
	must(t, p.AddTask("once", func(c *TaskContext) ([]byte, error) {
		note(c)
		return nil, errors.New("no retries")
	}))
	start := time.Now()
	res, err := p.Run()
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("Run: %v", err)
	}
	wantStatuses(t, res.Tasks, map[string]TaskStatus{"flaky": TaskSuccess, "hopeless": TaskFailed, "once": TaskFailed})
	if fmt.Sprint(attempts["flaky"]) != "[1 2 3]" || fmt.Sprint(attempts["hopeless"]) != "[1 2]" || fmt.Sprint(attempts["once"]) != "[1]" {
		t.Errorf("attempts %v", attempts)
	}
	if elapsed < 60*time.Millisecond {
		t.Errorf("two retry delays of 30ms took only %v", elapsed)
	}
	if string(res.Output("flaky")) != "third time" {
		t.Errorf("output of flaky %q", res.Output("flaky"))
	}
	if _, ok := res.Errors["flaky"]; ok {
		t.Errorf("a task that succeeded on retry has an error: %v", res.Errors)
	}
	if got := res.Errors["hopeless"]; got != "attempt 2 failed (after 2 attempts)" {
		t.Errorf("error of hopeless %q", got)
	}
	if got := res.Errors["once"]; got != "no retries" {
		t.Errorf("error of once %q", got)
	}
}

func TestContextPassing(t *testing.T) {
	p := newPipeline(t, "diamond", nil, 4)
	must(t, p.SetContext("greeting", []byte("hello")))
	must(t, p.SetContext("empty", nil))
	must(t, p.AddTask("root", func(c *TaskContext) ([]byte, error) {
		g, ok := c.Get("greeting")
		if !ok {
			return nil, errors.New("no greeting")
		}
		if e, ok := c.Get("empty"); !ok || len(e) != 0 {
			return nil, fmt.Errorf("empty entry: %q %v", e, ok)
		}
		if _, ok := c.Get("nope"); ok {
			return nil, errors.New("found an entry never set")
		}
		return append(g, " world"...), nil
	}))
	for _, side := range []string{"left", "right"} {
		side := side
		must(t, p.AddTask(side, func(c *TaskContext) ([]byte, error) {
			r, ok := c.Get("root")
			if !ok {
				return nil, errors.New("no root output")
			}
			return []byte(side + ":" + string(r)), nil
		}))
		must(t, p.AddDependency("root", side))
	}
	must(t, p.AddTask("join", func(c *TaskContext) ([]byte, error) {
		l, _ := c.Get("left")
		r, _ := c.Get("right")
		return bytes.Join([][]byte{l, r}, []byte("|")), nil
	}))
	must(t, p.AddDependency("left", "join"))
	must(t, p.AddDependency("right", "join"))
	must(t, p.AddTask("silent", func(c *TaskContext) ([]byte, error) { return nil, nil }))
	must(t, p.AddTask("zero", func(c *TaskContext) ([]byte, error) { return []byte{}, nil }))
	res, err := p.Run()
	if err != nil {
		t.Fatalf("Run: %v (errors %v)", err, res)
	}
	if got := string(res.Output("join")); got != "left:hello world|right:hello world" {
		t.Errorf("join output %q", got)
	}
	if _, ok := res.Outputs["silent"]; ok {
		t.Errorf("a task returning nil has an output")
	}
	if z, ok := res.Outputs["zero"]; !ok || len(z) != 0 {
		t.Errorf("a task returning an empty slice: %q %v", z, ok)
	}
	// The run's identity is visible to its tasks.
	var seen atomic.Value
	p2 := newPipeline(t, "ids", nil, 1)
	must(t, p2.AddTask("who", func(c *TaskContext) ([]byte, error) {
		seen.Store(c.RunID() + "/" + c.TaskName())
		return nil, nil
	}))
	res2, err := p2.Run()
	must(t, err)
	if seen.Load() != res2.RunID+"/who" {
		t.Errorf("task saw %v, run is %s", seen.Load(), res2.RunID)
	}
}

func TestParallelFourWorkers(t *testing.T) {
	p := newPipeline(t, "parallel", nil, 4)
	var cur, peak int32
	const n = 12
	for i := 0; i < n; i++ {
		must(t, p.AddTask(fmt.Sprintf("t%02d", i), func(c *TaskContext) ([]byte, error) {
			v := atomic.AddInt32(&cur, 1)
			for {
				m := atomic.LoadInt32(&peak)
				if v <= m || atomic.CompareAndSwapInt32(&peak, m, v) {
					break
				}
			}
			time.Sleep(40 * time.Millisecond)
			atomic.AddInt32(&cur, -1)
			return []byte(c.TaskName()), nil
		}))
	}
	start := time.Now()
	res, err := p.Run()
	elapsed := time.Since(start)
	must(t, err)
	if peak != 4 {
		t.Errorf("peak concurrency %d, want 4", peak)
	}
	if elapsed > n*40*time.Millisecond/2 {
		t.Errorf("12 tasks of 40ms on 4 workers took %v", elapsed)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("t%02d", i)
		if string(res.Output(name)) != name {
			t.Errorf("output of %s: %q", name, res.Output(name))
		}
	}
}

func TestPanickingTask(t *testing.T) {
	p := newPipeline(t, "panics", nil, 2)
	must(t, p.AddTask("explode", func(*TaskContext) ([]byte, error) { panic("kaboom") }))
	must(t, p.AddTask("nilderef", func(*TaskContext) ([]byte, error) {
		var m map[string]*int
		return []byte{byte(*m["x"])}, nil
	}))
	must(t, p.AddTask("after", noop))
	must(t, p.AddTask("alert", noop, WithTriggerRule(OneFailed)))
	must(t, p.AddTask("cleanup", noop, WithTriggerRule(AllDone)))
	for _, d := range [][2]string{{"explode", "after"}, {"explode", "alert"}, {"nilderef", "cleanup"}, {"after", "cleanup"}} {
		must(t, p.AddDependency(d[0], d[1]))
	}
	for i := 0; i < 3; i++ { // the process and the pipeline survive, run after run
		res, err := p.Run()
		if !errors.Is(err, ErrTaskFailed) {
			t.Fatalf("Run: %v", err)
		}
		wantStatuses(t, res.Tasks, map[string]TaskStatus{
			"explode": TaskFailed, "nilderef": TaskFailed, "after": TaskSkipped,
			"alert": TaskSuccess, "cleanup": TaskSuccess,
		})
		if !strings.Contains(res.Errors["explode"], "kaboom") || !strings.Contains(res.Errors["explode"], "panicked") {
			t.Errorf("error of explode %q", res.Errors["explode"])
		}
		if !strings.Contains(res.Errors["nilderef"], "nil pointer") {
			t.Errorf("error of nilderef %q", res.Errors["nilderef"])
		}
	}
}

func TestTaskContextAfterReturn(t *testing.T) {
	p := newPipeline(t, "escape", nil, 1)
	var kept *TaskContext
	must(t, p.AddTask("keep", func(c *TaskContext) ([]byte, error) { kept = c; return nil, nil }))
	_, err := p.Run()
	must(t, err)
	if kept.TaskName() != "keep" {
		t.Errorf("name %q", kept.TaskName())
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "after its task returned") {
			t.Errorf("using a stale TaskContext: %v", r)
		}
	}()
	kept.Get("keep")
}

func TestBadInput(t *testing.T) {
	if _, err := NewPipeline("", nil, 1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty pipeline name: %v", err)
	}
	if _, err := NewPipeline("p", nil, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("zero workers: %v", err)
	}
	p := newPipeline(t, "bad", nil, 1)
	if err := p.SetMaxWorkers(0); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("SetMaxWorkers(0): %v", err)
	}
	if err := p.AddTask("", noop); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty task name: %v", err)
	}
	if err := p.AddTask("nilfn", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil fn: %v", err)
	}
	if err := p.AddTask("x", noop, WithTriggerRule("sometimes")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unknown trigger rule: %v", err)
	}
	if err := p.AddTask("x", noop, WithRetries(-1)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative retries: %v", err)
	}
	if err := p.AddTask("bad\xffutf8", noop); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("invalid UTF-8 name: %v", err)
	}
	if err := p.AddTask("with\x00nul", noop); err == nil {
		t.Errorf("a name with NUL was accepted")
	}
	must(t, p.AddTask("a", noop))
	must(t, p.AddTask("b", noop))
	must(t, p.AddTask("c", noop))
	err := p.AddTask("a", noop)
	if !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate task: %v", err)
	}
	err = p.AddDependency("a", "ghost")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("unknown downstream: %v", err)
	}
	if err := p.AddDependency("ghost", "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown upstream: %v", err)
	}
	if err := p.AddDependency("", "a"); !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrNotFound) {
		t.Errorf("empty upstream: %v", err)
	}
	if err := p.SetContext("", []byte("v")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty context key: %v", err)
	}
	must(t, p.AddDependency("a", "b"))
	must(t, p.AddDependency("b", "c"))
	must(t, p.AddDependency("c", "a"))
	res, err := p.Run()
	if !errors.Is(err, ErrCycle) || res != nil {
		t.Fatalf("cycle: %v, %v", res, err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("cycle error %q does not name %s", err, name)
		}
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrTaskFailed) {
		t.Errorf("cycle error matches another code: %v", err)
	}
	// The failed registrations released their handles.
	before := liveHandles.Load()
	if err := p.AddTask("a", noop); err == nil {
		t.Fatal("duplicate accepted")
	}
	if liveHandles.Load() != before {
		t.Errorf("a rejected task leaked its handle: %d -> %d", before, liveHandles.Load())
	}
}

func TestMermaid(t *testing.T) {
	p := newPipeline(t, "m", nil, 1)
	must(t, p.AddTask("extract", noop))
	must(t, p.AddTask(`load "it"`, noop))
	must(t, p.AddDependency("extract", `load "it"`))
	m, err := p.Mermaid()
	must(t, err)
	if !strings.HasPrefix(m, "graph TD") || !strings.Contains(m, "extract") || !strings.Contains(m, "-->") || strings.Contains(m, `"it"`) {
		t.Errorf("mermaid:\n%s", m)
	}
}

func TestCloseTwice(t *testing.T) {
	before := liveHandles.Load()
	b, err := NewMemoryBackend()
	must(t, err)
	p, err := NewPipeline("closing", b, 2)
	must(t, err)
	must(t, p.AddTask("a", noop))
	// The pipeline keeps its own reference to the backend.
	must(t, b.Close())
	must(t, b.Close())
	if _, err := b.ListRuns("", 10); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ListRuns on a closed backend: %v", err)
	}
	if _, err := p.Run(); err != nil {
		t.Errorf("run after its backend's Close: %v", err)
	}
	must(t, p.Close())
	must(t, p.Close())
	if _, err := p.Run(); !errors.Is(err, ErrClosed) {
		t.Errorf("Run on a closed pipeline: %v", err)
	}
	if err := p.AddTask("b", noop); !errors.Is(err, ErrClosed) {
		t.Errorf("AddTask on a closed pipeline: %v", err)
	}
	if _, err := p.Mermaid(); !errors.Is(err, ErrClosed) {
		t.Errorf("Mermaid on a closed pipeline: %v", err)
	}
	var nilp *Pipeline
	var nilb *Backend
	must(t, nilp.Close())
	must(t, nilb.Close())

	st := newRecordingStore()
	cb, err := NewCustomBackend(st)
	must(t, err)
	must(t, cb.Close())
	must(t, cb.Close())
	if got := liveHandles.Load(); got != before {
		t.Errorf("handles after Close: %d, before: %d", got, before)
	}
}

func TestFinalizersReleaseHandles(t *testing.T) {
	before := liveHandles.Load()
	func() {
		st := newRecordingStore()
		for i := 0; i < 20; i++ {
			b, err := NewCustomBackend(st)
			must(t, err)
			p, err := NewPipeline("leaky", b, 1)
			must(t, err)
			must(t, p.AddTask("a", noop))
			must(t, p.AddTask("b", noop))
			_, err = p.Run()
			must(t, err)
			// neither Close is called
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for liveHandles.Load() != before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := liveHandles.Load(); got != before {
		t.Errorf("finalizers left %d handles (before %d)", got, before)
	}
}

func TestConcurrentRuns(t *testing.T) {
	p := newPipeline(t, "concurrent", nil, 2)
	must(t, p.AddTask("a", func(c *TaskContext) ([]byte, error) { return []byte(c.RunID()), nil }))
	must(t, p.AddTask("b", fail("b fails")))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := p.Run()
			if !errors.Is(err, ErrTaskFailed) {
				t.Errorf("Run: %v", err)
				return
			}
			if string(res.Output("a")) != res.RunID || res.Errors["b"] != "b fails" {
				t.Errorf("result mixed up: %+v", res)
			}
		}()
	}
	wg.Wait()
}

func TestVersion(t *testing.T) {
	if Version() == "" {
		t.Error("empty version")
	}
}

func TestChangeWhileRunning(t *testing.T) {
	p := newPipeline(t, "busy", nil, 1)
	var addErr, depErr error
	var mermaid string
	must(t, p.AddTask("meddler", func(c *TaskContext) ([]byte, error) {
		addErr = p.AddTask("late", noop)
		depErr = p.AddDependency("meddler", "meddler")
		mermaid, _ = p.Mermaid()
		return nil, nil
	}))
	_, err := p.Run()
	must(t, err)
	if !errors.Is(addErr, ErrInvalidArgument) || !errors.Is(depErr, ErrInvalidArgument) {
		t.Errorf("changes during a run: %v, %v", addErr, depErr)
	}
	if !strings.Contains(mermaid, "meddler") {
		t.Errorf("Mermaid from a task: %q", mermaid)
	}
}
