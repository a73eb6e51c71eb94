//! The worker's side: a process that registers task names, reads the
//! streams of those names through the queue's consumer group, runs what it
//! reads and pushes the results back.

use super::protocol::{self, Outcome, TaskMessage, TaskResult, GROUP, KEY_TTL_SECS};
use super::{is_server_error, Link, RemoteOptions};
use crate::error::{panic_message, Error, Result};
use crate::pipeline::{
    CancelToken, Outputs, RunControl, RunOptions, SharedContext, TaskContext, TaskError, TaskIndex,
    TaskNames,
};
use parking_lot::{Condvar, Mutex};
use redis::Value;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

type WorkerFn = dyn Fn(&mut TaskContext<'_>) -> Result<(), TaskError> + Send + Sync;

/// How long one blocking read of the streams lasts before the worker
/// checks its stop token and the cancel requests of what it runs.
const POLL: Duration = Duration::from_millis(100);

/// A process serving remote tasks of one queue: register task functions
/// by name with [`Worker::add_task`], then call [`Worker::run`]. A worker
/// only reads the streams of the names it registered, so it never takes a
/// task it cannot run.
pub struct Worker {
    link: Link,
    opts: RemoteOptions,
    tasks: HashMap<String, Arc<WorkerFn>>,
    concurrency: usize,
    consumer: String,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.tasks.keys().collect();
        names.sort();
        f.debug_struct("Worker")
            .field("queue", &self.link.queue)
            .field("tasks", &names)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// A task taken from a stream, on its way to a runner thread.
struct Job {
    stream: String,
    entry: String,
    delivery: u32,
    msg: std::result::Result<TaskMessage, Error>,
    cancel: CancelToken,
}

/// What the reader and the runners share.
struct State {
    /// Tasks being run, by dispatch id: (stream, entry id, cancel token).
    in_flight: Mutex<HashMap<String, (String, String, CancelToken)>>,
    freed: Condvar,
}

impl Worker {
    /// A worker for `queue` on the Redis server at `redis_url`, running one
    /// task at a time. Checks the URL (kind `Config`) and the queue name;
    /// it connects when it runs.
    pub fn new(redis_url: &str, queue: &str, opts: RemoteOptions) -> Result<Self> {
        let link = Link::new(redis_url, queue)?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let consumer = format!(
            "{host}-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Ok(Worker {
            link,
            opts,
            tasks: HashMap::new(),
            concurrency: 1,
            consumer,
        })
    }

    /// Registers `func` for the remote tasks named `name`. Inside, the
    /// [`TaskContext`] works as locally: upstream outputs and the initial
    /// context are there, the output goes back to the run, and
    /// cancellation or the task's timeout reach it.
    pub fn add_task<F>(&mut self, name: &str, func: F) -> Result<()>
    where
        F: Fn(&mut TaskContext<'_>) -> Result<(), TaskError> + Send + Sync + 'static,
    {
        if name.is_empty() {
            return Err(Error::invalid("a task name must not be empty"));
        }
        if self.tasks.contains_key(name) {
            return Err(Error::new(
                crate::error::ErrorKind::Duplicate,
                format!("the worker already serves a task named '{name}'"),
            ));
        }
        self.tasks.insert(name.to_string(), Arc::new(func));
        Ok(())
    }

    /// How many tasks it runs at once (default 1; at least 1).
    pub fn set_concurrency(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::invalid("a worker's concurrency must be at least 1"));
        }
        self.concurrency = n;
        Ok(())
    }

    /// This worker's consumer name in the queue's consumer group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Serves until `stop` fires, then finishes the tasks it holds and
    /// returns. Fails at once when Redis cannot be reached at start or no
    /// task is registered; later connection losses are retried (with
    /// backoff) until `stop` fires.
    pub fn run(&self, stop: &CancelToken) -> Result<()> {
        if self.tasks.is_empty() {
            return Err(Error::invalid(
                "the worker has no tasks: register some with add_task first",
            ));
        }
        let mut conn = self.link.connect()?;
        let mut streams: Vec<String> = self
            .tasks
            .keys()
            .map(|n| protocol::stream_key(&self.link.queue, n))
            .collect();
        streams.sort();
        self.create_groups(&mut conn, &streams)
            .map_err(|e| Error::backend(format!("cannot create the consumer groups: {e}")))?;
        let state = State {
            in_flight: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Mutex::new(rx);
        std::thread::scope(|s| {
            for _ in 0..self.concurrency {
                s.spawn(|| self.runner(&rx, &state, stop));
            }
            self.read_loop(conn, &streams, &state, &tx, stop);
            // Finish what it holds, then let the runners go.
            let mut held = state.in_flight.lock();
            while !held.is_empty() {
                state.freed.wait_for(&mut held, POLL);
            }
            drop(held);
            drop(tx);
        });
        Ok(())
    }

    fn create_groups(
        &self,
        conn: &mut redis::Connection,
        streams: &[String],
    ) -> redis::RedisResult<()> {
        for s in streams {
            let r = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(s)
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query::<()>(conn);
            match r {
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Takes tasks while there are free slots, claims those of dead
    /// workers, renews its own claims and relays cancel requests.
    fn read_loop(
        &self,
        mut conn: redis::Connection,
        streams: &[String],
        state: &State,
        tx: &mpsc::Sender<Job>,
        stop: &CancelToken,
    ) {
        let vis = self.opts.visibility_timeout;
        let mut last_renew = Instant::now();
        let mut last_reclaim: Option<Instant> = None;
        // Tasks this worker read without a slot for them and handed back:
        // it claims them again (first) as its slots free up.
        let mut handed_back = false;
        while !stop.is_cancelled() {
            let step = (|| -> redis::RedisResult<()> {
                let free = self
                    .concurrency
                    .saturating_sub(state.in_flight.lock().len());
                if free > 0 {
                    let mut jobs = Vec::new();
                    if handed_back || last_reclaim.is_none_or(|t| t.elapsed() >= vis / 2) {
                        for s in streams {
                            if jobs.len() < free {
                                jobs.extend(self.reclaim(&mut conn, s, free - jobs.len())?);
                            }
                        }
                        // Claimed all there was (none of it left handed back).
                        handed_back = handed_back && jobs.len() >= free;
                        last_reclaim = Some(Instant::now());
                    }
                    if jobs.is_empty() {
                        jobs = self.read(&mut conn, streams, free)?;
                        if jobs.len() > free {
                            // COUNT applies per stream: hand back what this
                            // worker has no slot for, for any worker to claim.
                            self.hand_back(&mut conn, jobs.split_off(free))?;
                            handed_back = true;
                        }
                    }
                    self.take(&mut conn, jobs, state, tx)?;
                } else {
                    let mut held = state.in_flight.lock();
                    if held.len() >= self.concurrency {
                        state.freed.wait_for(&mut held, POLL);
                    }
                }
                self.relay_cancels(&mut conn, state)?;
                if last_renew.elapsed() >= vis / 3 {
                    self.renew(&mut conn, state)?;
                    last_renew = Instant::now();
                }
                Ok(())
            })();
            match step {
                Ok(()) => {}
                Err(e) if e.code() == Some("NOGROUP") => {
                    // Redis lost its data (restarted without persistence).
                    let _ = self.create_groups(&mut conn, streams);
                }
                Err(e) if is_server_error(&e) => std::thread::sleep(POLL),
                Err(_) => {
                    if let Ok(c) = self.link.reconnect(|| stop.is_cancelled()) {
                        conn = c;
                        let _ = self.create_groups(&mut conn, streams);
                    }
                }
            }
        }
    }

    /// New tasks from the streams, up to `count`.
    fn read(
        &self,
        conn: &mut redis::Connection,
        streams: &[String],
        count: usize,
    ) -> redis::RedisResult<Vec<Job>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(POLL.as_millis() as u64)
            .arg("STREAMS")
            .arg(streams);
        for _ in streams {
            cmd.arg(">");
        }
        let reply: Value = cmd.query(conn)?;
        let mut jobs = Vec::new();
        if let Value::Array(per_stream) | Value::Set(per_stream) = reply {
            for s in per_stream {
                if let Value::Array(mut kv) = s {
                    if kv.len() == 2 {
                        let entries = kv.pop().unwrap_or_default();
                        let key = protocol::bytes(&kv[0]).unwrap_or_default();
                        jobs.extend(entry_jobs(&String::from_utf8_lossy(&key), entries));
                    }
                }
            }
        } else if let Value::Map(per_stream) = reply {
            for (k, entries) in per_stream {
                let key = protocol::bytes(&k).unwrap_or_default();
                jobs.extend(entry_jobs(&String::from_utf8_lossy(&key), entries));
            }
        }
        Ok(jobs)
    }

    /// Tasks of `stream` held longer than the visibility timeout by a
    /// worker that stopped renewing them (it died), up to `count`.
    fn reclaim(
        &self,
        conn: &mut redis::Connection,
        stream: &str,
        count: usize,
    ) -> redis::RedisResult<Vec<Job>> {
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.opts.visibility_timeout.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(count)
            .query(conn)?;
        match reply {
            Value::Array(mut parts) if parts.len() >= 2 => {
                let entries = std::mem::take(&mut parts[1]);
                Ok(entry_jobs(stream, entries))
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Makes `jobs` (read, not started) claimable at once by any worker:
    /// their idle time is set beyond the visibility timeout.
    fn hand_back(&self, conn: &mut redis::Connection, jobs: Vec<Job>) -> redis::RedisResult<()> {
        let idle = self.opts.visibility_timeout.as_millis() as u64 * 2 + 1;
        let mut pipe = redis::pipe();
        for j in &jobs {
            pipe.cmd("XCLAIM")
                .arg(&j.stream)
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(0)
                .arg(&j.entry)
                .arg("IDLE")
                .arg(idle)
                .arg("JUSTID")
                .ignore();
        }
        pipe.query::<()>(conn)
    }

    /// Records the deliveries of `jobs` and hands them to the runners.
    fn take(
        &self,
        conn: &mut redis::Connection,
        jobs: Vec<Job>,
        state: &State,
        tx: &mpsc::Sender<Job>,
    ) -> redis::RedisResult<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for j in &jobs {
            let id = j.msg.as_ref().map(|m| m.id.as_str()).unwrap_or(&j.entry);
            let key = protocol::deliveries_key(&self.link.queue, id);
            pipe.cmd("INCR").arg(&key);
            pipe.cmd("EXPIRE").arg(&key).arg(KEY_TTL_SECS).ignore();
        }
        let counts: Vec<u32> = pipe.query(conn)?;
        let mut held = state.in_flight.lock();
        for (mut j, n) in jobs.into_iter().zip(counts) {
            j.delivery = n;
            let id = j
                .msg
                .as_ref()
                .map(|m| m.id.clone())
                .unwrap_or_else(|_| j.entry.clone());
            held.insert(id, (j.stream.clone(), j.entry.clone(), j.cancel.clone()));
            let _ = tx.send(j);
        }
        Ok(())
    }

    /// Fires the tokens of running tasks their coordinator asked to stop.
    fn relay_cancels(&self, conn: &mut redis::Connection, state: &State) -> redis::RedisResult<()> {
        let held: Vec<(String, CancelToken)> = state
            .in_flight
            .lock()
            .iter()
            .filter(|(_, (_, _, t))| !t.is_cancelled())
            .map(|(id, (_, _, t))| (id.clone(), t.clone()))
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("MGET");
        for (id, _) in &held {
            cmd.arg(protocol::cancel_key(&self.link.queue, id));
        }
        let why: Vec<Option<String>> = cmd.query(conn)?;
        for ((_, token), why) in held.iter().zip(why) {
            if let Some(w) = why {
                let w = w.strip_prefix("cancelled: ").unwrap_or(&w).to_string();
                token.cancel(Some(&w));
            }
        }
        Ok(())
    }

    /// Resets the idle time of the tasks it runs, so no other worker
    /// claims them while it is alive.
    fn renew(&self, conn: &mut redis::Connection, state: &State) -> redis::RedisResult<()> {
        let mut by_stream: HashMap<String, Vec<String>> = HashMap::new();
        for (stream, entry, _) in state.in_flight.lock().values() {
            by_stream
                .entry(stream.clone())
                .or_default()
                .push(entry.clone());
        }
        for (stream, entries) in by_stream {
            redis::cmd("XCLAIM")
                .arg(&stream)
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(0)
                .arg(&entries)
                .arg("JUSTID")
                .query::<Value>(conn)?;
        }
        Ok(())
    }

    /// A runner thread: runs jobs and posts their results.
    fn runner(&self, rx: &Mutex<mpsc::Receiver<Job>>, state: &State, stop: &CancelToken) {
        let mut conn: Option<redis::Connection> = None;
        loop {
            let job = match rx.lock().recv() {
                Ok(j) => j,
                Err(_) => return,
            };
            let id = job
                .msg
                .as_ref()
                .map(|m| m.id.clone())
                .unwrap_or_else(|_| job.entry.clone());
            let outcome = match &job.msg {
                Ok(m) => self.execute(m, &job.cancel),
                Err(e) => Outcome::Failure(e.message().to_string()),
            };
            let result = TaskResult {
                delivery: job.delivery,
                outcome,
            };
            self.post(&mut conn, &job, &id, &result, stop);
            state.in_flight.lock().remove(&id);
            state.freed.notify_all();
        }
    }

    /// Runs one task message with a context built from it.
    fn execute(&self, m: &TaskMessage, cancel: &CancelToken) -> Outcome {
        let Some(func) = self.tasks.get(&m.function) else {
            return Outcome::Failure(format!("this worker has no task named '{}'", m.function));
        };
        let names: Vec<&str> = m.upstream.iter().map(|(k, _)| k.as_str()).collect();
        let index = TaskIndex::of(&names);
        let outputs = Outputs::new(m.upstream.len());
        for (i, (_, v)) in m.upstream.iter().enumerate() {
            outputs.set(i, v.clone());
        }
        let initial: HashMap<String, Vec<u8>> = m.initial.iter().cloned().collect();
        let control = RunControl::new(&RunOptions::new().cancel_token(cancel.clone()));
        let shared = SharedContext {
            run_id: &m.run_id,
            index: &index,
            outputs: &outputs,
            initial: &initial,
            control: &control,
            upstream: &[],
            names: TaskNames::Inputs(&m.upstream),
        };
        let mut ctx = TaskContext {
            shared: &shared,
            task_name: &m.task,
            attempt: m.attempt,
            deadline: (m.timeout_ms > 0).then(|| super::after(Duration::from_millis(m.timeout_ms))),
            output: None,
            error: None,
            redeliveries: 0,
        };
        match catch_unwind(AssertUnwindSafe(|| func(&mut ctx))) {
            Ok(Ok(())) => match ctx.output.take() {
                Some(o) if o.len() > self.opts.max_payload => Outcome::Failure(format!(
                    "the output of remote task '{}' is {} bytes, above the limit of {} bytes of queue '{}'; not stored in Redis",
                    m.task,
                    o.len(),
                    self.opts.max_payload,
                    self.link.queue
                )),
                o => Outcome::Success(o),
            },
            Ok(Err(e)) => Outcome::Failure(e.to_string()),
            Err(p) => Outcome::Failure(format!("task panicked: {}", panic_message(&*p))),
        }
    }

    /// Pushes a result and acknowledges the task, reconnecting as needed
    /// (until `stop` fires; the task is then left to another worker).
    fn post(
        &self,
        conn: &mut Option<redis::Connection>,
        job: &Job,
        id: &str,
        result: &TaskResult,
        stop: &CancelToken,
    ) {
        let key = protocol::result_key(&self.link.queue, id);
        let body = result.encode();
        let mut wait = Duration::from_millis(50);
        loop {
            if conn.is_none() {
                *conn = self.link.connect().ok();
            }
            if let Some(c) = conn.as_mut() {
                let r = redis::pipe()
                    .cmd("RPUSH")
                    .arg(&key)
                    .arg(&body)
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(KEY_TTL_SECS)
                    .ignore()
                    .query::<()>(c);
                match r {
                    Ok(()) => {
                        // The stream or group may be gone (Redis restarted):
                        // the result is what matters.
                        let _ = redis::pipe()
                            .cmd("XACK")
                            .arg(&job.stream)
                            .arg(GROUP)
                            .arg(&job.entry)
                            .ignore()
                            .cmd("XDEL")
                            .arg(&job.stream)
                            .arg(&job.entry)
                            .ignore()
                            .query::<()>(c);
                        return;
                    }
                    Err(e) if is_server_error(&e) => return,
                    Err(_) => *conn = None,
                }
            }
            if stop.is_cancelled() && wait >= Duration::from_secs(1) {
                return;
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }
}

/// Jobs from a reply's entries (`[[id, [field, value, ...]], ...]`).
fn entry_jobs(stream: &str, entries: Value) -> Vec<Job> {
    let Value::Array(entries) = entries else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|e| {
            let Value::Array(mut e) = e else { return None };
            if e.len() != 2 {
                return None;
            }
            let fields = e.pop()?;
            let entry = String::from_utf8(protocol::bytes(&e[0])?).ok()?;
            let msg = match fields {
                Value::Array(f) => TaskMessage::from_fields(&f),
                _ => return None, // deleted since
            };
            Some(Job {
                stream: stream.to_string(),
                entry,
                delivery: 1,
                msg,
                cancel: CancelToken::new(),
            })
        })
        .collect()
}
