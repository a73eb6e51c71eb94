//! The coordinator's side of a remote task: what its callback does in the
//! run. It adds the task to the stream of its name, then waits for the
//! result, telling the worker to stop when the task should stop.

use super::protocol::{self, Outcome, TaskMessage, TaskResult, KEY_TTL_SECS};
use super::{after, is_server_error, RedisExecutor};
use crate::error::Error;
use crate::pipeline::{TaskContext, TaskError};
use std::time::{Duration, Instant};

/// How long one blocking wait for a result lasts before the task checks
/// whether it should stop.
const POLL: Duration = Duration::from_millis(100);
/// After asking a worker to stop, how long to wait for its answer at most.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often a taken task's claim is checked (is its worker alive?).
const HELD_CHECK: Duration = Duration::from_secs(1);

/// Runs one attempt of a remote task: its result, or why it failed.
pub(super) fn dispatch(
    exec: &RedisExecutor,
    function: &str,
    ctx: &mut TaskContext<'_>,
) -> Result<(), TaskError> {
    let opts = exec.options();
    let queue = exec.queue().to_string();
    let name = ctx.task_name().to_string();
    let upstream: Vec<(String, Vec<u8>)> = ctx
        .upstream_outputs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    let initial: Vec<(String, Vec<u8>)> = ctx
        .initial_entries()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    let size: usize = upstream
        .iter()
        .chain(&initial)
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > opts.max_payload {
        return Err(format!(
            "the inputs of remote task '{name}' (upstream outputs and initial context) are {size} bytes, above the limit of {} bytes of queue '{queue}'; not sent",
            opts.max_payload
        )
        .into());
    }
    let msg = TaskMessage {
        id: uuid::Uuid::new_v4().simple().to_string(),
        run_id: ctx.run_id().to_string(),
        task: name.clone(),
        function: function.to_string(),
        attempt: ctx.attempt(),
        // Rounded up: a worker's deadline must not come before this side's,
        // or a task stopped by its timeout on the worker could report back
        // before the run counts it timed out, and fail as a plain failure.
        timeout_ms: ctx.deadline().map_or(0, |d| {
            let left = d.saturating_duration_since(Instant::now()).as_nanos();
            (left.div_ceil(1_000_000) as u64).max(1)
        }),
        upstream,
        initial,
    };
    let mut conn = exec.take_conn()?;
    let mut out = Waiter {
        exec,
        queue: &queue,
        name: function,
        msg: &msg,
        entry: String::new(),
    }
    .run(&mut conn, ctx);
    match out {
        // A connection that failed is dropped, a good one goes back.
        Err(Lost::Connection(e)) => out = Err(Lost::Task(e)),
        _ => exec.give_back(conn),
    }
    let result = match out {
        Ok(r) => r,
        Err(Lost::Task(e) | Lost::Connection(e)) => return Err(e.into()),
    };
    ctx.redeliveries = result.delivery.saturating_sub(1);
    match result.outcome {
        Outcome::Success(output) => {
            if let Some(o) = output {
                ctx.set_output(o);
            }
            Ok(())
        }
        Outcome::Failure(m) => Err(m.into()),
    }
}

/// Why waiting ended without a result.
enum Lost {
    /// The task failed (dispatch timeout, stop, malformed result).
    Task(String),
    /// The task failed and the connection is unusable.
    Connection(String),
}

struct Waiter<'a> {
    exec: &'a RedisExecutor,
    queue: &'a str,
    name: &'a str,
    msg: &'a TaskMessage,
    /// The stream entry's id, once added.
    entry: String,
}

impl Waiter<'_> {
    fn stream(&self) -> String {
        protocol::stream_key(self.queue, self.name)
    }

    fn add(&mut self, conn: &mut redis::Connection) -> redis::RedisResult<()> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.stream()).arg("*");
        for (k, v) in self.msg.fields() {
            cmd.arg(k).arg(v);
        }
        self.entry = cmd.query(conn)?;
        Ok(())
    }

    fn run(
        &mut self,
        conn: &mut redis::Connection,
        ctx: &TaskContext<'_>,
    ) -> Result<TaskResult, Lost> {
        let opts = self.exec.options();
        let id = &self.msg.id;
        let result_key = protocol::result_key(self.queue, id);
        let deliveries_key = protocol::deliveries_key(self.queue, id);
        let mut started = Instant::now();
        let mut taken = false;
        let mut stop_sent: Option<(Instant, String)> = None;
        let mut last_held_check = Instant::now();
        let mut sent = false;
        loop {
            let step = (|| -> redis::RedisResult<Option<TaskResult>> {
                if !sent {
                    self.add(conn)?;
                    sent = true;
                }
                if stop_sent.is_none() {
                    if let Some(why) = ctx.stop_message() {
                        redis::cmd("SET")
                            .arg(protocol::cancel_key(self.queue, id))
                            .arg(&why)
                            .arg("EX")
                            .arg(KEY_TTL_SECS)
                            .query::<()>(conn)?;
                        stop_sent = Some((Instant::now(), why));
                    }
                }
                let got: Option<(Vec<u8>, Vec<u8>)> = redis::cmd("BLPOP")
                    .arg(&result_key)
                    .arg(POLL.as_secs_f64())
                    .query(conn)?;
                if let Some((_, body)) = got {
                    self.cleanup(conn);
                    return Ok(Some(TaskResult::decode(&body).map_err(|e| {
                        redis::RedisError::from((
                            redis::ErrorKind::Parse,
                            "bad result",
                            e.message().to_string(),
                        ))
                    })?));
                }
                if !taken && started.elapsed() >= opts.dispatch_timeout {
                    taken = redis::cmd("EXISTS")
                        .arg(&deliveries_key)
                        .query::<bool>(conn)?;
                }
                Ok(None)
            })();
            match step {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(e) if is_server_error(&e) || e.kind() == redis::ErrorKind::Parse => {
                    return Err(Lost::Task(format!(
                        "remote task '{}' on queue '{}': Redis refused a command: {e}",
                        self.msg.task, self.queue
                    )))
                }
                Err(e) => {
                    // The connection broke (Redis restarted?): reconnect
                    // within the dispatch timeout and send the task again
                    // if Redis lost it.
                    let until = after(opts.dispatch_timeout);
                    let fresh = self
                        .exec
                        .inner
                        .link
                        .reconnect(|| Instant::now() >= until || ctx.is_cancelled())
                        .map_err(|c| {
                            Lost::Connection(format!(
                                "remote task '{}' on queue '{}' lost Redis ({e}) and could not reconnect: {}",
                                self.msg.task, self.queue, c.message()
                            ))
                        })?;
                    *conn = fresh;
                    sent = self.still_queued(conn).unwrap_or(false);
                    if !sent {
                        // Sent again: the dispatch timeout starts over.
                        taken = false;
                        started = Instant::now();
                    }
                    continue;
                }
            }
            if !taken && started.elapsed() >= opts.dispatch_timeout {
                let _ = redis::cmd("XDEL")
                    .arg(self.stream())
                    .arg(&self.entry)
                    .query::<i64>(conn);
                return Err(Lost::Task(format!(
                    "no worker took remote task '{}' from queue '{}' within {} ms (is a worker serving '{}' on '{}' running?)",
                    self.msg.task,
                    self.queue,
                    opts.dispatch_timeout.as_millis(),
                    self.name,
                    self.queue
                )));
            }
            if taken && last_held_check.elapsed() >= HELD_CHECK {
                last_held_check = Instant::now();
                if let Ok(Some(idle)) = self.idle(conn) {
                    if idle >= opts.visibility_timeout + opts.dispatch_timeout {
                        self.cleanup(conn);
                        return Err(Lost::Task(format!(
                            "remote task '{}' on queue '{}': the worker holding it stopped and no other worker took it within {} ms",
                            self.msg.task,
                            self.queue,
                            (opts.visibility_timeout + opts.dispatch_timeout).as_millis()
                        )));
                    }
                }
            }
            if let Some((at, why)) = &stop_sent {
                if at.elapsed() >= STOP_GRACE.min(opts.visibility_timeout) {
                    self.cleanup(conn);
                    return Err(Lost::Task(why.clone()));
                }
            }
        }
    }

    /// How long the task has gone without its holder renewing its claim
    /// (`None` when no worker holds it).
    fn idle(&self, conn: &mut redis::Connection) -> redis::RedisResult<Option<Duration>> {
        let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(self.stream())
            .arg(protocol::GROUP)
            .arg(&self.entry)
            .arg(&self.entry)
            .arg(1)
            .query(conn)?;
        Ok(pending.first().map(|p| Duration::from_millis(p.2)))
    }

    /// Whether the task is still in Redis (in its stream, or taken).
    fn still_queued(&self, conn: &mut redis::Connection) -> redis::RedisResult<bool> {
        if self.entry.is_empty() {
            return Ok(false);
        }
        let taken: bool = redis::cmd("EXISTS")
            .arg(protocol::deliveries_key(self.queue, &self.msg.id))
            .query(conn)?;
        if taken {
            return Ok(true);
        }
        let entries: Vec<redis::Value> = redis::cmd("XRANGE")
            .arg(self.stream())
            .arg(&self.entry)
            .arg(&self.entry)
            .query(conn)?;
        Ok(!entries.is_empty())
    }

    /// Drops the dispatch's keys (late duplicates expire on their own).
    fn cleanup(&self, conn: &mut redis::Connection) {
        let id = &self.msg.id;
        let _ = redis::cmd("DEL")
            .arg(protocol::result_key(self.queue, id))
            .arg(protocol::deliveries_key(self.queue, id))
            .arg(protocol::cancel_key(self.queue, id))
            .query::<i64>(conn);
    }
}

impl From<Lost> for Error {
    fn from(l: Lost) -> Self {
        match l {
            Lost::Task(m) | Lost::Connection(m) => Error::backend(m),
        }
    }
}
