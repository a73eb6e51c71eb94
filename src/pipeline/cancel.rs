//! Stopping runs: the cancel token a host fires, and the options a run
//! starts with (its token and its timeout).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A thread-safe flag that stops the runs it is given to. Clones share the
/// flag; cancelling is idempotent (the first reason is kept).
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// `Some(reason)` once cancelled.
    reason: Mutex<Option<String>>,
    /// Wakes tasks sleeping in `TaskContext::sleep`.
    fired: Condvar,
}

impl CancelToken {
    /// A token that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the token, from any thread (also from inside a task). Runs
    /// using it start no more tasks; running tasks see
    /// `TaskContext::is_cancelled`. Only the first call's reason is kept.
    pub fn cancel(&self, reason: Option<&str>) {
        let mut r = self.lock();
        if r.is_none() {
            *r = Some(reason.unwrap_or("cancelled by the host").to_string());
            drop(r);
            self.inner.fired.notify_all();
        }
    }

    /// Whether the token has fired.
    pub fn is_cancelled(&self) -> bool {
        self.lock().is_some()
    }

    /// Why the token fired, if it has.
    pub fn reason(&self) -> Option<String> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.inner.reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `until` or until the token fires; `true` if it fired.
    pub(crate) fn wait_until(&self, until: Instant) -> bool {
        let mut r = self.lock();
        loop {
            if r.is_some() {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            r = self
                .inner
                .fired
                .wait_timeout(r, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("reason", &self.reason())
            .finish()
    }
}

/// How a run is started: an optional cancel token and an optional timeout
/// for the whole run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) lease_interval: Option<Duration>,
    pub(crate) max_stored_output: Option<usize>,
}

impl RunOptions {
    /// How often a run renews its lease by default.
    pub const DEFAULT_LEASE_INTERVAL: Duration = Duration::from_secs(2);
    /// The largest output a run stores with its history by default (1 MiB).
    pub const DEFAULT_MAX_STORED_OUTPUT: usize = 1 << 20;

    /// No token, no timeout, the default lease interval and output limit
    /// (what `Pipeline::run` uses).
    pub fn new() -> Self {
        Self::default()
    }

    /// Renews the run's lease in the backend this often (default 2 s; zero
    /// means the default), from a thread of its own, so that
    /// `Backend::recover` in any process can tell the run's owner is alive.
    pub fn lease_interval(mut self, every: Duration) -> Self {
        self.lease_interval = (!every.is_zero()).then_some(every);
        self
    }

    /// Stores task outputs of up to `bytes` with the run (default 1 MiB),
    /// for resuming it and for viewing; a larger output is kept in memory
    /// for the run only and recorded as not stored.
    pub fn max_stored_output(mut self, bytes: usize) -> Self {
        self.max_stored_output = Some(bytes);
        self
    }

    pub(crate) fn lease_every(&self) -> Duration {
        self.lease_interval.unwrap_or(Self::DEFAULT_LEASE_INTERVAL)
    }

    pub(crate) fn output_limit(&self) -> usize {
        self.max_stored_output
            .unwrap_or(Self::DEFAULT_MAX_STORED_OUTPUT)
    }

    /// Stops the run when `token` fires.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Stops the run once it has run for `timeout` (zero: no timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }
}

/// Why a run stopped before its tasks were done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// Its cancel token fired, with this reason.
    Cancelled(String),
    /// It passed its timeout.
    TimedOut(Duration),
}

impl Interruption {
    /// The task detail given to the tasks it kept from running or stopped.
    pub fn task_error(&self) -> String {
        match self {
            Interruption::Cancelled(reason) => format!("cancelled: {reason}"),
            Interruption::TimedOut(d) => format!("run timed out after {} ms", d.as_millis()),
        }
    }
}

impl std::fmt::Display for Interruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interruption::Cancelled(reason) => write!(f, "cancelled: {reason}"),
            Interruption::TimedOut(d) => write!(f, "timed out after {} ms", d.as_millis()),
        }
    }
}

/// What a run checks to know whether it must stop: its token and deadline.
pub(crate) struct RunControl {
    pub(crate) token: Option<CancelToken>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
}

impl RunControl {
    pub(crate) fn new(opts: &RunOptions) -> Self {
        RunControl {
            token: opts.cancel.clone(),
            timeout: opts.timeout,
            deadline: opts.timeout.and_then(|t| Instant::now().checked_add(t)),
        }
    }

    /// Why the run must stop now, if it must. Cancellation wins over a
    /// timeout that passed at the same time.
    pub(crate) fn interruption(&self) -> Option<Interruption> {
        if let Some(reason) = self.token.as_ref().and_then(CancelToken::reason) {
            return Some(Interruption::Cancelled(reason));
        }
        match (self.deadline, self.timeout) {
            (Some(d), Some(t)) if Instant::now() >= d => Some(Interruption::TimedOut(t)),
            _ => None,
        }
    }

    /// Sleeps until `until`, the run's deadline or the token firing,
    /// whichever comes first; `true` if the full sleep happened.
    pub(crate) fn sleep_until(&self, until: Instant) -> bool {
        let end = match self.deadline {
            Some(d) if d < until => d,
            _ => until,
        };
        let interrupted = match &self.token {
            Some(t) => t.wait_until(end),
            None => {
                let now = Instant::now();
                if end > now {
                    std::thread::sleep(end - now);
                }
                false
            }
        };
        !interrupted && end == until
    }
}
