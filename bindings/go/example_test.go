package dremioorch_test

import (
	"errors"
	"fmt"
	"strings"

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
