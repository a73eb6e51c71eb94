//! Benchmark: the same 10,000-task chain as `benches/c/chain.c`, driven from
//! Rust on the memory backend. Prints "rust: <ns> ns/task". Run by
//! `benches/c/run.sh`, which compares it with the C figure.

use dremioorch::{Pipeline, RunStatus, Task};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let mut p = Pipeline::new("chain").expect("pipeline");
    let mut prev: Option<String> = None;
    for i in 0..n {
        let name = format!("t{i:05}");
        p.add_task(Task::new(name.clone(), |_ctx| Ok(())))
            .expect("task");
        if let Some(prev) = &prev {
            p.add_dependency(prev, &name).expect("dependency");
        }
        prev = Some(name);
    }
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t0 = Instant::now();
        let r = p.run().expect("run");
        let dt = t0.elapsed().as_secs_f64();
        assert_eq!(r.status(), RunStatus::Success);
        best = best.min(dt);
    }
    println!(
        "rust: {:.1} ns/task ({n} tasks, best of {rounds} runs)",
        best * 1e9 / n as f64
    );
}
