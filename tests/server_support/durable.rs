//! Durable history checks shared by the server backends: stored outputs,
//! leases and resume links, recovery (also by several instances at once),
//! purge, and a resume through `Pipeline::resume`. Each takes the backend,
//! a way to open another instance on the same tables (new connections, as
//! another process would), and, where rows of the backend's own tables
//! matter, a way to count them.

use super::run;
use dremioorch::{
    now_seconds, BackendRef, ErrorKind, OutputRef, Pipeline, RunOptions, RunStatus, StoredOutput,
    Task, TaskDetail, TaskStatus, TaskUpdate,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// The backend's own per-run tables, as `Count` counts their rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ours {
    /// Live task rows (`_task_state`).
    Live,
    /// Task detail kept after `save_run` (`_task_detail`).
    Detail,
    /// Task outputs (`_task_output`).
    Output,
    /// The run's lease and resume link (`_run_meta`).
    Meta,
}

pub const ALL_OURS: [Ours; 4] = [Ours::Live, Ours::Detail, Ours::Output, Ours::Meta];

/// Rows of one of our tables that belong to a run id, read directly.
pub type Count<'a> = &'a dyn Fn(Ours, &str) -> u64;

/// Opens another backend instance on the same tables.
pub type Reopen<'a> = &'a dyn Fn() -> BackendRef;

fn done<'a>(task: &'a str, output: Option<OutputRef<'a>>) -> TaskUpdate<'a> {
    TaskUpdate {
        task,
        status: TaskStatus::Success,
        attempts: 1,
        start_time: Some(1.5),
        end_time: Some(2.25),
        error: None,
        output,
    }
}

fn running(task: &str, attempts: u32, start: f64) -> TaskUpdate<'_> {
    TaskUpdate {
        task,
        status: TaskStatus::Running,
        attempts,
        start_time: Some(start),
        end_time: None,
        error: None,
        output: None,
    }
}

fn not_found<T: std::fmt::Debug>(r: dremioorch::Result<T>) {
    let e = r.expect_err("expected NotFound");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

/// Outputs written with `update_tasks` (alone, in a pair, in a batch; stored,
/// not stored, empty, binary, 1 MiB, odd and long task names) read back
/// exactly through another instance; rewritten by a retried or newer
/// write; kept by `save_run`; unknown runs are NotFound and write nothing.
pub fn check_outputs(b: BackendRef, reopen: Reopen, count: Count) {
    let odd = "out \"ünïcode\" ☃\nline";
    let long = "L".repeat(5000);
    let mut r = run(
        "outs",
        "out-1",
        1.0,
        &[
            ("a", TaskStatus::Pending),
            ("big", TaskStatus::Pending),
            ("empty", TaskStatus::Pending),
            (odd, TaskStatus::Pending),
            ("none", TaskStatus::Pending),
        ],
    );
    b.save_run(&r).unwrap();
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    b.update_tasks("out-1", &[done("a", Some(OutputRef::Stored(b"alpha")))])
        .unwrap();
    // A pair (one statement on PostgreSQL without outputs) with one output.
    b.update_tasks(
        "out-1",
        &[
            done("big", Some(OutputRef::NotStored(5_000_000))),
            running("none", 1, 2.5),
        ],
    )
    .unwrap();
    b.update_tasks(
        "out-1",
        &[
            done("empty", Some(OutputRef::Stored(&[]))),
            done(odd, Some(OutputRef::Stored(&all_bytes))),
            done(&long, Some(OutputRef::Stored(b"l"))),
            done("none", None),
        ],
    )
    .unwrap();
    let mut want: BTreeMap<String, StoredOutput> = BTreeMap::new();
    want.insert("a".into(), StoredOutput::Stored(b"alpha".to_vec()));
    want.insert("big".into(), StoredOutput::NotStored(5_000_000));
    want.insert("empty".into(), StoredOutput::Stored(Vec::new()));
    want.insert(odd.into(), StoredOutput::Stored(all_bytes.clone()));
    want.insert(long.clone(), StoredOutput::Stored(b"l".to_vec()));
    assert_eq!(reopen().get_outputs("out-1").unwrap(), want);
    assert_eq!(count(Ours::Output, "out-1"), 5);
    // The statuses and detail went with them.
    let got = reopen().get_run("out-1").unwrap().unwrap();
    for t in ["a", "big", "empty", odd, long.as_str(), "none"] {
        assert_eq!(got.tasks[t], TaskStatus::Success, "{t}");
    }
    let details = reopen().get_task_details("out-1").unwrap();
    let a = details.iter().find(|d| d.name == "a").unwrap();
    assert_eq!(a, &done("a", None).to_detail());

    // A retried write changes nothing; a newer output replaces the old one.
    b.update_tasks("out-1", &[done("a", Some(OutputRef::Stored(b"alpha")))])
        .unwrap();
    assert_eq!(b.get_outputs("out-1").unwrap(), want);
    b.update_tasks("out-1", &[done("a", Some(OutputRef::Stored(b"alpha2")))])
        .unwrap();
    want.insert("a".into(), StoredOutput::Stored(b"alpha2".to_vec()));
    assert_eq!(reopen().get_outputs("out-1").unwrap(), want);

    // The final save_run keeps them.
    for s in r.tasks.values_mut() {
        *s = TaskStatus::Success;
    }
    r.tasks.insert(long.clone(), TaskStatus::Success);
    r.status = RunStatus::Success;
    r.end_time = Some(3.0);
    b.save_run(&r).unwrap();
    assert_eq!(reopen().get_outputs("out-1").unwrap(), want);
    assert_eq!(reopen().get_run("out-1").unwrap(), Some(r));

    // A run without outputs; then one of the default limit's size (1 MiB).
    b.save_run(&run("outs", "out-2", 2.0, &[("m", TaskStatus::Pending)]))
        .unwrap();
    assert_eq!(reopen().get_outputs("out-2").unwrap(), BTreeMap::new());
    let mib: Vec<u8> = (0..1usize << 20).map(|i| (i * 7 % 251) as u8).collect();
    b.update_tasks("out-2", &[done("m", Some(OutputRef::Stored(&mib)))])
        .unwrap();
    assert_eq!(
        reopen().get_outputs("out-2").unwrap().get("m"),
        Some(&StoredOutput::Stored(mib))
    );

    // Unknown run: NotFound, nothing written.
    for backend in [b.clone(), reopen()] {
        not_found(backend.get_outputs("out-missing"));
        not_found(backend.update_tasks("out-missing", &[done("a", Some(OutputRef::Stored(b"x")))]));
        not_found(backend.update_tasks(
            "out-missing",
            &[
                done("a", Some(OutputRef::NotStored(9))),
                done("b", Some(OutputRef::Stored(b"y"))),
                done("c", None),
            ],
        ));
    }
    for ours in ALL_OURS {
        assert_eq!(count(ours, "out-missing"), 0, "{ours:?}");
    }
    assert_eq!(b.get_run("out-missing").unwrap(), None);
}

/// renew_lease, link_resume and resumed_from: NotFound for an unknown run
/// (nothing written); no link until one is written; a lease and a link of
/// one run kept side by side, in either order; rewrites are fine.
pub fn check_leases_and_links(b: BackendRef, reopen: Reopen, count: Count) {
    let now = now_seconds();
    for backend in [b.clone(), reopen()] {
        not_found(backend.renew_lease("lk-missing", now, Duration::from_secs(2)));
        not_found(backend.link_resume("lk-missing", "lk-0"));
        not_found(backend.resumed_from("lk-missing"));
    }
    assert_eq!(count(Ours::Meta, "lk-missing"), 0);

    b.save_run(&run("links", "lk-1", now, &[])).unwrap();
    assert_eq!(reopen().resumed_from("lk-1").unwrap(), None);
    b.renew_lease("lk-1", now, Duration::from_secs(2)).unwrap();
    // The same lease again (a retried write), then a newer one.
    b.renew_lease("lk-1", now, Duration::from_secs(2)).unwrap();
    b.renew_lease("lk-1", now + 2.0, Duration::from_millis(1500))
        .unwrap();
    assert_eq!(reopen().resumed_from("lk-1").unwrap(), None);
    assert_eq!(count(Ours::Meta, "lk-1"), 1);
    b.link_resume("lk-1", "lk-0").unwrap();
    b.link_resume("lk-1", "lk-0").unwrap();
    b.renew_lease("lk-1", now + 4.0, Duration::from_secs(2))
        .unwrap();
    assert_eq!(
        reopen().resumed_from("lk-1").unwrap().as_deref(),
        Some("lk-0")
    );

    // The link first, then the lease.
    b.save_run(&run("links", "lk-2", now, &[])).unwrap();
    b.link_resume("lk-2", "lk-1 \"ünïcode\"").unwrap();
    b.renew_lease("lk-2", now, Duration::from_secs(2)).unwrap();
    assert_eq!(
        reopen().resumed_from("lk-2").unwrap().as_deref(),
        Some("lk-1 \"ünïcode\"")
    );
    assert_eq!(count(Ours::Meta, "lk-2"), 1);
    // get_run and list_runs are as before.
    assert_eq!(
        reopen().get_run("lk-2").unwrap(),
        Some(run("links", "lk-2", now, &[]))
    );
    assert_eq!(reopen().list_runs(Some("links"), 10).unwrap().len(), 2);
}

/// Recovery: nothing before the window; after it, exactly the stale runs
/// (lease too old, or no lease and started too long ago) are finished as a
/// save_run would (FAILED; RUNNING tasks FAILED and PENDING ones SKIPPED
/// with "owner lost" detail; live rows moved to the detail table; outputs
/// kept), once; a run with a fresh lease never, even with a zero window;
/// an unreadable row is skipped. `corrupt(run_id)` makes a run's row
/// unreadable (its tasks column holds an unknown status).
pub fn check_recover(b: BackendRef, reopen: Reopen, count: Count, corrupt: &dyn Fn(&str)) {
    let now = now_seconds();
    let long_ago = now - 7200.0;
    let dead_tasks = [
        ("done", TaskStatus::Pending),
        ("busy", TaskStatus::Pending),
        ("later", TaskStatus::Pending),
        ("status_only", TaskStatus::Pending),
    ];
    b.save_run(&run("rec", "rec-dead", long_ago, &dead_tasks))
        .unwrap();
    b.renew_lease("rec-dead", now - 600.0, Duration::from_secs(2))
        .unwrap();
    let done_a = done("done", Some(OutputRef::Stored(b"kept")));
    let busy = running("busy", 2, now - 650.0);
    b.update_tasks("rec-dead", &[done_a, busy]).unwrap();
    b.update_task_status("rec-dead", "status_only", TaskStatus::Running)
        .unwrap();
    // Written by another tool: no lease, started long ago.
    b.save_run(&run(
        "rec",
        "rec-orphan",
        long_ago,
        &[("x", TaskStatus::Pending)],
    ))
    .unwrap();
    b.update_task_status("rec-orphan", "x", TaskStatus::Running)
        .unwrap();
    // No lease, started 10 s ago.
    b.save_run(&run(
        "rec",
        "rec-young",
        now - 10.0,
        &[("y", TaskStatus::Running)],
    ))
    .unwrap();
    // Started long ago, lease renewed now (every 60 s).
    b.save_run(&run(
        "rec",
        "rec-fresh",
        long_ago,
        &[("f", TaskStatus::Running)],
    ))
    .unwrap();
    b.renew_lease("rec-fresh", now, Duration::from_secs(60))
        .unwrap();
    // Finished long ago.
    let mut finished = run(
        "rec",
        "rec-finished",
        long_ago,
        &[("g", TaskStatus::Success)],
    );
    finished.status = RunStatus::Success;
    finished.end_time = Some(long_ago + 1.0);
    b.save_run(&finished).unwrap();
    // Stale but unreadable.
    b.save_run(&run(
        "rec",
        "rec-bad",
        long_ago,
        &[("z", TaskStatus::Running)],
    ))
    .unwrap();
    corrupt("rec-bad");
    assert!(b.get_run("rec-bad").is_err(), "the row is unreadable");

    let ids = [
        "rec-dead",
        "rec-orphan",
        "rec-young",
        "rec-fresh",
        "rec-finished",
    ];
    let snapshot = |b: &BackendRef| {
        ids.iter()
            .map(|id| (b.get_run(id).unwrap(), b.get_task_details(id).unwrap()))
            .collect::<Vec<_>>()
    };
    let before = snapshot(&b);
    // Before the window: nothing changes.
    assert_eq!(b.recover(Duration::from_secs(100_000)).unwrap(), 0);
    assert_eq!(snapshot(&reopen()), before);

    // After it: the dead run and the orphan, once.
    let t0 = now_seconds();
    assert_eq!(reopen().recover(Duration::from_secs(60)).unwrap(), 2);
    let t1 = now_seconds();
    let fresh = reopen();
    let dead = fresh.get_run("rec-dead").unwrap().unwrap();
    assert_eq!(dead.status, RunStatus::Failed);
    assert_eq!(
        (dead.pipeline_name.as_str(), dead.start_time),
        ("rec", long_ago)
    );
    let end = dead.end_time.expect("an end time");
    assert!(
        end >= t0 - 1.0 && end <= t1 + 1.0,
        "{end} not in {t0}..{t1}"
    );
    let want: BTreeMap<String, TaskStatus> = [
        ("done", TaskStatus::Success),
        ("busy", TaskStatus::Failed),
        ("later", TaskStatus::Skipped),
        ("status_only", TaskStatus::Failed),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(dead.tasks, want);
    let lost = |name: &str, status, attempts, start_time| TaskDetail {
        name: name.into(),
        status,
        attempts,
        start_time,
        end_time: Some(end),
        error: Some("owner lost".into()),
    };
    assert_eq!(
        fresh.get_task_details("rec-dead").unwrap(),
        vec![
            lost("busy", TaskStatus::Failed, 2, Some(now - 650.0)),
            done_a.to_detail(),
            lost("later", TaskStatus::Skipped, 0, None),
            lost("status_only", TaskStatus::Failed, 0, None),
        ]
    );
    // The tasks column holds it all: the live rows are gone, moved to the
    // detail table.
    assert_eq!(count(Ours::Live, "rec-dead"), 0);
    assert_eq!(count(Ours::Detail, "rec-dead"), 4);
    assert_eq!(
        fresh.get_outputs("rec-dead").unwrap().get("done"),
        Some(&StoredOutput::Stored(b"kept".to_vec()))
    );
    let orphan = fresh.get_run("rec-orphan").unwrap().unwrap();
    assert_eq!(orphan.status, RunStatus::Failed);
    assert_eq!(orphan.tasks["x"], TaskStatus::Failed);
    assert_eq!(count(Ours::Live, "rec-orphan"), 0);
    for id in ["rec-young", "rec-fresh"] {
        let r = fresh.get_run(id).unwrap().unwrap();
        assert_eq!(r.status, RunStatus::Running, "{id}");
        assert_eq!(r.end_time, None, "{id}");
    }
    assert_eq!(fresh.get_run("rec-finished").unwrap(), Some(finished));
    assert!(fresh.get_run("rec-bad").is_err(), "left as it was");

    // Once: a second recovery finds nothing.
    assert_eq!(b.recover(Duration::from_secs(60)).unwrap(), 0);
    // A zero window takes the young run (no lease), never the fresh one.
    assert_eq!(b.recover(Duration::ZERO).unwrap(), 1);
    assert_eq!(
        fresh.get_run("rec-young").unwrap().unwrap().status,
        RunStatus::Failed
    );
    let f = fresh.get_run("rec-fresh").unwrap().unwrap();
    assert_eq!(f.status, RunStatus::Running);
    assert_eq!(f.tasks["f"], TaskStatus::Running);
}

/// Eight threads on four instances recover at once: each stale run is
/// recovered by exactly one of them.
pub fn check_concurrent_recovery(b: BackendRef, reopen: Reopen, count: Count) {
    const N: usize = 24;
    let now = now_seconds();
    for i in 0..N {
        let id = format!("cc-{i}");
        b.save_run(&run(
            "conc",
            &id,
            now - 7200.0,
            &[("a", TaskStatus::Running), ("b", TaskStatus::Pending)],
        ))
        .unwrap();
        b.update_tasks(&id, &[running("a", 1, now - 7000.0)])
            .unwrap();
        if i % 2 == 0 {
            b.renew_lease(&id, now - 600.0, Duration::from_secs(1))
                .unwrap();
        }
    }
    let instances: Vec<BackendRef> = (0..4).map(|_| reopen()).collect();
    let start = Barrier::new(8);
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|k| {
                let (b, start) = (instances[k % 4].clone(), &start);
                s.spawn(move || {
                    start.wait();
                    b.recover(Duration::from_secs(60)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(counts.iter().sum::<u64>(), N as u64, "{counts:?}");
    for i in 0..N {
        let id = format!("cc-{i}");
        let r = b.get_run(&id).unwrap().unwrap();
        assert_eq!(r.status, RunStatus::Failed, "{id}");
        assert_eq!(r.tasks["a"], TaskStatus::Failed, "{id}");
        assert_eq!(r.tasks["b"], TaskStatus::Skipped, "{id}");
        assert_eq!(count(Ours::Live, &id), 0, "{id}");
        assert_eq!(count(Ours::Detail, &id), 2, "{id}");
    }
    assert_eq!(b.recover(Duration::from_secs(60)).unwrap(), 0);
}

/// A pipeline run keeps its lease while a long task runs: recovery from
/// another instance, even with a zero window, leaves it alone.
pub fn check_live_run_never_recovered(b: BackendRef, reopen: Reopen, count: Count) {
    let other = reopen();
    let mut p = Pipeline::with_backend("leased", b.clone()).unwrap();
    p.add_task(Task::new("long", move |ctx| {
        // Several renewals at 500 ms.
        std::thread::sleep(Duration::from_millis(1600));
        assert_eq!(other.recover(Duration::ZERO).unwrap(), 0);
        let me = other.get_run(ctx.run_id()).unwrap().unwrap();
        assert_eq!(me.status, RunStatus::Running);
        Ok(())
    }))
    .unwrap();
    let r = p
        .run_with(&RunOptions::new().lease_interval(Duration::from_millis(500)))
        .unwrap();
    assert_eq!(r.status(), RunStatus::Success);
    assert_eq!(count(Ours::Meta, r.run_id()), 1, "the run kept a lease");
    assert_eq!(reopen().recover(Duration::ZERO).unwrap(), 0);
}

/// Gives run `id` a row in each of our tables: detail and an output (moved
/// to the detail table by the final save), a live row written after it, a
/// lease and a resume link.
fn with_side_rows(b: &BackendRef, id: &str, pipeline: &str, start: f64, status: RunStatus) {
    let mut r = run(pipeline, id, start, &[("t", TaskStatus::Pending)]);
    b.save_run(&r).unwrap();
    b.update_tasks(id, &[done("t", Some(OutputRef::Stored(b"out")))])
        .unwrap();
    b.renew_lease(id, start, Duration::from_secs(2)).unwrap();
    b.link_resume(id, "some-earlier-run").unwrap();
    r.status = status;
    r.tasks.insert("t".into(), TaskStatus::Success);
    b.save_run(&r).unwrap();
    b.update_task_status(id, "t2", TaskStatus::Skipped).unwrap();
}

/// Purge: finished runs started before the cut, of one pipeline or all,
/// with every row of ours; a dry run counts exactly what a real purge then
/// deletes and deletes nothing; RUNNING runs and newer runs survive with
/// their rows; a purge of more runs than one batch holds.
pub fn check_purge(b: BackendRef, reopen: Reopen, count: Count) {
    let runs = [
        ("old1", 10.0, RunStatus::Success, "a"),
        ("old2", 20.0, RunStatus::Failed, "b"),
        ("old-running", 15.0, RunStatus::Running, "a"),
        ("new", 100.0, RunStatus::Success, "a"),
    ];
    for (id, start, status, pipe) in runs {
        with_side_rows(&b, id, pipe, start, status);
    }
    let all_rows = |id: &str| ALL_OURS.map(|o| count(o, id));
    for (id, ..) in runs {
        assert_eq!(all_rows(id), [1, 1, 1, 1], "{id}");
    }
    assert_eq!(b.purge(50.0, Some("a"), true).unwrap(), 1);
    assert_eq!(b.purge(50.0, Some("b"), true).unwrap(), 1);
    assert_eq!(b.purge(50.0, Some("c"), true).unwrap(), 0);
    assert_eq!(b.purge(50.0, None, true).unwrap(), 2);
    assert_eq!(b.purge(5.0, None, true).unwrap(), 0);
    assert_eq!(
        b.list_runs(None, 10).unwrap().len(),
        4,
        "a dry run deletes nothing"
    );
    for (id, ..) in runs {
        assert_eq!(all_rows(id), [1, 1, 1, 1], "{id}");
    }

    assert_eq!(reopen().purge(50.0, Some("a"), false).unwrap(), 1);
    assert!(b.get_run("old1").unwrap().is_none());
    assert!(b.get_run("old2").unwrap().is_some(), "another pipeline's");
    assert_eq!(b.purge(50.0, None, false).unwrap(), 1);
    assert_eq!(b.purge(50.0, None, false).unwrap(), 0);
    let left: Vec<String> = reopen()
        .list_runs(None, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(left, ["new", "old-running"]);
    for id in ["old1", "old2"] {
        assert_eq!(all_rows(id), [0, 0, 0, 0], "{id}");
        not_found(b.get_outputs(id));
        not_found(b.resumed_from(id));
        not_found(b.get_task_details(id));
    }
    for id in ["new", "old-running"] {
        assert_eq!(all_rows(id), [1, 1, 1, 1], "{id}");
    }

    // More runs than a batch holds, written by four threads.
    const MANY: usize = 1234;
    std::thread::scope(|s| {
        for k in 0..4 {
            let b = b.clone();
            s.spawn(move || {
                for i in (k..MANY).step_by(4) {
                    let mut r = run("many", &format!("many-{i}"), 30.0 + i as f64 * 1e-3, &[]);
                    r.status = if i % 3 == 0 {
                        RunStatus::Failed
                    } else {
                        RunStatus::Success
                    };
                    b.save_run(&r).unwrap();
                    if i % 100 == 0 {
                        b.update_tasks(&r.run_id, &[done("t", Some(OutputRef::Stored(b"o")))])
                            .unwrap();
                    }
                }
            });
        }
    });
    let dry = b.purge(60.0, Some("many"), true).unwrap();
    assert_eq!(dry, MANY as u64);
    assert_eq!(reopen().purge(60.0, Some("many"), false).unwrap(), dry);
    assert_eq!(b.list_runs(Some("many"), 10).unwrap(), vec![]);
    assert_eq!(count(Ours::Output, "many-100"), 0);
    assert_eq!(b.list_runs(None, 10).unwrap().len(), 2);
}

/// A -> B -> C -> D where C fails while `c_fails` says so; counts calls.
fn abcd(b: BackendRef, calls: &Arc<[AtomicUsize; 4]>, c_fails: &Arc<AtomicUsize>) -> Pipeline {
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

/// A -> B -> C -> D, C failing once, resumed through `Pipeline::resume` by
/// another instance (as another process would): A and B are not called
/// again, C reads B's stored output, the new run succeeds and is linked to
/// the first. An output above the limit is recorded as not stored, and a
/// resume that needs it says so.
pub fn check_resume(b: BackendRef, reopen: Reopen) {
    let calls: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let c_fails = Arc::new(AtomicUsize::new(1));
    let first = abcd(b.clone(), &calls, &c_fails).run().unwrap();
    assert_eq!(first.status(), RunStatus::Failed);
    assert_eq!(first.task_status("D"), Some(TaskStatus::Skipped));
    let outs = reopen().get_outputs(first.run_id()).unwrap();
    assert_eq!(outs.get("B"), Some(&StoredOutput::Stored(b"ab".to_vec())));
    assert!(!outs.contains_key("C"));

    let other = reopen();
    let second = abcd(other.clone(), &calls, &c_fails)
        .resume(first.run_id(), &RunOptions::new())
        .unwrap();
    assert_eq!(second.status(), RunStatus::Success);
    assert_ne!(second.run_id(), first.run_id());
    let n: Vec<usize> = calls.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(n, [1, 1, 2, 1], "A and B are not called again");
    assert_eq!(
        second.output("D"),
        Some(&b"abcd"[..]),
        "C read B's stored output"
    );
    assert_eq!(
        b.resumed_from(second.run_id()).unwrap().as_deref(),
        Some(first.run_id())
    );
    assert_eq!(b.resumed_from(first.run_id()).unwrap(), None);
    // The new run stores every output, so it can be resumed in turn.
    assert_eq!(b.get_outputs(second.run_id()).unwrap().len(), 4);
    let stored = b.get_run(second.run_id()).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Success);
    assert!(stored.tasks.values().all(|s| *s == TaskStatus::Success));
    assert_eq!(&stored, second.as_run());

    // B's output (2 bytes) above a 1-byte limit: not stored, so a resume
    // that needs it is refused, naming it.
    let c_fails = Arc::new(AtomicUsize::new(1));
    let p = abcd(b.clone(), &calls, &c_fails);
    let limited = p.run_with(&RunOptions::new().max_stored_output(1)).unwrap();
    let outs = reopen().get_outputs(limited.run_id()).unwrap();
    assert_eq!(outs.get("A"), Some(&StoredOutput::Stored(b"a".to_vec())));
    assert_eq!(outs.get("B"), Some(&StoredOutput::NotStored(2)));
    let e = p.resume(limited.run_id(), &RunOptions::new()).unwrap_err();
    assert!(e.message().contains("output of task \"B\" (2 bytes"), "{e}");
}
