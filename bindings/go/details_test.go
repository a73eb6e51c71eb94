package dremioorch

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Details after a retry: attempts, ordered times and the error text, from
// the result and from the memory backend.
func TestTaskDetailsAfterRetry(t *testing.T) {
	b, err := NewMemoryBackend()
	must(t, err)
	defer b.Close()
	p := newPipeline(t, "details", b, 1)
	must(t, p.AddTask("flaky", func(c *TaskContext) ([]byte, error) {
		if c.Attempt() == 1 {
			return nil, errors.New("first attempt fails")
		}
		return []byte("ok"), nil
	}, WithRetries(2), WithRetryDelay(50*time.Millisecond)))
	must(t, p.AddTask("doomed", func(c *TaskContext) ([]byte, error) {
		return nil, fmt.Errorf("attempt %d failed", c.Attempt())
	}, WithRetries(1)))
	must(t, p.AddTask("never", noop))
	must(t, p.AddDependency("flaky", "doomed"))
	must(t, p.AddDependency("doomed", "never"))
	begin := time.Now()
	res, err := p.Run()
	end := time.Now()
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("Run: %v", err)
	}
	flaky, err := res.TaskDetail("flaky")
	must(t, err)
	if flaky.Name != "flaky" || flaky.Status != TaskSuccess || flaky.Attempts != 2 || flaky.Error != "" {
		t.Errorf("flaky %+v", flaky)
	}
	// Times are stored as float seconds: allow a millisecond of rounding.
	slack := time.Millisecond
	if flaky.StartTime.Before(begin.Add(-slack)) || flaky.EndTime.Sub(flaky.StartTime) < 45*time.Millisecond || flaky.EndTime.After(end.Add(slack)) {
		t.Errorf("flaky times %v .. %v (run %v .. %v)", flaky.StartTime, flaky.EndTime, begin, end)
	}
	doomed, err := res.TaskDetail("doomed")
	must(t, err)
	if doomed.Status != TaskFailed || doomed.Attempts != 2 || doomed.Error != "attempt 2 failed (after 2 attempts)" {
		t.Errorf("doomed %+v", doomed)
	}
	if doomed.StartTime.Before(flaky.EndTime) || doomed.EndTime.Before(doomed.StartTime) {
		t.Errorf("doomed times %v .. %v, flaky ended %v", doomed.StartTime, doomed.EndTime, flaky.EndTime)
	}
	never, err := res.TaskDetail("never")
	must(t, err)
	if never.Status != TaskSkipped || never.Attempts != 0 || never.Started() || !never.Finished() || never.Error != "" {
		t.Errorf("never %+v", never)
	}
	if res.Errors["doomed"] != doomed.Error {
		t.Errorf("Errors %v", res.Errors)
	}

	stored, err := b.TaskDetails(res.RunID)
	must(t, err)
	want := []TaskDetail{doomed, flaky, never} // sorted by name
	if !reflect.DeepEqual(stored, want) {
		t.Errorf("stored details\n%+v\nwant\n%+v", stored, want)
	}
	if _, err := b.TaskDetails("no-such-run"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := b.TaskDetails(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty run id: %v", err)
	}
	if _, err := b.TaskDetails("a\x00b"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("run id with NUL: %v", err)
	}
	must(t, b.Close())
	if _, err := b.TaskDetails(res.RunID); !errors.Is(err, ErrClosed) {
		t.Errorf("closed backend: %v", err)
	}
	var nilb *Backend
	if _, err := nilb.TaskDetails(res.RunID); !errors.Is(err, ErrClosed) {
		t.Errorf("nil backend: %v", err)
	}
}

// A Go Store without DetailStore still runs pipelines; its backend has no details.
func TestStoreWithoutDetails(t *testing.T) {
	st := newRecordingStore()
	b, err := NewCustomBackend(st)
	must(t, err)
	defer b.Close()
	p := newPipeline(t, "plain_store", b, 2)
	must(t, p.AddTask("a", noop))
	must(t, p.AddTask("b", fail("b fails")))
	must(t, p.AddDependency("a", "b"))
	res, err := p.Run()
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("Run: %v", err)
	}
	if d, err := res.TaskDetail("b"); err != nil || d.Error != "b fails" || d.Attempts != 1 {
		t.Errorf("the result keeps details anyway: %+v, %v", d, err)
	}
	run, err := b.GetRun(res.RunID)
	must(t, err)
	if run.Tasks["a"] != TaskSuccess || run.Tasks["b"] != TaskFailed {
		t.Errorf("stored %v", run.Tasks)
	}
	if _, err := b.TaskDetails(res.RunID); !errors.Is(err, ErrUnsupported) {
		t.Errorf("TaskDetails of a Store without details: %v", err)
	}
}

// detailStore is a Store that keeps details.
type detailStore struct {
	*recordingStore
	mu      sync.Mutex
	details map[string]map[string]TaskDetail
	updates []string
	bad     bool // hand back a detail with an unknown status
}

func newDetailStore() *detailStore {
	return &detailStore{recordingStore: newRecordingStore(), details: map[string]map[string]TaskDetail{}}
}

func (s *detailStore) UpdateTaskDetail(runID string, d TaskDetail) error {
	// As UpdateTaskStatus would: the run record's status too.
	s.recordingStore.mu.Lock()
	run, ok := s.recordingStore.runs[runID]
	if ok {
		run.Tasks[d.Name] = d.Status
	}
	s.recordingStore.mu.Unlock()
	if !ok {
		return fmt.Errorf("run %s: %w", runID, ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.details[runID] == nil {
		s.details[runID] = map[string]TaskDetail{}
	}
	s.details[runID][d.Name] = d
	s.updates = append(s.updates, fmt.Sprintf("%s %s %d %q", d.Name, d.Status, d.Attempts, d.Error))
	return nil
}

func (s *detailStore) TaskDetails(runID string) ([]TaskDetail, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.details[runID]
	if !ok {
		return nil, fmt.Errorf("run %s: %w", runID, ErrNotFound)
	}
	var out []TaskDetail
	for _, d := range m {
		if s.bad {
			d.Status = "LOST"
		}
		out = append(out, d)
	}
	return out, nil
}

// A Go DetailStore receives every change with its detail (instead of
// UpdateTaskStatus) and hands the details back through Backend.TaskDetails.
func TestDetailStore(t *testing.T) {
	st := newDetailStore()
	b, err := NewCustomBackend(st)
	must(t, err)
	defer b.Close()
	p := newPipeline(t, "detail_store", b, 1)
	must(t, p.AddTask("first", func(c *TaskContext) ([]byte, error) {
		if c.Attempt() == 1 {
			return nil, errors.New("once")
		}
		return nil, nil
	}, WithRetries(1)))
	must(t, p.AddTask("second", fail("no")))
	must(t, p.AddTask("third", noop))
	must(t, p.AddDependency("first", "second"))
	must(t, p.AddDependency("second", "third"))
	res, err := p.Run()
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("Run: %v", err)
	}
	st.mu.Lock()
	updates := strings.Join(st.updates, "\n")
	st.mu.Unlock()
	want := strings.Join([]string{
		`first RUNNING 1 ""`,
		`first SUCCESS 2 ""`,
		`second RUNNING 1 ""`,
		`second FAILED 1 "no"`,
		`third SKIPPED 0 ""`,
	}, "\n")
	if updates != want {
		t.Errorf("updates:\n%s\nwant:\n%s", updates, want)
	}
	for _, c := range st.snapshot() {
		if c.Op == "update" {
			t.Errorf("UpdateTaskStatus called during the run: %+v", c)
		}
	}
	got, err := b.TaskDetails(res.RunID)
	must(t, err)
	var names []string
	for _, d := range got {
		names = append(names, d.Name)
		r, _ := res.TaskDetail(d.Name)
		if !reflect.DeepEqual(d, r) {
			t.Errorf("stored %+v, result %+v", d, r)
		}
	}
	if !sort.StringsAreSorted(names) || len(names) != 3 {
		t.Errorf("names %v", names)
	}
	run, err := b.GetRun(res.RunID)
	must(t, err)
	if run.Tasks["third"] != TaskSkipped || run.Status != RunFailed {
		t.Errorf("stored run %+v", run)
	}
	if _, err := b.TaskDetails("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	st.bad = true
	if _, err := b.TaskDetails(res.RunID); err == nil || !strings.Contains(err.Error(), "LOST") {
		t.Errorf("a detail with an unknown status: %v", err)
	}
}
