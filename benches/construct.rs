//! Graph construction cost. Run: `cargo bench --bench construct`.
//!
//! Builds a chain (each task depends on the previous one) and a fan-out (one
//! root, every other task depends on it) of 200,000 and 1,000,000 no-op
//! tasks and prints the time per edge of each, and the fan-out's cost as a
//! multiple of the chain's. Construction only: tasks are added, then edges;
//! nothing runs.

use dremioorch::{Pipeline, Task};
use std::time::Instant;

#[derive(Clone, Copy)]
enum Shape {
    Chain,
    FanOut,
}

/// Seconds to add `n` tasks and their `n - 1` edges (best of `reps`).
fn build_seconds(shape: Shape, n: usize, reps: usize) -> (f64, f64) {
    let names: Vec<String> = (0..n).map(|i| format!("task_{i:07}")).collect();
    let mut best_total = f64::MAX;
    let mut best_edges = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        let mut p = Pipeline::new("construct").unwrap();
        for name in &names {
            p.add_task(Task::new(name.clone(), |_| Ok(()))).unwrap();
        }
        let e = Instant::now();
        for i in 1..n {
            let up = match shape {
                Shape::Chain => &names[i - 1],
                Shape::FanOut => &names[0],
            };
            p.add_dependency(up, &names[i]).unwrap();
        }
        best_edges = best_edges.min(e.elapsed().as_secs_f64());
        best_total = best_total.min(t.elapsed().as_secs_f64());
        drop(p);
    }
    (best_total, best_edges)
}

fn main() {
    println!("graph construction (best of 3): tasks added, then n-1 edges");
    println!(
        "{:>9} {:<8} {:>10} {:>12} {:>18}",
        "tasks", "shape", "total s", "ns/edge", "fan-out / chain"
    );
    for n in [200_000, 1_000_000] {
        let (chain_total, chain_edges) = build_seconds(Shape::Chain, n, 3);
        let (fan_total, fan_edges) = build_seconds(Shape::FanOut, n, 3);
        let per = |s: f64| s * 1e9 / (n - 1) as f64;
        println!(
            "{n:>9} {:<8} {chain_total:>10.3} {:>12.1} {:>18}",
            "chain",
            per(chain_edges),
            ""
        );
        println!(
            "{n:>9} {:<8} {fan_total:>10.3} {:>12.1} {:>17.2}x",
            "fan-out",
            per(fan_edges),
            fan_edges / chain_edges
        );
    }
}
