//! The SQLite chain beside its floor. Run: `cargo bench --bench sqlite_floor`.
//!
//! Prints the per-task cost of a 10,000-task no-op chain (1 worker) on
//! `SqliteBackend`, and of a bare rusqlite loop doing the writes such a run
//! makes, on a file with the same settings (WAL, `synchronous=NORMAL`) and
//! the same tables: the run's row at the start; per task, one autocommit
//! statement upserting two live task rows (the finished task's final status
//! and the next one's RUNNING, with their detail); at the end, one
//! transaction writing the run's record with its tasks JSON, moving the
//! live rows to the detail table and deleting them. No engine, no
//! scheduling, no checks: what the engine's writes cost at best. The
//! values are those a run writes (a random UUID run id, clock times, the
//! initial tasks JSON of PENDING statuses): SQLite stores a whole-number
//! time in fewer bytes and appends increasing keys at the end of its trees,
//! so made-up values would make the floor cheaper than the same writes.
//! Not in the floor: the run's lease row and its DAG rows (a few writes a
//! run). Best of 5 rounds each, alternating; the ratio is the engine's
//! overhead over the floor.

use dremioorch::{now_seconds, Pipeline, RunStatus, SqliteBackend, Task};
use rusqlite::{params, Connection};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const TASKS: usize = 10_000;
/// Rounds of each, alternating: a round on a busy machine can be slowed by
/// a WAL checkpoint's disk syncs, so the best of several is compared.
const ROUNDS: usize = 5;

fn fresh(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dorch-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

fn chain(backend: Arc<SqliteBackend>) -> Pipeline {
    let mut p = Pipeline::with_backend("floor_chain", backend).unwrap();
    let names: Vec<String> = (0..TASKS).map(|i| format!("task_{i:05}")).collect();
    for n in &names {
        p.add_task(Task::new(n.clone(), |_| Ok(()))).unwrap();
    }
    for w in names.windows(2) {
        p.add_dependency(&w[0], &w[1]).unwrap();
    }
    p
}

/// Microseconds per task of one engine run.
fn engine_round(p: &Pipeline) -> f64 {
    let t = Instant::now();
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Success);
    t.elapsed().as_secs_f64() * 1e6 / TASKS as f64
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, pipeline_name TEXT, start_time REAL,
    status TEXT, end_time REAL, tasks TEXT);
CREATE TABLE IF NOT EXISTS dorch_task_state (run_id TEXT NOT NULL, task_name TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER, start_time REAL, end_time REAL, error TEXT,
    PRIMARY KEY (run_id, task_name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dorch_task_detail (run_id TEXT NOT NULL, task_name TEXT NOT NULL,
    attempts INTEGER, start_time REAL, end_time REAL, error TEXT,
    PRIMARY KEY (run_id, task_name)) WITHOUT ROWID;";

/// The run's tasks JSON with every task at `status`.
fn tasks_json(names: &[String], status: &str) -> String {
    let mut tasks = serde_json::Map::new();
    for name in names {
        tasks.insert(name.clone(), status.into());
    }
    serde_json::Value::Object(tasks).to_string()
}

/// Microseconds per task of the bare loop.
fn floor_round(conn: &mut Connection, names: &[String]) -> f64 {
    let t = Instant::now();
    let run_id = uuid::Uuid::new_v4().to_string();
    conn.execute(
        "INSERT INTO runs (run_id, pipeline_name, start_time, status, end_time, tasks)
         VALUES (?1, 'floor_chain', ?2, 'RUNNING', NULL, ?3)",
        params![run_id, now_seconds(), tasks_json(names, "PENDING")],
    )
    .unwrap();
    let mut prev_start = now_seconds();
    let mut prev: Option<&str> = None;
    for name in names {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO dorch_task_state
                   (run_id, task_name, status, attempts, start_time, end_time, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL), (?1, ?7, 'RUNNING', 1, ?8, NULL, NULL)
                 ON CONFLICT (run_id, task_name) DO UPDATE SET status = excluded.status,
                   attempts = excluded.attempts, start_time = excluded.start_time,
                   end_time = excluded.end_time, error = excluded.error",
            )
            .unwrap();
        // The first task has no finished predecessor: it writes itself twice.
        let done = prev.unwrap_or(name);
        let (end, start) = (now_seconds(), now_seconds());
        st.execute(params![
            run_id,
            done,
            if prev.is_some() { "SUCCESS" } else { "RUNNING" },
            1,
            prev_start,
            prev.map(|_| end),
            name,
            start
        ])
        .unwrap();
        prev = Some(name);
        prev_start = start;
    }
    let tasks = tasks_json(names, "SUCCESS");
    let tx = conn.transaction().unwrap();
    tx.execute(
        "UPDATE runs SET status = 'SUCCESS', end_time = ?3, tasks = ?2 WHERE run_id = ?1",
        params![run_id, tasks, now_seconds()],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO dorch_task_detail (run_id, task_name, attempts, start_time, end_time, error)
         SELECT run_id, task_name, attempts, start_time, end_time, error
         FROM dorch_task_state WHERE run_id = ?1",
        [&run_id],
    )
    .unwrap();
    tx.execute("DELETE FROM dorch_task_state WHERE run_id = ?1", [&run_id])
        .unwrap();
    tx.commit().unwrap();
    t.elapsed().as_secs_f64() * 1e6 / TASKS as f64
}

fn main() {
    let p = chain(Arc::new(SqliteBackend::open(fresh("engine.db")).unwrap()));
    let mut conn = Connection::open(fresh("floor.db")).unwrap();
    conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
        .unwrap();
    conn.execute_batch("PRAGMA synchronous=NORMAL;").unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    let names: Vec<String> = (0..TASKS).map(|i| format!("task_{i:05}")).collect();

    let (mut engine, mut floor) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        engine = engine.min(engine_round(&p));
        floor = floor.min(floor_round(&mut conn, &names));
    }
    println!("SQLite, 10,000-task no-op chain, 1 worker (best of {ROUNDS}, alternating)");
    println!("{:<44} {:>10}", "", "us/task");
    println!("{:<44} {engine:>10.2}", "dremioorch (SqliteBackend)");
    println!(
        "{:<44} {floor:>10.2}",
        "bare rusqlite loop, same writes (floor)"
    );
    println!(
        "{:<44} {:>9.2}x   (target: at most 1.15x)",
        "dremioorch / floor",
        engine / floor
    );
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("dorch-floor-{}", std::process::id())),
    );
}
