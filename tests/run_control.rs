//! Run control from Rust: cancellation, run and task timeouts, task detail
//! and the listener, on the memory and SQLite backends.

use dremioorch::{
    Backend, BackendRef, CancelToken, ErrorKind, Interruption, Listener, MemoryBackend, Pipeline,
    RunOptions, RunStatus, SqliteBackend, Task, TaskDetail, TaskStatus, TriggerRule,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod server_support;

fn backends() -> Vec<(&'static str, BackendRef, Option<tempdir::Dir>)> {
    let dir = tempdir::Dir::new("run_control");
    let sqlite = Arc::new(SqliteBackend::open(dir.path().join("h.db")).unwrap());
    vec![
        ("memory", Arc::new(MemoryBackend::new()), None),
        ("sqlite", sqlite, Some(dir)),
    ]
}

mod tempdir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "dorch-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn name(i: usize) -> String {
    format!("t{i:02}")
}

/// Every stored task is final: nothing RUNNING or PENDING.
fn assert_all_final(b: &dyn Backend, run_id: &str) {
    let stored = b.get_run(run_id).unwrap().unwrap();
    assert_ne!(stored.status, RunStatus::Running);
    for (t, s) in &stored.tasks {
        assert!(s.is_final(), "{t} is {s} in the stored run");
    }
}

#[test]
fn a_chain_cancelled_by_its_tenth_task_starts_nothing_after_it() {
    for (label, backend, _dir) in backends() {
        let token = CancelToken::new();
        let started = Arc::new(AtomicUsize::new(0));
        let mut p = Pipeline::with_backend("cancel_chain", backend.clone()).unwrap();
        for i in 1..=50 {
            let (token, started) = (token.clone(), started.clone());
            p.add_task(Task::new(name(i), move |_| {
                started.fetch_add(1, Ordering::SeqCst);
                if i == 10 {
                    token.cancel(Some("enough"));
                }
                Ok(())
            }))
            .unwrap();
            if i > 1 {
                p.add_dependency(&name(i - 1), &name(i)).unwrap();
            }
        }
        let r = p
            .run_with(&RunOptions::new().cancel_token(token.clone()))
            .unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 10, "{label}");
        assert_eq!(r.status(), RunStatus::Failed, "{label}");
        assert_eq!(
            r.interruption(),
            Some(&Interruption::Cancelled("enough".into()))
        );
        assert_eq!(r.task_status("t10"), Some(TaskStatus::Success));
        for i in 11..=50 {
            assert_eq!(
                r.task_status(&name(i)),
                Some(TaskStatus::Skipped),
                "{label}"
            );
            let d = r.detail(&name(i)).unwrap();
            assert_eq!(d.error.as_deref(), Some("cancelled: enough"));
            assert_eq!(d.attempts, 0);
            assert!(d.start_time.is_none() && d.end_time.is_some());
        }
        assert_all_final(&*backend, r.run_id());
        let stored = backend.get_run(r.run_id()).unwrap().unwrap();
        assert_eq!(stored.status, RunStatus::Failed);
        assert_eq!(&stored, r.as_run(), "{label}");
        // A fired token keeps runs from starting anything.
        let r2 = p.run_with(&RunOptions::new().cancel_token(token)).unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 10);
        assert!(r2.tasks().values().all(|s| *s == TaskStatus::Skipped));
    }
}

#[test]
fn cancel_from_another_thread_stops_a_sleeping_task() {
    let token = CancelToken::new();
    let mut p = Pipeline::new("cancel_thread").unwrap();
    p.add_task(Task::new("sleeper", |ctx| {
        ctx.sleep(Duration::from_secs(60))?;
        Ok(())
    }))
    .unwrap();
    p.add_task(Task::new("after", |_| Ok(()))).unwrap();
    p.add_dependency("sleeper", "after").unwrap();
    let t = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        t.cancel(None);
    });
    let t0 = Instant::now();
    let r = p.run_with(&RunOptions::new().cancel_token(token)).unwrap();
    canceller.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert_eq!(r.task_status("sleeper"), Some(TaskStatus::Failed));
    assert_eq!(r.error("sleeper"), Some("cancelled: cancelled by the host"));
    assert_eq!(r.task_status("after"), Some(TaskStatus::Skipped));
    assert!(matches!(r.interruption(), Some(Interruption::Cancelled(_))));
}

#[test]
fn a_run_timeout_stops_a_cooperative_task_quickly() {
    let mut p = Pipeline::new("run_timeout").unwrap();
    p.add_task(Task::new("slow", |ctx| {
        let e = ctx.sleep(Duration::from_secs(60)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(ctx.is_cancelled());
        Err(e.into())
    }))
    .unwrap();
    p.add_task(Task::new("next", |_| Ok(()))).unwrap();
    p.add_dependency("slow", "next").unwrap();
    let t0 = Instant::now();
    let r = p
        .run_with(&RunOptions::new().timeout(Duration::from_millis(300)))
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert_eq!(
        r.interruption(),
        Some(&Interruption::TimedOut(Duration::from_millis(300)))
    );
    assert_eq!(r.status(), RunStatus::Failed);
    assert_eq!(r.error("slow"), Some("run timed out after 300 ms"));
    assert_eq!(
        r.detail("next").unwrap().error.as_deref(),
        Some("run timed out after 300 ms")
    );
}

#[test]
fn a_task_timeout_fails_the_task_and_releases_its_children_at_once() {
    for (label, backend, _dir) in backends() {
        let calls = Arc::new(AtomicUsize::new(0));
        let parent_returned = Arc::new(Mutex::new(None::<Instant>));
        let child_ran = Arc::new(Mutex::new(None::<Instant>));
        let mut p = Pipeline::with_backend("task_timeout", backend.clone()).unwrap();
        p.set_max_workers(2).unwrap();
        {
            let (calls, parent_returned) = (calls.clone(), parent_returned.clone());
            p.add_task(
                Task::new("hung", move |ctx| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Ignores cancellation for a while, as a blocking call would.
                    std::thread::sleep(Duration::from_millis(1500));
                    assert!(ctx.is_cancelled());
                    *parent_returned.lock().unwrap() = Some(Instant::now());
                    Ok(())
                })
                .timeout(Duration::from_millis(200))
                .retries(3),
            )
            .unwrap();
        }
        {
            let child_ran = child_ran.clone();
            p.add_task(
                Task::new("cleanup", move |_| {
                    *child_ran.lock().unwrap() = Some(Instant::now());
                    Ok(())
                })
                .trigger_rule(TriggerRule::AllDone),
            )
            .unwrap();
        }
        p.add_task(Task::new("use", |_| Ok(()))).unwrap();
        p.add_dependency("hung", "cleanup").unwrap();
        p.add_dependency("hung", "use").unwrap();
        let r = p.run().unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "{label}: retries not tried"
        );
        assert_eq!(r.task_status("hung"), Some(TaskStatus::Failed));
        let d = r.detail("hung").unwrap();
        assert_eq!(d.error.as_deref(), Some("timed out after 200 ms"));
        assert_eq!(d.attempts, 1);
        assert_eq!(r.task_status("cleanup"), Some(TaskStatus::Success));
        assert_eq!(r.task_status("use"), Some(TaskStatus::Skipped));
        // The all_done child ran while the hung callback was still running.
        let child = child_ran.lock().unwrap().unwrap();
        let parent = parent_returned.lock().unwrap().unwrap();
        assert!(child < parent, "{label}: the child waited for the callback");
        assert_all_final(&*backend, r.run_id());
        assert_eq!(r.interruption(), None);
    }
}

#[test]
fn details_after_a_retry() {
    let b = Arc::new(MemoryBackend::new());
    let mut p = Pipeline::with_backend("details", b.clone()).unwrap();
    p.add_task(
        Task::new("flaky", |ctx| {
            if ctx.attempt() == 1 {
                Err("first try fails".into())
            } else {
                Ok(())
            }
        })
        .retries(2),
    )
    .unwrap();
    p.add_task(Task::new("bad", |_| Err("always".into())).retries(1))
        .unwrap();
    let r = p.run().unwrap();
    let flaky = r.detail("flaky").unwrap();
    assert_eq!(flaky.status, TaskStatus::Success);
    assert_eq!(flaky.attempts, 2);
    assert_eq!(flaky.error, None);
    let (s, e) = (flaky.start_time.unwrap(), flaky.end_time.unwrap());
    assert!(r.start_time() <= s && s <= e && e <= r.end_time().unwrap());
    let bad = r.detail("bad").unwrap();
    assert_eq!(bad.attempts, 2);
    assert_eq!(bad.error.as_deref(), Some("always (after 2 attempts)"));
    let stored = b.get_task_details(r.run_id()).unwrap();
    assert_eq!(
        stored,
        vec![bad.clone(), flaky.clone()],
        "the backend keeps what the result says"
    );
    assert_eq!(
        b.get_task_details("nope").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Listener for Recorder {
    fn on_run(&self, pipeline: &str, _run_id: &str, status: RunStatus) {
        self.0
            .lock()
            .unwrap()
            .push(format!("run {pipeline} {status}"));
    }
    fn on_task(&self, _run_id: &str, t: &TaskDetail) {
        self.0.lock().unwrap().push(format!(
            "task {} {} {}{}",
            t.name,
            t.status,
            t.attempts,
            t.error
                .as_deref()
                .map(|e| format!(" {e}"))
                .unwrap_or_default()
        ));
    }
}

#[test]
fn a_listener_sees_every_event_in_order() {
    let rec = Arc::new(Recorder::default());
    let mut p = Pipeline::new("listened").unwrap();
    p.add_task(Task::new("a", |_| Ok(()))).unwrap();
    p.add_task(Task::new("b", |_| Err("no".into()))).unwrap();
    p.add_task(Task::new("c", |_| Ok(()))).unwrap();
    p.add_dependency("a", "b").unwrap();
    p.add_dependency("b", "c").unwrap();
    p.set_listener(Some(rec.clone()));
    p.run().unwrap();
    assert_eq!(
        *rec.0.lock().unwrap(),
        [
            "run listened RUNNING",
            "task a RUNNING 1",
            "task a SUCCESS 1",
            "task b RUNNING 1",
            "task b FAILED 1 no",
            "task c SKIPPED 0",
            "run listened FAILED",
        ]
    );
}

struct Panicky;
impl Listener for Panicky {
    fn on_task(&self, _: &str, _: &TaskDetail) {
        panic!("listener bug");
    }
}

#[test]
fn a_panicking_listener_does_not_disturb_the_run() {
    let b = Arc::new(MemoryBackend::new());
    let mut p = Pipeline::with_backend("panicky", b.clone()).unwrap();
    p.add_task(Task::new("a", |_| Ok(()))).unwrap();
    p.set_listener(Some(Arc::new(Panicky)));
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = p.run();
    std::panic::set_hook(prev);
    let r = r.unwrap();
    assert_eq!(r.status(), RunStatus::Success);
    assert_all_final(&*b, r.run_id());
}

#[test]
fn retries_stop_when_the_run_is_cancelled() {
    let token = CancelToken::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut p = Pipeline::new("retry_cancel").unwrap();
    {
        let (token, calls) = (token.clone(), calls.clone());
        p.add_task(
            Task::new("flaky", move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                token.cancel(Some("stop retrying"));
                Err("fails".into())
            })
            .retries(5)
            .retry_delay(Duration::from_secs(30)),
        )
        .unwrap();
    }
    let t0 = Instant::now();
    let r = p.run_with(&RunOptions::new().cancel_token(token)).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(r.error("flaky"), Some("cancelled: stop retrying"));
}

#[test]
fn a_token_fired_after_the_last_task_changes_nothing() {
    let token = CancelToken::new();
    let mut p = Pipeline::new("late_cancel").unwrap();
    let t = token.clone();
    p.add_task(Task::new("only", move |_| {
        t.cancel(Some("late"));
        Ok(())
    }))
    .unwrap();
    let r = p.run_with(&RunOptions::new().cancel_token(token)).unwrap();
    assert_eq!(r.interruption(), None);
    assert_eq!(r.status(), RunStatus::Success);
}

/// The memory backend passes the detail checks the SQL backends pass.
#[test]
fn the_memory_backend_keeps_details_as_the_sql_backends_do() {
    let b: BackendRef = Arc::new(MemoryBackend::new());
    let same = b.clone();
    server_support::check_task_details(b, &move || same.clone());
}
