// Command etl runs an ETL-shaped pipeline with the Go binding of dremioorch:
// extract, two transforms in parallel, load, an alert that runs only when
// something failed (one_failed) and a cleanup that always runs (all_done).
//
// It runs the pipeline twice (a good run, then one whose enrich step fails)
// on each of two backends: the built-in SQLite backend, and a backend
// written in Go (jsonStore below: runs kept as a JSON file), then prints the
// history each backend kept.
//
//	cargo build --release            # at the repository root, once
//	cd bindings/go && go run ./examples/etl [-dir DIR]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"dremioorch.dev/go/dremioorch"
)

func main() {
	dir := flag.String("dir", "", "where to write history.db and runs.json (default: a new temporary directory)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "dremioorch-etl-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	log.SetFlags(0)
	if err := run(*dir, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run runs the ETL pipeline twice on each backend, writing to w.
func run(dir string, w io.Writer) error {
	fmt.Fprintf(w, "dremioorch %s, files in %s\n", dremioorch.Version(), dir)

	sqlite, err := dremioorch.OpenSQLite(filepath.Join(dir, "history.db"))
	if err != nil {
		return err
	}
	defer sqlite.Close()

	store := &jsonStore{path: filepath.Join(dir, "runs.json"), runs: map[string]*dremioorch.PipelineRun{}}
	custom, err := dremioorch.NewCustomBackend(store)
	if err != nil {
		return err
	}
	defer custom.Close()

	for _, b := range []struct {
		name    string
		backend *dremioorch.Backend
	}{{"sqlite", sqlite}, {"go json store", custom}} {
		fmt.Fprintf(w, "\n== backend: %s\n", b.name)
		for _, failEnrich := range []bool{false, true} {
			if err := runETL(w, b.backend, failEnrich); err != nil && !errors.Is(err, dremioorch.ErrTaskFailed) {
				return err
			}
		}
		runs, err := b.backend.ListRuns("etl", 10)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "history (%d runs, newest first):\n", len(runs))
		for _, r := range runs {
			fmt.Fprintf(w, "  %s  %s  %-7s %6.1fms  %s\n", r.StartTime.Local().Format("15:04:05.000"), r.RunID,
				r.Status, float64(r.Duration().Microseconds())/1000, taskList(r))
		}
	}
	return nil
}

// runETL builds the pipeline on backend and runs it once.
func runETL(w io.Writer, backend *dremioorch.Backend, failEnrich bool) error {
	p, err := dremioorch.NewPipeline("etl", backend, 4)
	if err != nil {
		return err
	}
	defer p.Close()
	if failEnrich {
		if err := p.SetContext("fail_enrich", []byte("yes")); err != nil {
			return err
		}
	}
	steps := []struct {
		name string
		fn   dremioorch.TaskFunc
		opts []dremioorch.TaskOption
		ups  []string
	}{
		{"extract", extract, nil, nil},
		{"transform_clean", clean, nil, []string{"extract"}},
		{"transform_enrich", enrich, []dremioorch.TaskOption{dremioorch.WithRetries(1), dremioorch.WithRetryDelay(10 * time.Millisecond)}, []string{"extract"}},
		{"load", load, nil, []string{"transform_clean", "transform_enrich"}},
		{"alert", alert, []dremioorch.TaskOption{dremioorch.WithTriggerRule(dremioorch.OneFailed)}, []string{"transform_clean", "transform_enrich", "load"}},
		{"cleanup", cleanup, []dremioorch.TaskOption{dremioorch.WithTriggerRule(dremioorch.AllDone)}, []string{"load", "alert"}},
	}
	for _, s := range steps {
		if err := p.AddTask(s.name, s.fn, s.opts...); err != nil {
			return err
		}
		for _, u := range s.ups {
			if err := p.AddDependency(u, s.name); err != nil {
				return err
			}
		}
	}
	res, err := p.Run()
	if res != nil {
		fmt.Fprintf(w, "run %s: %s\n", res.RunID, res.Status)
		for _, s := range steps {
			line := fmt.Sprintf("  %-17s %s", s.name, res.Tasks[s.name])
			if msg, ok := res.Errors[s.name]; ok {
				line += "  (" + msg + ")"
			} else if out := res.Output(s.name); s.name == "alert" && out != nil {
				line += "  " + string(out)
			}
			fmt.Fprintln(w, line)
		}
	}
	return err
}

func extract(c *dremioorch.TaskContext) ([]byte, error) {
	return []byte("alice,30\nbob,x\ncarol,41\n"), nil
}

func clean(c *dremioorch.TaskContext) ([]byte, error) {
	raw, _ := c.Get("extract")
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var name string
		var age int
		if _, err := fmt.Sscanf(strings.Replace(line, ",", " ", 1), "%s %d", &name, &age); err == nil {
			out = append(out, fmt.Sprintf("%s,%d", name, age))
		}
	}
	return []byte(strings.Join(out, "\n")), nil
}

func enrich(c *dremioorch.TaskContext) ([]byte, error) {
	if _, fail := c.Get("fail_enrich"); fail {
		return nil, fmt.Errorf("lookup service unavailable (attempt %d)", c.Attempt())
	}
	raw, _ := c.Get("extract")
	return bytes.ToUpper(raw), nil
}

func load(c *dremioorch.TaskContext) ([]byte, error) {
	cleaned, _ := c.Get("transform_clean")
	enriched, _ := c.Get("transform_enrich")
	n := len(strings.Split(string(cleaned), "\n"))
	return []byte(fmt.Sprintf("loaded %d rows (%d bytes enriched)", n, len(enriched))), nil
}

func alert(c *dremioorch.TaskContext) ([]byte, error) {
	return []byte("ALERT: run " + c.RunID() + " had a failure"), nil
}

func cleanup(c *dremioorch.TaskContext) ([]byte, error) { return []byte("temp files removed"), nil }

func taskList(r dremioorch.PipelineRun) string {
	var parts []string
	for _, n := range r.TaskNames() {
		parts = append(parts, n+"="+string(r.Tasks[n]))
	}
	return strings.Join(parts, " ")
}

// jsonStore is a dremioorch.Store written in Go: it keeps the runs in
// memory and rewrites them to a JSON file after every change. The library
// never calls it from two threads at once (it is not declared ThreadSafe),
// but the mutex keeps it correct if it is ever shared.
type jsonStore struct {
	mu   sync.Mutex
	path string
	runs map[string]*dremioorch.PipelineRun
}

func (s *jsonStore) SaveRun(run *dremioorch.PipelineRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[run.RunID] = run
	return s.flush()
}

func (s *jsonStore) GetRun(runID string) (*dremioorch.PipelineRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[runID]
	if !ok {
		return nil, nil
	}
	c := clone(r)
	return &c, nil
}

func (s *jsonStore) UpdateTaskStatus(runID, task string, status dremioorch.TaskStatus) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[runID]
	if !ok {
		return &dremioorch.Error{Code: dremioorch.CodeNotFound, Message: "json store: no run " + runID}
	}
	r.Tasks[task] = status
	return s.flush()
}

func (s *jsonStore) ListRuns(pipeline string, limit int) ([]dremioorch.PipelineRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []dremioorch.PipelineRun
	for _, r := range s.runs {
		if pipeline == "" || r.PipelineName == pipeline {
			out = append(out, clone(r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartTime.After(out[j].StartTime) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// flush writes every run to the file (atomically, through a rename).
func (s *jsonStore) flush() error {
	data, err := json.MarshalIndent(s.runs, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

func clone(r *dremioorch.PipelineRun) dremioorch.PipelineRun {
	c := *r
	c.Tasks = make(map[string]dremioorch.TaskStatus, len(r.Tasks))
	for k, v := range r.Tasks {
		c.Tasks[k] = v
	}
	return c
}
