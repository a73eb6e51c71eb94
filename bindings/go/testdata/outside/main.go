// A program in its own module, outside the repository: test.sh copies it
// and the package's sources to a temporary directory and builds it with
// -tags dorch_pkgconfig against an installed libdremioorch.
package main

import (
	"errors"
	"fmt"
	"log"
	"os"

	"dremioorch.dev/go/dremioorch"
)

func main() {
	backend, err := dremioorch.Open("sqlite:///history.db") // ./history.db
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close()
	p, err := dremioorch.NewPipeline("outside", backend, 2)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	must(p.AddTask("extract", func(*dremioorch.TaskContext) ([]byte, error) { return []byte("42 rows"), nil }))
	must(p.AddTask("load", func(c *dremioorch.TaskContext) ([]byte, error) {
		rows, _ := c.Get("extract")
		return append([]byte("loaded "), rows...), nil
	}))
	must(p.AddTask("alert", func(*dremioorch.TaskContext) ([]byte, error) { return nil, errors.New("unexpected") },
		dremioorch.WithTriggerRule(dremioorch.OneFailed)))
	must(p.AddDependency("extract", "load"))
	must(p.AddDependency("load", "alert"))
	res, err := p.Run()
	if err != nil {
		log.Fatal(err)
	}
	runs, err := backend.ListRuns("outside", 10)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := os.Stat("history.db"); err != nil {
		log.Fatalf("sqlite:///history.db is not ./history.db: %v", err)
	}
	fmt.Printf("libdremioorch %s: run %s %s, %s, alert %s, %d run(s) in ./history.db\n",
		dremioorch.Version(), res.RunID, res.Status, res.Output("load"), res.Tasks["alert"], len(runs))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
