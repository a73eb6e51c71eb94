//! Remote workers on Redis Streams: tasks a pipeline sends to other
//! processes (or machines) through a queue, run by [`Worker`]s that
//! registered their names.
//!
//! Delivery is at-least-once: each task name of a queue is a Redis stream
//! read through one consumer group; a worker renews its claim on the tasks
//! it runs, and a task held by a silent (dead) worker for longer than the
//! visibility timeout is claimed by another. The first result of a task
//! wins; later ones are ignored. Tasks should therefore be idempotent.

mod coordinator;
mod protocol;
mod worker;

pub use worker::Worker;

use crate::error::{Error, Result};
use crate::pipeline::{Pipeline, Task};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options shared by a queue's coordinator and workers (use the same values
/// on both sides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteOptions {
    /// A task held this long by a worker that stopped renewing its claim
    /// (it died) is claimed by another worker (default 30 s).
    pub visibility_timeout: Duration,
    /// A task that no worker takes within this time fails, with an error
    /// naming the task and the queue (default 60 s).
    pub dispatch_timeout: Duration,
    /// The largest inputs (upstream outputs plus initial context) or output
    /// of one task, in bytes (default 1 MiB). Larger ones fail the task
    /// instead of going through Redis.
    pub max_payload: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            visibility_timeout: Duration::from_secs(30),
            dispatch_timeout: Duration::from_secs(60),
            max_payload: 1 << 20,
        }
    }
}

impl RemoteOptions {
    /// The defaults (30 s, 60 s, 1 MiB).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the visibility timeout (zero: the default).
    pub fn visibility_timeout(mut self, d: Duration) -> Self {
        self.visibility_timeout = if d.is_zero() {
            Self::default().visibility_timeout
        } else {
            d
        };
        self
    }
    /// Sets the dispatch timeout (zero: the default).
    pub fn dispatch_timeout(mut self, d: Duration) -> Self {
        self.dispatch_timeout = if d.is_zero() {
            Self::default().dispatch_timeout
        } else {
            d
        };
        self
    }
    /// Sets the payload limit in bytes (zero: the default).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = if bytes == 0 {
            Self::default().max_payload
        } else {
            bytes
        };
        self
    }
}

/// How long any one Redis command may take before the connection is
/// considered lost (blocking reads wait far less).
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A Redis client for one queue: the URL checked, connections made with
/// time limits.
#[derive(Clone)]
pub(crate) struct Link {
    client: redis::Client,
    url: String,
    queue: String,
}

impl Link {
    fn new(url: &str, queue: &str) -> Result<Self> {
        if queue.is_empty() || queue.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::invalid(format!(
                "invalid queue name {queue:?}: it must be non-empty, without spaces or control characters"
            )));
        }
        let client = redis::Client::open(url)
            .map_err(|e| Error::config(format!("invalid Redis URL {url:?}: {e}")))?;
        Ok(Link {
            client,
            url: url.to_string(),
            queue: queue.to_string(),
        })
    }

    /// A fresh connection, or a clear error naming the server.
    pub(crate) fn connect(&self) -> Result<redis::Connection> {
        let fail = |e: redis::RedisError| {
            Error::backend(format!("cannot reach Redis at {}: {e}", self.url))
        };
        let mut c = self
            .client
            .get_connection_with_timeout(IO_TIMEOUT)
            .map_err(fail)?;
        c.set_read_timeout(Some(IO_TIMEOUT)).map_err(fail)?;
        c.set_write_timeout(Some(IO_TIMEOUT)).map_err(fail)?;
        redis::cmd("PING").query::<()>(&mut c).map_err(fail)?;
        Ok(c)
    }

    /// Connects, retrying with backoff until `give_up` returns true.
    pub(crate) fn reconnect(&self, mut give_up: impl FnMut() -> bool) -> Result<redis::Connection> {
        let mut wait = Duration::from_millis(50);
        loop {
            match self.connect() {
                Ok(c) => return Ok(c),
                Err(e) if give_up() => return Err(e),
                Err(_) => {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// A server error (the command ran and was refused) rather than a lost connection.
pub(crate) fn is_server_error(e: &redis::RedisError) -> bool {
    e.code().is_some()
}

/// Sends tasks to a Redis queue and waits for their results: the executor
/// of remote tasks ([`Pipeline::add_remote_task`], [`RedisExecutor::task`]).
/// Clones share their connections.
#[derive(Clone)]
pub struct RedisExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    opts: RemoteOptions,
    /// Idle connections; each task out holds one (it blocks on its result).
    pool: Mutex<Vec<redis::Connection>>,
}

impl RedisExecutor {
    /// An executor for `queue` on the Redis server at `redis_url`
    /// (`redis://host:port/db`). Fails with a clear error when the URL is
    /// invalid (kind `Config`) or the server cannot be reached (`Backend`).
    pub fn new(redis_url: &str, queue: &str, opts: RemoteOptions) -> Result<Self> {
        let link = Link::new(redis_url, queue)?;
        let first = link.connect()?;
        Ok(RedisExecutor {
            inner: Arc::new(Inner {
                link,
                opts,
                pool: Mutex::new(vec![first]),
            }),
        })
    }

    /// The queue's name.
    pub fn queue(&self) -> &str {
        &self.inner.link.queue
    }

    /// The options it was made with.
    pub fn options(&self) -> RemoteOptions {
        self.inner.opts
    }

    /// A task named `name` whose attempts run on a worker of this queue
    /// that registered `name`; set its retries, timeout and trigger rule as
    /// for any task. Its upstream outputs and the run's initial context
    /// travel with it, its output comes back to the run.
    pub fn task(&self, name: impl Into<String>) -> Task {
        let name = name.into();
        self.task_running(name.clone(), &name)
    }

    /// A task named `name` that runs the worker function registered as
    /// `function` (so that many tasks of a pipeline, a fan-out, can run one
    /// function on different inputs). Inside, `task_name()` is `name`.
    pub fn task_running(&self, name: impl Into<String>, function: &str) -> Task {
        let exec = self.clone();
        let function = function.to_string();
        Task::new(name, move |ctx| {
            coordinator::dispatch(&exec, &function, ctx)
        })
    }

    fn take_conn(&self) -> Result<redis::Connection> {
        match self.inner.pool.lock().pop() {
            Some(c) => Ok(c),
            None => self.inner.link.connect(),
        }
    }

    fn give_back(&self, c: redis::Connection) {
        self.inner.pool.lock().push(c);
    }
}

impl std::fmt::Debug for RedisExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisExecutor")
            .field("url", &self.inner.link.url)
            .field("queue", &self.inner.link.queue)
            .field("options", &self.inner.opts)
            .finish()
    }
}

impl Pipeline {
    /// Adds a remote task named `name` with default options, run by a
    /// worker of `executor`'s queue (`add_task(executor.task(name))`).
    pub fn add_remote_task(&mut self, name: &str, executor: &RedisExecutor) -> Result<()> {
        self.add_task(executor.task(name))
    }
}

/// A deadline `d` from now (far away when it overflows).
pub(crate) fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or(now + Duration::from_secs(86400 * 365))
}
