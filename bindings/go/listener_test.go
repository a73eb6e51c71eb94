package dremioorch

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// eventLog is a Listener recording its events as text.
type eventLog struct {
	mu     sync.Mutex
	events []string
	runIDs map[string]bool
	after  atomic.Bool // set once the run call returned
	late   atomic.Int32
}

func (l *eventLog) OnRun(pipeline, runID string, status RunStatus) {
	l.note(runID, fmt.Sprintf("run %s %s", pipeline, status))
}

func (l *eventLog) OnTask(runID string, d TaskDetail) {
	e := fmt.Sprintf("task %s %s attempts=%d started=%v finished=%v", d.Name, d.Status, d.Attempts, d.Started(), d.Finished())
	if d.Error != "" {
		e += " error=" + d.Error
	}
	l.note(runID, e)
}

func (l *eventLog) note(runID, e string) {
	if l.after.Load() {
		l.late.Add(1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runIDs == nil {
		l.runIDs = map[string]bool{}
	}
	l.runIDs[runID] = true
	l.events = append(l.events, e)
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

// The exact events of a small run on one worker.
func TestListenerEvents(t *testing.T) {
	p := newPipeline(t, "heard", nil, 1)
	must(t, p.AddTask("a", noop))
	must(t, p.AddTask("b", fail("b broke")))
	must(t, p.AddTask("c", noop))
	must(t, p.AddDependency("a", "b"))
	must(t, p.AddDependency("b", "c"))
	l := &eventLog{}
	must(t, p.SetListener(l))
	res, err := p.Run()
	l.after.Store(true)
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("Run: %v", err)
	}
	want := []string{
		"run heard RUNNING",
		"task a RUNNING attempts=1 started=true finished=false",
		"task a SUCCESS attempts=1 started=true finished=true",
		"task b RUNNING attempts=1 started=true finished=false",
		"task b FAILED attempts=1 started=true finished=true error=b broke",
		"task c SKIPPED attempts=0 started=false finished=true",
		"run heard FAILED",
	}
	if got := l.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(l.runIDs) != 1 || !l.runIDs[res.RunID] {
		t.Errorf("run ids %v, run %s", l.runIDs, res.RunID)
	}

	// Replaced: only the new listener hears the next run; removed: nobody.
	l2 := &eventLog{}
	must(t, p.SetListener(l2))
	_, _ = p.Run()
	if len(l.take()) != 0 || len(l2.take()) != 7 {
		t.Error("the replaced listener still hears, or the new one does not")
	}
	must(t, p.SetListener(nil))
	_, _ = p.Run()
	if len(l2.take()) != 0 {
		t.Error("a removed listener still hears")
	}
	// ListenerFuncs, with one function unset.
	var runs atomic.Int32
	must(t, p.SetListener(ListenerFuncs{Run: func(string, string, RunStatus) { runs.Add(1) }}))
	_, _ = p.Run()
	if runs.Load() != 2 {
		t.Errorf("%d OnRun calls", runs.Load())
	}
}

// With 4 workers: each task's RUNNING comes before its final status, every
// event before Run returns, and a panicking listener harms nothing.
func TestListenerConcurrent(t *testing.T) {
	p := newPipeline(t, "busy_heard", nil, 4)
	const n = 20
	for i := 0; i < n; i++ {
		must(t, p.AddTask(chainName(i), noop))
		if i >= 4 {
			must(t, p.AddDependency(chainName(i-4), chainName(i)))
		}
	}
	l := &eventLog{}
	must(t, p.SetListener(l))
	_, err := p.Run()
	l.after.Store(true)
	must(t, err)
	events := l.take()
	if len(events) != 2*n+2 || l.late.Load() != 0 {
		t.Fatalf("%d events, %d late", len(events), l.late.Load())
	}
	pos := map[string]int{}
	for i, e := range events {
		pos[e] = i
	}
	for i := 0; i < n; i++ {
		r := fmt.Sprintf("task %s RUNNING attempts=1 started=true finished=false", chainName(i))
		s := fmt.Sprintf("task %s SUCCESS attempts=1 started=true finished=true", chainName(i))
		if pos[r] >= pos[s] {
			t.Errorf("%s: RUNNING at %d, SUCCESS at %d", chainName(i), pos[r], pos[s])
		}
		if i >= 4 {
			if up := fmt.Sprintf("task %s SUCCESS attempts=1 started=true finished=true", chainName(i-4)); pos[up] >= pos[r] {
				t.Errorf("%s started before its parent's SUCCESS was told", chainName(i))
			}
		}
	}
	if events[0] != "run busy_heard RUNNING" || events[len(events)-1] != "run busy_heard SUCCESS" {
		t.Errorf("first %q, last %q", events[0], events[len(events)-1])
	}

	must(t, p.SetListener(ListenerFuncs{
		Run:  func(string, string, RunStatus) { panic("listener bug") },
		Task: func(string, TaskDetail) { panic("listener bug") },
	}))
	if _, err := p.Run(); err != nil {
		t.Errorf("a panicking listener broke the run: %v", err)
	}
}

// SetListener while the pipeline runs is refused; Close releases the
// listener's handle.
func TestListenerChangeWhileRunningAndClose(t *testing.T) {
	before := liveHandles.Load()
	p, err := NewPipeline("listened", nil, 1)
	must(t, err)
	var setErr error
	must(t, p.AddTask("meddler", func(*TaskContext) ([]byte, error) {
		setErr = p.SetListener(&eventLog{})
		return nil, nil
	}))
	must(t, p.SetListener(&eventLog{}))
	_, err = p.Run()
	must(t, err)
	if !errors.Is(setErr, ErrInvalidArgument) {
		t.Errorf("SetListener during a run: %v", setErr)
	}
	must(t, p.Close())
	if got := liveHandles.Load(); got != before {
		t.Errorf("handles after Close: %d, before: %d", got, before)
	}
}
