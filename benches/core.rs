//! Core benchmarks (issue 2). Run: `cargo bench --bench core`.
//!
//! Prints per-task overhead of no-op tasks (chain and fan-out, 1 and 2
//! workers, memory and SQLite backends) and the latency of
//! `list_runs(limit = 10)` on SQLite histories of growing size.
//! Set DORCH_BENCH_QUICK=1 to skip the 1,000,000-run history.

use dremioorch::{
    Backend, BackendRef, MemoryBackend, Pipeline, PipelineRun, RunStatus, SqliteBackend, Task,
    TaskStatus,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dorch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Chain,
    FanOut,
}

fn build(shape: Shape, n: usize, workers: usize, backend: BackendRef) -> Pipeline {
    let mut p = Pipeline::with_backend(format!("bench_{n}"), backend).unwrap();
    p.set_max_workers(workers).unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("task_{i:05}")).collect();
    for name in &names {
        p.add_task(Task::new(name.clone(), |_| Ok(()))).unwrap();
    }
    for i in 1..n {
        let up = if shape == Shape::Chain {
            &names[i - 1]
        } else {
            &names[0]
        };
        p.add_dependency(up, &names[i]).unwrap();
    }
    p
}

/// Microseconds per task for one run (best of `reps`), whole run included:
/// both save_run calls and 2 status updates per task.
fn per_task_us(shape: Shape, n: usize, workers: usize, backend: BackendRef, reps: usize) -> f64 {
    let p = build(shape, n, workers, backend);
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        let r = p.run().unwrap();
        let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        assert_eq!(r.status(), RunStatus::Success);
        best = best.min(us);
    }
    best
}

fn fill_history(b: &SqliteBackend, path: &std::path::Path, target: usize) {
    // Bulk-load through a second connection in big transactions; the backend
    // under test then sees an ordinary file with `target` runs.
    let _ = b;
    let mut c = rusqlite::Connection::open(path).unwrap();
    let have: i64 = c
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    let have = have as usize;
    let tx = c.transaction().unwrap();
    {
        let mut st = tx
            .prepare("INSERT INTO runs (run_id, pipeline_name, start_time, end_time, status, tasks) VALUES (?1, ?2, ?3, ?4, 'SUCCESS', ?5)")
            .unwrap();
        let tasks = r#"{"extract":"SUCCESS","transform":"SUCCESS","load":"SUCCESS"}"#;
        for i in have..target {
            let start = 1.6e9 + i as f64;
            st.execute(rusqlite::params![
                format!("run-{i:08}"),
                format!("pipeline_{}", i % 10),
                start,
                start + 3.0,
                tasks
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn list_us(b: &SqliteBackend, pipeline: Option<&str>) -> f64 {
    let iters = 2000;
    for _ in 0..100 {
        b.list_runs(pipeline, 10).unwrap();
    }
    let t = Instant::now();
    for _ in 0..iters {
        let r = b.list_runs(pipeline, 10).unwrap();
        assert_eq!(r.len(), 10);
    }
    t.elapsed().as_secs_f64() * 1e6 / iters as f64
}

fn main() {
    let quick = std::env::var_os("DORCH_BENCH_QUICK").is_some();
    println!("dremioorch core benchmarks (per-task figures: best of 3 runs, whole run included)");
    println!(
        "{:<10} {:<8} {:>7} {:>8} {:>14}",
        "backend", "shape", "tasks", "workers", "us/task"
    );
    for (bname, shape, n, workers) in [
        ("memory", Shape::Chain, 10_000, 1),
        ("memory", Shape::Chain, 10_000, 2),
        ("memory", Shape::FanOut, 10_000, 1),
        ("memory", Shape::FanOut, 10_000, 2),
        ("sqlite", Shape::Chain, 100, 1),
        ("sqlite", Shape::Chain, 10_000, 1),
        ("sqlite", Shape::Chain, 10_000, 2),
        ("sqlite", Shape::FanOut, 10_000, 1),
        ("sqlite", Shape::FanOut, 10_000, 2),
    ] {
        let backend: BackendRef = if bname == "memory" {
            Arc::new(MemoryBackend::new())
        } else {
            Arc::new(SqliteBackend::open(tmp(&format!("tasks_{n}_{workers}.db"))).unwrap())
        };
        let us = per_task_us(shape, n, workers, backend, 3);
        let s = if shape == Shape::Chain {
            "chain"
        } else {
            "fan-out"
        };
        println!("{bname:<10} {s:<8} {n:>7} {workers:>8} {us:>14.2}");
    }

    println!();
    println!("sqlite list_runs(limit = 10), mean of 2000 calls");
    println!(
        "{:>10} {:>14} {:>22}",
        "runs", "all (us)", "one pipeline (us)"
    );
    let path = tmp("history.db");
    let b = SqliteBackend::open(&path).unwrap();
    let sizes: &[usize] = if quick {
        &[1_000, 100_000]
    } else {
        &[1_000, 100_000, 1_000_000]
    };
    for &size in sizes {
        fill_history(&b, &path, size);
        let all = list_us(&b, None);
        let one = list_us(&b, Some("pipeline_3"));
        println!("{size:>10} {all:>14.1} {one:>22.1}");
    }
    // A live run in the history, so the merge path is measured too.
    let live = PipelineRun {
        pipeline_name: "pipeline_3".into(),
        run_id: "live".into(),
        start_time: 3e9,
        end_time: None,
        status: RunStatus::Running,
        tasks: Default::default(),
    };
    b.save_run(&live).unwrap();
    b.update_task_status("live", "t", TaskStatus::Running)
        .unwrap();
    println!(
        "{:>10} {:>14.1} {:>22.1}   (with one live run being updated)",
        sizes[sizes.len() - 1],
        list_us(&b, None),
        list_us(&b, Some("pipeline_3"))
    );
}
