//! PostgresBackend against the real local server (DORCH_TEST_PG_DSN, default
//! host=127.0.0.1 port=5432 user=postgres dbname=test). Each test uses its
//! own tables, dropped afterwards even when the test fails.

mod server_support;

use dremioorch::backend::ident::POSTGRES_MAX_TABLE_NAME_LEN;
use dremioorch::backend::{PostgresBackend, ServerOptions, PG_DSN_ENV};
use dremioorch::{Backend, BackendRef, ErrorKind, RunStatus, TaskDetail, TaskStatus, TaskUpdate};
use server_support::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Drops the run table and our own tables when it goes out of scope.
struct Table(String);

impl Table {
    fn new(prefix: &str) -> Table {
        Table(unique_table(prefix))
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        if let Ok(mut c) = admin() {
            let _ = c.batch_execute(&format!(
                "DROP TABLE IF EXISTS \"{0}\", \"{0}_task_state\", \"{0}_task_detail\", \
                 \"{0}_run_meta\", \"{0}_task_output\"",
                self.0
            ));
        }
    }
}

fn admin() -> Result<postgres::Client, postgres::Error> {
    let mut cfg: postgres::Config = pg_dsn().parse().unwrap();
    cfg.connect_timeout(Duration::from_secs(5));
    cfg.connect(postgres::NoTls)
}

fn open(t: &Table) -> PostgresBackend {
    within(Duration::from_secs(30), {
        let (dsn, name) = (pg_dsn(), t.0.clone());
        move || PostgresBackend::connect(Some(&dsn), Some(&name))
    })
    .unwrap_or_else(|e| {
        panic!(
            "cannot reach the test PostgreSQL server ({}): {e}",
            pg_dsn()
        )
    })
}

fn quick_retry(budget_ms: u64) -> ServerOptions {
    ServerOptions {
        retry_budget: Duration::from_millis(budget_ms),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(500),
        ..ServerOptions::default()
    }
}

#[test]
fn round_trips() {
    let t = Table::new("pg_rt");
    check_round_trips(&open(&t));
}

#[test]
fn grouped_updates_are_one_atomic_write() {
    let t = Table::new("pg_gr");
    check_grouped_updates(Arc::new(open(&t)));
}

#[test]
fn save_run_is_an_upsert() {
    let t = Table::new("pg_up");
    check_upsert(&open(&t));
}

#[test]
fn list_runs_order_filter_limit() {
    let t = Table::new("pg_ls");
    check_list(&open(&t));
}

#[test]
fn eight_threads_update_one_run() {
    let t = Table::new("pg_cc");
    check_concurrent_updates(&open(&t));
}

#[test]
fn pipeline_with_four_workers() {
    let t = Table::new("pg_pl");
    check_pipeline(Arc::new(open(&t)));
}

#[test]
fn schema_layout_and_indexes() {
    let t = Table::new("pg_schema");
    let _b = open(&t);
    // Opening twice (tables exist) is fine.
    let _b2 = open(&t);
    let mut c = admin().unwrap();
    let cols: Vec<(String, String)> = c
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_name = $1 ORDER BY ordinal_position",
            &[&t.0],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want = [
        ("run_id", "text"),
        ("pipeline_name", "text"),
        ("start_time", "double precision"),
        ("end_time", "double precision"),
        ("status", "text"),
        ("tasks", "jsonb"),
    ];
    assert_eq!(
        cols,
        want.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    let idx: Vec<String> = c
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = $1 ORDER BY 1",
            &[&t.0],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for want in ["pipeline", "start_time", "pipeline_start"] {
        assert!(idx.contains(&format!("idx_{}_{want}", t.0)), "{idx:?}");
    }
    // Our own tables: live rows with their detail, and the detail table.
    let mut cols_of = |table: String| -> Vec<String> {
        c.query(
            "SELECT column_name::text || ' ' || data_type::text FROM information_schema.columns \
             WHERE table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let detail = [
        "attempts integer",
        "start_time double precision",
        "end_time double precision",
        "error text",
    ];
    let live_want: Vec<&str> = [
        "run_id text",
        "task_key bytea",
        "task_name text",
        "status text",
    ]
    .into_iter()
    .chain(detail)
    .collect();
    assert_eq!(cols_of(format!("{}_task_state", t.0)), live_want);
    let detail_want: Vec<&str> = ["run_id text", "task_key bytea", "task_name text"]
        .into_iter()
        .chain(detail)
        .collect();
    assert_eq!(cols_of(format!("{}_task_detail", t.0)), detail_want);
    // The durable history's tables.
    assert_eq!(
        cols_of(format!("{}_run_meta", t.0)),
        [
            "run_id text",
            "lease_renewed_at double precision",
            "lease_interval double precision",
            "resumed_from text"
        ]
    );
    assert_eq!(
        cols_of(format!("{}_task_output", t.0)),
        [
            "run_id text",
            "task_key bytea",
            "task_name text",
            "size bigint",
            "data bytea"
        ]
    );
    let idx: Vec<String> = c
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = $1",
            &[&format!("{}_task_detail", t.0)],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(idx, [format!("idx_{}_task_detail", t.0)]);
    // list_runs can use the start_time index.
    c.batch_execute("SET enable_seqscan = off").unwrap();
    let plan: String = c
        .query(
            &format!(
                "EXPLAIN SELECT * FROM \"{}\" ORDER BY start_time DESC LIMIT 10",
                t.0
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains(&format!("idx_{}_start_time", t.0)), "{plan}");
}

#[test]
fn existing_dremioframe_table_is_used_as_is() {
    let t = Table::new("pg_df");
    let mut c = admin().unwrap();
    // What dremioframe's PostgresBackend creates and writes.
    c.batch_execute(&format!(
        "CREATE TABLE {0} (run_id TEXT PRIMARY KEY, pipeline_name TEXT, \
         start_time DOUBLE PRECISION, end_time DOUBLE PRECISION, status TEXT, tasks JSONB);
         INSERT INTO {0} VALUES ('df-1', 'dfpipe', 100.5, 101.5, 'SUCCESS', \
         '{{\"a\": \"SUCCESS\", \"b\": \"SKIPPED\"}}'::jsonb);
         INSERT INTO {0} VALUES ('df-2', 'dfpipe', 99.0, NULL, 'RUNNING', NULL);",
        t.0
    ))
    .unwrap();
    let b = open(&t);
    let r = b.get_run("df-1").unwrap().unwrap();
    assert_eq!(r.pipeline_name, "dfpipe");
    assert_eq!(r.end_time, Some(101.5));
    assert_eq!(r.status, RunStatus::Success);
    assert_eq!(r.tasks["b"], TaskStatus::Skipped);
    let r2 = b.get_run("df-2").unwrap().unwrap();
    assert!(r2.tasks.is_empty() && r2.end_time.is_none());
    assert_eq!(b.list_runs(Some("dfpipe"), 10).unwrap().len(), 2);
    b.update_task_status("df-2", "x", TaskStatus::Running)
        .unwrap();
    assert_eq!(
        b.get_run("df-2").unwrap().unwrap().tasks["x"],
        TaskStatus::Running
    );
}

#[test]
fn config_from_environment_and_its_absence() {
    let _g = env_lock();
    let t = Table::new("pg_env");
    std::env::remove_var(PG_DSN_ENV);
    let e = PostgresBackend::connect(None, Some(&t.0)).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains(PG_DSN_ENV), "{e}");
    std::env::set_var(PG_DSN_ENV, pg_dsn());
    let r = PostgresBackend::connect(None, Some(&t.0));
    std::env::remove_var(PG_DSN_ENV);
    let b = r.unwrap();
    b.save_run(&run("p", "e1", 1.0, &[])).unwrap();
    assert!(b.get_run("e1").unwrap().is_some());
    // A malformed DSN is a configuration error too.
    let e = PostgresBackend::connect(Some("host=x port=notaport"), None)
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
}

#[test]
fn hostile_table_names_are_refused() {
    for name in [
        "runs; DROP TABLE users",
        "runs\"",
        "a b",
        "",
        "1runs",
        "x--",
        "public.runs",
    ] {
        let e = PostgresBackend::connect(Some(&pg_dsn()), Some(name))
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Config, "{name:?}: {e}");
    }
    let url = "postgresql://postgres@127.0.0.1:5432/test?table=x%3BDROP";
    let e = dremioorch::backend::open(url).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
}

#[test]
fn unreachable_server_fails_promptly_naming_host_and_port() {
    let e = fails_within(Duration::from_secs(6), || {
        PostgresBackend::connect(
            Some("host=127.0.0.1 port=1 user=postgres dbname=test"),
            None,
        )
    });
    eprintln!("unreachable: {e}");
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert!(e.message().contains("127.0.0.1:1"), "{e}");
    // A port that accepts but never answers: bounded by the connect timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let opts = ServerOptions {
        connect_timeout: Duration::from_secs(1),
        ..ServerOptions::default()
    };
    let e = fails_within(Duration::from_secs(4), || {
        PostgresBackend::connect_with(
            Some(&format!(
                "host=127.0.0.1 port={port} user=postgres dbname=test"
            )),
            None,
            &opts,
        )
    });
    assert!(e.message().contains(&format!("127.0.0.1:{port}")), "{e}");
    drop(silent);
}

#[test]
fn open_by_url() {
    let t = Table::new("pg_url");
    for scheme in ["postgresql", "postgres"] {
        let b = dremioorch::backend::open(&format!(
            "{scheme}://postgres@127.0.0.1:5432/test?table={}",
            t.0
        ))
        .unwrap();
        b.save_run(&run("u", &format!("url-{scheme}"), 1.0, &[]))
            .unwrap();
    }
    let b = open(&t);
    assert_eq!(b.list_runs(Some("u"), 10).unwrap().len(), 2);
}

fn terminate(app: &str) -> u64 {
    let mut c = admin().unwrap();
    c.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND pid <> pg_backend_pid()",
        &[&app],
    )
    .unwrap()
    .len() as u64
}

fn with_app(app: &str) -> String {
    format!("{} application_name={app}", pg_dsn())
}

#[test]
fn connections_killed_mid_run_history_still_exact() {
    let t = Table::new("pg_kill");
    let app = format!("dorch_{}", t.0);
    let b: BackendRef = Arc::new(
        PostgresBackend::connect_with(Some(&with_app(&app)), Some(&t.0), &quick_retry(15_000))
            .unwrap(),
    );
    check_kills_mid_run(b.clone(), b, Arc::new(move || terminate(&app) as usize));
}

#[test]
fn server_down_for_a_while_then_back() {
    let t = Table::new("pg_outage");
    let proxy = Arc::new(Proxy::start("127.0.0.1:5432"));
    let dsn = format!(
        "host=127.0.0.1 port={} user=postgres dbname=test",
        proxy.port
    );
    let b: BackendRef = Arc::new(
        PostgresBackend::connect_with(Some(&dsn), Some(&t.0), &quick_retry(15_000)).unwrap(),
    );
    check_outage_then_back(b, &proxy);
}

#[test]
fn server_down_past_the_bound_is_a_backend_error() {
    let t = Table::new("pg_down");
    let proxy = Arc::new(Proxy::start("127.0.0.1:5432"));
    let dsn = format!(
        "host=127.0.0.1 port={} user=postgres dbname=test",
        proxy.port
    );
    let b: BackendRef = Arc::new(
        PostgresBackend::connect_with(Some(&dsn), Some(&t.0), &quick_retry(1_500)).unwrap(),
    );
    check_down_past_the_bound(b, &proxy);
}

#[test]
fn durable_task_updates_round_trips() {
    let t = Table::new("pg_dur");
    let opts = ServerOptions {
        durable_task_updates: true,
        pool_size: 2,
        ..ServerOptions::default()
    };
    let b = PostgresBackend::connect_with(Some(&pg_dsn()), Some(&t.0), &opts).unwrap();
    check_round_trips(&b);
    check_concurrent_updates(&b);
    // Outputs go in the same statement, which has no asynchronous commit here.
    let reopen = || -> BackendRef {
        Arc::new(PostgresBackend::connect_with(Some(&pg_dsn()), Some(&t.0), &opts).unwrap())
    };
    let count = |ours, run_id: &str| count_rows(&t, ours, run_id);
    durable::check_outputs(reopen(), &reopen, &count);
}

#[test]
fn a_call_blocked_in_the_server_fails_after_io_timeout() {
    let t = Table::new("pg_io");
    let opts = ServerOptions {
        io_timeout: Duration::from_millis(1500),
        ..quick_retry(1000)
    };
    let b = PostgresBackend::connect_with(Some(&pg_dsn()), Some(&t.0), &opts).unwrap();
    b.save_run(&run("p", "io-1", 1.0, &[])).unwrap();
    // Another session holds the table: our read waits in the server until
    // statement_timeout cancels it.
    let mut locker = admin().unwrap();
    let mut tx = locker.transaction().unwrap();
    tx.batch_execute(&format!("LOCK TABLE \"{}\" IN ACCESS EXCLUSIVE MODE", t.0))
        .unwrap();
    let started = Instant::now();
    let e = fails_within(Duration::from_secs(10), || b.get_run("io-1"));
    assert!(started.elapsed() >= Duration::from_millis(1400), "{e}");
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert!(e.message().contains("statement timeout"), "{e}");
    tx.rollback().unwrap();
    assert!(b.get_run("io-1").unwrap().is_some(), "the backend recovers");
}

fn through(proxy: &Proxy) -> String {
    format!(
        "host=127.0.0.1 port={} user=postgres dbname=test",
        proxy.port
    )
}

#[test]
fn frozen_server_mid_run_fails_the_run_after_io_timeout() {
    let t = Table::new("pg_frozen");
    let proxy = Arc::new(Proxy::start("127.0.0.1:5432"));
    let io = Duration::from_secs(2);
    let opts = ServerOptions {
        io_timeout: io,
        connect_timeout: Duration::from_secs(1),
        ..quick_retry(3_000)
    };
    let b: BackendRef =
        Arc::new(PostgresBackend::connect_with(Some(&through(&proxy)), Some(&t.0), &opts).unwrap());
    let took = check_frozen_mid_run(b, &proxy, io, Duration::from_secs(60));
    eprintln!("postgres frozen mid-run: failed after {took:?}");
}

#[test]
fn dead_server_mid_run_costs_one_retry_budget_per_run() {
    let t = Table::new("pg_dead");
    let proxy = Arc::new(Proxy::start("127.0.0.1:5432"));
    let budget = Duration::from_secs(4);
    let b: BackendRef = Arc::new(
        PostgresBackend::connect_with(
            Some(&through(&proxy)),
            Some(&t.0),
            &quick_retry(budget.as_millis() as u64),
        )
        .unwrap(),
    );
    let took = check_dead_server_one_budget_per_run(b, &proxy, budget);
    eprintln!("postgres dead mid-run: failed after {took:?}");
}

/// Names of the relations (tables, indexes, their keys) whose name contains `part`.
fn relations_named(c: &mut postgres::Client, part: &str) -> Vec<String> {
    c.query(
        "SELECT relname::text FROM pg_class WHERE strpos(relname, $1) > 0 ORDER BY 1",
        &[&part],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Every name derived from the table's must fit PostgreSQL's 63 bytes (it
/// would silently truncate a longer one): the longest table name allowed
/// works with every name whole; one more character is refused before
/// anything is created, with an error naming the limit and the longest name.
#[test]
fn table_names_up_to_the_identifier_limit() {
    let base = unique_table("pg_len");
    let longest = Table(name_of_len(&base, POSTGRES_MAX_TABLE_NAME_LEN, 'a'));
    let over = Table(name_of_len(&base, POSTGRES_MAX_TABLE_NAME_LEN + 1, 'z'));
    assert_eq!(longest.0.len(), 44);
    let mut c = admin().unwrap();
    for e in [
        PostgresBackend::connect(Some(&pg_dsn()), Some(&over.0))
            .err()
            .unwrap(),
        dremioorch::backend::open(&format!(
            "postgresql://postgres@127.0.0.1:5432/test?table={}",
            over.0
        ))
        .err()
        .unwrap(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        let m = e.message();
        assert!(
            m.contains("63-byte") && m.contains("longest table name allowed is 44"),
            "{m}"
        );
    }
    assert_eq!(relations_named(&mut c, &over.0), Vec::<String>::new());

    let b = open(&longest);
    check_round_trips(&b);
    let l = &longest.0;
    let names = relations_named(&mut c, l);
    for want in [
        l.clone(),
        format!("{l}_task_state"),
        format!("{l}_task_detail"),
        format!("{l}_run_meta"),
        format!("{l}_task_output"),
        format!("idx_{l}_pipeline"),
        format!("idx_{l}_pipeline_start"),
        format!("idx_{l}_start_time"),
        format!("idx_{l}_task_detail"),
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
}

/// Task detail after a retry, a task timeout and a cancellation, read back
/// through a new backend (new connections); statuses-only runs are bare.
#[test]
fn task_details_read_back_through_a_new_connection() {
    let t = Table::new("pg_detail");
    let reopen = || -> BackendRef { Arc::new(open(&t)) };
    check_task_details(reopen(), &reopen);
}

#[test]
fn task_names_of_ten_thousand_bytes_are_stored_whole() {
    let t = Table::new("pg_long");
    check_long_task_names(Arc::new(open(&t)));
}

/// A live table keyed on (run_id, task_name), as earlier versions created
/// it, is upgraded when the backend opens it (by four processes at once
/// here): its live rows are kept and long names work.
#[test]
fn a_live_table_of_an_earlier_version_is_upgraded() {
    let t = Table::new("pg_old");
    let mut c = admin().unwrap();
    c.batch_execute(&format!(
        "CREATE TABLE \"{0}\" (run_id TEXT PRIMARY KEY, pipeline_name TEXT, \
         start_time DOUBLE PRECISION, end_time DOUBLE PRECISION, status TEXT, tasks JSONB);
         CREATE TABLE \"{0}_task_state\" (run_id TEXT NOT NULL, task_name TEXT NOT NULL, \
         status TEXT NOT NULL, PRIMARY KEY (run_id, task_name));
         INSERT INTO \"{0}\" VALUES ('old-1', 'p', 1.0, NULL, 'RUNNING', \
         '{{\"a\": \"PENDING\", \"b\": \"PENDING\"}}');
         INSERT INTO \"{0}_task_state\" VALUES ('old-1', 'a', 'RUNNING');",
        t.0
    ))
    .unwrap();
    let opened: Vec<PostgresBackend> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| open(&t))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let b = &opened[0];
    let got = b.get_run("old-1").unwrap().unwrap();
    assert_eq!(got.tasks["a"], TaskStatus::Running, "the live row is kept");
    assert_eq!(got.tasks["b"], TaskStatus::Pending);
    let long = noise(10_000, "abcdefghijklmnopqrstuvwxyz0123456789");
    b.update_task_statuses(
        "old-1",
        &[(&long, TaskStatus::Running), ("a", TaskStatus::Success)],
    )
    .unwrap();
    let got = opened[3].get_run("old-1").unwrap().unwrap();
    assert_eq!(got.tasks.len(), 3);
    assert_eq!(got.tasks["a"], TaskStatus::Success, "same key as before");
    assert_eq!(got.tasks[&long], TaskStatus::Running);
    // Detail on the upgraded table, and its statuses-only rows kept bare.
    let u = TaskUpdate {
        task: "b",
        status: TaskStatus::Failed,
        attempts: 2,
        start_time: Some(1.0 / 3.0),
        end_time: Some(2.0 / 3.0),
        error: Some("ünïcode ☃"),
        output: None,
    };
    b.update_tasks("old-1", &[u]).unwrap();
    let details = opened[2].get_task_details("old-1").unwrap();
    assert_eq!(details.len(), 3);
    let of = |name: &str| details.iter().find(|d| d.name == name).unwrap().clone();
    assert_eq!(of("a"), TaskDetail::bare("a", TaskStatus::Success));
    assert_eq!(of("b"), u.to_detail());
    let key: Vec<String> = c
        .query(
            "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a \
             ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary ORDER BY a.attnum",
            &[&format!("{}_task_state", t.0)],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(key, ["run_id", "task_key"]);
    check_long_task_names(Arc::new(open(&t)));
}

/// Rows written by another tool or by hand that cannot be read hide no
/// other run: listing returns every readable run and names each unreadable
/// row with why, in its place in the start_time order (PostgreSQL sorts NaN
/// above every number: first); get_run of such a row is an error naming it.
#[test]
fn unreadable_rows_are_listed_apart_and_hide_no_run() {
    let t = Table::new("pg_bad");
    let b = open(&t);
    b.save_run(&run("p", "good-1", 100.0, &[])).unwrap();
    b.save_run(&run("p", "good-2", 300.0, &[("a", TaskStatus::Pending)]))
        .unwrap();
    b.update_task_status("good-2", "a", TaskStatus::Running)
        .unwrap();
    b.save_run(&run("p", "bad-live", 120.0, &[])).unwrap();
    admin()
        .unwrap()
        .batch_execute(&format!(
            "INSERT INTO \"{0}\" VALUES
               ('bad-status', 'p', 200, 201, 'DONE', '{{}}'),
               ('bad-task', 'p', 250, 251, 'SUCCESS', '{{\"t\": 5}}'),
               ('bad-json', 'p', 150, 151, 'SUCCESS', '[1, 2]'),
               ('bad-nan', 'p', 'NaN', NULL, 'SUCCESS', '{{}}'),
               ('bad-null', 'p', 110, NULL, NULL, '{{}}');
             INSERT INTO \"{0}_task_state\" (run_id, task_key, task_name, status)
               VALUES ('bad-live', sha256('x'), 'x', 'WEIRD');",
            t.0
        ))
        .unwrap();
    check_unreadable_rows(
        &b,
        "p",
        &[
            ("bad-nan", Some("column start_time: NaN is not a time")),
            ("good-2", None),
            (
                "bad-task",
                Some("column tasks: the status of task \"t\" is not a string: 5"),
            ),
            (
                "bad-status",
                Some("column status: unknown run status \"DONE\""),
            ),
            ("bad-json", Some("column tasks: not a JSON object: [1, 2]")),
            (
                "bad-live",
                Some("live task state: task \"x\": unknown task status \"WEIRD\""),
            ),
            ("bad-null", Some("column status: NULL")),
            ("good-1", None),
        ],
    );
    assert_eq!(
        b.get_run("good-2").unwrap().unwrap().tasks["a"],
        TaskStatus::Running
    );
}

/// A run table created by another tool with a text start_time: rows come in
/// the server's text order; those whose value is a number are read, the
/// others are listed as unreadable.
#[test]
fn a_text_start_time_column_is_read_where_it_holds_numbers() {
    let t = Table::new("pg_txt");
    admin()
        .unwrap()
        .batch_execute(&format!(
            "CREATE TABLE \"{0}\" (run_id TEXT PRIMARY KEY, pipeline_name TEXT, \
             start_time TEXT, end_time TEXT, status TEXT, tasks JSONB);
             INSERT INTO \"{0}\" VALUES
               ('txt-1', 'p', '1700000300', NULL, 'SUCCESS', '{{}}'),
               ('txt-bad', 'p', 'yesterday', NULL, 'SUCCESS', '{{}}'),
               ('txt-2', 'p', '1700000100', '1700000101.5', 'FAILED', '{{}}');",
            t.0
        ))
        .unwrap();
    let b = open(&t);
    check_unreadable_rows(
        &b,
        "p",
        &[
            ("txt-bad", Some("column start_time: text \"yesterday\"")),
            ("txt-1", None),
            ("txt-2", None),
        ],
    );
    assert_eq!(
        b.get_run("txt-2").unwrap().unwrap().end_time,
        Some(1700000101.5)
    );
}

/// Rows of our table `ours` for run `run_id`, read directly.
fn count_rows(t: &Table, ours: durable::Ours, run_id: &str) -> u64 {
    let suffix = match ours {
        durable::Ours::Live => "task_state",
        durable::Ours::Detail => "task_detail",
        durable::Ours::Output => "task_output",
        durable::Ours::Meta => "run_meta",
    };
    let n: i64 = admin()
        .unwrap()
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{}_{suffix}\" WHERE run_id = $1",
                t.0
            ),
            &[&run_id],
        )
        .unwrap()
        .get(0);
    n as u64
}

/// Runs `check` with a backend on a table of its own, a way to open
/// another instance on it, and a row counter.
fn durable_check(prefix: &str, check: impl FnOnce(BackendRef, durable::Reopen, durable::Count)) {
    let t = Table::new(prefix);
    let reopen = || -> BackendRef { Arc::new(open(&t)) };
    let count = |ours, run_id: &str| count_rows(&t, ours, run_id);
    check(reopen(), &reopen, &count);
}

#[test]
fn outputs_round_trip() {
    durable_check("pg_out", durable::check_outputs);
}

#[test]
fn leases_and_resume_links() {
    durable_check("pg_lease", durable::check_leases_and_links);
}

#[test]
fn recover_finishes_stale_runs_only() {
    let t = Table::new("pg_rec");
    let reopen = || -> BackendRef { Arc::new(open(&t)) };
    let count = |ours, run_id: &str| count_rows(&t, ours, run_id);
    let corrupt = |run_id: &str| {
        let sql = format!(
            "UPDATE \"{}\" SET tasks = '{{\"z\": \"NOT_A_STATUS\"}}' WHERE run_id = $1",
            t.0
        );
        admin().unwrap().execute(&sql, &[&run_id]).unwrap();
    };
    durable::check_recover(reopen(), &reopen, &count, &corrupt);
}

#[test]
fn concurrent_recoveries_take_each_run_once() {
    durable_check("pg_crec", durable::check_concurrent_recovery);
}

#[test]
fn a_live_run_is_never_recovered() {
    durable_check("pg_live", durable::check_live_run_never_recovered);
}

#[test]
fn purge_finished_runs_with_their_rows() {
    durable_check("pg_purge", durable::check_purge);
}

#[test]
fn resume_through_another_instance() {
    durable_check("pg_resume", |b, reopen, _| durable::check_resume(b, reopen));
}
