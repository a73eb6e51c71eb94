//! Server backends on the local PostgreSQL and MySQL/MariaDB servers:
//! per-task overhead of a 2,000-task chain and a 2,000-task fan-out (4
//! workers, every status change committed), and list_runs(limit = 10) over
//! 100,000 runs of history. `cargo bench --bench servers`; benches/servers.sh
//! runs it beside dremioframe's own backends.
//!
//! Servers: DORCH_TEST_PG_DSN (default host=127.0.0.1 port=5432
//! user=postgres dbname=test), DORCH_TEST_MYSQL_URL (default
//! mysql://root@127.0.0.1:3306/test). Each bench uses tables of its own,
//! dropped at the end. Lines starting with `RESULT` are for the wrapper.

use dremioorch::backend::{MySqlBackend, PostgresBackend, ServerOptions};
use dremioorch::{BackendRef, MemoryBackend, Pipeline, Task};
use mysql::prelude::Queryable;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: usize = 2000;
const HISTORY: usize = 100_000;
const WORKERS: usize = 4;

fn pg_dsn() -> String {
    std::env::var("DORCH_TEST_PG_DSN")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".into())
}

fn mysql_url() -> String {
    std::env::var("DORCH_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

fn chain(backend: BackendRef) -> Pipeline {
    let mut p = Pipeline::with_backend("bench_chain", backend).unwrap();
    p.set_max_workers(WORKERS).unwrap();
    for i in 0..TASKS {
        p.add_task(Task::new(format!("c{i}"), |_| Ok(()))).unwrap();
        if i > 0 {
            p.add_dependency(&format!("c{}", i - 1), &format!("c{i}"))
                .unwrap();
        }
    }
    p
}

fn fan_out(backend: BackendRef) -> Pipeline {
    let mut p = Pipeline::with_backend("bench_fan", backend).unwrap();
    p.set_max_workers(WORKERS).unwrap();
    p.add_task(Task::new("root", |_| Ok(()))).unwrap();
    for i in 1..TASKS {
        p.add_task(Task::new(format!("f{i}"), |_| Ok(()))).unwrap();
        p.add_dependency("root", &format!("f{i}")).unwrap();
    }
    p
}

/// Median wall time per task over `reps` runs, in microseconds.
fn per_task_us(p: &Pipeline, reps: usize) -> f64 {
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            let r = p.run().expect("run");
            assert_eq!(r.status(), dremioorch::RunStatus::Success);
            t.elapsed().as_secs_f64() * 1e6 / TASKS as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Mean and 95th percentile of `f`, in microseconds.
fn time_calls(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..n / 10 {
        f();
    }
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v.iter().sum::<f64>() / n as f64, v[n * 95 / 100])
}

struct Figures {
    chain: f64,
    fan: f64,
    list_mean: f64,
    list_p95: f64,
    list_pipeline_mean: f64,
    get_mean: f64,
}

fn bench(name: &str, backend: BackendRef, history: BackendRef, load_history: &dyn Fn()) -> Figures {
    let mut run = dremioorch::PipelineRun {
        pipeline_name: "bench_ops".into(),
        run_id: "ops-1".into(),
        start_time: 1.0,
        end_time: None,
        status: dremioorch::RunStatus::Running,
        tasks: Default::default(),
    };
    let (save_us, _) = time_calls(300, || backend.save_run(&run).unwrap());
    let mut i = 0;
    let (update_us, _) = time_calls(1000, || {
        i += 1;
        backend
            .update_task_status(
                "ops-1",
                &format!("t{}", i % 500),
                dremioorch::TaskStatus::Running,
            )
            .unwrap()
    });
    run.end_time = Some(2.0);
    eprintln!(
        "{name}: save_run {save_us:.0} us, update_task_status {update_us:.0} us (one thread)"
    );
    let chain_us = per_task_us(&chain(backend.clone()), 3);
    let fan_us = per_task_us(&fan_out(backend.clone()), 3);
    let t = Instant::now();
    load_history();
    eprintln!(
        "{name}: loaded {HISTORY} runs of history in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Some live task rows in the newest history runs, as while runs go on.
    for i in (HISTORY - 5)..=HISTORY {
        for t in ["extract", "load"] {
            history
                .update_task_status(&format!("hist-{i}"), t, dremioorch::TaskStatus::Running)
                .unwrap();
        }
    }
    let backend = history;
    let (list_mean, list_p95) = time_calls(2000, || {
        let runs = backend.list_runs(None, 10).unwrap();
        assert_eq!(runs.len(), 10);
    });
    let (list_pipeline_mean, _) = time_calls(2000, || {
        let runs = backend.list_runs(Some("hist_pipe_3"), 10).unwrap();
        assert_eq!(runs.len(), 10);
    });
    let (get_mean, _) = time_calls(2000, || {
        assert!(backend.get_run("hist-77777").unwrap().is_some());
    });
    Figures {
        chain: chain_us,
        fan: fan_us,
        list_mean,
        list_p95,
        list_pipeline_mean,
        get_mean,
    }
}

fn report(name: &str, f: &Figures) {
    println!(
        "{name:<10} chain {:>7.1} us/task   fan-out {:>7.1} us/task   \
         list_runs(10) {:>6.3} ms (p95 {:.3})   filtered {:>6.3} ms   get_run {:>6.3} ms",
        f.chain,
        f.fan,
        f.list_mean / 1000.0,
        f.list_p95 / 1000.0,
        f.list_pipeline_mean / 1000.0,
        f.get_mean / 1000.0
    );
    println!("RESULT {name} chain_us_per_task {:.1}", f.chain);
    println!("RESULT {name} fanout_us_per_task {:.1}", f.fan);
    println!("RESULT {name} list_runs_ms {:.3}", f.list_mean / 1000.0);
    println!(
        "RESULT {name} list_runs_filtered_ms {:.3}",
        f.list_pipeline_mean / 1000.0
    );
    println!("RESULT {name} get_run_ms {:.3}", f.get_mean / 1000.0);
}

const TASKS_JSON: &str =
    r#"{"extract": "SUCCESS", "transform": "SUCCESS", "load": "SUCCESS", "notify": "SKIPPED"}"#;

fn bench_pg() -> Figures {
    let table = format!("bench_pg_{}", std::process::id());
    let admin: postgres::Client = pg_dsn()
        .parse::<postgres::Config>()
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect(postgres::NoTls)
        .expect("PostgreSQL test server");
    let _drop = Guard(Box::new({
        let table = table.clone();
        move || {
            if let Ok(mut c) = pg_dsn()
                .parse::<postgres::Config>()
                .unwrap()
                .connect(postgres::NoTls)
            {
                let _ = c.batch_execute(&format!(
                    "DROP TABLE IF EXISTS \"{table}\", \"{table}_task_state\", \
                     \"{table}_task_detail\", \"{table}_h\", \"{table}_h_task_state\", \
                     \"{table}_h_task_detail\""
                ));
            }
        }
    }));
    let backend: BackendRef =
        Arc::new(PostgresBackend::connect(Some(&pg_dsn()), Some(&table)).unwrap());
    let durable = ServerOptions {
        durable_task_updates: true,
        ..ServerOptions::default()
    };
    let durable: BackendRef =
        Arc::new(PostgresBackend::connect_with(Some(&pg_dsn()), Some(&table), &durable).unwrap());
    let durable_chain = per_task_us(&chain(durable), 1);
    println!(
        "postgres   chain {durable_chain:>7.1} us/task with durable_task_updates \
         (every status change waits for its WAL flush)"
    );
    println!("RESULT postgres chain_durable_us_per_task {durable_chain:.1}");
    let hist = format!("{table}_h");
    let history: BackendRef =
        Arc::new(PostgresBackend::connect(Some(&pg_dsn()), Some(&hist)).unwrap());
    let admin = std::cell::RefCell::new(admin);
    let table = hist;
    bench("postgres", backend, history, &|| {
        admin
            .borrow_mut()
            .batch_execute(&format!(
                "INSERT INTO \"{table}\" (run_id, pipeline_name, start_time, end_time, status, tasks)
                 SELECT 'hist-' || g, 'hist_pipe_' || (g % 10), 1.6e9 + g, 1.6e9 + g + 1,
                        'SUCCESS', '{TASKS_JSON}'::jsonb
                 FROM generate_series(1, {HISTORY}) g;
                 ANALYZE \"{table}\";"
            ))
            .unwrap();
    })
}

fn bench_mysql() -> Figures {
    let table = format!("bench_my_{}", std::process::id());
    let opts = mysql::OptsBuilder::from_opts(mysql::Opts::from_url(&mysql_url()).unwrap())
        .prefer_socket(false)
        .tcp_connect_timeout(Some(Duration::from_secs(5)));
    let admin = std::cell::RefCell::new(mysql::Conn::new(opts.clone()).expect("MySQL test server"));
    let _drop = Guard(Box::new({
        let table = table.clone();
        move || {
            if let Ok(mut c) = mysql::Conn::new(opts.clone()) {
                let _ = c.query_drop(format!(
                    "DROP TABLE IF EXISTS `{table}_task_state`, `{table}_task_detail`, \
                     `{table}`, `{table}_h_task_state`, `{table}_h_task_detail`, `{table}_h`"
                ));
            }
        }
    }));
    let backend: BackendRef =
        Arc::new(MySqlBackend::connect(Some(&mysql_url()), Some(&table)).unwrap());
    relaxed_flush_chain(&mut admin.borrow_mut(), backend.clone());
    let table = format!("{table}_h");
    let history: BackendRef =
        Arc::new(MySqlBackend::connect(Some(&mysql_url()), Some(&table)).unwrap());
    bench("mysql", backend, history, &|| {
        let mut c = admin.borrow_mut();
        c.query_drop(format!(
            "INSERT INTO `{table}` (run_id, pipeline_name, start_time, end_time, status, tasks)
             WITH d AS (SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
                        UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6
                        UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
                  g AS (SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n + 1 AS g
                        FROM d a, d b, d c, d e, d f)
             SELECT CONCAT('hist-', g), CONCAT('hist_pipe_', g % 10), 1.6e9 + g, 1.6e9 + g + 1,
                    'SUCCESS', '{TASKS_JSON}' FROM g"
        ))
        .unwrap();
        c.query_drop(format!("ANALYZE TABLE `{table}`")).unwrap();
    })
}

/// InnoDB has no per-session way to commit without waiting for the log
/// flush (PostgreSQL's `synchronous_commit = off`), so a chain on MariaDB's
/// default `innodb_flush_log_at_trx_commit = 1` pays a disk flush per
/// task. This measures the chain once more with the server set to 2 (every
/// commit written to the OS at once, flushed once a second: the guarantee
/// our SQLite and PostgreSQL defaults give), restoring the setting after.
fn relaxed_flush_chain(admin: &mut mysql::Conn, backend: BackendRef) {
    let var = "innodb_flush_log_at_trx_commit";
    let before: u32 = admin
        .query_first(format!("SELECT @@GLOBAL.{var}"))
        .unwrap()
        .unwrap();
    println!("mysql: the server's {var} is {before}; the main figures below use it");
    if admin.query_drop(format!("SET GLOBAL {var} = 2")).is_err() {
        println!("mysql: cannot SET GLOBAL {var} (no privilege); relaxed figure skipped");
        return;
    }
    let relaxed = per_task_us(&chain(backend), 1);
    admin
        .query_drop(format!("SET GLOBAL {var} = {before}"))
        .unwrap();
    println!(
        "mysql      chain {relaxed:>7.1} us/task with {var} = 2 (set for this measurement only)"
    );
    println!("RESULT mysql chain_relaxed_flush_us_per_task {relaxed:.1}");
}

struct Guard(Box<dyn FnMut()>);
impl Drop for Guard {
    fn drop(&mut self) {
        (self.0)()
    }
}

fn main() {
    // `cargo bench` passes --bench; a name filter is accepted and ignored.
    let mem: BackendRef = Arc::new(MemoryBackend::new());
    let base_chain = per_task_us(&chain(mem.clone()), 3);
    let base_fan = per_task_us(&fan_out(mem), 3);
    println!(
        "memory     chain {base_chain:>7.1} us/task   fan-out {base_fan:>7.1} us/task   (engine alone)"
    );
    println!("RESULT memory chain_us_per_task {base_chain:.1}");
    println!("RESULT memory fanout_us_per_task {base_fan:.1}");
    let pg = bench_pg();
    report("postgres", &pg);
    let my = bench_mysql();
    report("mysql", &my);
}
