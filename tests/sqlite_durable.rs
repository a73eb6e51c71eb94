//! Durable history on the SQLite backend: stored outputs, leases, resume
//! links, recovery of runs whose owner is gone, and purge, on real files
//! (several backends and threads writing one file at once).

use dremioorch::{
    now_seconds, Backend, ErrorKind, OutputRef, Pipeline, PipelineRun, RunOptions, RunStatus,
    SqliteBackend, StoredOutput, Task, TaskStatus, TaskUpdate,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn temp_db(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "dorch-sqlite-durable-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("history.db")
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
        end_time: (status != RunStatus::Running).then_some(start + 1.0),
        status,
        tasks: tasks.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

fn update<'a>(task: &'a str, status: TaskStatus, output: Option<OutputRef<'a>>) -> TaskUpdate<'a> {
    TaskUpdate {
        task,
        status,
        attempts: 1,
        start_time: Some(10.0),
        end_time: (status != TaskStatus::Running).then_some(11.0),
        error: None,
        output,
    }
}

fn count(path: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn outputs_round_trip_with_the_update_that_carries_them() {
    let path = temp_db("outputs");
    let b = SqliteBackend::open(&path).unwrap();
    b.save_run(&run("p", "r1", 1.0, RunStatus::Running, &[]))
        .unwrap();
    // A pair (final status with output + next RUNNING), a single update,
    // and a group of three, each with outputs.
    b.update_tasks(
        "r1",
        &[
            update("a", TaskStatus::Success, Some(OutputRef::Stored(b"alpha"))),
            update("b", TaskStatus::Running, None),
        ],
    )
    .unwrap();
    b.update_tasks(
        "r1",
        &[update(
            "b",
            TaskStatus::Success,
            Some(OutputRef::NotStored(5_000_000)),
        )],
    )
    .unwrap();
    b.update_tasks(
        "r1",
        &[
            update("c", TaskStatus::Success, Some(OutputRef::Stored(b""))),
            update(
                "d",
                TaskStatus::Success,
                Some(OutputRef::Stored(&[0, 255, 0])),
            ),
            update("e", TaskStatus::Failed, None),
        ],
    )
    .unwrap();
    let mut want = BTreeMap::new();
    want.insert("a".to_string(), StoredOutput::Stored(b"alpha".to_vec()));
    want.insert("b".to_string(), StoredOutput::NotStored(5_000_000));
    want.insert("c".to_string(), StoredOutput::Stored(Vec::new()));
    want.insert("d".to_string(), StoredOutput::Stored(vec![0, 255, 0]));
    assert_eq!(b.get_outputs("r1").unwrap(), want);
    // The statuses went with them, and the outputs survive save_run and
    // reopening the file.
    let r = b.get_run("r1").unwrap().unwrap();
    assert_eq!(r.tasks["b"], TaskStatus::Success);
    assert_eq!(r.tasks["e"], TaskStatus::Failed);
    b.save_run(&PipelineRun {
        status: RunStatus::Failed,
        ..r
    })
    .unwrap();
    drop(b);
    let b = SqliteBackend::open(&path).unwrap();
    assert_eq!(b.get_outputs("r1").unwrap(), want);
    // The empty output is a zero-length BLOB, the unstored one NULL with its size.
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM dorch_task_output WHERE task_name = 'c' \
             AND typeof(data) = 'blob' AND length(data) = 0 AND size = 0"
        ),
        1
    );
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM dorch_task_output WHERE task_name = 'b' \
             AND data IS NULL AND size = 5000000"
        ),
        1
    );

    // A run without outputs has an empty map; an unknown run is NotFound,
    // and an update with an output for it writes nothing.
    b.save_run(&run("p", "r2", 2.0, RunStatus::Success, &[]))
        .unwrap();
    assert!(b.get_outputs("r2").unwrap().is_empty());
    assert_eq!(
        b.get_outputs("nope").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    for ups in [
        vec![update(
            "a",
            TaskStatus::Success,
            Some(OutputRef::Stored(b"x")),
        )],
        vec![
            update("a", TaskStatus::Success, Some(OutputRef::Stored(b"x"))),
            update("b", TaskStatus::Running, None),
        ],
        vec![
            update("a", TaskStatus::Success, Some(OutputRef::Stored(b"x"))),
            update("b", TaskStatus::Success, Some(OutputRef::Stored(b"y"))),
            update("c", TaskStatus::Running, None),
        ],
    ] {
        let e = b.update_tasks("nope", &ups).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM dorch_task_output WHERE run_id = 'nope'"
        ),
        0
    );
    // A task written twice in one call keeps its last output.
    b.update_tasks(
        "r2",
        &[
            update("t", TaskStatus::Success, Some(OutputRef::Stored(b"first"))),
            update("t", TaskStatus::Success, Some(OutputRef::Stored(b"last"))),
        ],
    )
    .unwrap();
    assert_eq!(
        b.get_outputs("r2").unwrap()["t"],
        StoredOutput::Stored(b"last".to_vec())
    );
}

#[test]
fn leases_and_resume_links_are_kept_per_run() {
    let path = temp_db("meta");
    let b = SqliteBackend::open(&path).unwrap();
    b.save_run(&run("p", "r1", 1.0, RunStatus::Running, &[]))
        .unwrap();
    let e = b
        .renew_lease("nope", 5.0, Duration::from_secs(2))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(
        b.link_resume("nope", "r1").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        b.resumed_from("nope").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(count(&path, "SELECT count(*) FROM dorch_run_meta"), 0);
    assert_eq!(b.resumed_from("r1").unwrap(), None, "no meta row yet");

    b.renew_lease("r1", 100.5, Duration::from_millis(2500))
        .unwrap();
    assert_eq!(b.resumed_from("r1").unwrap(), None, "a lease, no link");
    b.link_resume("r1", "orig").unwrap();
    b.renew_lease("r1", 102.5, Duration::from_millis(2500))
        .unwrap();
    assert_eq!(b.resumed_from("r1").unwrap().as_deref(), Some("orig"));
    let (at, every, from): (f64, f64, String) = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT lease_renewed_at, lease_interval, resumed_from FROM dorch_run_meta \
             WHERE run_id = 'r1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((at, every, from.as_str()), (102.5, 2.5, "orig"));
    // dremioframe's view of the run is unchanged.
    assert_eq!(
        b.get_run("r1").unwrap().unwrap(),
        run("p", "r1", 1.0, RunStatus::Running, &[])
    );
}

#[test]
fn a_file_of_an_earlier_version_gains_the_tables_on_open() {
    let path = temp_db("upgrade");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, pipeline_name TEXT, start_time REAL,
               end_time REAL, status TEXT, tasks TEXT);
             CREATE TABLE dorch_task_state (run_id TEXT NOT NULL, task_name TEXT NOT NULL,
               status TEXT NOT NULL, PRIMARY KEY (run_id, task_name)) WITHOUT ROWID;
             INSERT INTO runs VALUES ('old', 'p', 1.0, NULL, 'RUNNING', '{\"a\": \"RUNNING\"}');",
        )
        .unwrap();
    }
    let b = SqliteBackend::open(&path).unwrap();
    for t in ["dorch_run_meta", "dorch_task_output"] {
        assert_eq!(
            count(
                &path,
                &format!(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{t}'"
                )
            ),
            1,
            "{t}"
        );
    }
    // The runs table keeps dremioframe's six columns.
    assert_eq!(
        count(&path, "SELECT count(*) FROM pragma_table_info('runs')"),
        6
    );
    b.renew_lease("old", now_seconds(), Duration::from_secs(2))
        .unwrap();
    assert_eq!(b.recover(Duration::ZERO).unwrap(), 0, "its lease is fresh");
}

/// A run left RUNNING by a dead owner: "done" SUCCESS (live row with
/// detail), "busy" RUNNING (live row), "later" PENDING (in the record only).
fn dead_run(b: &SqliteBackend, id: &str, start: f64, lease_at: Option<f64>) {
    b.save_run(&run(
        "p",
        id,
        start,
        RunStatus::Running,
        &[
            ("done", TaskStatus::Pending),
            ("busy", TaskStatus::Pending),
            ("later", TaskStatus::Pending),
        ],
    ))
    .unwrap();
    if let Some(at) = lease_at {
        b.renew_lease(id, at, Duration::from_secs(2)).unwrap();
    }
    b.update_tasks(
        id,
        &[
            update("done", TaskStatus::Success, Some(OutputRef::Stored(b"d"))),
            TaskUpdate {
                attempts: 2,
                start_time: Some(12.0),
                ..update("busy", TaskStatus::Running, None)
            },
        ],
    )
    .unwrap();
}

#[test]
fn recover_finishes_stale_runs_exactly_once_and_leaves_live_ones() {
    let path = temp_db("recover");
    let b = SqliteBackend::open(&path).unwrap();
    let now = now_seconds();
    dead_run(&b, "dead", now - 3600.0, Some(now - 600.0));
    // Written by another tool: no lease, started 10 s ago.
    dead_run(&b, "young", now - 10.0, None);
    // Started long ago but its owner renews: never recovered.
    dead_run(&b, "alive", now - 7200.0, Some(now));
    // Unreadable: skipped, not an error for the whole call.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO runs VALUES ('bad', 'p', ?1, NULL, 'RUNNING', '{not json')",
            [now - 7200.0],
        )
        .unwrap();

    // Before the window: nothing changes.
    assert_eq!(b.recover(Duration::from_secs(3600)).unwrap(), 0);
    assert_eq!(
        b.get_run("dead").unwrap().unwrap().status,
        RunStatus::Running
    );
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM dorch_task_state WHERE run_id = 'dead'"
        ),
        2
    );

    // After it: the dead run only.
    let before = now_seconds();
    assert_eq!(b.recover(Duration::from_secs(60)).unwrap(), 1);
    let r = b.get_run("dead").unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.end_time.unwrap() >= before - 1.0);
    // The tasks column holds every final status (what dremioframe reads).
    let (tasks, status, end): (String, String, f64) = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT tasks, status, end_time FROM runs WHERE run_id = 'dead'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        serde_json_value(&tasks),
        serde_json_value(r#"{"busy":"FAILED","done":"SUCCESS","later":"SKIPPED"}"#)
    );
    assert_eq!(status, "FAILED");
    assert_eq!(Some(end), r.end_time);
    // Live rows gone, detail moved to the detail table.
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM dorch_task_state WHERE run_id = 'dead'"
        ),
        0
    );
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM dorch_task_detail WHERE run_id = 'dead'"
        ),
        3
    );
    let d: BTreeMap<String, _> = b
        .get_task_details("dead")
        .unwrap()
        .into_iter()
        .map(|d| (d.name.clone(), d))
        .collect();
    assert_eq!(d["done"].status, TaskStatus::Success);
    assert_eq!(d["done"].error, None);
    assert_eq!(d["done"].end_time, Some(11.0));
    assert_eq!(d["busy"].status, TaskStatus::Failed);
    assert_eq!(d["busy"].error.as_deref(), Some("owner lost"));
    assert_eq!(d["busy"].attempts, 2, "attempts kept");
    assert_eq!(d["busy"].start_time, Some(12.0));
    assert_eq!(d["busy"].end_time, r.end_time);
    assert_eq!(d["later"].status, TaskStatus::Skipped);
    assert_eq!(d["later"].error.as_deref(), Some("owner lost"));
    assert_eq!(d["later"].end_time, r.end_time);
    assert_eq!(d["later"].attempts, 0);
    // Its stored output stays.
    assert_eq!(b.get_outputs("dead").unwrap().len(), 1);

    for id in ["young", "alive", "bad"] {
        let status: String = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT status FROM runs WHERE run_id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(status, "RUNNING", "{id}");
    }
    // Recovered once; a smaller window then takes the young run, never the
    // one whose owner renews, even with a zero window.
    assert_eq!(b.recover(Duration::from_secs(60)).unwrap(), 0);
    assert_eq!(b.recover(Duration::from_secs(5)).unwrap(), 1);
    assert_eq!(b.recover(Duration::ZERO).unwrap(), 0);
    assert_eq!(
        b.get_run("alive").unwrap().unwrap().status,
        RunStatus::Running
    );
}

fn serde_json_value(s: &str) -> BTreeMap<String, String> {
    serde_json::from_str(s).unwrap()
}

#[test]
fn a_run_whose_owner_renews_is_never_recovered() {
    let path = temp_db("leased");
    let b = Arc::new(SqliteBackend::open(&path).unwrap());
    let other = Arc::new(SqliteBackend::open(&path).unwrap());
    let mut p = Pipeline::with_backend("leased", b.clone()).unwrap();
    let o = other.clone();
    p.add_task(Task::new("long", move |ctx| {
        // Long enough for several renewals at 200 ms.
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(o.recover(Duration::ZERO).unwrap(), 0);
        let me = o.get_run(ctx.run_id()).unwrap().unwrap();
        assert_eq!(me.status, RunStatus::Running);
        Ok(())
    }))
    .unwrap();
    let r = p
        .run_with(&RunOptions::new().lease_interval(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(r.status(), RunStatus::Success);
    let (at, every): (f64, f64) = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT lease_renewed_at, lease_interval FROM dorch_run_meta WHERE run_id = ?1",
            [r.run_id()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!((every - 0.2).abs() < 1e-9);
    assert!(now_seconds() - at < 60.0);
}

#[test]
fn concurrent_recoveries_count_each_run_once() {
    let path = temp_db("recover-race");
    let setup = SqliteBackend::open(&path).unwrap();
    let now = now_seconds();
    let stale = 40;
    for i in 0..stale {
        dead_run(
            &setup,
            &format!("dead-{i}"),
            now - 3600.0,
            Some(now - 600.0),
        );
    }
    dead_run(&setup, "alive", now - 3600.0, Some(now));
    drop(setup);
    // Two backends on the file and two threads on each.
    let backends = [
        Arc::new(SqliteBackend::open(&path).unwrap()),
        Arc::new(SqliteBackend::open(&path).unwrap()),
    ];
    let start = Arc::new(std::sync::Barrier::new(4));
    let counts: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let b = backends[i % 2].clone();
                let start = start.clone();
                s.spawn(move || {
                    start.wait();
                    b.recover(Duration::from_secs(60)).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(counts.iter().sum::<u64>(), stale as u64, "{counts:?}");
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM runs WHERE status = 'FAILED' AND run_id LIKE 'dead-%'"
        ),
        stale
    );
    assert_eq!(
        backends[0].get_run("alive").unwrap().unwrap().status,
        RunStatus::Running
    );
}

#[test]
fn two_backends_recovering_from_two_threads_count_each_run_once() {
    let path = temp_db("recover-two");
    let setup = SqliteBackend::open(&path).unwrap();
    let now = now_seconds();
    // Half with an old lease, half without one (another tool's runs).
    for i in 0..30 {
        let lease = (i % 2 == 0).then_some(now - 600.0);
        dead_run(&setup, &format!("dead-{i}"), now - 3600.0, lease);
    }
    drop(setup);
    let a = SqliteBackend::open(&path).unwrap();
    let b = SqliteBackend::open(&path).unwrap();
    let (x, y) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.recover(Duration::from_secs(60)).unwrap());
        let hb = s.spawn(|| b.recover(Duration::from_secs(60)).unwrap());
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert_eq!(x + y, 30, "{x} + {y}");
    assert_eq!(
        count(&path, "SELECT count(*) FROM runs WHERE status = 'RUNNING'"),
        0
    );
    assert_eq!(count(&path, "SELECT count(*) FROM dorch_task_state"), 0);
}

#[test]
fn purge_deletes_finished_runs_with_their_rows_and_dry_run_counts_the_same() {
    let path = temp_db("purge");
    let b = SqliteBackend::open(&path).unwrap();
    for (id, start, status, pipe) in [
        ("old1", 10.0, RunStatus::Success, "a"),
        ("old2", 20.0, RunStatus::Failed, "b"),
        ("old3", 30.0, RunStatus::Success, "a"),
        ("old-running", 15.0, RunStatus::Running, "a"),
        ("new", 100.0, RunStatus::Success, "a"),
    ] {
        b.save_run(&run(pipe, id, start, RunStatus::Running, &[]))
            .unwrap();
        b.renew_lease(id, start, Duration::from_secs(2)).unwrap();
        b.link_resume(id, "x").unwrap();
        b.update_tasks(
            id,
            &[update(
                "t",
                TaskStatus::Success,
                Some(OutputRef::Stored(b"o")),
            )],
        )
        .unwrap();
        if status != RunStatus::Running {
            // Detail moves to the detail table; a live row is written after.
            b.save_run(&run(pipe, id, start, status, &[("t", TaskStatus::Success)]))
                .unwrap();
            b.update_tasks(id, &[update("u", TaskStatus::Success, None)])
                .unwrap();
        }
    }
    // Rows no purge takes: a text start_time, an unknown status.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "INSERT INTO runs VALUES ('text-start', 'a', 'yesterday', NULL, 'SUCCESS', '{}');
             INSERT INTO runs VALUES ('odd-status', 'a', 1.0, NULL, 'CANCELLED', '{}');",
        )
        .unwrap();
    let side = |id: &str| -> i64 {
        [
            "dorch_task_state",
            "dorch_task_detail",
            "dorch_task_output",
            "dorch_run_meta",
        ]
        .iter()
        .map(|t| {
            count(
                &path,
                &format!("SELECT count(*) FROM {t} WHERE run_id = '{id}'"),
            )
        })
        .sum()
    };
    assert_eq!(side("old1"), 4);
    assert_eq!(side("old-running"), 3);

    assert_eq!(b.purge(50.0, Some("a"), true).unwrap(), 2);
    assert_eq!(b.purge(50.0, Some("b"), true).unwrap(), 1);
    assert_eq!(b.purge(50.0, Some("zzz"), true).unwrap(), 0);
    assert_eq!(b.purge(50.0, None, true).unwrap(), 3);
    assert_eq!(b.purge(25.0, None, true).unwrap(), 2);
    assert_eq!(count(&path, "SELECT count(*) FROM runs"), 7, "dry run");
    assert_eq!(side("old1"), 4, "dry run");

    assert_eq!(b.purge(50.0, Some("b"), false).unwrap(), 1);
    assert!(b.get_run("old2").unwrap().is_none());
    assert_eq!(side("old2"), 0);
    assert_eq!(b.purge(50.0, None, true).unwrap(), 2);
    assert_eq!(b.purge(50.0, None, false).unwrap(), 2);
    assert_eq!(b.purge(50.0, None, true).unwrap(), 0);
    let left: Vec<String> = rusqlite::Connection::open(&path)
        .unwrap()
        .prepare("SELECT run_id FROM runs ORDER BY run_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(left, ["new", "odd-status", "old-running", "text-start"]);
    for id in ["old1", "old2", "old3"] {
        assert_eq!(side(id), 0, "{id}");
        assert_eq!(b.get_outputs(id).unwrap_err().kind(), ErrorKind::NotFound);
    }
    assert_eq!(side("old-running"), 3);
    assert_eq!(side("new"), 4);
    assert_eq!(
        b.get_outputs("old-running").unwrap()["t"],
        StoredOutput::Stored(b"o".to_vec())
    );
}

/// A -> B -> C -> D where C fails while `c_fails` says so; counts calls.
fn abcd(
    b: Arc<SqliteBackend>,
    calls: &Arc<[AtomicUsize; 4]>,
    c_fails: &Arc<AtomicUsize>,
) -> Pipeline {
    let mut p = Pipeline::with_backend("abcd", b).unwrap();
    for (i, name) in ["A", "B", "C", "D"].into_iter().enumerate() {
        let (calls, c_fails) = (calls.clone(), c_fails.clone());
        p.add_task(Task::new(name, move |ctx| {
            calls[i].fetch_add(1, Ordering::SeqCst);
            let input = match i {
                0 => Vec::new(),
                _ => ctx
                    .get(["A", "B", "C"][i - 1])
                    .ok_or("no upstream output")?
                    .to_vec(),
            };
            if i == 2 && c_fails.load(Ordering::SeqCst) > 0 {
                c_fails.fetch_sub(1, Ordering::SeqCst);
                return Err("C fails this time".into());
            }
            let mut out = input;
            out.push(b'a' + i as u8);
            ctx.set_output(out);
            Ok(())
        }))
        .unwrap();
    }
    p.add_dependency("A", "B").unwrap();
    p.add_dependency("B", "C").unwrap();
    p.add_dependency("C", "D").unwrap();
    p
}

#[test]
fn resume_from_the_file_runs_only_what_did_not_succeed() {
    let path = temp_db("resume");
    let calls: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let c_fails = Arc::new(AtomicUsize::new(1));
    let first_id = {
        let p = abcd(
            Arc::new(SqliteBackend::open(&path).unwrap()),
            &calls,
            &c_fails,
        );
        let first = p.run().unwrap();
        assert_eq!(first.status(), RunStatus::Failed);
        assert_eq!(first.task_status("D"), Some(TaskStatus::Skipped));
        first.run_id().to_string()
    };
    // Another process (here: another backend on the file) resumes it.
    let b = Arc::new(SqliteBackend::open(&path).unwrap());
    let outs = b.get_outputs(&first_id).unwrap();
    assert_eq!(outs.get("B"), Some(&StoredOutput::Stored(b"ab".to_vec())));
    assert!(!outs.contains_key("C"));
    let p = abcd(b.clone(), &calls, &c_fails);
    let second = p.resume(&first_id, &RunOptions::new()).unwrap();
    assert_eq!(second.status(), RunStatus::Success);
    assert_ne!(second.run_id(), first_id);
    let n: Vec<usize> = calls.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(n, [1, 1, 2, 1], "A and B are not called again");
    assert_eq!(
        second.output("D"),
        Some(&b"abcd"[..]),
        "C read B's stored output"
    );
    assert_eq!(
        b.resumed_from(second.run_id()).unwrap().as_deref(),
        Some(first_id.as_str())
    );
    assert_eq!(b.resumed_from(&first_id).unwrap(), None);
    // The new run stores every output, so it can be resumed in turn.
    assert_eq!(b.get_outputs(second.run_id()).unwrap().len(), 4);
    let stored = b.get_run(second.run_id()).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Success);
    assert!(stored.tasks.values().all(|s| *s == TaskStatus::Success));
}

/// Fills the file with `n` finished runs (one detail row, one output and
/// one meta row each) in one statement per table.
fn fill_finished(path: &Path, n: i64) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("BEGIN").unwrap();
    c.execute(
        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?1)
         INSERT INTO runs SELECT printf('old-%07d', i), 'p' || (i % 10), 1000.0 + i,
           1003.0 + i, CASE i % 3 WHEN 0 THEN 'FAILED' ELSE 'SUCCESS' END,
           '{\"a\":\"SUCCESS\"}' FROM k",
        [n],
    )
    .unwrap();
    c.execute_batch(
        "INSERT INTO dorch_task_detail SELECT run_id, 'a', 1, start_time, end_time, NULL
           FROM runs WHERE run_id LIKE 'old-%';
         INSERT INTO dorch_task_output SELECT run_id, 'a', 8, x'0102030405060708'
           FROM runs WHERE run_id LIKE 'old-%';
         INSERT INTO dorch_run_meta SELECT run_id, start_time, 2.0, NULL
           FROM runs WHERE run_id LIKE 'old-%';
         COMMIT",
    )
    .unwrap();
}

/// Purging 100,000 runs while another backend keeps writing a running
/// run's task updates: no write fails, none waits long, and the purge
/// takes every finished run and nothing else.
#[test]
fn a_big_purge_lets_other_writers_in() {
    let path = temp_db("purge-lock");
    let b = SqliteBackend::open(&path).unwrap();
    b.save_run(&run("p", "live", 500.0, RunStatus::Running, &[]))
        .unwrap();
    fill_finished(&path, 100_000);
    let done = AtomicBool::new(false);
    let writer = SqliteBackend::open(&path).unwrap();
    let (purged, writes, worst, errors) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let (mut writes, mut worst, mut errors) = (0u64, Duration::ZERO, Vec::new());
            let names: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                let (a, c) = (&names[i % 50], &names[(i + 1) % 50]);
                let t = Instant::now();
                let r = writer.update_tasks(
                    "live",
                    &[
                        update(a, TaskStatus::Success, None),
                        update(c, TaskStatus::Running, None),
                    ],
                );
                worst = worst.max(t.elapsed());
                if let Err(e) = r {
                    errors.push(e.to_string());
                }
                writes += 1;
                i += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            (writes, worst, errors)
        });
        // Let the writer start first.
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        let purged = b.purge(1e9, None, false).unwrap();
        let took = t.elapsed();
        done.store(true, Ordering::SeqCst);
        let (writes, worst, errors) = h.join().unwrap();
        eprintln!("purged {purged} runs in {took:?}; {writes} writes, worst wait {worst:?}");
        (purged, writes, worst, errors)
    });
    assert_eq!(purged, 100_000);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(writes > 10, "the writer kept writing: {writes}");
    assert!(worst < Duration::from_secs(2), "a write waited {worst:?}");
    assert_eq!(count(&path, "SELECT count(*) FROM runs"), 1);
    for t in ["dorch_task_detail", "dorch_task_output", "dorch_run_meta"] {
        assert_eq!(count(&path, &format!("SELECT count(*) FROM {t}")), 0, "{t}");
    }
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM dorch_task_state WHERE run_id = 'live'"
        ),
        50
    );
    assert_eq!(
        b.get_run("live").unwrap().unwrap().status,
        RunStatus::Running
    );
}
