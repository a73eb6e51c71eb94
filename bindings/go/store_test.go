package dremioorch

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// call is one operation a recordingStore received.
type call struct {
	Op     string // "save", "update", "get", "list"
	Run    PipelineRun
	RunID  string
	Task   string
	Status TaskStatus
}

// recordingStore is a Store in memory that records every call it receives
// and how many of its methods ran at once.
type recordingStore struct {
	mu       sync.Mutex
	runs     map[string]*PipelineRun
	calls    []call
	inFlight int32
	maxIn    int32
	delay    time.Duration
}

func newRecordingStore() *recordingStore {
	return &recordingStore{runs: make(map[string]*PipelineRun)}
}

func (s *recordingStore) enter() func() {
	n := atomic.AddInt32(&s.inFlight, 1)
	for {
		m := atomic.LoadInt32(&s.maxIn)
		if n <= m || atomic.CompareAndSwapInt32(&s.maxIn, m, n) {
			break
		}
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	return func() { atomic.AddInt32(&s.inFlight, -1) }
}

func copyRun(r *PipelineRun) PipelineRun {
	c := *r
	c.Tasks = make(map[string]TaskStatus, len(r.Tasks))
	for k, v := range r.Tasks {
		c.Tasks[k] = v
	}
	return c
}

func (s *recordingStore) SaveRun(run *PipelineRun) error {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := copyRun(run)
	s.runs[run.RunID] = &c
	s.calls = append(s.calls, call{Op: "save", Run: copyRun(run), RunID: run.RunID})
	return nil
}

func (s *recordingStore) GetRun(runID string) (*PipelineRun, error) {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call{Op: "get", RunID: runID})
	r, ok := s.runs[runID]
	if !ok {
		return nil, nil
	}
	c := copyRun(r)
	return &c, nil
}

func (s *recordingStore) UpdateTaskStatus(runID, task string, status TaskStatus) error {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call{Op: "update", RunID: runID, Task: task, Status: status})
	r, ok := s.runs[runID]
	if !ok {
		return &Error{Code: CodeNotFound, Message: "no run " + runID}
	}
	r.Tasks[task] = status
	return nil
}

func (s *recordingStore) ListRuns(pipeline string, limit int) ([]PipelineRun, error) {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call{Op: "list", Task: pipeline})
	var out []PipelineRun
	for _, r := range s.runs {
		if pipeline == "" || r.PipelineName == pipeline {
			out = append(out, copyRun(r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartTime.After(out[j].StartTime) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *recordingStore) snapshot() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

// failingStore fails the operations named in failOn, with err (or panics
// when panicOn names the operation).
type failingStore struct {
	recordingStore
	failOn  map[string]error
	panicOn map[string]bool
	// failAfter: fail "update" only after this many successful updates.
	failAfter int
	updates   int32
}

func newFailingStore() *failingStore {
	return &failingStore{recordingStore: *newRecordingStore(), failOn: map[string]error{}, panicOn: map[string]bool{}}
}

func (s *failingStore) check(op string) error {
	if s.panicOn[op] {
		panic(fmt.Sprintf("store exploded in %s", op))
	}
	return s.failOn[op]
}

func (s *failingStore) SaveRun(run *PipelineRun) error {
	if err := s.check("save"); err != nil {
		return err
	}
	return s.recordingStore.SaveRun(run)
}

func (s *failingStore) GetRun(runID string) (*PipelineRun, error) {
	if err := s.check("get"); err != nil {
		return nil, err
	}
	return s.recordingStore.GetRun(runID)
}

func (s *failingStore) UpdateTaskStatus(runID, task string, status TaskStatus) error {
	if err := s.check("update"); err != nil {
		if int(atomic.AddInt32(&s.updates, 1)) > s.failAfter {
			return err
		}
	}
	return s.recordingStore.UpdateTaskStatus(runID, task, status)
}

func (s *failingStore) ListRuns(pipeline string, limit int) ([]PipelineRun, error) {
	if err := s.check("list"); err != nil {
		return nil, err
	}
	return s.recordingStore.ListRuns(pipeline, limit)
}

var errDiskFull = errors.New("disk full")
