package dremioorch

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func countingPipeline(t *testing.T, name string, b *Backend, n *int32) *Pipeline {
	t.Helper()
	p, err := NewPipeline(name, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddTask("count", func(*TaskContext) ([]byte, error) {
		atomic.AddInt32(n, 1)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSchedulerRunsAnIntervalUntilTheContextEnds(t *testing.T) {
	b, err := NewMemoryBackend()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var n int32
	p := countingPipeline(t, "go_sched_interval", b, &n)
	s, err := NewScheduler(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("tick", p, Schedule{Interval: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// The scheduler keeps its own reference to the pipeline.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	next, err := s.NextFire("tick")
	if err != nil {
		t.Fatal(err)
	}
	if next.UnixMilli()%200 != 0 || time.Until(next) > 250*time.Millisecond {
		t.Fatalf("next fire %v", next)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	got := atomic.LoadInt32(&n)
	if got < 3 || got > 8 {
		t.Fatalf("%d runs in 1.3 s of a 200 ms interval", got)
	}
	runs, err := b.ListRuns("go_sched_interval", 100)
	if err != nil {
		t.Fatal(err)
	}
	// Run cancels the runs in progress when ctx ends: one may have been
	// recorded FAILED before its task started.
	ok := 0
	for _, r := range runs {
		if r.Status == RunSuccess {
			ok++
		}
	}
	if ok > int(got) || len(runs) > int(got)+1 || ok < int(got)-1 {
		t.Fatalf("%d runs recorded (%d SUCCESS), %d ran", len(runs), ok, got)
	}
	time.Sleep(300 * time.Millisecond)
	if atomic.LoadInt32(&n) != got {
		t.Fatal("a fire after Run returned")
	}
}

func TestSchedulerCronInAZoneAndSharedClaims(t *testing.T) {
	claims, err := NewMemoryBackend()
	if err != nil {
		t.Fatal(err)
	}
	defer claims.Close()
	var n int32
	p := countingPipeline(t, "go_sched_cron", nil, &n)
	defer p.Close()
	s, err := NewScheduler(claims)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("nightly", p, Schedule{Cron: "30 2 * * *", Timezone: "America/New_York",
		Overlap: OverlapBufferOne, MaxCatchup: 1}); err != nil {
		t.Fatal(err)
	}
	next, err := s.NextFire("nightly")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err == nil { // the host may lack tzdata; the library has its own
		l := next.In(ny)
		if l.Hour() != 2 && l.Hour() != 3 || l.Minute() != 30 && l.Minute() != 0 {
			t.Fatalf("next fire %v", l)
		}
	}
	if d := time.Until(next); d <= 0 || d > 26*time.Hour {
		t.Fatalf("next fire in %v", d)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("second Start: %v", err)
	}
	if err := s.Stop(false); err != nil {
		t.Fatal(err)
	}
}

func TestSchedulerBadInput(t *testing.T) {
	var n int32
	p := countingPipeline(t, "go_sched_bad", nil, &n)
	defer p.Close()
	s, err := NewScheduler(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sch  Schedule
		want string
	}{
		{Schedule{}, "neither"},
		{Schedule{Cron: "* * * * *", Interval: time.Second}, "both"},
		{Schedule{Cron: "61 * * * *"}, "malformed cron expression"},
		{Schedule{Cron: "* * *"}, "3 fields"},
		{Schedule{Cron: "* * * * *", Timezone: "Mars/Olympus_Mons"}, "unknown time zone"},
		{Schedule{Interval: time.Microsecond}, "at least 1 ms"},
		{Schedule{Interval: time.Second, Overlap: Overlap(9)}, "overlap"},
	}
	for _, c := range cases {
		err := s.Add("x", p, c.sch)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v (want %q)", c.sch, err, c.want)
		}
	}
	if err := s.Add("", p, Schedule{Interval: time.Second}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty name: %v", err)
	}
	if err := s.Add("a\x00b", p, Schedule{Interval: time.Second}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NUL in name: %v", err)
	}
	if err := s.Add("x", p, Schedule{Interval: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("x", p, Schedule{Interval: time.Second}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := s.NextFire("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	closed, _ := NewPipeline("go_sched_closed", nil, 1)
	closed.Close()
	if err := s.Add("y", closed, Schedule{Interval: time.Second}); !errors.Is(err, ErrClosed) {
		t.Errorf("closed pipeline: %v", err)
	}
	s.Close()
	s.Close()
	if err := s.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("closed scheduler: %v", err)
	}
	if _, err := s.NextFire("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("closed scheduler: %v", err)
	}
}
