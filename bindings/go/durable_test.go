package dremioorch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// abcd is the pipeline A -> B -> C -> D: each task appends its letter to its
// upstream's output; C fails while *cFails > 0 (counting down), and B takes
// a while (long enough for a few lease renewals at short intervals).
type abcd struct {
	calls  [4]int32
	cFails int32
	cRead  atomic.Value // string: what C read of B
}

func (a *abcd) pipeline(t *testing.T, name string, b *Backend) *Pipeline {
	t.Helper()
	p := newPipeline(t, name, b, 2)
	names := []string{"A", "B", "C", "D"}
	for i, n := range names {
		i := i
		must(t, p.AddTask(n, func(c *TaskContext) ([]byte, error) {
			atomic.AddInt32(&a.calls[i], 1)
			var in []byte
			if i > 0 {
				up, ok := c.Get(names[i-1])
				if !ok {
					return nil, fmt.Errorf("no output of %s", names[i-1])
				}
				in = up
			}
			switch i {
			case 1:
				time.Sleep(80 * time.Millisecond)
			case 2:
				a.cRead.Store(string(in))
				if atomic.AddInt32(&a.cFails, -1) >= 0 {
					return nil, errors.New("C fails this time")
				}
			}
			return append(append([]byte{}, in...), byte('a'+i)), nil
		}))
		if i > 0 {
			must(t, p.AddDependency(names[i-1], n))
		}
	}
	return p
}

func (a *abcd) counts() [4]int32 {
	var c [4]int32
	for i := range c {
		c[i] = atomic.LoadInt32(&a.calls[i])
	}
	return c
}

func wantCode(t *testing.T, what string, err error, code Code) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Errorf("%s: got %v, want an *Error with code %v", what, err, code)
	}
}

// Resume on the memory backend: A and B are not run again, C reads B's
// stored output, the new run ends SUCCESS and is linked to the first.
func TestResumeMemory(t *testing.T) {
	b, err := NewMemoryBackend()
	must(t, err)
	defer b.Close()
	a := &abcd{cFails: 1}
	p := a.pipeline(t, "abcd", b)
	first, err := p.Run(WithLeaseInterval(20*time.Millisecond), WithMaxStoredOutput(64))
	if !errors.Is(err, ErrTaskFailed) || first == nil {
		t.Fatalf("first run: %v", err)
	}
	if first.Tasks["C"] != TaskFailed || first.Tasks["D"] != TaskSkipped {
		t.Fatalf("first run: %v", first.Tasks)
	}
	second, err := p.Resume(first.RunID)
	must(t, err)
	if second.Status != RunSuccess || second.RunID == first.RunID {
		t.Errorf("resumed run: %s %s", second.RunID, second.Status)
	}
	if got := a.counts(); got != [4]int32{1, 1, 2, 1} {
		t.Errorf("calls A, B, C, D: %v", got)
	}
	if got, _ := a.cRead.Load().(string); got != "ab" {
		t.Errorf("C read %q of B", got)
	}
	if got := string(second.Output("D")); got != "abcd" {
		t.Errorf("D: %q", got)
	}
	for _, n := range []string{"A", "B", "C", "D"} {
		if second.Tasks[n] != TaskSuccess {
			t.Errorf("resumed run: %s is %s", n, second.Tasks[n])
		}
	}
	if orig, err := b.ResumedFrom(second.RunID); err != nil || orig != first.RunID {
		t.Errorf("ResumedFrom(second) = %q, %v", orig, err)
	}
	if orig, err := b.ResumedFrom(first.RunID); err != nil || orig != "" {
		t.Errorf("ResumedFrom(first) = %q, %v", orig, err)
	}
	stored, err := b.GetRun(second.RunID)
	must(t, err)
	if stored.Status != RunSuccess {
		t.Errorf("stored resumed run: %s", stored.Status)
	}

	// ResumeContext: the same, with a context (here one that is never done).
	third, err := p.ResumeContext(context.Background(), second.RunID)
	must(t, err)
	if got := string(third.Output("D")); got != "abcd" || a.counts()[3] != 1 {
		t.Errorf("resuming a finished run runs nothing: %q, %v", got, a.counts())
	}

	// Errors, before anything runs (nil result).
	res, err := p.Resume("no-such-run")
	if res != nil || !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v, %v", res, err)
	}
	wantCode(t, "unknown run", err, CodeNotFound)
	if _, err := p.Resume(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty id: %v", err)
	}
	if _, err := p.Resume("a\x00b"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NUL in id: %v", err)
	}
	other := newPipeline(t, "other", b, 1)
	must(t, other.AddTask("A", noop))
	if _, err := other.Resume(first.RunID); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), `"abcd"`) {
		t.Errorf("a run of another pipeline: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := p.ResumeContext(ctx, first.RunID); res != nil || !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Errorf("done context: %v, %v", res, err)
	}
	var nilCtx context.Context
	if _, err := p.ResumeContext(nilCtx, first.RunID); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil context: %v", err)
	}
	var nilp *Pipeline
	if _, err := nilp.Resume(first.RunID); !errors.Is(err, ErrClosed) {
		t.Errorf("nil pipeline: %v", err)
	}

	// An output above the limit is not stored: a resume that needs it fails.
	atomic.StoreInt32(&a.cFails, 1)
	small, err := p.Run(WithMaxStoredOutput(1))
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("run with a 1-byte limit: %v", err)
	}
	if string(small.Output("B")) != "ab" {
		t.Errorf("the output still goes downstream in the run: %q", small.Output("B"))
	}
	if _, err := p.Resume(small.RunID); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "not stored") {
		t.Errorf("resume needing an output not stored: %v", err)
	}

	// Bad options.
	for _, o := range []RunOption{WithLeaseInterval(-time.Second), WithMaxStoredOutput(-1), WithLeaseInterval(time.Duration(1 << 62))} {
		if res, err := p.Run(o); res != nil || !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("bad option: %v, %v", res, err)
		}
	}
	if _, err := p.Run(nil); err != nil && !errors.Is(err, ErrTaskFailed) {
		t.Errorf("a nil option is ignored: %v", err)
	}
}

// Recover and purge on the memory backend: a run left RUNNING by a process
// that died (no lease; written as another tool would) is finished, once.
func TestRecoverPurgeMemory(t *testing.T) {
	b, err := NewMemoryBackend()
	must(t, err)
	defer b.Close()
	now := time.Now()
	dead := &PipelineRun{
		PipelineName: "old", RunID: "dead", StartTime: now.Add(-time.Hour), Status: RunRunning,
		Tasks: map[string]TaskStatus{"done": TaskSuccess, "busy": TaskRunning, "later": TaskPending},
	}
	must(t, b.SaveRun(dead))
	if n, err := b.Recover(2 * time.Hour); err != nil || n != 0 {
		t.Errorf("before the window: %d, %v", n, err)
	}
	if n, err := b.Recover(time.Minute); err != nil || n != 1 {
		t.Errorf("after the window: %d, %v", n, err)
	}
	if n, err := b.Recover(time.Minute); err != nil || n != 0 {
		t.Errorf("a second time: %d, %v", n, err)
	}
	run, err := b.GetRun("dead")
	must(t, err)
	if run.Status != RunFailed || !run.Finished() {
		t.Errorf("recovered run: %s, end %v", run.Status, run.EndTime)
	}
	wantStatuses(t, run.Tasks, map[string]TaskStatus{"done": TaskSuccess, "busy": TaskFailed, "later": TaskSkipped})
	details, err := b.TaskDetails("dead")
	must(t, err)
	for _, d := range details {
		if want := map[string]string{"busy": "owner lost", "later": "owner lost"}[d.Name]; d.Error != want {
			t.Errorf("%s: error %q, want %q", d.Name, d.Error, want)
		}
	}

	// A live run (a fresh lease) is never recovered, whatever the window
	// (here 0: the lease's own three intervals count).
	live := newPipeline(t, "live", b, 1)
	started := make(chan struct{})
	release := make(chan struct{})
	must(t, live.AddTask("wait", func(*TaskContext) ([]byte, error) {
		close(started)
		<-release
		return nil, nil
	}))
	done := make(chan error, 1)
	go func() {
		_, err := live.Run(WithLeaseInterval(time.Second))
		done <- err
	}()
	<-started
	time.Sleep(50 * time.Millisecond)
	if n, err := b.Recover(0); err != nil || n != 0 {
		t.Errorf("a live run: %d, %v", n, err)
	}
	close(release)
	must(t, <-done)

	old := time.Unix(10, 0)
	must(t, b.SaveRun(&PipelineRun{PipelineName: "old", RunID: "finished", StartTime: old, EndTime: old, Status: RunSuccess}))
	must(t, b.SaveRun(&PipelineRun{PipelineName: "other", RunID: "other-finished", StartTime: old, EndTime: old, Status: RunFailed}))
	must(t, b.SaveRun(&PipelineRun{PipelineName: "old", RunID: "running", StartTime: old, Status: RunRunning}))
	cut := time.Unix(20, 0)
	if n, err := b.Purge(cut, "old", true); err != nil || n != 1 {
		t.Errorf("dry run: %d, %v", n, err)
	}
	if _, err := b.GetRun("finished"); err != nil {
		t.Errorf("a dry run deletes nothing: %v", err)
	}
	if n, err := b.Purge(cut, "old", false); err != nil || n != 1 {
		t.Errorf("purge: %d, %v", n, err)
	}
	if _, err := b.GetRun("finished"); !errors.Is(err, ErrNotFound) {
		t.Errorf("purged run: %v", err)
	}
	if n, err := b.Purge(cut, "", false); err != nil || n != 1 {
		t.Errorf("purge of every pipeline: %d, %v", n, err)
	}
	if _, err := b.GetRun("running"); err != nil {
		t.Errorf("a RUNNING run is never purged: %v", err)
	}
	if n, err := b.Purge(now.Add(time.Minute), "", false); err != nil || n != 2 {
		t.Errorf("purge up to now (the recovered and the live run): %d, %v", n, err)
	}

	if _, err := b.Recover(-time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative window: %v", err)
	}
	if _, err := b.Purge(cut, "a\x00b", true); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NUL in pipeline: %v", err)
	}
	if _, err := b.ResumedFrom("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResumedFrom of an unknown run: %v", err)
	}
	if _, err := b.ResumedFrom(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ResumedFrom(\"\"): %v", err)
	}
	b.Close()
	if _, err := b.Recover(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("closed backend: %v", err)
	}
	if _, err := b.Purge(cut, "", true); !errors.Is(err, ErrClosed) {
		t.Errorf("closed backend: %v", err)
	}
}

// durableStore is a recordingStore that also keeps leases, outputs and
// resume links, and recovers and purges its runs (a DurableStore).
type durableStore struct {
	*recordingStore
	dmu     sync.Mutex
	leases  map[string]lease
	outputs map[string]map[string]StoredOutput
	links   map[string]string
	// what Recover and Purge were given
	staleAfter time.Duration
	purgeArgs  string
	noPurge    bool // Purge answers ErrUnsupported
}

type lease struct {
	at       time.Time
	interval time.Duration
	renewals int
}

func newDurableStore() *durableStore {
	return &durableStore{
		recordingStore: newRecordingStore(),
		leases:         map[string]lease{},
		outputs:        map[string]map[string]StoredOutput{},
		links:          map[string]string{},
	}
}

func (s *durableStore) known(runID string) error {
	s.recordingStore.mu.Lock()
	defer s.recordingStore.mu.Unlock()
	if _, ok := s.recordingStore.runs[runID]; !ok {
		return fmt.Errorf("run %s: %w", runID, ErrNotFound)
	}
	return nil
}

func (s *durableStore) RenewLease(runID string, at time.Time, interval time.Duration) error {
	if err := s.known(runID); err != nil {
		return err
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	l := s.leases[runID]
	s.leases[runID] = lease{at: at, interval: interval, renewals: l.renewals + 1}
	return nil
}

func (s *durableStore) Recover(staleAfter time.Duration) (uint64, error) {
	s.dmu.Lock()
	s.staleAfter = staleAfter
	leases := make(map[string]lease, len(s.leases))
	for k, v := range s.leases {
		leases[k] = v
	}
	s.dmu.Unlock()
	now := time.Now()
	s.recordingStore.mu.Lock()
	defer s.recordingStore.mu.Unlock()
	var n uint64
	for id, r := range s.recordingStore.runs {
		if r.Status != RunRunning {
			continue
		}
		if l, ok := leases[id]; ok {
			window := staleAfter
			if 3*l.interval > window {
				window = 3 * l.interval
			}
			if now.Sub(l.at) <= window {
				continue
			}
		} else if now.Sub(r.StartTime) <= staleAfter {
			continue
		}
		for task, st := range r.Tasks {
			switch st {
			case TaskRunning:
				r.Tasks[task] = TaskFailed
			case TaskPending:
				r.Tasks[task] = TaskSkipped
			}
		}
		r.Status, r.EndTime = RunFailed, now
		n++
	}
	return n, nil
}

func (s *durableStore) Purge(before time.Time, pipeline string, dryRun bool) (uint64, error) {
	s.dmu.Lock()
	s.purgeArgs = fmt.Sprintf("%d %q %v", before.Unix(), pipeline, dryRun)
	noPurge := s.noPurge
	s.dmu.Unlock()
	if noPurge {
		return 0, &Error{Code: CodeUnsupported, Message: "this store keeps everything"}
	}
	s.recordingStore.mu.Lock()
	var doomed []string
	for id, r := range s.recordingStore.runs {
		if r.Status != RunRunning && r.StartTime.Before(before) && (pipeline == "" || r.PipelineName == pipeline) {
			doomed = append(doomed, id)
		}
	}
	if !dryRun {
		for _, id := range doomed {
			delete(s.recordingStore.runs, id)
		}
	}
	s.recordingStore.mu.Unlock()
	if !dryRun {
		s.dmu.Lock()
		for _, id := range doomed {
			delete(s.leases, id)
			delete(s.outputs, id)
			delete(s.links, id)
		}
		s.dmu.Unlock()
	}
	return uint64(len(doomed)), nil
}

func (s *durableStore) StoreOutput(runID, task string, out StoredOutput) error {
	if err := s.known(runID); err != nil {
		return err
	}
	s.recordingStore.mu.Lock()
	s.recordingStore.calls = append(s.recordingStore.calls, call{Op: "output", RunID: runID, Task: task})
	s.recordingStore.mu.Unlock()
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.outputs[runID] == nil {
		s.outputs[runID] = map[string]StoredOutput{}
	}
	s.outputs[runID][task] = out
	return nil
}

func (s *durableStore) Outputs(runID string) (map[string]StoredOutput, error) {
	if err := s.known(runID); err != nil {
		return nil, err
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	out := map[string]StoredOutput{}
	for k, v := range s.outputs[runID] {
		out[k] = v
	}
	return out, nil
}

func (s *durableStore) LinkResume(runID, original string) error {
	if err := s.known(runID); err != nil {
		return err
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.links[runID] = original
	return nil
}

func (s *durableStore) ResumedFrom(runID string) (string, error) {
	if err := s.known(runID); err != nil {
		return "", err
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return s.links[runID], nil
}

var _ DurableStore = (*durableStore)(nil)

// A Go DurableStore: leases renewed while the run goes on, outputs stored
// before each SUCCESS, resume through it, recover and purge reaching it.
func TestDurableStore(t *testing.T) {
	for _, threadSafe := range []bool{false, true} {
		t.Run(fmt.Sprintf("threadSafe=%v", threadSafe), func(t *testing.T) {
			st := newDurableStore()
			var opts []CustomOption
			if threadSafe {
				opts = append(opts, ThreadSafe())
			}
			b, err := NewCustomBackend(st, opts...)
			must(t, err)
			defer b.Close()
			a := &abcd{cFails: 1}
			p := a.pipeline(t, "abcd", b)
			start := time.Now()
			first, err := p.Run(WithLeaseInterval(10 * time.Millisecond))
			if !errors.Is(err, ErrTaskFailed) {
				t.Fatalf("first run: %v", err)
			}
			st.dmu.Lock()
			l := st.leases[first.RunID]
			out := st.outputs[first.RunID]
			st.dmu.Unlock()
			if l.interval != 10*time.Millisecond || l.renewals < 2 || l.at.Before(start.Add(-time.Second)) {
				t.Errorf("lease: %+v", l)
			}
			if len(out) != 2 || string(out["A"].Data) != "a" || string(out["B"].Data) != "ab" || !out["B"].Stored || out["B"].Size != 2 {
				t.Errorf("outputs of the first run: %+v", out)
			}
			calls := st.snapshot()
			outputs := 0
			for i, c := range calls {
				if c.Op != "output" {
					continue
				}
				outputs++
				if i+1 >= len(calls) || calls[i+1].Op != "update" || calls[i+1].Task != c.Task || calls[i+1].Status != TaskSuccess {
					t.Errorf("the output of %s is not stored just before its SUCCESS: %+v", c.Task, calls[i:])
				}
			}
			if outputs != 2 {
				t.Errorf("%d outputs stored", outputs)
			}

			second, err := p.ResumeContext(context.Background(), first.RunID)
			must(t, err)
			if got := a.counts(); got != [4]int32{1, 1, 2, 1} {
				t.Errorf("calls A, B, C, D: %v", got)
			}
			if got, _ := a.cRead.Load().(string); got != "ab" || string(second.Output("D")) != "abcd" {
				t.Errorf("C read %q, D %q", got, second.Output("D"))
			}
			if orig, err := b.ResumedFrom(second.RunID); err != nil || orig != first.RunID {
				t.Errorf("ResumedFrom: %q, %v", orig, err)
			}
			st.dmu.Lock()
			if n := len(st.outputs[second.RunID]); n != 4 {
				t.Errorf("the resumed run keeps %d outputs, want 4 (A and B taken over)", n)
			}
			st.dmu.Unlock()
			if _, err := b.ResumedFrom("nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown run: %v", err)
			}
			if _, err := p.Resume("nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("resume of an unknown run: %v", err)
			}

			// Recover reaches the store.
			must(t, b.SaveRun(&PipelineRun{PipelineName: "old", RunID: "dead", StartTime: time.Now().Add(-time.Hour),
				Status: RunRunning, Tasks: map[string]TaskStatus{"busy": TaskRunning}}))
			if n, err := b.Recover(time.Minute); err != nil || n != 1 {
				t.Errorf("Recover: %d, %v", n, err)
			}
			if st.staleAfter != time.Minute {
				t.Errorf("the store was given %v", st.staleAfter)
			}
			run, err := b.GetRun("dead")
			must(t, err)
			if run.Status != RunFailed || run.Tasks["busy"] != TaskFailed {
				t.Errorf("recovered: %+v", run)
			}

			// Purge reaches the store, with its arguments.
			cut := time.Now().Add(time.Minute).Truncate(time.Second)
			if n, err := b.Purge(cut, "abcd", true); err != nil || n != 2 {
				t.Errorf("dry run: %d, %v", n, err)
			}
			if want := fmt.Sprintf("%d %q true", cut.Unix(), "abcd"); st.purgeArgs != want {
				t.Errorf("purge args %s, want %s", st.purgeArgs, want)
			}
			if n, err := b.Purge(cut, "", false); err != nil || n != 3 {
				t.Errorf("purge: %d, %v", n, err)
			}
			st.dmu.Lock()
			if len(st.outputs) != 0 || len(st.links) != 0 {
				t.Errorf("rows left after purge: %d outputs, %d links", len(st.outputs), len(st.links))
			}
			st.noPurge = true
			st.dmu.Unlock()
			_, err = b.Purge(cut, "", true)
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "this store keeps everything") {
				t.Errorf("a store answering ErrUnsupported: %v", err)
			}
			wantCode(t, "unsupported purge", err, CodeUnsupported)
		})
	}
}

// A DurableStore that returns bad outputs: the resume fails with the
// library's reason, not a crash.
type badOutputStore struct{ *durableStore }

func (s *badOutputStore) Outputs(runID string) (map[string]StoredOutput, error) {
	return map[string]StoredOutput{"": {Stored: true, Data: []byte("x")}}, nil
}

func TestDurableStoreBadOutputs(t *testing.T) {
	st := &badOutputStore{newDurableStore()}
	b, err := NewCustomBackend(st)
	must(t, err)
	defer b.Close()
	a := &abcd{cFails: 1}
	p := a.pipeline(t, "abcd", b)
	first, err := p.Run()
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("first run: %v", err)
	}
	res, err := p.Resume(first.RunID)
	if res != nil || !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "task_name is empty") {
		t.Errorf("bad outputs: %v, %v", res, err)
	}
}

// A Store that is not a DurableStore runs pipelines; the durable operations
// are ErrUnsupported.
func TestStoreWithoutDurable(t *testing.T) {
	st := newRecordingStore()
	b, err := NewCustomBackend(st)
	must(t, err)
	defer b.Close()
	a := &abcd{cFails: 1}
	p := a.pipeline(t, "abcd", b)
	first, err := p.Run(WithLeaseInterval(5 * time.Millisecond))
	if !errors.Is(err, ErrTaskFailed) || first.Tasks["B"] != TaskSuccess {
		t.Fatalf("run: %v", err)
	}
	res, err := p.Resume(first.RunID)
	if res != nil || !errors.Is(err, ErrUnsupported) {
		t.Errorf("Resume: %v, %v", res, err)
	}
	wantCode(t, "Resume", err, CodeUnsupported)
	_, err = b.Recover(time.Minute)
	wantCode(t, "Recover", err, CodeUnsupported)
	_, err = b.Purge(time.Now(), "", true)
	wantCode(t, "Purge", err, CodeUnsupported)
	_, err = b.ResumedFrom(first.RunID)
	wantCode(t, "ResumedFrom", err, CodeUnsupported)
	if second, err := p.Run(); err != nil || second.Status != RunSuccess {
		t.Errorf("a new run: %v", err)
	}
}
