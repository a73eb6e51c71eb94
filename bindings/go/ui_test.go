package dremioorch

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUI(t *testing.T) {
	b, err := NewMemoryBackend()
	must(t, err)
	defer b.Close()
	if _, err := StartUI(b, UIOptions{Listen: "not an address"}); err == nil {
		t.Fatal("StartUI accepted a bad address")
	}
	if _, err := StartUI(b, UIOptions{Listen: "127.0.0.1:0", Username: "u"}); err == nil {
		t.Fatal("StartUI accepted a username without password")
	}
	if _, err := StartUI(b, UIOptions{Listen: "127.0.0.1:0\x00"}); err == nil {
		t.Fatal("StartUI accepted a NUL")
	}
	ui, err := StartUI(b, UIOptions{Listen: "127.0.0.1:0"})
	must(t, err)
	addr, err := ui.Address()
	must(t, err)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %q", addr)
	}
	p, err := NewPipeline("go_ui", b, 1)
	must(t, err)
	must(t, p.AddTask("only", noop))
	must(t, ui.AddPipeline(p))
	must(t, p.Close())

	base := "http://" + addr
	resp, err := http.Post(base+"/api/pipelines/go_ui/trigger", "application/json", nil)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/api/runs?pipeline=go_ui&status=SUCCESS")
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var runs []map[string]interface{}
		must(t, json.Unmarshal(body, &runs))
		if len(runs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the triggered run never appeared")
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(t, ui.Close())
	must(t, ui.Close())
	if _, err := ui.Address(); err == nil {
		t.Fatal("Address after Close")
	}
	var closed *UI
	if err := closed.AddPipeline(p); err == nil {
		t.Fatal("AddPipeline on nil UI")
	}
}
