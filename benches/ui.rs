//! Web UI server times on a 1,000,000-run SQLite history:
//! `GET /api/runs?limit=50` (first page and a deep page with a pipeline
//! filter) and `GET /api/runs/{id}` of a 10,000-task run, median and p95 of
//! 100 requests each (client-measured round trips on 127.0.0.1).
//!
//! `cargo bench --bench ui`. The history is built once into
//! `target/ui-bench/history.db` (kept: the browser test measures its page
//! load on it); `UI_BENCH_RUNS` changes the run count.

use dremioorch::ui::{Ui, UiOptions};
use dremioorch::{Backend, BackendRef, RunDag, SqliteBackend};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: usize = 10_000;
const BIG_RUN: &str = "big-run-10000-tasks";

fn build(path: &std::path::Path, runs: usize) {
    let started = Instant::now();
    let _ = std::fs::remove_file(path);
    drop(SqliteBackend::open(path).unwrap()); // our schema and indexes
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut st = tx
            .prepare(
                "INSERT INTO runs (run_id, pipeline_name, start_time, end_time, status, tasks) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .unwrap();
        let pipelines = ["etl", "reports", "ingest", "nightly", "ml_train"];
        let t0 = 1_700_000_000.0;
        for i in 0..runs {
            let start = t0 + i as f64 * 10.0;
            let status = if i % 17 == 0 { "FAILED" } else { "SUCCESS" };
            let tasks = if status == "FAILED" {
                r#"{"extract":"SUCCESS","transform":"FAILED","load":"SKIPPED"}"#
            } else {
                r#"{"extract":"SUCCESS","transform":"SUCCESS","load":"SUCCESS"}"#
            };
            st.execute(rusqlite::params![
                format!("run-{i:08}"),
                pipelines[i % pipelines.len()],
                start,
                start + 5.0,
                status,
                tasks
            ])
            .unwrap();
        }
        let tasks: serde_json::Map<String, serde_json::Value> = (0..TASKS)
            .map(|i| (format!("task_{i:05}"), "SUCCESS".into()))
            .collect();
        let start = t0 + runs as f64 * 10.0;
        st.execute(rusqlite::params![
            BIG_RUN,
            "wide",
            start,
            start + 60.0,
            "SUCCESS",
            serde_json::Value::Object(tasks).to_string()
        ])
        .unwrap();
    }
    tx.commit().unwrap();
    let b = SqliteBackend::open(path).unwrap();
    let dag = RunDag {
        tasks: (0..TASKS).map(|i| format!("task_{i:05}")).collect(),
        edges: (1..TASKS)
            .map(|i| (format!("task_{:05}", i / 2), format!("task_{i:05}")))
            .collect(),
    };
    b.save_dag(BIG_RUN, "wide", &dag).unwrap();
    println!(
        "built {} runs + one {TASKS}-task run in {:.1} s",
        runs,
        started.elapsed().as_secs_f64()
    );
}

fn get(addr: SocketAddr, path: &str) -> (u16, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let status = std::str::from_utf8(&raw[9..12]).unwrap().parse().unwrap();
    (status, raw.len())
}

fn measure(addr: SocketAddr, label: &str, path: &str, target_ms: f64) {
    let _ = get(addr, path); // warm up
    let mut times: Vec<Duration> = (0..100)
        .map(|_| {
            let t = Instant::now();
            let (status, _) = get(addr, path);
            assert_eq!(status, 200, "{path}");
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (_, bytes) = get(addr, path);
    println!(
        "{label:<44} median {:>7.2} ms  p95 {:>7.2} ms  ({bytes} bytes; target < {target_ms} ms)",
        ms(times[50]),
        ms(times[95])
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("ui: bench");
        return;
    }
    let runs: usize = std::env::var("UI_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.db");
    let ready = SqliteBackend::open(&path)
        .ok()
        .and_then(|b| b.get_run(BIG_RUN).ok().flatten())
        .is_some()
        && std::env::var("UI_BENCH_REBUILD").is_err();
    if !ready {
        build(&path, runs);
    } else {
        println!("using {}", path.display());
    }
    let backend: BackendRef = Arc::new(SqliteBackend::open(&path).unwrap());
    let ui = Ui::start(
        backend,
        UiOptions {
            listen: Some("127.0.0.1:0".into()),
            ..UiOptions::default()
        },
    )
    .unwrap();
    let a = ui.address();
    measure(
        a,
        "GET /api/runs (dremioframe's 50 newest)",
        "/api/runs",
        20.0,
    );
    measure(a, "GET /api/runs?limit=50", "/api/runs?limit=50", 20.0);
    measure(
        a,
        "GET /api/runs?pipeline=etl&limit=50&before=mid",
        &format!(
            "/api/runs?pipeline=etl&limit=50&before={}",
            1_700_000_000.0 + runs as f64 * 5.0
        ),
        20.0,
    );
    measure(
        a,
        "GET /api/runs?status=FAILED&limit=50",
        "/api/runs?status=FAILED&limit=50",
        20.0,
    );
    measure(
        a,
        "GET /api/runs/{id} (10,000 tasks, DAG)",
        &format!("/api/runs/{BIG_RUN}"),
        100.0,
    );
}
