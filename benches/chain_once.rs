//! One run of a no-op chain on the memory backend, for instruction counts:
//! `bash benches/callgrind.sh` runs it under callgrind, which counts
//! instructions (repeatable on a busy machine, unlike time) and prints
//! them per task. Arguments: `[tasks] [shape: chain|fan-out]`.

use dremioorch::{MemoryBackend, Pipeline, RunStatus, Task};
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(10_000, |a| a.parse().expect("tasks"));
    let fan_out = args.next().as_deref() == Some("fan-out");
    let mut p = Pipeline::with_backend("chain_once", Arc::new(MemoryBackend::new())).unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("task_{i:05}")).collect();
    for name in &names {
        p.add_task(Task::new(name.clone(), |_| Ok(()))).unwrap();
    }
    for i in 1..n {
        let up = if fan_out { &names[0] } else { &names[i - 1] };
        p.add_dependency(up, &names[i]).unwrap();
    }
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Success);
}
