//! Remote workers on Redis Streams, against the local Redis
//! (127.0.0.1:6379; `DORCH_TEST_REDIS_URL` overrides it). Every test uses
//! its own queue name and deletes its keys at the end. Worker processes are
//! the `remote_worker` example (built here when missing).

use dremioorch::{
    CancelToken, ErrorKind, Pipeline, RedisExecutor, RemoteOptions, RunOptions, RunStatus, Task,
    TaskStatus, Worker,
};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn url() -> String {
    std::env::var("DORCH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A queue name of this test and process; its keys go when dropped.
struct Queue(String, String);
impl Queue {
    fn new(test: &str) -> Self {
        Self::at(&url(), test)
    }
    fn at(url: &str, test: &str) -> Self {
        Queue(
            format!("dorch_test_remote_{test}_{}", std::process::id()),
            url.to_string(),
        )
    }
}
impl Drop for Queue {
    fn drop(&mut self) {
        let Ok(c) = redis::Client::open(self.1.as_str()) else {
            return;
        };
        let Ok(mut c) = c.get_connection_with_timeout(Duration::from_secs(2)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _ = redis::cmd("DEL").arg(keys).query::<i64>(&mut c);
        }
    }
}

fn opts() -> RemoteOptions {
    RemoteOptions::new()
        .visibility_timeout(Duration::from_millis(1500))
        .dispatch_timeout(Duration::from_secs(20))
}

/// A worker serving `w` in a thread until the returned token fires.
fn spawn_worker(w: Worker) -> (CancelToken, std::thread::JoinHandle<()>) {
    let stop = CancelToken::new();
    let s = stop.clone();
    let h = std::thread::spawn(move || w.run(&s).expect("worker runs"));
    (stop, h)
}

fn example_worker() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples").join("remote_worker");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "remote_worker"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the remote_worker example");
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// A worker process; killed when dropped.
struct Proc(Child);
impl Proc {
    fn start(bin: &PathBuf, url: &str, queue: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(bin)
            .arg(url)
            .arg(queue)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("worker starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Proc(child)
    }
}
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn fan_out_over_three_worker_processes_survives_a_sigkill() {
    const TASKS: usize = 40;
    let q = Queue::new("fanout");
    let bin = example_worker();
    let tasks = TASKS.to_string();
    let args = [
        "--tasks",
        &tasks,
        "--concurrency",
        "2",
        "--sleep-ms",
        "250",
        "--visibility-ms",
        "1500",
    ];
    let workers: Vec<Proc> = (0..3)
        .map(|_| Proc::start(&bin, &url(), &q.0, &args))
        .collect();
    let exec = RedisExecutor::new(&url(), &q.0, opts()).unwrap();
    let mut p = Pipeline::new("remote_fanout").unwrap();
    p.set_max_workers(TASKS).unwrap();
    for i in 0..TASKS {
        p.add_remote_task(&format!("sq_{i}"), &exec).unwrap();
    }
    let victim = workers[0].0.id();
    let killer = {
        let (url, queue) = (url(), q.0.clone());
        std::thread::spawn(move || {
            // Killed while it holds a task it took (a fixed delay once met
            // the victim between tasks, and nothing was re-delivered).
            let deadline = Instant::now() + Duration::from_secs(20);
            while !holds_a_task(&url, &queue, TASKS, victim) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            unsafe { libc::kill(victim as i32, libc::SIGKILL) };
        })
    };
    let t0 = Instant::now();
    let r = p.run().unwrap();
    killer.join().unwrap();
    assert_eq!(r.status(), RunStatus::Success, "{:?}", r);
    let mut pids = std::collections::HashSet::new();
    let mut attempts = 0;
    for i in 0..TASKS as u64 {
        let name = format!("sq_{i}");
        let out = String::from_utf8(r.output(&name).unwrap().to_vec()).unwrap();
        let (val, pid) = out.split_once(':').unwrap();
        assert_eq!(val, (i * i).to_string());
        pids.insert(pid.to_string());
        let d = r.detail(&name).unwrap();
        assert!(d.attempts >= 1);
        attempts += d.attempts;
    }
    assert!(pids.len() >= 2, "workers used: {pids:?}");
    eprintln!(
        "victim {victim}, pids {pids:?}, attempts {attempts}, {:?}",
        t0.elapsed()
    );
    assert!(
        attempts > TASKS as u32,
        "re-delivered attempts recorded: {attempts}"
    );
    assert!(t0.elapsed() < Duration::from_secs(30));
    drop(workers);
}

/// Whether the worker process `pid` has taken a task of `queue` (one of
/// the `tasks` streams `sq_i` of the fan-out) and not yet acknowledged it:
/// Redis's pending-entries summary of the workers' group, per consumer,
/// whose names hold their process id.
fn holds_a_task(url: &str, queue: &str, tasks: usize, pid: u32) -> bool {
    let Ok(mut c) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
        return false;
    };
    let mark = format!("-{pid}-");
    (0..tasks).any(|i| {
        let summary: redis::Value = redis::cmd("XPENDING")
            .arg(format!("{queue}:task:sq_{i}"))
            .arg("dorch-workers")
            .query(&mut c)
            .unwrap_or(redis::Value::Nil);
        let redis::Value::Array(parts) = summary else {
            return false;
        };
        let Some(redis::Value::Array(consumers)) = parts.get(3) else {
            return false;
        };
        consumers.iter().any(|entry| match entry {
            redis::Value::Array(pair) => matches!(
                pair.first(),
                Some(redis::Value::BulkString(name)) if String::from_utf8_lossy(name).contains(&mark)
            ),
            _ => false,
        })
    })
}

#[test]
fn unknown_task_name_fails_after_the_dispatch_timeout_naming_task_and_queue() {
    let q = Queue::new("unknown");
    let mut w = Worker::new(&url(), &q.0, opts()).unwrap();
    w.add_task("known", |_| Ok(())).unwrap();
    let (stop, h) = spawn_worker(w);
    let o = opts().dispatch_timeout(Duration::from_millis(700));
    let exec = RedisExecutor::new(&url(), &q.0, o).unwrap();
    let mut p = Pipeline::new("remote_unknown").unwrap();
    p.add_remote_task("nobody_serves_this", &exec).unwrap();
    let t0 = Instant::now();
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Failed);
    let err = r
        .detail("nobody_serves_this")
        .unwrap()
        .error
        .clone()
        .unwrap();
    assert!(
        err.contains("nobody_serves_this") && err.contains(&q.0),
        "{err}"
    );
    assert!(err.contains("no worker took"), "{err}");
    assert!(t0.elapsed() >= Duration::from_millis(700));
    assert!(t0.elapsed() < Duration::from_secs(10));
    stop.cancel(None);
    h.join().unwrap();
}

#[test]
fn cancellation_and_task_timeout_reach_the_remote_task() {
    let q = Queue::new("cancel");
    let saw = Arc::new(AtomicBool::new(false));
    let saw_timeout = Arc::new(AtomicBool::new(false));
    let mut w = Worker::new(&url(), &q.0, opts()).unwrap();
    w.set_concurrency(2).unwrap();
    let s = saw.clone();
    w.add_task("long", move |ctx| {
        let r = ctx.sleep(Duration::from_secs(30));
        if let Err(e) = &r {
            assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
            s.store(true, Ordering::SeqCst);
        }
        Ok(r?)
    })
    .unwrap();
    let s = saw_timeout.clone();
    w.add_task("slow", move |ctx| {
        let r = ctx.sleep(Duration::from_secs(30));
        if r.is_err() {
            assert!(ctx.is_cancelled());
            s.store(true, Ordering::SeqCst);
        }
        Ok(r?)
    })
    .unwrap();
    let (stop, h) = spawn_worker(w);
    let exec = RedisExecutor::new(&url(), &q.0, opts()).unwrap();

    // Run cancellation.
    let mut p = Pipeline::new("remote_cancel").unwrap();
    p.add_remote_task("long", &exec).unwrap();
    let token = CancelToken::new();
    let t = token.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        t.cancel(Some("enough"));
    });
    let t0 = Instant::now();
    let r = p.run_with(&RunOptions::new().cancel_token(token)).unwrap();
    assert_eq!(r.status(), RunStatus::Failed);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(
        saw.load(Ordering::SeqCst),
        "the worker's task saw the cancellation"
    );
    assert_eq!(
        r.detail("long").unwrap().error.as_deref(),
        Some("cancelled: enough")
    );

    // The task's own timeout.
    let mut p = Pipeline::new("remote_timeout").unwrap();
    p.add_task(exec.task("slow").timeout(Duration::from_millis(400)))
        .unwrap();
    let t0 = Instant::now();
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Failed);
    assert!(t0.elapsed() < Duration::from_secs(10));
    let err = r.detail("slow").unwrap().error.clone().unwrap();
    assert!(err.contains("timed out after 400 ms"), "{err}");
    // The worker learns of it by the deadline shipped with the task.
    let until = Instant::now() + Duration::from_secs(5);
    while !saw_timeout.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_timeout.load(Ordering::SeqCst));
    stop.cancel(None);
    h.join().unwrap();
}

#[test]
fn payload_limits_fail_the_task_with_a_clear_error() {
    let q = Queue::new("payload");
    let o = opts().max_payload(1000);
    let mut w = Worker::new(&url(), &q.0, o).unwrap();
    w.add_task("big_out", |ctx| {
        ctx.set_output(vec![7u8; 5000]);
        Ok(())
    })
    .unwrap();
    w.add_task("small", |ctx| {
        ctx.set_output(b"ok".to_vec());
        Ok(())
    })
    .unwrap();
    let (stop, h) = spawn_worker(w);
    let exec = RedisExecutor::new(&url(), &q.0, o).unwrap();
    let mut p = Pipeline::new("remote_payload").unwrap();
    p.add_remote_task("big_out", &exec).unwrap();
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Failed);
    let err = r.detail("big_out").unwrap().error.clone().unwrap();
    assert!(
        err.contains("5000 bytes") && err.contains("not stored in Redis"),
        "{err}"
    );

    let mut p = Pipeline::new("remote_payload_in").unwrap();
    p.set_context("blob", vec![1u8; 4000]).unwrap();
    p.add_remote_task("small", &exec).unwrap();
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Failed);
    let err = r.detail("small").unwrap().error.clone().unwrap();
    assert!(
        err.contains("inputs of remote task 'small'") && err.contains("1000"),
        "{err}"
    );
    stop.cancel(None);
    h.join().unwrap();
}

#[test]
fn bad_urls_unreachable_redis_and_bad_names_are_errors() {
    let e = RedisExecutor::new("nonsense://x", "q", opts()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    let e = RedisExecutor::new(&url(), "", opts()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = RedisExecutor::new(&url(), "has space", opts()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    // Nothing listens on port 1.
    let e = RedisExecutor::new("redis://127.0.0.1:1", "q", opts()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert!(
        e.message()
            .contains("cannot reach Redis at redis://127.0.0.1:1"),
        "{e}"
    );
    let mut w = Worker::new("redis://127.0.0.1:1", "q", opts()).unwrap();
    assert_eq!(
        w.run(&CancelToken::new()).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    w.add_task("t", |_| Ok(())).unwrap();
    assert_eq!(
        w.add_task("t", |_| Ok(())).unwrap_err().kind(),
        ErrorKind::Duplicate
    );
    assert_eq!(
        w.add_task("", |_| Ok(())).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        w.set_concurrency(0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let e = w.run(&CancelToken::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert!(e.message().contains("cannot reach Redis"), "{e}");
    assert_eq!(
        Worker::new("bad url", "q", opts()).unwrap_err().kind(),
        ErrorKind::Config
    );
}

#[test]
fn mixed_local_and_remote_tasks_pass_outputs_both_ways() {
    let q = Queue::new("mixed");
    let mut w = Worker::new(&url(), &q.0, opts()).unwrap();
    w.add_task("shout", |ctx| {
        assert_eq!(ctx.attempt(), 1);
        assert!(!ctx.run_id().is_empty());
        let mut out = ctx.get("extract").unwrap().to_ascii_uppercase();
        out.extend_from_slice(ctx.get("suffix").unwrap());
        ctx.set_output(out);
        Ok(())
    })
    .unwrap();
    w.add_task("flaky", |ctx| {
        if ctx.attempt() < 2 {
            return Err("first attempt fails".into());
        }
        ctx.set_output(format!("attempt {}", ctx.attempt()));
        Ok(())
    })
    .unwrap();
    let (stop, h) = spawn_worker(w);
    let exec = RedisExecutor::new(&url(), &q.0, opts()).unwrap();
    let mut p = Pipeline::new("remote_mixed").unwrap();
    p.set_context("suffix", b"?!".to_vec()).unwrap();
    p.add_task(Task::new("extract", |ctx| {
        ctx.set_output(b"hello".to_vec());
        Ok(())
    }))
    .unwrap();
    p.add_remote_task("shout", &exec).unwrap();
    p.add_task(exec.task("flaky").retries(1)).unwrap();
    p.add_task(Task::new("load", |ctx| {
        assert_eq!(ctx.get("shout"), Some(&b"HELLO?!"[..]));
        ctx.set_output(ctx.get("flaky").unwrap().to_vec());
        Ok(())
    }))
    .unwrap();
    p.add_dependency("extract", "shout").unwrap();
    p.add_dependency("shout", "load").unwrap();
    p.add_dependency("flaky", "load").unwrap();
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Success, "{r:?}");
    assert_eq!(r.output("load"), Some(&b"attempt 2"[..]));
    assert_eq!(r.detail("flaky").unwrap().attempts, 2);
    assert_eq!(r.task_status("shout"), Some(TaskStatus::Success));
    stop.cancel(None);
    h.join().unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_redis(port: u16) -> Child {
    let c = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "redis-server did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    c
}

#[test]
fn a_redis_restart_mid_run_is_survived_or_fails_clearly_never_hangs() {
    let port = free_port();
    let mut server = start_redis(port);
    let url = format!("redis://127.0.0.1:{port}");
    let q = Queue::at(&url, "restart");
    let exec = RedisExecutor::new(&url, &q.0, opts()).unwrap();
    // Distinct task names, one remote function.
    let mut p = Pipeline::new("remote_restart").unwrap();
    p.set_max_workers(2).unwrap();
    let mut prev: Option<String> = None;
    let mut w2 = Worker::new(&url, &q.0, opts()).unwrap();
    w2.set_concurrency(2).unwrap();
    for i in 0..12 {
        let name = format!("step_{i}");
        w2.add_task(&name, |ctx| {
            ctx.sleep(Duration::from_millis(150))?;
            ctx.set_output(b"done".to_vec());
            Ok(())
        })
        .unwrap();
        p.add_remote_task(&name, &exec).unwrap();
        if let Some(up) = prev {
            p.add_dependency(&up, &name).unwrap();
        }
        prev = Some(name);
    }
    let (stop2, h2) = spawn_worker(w2);
    let restarter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let _ = server.kill();
        let _ = server.wait();
        std::thread::sleep(Duration::from_millis(300));
        start_redis(port)
    });
    let t0 = Instant::now();
    let r = p.run().unwrap();
    let elapsed = t0.elapsed();
    let mut server = restarter.join().unwrap();
    assert!(elapsed < Duration::from_secs(40), "{elapsed:?}");
    if r.status() == RunStatus::Success {
        assert_eq!(r.output("step_11"), Some(&b"done"[..]));
    } else {
        let errors: Vec<String> = (0..12)
            .filter_map(|i| r.detail(&format!("step_{i}")).unwrap().error.clone())
            .collect();
        assert!(errors.iter().any(|e| e.contains("Redis")), "{errors:?}");
    }
    eprintln!("restart run: {:?} in {elapsed:?}", r.status());
    stop2.cancel(None);
    h2.join().unwrap();
    drop(q);
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn a_task_whose_only_worker_died_fails_instead_of_waiting_forever() {
    let q = Queue::new("orphan");
    let bin = example_worker();
    let args = [
        "--tasks",
        "1",
        "--sleep-ms",
        "20000",
        "--visibility-ms",
        "500",
        "--concurrency",
        "2",
    ];
    let worker = Proc::start(&bin, &url(), &q.0, &args);
    let o = RemoteOptions::new()
        .visibility_timeout(Duration::from_millis(500))
        .dispatch_timeout(Duration::from_millis(1000));
    let exec = RedisExecutor::new(&url(), &q.0, o).unwrap();
    let mut p = Pipeline::new("remote_orphan").unwrap();
    p.set_max_workers(2).unwrap();
    p.add_remote_task("sq_0", &exec).unwrap();
    // Many pipeline tasks may run one worker function.
    p.add_task(exec.task_running("shout_a", "echo")).unwrap();
    p.set_context("src", b"hi".to_vec()).unwrap();
    let victim = worker.0.id();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    });
    let t0 = Instant::now();
    let r = p.run().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert_eq!(r.output("shout_a"), Some(&b"hi!"[..]));
    let err = r.detail("sq_0").unwrap().error.clone().unwrap();
    assert!(err.contains("the worker holding it stopped"), "{err}");
    drop(worker);
}
