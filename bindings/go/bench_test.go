package dremioorch

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkChain10k runs a chain of 10,000 no-op Go tasks on the memory
// backend with one worker. The figure to read is ns/task.
func BenchmarkChain10k(b *testing.B) {
	benchChain(b, 10000, 1)
}

// BenchmarkChain10kWorkers4 is the same chain with 4 workers: a chain runs
// one task at a time, but callbacks may come from the library's threads.
func BenchmarkChain10kWorkers4(b *testing.B) {
	benchChain(b, 10000, 4)
}

func benchChain(b *testing.B, n, workers int) {
	backend, err := NewMemoryBackend()
	if err != nil {
		b.Fatal(err)
	}
	defer backend.Close()
	p, err := NewPipeline("chain", backend, workers)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	prev := ""
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("t%05d", i)
		if err := p.AddTask(name, noop); err != nil {
			b.Fatal(err)
		}
		if prev != "" {
			if err := p.AddDependency(prev, name); err != nil {
				b.Fatal(err)
			}
		}
		prev = name
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res, err := p.Run()
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Tasks) != n {
			b.Fatalf("%d tasks", len(res.Tasks))
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*n), "ns/task")
}
