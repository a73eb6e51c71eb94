package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dremioorch.dev/go/dremioorch"
)

func TestETL(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(dir, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Count(text, "history (2 runs, newest first)") != 2 {
		t.Fatalf("output:\n%s", text)
	}
	// Each backend kept one SUCCESS run and one FAILED run, with the rules applied.
	sqlite, err := dremioorch.OpenSQLite(filepath.Join(dir, "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.Close()
	runs, err := sqlite.ListRuns("etl", 10)
	if err != nil || len(runs) != 2 {
		t.Fatalf("sqlite history: %v %v", runs, err)
	}
	failed, ok := runs[0], runs[1]
	if failed.Status != dremioorch.RunFailed || ok.Status != dremioorch.RunSuccess {
		t.Fatalf("statuses %s %s", failed.Status, ok.Status)
	}
	want := map[string]dremioorch.TaskStatus{"transform_enrich": dremioorch.TaskFailed, "load": dremioorch.TaskSkipped,
		"alert": dremioorch.TaskSuccess, "cleanup": dremioorch.TaskSuccess}
	for k, v := range want {
		if failed.Tasks[k] != v {
			t.Errorf("failed run: %s is %s, want %s", k, failed.Tasks[k], v)
		}
	}
	if ok.Tasks["alert"] != dremioorch.TaskSkipped || ok.Tasks["load"] != dremioorch.TaskSuccess {
		t.Errorf("good run: %v", ok.Tasks)
	}
	// The Go store wrote its runs to runs.json.
	data, err := os.ReadFile(filepath.Join(dir, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]dremioorch.PipelineRun
	if err := json.Unmarshal(data, &stored); err != nil || len(stored) != 2 {
		t.Fatalf("runs.json: %v, %d runs", err, len(stored))
	}
	for id, r := range stored {
		if r.RunID != id || !r.Finished() || len(r.Tasks) != 6 {
			t.Errorf("stored run %s: %+v", id, r)
		}
	}
}
