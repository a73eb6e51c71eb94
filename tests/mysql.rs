//! MySqlBackend against the real local server, MariaDB 10.11 here
//! (DORCH_TEST_MYSQL_URL, default mysql://root@127.0.0.1:3306/test). Each
//! test uses its own tables, dropped afterwards even when the test fails.

mod server_support;

use dremioorch::backend::ident::MYSQL_MAX_TABLE_NAME_LEN;
use dremioorch::backend::{
    MySqlBackend, ServerOptions, MYSQL_ENV_DB, MYSQL_ENV_HOST, MYSQL_ENV_PASSWORD, MYSQL_ENV_PORT,
    MYSQL_ENV_USER,
};
use dremioorch::{Backend, BackendRef, ErrorKind, TaskDetail, TaskStatus, TaskUpdate};
use mysql::prelude::Queryable;
use server_support::*;
use std::sync::Arc;
use std::time::Duration;

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
            let _ = c.query_drop(format!(
                // The live table first: it has a foreign key to the run table.
                "DROP TABLE IF EXISTS `{0}_task_state`, `{0}_task_detail`, `{0}_run_meta`, \
                 `{0}_task_output`, `{0}`",
                self.0
            ));
        }
    }
}

fn admin() -> Result<mysql::Conn, mysql::Error> {
    let opts = mysql::OptsBuilder::from_opts(mysql::Opts::from_url(&mysql_url()).unwrap())
        .prefer_socket(false)
        .tcp_connect_timeout(Some(Duration::from_secs(5)));
    mysql::Conn::new(opts)
}

fn open(t: &Table) -> MySqlBackend {
    within(Duration::from_secs(30), {
        let (url, name) = (mysql_url(), t.0.clone());
        move || MySqlBackend::connect(Some(&url), Some(&name))
    })
    .unwrap_or_else(|e| panic!("cannot reach the test MySQL server ({}): {e}", mysql_url()))
}

fn quick_retry(budget_ms: u64) -> ServerOptions {
    ServerOptions {
        retry_budget: Duration::from_millis(budget_ms),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(500),
        ..ServerOptions::default()
    }
}

/// The test server's host and port, from its URL.
fn server_addr() -> String {
    let o = mysql::Opts::from_url(&mysql_url()).unwrap();
    format!("{}:{}", o.get_ip_or_hostname(), o.get_tcp_port())
}

/// A database user of its own, so its connections can be found and killed
/// without touching anyone else's; dropped afterwards.
struct User {
    name: String,
    db: String,
}

impl User {
    fn new(t: &Table) -> User {
        let name = format!("dk{}", &t.0[t.0.len().saturating_sub(20)..]).replace('-', "_");
        let db = mysql::Opts::from_url(&mysql_url())
            .unwrap()
            .get_db_name()
            .unwrap()
            .to_string();
        let mut c = admin().unwrap();
        c.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'"))
            .unwrap();
        c.query_drop(format!("CREATE USER '{name}'@'%' IDENTIFIED BY 'pw'"))
            .unwrap();
        c.query_drop(format!("GRANT ALL PRIVILEGES ON `{db}`.* TO '{name}'@'%'"))
            .unwrap();
        User { name, db }
    }

    fn url(&self) -> String {
        format!("mysql://{}:pw@{}/{}", self.name, server_addr(), self.db)
    }

    /// KILLs every connection of this user; returns how many.
    fn kill_all(&self) -> usize {
        let mut c = admin().unwrap();
        let ids: Vec<u64> = c
            .exec(
                "SELECT id FROM information_schema.processlist WHERE user = ?",
                (&self.name,),
            )
            .unwrap();
        let mut n = 0;
        for id in ids {
            if c.query_drop(format!("KILL {id}")).is_ok() {
                n += 1;
            }
        }
        n
    }
}

impl Drop for User {
    fn drop(&mut self) {
        if let Ok(mut c) = admin() {
            let _ = c.query_drop(format!("DROP USER IF EXISTS '{}'@'%'", self.name));
        }
    }
}

#[test]
fn round_trips() {
    let t = Table::new("my_rt");
    check_round_trips(&open(&t));
}

#[test]
fn grouped_updates_are_one_atomic_write() {
    let t = Table::new("my_gr");
    check_grouped_updates(Arc::new(open(&t)));
}

#[test]
fn save_run_is_an_upsert() {
    let t = Table::new("my_up");
    check_upsert(&open(&t));
}

#[test]
fn list_runs_order_filter_limit() {
    let t = Table::new("my_ls");
    check_list(&open(&t));
}

#[test]
fn eight_threads_update_one_run() {
    let t = Table::new("my_cc");
    check_concurrent_updates(&open(&t));
}

#[test]
fn pipeline_with_four_workers() {
    let t = Table::new("my_pl");
    check_pipeline(Arc::new(open(&t)));
}

#[test]
fn schema_layout_and_indexes() {
    let t = Table::new("my_schema");
    let _b = open(&t);
    let _b2 = open(&t); // tables and indexes exist: fine
    let mut c = admin().unwrap();
    let cols: Vec<(String, String)> = c
        .exec(
            "SELECT column_name, column_type FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            (&t.0,),
        )
        .unwrap();
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "run_id",
            "pipeline_name",
            "start_time",
            "end_time",
            "status",
            "tasks"
        ]
    );
    assert_eq!(cols[0].1, "varchar(255)");
    assert_eq!(cols[2].1, "double");
    assert_eq!(cols[4].1, "varchar(50)");
    let idx: Vec<String> = c
        .exec(
            "SELECT DISTINCT index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ?",
            (&t.0,),
        )
        .unwrap();
    for want in ["pipeline", "start_time", "pipeline_start"] {
        assert!(idx.contains(&format!("idx_{}_{want}", t.0)), "{idx:?}");
    }
    // Our own tables: live rows with their detail, and the detail table.
    let mut cols_of = |table: String| -> Vec<String> {
        c.exec(
            "SELECT CONCAT(column_name, ' ', data_type) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        .unwrap()
    };
    let detail = [
        "attempts int",
        "start_time double",
        "end_time double",
        "error longtext",
    ];
    let live_want: Vec<&str> = [
        "run_id varchar",
        "task_name longblob",
        "task_key binary",
        "status varchar",
    ]
    .into_iter()
    .chain(detail)
    .collect();
    assert_eq!(cols_of(format!("{}_task_state", t.0)), live_want);
    let detail_want: Vec<&str> = ["run_id varchar", "task_key binary", "task_name longblob"]
        .into_iter()
        .chain(detail)
        .collect();
    assert_eq!(cols_of(format!("{}_task_detail", t.0)), detail_want);
    // The durable history's tables.
    assert_eq!(
        cols_of(format!("{}_run_meta", t.0)),
        [
            "run_id varchar",
            "lease_renewed_at double",
            "lease_interval double",
            "resumed_from varchar"
        ]
    );
    assert_eq!(
        cols_of(format!("{}_task_output", t.0)),
        [
            "run_id varchar",
            "task_key binary",
            "task_name longblob",
            "size bigint",
            "data longblob"
        ]
    );
    let plan: Vec<mysql::Row> = c
        .query(format!(
            "EXPLAIN SELECT * FROM `{}` FORCE INDEX (idx_{}_start_time) \
             ORDER BY start_time DESC LIMIT 10",
            t.0, t.0
        ))
        .unwrap();
    assert!(!plan.is_empty());
}

#[test]
fn existing_dremioframe_table_is_used_as_is() {
    let t = Table::new("my_df");
    let mut c = admin().unwrap();
    c.query_drop(format!(
        "CREATE TABLE `{0}` (run_id VARCHAR(255) PRIMARY KEY, pipeline_name VARCHAR(255), \
         start_time DOUBLE, end_time DOUBLE, status VARCHAR(50), tasks JSON)",
        t.0
    ))
    .unwrap();
    c.query_drop(format!(
        "INSERT INTO `{0}` VALUES ('df-1', 'dfpipe', 100.5, 101.5, 'SUCCESS', \
         '{{\"a\": \"SUCCESS\", \"b\": \"SKIPPED\"}}'), \
         ('df-2', 'dfpipe', 99.0, NULL, 'RUNNING', NULL)",
        t.0
    ))
    .unwrap();
    let b = open(&t);
    let r = b.get_run("df-1").unwrap().unwrap();
    assert_eq!(r.pipeline_name, "dfpipe");
    assert_eq!(r.end_time, Some(101.5));
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

/// The live table refers to the run table with a foreign key, so a plain
/// upsert refuses unknown runs; a run table it cannot refer to (here one
/// whose run_id has another character set) gets a live table without one,
/// and the backend works the same.
#[test]
fn live_table_with_and_without_a_foreign_key() {
    let fk_count = |c: &mut mysql::Conn, t: &str| -> i64 {
        c.exec_first(
            "SELECT COUNT(*) FROM information_schema.referential_constraints \
             WHERE constraint_schema = DATABASE() AND table_name = ?",
            (format!("{t}_task_state"),),
        )
        .unwrap()
        .unwrap()
    };
    let mut c = admin().unwrap();
    let with = Table::new("my_fk");
    let without = Table::new("my_nofk");
    c.query_drop(format!(
        "CREATE TABLE `{0}` (run_id VARCHAR(255) CHARACTER SET latin1 PRIMARY KEY, \
         pipeline_name VARCHAR(255), start_time DOUBLE, end_time DOUBLE, status VARCHAR(50), \
         tasks JSON) ENGINE=InnoDB",
        without.0
    ))
    .unwrap();
    for (t, fks) in [(&with, 1), (&without, 0)] {
        let b = open(t);
        assert_eq!(fk_count(&mut c, &t.0), fks, "{}", t.0);
        b.save_run(&run("fk", "fk-1", 1.0, &[("a", TaskStatus::Pending)]))
            .unwrap();
        b.update_task_statuses(
            "fk-1",
            &[("a", TaskStatus::Success), ("b", TaskStatus::Running)],
        )
        .unwrap();
        let got = b.get_run("fk-1").unwrap().unwrap();
        assert_eq!(got.tasks["a"], TaskStatus::Success);
        assert_eq!(got.tasks["b"], TaskStatus::Running);
        // Detail, times exact, on either kind of live table.
        let u = TaskUpdate {
            task: "a",
            status: TaskStatus::Failed,
            attempts: 2,
            start_time: Some(1.0 / 3.0),
            end_time: Some(2.0 / 3.0),
            error: Some("ünïcode ☃"),
            output: None,
        };
        let c_run = TaskUpdate {
            task: "c",
            status: TaskStatus::Running,
            attempts: 1,
            start_time: Some(1e9 + 0.1),
            end_time: None,
            error: None,
            output: None,
        };
        b.update_tasks("fk-1", &[u, c_run]).unwrap();
        assert_eq!(
            b.get_task_details("fk-1").unwrap(),
            [
                u.to_detail(),
                TaskDetail::bare("b", TaskStatus::Running),
                c_run.to_detail()
            ]
        );
        for e in [
            b.update_tasks("nope", &[u]).unwrap_err(),
            b.update_tasks("nope", &[u, c_run]).unwrap_err(),
            b.get_task_details("nope").unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::NotFound, "{}: {e}", t.0);
        }
        for e in [
            b.update_task_status("nope", "a", TaskStatus::Running)
                .unwrap_err(),
            b.update_task_statuses(
                "nope",
                &[("a", TaskStatus::Running), ("b", TaskStatus::Failed)],
            )
            .unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::NotFound, "{}: {e}", t.0);
        }
        assert_eq!(b.get_run("nope").unwrap(), None);
    }
}

const VARS: [&str; 5] = [
    MYSQL_ENV_USER,
    MYSQL_ENV_PASSWORD,
    MYSQL_ENV_HOST,
    MYSQL_ENV_DB,
    MYSQL_ENV_PORT,
];

#[test]
fn config_from_environment_and_its_absence() {
    let _g = env_lock();
    let t = Table::new("my_env");
    for v in VARS {
        std::env::remove_var(v);
    }
    let e = MySqlBackend::connect(None, Some(&t.0)).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains(MYSQL_ENV_USER), "{e}");
    std::env::set_var(MYSQL_ENV_USER, "root");
    let e = MySqlBackend::connect(None, Some(&t.0)).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains(MYSQL_ENV_DB), "{e}");
    let o = mysql::Opts::from_url(&mysql_url()).unwrap();
    std::env::set_var(MYSQL_ENV_USER, o.get_user().unwrap());
    if let Some(p) = o.get_pass() {
        std::env::set_var(MYSQL_ENV_PASSWORD, p);
    }
    std::env::set_var(MYSQL_ENV_DB, o.get_db_name().unwrap());
    std::env::set_var(MYSQL_ENV_HOST, o.get_ip_or_hostname().to_string());
    std::env::set_var(MYSQL_ENV_PORT, "notaport");
    let e = MySqlBackend::connect(None, Some(&t.0)).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains(MYSQL_ENV_PORT), "{e}");
    std::env::set_var(MYSQL_ENV_PORT, o.get_tcp_port().to_string());
    let r = MySqlBackend::connect(None, Some(&t.0));
    for v in VARS {
        std::env::remove_var(v);
    }
    let b = r.unwrap();
    b.save_run(&run("p", "e1", 1.0, &[])).unwrap();
    assert!(b.get_run("e1").unwrap().is_some());
}

#[test]
fn hostile_table_names_are_refused() {
    for name in [
        "runs; DROP TABLE users",
        "runs`",
        "a b",
        "",
        "1runs",
        "x--",
        "test.runs",
    ] {
        let e = MySqlBackend::connect(Some(&mysql_url()), Some(name))
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Config, "{name:?}: {e}");
    }
    let e = dremioorch::backend::open(&format!("{}?table=a%60b", mysql_url()))
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
}

#[test]
fn unreachable_server_fails_promptly_naming_host_and_port() {
    let e = fails_within(Duration::from_secs(6), || {
        MySqlBackend::connect(Some("mysql://root@127.0.0.1:1/test"), None)
    });
    eprintln!("unreachable: {e}");
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert!(e.message().contains("127.0.0.1:1"), "{e}");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let opts = ServerOptions {
        connect_timeout: Duration::from_secs(1),
        ..ServerOptions::default()
    };
    let e = fails_within(Duration::from_secs(4), || {
        MySqlBackend::connect_with(
            Some(&format!("mysql://root@127.0.0.1:{port}/test")),
            None,
            &opts,
        )
    });
    eprintln!("silent: {e}");
    assert!(e.message().contains(&format!("127.0.0.1:{port}")), "{e}");
    drop(silent);
}

#[test]
fn open_by_url() {
    let t = Table::new("my_url");
    let b = dremioorch::backend::open(&format!("{}?table={}", mysql_url(), t.0)).unwrap();
    b.save_run(&run("u", "url-1", 1.0, &[])).unwrap();
    let b = open(&t);
    assert_eq!(b.list_runs(Some("u"), 10).unwrap().len(), 1);
}

#[test]
fn connections_killed_mid_run_history_still_exact() {
    let t = Table::new("my_kill");
    let user = Arc::new(User::new(&t));
    let b: BackendRef = Arc::new(
        MySqlBackend::connect_with(Some(&user.url()), Some(&t.0), &quick_retry(15_000)).unwrap(),
    );
    // The history is read as the admin user: once, in a full test run, the
    // read through the killed user right after the kills was refused with
    // "Access denied" (1045; the server logged it, the user's grants had not
    // changed), which the backend rightly takes for bad credentials. What
    // this test checks is what the killed backend stored.
    let reader: BackendRef = Arc::new(open(&t));
    check_kills_mid_run(b, reader, Arc::new(move || user.kill_all()));
}

#[test]
fn server_down_for_a_while_then_back() {
    let t = Table::new("my_outage");
    let proxy = Arc::new(Proxy::start(&server_addr()));
    let o = mysql::Opts::from_url(&mysql_url()).unwrap();
    let url = format!(
        "mysql://{}@127.0.0.1:{}/{}",
        o.get_user().unwrap(),
        proxy.port,
        o.get_db_name().unwrap()
    );
    let b: BackendRef =
        Arc::new(MySqlBackend::connect_with(Some(&url), Some(&t.0), &quick_retry(15_000)).unwrap());
    check_outage_then_back(b, &proxy);
}

#[test]
fn server_down_past_the_bound_is_a_backend_error() {
    let t = Table::new("my_down");
    let proxy = Arc::new(Proxy::start(&server_addr()));
    let o = mysql::Opts::from_url(&mysql_url()).unwrap();
    let url = format!(
        "mysql://{}@127.0.0.1:{}/{}",
        o.get_user().unwrap(),
        proxy.port,
        o.get_db_name().unwrap()
    );
    let b: BackendRef =
        Arc::new(MySqlBackend::connect_with(Some(&url), Some(&t.0), &quick_retry(1_500)).unwrap());
    check_down_past_the_bound(b, &proxy);
}

/// A URL to the test server through `proxy`.
fn through(proxy: &Proxy) -> String {
    let o = mysql::Opts::from_url(&mysql_url()).unwrap();
    let pass = o.get_pass().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "mysql://{}{pass}@127.0.0.1:{}/{}",
        o.get_user().unwrap(),
        proxy.port,
        o.get_db_name().unwrap()
    )
}

#[test]
fn dead_server_mid_run_costs_one_retry_budget_per_run() {
    let t = Table::new("my_dead");
    let proxy = Arc::new(Proxy::start(&server_addr()));
    let budget = Duration::from_secs(4);
    let b: BackendRef = Arc::new(
        MySqlBackend::connect_with(
            Some(&through(&proxy)),
            Some(&t.0),
            &quick_retry(budget.as_millis() as u64),
        )
        .unwrap(),
    );
    let took = check_dead_server_one_budget_per_run(b, &proxy, budget);
    eprintln!("mysql dead mid-run: failed after {took:?}");
}

#[test]
fn frozen_server_mid_run_fails_the_run_after_io_timeout() {
    let t = Table::new("my_frozen");
    let proxy = Arc::new(Proxy::start(&server_addr()));
    let io = Duration::from_secs(2);
    let opts = ServerOptions {
        io_timeout: io,
        connect_timeout: Duration::from_secs(1),
        ..quick_retry(3_000)
    };
    let b: BackendRef =
        Arc::new(MySqlBackend::connect_with(Some(&through(&proxy)), Some(&t.0), &opts).unwrap());
    let took = check_frozen_mid_run(b, &proxy, io, Duration::from_secs(60));
    eprintln!("mysql frozen mid-run: failed after {took:?}");
}

/// Names of the relations (tables, indexes) whose name contains `part`.
fn relations_named(c: &mut mysql::Conn, part: &str) -> Vec<String> {
    let mut names: Vec<String> = c
        .exec(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND LOCATE(?, table_name) > 0 \
             UNION SELECT index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND LOCATE(?, index_name) > 0",
            (part, part),
        )
        .unwrap();
    names.sort();
    names
}

/// Every name derived from the table's must fit MySQL's 64 characters: the
/// longest table name allowed works; one more character is refused before
/// anything is created, with an error naming the limit and the longest name.
#[test]
fn table_names_up_to_the_identifier_limit() {
    let base = unique_table("my_len");
    let longest = Table(name_of_len(&base, MYSQL_MAX_TABLE_NAME_LEN, 'a'));
    let over = Table(name_of_len(&base, MYSQL_MAX_TABLE_NAME_LEN + 1, 'z'));
    assert_eq!(longest.0.len(), 45);
    let mut c = admin().unwrap();
    for e in [
        MySqlBackend::connect(Some(&mysql_url()), Some(&over.0))
            .err()
            .unwrap(),
        dremioorch::backend::open(&format!("{}?table={}", mysql_url(), over.0))
            .err()
            .unwrap(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        let m = e.message();
        assert!(
            m.contains("64-character") && m.contains("longest table name allowed is 45"),
            "{m}"
        );
    }
    assert_eq!(relations_named(&mut c, &over.0), Vec::<String>::new());

    let b = open(&longest);
    check_round_trips(&b);
    let mut names = relations_named(&mut c, &longest.0);
    names.dedup();
    let l = &longest.0;
    let mut want = vec![
        l.clone(),
        format!("{l}_task_state"),
        format!("{l}_task_detail"),
        format!("{l}_run_meta"),
        format!("{l}_task_output"),
        format!("{l}_schedules"),
        format!("{l}_sched_claims"),
        format!("{l}_dag"),
        format!("{l}_run_dag"),
        format!("idx_{l}_pipeline"),
        format!("idx_{l}_pipeline_start"),
        format!("idx_{l}_start_time"),
    ];
    want.sort();
    assert_eq!(names, want);
}

/// A failure after some tables were created drops what this open created,
/// and only that: never half a schema. Here the live table's name is taken
/// by a table of another layout, which the open cannot upgrade.
#[test]
fn a_failed_open_leaves_no_half_schema() {
    let t = Table::new("my_half");
    let mut c = admin().unwrap();
    c.query_drop(format!(
        "CREATE TABLE `{}_task_state` (x INT PRIMARY KEY)",
        t.0
    ))
    .unwrap();
    let e = MySqlBackend::connect(Some(&mysql_url()), Some(&t.0))
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(
        e.message()
            .contains(&format!("cannot create table {:?}", t.0)),
        "{e}"
    );
    // The run table it created is gone; the table it found is untouched.
    assert_eq!(
        relations_named(&mut c, &t.0),
        [format!("{}_task_state", t.0)]
    );
    let cols: Vec<String> = c
        .exec(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ?",
            (format!("{}_task_state", t.0),),
        )
        .unwrap();
    assert_eq!(cols, ["x"]);
}

/// Task detail after a retry, a task timeout and a cancellation, read back
/// through a new backend (new connections); statuses-only runs are bare.
#[test]
fn task_details_read_back_through_a_new_connection() {
    let t = Table::new("my_detail");
    let reopen = || -> BackendRef { Arc::new(open(&t)) };
    check_task_details(reopen(), &reopen);
}

#[test]
fn task_names_of_ten_thousand_bytes_are_stored_whole() {
    let t = Table::new("my_long");
    check_long_task_names(Arc::new(open(&t)));
}

/// A live table keyed on (run_id, task_name VARBINARY(1024)), as earlier
/// versions created it, is upgraded when the backend opens it (by four
/// processes at once here): its live rows are kept, long names work, and
/// an earlier version's upsert still works on it.
#[test]
fn a_live_table_of_an_earlier_version_is_upgraded() {
    let t = Table::new("my_old");
    let mut c = admin().unwrap();
    c.query_drop(format!(
        "CREATE TABLE `{0}` (run_id VARCHAR(255) PRIMARY KEY, pipeline_name VARCHAR(255), \
         start_time DOUBLE, end_time DOUBLE, status VARCHAR(50), tasks JSON)",
        t.0
    ))
    .unwrap();
    c.query_drop(format!(
        "CREATE TABLE `{0}_task_state` (run_id VARCHAR(255) NOT NULL, \
         task_name VARBINARY(1024) NOT NULL, status VARCHAR(50) NOT NULL, \
         PRIMARY KEY (run_id, task_name), \
         FOREIGN KEY (run_id) REFERENCES `{0}` (run_id) ON DELETE CASCADE) ENGINE=InnoDB",
        t.0
    ))
    .unwrap();
    c.query_drop(format!(
        "INSERT INTO `{0}` VALUES ('old-1', 'p', 1.0, NULL, 'RUNNING', \
         '{{\"a\": \"PENDING\", \"b\": \"PENDING\"}}')",
        t.0
    ))
    .unwrap();
    c.query_drop(format!(
        "INSERT INTO `{0}_task_state` VALUES ('old-1', 'a', 'RUNNING')",
        t.0
    ))
    .unwrap();
    let opened: Vec<MySqlBackend> = std::thread::scope(|s| {
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
    // An earlier version's upsert, on the upgraded table.
    c.query_drop(format!(
        "INSERT INTO `{0}_task_state` (run_id, task_name, status) VALUES ('old-1', 'b', 'FAILED') \
         ON DUPLICATE KEY UPDATE status = VALUES(status)",
        t.0
    ))
    .unwrap();
    let got = opened[3].get_run("old-1").unwrap().unwrap();
    assert_eq!(got.tasks.len(), 3);
    assert_eq!(got.tasks["a"], TaskStatus::Success, "same key as before");
    assert_eq!(got.tasks["b"], TaskStatus::Failed);
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
    check_long_task_names(Arc::new(open(&t)));
}

/// Rows written by another tool or by hand that cannot be read hide no
/// other run: listing returns every readable run and names each unreadable
/// row with why, in its place in the start_time order; get_run of such a
/// row is an error naming it.
#[test]
fn unreadable_rows_are_listed_apart_and_hide_no_run() {
    let t = Table::new("my_bad");
    let b = open(&t);
    b.save_run(&run("p", "good-1", 100.0, &[])).unwrap();
    b.save_run(&run("p", "good-2", 300.0, &[("a", TaskStatus::Pending)]))
        .unwrap();
    b.update_task_status("good-2", "a", TaskStatus::Running)
        .unwrap();
    b.save_run(&run("p", "bad-live", 120.0, &[])).unwrap();
    let mut c = admin().unwrap();
    c.query_drop(format!(
        "INSERT INTO `{0}` VALUES
           ('bad-status', 'p', 200, 201, 'DONE', '{{}}'),
           ('bad-task', 'p', 250, 251, 'SUCCESS', '{{\"t\": 5}}'),
           ('bad-json', 'p', 150, 151, 'SUCCESS', '[1, 2]'),
           ('bad-null', 'p', 110, NULL, NULL, '{{}}')",
        t.0
    ))
    .unwrap();
    c.query_drop(format!(
        "INSERT INTO `{0}_task_state` (run_id, task_name, status) VALUES ('bad-live', 'x', 'WEIRD')",
        t.0
    ))
    .unwrap();
    check_unreadable_rows(
        &b,
        "p",
        &[
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
    let t = Table::new("my_txt");
    let mut c = admin().unwrap();
    c.query_drop(format!(
        "CREATE TABLE `{0}` (run_id VARCHAR(255) PRIMARY KEY, pipeline_name VARCHAR(255), \
         start_time VARCHAR(64), end_time VARCHAR(64), status VARCHAR(50), tasks JSON)",
        t.0
    ))
    .unwrap();
    c.query_drop(format!(
        "INSERT INTO `{0}` VALUES
           ('txt-1', 'p', '1700000300', NULL, 'SUCCESS', '{{}}'),
           ('txt-bad', 'p', 'yesterday', NULL, 'SUCCESS', '{{}}'),
           ('txt-2', 'p', '1700000100', '1700000101.5', 'FAILED', '{{}}')",
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
    let n: Option<u64> = admin()
        .unwrap()
        .exec_first(
            format!("SELECT COUNT(*) FROM `{}_{suffix}` WHERE run_id = ?", t.0),
            (run_id,),
        )
        .unwrap();
    n.unwrap()
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
    durable_check("my_out", durable::check_outputs);
}

/// Outputs on a live table without a foreign key (a run table it cannot
/// reference): an unknown run still writes nothing.
#[test]
fn outputs_round_trip_without_a_foreign_key() {
    let t = Table::new("my_outnofk");
    admin()
        .unwrap()
        .query_drop(format!(
            "CREATE TABLE `{0}` (run_id VARCHAR(255) CHARACTER SET latin1 PRIMARY KEY, \
             pipeline_name VARCHAR(255), start_time DOUBLE, end_time DOUBLE, \
             status VARCHAR(50), tasks JSON) ENGINE=InnoDB",
            t.0
        ))
        .unwrap();
    let reopen = || -> BackendRef { Arc::new(open(&t)) };
    let count = |ours, run_id: &str| count_rows(&t, ours, run_id);
    durable::check_outputs(reopen(), &reopen, &count);
}

#[test]
fn leases_and_resume_links() {
    durable_check("my_lease", durable::check_leases_and_links);
}

#[test]
fn recover_finishes_stale_runs_only() {
    let t = Table::new("my_rec");
    let reopen = || -> BackendRef { Arc::new(open(&t)) };
    let count = |ours, run_id: &str| count_rows(&t, ours, run_id);
    let corrupt = |run_id: &str| {
        let sql = format!(
            "UPDATE `{}` SET tasks = '{{\"z\": \"NOT_A_STATUS\"}}' WHERE run_id = ?",
            t.0
        );
        admin().unwrap().exec_drop(sql, (run_id,)).unwrap();
    };
    durable::check_recover(reopen(), &reopen, &count, &corrupt);
}

#[test]
fn concurrent_recoveries_take_each_run_once() {
    durable_check("my_crec", durable::check_concurrent_recovery);
}

#[test]
fn a_live_run_is_never_recovered() {
    durable_check("my_live", durable::check_live_run_never_recovered);
}

#[test]
fn purge_finished_runs_with_their_rows() {
    durable_check("my_purge", durable::check_purge);
}

#[test]
fn resume_through_another_instance() {
    durable_check("my_resume", |b, reopen, _| durable::check_resume(b, reopen));
}
