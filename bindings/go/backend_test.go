package dremioorch

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A pipeline of 6 tasks (two failing paths covered by trigger rules) run
// with 4 workers on a Store written in Go: the store must receive exactly
// the save / update sequence of docs/behaviour.md (save_run at the start,
// every task state change, save_run at the end).
func TestCustomBackendReceivesExactRuns(t *testing.T) {
	for _, threadSafe := range []bool{false, true} {
		t.Run(fmt.Sprintf("threadSafe=%v", threadSafe), func(t *testing.T) {
			st := newRecordingStore()
			st.delay = 200 * time.Microsecond // widen any overlap
			var opts []CustomOption
			if threadSafe {
				opts = append(opts, ThreadSafe())
			}
			b, err := NewCustomBackend(st, opts...)
			must(t, err)
			defer b.Close()
			p := newPipeline(t, "custom", b, 4)
			must(t, p.AddTask("extract", func(*TaskContext) ([]byte, error) { return []byte("rows"), nil }))
			for _, n := range []string{"t1", "t2", "t3"} {
				must(t, p.AddTask(n, func(c *TaskContext) ([]byte, error) {
					time.Sleep(5 * time.Millisecond)
					return nil, nil
				}))
				must(t, p.AddDependency("extract", n))
			}
			must(t, p.AddTask("bad", fail("no")))
			must(t, p.AddDependency("t1", "bad"))
			must(t, p.AddTask("cleanup", noop, WithTriggerRule(AllDone)))
			for _, u := range []string{"t2", "t3", "bad"} {
				must(t, p.AddDependency(u, "cleanup"))
			}
			must(t, p.AddTask("load", noop))
			must(t, p.AddDependency("bad", "load")) // skipped

			res, err := p.Run()
			if !errors.Is(err, ErrTaskFailed) {
				t.Fatalf("Run: %v", err)
			}
			calls := st.snapshot()
			upstream := map[string][]string{
				"t1": {"extract"}, "t2": {"extract"}, "t3": {"extract"},
				"bad": {"t1"}, "cleanup": {"t2", "t3", "bad"}, "load": {"bad"},
			}
			final := map[string]TaskStatus{
				"extract": TaskSuccess, "t1": TaskSuccess, "t2": TaskSuccess, "t3": TaskSuccess,
				"bad": TaskFailed, "cleanup": TaskSuccess, "load": TaskSkipped,
			}
			checkRunCalls(t, calls, res.RunID, "custom", final, upstream)
			wantStatuses(t, res.Tasks, final)
			if !threadSafe && st.maxIn > 1 {
				t.Errorf("a store not declared thread-safe saw %d calls at once", st.maxIn)
			}

			// The backend's own methods reach the store too.
			got, err := b.GetRun(res.RunID)
			must(t, err)
			if got.Status != RunFailed || got.PipelineName != "custom" || !got.Finished() {
				t.Errorf("GetRun: %+v", got)
			}
			wantStatuses(t, got.Tasks, final)
			if _, err := b.GetRun("no-such-run"); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetRun of a missing run: %v", err)
			}
			_, err = p.Run()
			if !errors.Is(err, ErrTaskFailed) {
				t.Fatal(err)
			}
			runs, err := b.ListRuns("custom", 10)
			must(t, err)
			if len(runs) != 2 || runs[1].RunID != res.RunID || !runs[0].StartTime.After(runs[1].StartTime) {
				t.Errorf("ListRuns: %+v", runs)
			}
			if runs, err := b.ListRuns("other", 10); err != nil || len(runs) != 0 {
				t.Errorf("ListRuns(other): %v %v", runs, err)
			}
			if runs, err := b.ListRuns("", 1); err != nil || len(runs) != 1 {
				t.Errorf("ListRuns limit 1: %v %v", runs, err)
			}
		})
	}
}

// checkRunCalls checks the calls a store received for one run: a first save
// (RUNNING, every task PENDING), then for each task either SKIPPED or
// RUNNING followed by its final status, each task only after every upstream
// task's final status, and a last save with the final statuses.
func checkRunCalls(t *testing.T, calls []call, runID, pipeline string, final map[string]TaskStatus, upstream map[string][]string) {
	t.Helper()
	var mine []call
	for _, c := range calls {
		if c.RunID == runID && c.Op != "get" {
			mine = append(mine, c)
		}
	}
	if len(mine) < 2 {
		t.Fatalf("store received %d calls for the run", len(mine))
	}
	first, last := mine[0], mine[len(mine)-1]
	if first.Op != "save" || first.Run.Status != RunRunning || first.Run.Finished() || first.Run.PipelineName != pipeline {
		t.Errorf("first call %+v", first)
	}
	for name := range final {
		if first.Run.Tasks[name] != TaskPending {
			t.Errorf("first save: task %s is %s", name, first.Run.Tasks[name])
		}
	}
	if len(first.Run.Tasks) != len(final) {
		t.Errorf("first save has %d tasks", len(first.Run.Tasks))
	}
	wantRun := RunSuccess
	for _, s := range final {
		if s == TaskFailed {
			wantRun = RunFailed
		}
	}
	if last.Op != "save" || last.Run.Status != wantRun || !last.Run.Finished() || last.Run.EndTime.Before(last.Run.StartTime) {
		t.Errorf("last call %+v", last)
	}
	if !last.Run.StartTime.Equal(first.Run.StartTime) {
		t.Errorf("start time changed: %v -> %v", first.Run.StartTime, last.Run.StartTime)
	}
	wantStatuses(t, last.Run.Tasks, final)

	seq := map[string][]TaskStatus{}
	doneAt := map[string]int{}
	startAt := map[string]int{}
	for i, c := range mine[1 : len(mine)-1] {
		if c.Op != "update" {
			t.Errorf("call %d between the saves is %s", i, c.Op)
			continue
		}
		seq[c.Task] = append(seq[c.Task], c.Status)
		if c.Status.Final() {
			doneAt[c.Task] = i
		}
		if _, ok := startAt[c.Task]; !ok {
			startAt[c.Task] = i
		}
	}
	for name, f := range final {
		want := []TaskStatus{TaskRunning, f}
		if f == TaskSkipped {
			want = []TaskStatus{TaskSkipped}
		}
		if fmt.Sprint(seq[name]) != fmt.Sprint(want) {
			t.Errorf("task %s: updates %v, want %v", name, seq[name], want)
		}
		for _, u := range upstream[name] {
			if doneAt[u] >= startAt[name] {
				t.Errorf("task %s began (call %d) before upstream %s ended (call %d)", name, startAt[name], u, doneAt[u])
			}
		}
	}
	if len(seq) != len(final) {
		t.Errorf("updates for %d tasks, want %d", len(seq), len(final))
	}
}

func TestCustomBackendErrors(t *testing.T) {
	t.Run("save fails: the run does not start", func(t *testing.T) {
		st := newFailingStore()
		st.failOn["save"] = errDiskFull
		b, err := NewCustomBackend(st)
		must(t, err)
		defer b.Close()
		p := newPipeline(t, "nosave", b, 2)
		ran := false
		must(t, p.AddTask("a", func(*TaskContext) ([]byte, error) { ran = true; return nil, nil }))
		res, err := p.Run()
		if !errors.Is(err, ErrBackend) || res != nil || ran {
			t.Fatalf("Run: %v %v ran=%v", res, err, ran)
		}
		if !strings.Contains(err.Error(), "disk full") {
			t.Errorf("error %q lacks the store's message", err)
		}
	})
	t.Run("update fails mid-run: the run stops with a backend error", func(t *testing.T) {
		st := newFailingStore()
		st.failOn["update"] = &Error{Code: CodeBackend, Message: "replica lost"}
		st.failAfter = 2
		b, err := NewCustomBackend(st, ThreadSafe())
		must(t, err)
		defer b.Close()
		p := newPipeline(t, "midrun", b, 4)
		for i := 0; i < 6; i++ {
			must(t, p.AddTask(fmt.Sprintf("t%d", i), noop))
			if i > 0 {
				must(t, p.AddDependency(fmt.Sprintf("t%d", i-1), fmt.Sprintf("t%d", i)))
			}
		}
		_, err = p.Run()
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "replica lost") {
			t.Fatalf("Run: %v", err)
		}
	})
	t.Run("codes and messages reach the caller", func(t *testing.T) {
		st := newFailingStore()
		st.failOn["get"] = &Error{Code: CodeConfig, Message: "bucket not configured"}
		st.failOn["list"] = fmt.Errorf("listing: %w", errDiskFull)
		st.panicOn["update"] = true
		b, err := NewCustomBackend(st)
		must(t, err)
		defer b.Close()
		_, err = b.GetRun("x")
		// The library reports every store failure but "not found" as a backend error.
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "get_run: bucket not configured") {
			t.Errorf("GetRun: %v", err)
		}
		_, err = b.ListRuns("", 5)
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "listing: disk full") {
			t.Errorf("ListRuns: %v", err)
		}
		err = b.UpdateTaskStatus("r", "t", TaskRunning)
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "store exploded") {
			t.Errorf("UpdateTaskStatus with a panicking store: %v", err)
		}
		// A pipeline on that store: the first update panics, the run stops.
		p := newPipeline(t, "panicky", b, 2)
		must(t, p.AddTask("a", noop))
		_, err = p.Run()
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "store exploded") {
			t.Errorf("Run on a panicking store: %v", err)
		}
	})
	t.Run("a store returning an invalid run", func(t *testing.T) {
		st := &badRunStore{recordingStore: newRecordingStore()}
		b, err := NewCustomBackend(st)
		must(t, err)
		defer b.Close()
		_, err = b.GetRun("x")
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), `unknown run status "WEIRD"`) {
			t.Errorf("GetRun: %v", err)
		}
	})
	if _, err := NewCustomBackend(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil store: %v", err)
	}
}

type badRunStore struct{ *recordingStore }

func (s *badRunStore) GetRun(string) (*PipelineRun, error) {
	return &PipelineRun{PipelineName: "p", RunID: "x", Status: "WEIRD", StartTime: time.Now()}, nil
}

func randomSuffix(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// exerciseBackend runs pipelines on b and reads their runs back.
func exerciseBackend(t *testing.T, b *Backend) {
	t.Helper()
	name := "go_" + randomSuffix(t)
	p := newPipeline(t, name, b, 4)
	must(t, p.AddTask("extract", func(*TaskContext) ([]byte, error) { return []byte("x"), nil }))
	must(t, p.AddTask("transform_a", noop))
	must(t, p.AddTask("transform_b", fail("bad row")))
	must(t, p.AddTask("load", noop))
	must(t, p.AddTask("alert", noop, WithTriggerRule(OneFailed)))
	must(t, p.AddTask("cleanup", noop, WithTriggerRule(AllDone)))
	for _, d := range [][2]string{{"extract", "transform_a"}, {"extract", "transform_b"}, {"transform_a", "load"},
		{"transform_b", "load"}, {"transform_a", "alert"}, {"transform_b", "alert"}, {"load", "cleanup"}, {"alert", "cleanup"}} {
		must(t, p.AddDependency(d[0], d[1]))
	}
	final := map[string]TaskStatus{"extract": TaskSuccess, "transform_a": TaskSuccess, "transform_b": TaskFailed,
		"load": TaskSkipped, "alert": TaskSuccess, "cleanup": TaskSuccess}
	var ids []string
	for i := 0; i < 3; i++ {
		res, err := p.Run()
		if !errors.Is(err, ErrTaskFailed) {
			t.Fatalf("Run: %v", err)
		}
		ids = append(ids, res.RunID)
		time.Sleep(5 * time.Millisecond)
	}
	got, err := b.GetRun(ids[0])
	must(t, err)
	if got.RunID != ids[0] || got.PipelineName != name || got.Status != RunFailed || !got.Finished() {
		t.Errorf("GetRun: %+v", got)
	}
	if d := got.Duration(); d < 0 || d > time.Minute {
		t.Errorf("duration %v", d)
	}
	if since := time.Since(got.StartTime); since < 0 || since > time.Minute {
		t.Errorf("start time %v is not now", got.StartTime)
	}
	wantStatuses(t, got.Tasks, final)
	if _, err := b.GetRun("00000000-0000-4000-8000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRun of a missing run: %v", err)
	}
	runs, err := b.ListRuns(name, 10)
	must(t, err)
	if len(runs) != 3 {
		t.Fatalf("ListRuns: %d runs", len(runs))
	}
	for i, r := range runs {
		if r.RunID != ids[2-i] {
			t.Errorf("ListRuns[%d] = %s, want %s (newest first)", i, r.RunID, ids[2-i])
		}
	}
	runs, err = b.ListRuns(name, 2)
	must(t, err)
	if len(runs) != 2 || runs[0].RunID != ids[2] {
		t.Errorf("ListRuns limit 2: %+v", runs)
	}
	all, err := b.ListRuns("", 1000)
	must(t, err)
	found := 0
	for _, r := range all {
		if r.PipelineName == name {
			found++
		}
	}
	if found != 3 {
		t.Errorf("ListRuns(all) holds %d runs of the pipeline", found)
	}

	// Direct writes: SaveRun upserts, UpdateTaskStatus changes one task.
	start := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	run := &PipelineRun{PipelineName: name + "_direct", RunID: "go-" + randomSuffix(t), StartTime: start,
		Status: RunRunning, Tasks: map[string]TaskStatus{"a": TaskPending, "b": TaskPending}}
	must(t, b.SaveRun(run))
	must(t, b.UpdateTaskStatus(run.RunID, "a", TaskSuccess))
	got, err = b.GetRun(run.RunID)
	must(t, err)
	if got.Finished() || got.Status != RunRunning || got.StartTime.Sub(start).Abs() > time.Millisecond {
		t.Errorf("direct run: %+v (start %v)", got, start)
	}
	wantStatuses(t, got.Tasks, map[string]TaskStatus{"a": TaskSuccess, "b": TaskPending})
	run.Status, run.EndTime = RunSuccess, start.Add(1500*time.Millisecond)
	run.Tasks = map[string]TaskStatus{"a": TaskSuccess, "b": TaskSkipped}
	must(t, b.SaveRun(run))
	got, err = b.GetRun(run.RunID)
	must(t, err)
	if got.Status != RunSuccess || got.Duration().Round(time.Millisecond) != 1500*time.Millisecond {
		t.Errorf("after upsert: %+v", got)
	}
	wantStatuses(t, got.Tasks, run.Tasks)
	if err := b.SaveRun(&PipelineRun{RunID: "x", Status: "DONE"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("SaveRun with an unknown status: %v", err)
	}
	if err := b.UpdateTaskStatus(run.RunID, "a", "MAYBE"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("UpdateTaskStatus with an unknown status: %v", err)
	}
}

func TestMemoryBackend(t *testing.T) {
	b, err := NewMemoryBackend()
	must(t, err)
	defer b.Close()
	exerciseBackend(t, b)
}

func TestOpenMemoryURL(t *testing.T) {
	b, err := Open("memory:")
	must(t, err)
	defer b.Close()
	exerciseBackend(t, b)
}

func TestSQLiteBackend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	b, err := OpenSQLite(path)
	must(t, err)
	exerciseBackend(t, b)
	runs, err := b.ListRuns("", 100)
	must(t, err)
	must(t, b.Close())
	// Reopened by URL, the file holds the same runs.
	b2, err := Open("sqlite:///" + path) // path is absolute: sqlite:////tmp/...
	must(t, err)
	defer b2.Close()
	again, err := b2.ListRuns("", 100)
	must(t, err)
	if len(again) != len(runs) || len(runs) < 4 {
		t.Fatalf("reopened: %d runs, before %d", len(again), len(runs))
	}
	for i := range runs {
		if runs[i].RunID != again[i].RunID || runs[i].Status != again[i].Status {
			t.Errorf("run %d differs after reopening: %+v vs %+v", i, runs[i], again[i])
		}
	}
}

// Rows another tool wrote that cannot be read (here with the sqlite3
// command) hide no run: ListRuns returns the readable runs, ListRunsReport
// also names the others, with why, in their place in the order.
func TestListRunsReportNamesUnreadableRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	b, err := OpenSQLite(path)
	must(t, err)
	defer b.Close()
	start := time.Unix(1_700_000_000, 0).UTC()
	for i, id := range []string{"good-1", "good-2"} {
		st := start.Add(time.Duration(i) * time.Hour)
		must(t, b.SaveRun(&PipelineRun{PipelineName: "p", RunID: id, StartTime: st, EndTime: st.Add(time.Second),
			Status: RunSuccess, Tasks: map[string]TaskStatus{"a": TaskSuccess}}))
	}
	sql := `INSERT INTO runs VALUES ('bad-time', 'p', 'yesterday', NULL, 'SUCCESS', '{}'),
		('bad-tasks', 'p', 1700000000.5, NULL, 'SUCCESS', '{"a": 1}');`
	if out, err := exec.Command("sqlite3", path, sql).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}

	runs, err := b.ListRuns("p", 10)
	must(t, err)
	if len(runs) != 2 || runs[0].RunID != "good-2" || runs[1].RunID != "good-1" {
		t.Fatalf("ListRuns: %+v", runs)
	}
	rep, err := b.ListRunsReport("p", 10)
	must(t, err)
	if len(rep.Runs) != 2 || rep.Runs[0].RunID != "good-2" || rep.Runs[1].Tasks["a"] != TaskSuccess {
		t.Errorf("ListRunsReport runs: %+v", rep.Runs)
	}
	// SQLite sorts a text start_time above every number: first.
	want := []struct{ id, part string }{
		{"bad-time", `column start_time: text "yesterday"`},
		{"bad-tasks", `column tasks: the status of task "a" is not a string: 1`},
	}
	if len(rep.Unreadable) != len(want) {
		t.Fatalf("Unreadable: %+v", rep.Unreadable)
	}
	for i, w := range want {
		if u := rep.Unreadable[i]; u.RunID != w.id || !strings.Contains(u.Reason, w.part) {
			t.Errorf("Unreadable[%d] = %+v, want %s with %q", i, u, w.id, w.part)
		}
	}
	// Unreadable rows count toward the limit, in their place.
	rep, err = b.ListRunsReport("", 2)
	must(t, err)
	if len(rep.Runs) != 1 || len(rep.Unreadable) != 1 || rep.Unreadable[0].RunID != "bad-time" {
		t.Errorf("limit 2: %+v", rep)
	}
	if _, err := b.GetRun("bad-time"); !errors.Is(err, ErrBackend) ||
		!strings.Contains(err.Error(), "bad-time") || !strings.Contains(err.Error(), "start_time") {
		t.Errorf("GetRun of an unreadable row: %v", err)
	}
	if _, err := b.ListRunsReport("p", -1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative limit: %v", err)
	}

	m, err := NewMemoryBackend()
	must(t, err)
	defer m.Close()
	must(t, m.SaveRun(&runs[0]))
	rep, err = m.ListRunsReport("", 10)
	must(t, err)
	if len(rep.Runs) != 1 || len(rep.Unreadable) != 0 {
		t.Errorf("memory: %+v", rep)
	}
	b.Close()
	if _, err := b.ListRunsReport("p", 10); !errors.Is(err, ErrClosed) {
		t.Errorf("closed backend: %v", err)
	}
}

func TestOpenBadURLs(t *testing.T) {
	for _, u := range []string{"", "nothing://x", "ftp://x", "sqlite://", "sqlite:///", "memory:/x"} {
		if b, err := Open(u); !errors.Is(err, ErrConfig) && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Open(%q): %v, %v", u, b, err)
		}
	}
	if _, err := OpenSQLite(""); err == nil {
		t.Error("OpenSQLite(\"\") succeeded")
	}
	if _, err := OpenSQLite(filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")); err == nil {
		t.Error("OpenSQLite in a missing directory succeeded")
	}
}

// The SQLite URL convention of dremioframe's command line and SQLAlchemy:
// what follows sqlite:/// is the path, relative to the current directory or
// absolute with a fourth slash; a path with no scheme is a SQLite file;
// sqlite://rel.db stays relative. Checked by where each file appears.
func TestOpenSQLiteURLsCreateFilesWhereExpected(t *testing.T) {
	work, abs := t.TempDir(), t.TempDir()
	cwd, err := os.Getwd()
	must(t, err)
	must(t, os.Chdir(work))
	defer func() { must(t, os.Chdir(cwd)) }()
	must(t, os.Mkdir("sub", 0o700))

	for _, c := range []struct{ url, file string }{
		{"sqlite:///rel.db", filepath.Join(work, "rel.db")},
		{"sqlite:///sub/nested.db", filepath.Join(work, "sub", "nested.db")},
		{"sqlite:///" + filepath.Join(abs, "four.db"), filepath.Join(abs, "four.db")}, // sqlite:////tmp/...
		{"bare.db", filepath.Join(work, "bare.db")},
		{filepath.Join(abs, "bare-abs.db"), filepath.Join(abs, "bare-abs.db")},
		{"sqlite://two.db", filepath.Join(work, "two.db")},
	} {
		b, err := Open(c.url)
		if err != nil {
			t.Errorf("Open(%q): %v", c.url, err)
			continue
		}
		must(t, b.SaveRun(&PipelineRun{PipelineName: "url", RunID: "url-run", StartTime: time.Now(),
			Status: RunRunning, Tasks: map[string]TaskStatus{"t": TaskPending}}))
		must(t, b.Close())
		if st, err := os.Stat(c.file); err != nil || !st.Mode().IsRegular() {
			t.Errorf("Open(%q) did not create %s: %v", c.url, c.file, err)
		}
	}
	if _, err := os.Stat("/rel.db"); err == nil {
		t.Error("sqlite:///rel.db created /rel.db")
	}
}

// Server backends: the local PostgreSQL and MariaDB, each test on its own
// table (prefix dorch_go_, dropped by test.sh). DORCH_GO_SKIP_SERVERS=1
// skips them on a machine without the servers.

func serverTable(t *testing.T) string {
	if os.Getenv("DORCH_GO_SKIP_SERVERS") == "1" {
		t.Skip("DORCH_GO_SKIP_SERVERS=1")
	}
	return "dorch_go_" + randomSuffix(t)
}

func pgURL() string {
	if u := os.Getenv("DORCH_GO_PG_URL"); u != "" {
		return u
	}
	return "postgresql://postgres@127.0.0.1:5432/test"
}

func mysqlURL() string {
	if u := os.Getenv("DORCH_GO_MYSQL_URL"); u != "" {
		return u
	}
	return "mysql://root@127.0.0.1:3306/test"
}

func TestPostgresBackend(t *testing.T) {
	table := serverTable(t)
	b, err := OpenPostgres(pgURL(), table)
	must(t, err)
	defer b.Close()
	exerciseBackend(t, b)
}

func TestMySQLBackend(t *testing.T) {
	table := serverTable(t)
	b, err := OpenMySQL(mysqlURL(), table)
	must(t, err)
	defer b.Close()
	exerciseBackend(t, b)
}

func TestServerBackendsByURL(t *testing.T) {
	for _, base := range []string{pgURL(), mysqlURL()} {
		// ?table= picks this test's own table.
		u := base + "?table=" + serverTable(t)
		b, err := Open(u)
		must(t, err)
		name := "go_url_" + randomSuffix(t)
		p := newPipeline(t, name, b, 4)
		must(t, p.AddTask("a", noop))
		res, err := p.Run()
		must(t, err)
		got, err := b.GetRun(res.RunID)
		must(t, err)
		if got.Status != RunSuccess || got.Tasks["a"] != TaskSuccess {
			t.Errorf("%s: %+v", u, got)
		}
		b.Close()
	}
}

func TestServerBackendErrors(t *testing.T) {
	serverTable(t)
	if _, err := OpenPostgres(pgURL(), "bad; DROP TABLE x"); !errors.Is(err, ErrConfig) && !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("hostile table name: %v", err)
	}
	start := time.Now()
	if _, err := OpenMySQL("mysql://root@127.0.0.1:1/test", ""); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("unreachable MySQL port: %v", err)
	}
	if _, err := OpenPostgres("postgresql://postgres@127.0.0.1:1/test", ""); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("unreachable PostgreSQL port: %v", err)
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("unreachable servers took %v to report", d)
	}
}
