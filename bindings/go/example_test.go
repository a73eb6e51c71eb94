package dremioorch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"dremioorch.dev/go/dremioorch"
)

func Example() {
	backend, err := dremioorch.Open("memory:") // or "sqlite:////var/lib/app/runs.db", "postgresql://...", ...
	if err != nil {
		panic(err)
	}
	defer backend.Close()

	p, err := dremioorch.NewPipeline("greet", backend, 4)
	if err != nil {
		panic(err)
	}
	defer p.Close()

	_ = p.SetContext("who", []byte("world"))
	_ = p.AddTask("hello", func(c *dremioorch.TaskContext) ([]byte, error) {
		who, _ := c.Get("who")
		return []byte("hello " + string(who)), nil
	})
	_ = p.AddTask("shout", func(c *dremioorch.TaskContext) ([]byte, error) {
		h, _ := c.Get("hello")
		return []byte(strings.ToUpper(string(h))), nil
	}, dremioorch.WithRetries(2))
	_ = p.AddTask("on_failure", func(*dremioorch.TaskContext) ([]byte, error) { return nil, nil },
		dremioorch.WithTriggerRule(dremioorch.OneFailed))
	_ = p.AddDependency("hello", "shout")
	_ = p.AddDependency("shout", "on_failure")

	res, err := p.Run()
	if errors.Is(err, dremioorch.ErrTaskFailed) {
		fmt.Println("some task failed:", res.Errors)
	} else if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, string(res.Output("shout")), res.Tasks["on_failure"])

	runs, _ := backend.ListRuns("greet", 10)
	fmt.Println(len(runs), runs[0].RunID == res.RunID, runs[0].Tasks["shout"])
	// Output:
	// SUCCESS HELLO WORLD SKIPPED
	// 1 true SUCCESS
}

// A Store written in Go becomes a backend with NewCustomBackend.
type printStore struct{ dremioorch.Store }

func (s printStore) UpdateTaskStatus(runID, task string, status dremioorch.TaskStatus) error {
	fmt.Println(task, status)
	return s.Store.UpdateTaskStatus(runID, task, status)
}

func ExampleNewCustomBackend() {
	mem, _ := dremioorch.NewMemoryBackend()
	defer mem.Close()
	// printStore wraps the memory backend (a *Backend has the Store methods too).
	b, err := dremioorch.NewCustomBackend(printStore{mem})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	p, _ := dremioorch.NewPipeline("audited", b, 1)
	defer p.Close()
	_ = p.AddTask("only", func(*dremioorch.TaskContext) ([]byte, error) { return nil, nil })
	_, _ = p.Run()
	// Output:
	// only RUNNING
	// only SUCCESS
}

// A run stopped by its context: here a deadline; cancelling the context
// (cancel(), or a signal.NotifyContext on Ctrl-C) works the same way.
func ExamplePipeline_RunContext() {
	p, _ := dremioorch.NewPipeline("nightly", nil, 2)
	defer p.Close()
	_ = p.AddTask("extract", func(c *dremioorch.TaskContext) ([]byte, error) {
		// A long task sleeps (or selects on c.Done()) so that it stops
		// when the run does; c is also a context.Context to pass on.
		if err := c.Sleep(time.Hour); err != nil {
			return nil, err
		}
		return []byte("rows"), nil
	})
	_ = p.AddTask("load", func(*dremioorch.TaskContext) ([]byte, error) { return nil, nil })
	_ = p.AddDependency("extract", "load")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := p.RunContext(ctx)
	fmt.Println(errors.Is(err, context.DeadlineExceeded), res.Status)
	for _, task := range []string{"extract", "load"} {
		d, _ := res.TaskDetail(task)
		fmt.Printf("%s: %s (%s)\n", task, d.Status, d.Error)
	}
	// Output:
	// true FAILED
	// extract: FAILED (cancelled: context deadline exceeded)
	// load: SKIPPED (cancelled: context deadline exceeded)
}

// A task timeout: the task is FAILED at its deadline, without retries, and
// its children are decided at once.
func ExampleWithTimeout() {
	p, _ := dremioorch.NewPipeline("fetch", nil, 2)
	defer p.Close()
	_ = p.AddTask("download", func(c *dremioorch.TaskContext) ([]byte, error) {
		select {
		case <-c.Done(): // the timeout passed: c.Err() is context.DeadlineExceeded
			return nil, c.Err()
		case <-time.After(time.Hour):
			return []byte("data"), nil
		}
	}, dremioorch.WithTimeout(50*time.Millisecond), dremioorch.WithRetries(3))
	_ = p.AddTask("report", func(*dremioorch.TaskContext) ([]byte, error) { return nil, nil },
		dremioorch.WithTriggerRule(dremioorch.AllDone))
	_ = p.AddDependency("download", "report")

	res, err := p.Run()
	d, _ := res.TaskDetail("download")
	fmt.Println(errors.Is(err, dremioorch.ErrTaskFailed), d.Status, d.Attempts, d.Error)
	fmt.Println("report:", res.Tasks["report"])
	// Output:
	// true FAILED 1 timed out after 50 ms
	// report: SUCCESS
}

// A listener is told of every run and task change.
func ExamplePipeline_SetListener() {
	p, _ := dremioorch.NewPipeline("told", nil, 1)
	defer p.Close()
	_ = p.AddTask("only", func(*dremioorch.TaskContext) ([]byte, error) { return nil, nil })
	_ = p.SetListener(dremioorch.ListenerFuncs{
		Run: func(pipeline, runID string, s dremioorch.RunStatus) { fmt.Println("run", pipeline, s) },
		Task: func(runID string, d dremioorch.TaskDetail) {
			fmt.Println("task", d.Name, d.Status, d.Attempts)
		},
	})
	_, _ = p.Run()
	// Output:
	// run told RUNNING
	// task only RUNNING 1
	// task only SUCCESS 1
	// run told SUCCESS
}
