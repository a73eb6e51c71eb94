//! Per-task overhead of remote tasks: a fan-out of 1,000 no-op remote tasks
//! through the local Redis, served by 1 and by 4 worker processes (the
//! `remote_worker` example), beside the same fan-out of local no-op tasks.
//!
//! Run with `benches/remote.sh` (builds the worker, and runs Celery beside
//! it), or `cargo bench --bench remote` once
//! `cargo build --release --example remote_worker` is done.
//! `DORCH_BENCH_REDIS_URL` overrides redis://127.0.0.1:6379.

use dremioorch::{Pipeline, RedisExecutor, RemoteOptions, RunStatus, Task};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const TASKS: usize = 1000;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.0.stdin.take()); // stops it
        let _ = self.0.wait();
    }
}

fn main() {
    let url =
        std::env::var("DORCH_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let root = env!("CARGO_MANIFEST_DIR");
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{root}/target"));
    let bin = std::env::var("DORCH_REMOTE_WORKER")
        .unwrap_or_else(|_| format!("{target}/release/examples/remote_worker"));
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} missing: run `cargo build --release --example remote_worker`"
    );
    let conc: usize = std::env::var("DORCH_BENCH_WORKER_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);

    // Local no-op tasks, for reference.
    let mut p = Pipeline::new("bench_local").unwrap();
    p.set_max_workers(64).unwrap();
    for i in 0..TASKS {
        p.add_task(Task::new(format!("t{i}"), |_| Ok(()))).unwrap();
    }
    let t0 = Instant::now();
    assert_eq!(p.run().unwrap().status(), RunStatus::Success);
    let local = t0.elapsed();
    println!(
        "local fan-out {TASKS}: {:.1} ms, {:.1} us per task",
        local.as_secs_f64() * 1e3,
        local.as_secs_f64() * 1e6 / TASKS as f64
    );

    for procs in [1usize, 4] {
        let queue = format!("dorch_bench_remote_{}_{procs}", std::process::id());
        let workers: Vec<Proc> = (0..procs)
            .map(|_| {
                let mut c = Command::new(&bin)
                    .args([&url, &queue, "--concurrency", &conc.to_string()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("worker starts");
                let mut line = String::new();
                BufReader::new(c.stdout.as_mut().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                Proc(c)
            })
            .collect();
        let exec = RedisExecutor::new(&url, &queue, RemoteOptions::new()).unwrap();
        let mut best = f64::MAX;
        for round in 0..3 {
            let mut p = Pipeline::new("bench_remote").unwrap();
            p.set_max_workers(64).unwrap();
            for i in 0..TASKS {
                p.add_task(exec.task_running(format!("t{i}"), "noop"))
                    .unwrap();
            }
            let t0 = Instant::now();
            let r = p.run().unwrap();
            let el = t0.elapsed().as_secs_f64();
            assert_eq!(r.status(), RunStatus::Success);
            if round > 0 || procs > 1 {
                best = best.min(el);
            }
        }
        println!(
            "remote fan-out {TASKS}, {procs} worker process(es) x concurrency {conc}: {:.1} ms, {:.0} us per task",
            best * 1e3,
            best * 1e6 / TASKS as f64
        );
        drop(workers);
        if let Ok(c) = redis::Client::open(url.as_str()) {
            if let Ok(mut c) = c.get_connection() {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{queue}:*"))
                    .query(&mut c)
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _ = redis::cmd("DEL").arg(keys).query::<i64>(&mut c);
                }
            }
        }
    }
}
