//! Durable history on the memory backend: stored outputs, resume, leases,
//! recovery and purge.

use dremioorch::{
    Backend, ErrorKind, MemoryBackend, Pipeline, PipelineRun, RunOptions, RunStatus, StoredOutput,
    Task, TaskStatus,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A -> B -> C -> D where C fails while `c_fails` says so; counts calls.
fn abcd(
    b: Arc<MemoryBackend>,
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
fn resume_runs_only_what_did_not_succeed() {
    let b = Arc::new(MemoryBackend::new());
    let calls: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let c_fails = Arc::new(AtomicUsize::new(1));
    let p = abcd(b.clone(), &calls, &c_fails);
    let first = p.run().unwrap();
    assert_eq!(first.status(), RunStatus::Failed);
    assert_eq!(first.task_status("D"), Some(TaskStatus::Skipped));
    let outs = b.get_outputs(first.run_id()).unwrap();
    assert_eq!(outs.get("B"), Some(&StoredOutput::Stored(b"ab".to_vec())));
    assert!(!outs.contains_key("C"));

    let second = p.resume(first.run_id(), &RunOptions::new()).unwrap();
    assert_eq!(second.status(), RunStatus::Success);
    assert_ne!(second.run_id(), first.run_id());
    let n: Vec<usize> = calls.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(n, [1, 1, 2, 1], "A and B are not called again");
    assert_eq!(
        second.output("D"),
        Some(&b"abcd"[..]),
        "C read B's stored output"
    );
    assert_eq!(second.detail("A").unwrap().attempts, 0);
    assert_eq!(
        b.resumed_from(second.run_id()).unwrap().as_deref(),
        Some(first.run_id())
    );
    // The new run stores every output, so it can be resumed in turn.
    assert_eq!(b.get_outputs(second.run_id()).unwrap().len(), 4);
    let stored = b.get_run(second.run_id()).unwrap().unwrap();
    assert!(stored.tasks.values().all(|s| *s == TaskStatus::Success));
}

#[test]
fn resume_errors_are_clear() {
    let b = Arc::new(MemoryBackend::new());
    let calls: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let p = abcd(b.clone(), &calls, &Arc::new(AtomicUsize::new(1)));
    let first = p.run().unwrap();

    let e = p.resume("no-such-run", &RunOptions::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);

    let mut other = Pipeline::with_backend("other", b.clone()).unwrap();
    other.add_task(Task::new("A", |_| Ok(()))).unwrap();
    let e = other
        .resume(first.run_id(), &RunOptions::new())
        .unwrap_err();
    assert!(e.message().contains("of pipeline \"abcd\""), "{e}");

    let mut changed = Pipeline::with_backend("abcd", b.clone()).unwrap();
    for t in ["A", "B", "E"] {
        changed.add_task(Task::new(t, |_| Ok(()))).unwrap();
    }
    let e = changed
        .resume(first.run_id(), &RunOptions::new())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("no longer has C, D"), "{e}");
    assert!(e.message().contains("did not have E"), "{e}");

    let running = PipelineRun {
        pipeline_name: "abcd".into(),
        run_id: "still-running".into(),
        start_time: 1.0,
        end_time: None,
        status: RunStatus::Running,
        tasks: BTreeMap::new(),
    };
    b.save_run(&running).unwrap();
    let e = p.resume("still-running", &RunOptions::new()).unwrap_err();
    assert!(e.message().contains("still RUNNING"), "{e}");
}

#[test]
fn an_output_above_the_limit_is_not_stored_and_blocks_a_resume_that_needs_it() {
    let b = Arc::new(MemoryBackend::new());
    let calls: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let p = abcd(b.clone(), &calls, &Arc::new(AtomicUsize::new(1)));
    let first = p.run_with(&RunOptions::new().max_stored_output(1)).unwrap();
    // A's output (1 byte) is stored; B's (2 bytes) is not, but the run read it.
    let outs = b.get_outputs(first.run_id()).unwrap();
    assert_eq!(outs.get("A"), Some(&StoredOutput::Stored(b"a".to_vec())));
    assert_eq!(outs.get("B"), Some(&StoredOutput::NotStored(2)));
    let e = p.resume(first.run_id(), &RunOptions::new()).unwrap_err();
    assert!(e.message().contains("output of task \"B\" (2 bytes"), "{e}");
    assert!(e.message().contains("C would read it"), "{e}");
}

#[test]
fn a_running_run_keeps_its_lease_and_is_never_recovered() {
    let b = Arc::new(MemoryBackend::new());
    let mut p = Pipeline::with_backend("leased", b.clone()).unwrap();
    let b2 = b.clone();
    p.add_task(Task::new("long", move |ctx| {
        // Long enough for several renewals at 200 ms.
        std::thread::sleep(Duration::from_millis(1500));
        // Even a zero window never takes a run whose owner renews.
        assert_eq!(b2.recover(Duration::ZERO).unwrap(), 0);
        let me = b2.get_run(ctx.run_id()).unwrap().unwrap();
        assert_eq!(me.status, RunStatus::Running);
        Ok(())
    }))
    .unwrap();
    let r = p
        .run_with(&RunOptions::new().lease_interval(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(r.status(), RunStatus::Success);
}

#[test]
fn recover_finishes_runs_whose_owner_is_gone() {
    let b = MemoryBackend::new();
    let mut tasks = BTreeMap::new();
    tasks.insert("done".to_string(), TaskStatus::Success);
    tasks.insert("busy".to_string(), TaskStatus::Running);
    tasks.insert("later".to_string(), TaskStatus::Pending);
    let now = dremioorch::now_seconds();
    let dead = PipelineRun {
        pipeline_name: "p".into(),
        run_id: "dead".into(),
        start_time: now - 3600.0,
        end_time: None,
        status: RunStatus::Running,
        tasks: tasks.clone(),
    };
    b.save_run(&dead).unwrap();
    b.renew_lease("dead", now - 600.0, Duration::from_secs(2))
        .unwrap();
    // Written by another tool: no lease, started 10 s ago.
    let young = PipelineRun {
        run_id: "young".into(),
        start_time: now - 10.0,
        ..dead.clone()
    };
    b.save_run(&young).unwrap();
    // Before the window: nothing.
    assert_eq!(b.recover(Duration::from_secs(3600)).unwrap(), 0);
    // After: the dead run only (its lease is 600 s old; "young" started 10 s ago).
    assert_eq!(b.recover(Duration::from_secs(60)).unwrap(), 1);
    let r = b.get_run("dead").unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.end_time.is_some());
    assert_eq!(r.tasks["done"], TaskStatus::Success);
    assert_eq!(r.tasks["busy"], TaskStatus::Failed);
    assert_eq!(r.tasks["later"], TaskStatus::Skipped);
    let d = b.get_task_details("dead").unwrap();
    let busy = d.iter().find(|d| d.name == "busy").unwrap();
    assert_eq!(busy.error.as_deref(), Some("owner lost"));
    assert_eq!(
        b.get_run("young").unwrap().unwrap().status,
        RunStatus::Running
    );
    // Recovered once.
    assert_eq!(b.recover(Duration::from_secs(60)).unwrap(), 0);
    assert_eq!(b.recover(Duration::from_secs(5)).unwrap(), 1);
}

#[test]
fn purge_deletes_finished_runs_only_and_dry_run_counts_the_same() {
    let b = MemoryBackend::new();
    for (id, start, status, pipe) in [
        ("old1", 10.0, RunStatus::Success, "a"),
        ("old2", 20.0, RunStatus::Failed, "b"),
        ("old-running", 15.0, RunStatus::Running, "a"),
        ("new", 100.0, RunStatus::Success, "a"),
    ] {
        b.save_run(&PipelineRun {
            pipeline_name: pipe.into(),
            run_id: id.into(),
            start_time: start,
            end_time: None,
            status,
            tasks: BTreeMap::new(),
        })
        .unwrap();
    }
    assert_eq!(b.purge(50.0, Some("a"), true).unwrap(), 1);
    assert_eq!(b.purge(50.0, None, true).unwrap(), 2);
    assert_eq!(
        b.list_runs(None, 10).unwrap().len(),
        4,
        "dry run deletes nothing"
    );
    assert_eq!(b.purge(50.0, None, false).unwrap(), 2);
    let left: Vec<String> = b
        .list_runs(None, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(left, ["new", "old-running"]);
    assert_eq!(
        b.get_outputs("old1").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
