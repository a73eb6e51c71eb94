//! One run of a no-op chain on the memory backend, for instruction counts:
//! `bash benches/callgrind.sh` runs it under callgrind, which counts
//! instructions (repeatable on a busy machine, unlike time) and prints
//! them per task. Arguments: `[tasks] [shape: chain|fan-out|layered]
//! [runs]` (runs of the built pipeline, default 1).
//! Layered: layers of 100 tasks, task j of a layer depending on tasks j and
//! (7j + 3) mod 100 of the previous layer (as in benches/dagrs/src/main.rs).

use dremioorch::{MemoryBackend, Pipeline, RunStatus, Task};
use std::sync::Arc;

/// Tasks a layer of the layered shape.
const WIDTH: usize = 100;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(10_000, |a| a.parse().expect("tasks"));
    let (fan_out, layered) = match args.next().as_deref() {
        Some("fan-out") => (true, false),
        Some("layered") => (false, true),
        _ => (false, false),
    };
    let runs: usize = args.next().map_or(1, |a| a.parse().expect("runs"));
    let mut p = Pipeline::with_backend("chain_once", Arc::new(MemoryBackend::new())).unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("task_{i:05}")).collect();
    for name in &names {
        p.add_task(Task::new(name.clone(), |_| Ok(()))).unwrap();
    }
    for i in 1..n {
        // Up to two upstream tasks, without allocating.
        let (ups, k) = if fan_out {
            ([0, 0], 1)
        } else if layered && i < WIDTH {
            ([0, 0], 0)
        } else if layered {
            let prev = (i / WIDTH - 1) * WIDTH;
            let j = i % WIDTH;
            ([prev + j, prev + (7 * j + 3) % WIDTH], 2)
        } else {
            ([i - 1, 0], 1)
        };
        for &u in &ups[..k] {
            p.add_dependency(&names[u], &names[i]).unwrap();
        }
    }
    for _ in 0..runs {
        let r = p.run().unwrap();
        assert_eq!(r.status(), RunStatus::Success);
    }
}
