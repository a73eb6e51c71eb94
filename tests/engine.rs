//! The engine through the Rust API: trigger rules, retries, parallelism,
//! context, the backend call sequence, and bad input.

use dremioorch::{
    Backend, ErrorKind, MemoryBackend, Pipeline, PipelineRun, Result, RunStatus, Task, TaskContext,
    TaskError, TaskStatus, TriggerRule,
};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn ok(_: &mut TaskContext<'_>) -> Result<(), TaskError> {
    Ok(())
}

fn fail(_: &mut TaskContext<'_>) -> Result<(), TaskError> {
    Err("boom".into())
}

fn pipeline(name: &str, tasks: &[(&str, bool, TriggerRule)], deps: &[(&str, &str)]) -> Pipeline {
    let mut p = Pipeline::new(name).unwrap();
    for &(n, succeed, rule) in tasks {
        let t = if succeed {
            Task::new(n, ok)
        } else {
            Task::new(n, fail)
        };
        p.add_task(t.trigger_rule(rule)).unwrap();
    }
    for (a, b) in deps {
        p.add_dependency(a, b).unwrap();
    }
    p
}

use TriggerRule::{AllDone, AllSuccess, OneFailed};

#[test]
fn all_success_runs_only_when_every_parent_succeeded() {
    let p = pipeline(
        "all_success",
        &[
            ("a", true, AllSuccess),
            ("b", false, AllSuccess),
            ("after_a", true, AllSuccess),
            ("after_ab", true, AllSuccess),
        ],
        &[("a", "after_a"), ("a", "after_ab"), ("b", "after_ab")],
    );
    let r = p.run().unwrap();
    assert_eq!(r.task_status("a"), Some(TaskStatus::Success));
    assert_eq!(r.task_status("b"), Some(TaskStatus::Failed));
    assert_eq!(r.task_status("after_a"), Some(TaskStatus::Success));
    assert_eq!(r.task_status("after_ab"), Some(TaskStatus::Skipped));
    assert_eq!(r.status(), RunStatus::Failed);
    assert_eq!(r.error("b"), Some("boom"));
}

#[test]
fn one_failed_runs_only_when_a_parent_failed() {
    let p = pipeline(
        "one_failed",
        &[
            ("good", true, AllSuccess),
            ("bad", false, AllSuccess),
            ("alert_bad", true, OneFailed),
            ("alert_good", true, OneFailed),
        ],
        &[
            ("good", "alert_good"),
            ("good", "alert_bad"),
            ("bad", "alert_bad"),
        ],
    );
    let r = p.run().unwrap();
    assert_eq!(r.task_status("alert_bad"), Some(TaskStatus::Success));
    assert_eq!(r.task_status("alert_good"), Some(TaskStatus::Skipped));
}

#[test]
fn all_done_runs_whatever_the_parents_did() {
    let p = pipeline(
        "all_done",
        &[
            ("ok", true, AllSuccess),
            ("bad", false, AllSuccess),
            ("skipped", true, AllSuccess),
            ("cleanup", true, AllDone),
        ],
        &[
            ("bad", "skipped"),
            ("ok", "cleanup"),
            ("bad", "cleanup"),
            ("skipped", "cleanup"),
        ],
    );
    let r = p.run().unwrap();
    assert_eq!(r.task_status("skipped"), Some(TaskStatus::Skipped));
    assert_eq!(r.task_status("cleanup"), Some(TaskStatus::Success));
    assert_eq!(r.status(), RunStatus::Failed);
}

#[test]
fn skips_propagate_down_a_chain_and_children_apply_their_own_rule() {
    // root fails -> s1 skipped -> s2 skipped -> s3 skipped; one_failed under s3
    // sees SKIPPED (not FAILED) and is skipped; all_done under s3 runs.
    let p = pipeline(
        "skip_chain",
        &[
            ("root", false, AllSuccess),
            ("s1", true, AllSuccess),
            ("s2", true, AllSuccess),
            ("s3", true, AllSuccess),
            ("alert", true, OneFailed),
            ("done", true, AllDone),
        ],
        &[
            ("root", "s1"),
            ("s1", "s2"),
            ("s2", "s3"),
            ("s3", "alert"),
            ("s3", "done"),
        ],
    );
    let r = p.run().unwrap();
    for t in ["s1", "s2", "s3", "alert"] {
        assert_eq!(r.task_status(t), Some(TaskStatus::Skipped), "{t}");
    }
    assert_eq!(r.task_status("done"), Some(TaskStatus::Success));
    assert_eq!(r.status(), RunStatus::Failed);
}

#[test]
fn a_run_of_successes_and_skips_is_success() {
    let p = pipeline(
        "skips_only",
        &[("a", true, AllSuccess), ("alert", true, OneFailed)],
        &[("a", "alert")],
    );
    let r = p.run().unwrap();
    assert_eq!(r.task_status("alert"), Some(TaskStatus::Skipped));
    assert_eq!(r.status(), RunStatus::Success);
}

#[test]
fn retries_succeed_on_the_last_attempt() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let mut p = Pipeline::new("retry_ok").unwrap();
    p.add_task(
        Task::new("flaky", move |ctx| {
            c.lock().unwrap().push(ctx.attempt());
            if ctx.attempt() < 3 {
                ctx.set_output(b"partial".to_vec()); // discarded: the attempt fails
                return Err(format!("attempt {} failed", ctx.attempt()).into());
            }
            ctx.set_output(b"done".to_vec());
            Ok(())
        })
        .retries(2)
        .retry_delay(Duration::from_millis(30)),
    )
    .unwrap();
    let t0 = Instant::now();
    let r = p.run().unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(60),
        "two delays of 30 ms"
    );
    assert_eq!(*calls.lock().unwrap(), vec![1, 2, 3]);
    assert_eq!(r.task_status("flaky"), Some(TaskStatus::Success));
    assert_eq!(r.output("flaky"), Some(&b"done"[..]));
    assert_eq!(r.status(), RunStatus::Success);
}

#[test]
fn retries_that_run_out_fail_with_the_last_error() {
    let n = Arc::new(AtomicU32::new(0));
    let c = n.clone();
    let mut p = Pipeline::new("retry_out").unwrap();
    p.add_task(
        Task::new("always", move |ctx| {
            c.fetch_add(1, Ordering::SeqCst);
            ctx.set_output(b"never kept".to_vec());
            Err(format!("no luck on attempt {}", ctx.attempt()).into())
        })
        .retries(3),
    )
    .unwrap();
    let r = p.run().unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 4);
    assert_eq!(r.task_status("always"), Some(TaskStatus::Failed));
    assert_eq!(r.output("always"), None);
    let e = r.error("always").unwrap();
    assert!(
        e.contains("no luck on attempt 4") && e.contains("4 attempts"),
        "{e}"
    );
}

fn overlap_probe(workers: usize, tasks: usize) -> (usize, usize) {
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let mut p = Pipeline::new("parallel").unwrap();
    p.set_max_workers(workers).unwrap();
    for i in 0..tasks {
        let (live, peak, threads) = (live.clone(), peak.clone(), threads.clone());
        p.add_task(Task::new(format!("t{i}"), move |_| {
            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            threads.lock().unwrap().insert(std::thread::current().id());
            std::thread::sleep(Duration::from_millis(40));
            live.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }))
        .unwrap();
    }
    assert_eq!(p.run().unwrap().status(), RunStatus::Success);
    let t = threads.lock().unwrap().len();
    (peak.load(Ordering::SeqCst), t)
}

#[test]
fn independent_tasks_overlap_but_never_exceed_max_workers() {
    let (peak, threads) = overlap_probe(2, 6);
    assert_eq!(
        peak, 2,
        "with 2 workers, exactly 2 tasks ran at once at the peak"
    );
    assert_eq!(threads, 2);
    let (peak, _) = overlap_probe(1, 4);
    assert_eq!(peak, 1);
    let (peak, _) = overlap_probe(4, 8);
    assert_eq!(peak, 4);
}

#[test]
fn context_flows_across_a_diamond() {
    let mut p = Pipeline::new("diamond").unwrap();
    p.set_max_workers(2).unwrap();
    p.set_context("seed", b"7".to_vec()).unwrap();
    let num = |ctx: &TaskContext<'_>, k: &str| -> i64 {
        std::str::from_utf8(ctx.get(k).unwrap())
            .unwrap()
            .parse()
            .unwrap()
    };
    p.add_task(Task::new("top", move |ctx| {
        let v = num(ctx, "seed") * 10;
        ctx.set_output(v.to_string());
        Ok(())
    }))
    .unwrap();
    p.add_task(Task::new("left", move |ctx| {
        let v = num(ctx, "top") + 1;
        ctx.set_output(v.to_string());
        Ok(())
    }))
    .unwrap();
    p.add_task(Task::new("right", move |ctx| {
        let v = num(ctx, "top") * 2;
        ctx.set_output(v.to_string());
        Ok(())
    }))
    .unwrap();
    p.add_task(Task::new("bottom", move |ctx| {
        assert!(ctx.get("missing").is_none());
        let v = num(ctx, "left") + num(ctx, "right") + num(ctx, "seed");
        ctx.set_output(v.to_string());
        Ok(())
    }))
    .unwrap();
    for (a, b) in [
        ("top", "left"),
        ("top", "right"),
        ("left", "bottom"),
        ("right", "bottom"),
    ] {
        p.add_dependency(a, b).unwrap();
    }
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Success);
    assert_eq!(r.output("bottom"), Some(&b"218"[..])); // 71 + 140 + 7
    assert_eq!(r.output("top"), Some(&b"70"[..]));
}

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Save(RunStatus, Vec<(String, TaskStatus)>, bool),
    Update(String, TaskStatus),
}

/// Records every call, then forwards it to a memory backend.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, Call)>>,
    inner: MemoryBackend,
    fail_update_on: Option<(String, TaskStatus)>,
}

impl Backend for Recorder {
    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        let tasks = run.tasks.iter().map(|(k, v)| (k.clone(), *v)).collect();
        self.calls.lock().unwrap().push((
            run.run_id.clone(),
            Call::Save(run.status, tasks, run.end_time.is_some()),
        ));
        self.inner.save_run(run)
    }
    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        self.inner.get_run(run_id)
    }
    fn update_task_status(&self, run_id: &str, task: &str, s: TaskStatus) -> Result<()> {
        if self.fail_update_on.as_ref() == Some(&(task.to_string(), s)) {
            return Err(dremioorch::Error::backend("disk on fire"));
        }
        self.calls
            .lock()
            .unwrap()
            .push((run_id.to_string(), Call::Update(task.to_string(), s)));
        self.inner.update_task_status(run_id, task, s)
    }
    fn list_runs(&self, p: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        self.inner.list_runs(p, limit)
    }
}

#[test]
fn the_backend_sees_the_exact_sequence_of_calls() {
    use TaskStatus::*;
    let rec = Arc::new(Recorder::default());
    let mut p = Pipeline::with_backend("seq", rec.clone()).unwrap();
    p.add_task(Task::new("a", ok)).unwrap();
    p.add_task(Task::new("b", fail)).unwrap();
    p.add_task(Task::new("c", ok)).unwrap();
    p.add_dependency("a", "b").unwrap();
    p.add_dependency("b", "c").unwrap();
    let r = p.run().unwrap();
    let calls = rec.calls.lock().unwrap().clone();
    assert!(calls.iter().all(|(id, _)| id == r.run_id()));
    let calls: Vec<Call> = calls.into_iter().map(|(_, c)| c).collect();
    let tasks = |a, b, c| {
        vec![
            ("a".to_string(), a),
            ("b".to_string(), b),
            ("c".to_string(), c),
        ]
    };
    assert_eq!(
        calls,
        vec![
            Call::Save(RunStatus::Running, tasks(Pending, Pending, Pending), false),
            Call::Update("a".into(), Running),
            Call::Update("a".into(), Success),
            Call::Update("b".into(), Running),
            Call::Update("b".into(), Failed),
            Call::Update("c".into(), Skipped),
            Call::Save(RunStatus::Failed, tasks(Success, Failed, Skipped), true),
        ]
    );
    let stored = rec.get_run(r.run_id()).unwrap().unwrap();
    assert_eq!(&stored, r.as_run());
    assert!(stored.end_time.unwrap() >= stored.start_time);
}

#[test]
fn a_backend_failure_mid_run_stops_the_run_and_says_what_is_missing() {
    let rec = Arc::new(Recorder {
        fail_update_on: Some(("b".into(), TaskStatus::Running)),
        ..Default::default()
    });
    let started = Arc::new(AtomicU32::new(0));
    let mut p = Pipeline::with_backend("backend_fails", rec.clone()).unwrap();
    for n in ["a", "b", "c"] {
        let s = started.clone();
        p.add_task(Task::new(n, move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }))
        .unwrap();
    }
    p.add_dependency("a", "b").unwrap();
    p.add_dependency("b", "c").unwrap();
    let e = p.run().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend);
    let m = e.message();
    assert!(m.contains("disk on fire") && m.contains("\"b\""), "{m}");
    assert!(m.contains("2 task(s) never started (b, c)"), "{m}");
    assert_eq!(started.load(Ordering::SeqCst), 1, "only a ran");
    // The final record is still written, FAILED, with what really happened.
    let runs = rec.list_runs(None, 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert_eq!(runs[0].tasks["a"], TaskStatus::Success);
    assert_eq!(runs[0].tasks["b"], TaskStatus::Pending);
}

#[test]
fn bad_definitions_are_errors_before_anything_runs() {
    let mut p = Pipeline::new("bad").unwrap();
    p.add_task(Task::new("a", ok)).unwrap();
    let e = p.add_task(Task::new("a", ok)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Duplicate);
    assert!(e.message().contains("\"a\""));
    let e = p.add_dependency("a", "ghost").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("ghost"));
    let e = p.add_dependency("ghost", "a").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        p.set_max_workers(0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        p.add_task(Task::new("", ok)).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        Pipeline::new("").err().unwrap().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        p.set_context("", vec![]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn a_cycle_names_its_tasks_and_nothing_runs() {
    let backend = Arc::new(MemoryBackend::new());
    let ran = Arc::new(AtomicU32::new(0));
    let mut p = Pipeline::with_backend("cyclic", backend.clone()).unwrap();
    for n in ["start", "x", "y", "z"] {
        let r = ran.clone();
        p.add_task(Task::new(n, move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }))
        .unwrap();
    }
    for (a, b) in [("start", "x"), ("x", "y"), ("y", "z"), ("z", "x")] {
        p.add_dependency(a, b).unwrap();
    }
    let e = p.run().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cycle);
    assert!(
        ["x -> y -> z -> x", "y -> z -> x -> y", "z -> x -> y -> z"]
            .iter()
            .any(|c| e.message().contains(c)),
        "{e}"
    );
    assert!(!e.message().contains("start"), "{e}");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(
        backend.list_runs(None, 10).unwrap().is_empty(),
        "no run recorded"
    );
}

#[test]
fn a_panicking_task_fails_and_the_run_goes_on() {
    let mut p = Pipeline::new("panics").unwrap();
    p.set_max_workers(2).unwrap();
    p.add_task(Task::new("explodes", |_| panic!("kaboom {}", 42)))
        .unwrap();
    p.add_task(Task::new("sibling", ok)).unwrap();
    p.add_task(Task::new("cleanup", ok).trigger_rule(AllDone))
        .unwrap();
    p.add_dependency("explodes", "cleanup").unwrap();
    p.add_dependency("sibling", "cleanup").unwrap();
    let r = p.run().unwrap();
    assert_eq!(r.task_status("explodes"), Some(TaskStatus::Failed));
    assert_eq!(r.error("explodes"), Some("task panicked: kaboom 42"));
    assert_eq!(r.task_status("sibling"), Some(TaskStatus::Success));
    assert_eq!(r.task_status("cleanup"), Some(TaskStatus::Success));
    assert_eq!(r.status(), RunStatus::Failed);
    // The pipeline still works afterwards.
    assert_eq!(
        p.run().unwrap().task_status("sibling"),
        Some(TaskStatus::Success)
    );
}

#[test]
fn task_context_knows_its_run_task_and_attempt() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let mut p = Pipeline::new("ids").unwrap();
    p.add_task(Task::new("who", move |ctx| {
        *s.lock().unwrap() = Some((
            ctx.run_id().to_string(),
            ctx.task_name().to_string(),
            ctx.attempt(),
        ));
        Ok(())
    }))
    .unwrap();
    let r = p.run().unwrap();
    let (run_id, task, attempt) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(run_id, r.run_id());
    assert_eq!(uuid_version(&run_id), Some('4'));
    assert_eq!((task.as_str(), attempt), ("who", 1));
}

fn uuid_version(s: &str) -> Option<char> {
    (s.len() == 36).then(|| s.chars().nth(14)).flatten()
}

#[test]
fn runs_are_listed_newest_first_in_the_default_backend() {
    let mut p = Pipeline::new("history").unwrap();
    p.add_task(Task::new("a", ok)).unwrap();
    let ids: Vec<String> = (0..3)
        .map(|_| p.run().unwrap().run_id().to_string())
        .collect();
    let runs = p.backend().list_runs(Some("history"), 10).unwrap();
    let listed: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(
        listed,
        ids.iter().rev().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(p.backend().list_runs(Some("other"), 10).unwrap().len(), 0);
    assert_eq!(p.backend().list_runs(None, 2).unwrap().len(), 2);
}

#[test]
fn mermaid_output_is_safe_for_awkward_names() {
    let mut p = Pipeline::new("m").unwrap();
    p.add_task(Task::new("load data", ok)).unwrap();
    p.add_task(Task::new("say \"hi\" [now]", ok)).unwrap();
    p.add_task(Task::new("a<b>#c", ok)).unwrap();
    p.add_dependency("load data", "say \"hi\" [now]").unwrap();
    p.add_dependency("load data", "a<b>#c").unwrap();
    assert_eq!(
        p.to_mermaid(),
        "graph TD\n    t0[\"load data\"]\n    t1[\"say #quot;hi#quot; [now]\"]\n    t2[\"a#lt;b#gt;#35;c\"]\n    t0 --> t1\n    t0 --> t2\n"
    );
}

#[test]
fn an_empty_pipeline_runs_and_succeeds() {
    let p = Pipeline::new("empty").unwrap();
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Success);
    assert!(r.tasks().is_empty());
}

/// Records how status changes arrive: one by one or grouped.
#[derive(Default)]
struct Grouping {
    writes: Mutex<Vec<Vec<(String, TaskStatus)>>>,
    inner: MemoryBackend,
}

impl Backend for Grouping {
    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        self.inner.save_run(run)
    }
    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        self.inner.get_run(run_id)
    }
    fn update_task_status(&self, run_id: &str, task: &str, s: TaskStatus) -> Result<()> {
        self.writes
            .lock()
            .unwrap()
            .push(vec![(task.to_string(), s)]);
        self.inner.update_task_status(run_id, task, s)
    }
    fn update_task_statuses(&self, run_id: &str, changes: &[(&str, TaskStatus)]) -> Result<()> {
        let group = changes.iter().map(|(t, s)| (t.to_string(), *s)).collect();
        self.writes.lock().unwrap().push(group);
        self.inner.update_task_statuses(run_id, changes)
    }
    fn list_runs(&self, p: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        self.inner.list_runs(p, limit)
    }
}

#[test]
fn a_final_status_is_written_with_the_next_running() {
    use TaskStatus::*;
    let g = |v: &[(&str, TaskStatus)]| -> Vec<(String, TaskStatus)> {
        v.iter().map(|(t, s)| (t.to_string(), *s)).collect()
    };
    for workers in [1, 2] {
        let backend = Arc::new(Grouping::default());
        let mut p = Pipeline::with_backend("grouped", backend.clone()).unwrap();
        p.set_max_workers(workers).unwrap();
        p.add_task(Task::new("a", ok)).unwrap();
        p.add_task(Task::new("b", fail)).unwrap();
        p.add_task(Task::new("c", ok)).unwrap();
        p.add_task(Task::new("d", ok).trigger_rule(AllDone))
            .unwrap();
        for (x, y) in [("a", "b"), ("b", "c"), ("c", "d")] {
            p.add_dependency(x, y).unwrap();
        }
        let r = p.run().unwrap();
        assert_eq!(r.task_status("c"), Some(Skipped));
        // Each worker claims the child it unblocked, so a chain is written
        // the same way whatever the number of workers.
        let writes = backend.writes.lock().unwrap().clone();
        assert_eq!(
            writes,
            vec![
                g(&[("a", Running)]),
                g(&[("a", Success), ("b", Running)]),
                g(&[("b", Failed), ("c", Skipped), ("d", Running)]),
                g(&[("d", Success)]),
            ],
            "{workers} worker(s)"
        );
    }
}

#[test]
fn a_task_sees_every_earlier_status_already_recorded() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let seen = Arc::new(Mutex::new(None));
    let mut p = Pipeline::with_backend("visible", backend.clone()).unwrap();
    p.add_task(Task::new("first", ok)).unwrap();
    p.add_task(Task::new("skipped", ok).trigger_rule(OneFailed))
        .unwrap();
    let (b, s) = (backend.clone(), seen.clone());
    p.add_task(
        Task::new("probe", move |ctx| {
            *s.lock().unwrap() = b.get_run(ctx.run_id()).unwrap();
            Ok(())
        })
        .trigger_rule(AllDone),
    )
    .unwrap();
    p.add_dependency("first", "skipped").unwrap();
    p.add_dependency("skipped", "probe").unwrap();
    p.run().unwrap();
    let run = seen.lock().unwrap().clone().unwrap();
    assert_eq!(run.tasks["first"], TaskStatus::Success);
    assert_eq!(run.tasks["skipped"], TaskStatus::Skipped);
    assert_eq!(run.tasks["probe"], TaskStatus::Running);
}
