//! Shared by tests/postgres.rs and tests/mysql.rs (and, for the backend
//! checks, tests/sqlite.rs): server addresses, table names, the behaviour
//! checks every backend must pass, and a TCP proxy that can cut the
//! connection to a real server.
#![allow(dead_code)]

use dremioorch::{
    Backend, BackendRef, ErrorKind, Pipeline, PipelineRun, RunResult, RunStatus, Task, TaskStatus,
    TriggerRule,
};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Environment variables are process-wide: tests that change them hold this.
pub static ENV_LOCK: Mutex<()> = Mutex::new(());

pub fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn pg_dsn() -> String {
    std::env::var("DORCH_TEST_PG_DSN")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".into())
}

pub fn mysql_url() -> String {
    std::env::var("DORCH_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A table name no other test (or process) uses.
pub fn unique_table(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t_{prefix}_{}_{}_{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos & 0xffff
    )
}

/// `base`, then `_`, then `pad` repeated up to `len` characters in all.
pub fn name_of_len(base: &str, len: usize, pad: char) -> String {
    let mut s = format!("{base}_");
    assert!(s.len() <= len, "{base} is too long for {len}");
    while s.len() < len {
        s.push(pad);
    }
    s
}

pub fn run(name: &str, id: &str, start: f64, tasks: &[(&str, TaskStatus)]) -> PipelineRun {
    PipelineRun {
        pipeline_name: name.into(),
        run_id: id.into(),
        start_time: start,
        end_time: None,
        status: RunStatus::Running,
        tasks: tasks.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

/// get_run, update_task_status, save_run, list_runs: each round-trips.
pub fn check_round_trips(b: &dyn Backend) {
    assert_eq!(b.get_run("nope").unwrap(), None);
    let odd = "tâche \"quoted\" \\ back\nline ☃";
    let mut r = run(
        "pipe",
        "run-1",
        1_700_000_000.25,
        &[("a", TaskStatus::Pending), (odd, TaskStatus::Pending)],
    );
    b.save_run(&r).unwrap();
    assert_eq!(b.get_run("run-1").unwrap().as_ref(), Some(&r));
    b.update_task_status("run-1", "a", TaskStatus::Running)
        .unwrap();
    b.update_task_status("run-1", odd, TaskStatus::Success)
        .unwrap();
    // Setting the same status again is fine (a retried write).
    b.update_task_status("run-1", odd, TaskStatus::Success)
        .unwrap();
    // A task not in the record is added.
    b.update_task_status("run-1", "late", TaskStatus::Skipped)
        .unwrap();
    r.tasks.insert("a".into(), TaskStatus::Running);
    r.tasks.insert(odd.into(), TaskStatus::Success);
    r.tasks.insert("late".into(), TaskStatus::Skipped);
    assert_eq!(b.get_run("run-1").unwrap().as_ref(), Some(&r));
    assert_eq!(b.list_runs(None, 10).unwrap(), vec![r.clone()]);
    assert_eq!(b.list_runs(Some("pipe"), 10).unwrap(), vec![r.clone()]);
    assert_eq!(b.list_runs(Some("other"), 10).unwrap(), vec![]);
    // Task names differing only in case are different tasks.
    b.update_task_status("run-1", "A", TaskStatus::Failed)
        .unwrap();
    r.tasks.insert("A".into(), TaskStatus::Failed);
    assert_eq!(b.get_run("run-1").unwrap().as_ref(), Some(&r));
    // Unknown run: NotFound, and nothing stored.
    let e = b
        .update_task_status("missing", "a", TaskStatus::Running)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(b.get_run("missing").unwrap(), None);
    // A run without tasks.
    let empty = run("pipe", "run-0", 5.0, &[]);
    b.save_run(&empty).unwrap();
    assert_eq!(b.get_run("run-0").unwrap(), Some(empty));
}

/// save_run replaces the whole record, including live task updates.
pub fn check_upsert(b: &dyn Backend) {
    let mut r = run(
        "p",
        "u1",
        10.0,
        &[("x", TaskStatus::Pending), ("y", TaskStatus::Pending)],
    );
    b.save_run(&r).unwrap();
    b.update_task_status("u1", "x", TaskStatus::Running)
        .unwrap();
    b.update_task_status("u1", "z", TaskStatus::Running)
        .unwrap();
    r.tasks.insert("x".into(), TaskStatus::Success);
    r.tasks.insert("y".into(), TaskStatus::Failed);
    r.status = RunStatus::Failed;
    r.end_time = Some(12.5);
    b.save_run(&r).unwrap();
    // "z" was only live state, so the saved record (without it) wins.
    assert_eq!(b.get_run("u1").unwrap(), Some(r.clone()));
    // Saving again is idempotent; changing fields replaces them.
    b.save_run(&r).unwrap();
    r.pipeline_name = "renamed".into();
    r.start_time = 11.0;
    r.tasks.clear();
    b.save_run(&r).unwrap();
    assert_eq!(b.get_run("u1").unwrap(), Some(r.clone()));
    assert_eq!(b.list_runs(None, 100).unwrap(), vec![r]);
}

/// list_runs: newest start_time first, filter by pipeline, limit.
pub fn check_list(b: &dyn Backend) {
    let mut all = Vec::new();
    for i in 0..30 {
        let p = if i % 3 == 0 { "three" } else { "other" };
        // Saved in a scrambled order.
        let start = ((i * 7) % 30) as f64 + 1000.0;
        let r = run(p, &format!("l{i}"), start, &[("t", TaskStatus::Pending)]);
        b.save_run(&r).unwrap();
        all.push(r);
    }
    b.update_task_status("l3", "t", TaskStatus::Success)
        .unwrap();
    all[3].tasks.insert("t".into(), TaskStatus::Success);
    all.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
    assert_eq!(b.list_runs(None, 100).unwrap(), all);
    assert_eq!(b.list_runs(None, 5).unwrap(), all[..5].to_vec());
    assert_eq!(b.list_runs(None, 0).unwrap(), vec![]);
    let three: Vec<_> = all
        .iter()
        .filter(|r| r.pipeline_name == "three")
        .cloned()
        .collect();
    assert_eq!(three.len(), 10);
    assert_eq!(b.list_runs(Some("three"), 100).unwrap(), three);
    assert_eq!(b.list_runs(Some("three"), 3).unwrap(), three[..3].to_vec());
}

/// 8 threads update different tasks of one run at once; nothing is lost.
pub fn check_concurrent_updates(b: &(dyn Backend + Sync)) {
    let names: Vec<String> = (0..8 * 25).map(|i| format!("task{i:03}")).collect();
    let r = PipelineRun {
        pipeline_name: "conc".into(),
        run_id: "c1".into(),
        start_time: 1.0,
        end_time: None,
        status: RunStatus::Running,
        tasks: names
            .iter()
            .map(|n| (n.clone(), TaskStatus::Pending))
            .collect(),
    };
    b.save_run(&r).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let names = &names;
            s.spawn(move || {
                for n in names.iter().skip(t).step_by(8) {
                    b.update_task_status("c1", n, TaskStatus::Running).unwrap();
                    let fin = if n.ends_with('7') {
                        TaskStatus::Failed
                    } else {
                        TaskStatus::Success
                    };
                    b.update_task_status("c1", n, fin).unwrap();
                }
            });
        }
    });
    let got = b.get_run("c1").unwrap().unwrap();
    assert_eq!(got.tasks.len(), names.len());
    for n in &names {
        let want = if n.ends_with('7') {
            TaskStatus::Failed
        } else {
            TaskStatus::Success
        };
        assert_eq!(got.tasks[n], want, "{n}");
    }
}

/// A pipeline: a 40-task diamond-ish DAG, some tasks failing, `workers` threads.
pub fn build_pipeline(name: &str, backend: BackendRef, workers: usize, n: usize) -> Pipeline {
    let mut p = Pipeline::with_backend(name, backend).unwrap();
    p.set_max_workers(workers).unwrap();
    p.add_task(Task::new("root", |ctx| {
        ctx.set_output(b"r".to_vec());
        Ok(())
    }))
    .unwrap();
    for i in 0..n {
        let fail = i % 13 == 5;
        p.add_task(Task::new(format!("t{i}"), move |ctx| {
            assert_eq!(ctx.get("root"), Some(&b"r"[..]));
            std::thread::sleep(Duration::from_millis(1));
            if fail {
                Err("planned failure".into())
            } else {
                Ok(())
            }
        }))
        .unwrap();
        p.add_dependency("root", &format!("t{i}")).unwrap();
        if i >= 4 {
            p.add_dependency(&format!("t{}", i - 4), &format!("t{i}"))
                .unwrap();
        }
    }
    p.add_task(Task::new("end", |_| Ok(())).trigger_rule(dremioorch::TriggerRule::AllDone))
        .unwrap();
    for i in n.saturating_sub(4)..n {
        p.add_dependency(&format!("t{i}"), "end").unwrap();
    }
    p
}

/// The stored run equals the run result exactly.
pub fn assert_history_matches(b: &dyn Backend, result: &RunResult) {
    let stored = b
        .get_run(result.run_id())
        .unwrap()
        .expect("the run is stored");
    assert_eq!(&stored, result.as_run());
    let listed = b.list_runs(Some(result.pipeline_name()), 1).unwrap();
    assert_eq!(listed.first(), Some(result.as_run()));
}

pub fn check_pipeline(backend: BackendRef) {
    let p = build_pipeline("pipe4", backend.clone(), 4, 40);
    let result = p.run().unwrap();
    assert_eq!(result.status(), RunStatus::Failed);
    assert_eq!(result.task_status("t5"), Some(TaskStatus::Failed));
    assert_eq!(result.task_status("t9"), Some(TaskStatus::Skipped));
    assert_eq!(result.task_status("t0"), Some(TaskStatus::Success));
    assert_eq!(result.task_status("end"), Some(TaskStatus::Success));
    assert_history_matches(&*backend, &result);
    let tasks: BTreeMap<_, _> = result.tasks().clone();
    assert_eq!(tasks.len(), 42);
}

/// Asserts `f` fails within `limit`, and returns the error.
pub fn fails_within<T: std::fmt::Debug>(
    limit: Duration,
    f: impl FnOnce() -> dremioorch::Result<T>,
) -> dremioorch::Error {
    let t = Instant::now();
    let e = f().expect_err("expected an error");
    let took = t.elapsed();
    assert!(took <= limit, "took {took:?} (limit {limit:?}): {e}");
    e
}

/// A TCP forwarder in front of a real server: `cut()` drops every open
/// connection, `set_down(true)` also refuses new ones (as a server that is
/// restarting), `set_down(false)` lets them through again. `set_frozen(true)`
/// makes it a server that is stuck while its host still answers TCP (or a
/// proxy in front of a dead server): every connection stays open, new ones
/// are accepted, and nothing is forwarded either way.
pub struct Proxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let frozen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let upstream = upstream.to_string();
        let (d, f, s, c) = (down.clone(), frozen.clone(), stop.clone(), conns.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        if d.load(Ordering::SeqCst) {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        }
                        if f.load(Ordering::SeqCst) {
                            // Accepted, kept open, never answered.
                            c.lock().unwrap().push(client);
                            continue;
                        }
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        };
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        {
                            let mut g = c.lock().unwrap();
                            g.push(client.try_clone().unwrap());
                            g.push(server.try_clone().unwrap());
                        }
                        pipe(
                            client.try_clone().unwrap(),
                            server.try_clone().unwrap(),
                            f.clone(),
                        );
                        pipe(server, client, f.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            port,
            down,
            frozen,
            conns,
            stop,
        }
    }

    /// Closes every connection going through the proxy.
    pub fn cut(&self) {
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.cut();
        }
    }

    /// Frozen: connections stay open and new ones are accepted, but nothing
    /// is forwarded (what arrives is discarded). Unfrozen: new connections
    /// work again (the frozen ones have lost data and are of no use).
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, frozen: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if frozen.load(Ordering::SeqCst) => {}
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// Runs `f` on its own thread, failing the test if it has not finished in
/// `limit` (a hang is a failure, not a stuck test run).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within {limit:?}")
        }
        Err(_) => panic!("the checked code panicked (see above)"),
    }
}

/// `update_task_statuses`: one atomic write, the last status of a task wins,
/// an unknown run is NotFound with nothing stored; and a one-worker run (which
/// groups each final status with the next RUNNING) is stored exactly.
pub fn check_grouped_updates(backend: BackendRef) {
    let b = &*backend;
    let odd = "grouped \"ünïcode\" ☃";
    let mut r = run("grp", "grp-1", 3.0, &[("a", TaskStatus::Pending)]);
    b.save_run(&r).unwrap();
    b.update_task_statuses(
        "grp-1",
        &[
            ("a", TaskStatus::Running),
            (odd, TaskStatus::Skipped),
            ("a", TaskStatus::Success),
        ],
    )
    .unwrap();
    r.tasks.insert("a".into(), TaskStatus::Success);
    r.tasks.insert(odd.into(), TaskStatus::Skipped);
    assert_eq!(b.get_run("grp-1").unwrap().as_ref(), Some(&r));
    // The same changes again (a retried write) are fine.
    b.update_task_statuses("grp-1", &[("a", TaskStatus::Success)])
        .unwrap();
    b.update_task_statuses("grp-1", &[]).unwrap();
    let e = b
        .update_task_statuses(
            "grp-missing",
            &[("a", TaskStatus::Running), ("b", TaskStatus::Running)],
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(b.get_run("grp-missing").unwrap(), None);

    let p = build_pipeline("pipe1", backend.clone(), 1, 20);
    let result = p.run().unwrap();
    assert_eq!(result.task_status("t5"), Some(TaskStatus::Failed));
    assert_eq!(result.task_status("t9"), Some(TaskStatus::Skipped));
    assert_history_matches(b, &result);
}

/// A chain of `n` no-op tasks named `{prefix}{i}`; task `i` first calls `at(i)`.
pub fn chain_with(
    name: &str,
    prefix: &str,
    backend: BackendRef,
    n: usize,
    at: impl Fn(usize) + Send + Sync + Clone + 'static,
) -> Pipeline {
    let mut p = Pipeline::with_backend(name, backend).unwrap();
    for i in 0..n {
        let at = at.clone();
        p.add_task(Task::new(format!("{prefix}{i}"), move |_| {
            at(i);
            Ok(())
        }))
        .unwrap();
        if i > 0 {
            p.add_dependency(&format!("{prefix}{}", i - 1), &format!("{prefix}{i}"))
                .unwrap();
        }
    }
    p
}

/// `kill` drops every server connection of the backend and says how many.
/// In a chain, tasks 10 and 20 kill them; then a kill storm runs through a
/// 4-worker fan-out. Both runs finish and the stored history, read through
/// `reader` (a backend on the same table whose connections are not
/// killed, or `b` itself), is exact.
pub fn check_kills_mid_run(
    b: BackendRef,
    reader: BackendRef,
    kill: Arc<dyn Fn() -> usize + Send + Sync>,
) {
    let killed = Arc::new(AtomicUsize::new(0));
    let p = chain_with("killchain", "k", b.clone(), 30, {
        let (kill, killed) = (kill.clone(), killed.clone());
        move |i| {
            if i == 10 || i == 20 {
                killed.fetch_add(kill(), Ordering::SeqCst);
            }
        }
    });
    let result = within(Duration::from_secs(60), move || p.run()).unwrap();
    assert_eq!(result.status(), RunStatus::Success);
    assert!(killed.load(Ordering::SeqCst) >= 2);
    assert_history_matches(&*reader, &result);

    let p = build_pipeline("killfan", b.clone(), 4, 120);
    let stop = Arc::new(AtomicBool::new(false));
    let storm = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += kill();
                std::thread::sleep(Duration::from_millis(40));
            }
            n
        })
    };
    let result = within(Duration::from_secs(90), move || p.run()).unwrap();
    stop.store(true, Ordering::SeqCst);
    let n = storm.join().unwrap();
    assert!(n >= 1, "the storm killed nothing");
    assert_eq!(result.status(), RunStatus::Failed); // the planned failures
    assert_history_matches(&*reader, &result);
}

/// A 20-task chain during which the server "restarts" (connections drop, new
/// ones are refused for 1.5 s): the run waits it out and the history is exact.
pub fn check_outage_then_back(b: BackendRef, proxy: &Arc<Proxy>) {
    let proxy = proxy.clone();
    let p = chain_with("outage", "o", b.clone(), 20, move |i| {
        if i == 7 {
            proxy.set_down(true);
            let proxy = proxy.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1500));
                proxy.set_down(false);
            });
        }
    });
    let t0 = Instant::now();
    let result = within(Duration::from_secs(60), move || p.run()).unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(1400));
    assert_eq!(result.status(), RunStatus::Success);
    assert_history_matches(&*b, &result);
}

/// The server goes down mid-run and stays down past the retry budget: the
/// run ends promptly with a Backend error naming what was not written and
/// the server's address; the backend recovers once the server is back.
pub fn check_down_past_the_bound(b: BackendRef, proxy: &Arc<Proxy>) {
    let mut p = chain_with("down", "d", b.clone(), 10, {
        let proxy = proxy.clone();
        move |i| {
            if i == 3 {
                proxy.set_down(true);
            }
        }
    });
    p.set_max_workers(2).unwrap();
    let t0 = Instant::now();
    let r = within(Duration::from_secs(30), move || p.run());
    let Err(e) = r else {
        panic!("the run must fail")
    };
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(e.message().contains("could not record task \"d3\""), "{e}");
    assert!(
        e.message().contains(&format!("127.0.0.1:{}", proxy.port)),
        "{e}"
    );
    // Direct calls fail the same bounded way.
    let e = fails_within(Duration::from_secs(5), || {
        b.update_task_status("x", "t", TaskStatus::Running)
    });
    assert_eq!(e.kind(), ErrorKind::Backend);
    proxy.set_down(false);
    b.save_run(&run("down", "after", 1.0, &[])).unwrap();
    assert!(b.get_run("after").unwrap().is_some());
}

/// The server goes away mid-run (connections dropped, new ones refused) and
/// stays away, the backend having `budget` as its retry budget (and a
/// maximum backoff well under it): the run fails
/// about one budget after the outage starts, not one budget per call (the
/// task update that hit it, then the final save_run), and the error names
/// the budget. Returns how long the run took.
pub fn check_dead_server_one_budget_per_run(
    b: BackendRef,
    proxy: &Arc<Proxy>,
    budget: Duration,
) -> Duration {
    let mut p = chain_with("dead", "x", b.clone(), 10, {
        let proxy = proxy.clone();
        move |i| {
            if i == 3 {
                proxy.set_down(true);
            }
        }
    });
    p.set_max_workers(2).unwrap();
    let t0 = Instant::now();
    let r = within(budget * 4 + Duration::from_secs(30), move || p.run());
    let took = t0.elapsed();
    let Err(e) = r else {
        panic!("the run must fail")
    };
    eprintln!("dead server: the run failed after {took:?}: {e}");
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(e.message().contains("could not record task \"x3\""), "{e}");
    assert!(e.message().contains("retry budget"), "{e}");
    assert!(e.message().contains("final save_run failed too"), "{e}");
    // One budget, plus margins for a loaded machine. One budget per call
    // (the task update, then the final save_run) took 2x, less twice the
    // last backoff (7.3 s with a 4 s budget and a 500 ms maximum backoff).
    assert!(took >= budget.mul_f64(0.75), "{took:?}: {e}");
    assert!(took < budget.mul_f64(1.5), "{took:?}: {e}");
    proxy.set_down(false);
    b.save_run(&run("dead", "after", 1.0, &[])).unwrap();
    took
}

/// The server freezes mid-run: connections stay open, nothing is answered,
/// new connections are accepted and never answered (a stuck server, or a
/// proxy in front of a dead one). The backend's `io_timeout` is `io`: the
/// run must not hang but fail with a Backend error that names the timeout,
/// the task it could not record and the server, within `limit`; once the
/// server answers again the backend works. Returns how long the run took.
pub fn check_frozen_mid_run(
    b: BackendRef,
    proxy: &Arc<Proxy>,
    io: Duration,
    limit: Duration,
) -> Duration {
    let mut p = chain_with("frozen", "f", b.clone(), 10, {
        let proxy = proxy.clone();
        move |i| {
            if i == 3 {
                proxy.set_frozen(true);
            }
        }
    });
    p.set_max_workers(2).unwrap();
    let t0 = Instant::now();
    let r = within(limit + Duration::from_secs(60), move || p.run());
    let took = t0.elapsed();
    let Err(e) = r else {
        panic!("the run must fail")
    };
    eprintln!("frozen server: the run failed after {took:?}: {e}");
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(e.message().contains("could not record task \"f3\""), "{e}");
    assert!(e.message().contains("timed out"), "{e}");
    assert!(e.message().contains("io_timeout"), "{e}");
    assert!(
        e.message().contains(&format!("127.0.0.1:{}", proxy.port)),
        "{e}"
    );
    assert!(took >= io, "{took:?}: {e}");
    assert!(took < limit, "{took:?} (limit {limit:?}): {e}");
    proxy.set_frozen(false);
    b.save_run(&run("frozen", "after", 1.0, &[])).unwrap();
    assert!(b.get_run("after").unwrap().is_some());
    took
}

/// Task names of 10,000 bytes, ASCII and multi-byte, two of them differing
/// only in their last byte: a run over them succeeds and is stored with
/// every name whole; live updates keep each name's own status.
pub fn check_long_task_names(backend: BackendRef) {
    // Names that do not compress (an index may compress a repetitive one).
    let base = noise(
        9_999,
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    );
    let (a, b) = (format!("{base}a"), format!("{base}b"));
    let wide = noise(5_000, "éèêëàâäôöûüçñßøåæœ");
    for n in [&a, &b, &wide] {
        assert_eq!(n.len(), 10_000);
    }
    let mut p = Pipeline::with_backend("longnames", backend.clone()).unwrap();
    p.set_max_workers(2).unwrap();
    for n in [&a, &b, &wide] {
        p.add_task(Task::new(n.clone(), |_| Ok(())).trigger_rule(TriggerRule::AllDone))
            .unwrap();
    }
    p.add_dependency(&a, &wide).unwrap();
    p.add_dependency(&b, &wide).unwrap();
    let result = p.run().unwrap();
    assert_eq!(result.status(), RunStatus::Success);
    assert_history_matches(&*backend, &result);
    let stored = backend.get_run(result.run_id()).unwrap().unwrap();
    let names: Vec<&String> = stored.tasks.keys().collect();
    assert_eq!(names, [&a, &b, &wide]);

    let mut r = run("longnames", "long-live", 1.0, &[(&a, TaskStatus::Pending)]);
    backend.save_run(&r).unwrap();
    backend
        .update_task_statuses(
            "long-live",
            &[(&a, TaskStatus::Running), (&b, TaskStatus::Skipped)],
        )
        .unwrap();
    backend
        .update_task_status("long-live", &a, TaskStatus::Success)
        .unwrap();
    r.tasks.insert(a, TaskStatus::Success);
    r.tasks.insert(b, TaskStatus::Skipped);
    assert_eq!(backend.get_run("long-live").unwrap(), Some(r));
}

/// `n` characters drawn from `alphabet` by a fixed pseudo-random sequence.
pub fn noise(n: usize, alphabet: &str) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chars[(x % chars.len() as u64) as usize]
        })
        .collect()
}

/// `expected` is every stored row of `pipeline`, newest first as the
/// backend orders them: `(run_id, None)` for a readable run, `(run_id,
/// Some(part))` for an unreadable row whose reason contains `part` (and
/// names its column). At every limit, the listing splits the first `limit`
/// rows into runs and unreadable rows, in order; `list_runs` returns the
/// same runs and does not fail; `get_run` of an unreadable row is a Backend
/// error naming the run and what is wrong.
pub fn check_unreadable_rows(b: &dyn Backend, pipeline: &str, expected: &[(&str, Option<&str>)]) {
    for limit in 0..=expected.len() + 1 {
        let want = &expected[..limit.min(expected.len())];
        let report = b.list_runs_report(Some(pipeline), limit as u32).unwrap();
        let ids: Vec<&str> = report.runs.iter().map(|r| r.run_id.as_str()).collect();
        let want_ids: Vec<&str> = want
            .iter()
            .filter(|(_, bad)| bad.is_none())
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(ids, want_ids, "readable runs at limit {limit}");
        let bad: Vec<(&str, &str)> = report
            .unreadable
            .iter()
            .map(|u| (u.run_id.as_str(), u.reason.as_str()))
            .collect();
        let want_bad: Vec<(&str, &str)> = want
            .iter()
            .filter_map(|(id, bad)| bad.map(|part| (*id, part)))
            .collect();
        assert_eq!(bad.len(), want_bad.len(), "{bad:?} at limit {limit}");
        for ((id, reason), (want_id, part)) in bad.iter().zip(&want_bad) {
            assert_eq!(id, want_id, "{bad:?}");
            assert!(reason.contains(part), "{id}: {reason:?} lacks {part:?}");
        }
        let runs = b.list_runs(Some(pipeline), limit as u32).unwrap();
        assert_eq!(runs, report.runs);
    }
    for (id, bad) in expected {
        match bad {
            None => assert!(b.get_run(id).unwrap().is_some(), "{id}"),
            Some(part) if !id.is_empty() => {
                let e = b.get_run(id).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
                let m = e.message();
                assert!(
                    m.contains(&format!("{id:?}")) && m.contains(part),
                    "get_run({id:?}): {m}"
                );
            }
            Some(_) => {}
        }
    }
    // Every pipeline: the same rows, plus whatever else is stored.
    let all = b.list_runs_report(None, 1000).unwrap();
    for (id, bad) in expected {
        let listed = match bad {
            None => all.runs.iter().any(|r| r.run_id == *id),
            Some(_) => all.unreadable.iter().any(|u| u.run_id == *id),
        };
        assert!(listed, "{id} in the listing of every pipeline");
    }
}

/// Every task's detail in the run result, in task-name order.
pub fn result_details(r: &RunResult) -> Vec<dremioorch::TaskDetail> {
    r.tasks()
        .keys()
        .map(|t| r.detail(t).expect("every task has a detail").clone())
        .collect()
}

/// Task detail kept by a backend, read back through `reopen` (a new
/// backend on the same storage: the file reopened, a new connection).
/// After a retry, a task timeout and a cancellation, the stored detail is
/// exactly the run result's and the history exactly the final record; a
/// run written dremioframe's way (statuses only) has bare details; an
/// unknown run is NotFound; detail written live is readable mid-run and
/// survives the final save_run, whose statuses win.
pub fn check_task_details(b: BackendRef, reopen: &dyn Fn() -> BackendRef) {
    // Retries: a task that fails twice, one that succeeds on its second try.
    let mut p = Pipeline::with_backend("details_retry", b.clone()).unwrap();
    p.add_task(Task::new("bad", |_| Err("x".into())).retries(1))
        .unwrap();
    p.add_task(
        Task::new("flaky", |ctx| {
            if ctx.attempt() == 1 {
                Err("first".into())
            } else {
                Ok(())
            }
        })
        .retries(3),
    )
    .unwrap();
    p.add_task(Task::new("after", |_| Ok(()))).unwrap();
    p.add_dependency("bad", "after").unwrap();
    let r = p.run().unwrap();
    let fresh = reopen();
    let got = fresh.get_task_details(r.run_id()).unwrap();
    assert_eq!(got, result_details(&r), "stored detail = the run's");
    let bad = &got[1];
    assert_eq!(bad.name, "bad");
    assert_eq!(bad.status, TaskStatus::Failed);
    assert_eq!(bad.attempts, 2);
    assert_eq!(bad.error.as_deref(), Some("x (after 2 attempts)"));
    let (s, e) = (bad.start_time.unwrap(), bad.end_time.unwrap());
    assert!(r.start_time() <= s && s <= e && e <= r.end_time().unwrap());
    assert_eq!(got[2].name, "flaky");
    assert_eq!((got[2].attempts, got[2].error.as_deref()), (2, None));
    assert_eq!(got[0].name, "after");
    assert_eq!(got[0].status, TaskStatus::Skipped);
    assert_eq!((got[0].attempts, got[0].start_time), (0, None));
    assert_history_matches(&*fresh, &r);

    // A task timeout: FAILED at its deadline, retries not tried.
    let mut p = Pipeline::with_backend("details_timeout", b.clone()).unwrap();
    p.set_max_workers(2).unwrap();
    p.add_task(
        Task::new("hung", |_| {
            std::thread::sleep(Duration::from_millis(600));
            Ok(())
        })
        .timeout(Duration::from_millis(150))
        .retries(2),
    )
    .unwrap();
    p.add_task(Task::new("cleanup", |_| Ok(())).trigger_rule(TriggerRule::AllDone))
        .unwrap();
    p.add_dependency("hung", "cleanup").unwrap();
    let r = p.run().unwrap();
    let got = reopen().get_task_details(r.run_id()).unwrap();
    assert_eq!(got, result_details(&r));
    assert_eq!(got[1].name, "hung");
    assert_eq!(got[1].status, TaskStatus::Failed);
    assert_eq!(got[1].attempts, 1);
    assert_eq!(got[1].error.as_deref(), Some("timed out after 150 ms"));
    assert_eq!(got[0].status, TaskStatus::Success);
    assert_eq!(got[0].attempts, 1);
    assert_history_matches(&*b, &r);

    // A cancelled run: the tasks that never started are SKIPPED, saying why.
    let token = dremioorch::CancelToken::new();
    let mut p = chain_with("details_cancel", "c", b.clone(), 5, {
        let token = token.clone();
        move |i| {
            if i == 1 {
                token.cancel(Some("reason"));
            }
        }
    });
    p.set_max_workers(1).unwrap();
    let r = p
        .run_with(&dremioorch::RunOptions::new().cancel_token(token))
        .unwrap();
    assert_eq!(r.status(), RunStatus::Failed);
    let got = reopen().get_task_details(r.run_id()).unwrap();
    assert_eq!(got, result_details(&r));
    for d in &got[2..] {
        assert_eq!(d.status, TaskStatus::Skipped, "{}", d.name);
        assert_eq!(d.error.as_deref(), Some("cancelled: reason"), "{}", d.name);
        assert_eq!((d.attempts, d.start_time), (0, None), "{}", d.name);
        assert!(d.end_time.is_some(), "{}", d.name);
    }
    assert_eq!(got[1].status, TaskStatus::Success);
    assert_history_matches(&*b, &r);

    // dremioframe's way: save_run and update_task_status only.
    let mut df = run(
        "details_df",
        "details-df-1",
        7.0,
        &[("a", TaskStatus::Pending), ("b", TaskStatus::Pending)],
    );
    b.save_run(&df).unwrap();
    b.update_task_status("details-df-1", "a", TaskStatus::Running)
        .unwrap();
    let bare = |a: TaskStatus, b: TaskStatus| {
        vec![
            dremioorch::TaskDetail::bare("a", a),
            dremioorch::TaskDetail::bare("b", b),
        ]
    };
    assert_eq!(
        reopen().get_task_details("details-df-1").unwrap(),
        bare(TaskStatus::Running, TaskStatus::Pending)
    );
    df.tasks.insert("a".into(), TaskStatus::Success);
    df.tasks.insert("b".into(), TaskStatus::Skipped);
    df.status = RunStatus::Success;
    df.end_time = Some(9.0);
    b.save_run(&df).unwrap();
    assert_eq!(
        reopen().get_task_details("details-df-1").unwrap(),
        bare(TaskStatus::Success, TaskStatus::Skipped)
    );

    // Unknown run.
    for backend in [b.clone(), reopen()] {
        let e = backend.get_task_details("details-no-such-run").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }

    // Written directly: live detail mid-run, kept by the final save_run
    // whose statuses win; a later status-only update keeps the detail; a
    // task a later save drops is gone from the details too.
    let mut live = run(
        "details_live",
        "details-live-1",
        100.0,
        &[("p", TaskStatus::Pending), ("q", TaskStatus::Pending)],
    );
    b.save_run(&live).unwrap();
    let p_run = dremioorch::TaskUpdate {
        task: "p",
        status: TaskStatus::Running,
        attempts: 1,
        start_time: Some(100.125),
        end_time: None,
        error: None,
        output: None,
    };
    let p_done = dremioorch::TaskUpdate {
        status: TaskStatus::Failed,
        attempts: 3,
        end_time: Some(101.0 + 1.0 / 3.0),
        error: Some("boom \"quoted\" ☃\nline"),
        ..p_run
    };
    let q_run = dremioorch::TaskUpdate { task: "q", ..p_run };
    b.update_tasks("details-live-1", &[p_run]).unwrap();
    // The last update of a task in one call wins.
    b.update_tasks("details-live-1", &[p_run, p_done, q_run])
        .unwrap();
    let want_mid = vec![p_done.to_detail(), q_run.to_detail()];
    assert_eq!(
        reopen().get_task_details("details-live-1").unwrap(),
        want_mid
    );
    let e = b.update_tasks("details-no-such-run", &[p_run]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = b
        .update_tasks("details-no-such-run", &[p_run, q_run])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(b.get_run("details-no-such-run").unwrap(), None);
    // The final save says q was SKIPPED: its status wins, its detail stays.
    live.tasks.insert("p".into(), TaskStatus::Failed);
    live.tasks.insert("q".into(), TaskStatus::Skipped);
    live.status = RunStatus::Failed;
    live.end_time = Some(102.0);
    b.save_run(&live).unwrap();
    let fresh = reopen();
    assert_eq!(fresh.get_run("details-live-1").unwrap(), Some(live.clone()));
    let mut q = q_run.to_detail();
    q.status = TaskStatus::Skipped;
    assert_eq!(
        fresh.get_task_details("details-live-1").unwrap(),
        vec![p_done.to_detail(), q.clone()]
    );
    // A status-only update after the save keeps the stored detail.
    b.update_task_status("details-live-1", "q", TaskStatus::Success)
        .unwrap();
    q.status = TaskStatus::Success;
    assert_eq!(
        reopen().get_task_details("details-live-1").unwrap(),
        vec![p_done.to_detail(), q.clone()]
    );
    // Saved again without q: q is no task of the run any more.
    live.tasks.remove("q");
    b.save_run(&live).unwrap();
    let fresh = reopen();
    assert_eq!(fresh.get_run("details-live-1").unwrap(), Some(live.clone()));
    assert_eq!(
        fresh.get_task_details("details-live-1").unwrap(),
        vec![p_done.to_detail()]
    );
    // New detail of a task whose detail was saved replaces it, live and
    // after the next save.
    let p_again = dremioorch::TaskUpdate {
        status: TaskStatus::Success,
        attempts: 4,
        start_time: Some(200.5),
        end_time: Some(201.75),
        error: None,
        ..p_run
    };
    b.update_tasks("details-live-1", &[p_again]).unwrap();
    assert_eq!(
        reopen().get_task_details("details-live-1").unwrap(),
        vec![p_again.to_detail()]
    );
    live.tasks.insert("p".into(), TaskStatus::Success);
    b.save_run(&live).unwrap();
    let fresh = reopen();
    assert_eq!(fresh.get_run("details-live-1").unwrap(), Some(live));
    assert_eq!(
        fresh.get_task_details("details-live-1").unwrap(),
        vec![p_again.to_detail()]
    );
}
pub mod durable;
