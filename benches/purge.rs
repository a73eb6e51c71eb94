//! Purge benchmark. Run: `cargo bench --bench purge`.
//!
//! For each backend case: a store holding `DORCH_BENCH_PURGE_RUNS` finished
//! runs (default 100,000; each with 3 task detail rows, a 100-byte stored
//! output and a lease row) and one RUNNING run. It measures
//!
//! 1. the dry run (a count) and the real purge alone: total time, and, where
//!    the backend can tell, the time of each batch transaction (how long it
//!    held the write lock);
//! 2. the purge again on a fresh store while a second backend on the same
//!    store keeps writing the RUNNING run's task updates: the longest any
//!    single write waited, and how many writes went through.
//!
//! Cases are listed in [`cases`]; a server backend is added there with a
//! setup function that fills its tables (see `sqlite_case`).

use dremioorch::{Backend, PipelineRun, RunStatus, SqliteBackend, TaskStatus, TaskUpdate};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A store ready to purge: the backend that purges, a second one on the
/// same store for the concurrent writer, and (when the backend can report
/// them) a purge that returns its batch times.
struct Store {
    purger: Box<dyn Backend>,
    writer: Box<dyn Backend>,
    timed_purge: Option<TimedPurge>,
}

/// Purges everything that started before `before`; returns the count and
/// how long each batch transaction took.
type TimedPurge = Box<dyn Fn(f64) -> (u64, Vec<Duration>)>;

/// One backend to measure: `setup(n)` returns a fresh store holding `n`
/// finished runs (start times 1000.0 + i) and one RUNNING run `live`.
struct Case {
    name: &'static str,
    setup: Box<dyn Fn(usize) -> Store>,
}

/// Every case to run. A PostgreSQL (or MySQL) case goes here: fill the
/// server's tables the same way as [`fill_sqlite`] and return its backends.
fn cases() -> Vec<Case> {
    vec![Case {
        name: "sqlite",
        setup: Box::new(sqlite_case),
    }]
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dorch-bench-purge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

fn live_run() -> PipelineRun {
    PipelineRun {
        pipeline_name: "p".into(),
        run_id: "live".into(),
        start_time: 500.0,
        end_time: None,
        status: RunStatus::Running,
        tasks: Default::default(),
    }
}

fn sqlite_case(n: usize) -> Store {
    let path = tmp("purge.db");
    let b = SqliteBackend::open(&path).unwrap();
    b.save_run(&live_run()).unwrap();
    fill_sqlite(&path, n);
    let purger = SqliteBackend::open(&path).unwrap();
    let timed = SqliteBackend::open(&path).unwrap();
    Store {
        purger: Box::new(purger),
        writer: Box::new(b),
        timed_purge: Some(Box::new(move |before| {
            timed.purge_batches(before, None).unwrap()
        })),
    }
}

/// Fills the SQLite file with `n` finished runs and their rows in one
/// transaction, one statement per table.
fn fill_sqlite(path: &std::path::Path, n: usize) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("BEGIN").unwrap();
    c.execute(
        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?1)
         INSERT INTO runs SELECT printf('run-%08d', i), 'pipeline_' || (i % 10), 1000.0 + i,
           1003.0 + i, CASE i % 5 WHEN 0 THEN 'FAILED' ELSE 'SUCCESS' END,
           '{\"extract\":\"SUCCESS\",\"transform\":\"SUCCESS\",\"load\":\"SUCCESS\"}' FROM k",
        [n as i64],
    )
    .unwrap();
    c.execute_batch(
        "INSERT INTO dorch_task_detail
           SELECT r.run_id, t.name, 1, r.start_time, r.end_time, NULL
           FROM runs r, (SELECT 'extract' AS name UNION ALL SELECT 'transform'
                         UNION ALL SELECT 'load') t
           WHERE r.status != 'RUNNING';
         INSERT INTO dorch_task_output
           SELECT run_id, 'load', 100, randomblob(100) FROM runs WHERE status != 'RUNNING';
         INSERT INTO dorch_run_meta
           SELECT run_id, end_time, 2.0, NULL FROM runs WHERE status != 'RUNNING';
         COMMIT",
    )
    .unwrap();
}

/// Writes the live run's task updates (a final status and the next RUNNING,
/// as a run does) until `stop`; returns the writes and the longest one.
fn keep_writing(b: &dyn Backend, stop: &AtomicBool) -> (u64, Duration) {
    let names: Vec<String> = (0..100).map(|i| format!("task_{i:03}")).collect();
    let (mut writes, mut worst) = (0u64, Duration::ZERO);
    while !stop.load(Ordering::SeqCst) {
        let i = writes as usize;
        let t = Instant::now();
        b.update_tasks(
            "live",
            &[
                up(&names[i % 100], TaskStatus::Success),
                up(&names[(i + 1) % 100], TaskStatus::Running),
            ],
        )
        .unwrap();
        worst = worst.max(t.elapsed());
        writes += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    (writes, worst)
}

/// A task's update as a run writes it (no output: the usual write).
fn up(task: &str, status: TaskStatus) -> TaskUpdate<'_> {
    TaskUpdate {
        task,
        status,
        attempts: 1,
        start_time: Some(1.0),
        end_time: None,
        error: None,
        output: None,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let n: usize = std::env::var("DORCH_BENCH_PURGE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let before = 1e12;
    println!(
        "dremioorch purge benchmark: {n} finished runs (3 detail rows, 1 output, 1 lease each)"
    );
    for case in cases() {
        // 1. The purge alone.
        let store = (case.setup)(n);
        let t = Instant::now();
        let counted = store.purger.purge(before, None, true).unwrap();
        let dry = t.elapsed();
        assert_eq!(counted, n as u64);
        let t = Instant::now();
        let (purged, batches) = match &store.timed_purge {
            Some(timed) => timed(before),
            None => (store.purger.purge(before, None, false).unwrap(), Vec::new()),
        };
        let total = t.elapsed();
        assert_eq!(purged, n as u64);
        println!("RESULT {} purge_dry_run_ms {:.1}", case.name, ms(dry));
        println!("RESULT {} purge_total_ms {:.1}", case.name, ms(total));
        if !batches.is_empty() {
            let mut sorted = batches.clone();
            sorted.sort();
            let held: Duration = batches.iter().sum();
            println!("RESULT {} purge_batches {}", case.name, batches.len());
            println!("RESULT {} purge_lock_held_ms {:.1}", case.name, ms(held));
            println!(
                "RESULT {} purge_batch_median_ms {:.2}",
                case.name,
                ms(sorted[sorted.len() / 2])
            );
            println!(
                "RESULT {} purge_batch_max_ms {:.2}",
                case.name,
                ms(*sorted.last().unwrap())
            );
        }
        drop(store);

        // 2. The purge with a writer beside it.
        let store = (case.setup)(n);
        let stop = AtomicBool::new(false);
        let (total, (writes, worst)) = std::thread::scope(|s| {
            let w = s.spawn(|| keep_writing(store.writer.as_ref(), &stop));
            std::thread::sleep(Duration::from_millis(50));
            let t = Instant::now();
            assert_eq!(store.purger.purge(before, None, false).unwrap(), n as u64);
            let total = t.elapsed();
            stop.store(true, Ordering::SeqCst);
            (total, w.join().unwrap())
        });
        println!(
            "RESULT {} purge_with_writer_total_ms {:.1}",
            case.name,
            ms(total)
        );
        println!("RESULT {} writer_writes {writes}", case.name);
        println!("RESULT {} writer_worst_wait_ms {:.2}", case.name, ms(worst));
    }
}
