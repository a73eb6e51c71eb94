package dremioorch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// redisURL is the local Redis (DORCH_GO_REDIS_URL overrides it).
func redisURL() string {
	if u := os.Getenv("DORCH_GO_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

func remoteQueue(t *testing.T, name string) string {
	t.Helper()
	if os.Getenv("DORCH_GO_SKIP_SERVERS") == "1" {
		t.Skip("DORCH_GO_SKIP_SERVERS=1")
	}
	q := fmt.Sprintf("dorch_go_remote_%s_%d", name, os.Getpid())
	t.Cleanup(func() {
		out, err := exec.Command("redis-cli", "-u", redisURL(), "--scan", "--pattern", q+":*").Output()
		if err == nil && len(strings.TrimSpace(string(out))) > 0 {
			args := append([]string{"-u", redisURL(), "del"}, strings.Fields(string(out))...)
			_ = exec.Command("redis-cli", args...).Run()
		}
	})
	return q
}

// serve runs w until the test ends.
func serve(t *testing.T, w *Worker) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Worker.Run: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Worker.Close: %v", err)
		}
	})
}

// startCWorker builds and starts examples/c/remote_worker.c on queue.
func startCWorker(t *testing.T, queue string) {
	t.Helper()
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(t.TempDir(), "remote_worker")
	build := exec.Command("cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I"+root+"/include",
		root+"/examples/c/remote_worker.c", "-o", bin, root+"/target/release/libdremioorch.a",
		"-lpthread", "-ldl", "-lm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the C worker: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, redisURL(), queue)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("C worker said %q", line)
	}
	t.Cleanup(func() {
		stdin.Close() // it stops when its input closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("C worker: %v", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("the C worker did not stop")
		}
	})
}

func TestRemoteGoAndCWorkersServeOneQueue(t *testing.T) {
	q := remoteQueue(t, "mixed")
	opts := &RemoteOptions{VisibilityTimeout: 2 * time.Second, DispatchTimeout: 20 * time.Second}
	w, err := NewWorker(redisURL(), q, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetConcurrency(2); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTask("go_wrap", func(c *TaskContext) ([]byte, error) {
		up, ok := c.Get("upper")
		if !ok {
			return nil, errors.New("no upstream output")
		}
		return []byte("[" + string(up) + "] by Go"), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTask("who_c", func(c *TaskContext) ([]byte, error) {
		return []byte(fmt.Sprintf("go:%d", os.Getpid())), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTask("go_wrap", noop); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate name: %v", err)
	}
	serve(t, w)
	startCWorker(t, q)

	e, err := NewRedisExecutor(redisURL(), q, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p := newPipeline(t, "go_remote_mixed", nil, 4)
	must(t, p.AddTask("src", func(*TaskContext) ([]byte, error) { return []byte("hello"), nil }))
	must(t, p.AddRemoteTask("upper", e))
	must(t, p.AddRemoteTask("go_wrap", e, WithRetries(1)))
	must(t, p.AddRemoteTask("who_c", e))
	must(t, p.AddDependency("src", "upper"))
	must(t, p.AddDependency("upper", "go_wrap"))
	r, err := p.Run()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := string(r.Output("go_wrap")); got != "[HELLO by C] by Go" {
		t.Fatalf("go_wrap output %q", got)
	}
	if who := string(r.Output("who_c")); !strings.HasPrefix(who, "c:") && !strings.HasPrefix(who, "go:") {
		t.Fatalf("who_c output %q", who)
	}
}

func TestRemoteTimeoutReachesAGoTask(t *testing.T) {
	q := remoteQueue(t, "timeout")
	opts := &RemoteOptions{DispatchTimeout: 800 * time.Millisecond}
	w, err := NewWorker(redisURL(), q, opts)
	if err != nil {
		t.Fatal(err)
	}
	var stopped atomic.Bool
	must(t, w.AddTask("go_long", func(c *TaskContext) ([]byte, error) {
		if err := c.Sleep(30 * time.Second); err != nil {
			stopped.Store(true)
			return nil, err
		}
		return nil, nil
	}))
	serve(t, w)
	e, err := NewRedisExecutor(redisURL(), q, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p := newPipeline(t, "go_remote_timeout", nil, 2)
	must(t, p.AddRemoteTask("go_long", e, WithTimeout(300*time.Millisecond)))
	must(t, p.AddRemoteTask("nobody_serves", e))
	start := time.Now()
	r, err := p.Run()
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("run: %v", err)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	d, _ := r.TaskDetail("go_long")
	if !strings.Contains(d.Error, "timed out after 300 ms") {
		t.Fatalf("go_long: %q", d.Error)
	}
	d, _ = r.TaskDetail("nobody_serves")
	if !strings.Contains(d.Error, "nobody_serves") || !strings.Contains(d.Error, q) {
		t.Fatalf("nobody_serves: %q", d.Error)
	}
	for i := 0; i < 100 && !stopped.Load(); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !stopped.Load() {
		t.Fatal("the Go task did not see its timeout")
	}
}

func TestRemoteBadInput(t *testing.T) {
	if _, err := NewRedisExecutor("nonsense://x", "q", nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad URL: %v", err)
	}
	if _, err := NewRedisExecutor("redis://127.0.0.1:1", "q", nil); !errors.Is(err, ErrBackend) {
		t.Fatalf("unreachable: %v", err)
	}
	if _, err := NewRedisExecutor(redisURL(), "q\x00", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL: %v", err)
	}
	if _, err := NewRedisExecutor(redisURL(), "", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty queue: %v", err)
	}
	if _, err := NewRedisExecutor(redisURL(), "q", &RemoteOptions{MaxPayload: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad options: %v", err)
	}
	if _, err := NewWorker("bad url", "q", nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("worker bad URL: %v", err)
	}
	w, err := NewWorker("redis://127.0.0.1:1", "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Run(context.Background()); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("no tasks: %v", err)
	}
	if err := w.AddTask("t", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil fn: %v", err)
	}
	if err := w.AddTask("", noop); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty name: %v", err)
	}
	if err := w.SetConcurrency(0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("concurrency 0: %v", err)
	}
	must(t, w.AddTask("t", noop))
	if err := w.Run(context.Background()); !errors.Is(err, ErrBackend) {
		t.Fatalf("unreachable worker: %v", err)
	}
	p := newPipeline(t, "go_remote_bad", nil, 1)
	if err := p.AddRemoteTask("x", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil executor: %v", err)
	}
}
