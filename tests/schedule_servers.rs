//! Once across processes: three processes schedule the same name on one
//! shared backend (SQLite, PostgreSQL, MariaDB); each fire time runs once in
//! all, and when one process is killed the others keep firing.
//!
//! The processes are this test binary run again in "child" mode (the
//! `sched_child` test, which does nothing unless `DORCH_SCHED_CHILD` is set).

mod server_support;

use dremioorch::schedule::{Schedule, Scheduler, Spec};
use dremioorch::{Pipeline, Task};
use server_support::{mysql_url, pg_dsn, unique_table};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "DORCH_SCHED_CHILD";
const INTERVAL_MS: u64 = 500;

/// Child mode: `url|pipeline|run_for_ms`. Schedules "shared" every 500 ms
/// with `url` as both history and claims backend, for `run_for_ms`.
#[test]
fn sched_child() {
    let Ok(args) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = args.split('|').collect();
    let (url, pipeline, run_for) = (parts[0], parts[1], parts[2].parse::<u64>().unwrap());
    let backend = dremioorch::backend::open(url).unwrap();
    let mut p = Pipeline::with_backend(pipeline, backend.clone()).unwrap();
    p.add_task(Task::new("work", |ctx| {
        ctx.sleep(Duration::from_millis(20))?;
        Ok(())
    }))
    .unwrap();
    let s = Scheduler::new(Some(backend));
    let spec = Spec::interval(Duration::from_millis(INTERVAL_MS)).unwrap();
    s.add("shared", Arc::new(p), Schedule::new(spec)).unwrap();
    s.start().unwrap();
    println!("child started");
    std::thread::sleep(Duration::from_millis(run_for));
    s.stop(false);
}

fn spawn_child(url: &str, pipeline: &str, run_for_ms: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sched_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{url}|{pipeline}|{run_for_ms}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn check_once_across_processes(url: &str) {
    let pipeline = unique_table("sched");
    let backend = dremioorch::backend::open(url).unwrap();
    let t0 = dremioorch::now_seconds();
    let mut children: Vec<Child> = (0..3).map(|_| spawn_child(url, &pipeline, 5_000)).collect();
    // Let every process start firing, then kill one mid-schedule.
    std::thread::sleep(Duration::from_millis(2_000));
    children[0].kill().unwrap();
    children[0].wait().unwrap();
    let killed_at = dremioorch::now_seconds();
    for c in &mut children[1..] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                assert!(status.success(), "{url}: child failed: {status}");
                break;
            }
            assert!(Instant::now() < deadline, "{url}: a child hangs");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let t1 = dremioorch::now_seconds();
    let runs = backend.list_runs(Some(&pipeline), 10_000).unwrap();
    let mut starts: Vec<f64> = runs.iter().map(|r| r.start_time).collect();
    starts.sort_by(f64::total_cmp);
    // Each fire time ran once in all. Interval fires are the multiples of
    // the interval since the epoch and a run starts after its fire time, so
    // a run's fire is the multiple at or before its start, as long as it
    // started less than one interval late (a loaded machine delays a start
    // by tens of milliseconds, not 500).
    let interval = INTERVAL_MS as f64 / 1000.0;
    let fires: Vec<i64> = starts
        .iter()
        .map(|s| (s / interval).floor() as i64)
        .collect();
    for w in fires.windows(2) {
        assert!(
            w[0] != w[1],
            "{url}: fire {} ran twice: {starts:?}",
            w[0] as f64 * interval
        );
    }
    // About one run per fire time while the processes ran (start-up takes
    // a moment on a loaded machine: generous margin).
    let span = t1 - t0;
    let most = (span / interval).ceil() as usize + 1;
    assert!(
        starts.len() >= 5 && starts.len() <= most,
        "{url}: {} runs in {span:.1} s",
        starts.len()
    );
    // The killed process's schedule kept firing from the others.
    let after = starts.iter().filter(|s| **s > killed_at + 0.3).count();
    assert!(after >= 3, "{url}: {after} runs after the kill: {starts:?}");
    // The schedule is recorded with its last fire.
    let recs = backend.list_schedules().unwrap();
    let rec = recs.iter().find(|r| r.name == "shared").expect("recorded");
    assert_eq!(rec.pipeline, pipeline);
    assert_eq!(rec.spec, "every 500 ms");
    assert_eq!(rec.overlap, "skip");
    let last = rec.last_fire.expect("a last fire");
    assert!(
        last >= starts.last().unwrap().floor() - 1.0,
        "{last} vs {starts:?}"
    );
    // A claim is refused once made.
    assert!(backend.claim_fire("probe", 1_000, "me").unwrap());
    assert!(!backend.claim_fire("probe", 1_000, "other").unwrap());
    assert!(backend.claim_fire("probe", 1_250, "other").unwrap());
}

#[test]
fn once_across_processes_sqlite() {
    let dir = std::env::temp_dir().join(unique_table("sched_sqlite"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:///{}", dir.join("history.db").display());
    check_once_across_processes(&url);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn once_across_processes_postgres() {
    let dsn = pg_dsn();
    // The key=value DSN as a URL with the test's own table.
    let mut host = "127.0.0.1".to_string();
    let mut port = "5432".to_string();
    let mut user = "postgres".to_string();
    let mut db = "test".to_string();
    for kv in dsn.split_whitespace() {
        match kv.split_once('=') {
            Some(("host", v)) => host = v.into(),
            Some(("port", v)) => port = v.into(),
            Some(("user", v)) => user = v.into(),
            Some(("dbname", v)) => db = v.into(),
            _ => {}
        }
    }
    let table = unique_table("schedpg");
    check_once_across_processes(&format!(
        "postgresql://{user}@{host}:{port}/{db}?table={table}"
    ));
}

#[test]
fn once_across_processes_mariadb() {
    let table = unique_table("schedmy");
    check_once_across_processes(&format!("{}?table={table}", mysql_url()));
}
