//! Peak memory per task of a very large pipeline, build plus run.
//! Run: `cargo bench --bench rss` (N = 1,000,000), or with another N:
//! `cargo bench --bench rss -- 100000` or DORCH_RSS_N=100000.
//!
//! For a chain (each task depends on the previous one) and a fan-out (one
//! root, every other task depends on it) of N no-op tasks named
//! `task_0000001`..., the bench re-executes itself (argument
//! `--rss-child N SHAPE`) so each measurement gets a fresh process. The
//! child builds the pipeline on the memory backend
//! (`Pipeline::with_backend(name, Arc::new(MemoryBackend::new()))`, 1
//! worker; names are formatted on the fly, the child keeps no list of
//! them), runs it once, keeps the run result, and then reads its peak
//! resident set size (VmHWM in /proc/self/status). Printed: that peak minus
//! the peak of the same child with N = 1, divided by N (bytes per task),
//! both after building (before the run) and at the end, and the child's
//! build and run times. Linux only (/proc).

use dremioorch::{MemoryBackend, Pipeline, RunStatus, Task};
use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

/// A field of /proc/self/status, in kB.
fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn name(buf: &mut String, i: usize) -> &str {
    buf.clear();
    write!(buf, "task_{i:07}").unwrap();
    buf
}

/// Builds and runs one pipeline; prints `build_peak_kb peak_kb build_s run_s`.
fn child(n: usize, fan_out: bool) {
    let t = Instant::now();
    let mut p = Pipeline::with_backend("rss", Arc::new(MemoryBackend::new())).unwrap();
    let (mut up, mut down) = (String::new(), String::new());
    for i in 0..n {
        p.add_task(Task::new(name(&mut up, i).to_owned(), |_| Ok(())))
            .unwrap();
    }
    for i in 1..n {
        let u = if fan_out { 0 } else { i - 1 };
        p.add_dependency(name(&mut up, u), name(&mut down, i))
            .unwrap();
    }
    let build = t.elapsed().as_secs_f64();
    let build_peak = status_kb("VmHWM:");
    let t = Instant::now();
    let r = p.run().unwrap();
    let run = t.elapsed().as_secs_f64();
    assert_eq!(r.status(), RunStatus::Success);
    let peak = status_kb("VmHWM:");
    println!("{build_peak} {peak} {build} {run}");
    drop(r);
    drop(p);
}

/// What a child process reports.
struct Child {
    /// VmHWM after building, before running (kB).
    build_peak: u64,
    /// VmHWM after the run (kB).
    peak: u64,
    build_s: f64,
    run_s: f64,
}

fn measure(n: usize, shape: &str) -> Child {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--rss-child", &n.to_string(), shape])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    let f: Vec<&str> = s.split_whitespace().collect();
    Child {
        build_peak: f[0].parse().unwrap(),
        peak: f[1].parse().unwrap(),
        build_s: f[2].parse().unwrap(),
        run_s: f[3].parse().unwrap(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--rss-child") {
        child(args[1].parse().expect("tasks"), args[2] == "fan-out");
        return;
    }
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or_else(|| {
        std::env::var("DORCH_RSS_N").map_or(1_000_000, |v| v.parse().expect("DORCH_RSS_N"))
    });
    assert!(n > 1, "N must be at least 2");
    println!(
        "peak RSS per task (VmHWM of a child process: N no-op tasks, memory backend, \
         1 worker, minus the same child with N = 1)"
    );
    println!("  after build = peak of building the pipeline; build+run = peak at the end");
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>12} {:>16} {:>8} {:>10} {:>8} {:>10}",
        "shape",
        "tasks",
        "peak MiB",
        "base MiB",
        "B/task build",
        "B/task build+run",
        "build s",
        "build ns/t",
        "run s",
        "run ns/t"
    );
    for shape in ["chain", "fan-out"] {
        let base = measure(1, shape);
        let c = measure(n, shape);
        let per_task = |kb: u64, base: u64| kb.saturating_sub(base) as f64 * 1024.0 / n as f64;
        println!(
            "{shape:<8} {n:>9} {:>9.1} {:>9.1} {:>12.0} {:>16.0} {:>8.2} {:>10.0} {:>8.2} {:>10.0}",
            c.peak as f64 / 1024.0,
            base.peak as f64 / 1024.0,
            per_task(c.build_peak, base.build_peak),
            per_task(c.peak, base.peak),
            c.build_s,
            c.build_s * 1e9 / n as f64,
            c.run_s,
            c.run_s * 1e9 / n as f64
        );
    }
}
