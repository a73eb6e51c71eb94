//! The SQLite backend: persistence, dremioframe's layout, ordering, and
//! several processes writing one file at once.

use dremioorch::{
    Backend, ErrorKind, Pipeline, PipelineRun, RunStatus, SqliteBackend, Task, TaskDetail,
    TaskStatus, TaskUpdate,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

mod server_support;

fn temp_db(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dorch-sqlite-{tag}-{}-{}",
        std::process::id(),
        uuid_like()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("history.db")
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn run(
    p: &str,
    id: &str,
    start: f64,
    status: RunStatus,
    tasks: &[(&str, TaskStatus)],
) -> PipelineRun {
    PipelineRun {
        pipeline_name: p.into(),
        run_id: id.into(),
        start_time: start,
        end_time: (status != RunStatus::Running).then_some(start + 1.5),
        status,
        tasks: tasks.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

#[test]
fn runs_survive_reopening_the_file() {
    let path = temp_db("reopen");
    let ids: Vec<String> = {
        let backend = Arc::new(SqliteBackend::open(&path).unwrap());
        let mut p = Pipeline::with_backend("nightly", backend).unwrap();
        p.add_task(Task::new("extract", |ctx| {
            ctx.set_output(b"x".to_vec());
            Ok(())
        }))
        .unwrap();
        p.add_task(Task::new("load", |_| Err("db down".into())))
            .unwrap();
        p.add_dependency("extract", "load").unwrap();
        (0..3)
            .map(|_| p.run().unwrap().run_id().to_string())
            .collect()
    };
    let b = SqliteBackend::open(&path).unwrap();
    let runs = b.list_runs(Some("nightly"), 10).unwrap();
    assert_eq!(runs.len(), 3);
    let listed: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let expected: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, expected);
    for r in &runs {
        assert_eq!(r.status, RunStatus::Failed);
        assert_eq!(r.tasks["extract"], TaskStatus::Success);
        assert_eq!(r.tasks["load"], TaskStatus::Failed);
        assert!(r.end_time.unwrap() >= r.start_time);
    }
    assert_eq!(b.get_run(&ids[1]).unwrap().unwrap(), runs[1]);
    assert_eq!(b.get_run("no-such-run").unwrap(), None);
}

#[test]
fn list_runs_orders_filters_and_limits() {
    let b = SqliteBackend::open(temp_db("list")).unwrap();
    for i in 0..20 {
        let p = if i % 2 == 0 { "even" } else { "odd" };
        // Inserted out of time order on purpose.
        let start = 1000.0 + ((i * 7) % 20) as f64;
        b.save_run(&run(
            p,
            &format!("r{i}"),
            start,
            RunStatus::Success,
            &[("t", TaskStatus::Success)],
        ))
        .unwrap();
    }
    let all = b.list_runs(None, 100).unwrap();
    assert_eq!(all.len(), 20);
    assert!(all.windows(2).all(|w| w[0].start_time > w[1].start_time));
    let top = b.list_runs(None, 3).unwrap();
    assert_eq!(
        top.iter().map(|r| r.start_time).collect::<Vec<_>>(),
        vec![1019.0, 1018.0, 1017.0]
    );
    let even = b.list_runs(Some("even"), 4).unwrap();
    assert_eq!(even.len(), 4);
    assert!(even.iter().all(|r| r.pipeline_name == "even"));
    assert!(even.windows(2).all(|w| w[0].start_time > w[1].start_time));
    assert!(b.list_runs(Some("none"), 10).unwrap().is_empty());
    assert!(b.list_runs(None, 0).unwrap().is_empty());
}

#[test]
fn updates_are_live_and_save_run_is_an_upsert() {
    let path = temp_db("live");
    let b = SqliteBackend::open(&path).unwrap();
    let r0 = run(
        "p",
        "r1",
        5.0,
        RunStatus::Running,
        &[("a", TaskStatus::Pending), ("b", TaskStatus::Pending)],
    );
    b.save_run(&r0).unwrap();
    b.update_task_status("r1", "a", TaskStatus::Running)
        .unwrap();
    b.update_task_status("r1", "a", TaskStatus::Success)
        .unwrap();
    b.update_task_status("r1", "extra", TaskStatus::Skipped)
        .unwrap();
    let got = b.get_run("r1").unwrap().unwrap();
    assert_eq!(got.tasks["a"], TaskStatus::Success);
    assert_eq!(got.tasks["b"], TaskStatus::Pending);
    assert_eq!(got.tasks["extra"], TaskStatus::Skipped);
    assert_eq!(b.list_runs(None, 1).unwrap()[0], got);

    let e = b
        .update_task_status("ghost", "a", TaskStatus::Success)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);

    // The final save replaces everything, and the file then holds the whole
    // record in dremioframe's own column.
    let fin = run(
        "p",
        "r1",
        5.0,
        RunStatus::Failed,
        &[("a", TaskStatus::Success), ("b", TaskStatus::Failed)],
    );
    b.save_run(&fin).unwrap();
    assert_eq!(b.get_run("r1").unwrap().unwrap(), fin);
    // A second, independent connection, as another program would open the file.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (status, tasks, live): (String, String, i64) = conn
        .query_row(
            "SELECT status, tasks, (SELECT count(*) FROM dorch_task_state) FROM runs WHERE run_id = 'r1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(status, "FAILED");
    assert_eq!(tasks, r#"{"a":"SUCCESS","b":"FAILED"}"#);
    assert_eq!(live, 0, "live rows are cleared by save_run");
}

#[test]
fn a_file_in_dremioframes_layout_is_read_as_it_is() {
    let path = temp_db("dremioframe");
    {
        // Exactly what dremioframe's SQLiteBackend creates and writes
        // (json.dumps puts a space after ':' and ',').
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY,
                pipeline_name TEXT,
                start_time REAL,
                end_time REAL,
                status TEXT,
                tasks TEXT
            );
            INSERT OR REPLACE INTO runs VALUES
              ('df-1', 'daily', 1700000000.25, 1700000005.5, 'SUCCESS', '{\"extract\": \"SUCCESS\", \"load\": \"SKIPPED\"}'),
              ('df-2', 'daily', 1700000100.0, NULL, 'RUNNING', '{\"extract\": \"RUNNING\"}'),
              ('df-3', 'other', 1700000050, 1700000051, 'FAILED', '{}');",
        )
        .unwrap();
    }
    let b = SqliteBackend::open(&path).unwrap();
    let one = b.get_run("df-1").unwrap().unwrap();
    let mut tasks = BTreeMap::new();
    tasks.insert("extract".to_string(), TaskStatus::Success);
    tasks.insert("load".to_string(), TaskStatus::Skipped);
    assert_eq!(
        one,
        PipelineRun {
            pipeline_name: "daily".into(),
            run_id: "df-1".into(),
            start_time: 1700000000.25,
            end_time: Some(1700000005.5),
            status: RunStatus::Success,
            tasks,
        }
    );
    let listed = b.list_runs(None, 10).unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["df-2", "df-3", "df-1"]);
    assert_eq!(listed[0].end_time, None);
    assert_eq!(
        listed[1].start_time, 1700000050.0,
        "integer REAL values read as numbers"
    );
    assert!(listed[1].tasks.is_empty());
    // dremioframe's update path (read-modify-write of the JSON) keeps working
    // beside ours, and our update of its run is visible.
    b.update_task_status("df-2", "load", TaskStatus::Running)
        .unwrap();
    let two = b.get_run("df-2").unwrap().unwrap();
    assert_eq!(two.tasks["load"], TaskStatus::Running);
    assert_eq!(two.tasks["extract"], TaskStatus::Running);
}

#[test]
fn corrupt_stored_values_are_errors_that_name_them() {
    let path = temp_db("corrupt");
    let b = SqliteBackend::open(&path).unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "INSERT INTO runs VALUES ('bad-status', 'p', 1, 2, 'DONE', '{}');
             INSERT INTO runs VALUES ('bad-task', 'p', 1, 2, 'SUCCESS', '{\"t\": \"FINE\"}');
             INSERT INTO runs VALUES ('bad-json', 'p', 1, 2, 'SUCCESS', 'not json');",
        )
        .unwrap();
    let e = b.get_run("bad-status").unwrap_err();
    assert!(
        e.message().contains("\"DONE\"") && e.message().contains("bad-status"),
        "{e}"
    );
    let e = b.get_run("bad-task").unwrap_err();
    assert!(e.message().contains("\"FINE\""), "{e}");
    let e = b.get_run("bad-json").unwrap_err();
    assert!(e.message().contains("not valid JSON"), "{e}");
    assert_eq!(b.list_runs(Some("p"), 10).unwrap(), vec![]);
}

/// Rows written by another tool or by hand that cannot be read hide no
/// other run: listing returns every readable run and names each unreadable
/// row with why, in its place in the start_time order; get_run of such a
/// row is an error naming it and the column.
#[test]
fn unreadable_rows_are_listed_apart_and_hide_no_run() {
    let path = temp_db("unreadable");
    let b = SqliteBackend::open(&path).unwrap();
    b.save_run(&run("p", "good-1", 100.0, RunStatus::Success, &[]))
        .unwrap();
    b.save_run(&run(
        "p",
        "good-2",
        300.0,
        RunStatus::Running,
        &[("a", TaskStatus::Pending)],
    ))
    .unwrap();
    b.update_task_status("good-2", "a", TaskStatus::Running)
        .unwrap();
    b.save_run(&run("p", "bad-live", 120.0, RunStatus::Running, &[]))
        .unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "INSERT INTO runs VALUES ('bad-time', 'p', 'yesterday', NULL, 'SUCCESS', '{}');
             INSERT INTO runs VALUES ('bad-status', 'p', 200, 201, 'DONE', '{}');
             INSERT INTO runs VALUES ('bad-task', 'p', 250, 251, 'SUCCESS', '{\"t\": 5}');
             INSERT INTO runs VALUES ('bad-json', 'p', 150, 151, 'SUCCESS', '[1, 2]');
             INSERT INTO runs VALUES ('bad-end', 'p', 110, X'00ff', 'SUCCESS', '{}');
             INSERT INTO runs VALUES (NULL, 'p', 50, 51, 'SUCCESS', '{}');
             INSERT INTO dorch_task_state (run_id, task_name, status) VALUES ('bad-live', 'x', 'WEIRD');",
        )
        .unwrap();
    // A text start_time sorts above every number in SQLite: first.
    server_support::check_unreadable_rows(
        &b,
        "p",
        &[
            ("bad-time", Some("column start_time: text \"yesterday\"")),
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
            ("bad-end", Some("column end_time: a BLOB of 2 bytes")),
            ("good-1", None),
            ("", Some("column run_id is NULL")),
        ],
    );
    let good2 = b.get_run("good-2").unwrap().unwrap();
    assert_eq!(good2.tasks["a"], TaskStatus::Running, "live rows merged");
}

#[test]
fn an_unopenable_path_is_a_clear_error() {
    let e = SqliteBackend::open("/proc/definitely/not/here.db")
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert!(e.message().contains("/proc/definitely/not/here.db"), "{e}");
    assert_eq!(
        SqliteBackend::open("").err().unwrap().kind(),
        ErrorKind::InvalidArgument
    );
}

const CHILD_RUNS: usize = 40;
const CHILD_TASKS: usize = 20;
const CHILD_UPDATES: usize = 300;
const PROCESSES: usize = 6;

/// Not a test on its own: the body of each child process of
/// `many_processes_write_one_file_without_loss`.
#[test]
#[ignore = "child process entry point of many_processes_write_one_file_without_loss"]
fn sqlite_child_writer() {
    let db = std::env::var("DORCH_CHILD_DB").expect("run by the parent test");
    let id: usize = std::env::var("DORCH_CHILD_ID").unwrap().parse().unwrap();
    let shared = std::env::var("DORCH_SHARED_RUN").unwrap();
    let backend = Arc::new(SqliteBackend::open(&db).unwrap());
    let mut p = Pipeline::with_backend(format!("proc{id}"), backend.clone()).unwrap();
    p.set_max_workers(2).unwrap();
    for t in 0..CHILD_TASKS {
        p.add_task(Task::new(format!("t{t}"), |_| Ok(()))).unwrap();
        if t >= 2 {
            p.add_dependency(&format!("t{}", t - 2), &format!("t{t}"))
                .unwrap();
        }
    }
    for k in 0..CHILD_UPDATES {
        backend
            .update_task_status(&shared, &format!("p{id}_u{k}"), TaskStatus::Success)
            .unwrap();
        if k < CHILD_RUNS {
            assert_eq!(p.run().unwrap().status(), RunStatus::Success);
        }
    }
}

#[test]
fn many_processes_write_one_file_without_loss() {
    let path = temp_db("multiproc");
    let b = SqliteBackend::open(&path).unwrap();
    b.save_run(&run("shared", "shared-run", 1.0, RunStatus::Running, &[]))
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "sqlite_child_writer",
                    "--test-threads=1",
                ])
                .env("DORCH_CHILD_DB", &path)
                .env("DORCH_CHILD_ID", id.to_string())
                .env("DORCH_SHARED_RUN", "shared-run")
                .output_async()
        })
        .collect();
    for (id, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child {id} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for id in 0..PROCESSES {
        let runs = b.list_runs(Some(&format!("proc{id}")), 1000).unwrap();
        assert_eq!(runs.len(), CHILD_RUNS, "runs of process {id}");
        for r in runs {
            assert_eq!(r.status, RunStatus::Success);
            assert_eq!(r.tasks.len(), CHILD_TASKS);
            assert!(r.tasks.values().all(|s| *s == TaskStatus::Success), "{r:?}");
        }
    }
    let shared = b.get_run("shared-run").unwrap().unwrap();
    assert_eq!(
        shared.tasks.len(),
        PROCESSES * CHILD_UPDATES,
        "no update lost"
    );
    assert!(shared.tasks.values().all(|s| *s == TaskStatus::Success));
}

trait SpawnAsync {
    fn output_async(&mut self) -> std::process::Child;
}
impl SpawnAsync for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn grouped_updates_are_one_atomic_write() {
    let b = SqliteBackend::open(temp_db("grouped")).unwrap();
    b.save_run(&run(
        "p",
        "g1",
        1.0,
        RunStatus::Running,
        &[("a", TaskStatus::Pending)],
    ))
    .unwrap();
    b.update_task_statuses(
        "g1",
        &[
            ("a", TaskStatus::Running),
            ("b", TaskStatus::Skipped),
            ("a", TaskStatus::Success),
        ],
    )
    .unwrap();
    let got = b.get_run("g1").unwrap().unwrap();
    assert_eq!(got.tasks["a"], TaskStatus::Success, "the last status wins");
    assert_eq!(got.tasks["b"], TaskStatus::Skipped);
    let e = b
        .update_task_statuses(
            "ghost",
            &[("a", TaskStatus::Success), ("b", TaskStatus::Failed)],
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(b.get_run("ghost").unwrap().is_none());
}

#[test]
fn task_names_of_ten_thousand_bytes_are_stored_whole() {
    let path = temp_db("longnames");
    server_support::check_long_task_names(Arc::new(SqliteBackend::open(&path).unwrap()));
}

/// Task detail after a retry, a task timeout and a cancellation, read back
/// from the file reopened; statuses-only runs are bare.
#[test]
fn task_details_survive_reopening_the_file() {
    let path = temp_db("details");
    let reopen = || -> dremioorch::BackendRef { Arc::new(SqliteBackend::open(&path).unwrap()) };
    server_support::check_task_details(reopen(), &reopen);
    // Another program sees the detail in our table, beside dremioframe's.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (attempts, error): (i64, String) = conn
        .query_row(
            "SELECT d.attempts, d.error FROM dorch_task_detail d JOIN runs r USING (run_id) \
             WHERE r.pipeline_name = 'details_retry' AND d.task_name = 'bad'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((attempts, error.as_str()), (2, "x (after 2 attempts)"));
}

/// A file whose live table an earlier version created (no detail columns),
/// opened by four backends at once: the columns are added once, the live
/// rows kept, and detail works.
#[test]
fn a_live_table_of_an_earlier_version_gets_the_detail_columns() {
    let path = temp_db("olddetail");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, pipeline_name TEXT, start_time REAL,
               end_time REAL, status TEXT, tasks TEXT);
             CREATE TABLE dorch_task_state (run_id TEXT NOT NULL, task_name TEXT NOT NULL,
               status TEXT NOT NULL, PRIMARY KEY (run_id, task_name)) WITHOUT ROWID;
             INSERT INTO runs VALUES ('old-1', 'p', 1.0, NULL, 'RUNNING',
               '{\"a\": \"PENDING\", \"b\": \"PENDING\"}');
             INSERT INTO dorch_task_state VALUES ('old-1', 'a', 'RUNNING');",
        )
        .unwrap();
    }
    let opened: Vec<SqliteBackend> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| SqliteBackend::open(&path).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let b = &opened[0];
    assert_eq!(
        b.get_task_details("old-1").unwrap(),
        [
            TaskDetail::bare("a", TaskStatus::Running),
            TaskDetail::bare("b", TaskStatus::Pending)
        ]
    );
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
    assert_eq!(
        opened[3].get_task_details("old-1").unwrap(),
        [TaskDetail::bare("a", TaskStatus::Running), u.to_detail()]
    );
    // An earlier version's status upsert still works on the table.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO dorch_task_state (run_id, task_name, status) VALUES ('old-1', 'a', 'SUCCESS')
         ON CONFLICT (run_id, task_name) DO UPDATE SET status = excluded.status",
        [],
    )
    .unwrap();
    assert_eq!(
        opened[1].get_run("old-1").unwrap().unwrap().tasks["a"],
        TaskStatus::Success
    );
    let cols: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('dorch_task_state')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cols, 7);
}
