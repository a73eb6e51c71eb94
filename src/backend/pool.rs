//! The connection pool and retry loop shared by the server backends
//! (PostgreSQL, MySQL): connections are kept and reused, a broken one is
//! dropped, and an operation that failed because the connection or the
//! server went away is retried on a fresh connection with backoff, within a
//! bounded total time.

use super::budget::{self, RunBudget};
use crate::error::{Error, Result};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Connection and failure-handling settings of a server backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Time allowed to open one connection (TCP connect and, for MySQL, the
    /// handshake). Default 5 s. A connection string's own setting
    /// (`connect_timeout=`, `tcp_connect_timeout_ms=`) wins.
    pub connect_timeout: Duration,
    /// How long calls may keep retrying (reconnecting with backoff) after
    /// the connection or the server failed. Default 20 s. Zero means a single
    /// attempt per call.
    ///
    /// During a pipeline run the budget is per run, not per call: it is
    /// counted from the run's first failed server call since its last
    /// successful one, and shared by every call of the run (the task status
    /// writes of all its worker threads and the final `save_run`). So a
    /// server that goes away and stays away fails the run about
    /// `retry_budget` after the first failure (plus the attempt in flight
    /// when it runs out: at most the call deadline of `io_timeout` or the
    /// connect deadline of `connect_timeout`); once the budget is spent,
    /// each further call of that run makes one attempt. A successful
    /// call ends the outage: a later, separate outage gets a full budget
    /// again. Calls made outside a run (`get_run`, `list_runs`, direct
    /// calls) each get the budget for themselves, counted from their start.
    pub retry_budget: Duration,
    /// First wait between attempts; doubled after each failure up to
    /// `max_backoff`. Default 50 ms.
    pub initial_backoff: Duration,
    /// Longest wait between attempts. Default 2 s.
    pub max_backoff: Duration,
    /// Most connections kept open at once; callers beyond that wait for one.
    /// Default 8.
    pub pool_size: usize,
    /// How long one call may wait on the server. Default 30 s. A call with
    /// no answer in time fails as a transient failure: its connection is
    /// dropped and the call is retried on a new one within `retry_budget`,
    /// so a server that keeps TCP up but answers nothing (a stuck server,
    /// or a proxy such as pgbouncer in front of a dead one) fails the run
    /// instead of blocking it.
    ///
    /// PostgreSQL: the client waits at most `io_timeout` + 1 s for the
    /// answer to each call (statement); the server's `statement_timeout` is
    /// set to `io_timeout` (unless the DSN sets `options`), so a statement
    /// that is merely slow in a live server is cancelled by the server
    /// first (an error, not retried, the connection kept) and only a silent
    /// server reaches the client's deadline. It is also the TCP user
    /// timeout (data the peer stops acknowledging). MySQL and MariaDB: the
    /// socket's read and write timeout, so a call fails once the server has
    /// sent nothing for `io_timeout`. Must not be zero.
    pub io_timeout: Duration,
    /// PostgreSQL only. `false` (the default): each `update_task_status` is
    /// its own committed transaction, visible to every reader at once, but
    /// committed with `synchronous_commit = off`, so it does not wait for its
    /// WAL flush (about 0.2 ms per status change on an ordinary disk). A
    /// server crash can lose the last few hundred milliseconds of task
    /// updates; `save_run` (start and end of a run) always waits for the
    /// flush, which also makes every earlier update durable, so finished
    /// runs are never affected. `true`: every update waits for its flush.
    /// MySQL and MariaDB follow the server's `innodb_flush_log_at_trx_commit`.
    pub durable_task_updates: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            connect_timeout: Duration::from_secs(5),
            retry_budget: Duration::from_secs(20),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            pool_size: 8,
            io_timeout: Duration::from_secs(30),
            durable_task_updates: false,
        }
    }
}

impl ServerOptions {
    pub(crate) fn check(&self) -> Result<()> {
        if self.pool_size == 0 {
            return Err(Error::invalid("pool_size must be at least 1"));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::invalid("connect_timeout must not be zero"));
        }
        if self.io_timeout.is_zero() {
            return Err(Error::invalid("io_timeout must not be zero"));
        }
        Ok(())
    }
}

/// How one attempt of an operation failed.
pub(crate) enum Failure {
    /// The connection or the server failed (dropped, killed, restarting,
    /// unreachable, deadlock victim): worth retrying on a new connection.
    Transient(String),
    /// Anything else (SQL error, bad data, unknown run): returned as is.
    Fatal(Error),
}

/// Runs a blocking connect on a helper thread and waits at most `timeout`
/// for it: the drivers' own timeouts cover the TCP connect but not a server
/// that accepts and then never answers the handshake. `None` on timeout (the
/// helper thread finishes on its own later).
pub(crate) fn with_deadline<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::result::Result<Option<T>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("dorch-connect".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| format!("cannot spawn a connect thread: {e}"))?;
    Ok(rx.recv_timeout(timeout).ok())
}

/// Makes new connections for a [`Pool`].
pub(crate) trait Connector: Send + Sync {
    type Conn: Send;
    fn connect(&self) -> std::result::Result<Self::Conn, Failure>;
    /// A cheap local check that an idle connection is not known to be dead.
    fn is_usable(&self, _conn: &mut Self::Conn) -> bool {
        true
    }
}

struct State<C> {
    idle: Vec<C>,
    /// Connections in existence: idle plus checked out plus being opened.
    open: usize,
    /// Bumped when a failure suggests every connection may be dead (server
    /// restart): connections of an older generation are not reused.
    generation: u64,
}

/// A small blocking pool: at most `max` connections, idle ones reused LIFO.
pub(crate) struct Pool<K: Connector> {
    connector: K,
    state: Mutex<State<K::Conn>>,
    freed: Condvar,
    max: usize,
    policy: ServerOptions,
}

/// A checked-out connection; returned to the pool on drop unless discarded.
struct Lease<'a, K: Connector> {
    pool: &'a Pool<K>,
    conn: Option<K::Conn>,
    generation: u64,
}

impl<K: Connector> Drop for Lease<'_, K> {
    fn drop(&mut self) {
        let conn = self.conn.take();
        let mut st = self.pool.lock();
        match conn {
            Some(c) if self.generation == st.generation => st.idle.push(c),
            other => {
                st.open -= 1;
                drop(st);
                drop(other);
            }
        }
        self.pool.freed.notify_one();
    }
}

impl<K: Connector> Pool<K> {
    pub(crate) fn new(connector: K, policy: ServerOptions) -> Self {
        Pool {
            connector,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                generation: 0,
            }),
            freed: Condvar::new(),
            max: policy.pool_size.max(1),
            policy,
        }
    }

    pub(crate) fn connector(&self) -> &K {
        &self.connector
    }

    /// Puts an already opened connection in the pool (the one used to check
    /// the server and create the tables).
    pub(crate) fn seed(&self, conn: K::Conn) {
        let mut st = self.lock();
        st.open += 1;
        st.idle.push(conn);
    }

    fn lock(&self) -> MutexGuard<'_, State<K::Conn>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn acquire(&self) -> std::result::Result<Lease<'_, K>, Failure> {
        let mut st = self.lock();
        loop {
            if let Some(mut c) = st.idle.pop() {
                let generation = st.generation;
                drop(st);
                if self.connector.is_usable(&mut c) {
                    return Ok(Lease {
                        pool: self,
                        conn: Some(c),
                        generation,
                    });
                }
                drop(c);
                st = self.lock();
                st.open -= 1;
                continue;
            }
            if st.open < self.max {
                st.open += 1;
                let generation = st.generation;
                drop(st);
                return match self.connector.connect() {
                    Ok(c) => Ok(Lease {
                        pool: self,
                        conn: Some(c),
                        generation,
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            st = self.freed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Drops every idle connection and marks the checked-out ones as not to
    /// be reused: after a failure they are probably all dead.
    fn invalidate(&self) {
        let idle = {
            let mut st = self.lock();
            st.generation += 1;
            let idle = std::mem::take(&mut st.idle);
            st.open -= idle.len();
            idle
        };
        drop(idle);
        self.freed.notify_all();
    }

    /// Runs `op` on a pooled connection. A [`Failure::Transient`] failure
    /// drops the connection and retries on a new one, waiting
    /// `initial_backoff`, then twice that, and so on, until `retry_budget` is
    /// spent; then the error says `what` could not be done and why.
    ///
    /// The budget is counted from the start of this call, or, when the
    /// calling thread runs a pipeline (a [`RunBudget`](super::budget::RunBudget)
    /// is installed), from the run's first failure since its last success,
    /// so that one outage costs a run one budget however many calls hit it.
    pub(crate) fn run<T>(
        &self,
        what: &dyn Fn() -> String,
        mut op: impl FnMut(&mut K::Conn) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let start = Instant::now();
        let mut backoff = self.policy.initial_backoff;
        let mut attempts = 0u32;
        // What went wrong first, when the last attempt failed otherwise (a
        // call timed out, then reconnecting failed): the cause, named too.
        let mut first_error: Option<String> = None;
        loop {
            attempts += 1;
            let outcome = match self.acquire() {
                Ok(mut lease) => {
                    let r = op(lease.conn.as_mut().expect("leased connection"));
                    if matches!(r, Err(Failure::Transient(_))) {
                        // Dropped, not returned: it may be half-way through a
                        // broken exchange.
                        lease.conn = None;
                    }
                    r
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(v) => {
                    budget::with_current(|b| b.map(RunBudget::succeeded));
                    return Ok(v);
                }
                Err(Failure::Fatal(e)) => return Err(e.context(what())),
                Err(Failure::Transient(msg)) => {
                    self.invalidate();
                    let now = Instant::now();
                    let run_outage =
                        budget::with_current(|b| b.map(|b| (b.failed(now), b.is_spent())));
                    let spent = run_outage.is_some_and(|(_, spent)| spent);
                    let run_outage = run_outage.map(|(elapsed, _)| elapsed);
                    let elapsed = run_outage.unwrap_or_else(|| now - start);
                    if spent || elapsed + backoff > self.policy.retry_budget {
                        budget::with_current(|b| b.map(RunBudget::spend));
                        let budget = self.policy.retry_budget.as_secs_f64();
                        let secs = elapsed.as_secs_f64();
                        let msg = match first_error {
                            Some(first) if first != msg => {
                                format!("{msg}; first error: {first}")
                            }
                            _ => msg,
                        };
                        return Err(Error::backend(match run_outage {
                            None => format!(
                                "{}: gave up after {attempts} attempt(s) over {secs:.1} s \
                                 (retry budget {budget:.1} s); last error: {msg}",
                                what(),
                            ),
                            Some(_) => format!(
                                "{}: gave up after {attempts} attempt(s): this run's server calls \
                                 have been failing for {secs:.1} s and its retry budget is \
                                 {budget:.1} s; last error: {msg}",
                                what(),
                            ),
                        }));
                    }
                    first_error.get_or_insert(msg);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.policy.max_backoff.max(backoff));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counting(Arc<AtomicUsize>);
    impl Connector for Counting {
        type Conn = usize;
        fn connect(&self) -> std::result::Result<usize, Failure> {
            Ok(self.0.fetch_add(1, Ordering::SeqCst))
        }
    }

    fn opts(budget_ms: u64, size: usize) -> ServerOptions {
        ServerOptions {
            retry_budget: Duration::from_millis(budget_ms),
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            pool_size: size,
            ..ServerOptions::default()
        }
    }

    #[test]
    fn connections_are_reused_and_bounded() {
        let made = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(Pool::new(Counting(made.clone()), opts(100, 2)));
        for _ in 0..10 {
            pool.run(&|| "x".into(), |_| Ok(())).unwrap();
        }
        assert_eq!(made.load(Ordering::SeqCst), 1);
        let in_use = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..20 {
                        pool.run(&|| "x".into(), |_| {
                            let n = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                            max_seen.fetch_max(n, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_micros(200));
                            in_use.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .unwrap();
                    }
                });
            }
        });
        assert!(max_seen.load(Ordering::SeqCst) <= 2);
        assert!(made.load(Ordering::SeqCst) <= 2);
    }

    #[test]
    fn transient_failures_are_retried_then_reported() {
        let made = Arc::new(AtomicUsize::new(0));
        let pool = Pool::new(Counting(made.clone()), opts(300, 2));
        let mut n = 0;
        let v = pool
            .run(&|| "write x".into(), |_| {
                n += 1;
                if n < 3 {
                    Err(Failure::Transient("dropped".into()))
                } else {
                    Ok(n)
                }
            })
            .unwrap();
        assert_eq!(v, 3);
        assert_eq!(made.load(Ordering::SeqCst), 3);
        let t = Instant::now();
        let e = pool
            .run(&|| "write y".into(), |_| -> std::result::Result<(), _> {
                Err(Failure::Transient("server gone".into()))
            })
            .unwrap_err();
        assert!(t.elapsed() < Duration::from_millis(600));
        assert_eq!(e.kind(), crate::error::ErrorKind::Backend);
        assert!(
            e.message().contains("write y") && e.message().contains("server gone"),
            "{e}"
        );
        let e = pool
            .run(&|| "write z".into(), |_| -> std::result::Result<(), _> {
                Err(Failure::Fatal(Error::not_found("no run")))
            })
            .unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::NotFound);
    }

    #[test]
    fn options_are_checked() {
        assert!(ServerOptions::default().check().is_ok());
        for bad in [
            ServerOptions {
                pool_size: 0,
                ..ServerOptions::default()
            },
            ServerOptions {
                connect_timeout: Duration::ZERO,
                ..ServerOptions::default()
            },
            ServerOptions {
                io_timeout: Duration::ZERO,
                ..ServerOptions::default()
            },
        ] {
            let e = bad.check().unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument, "{e}");
        }
    }

    #[test]
    fn calls_of_one_run_share_one_budget() {
        use crate::backend::budget::{enter, RunBudget};
        let pool = Pool::new(Counting(Arc::default()), opts(300, 2));
        // Attempts made by a call to a server that is gone.
        let attempts = |what: &str| {
            let mut n = 0;
            let e = pool
                .run(&|| what.to_string(), |_| -> std::result::Result<(), _> {
                    n += 1;
                    Err(Failure::Transient("server gone".into()))
                })
                .unwrap_err();
            assert!(e.message().contains("retry budget"), "{e}");
            (n, e)
        };
        // Outside a run, every call gets the whole budget.
        assert!(attempts("a").0 > 3);
        assert!(attempts("b").0 > 3);

        let run = Arc::new(RunBudget::default());
        let _scope = enter(&run);
        let t = Instant::now();
        let (n, e) = attempts("update");
        assert!(n > 3, "{e}");
        assert!(e.message().contains("this run's server calls"), "{e}");
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        // The budget is spent: later calls of the run, on any thread, make
        // one attempt each.
        let (n, e) = attempts("final save");
        assert_eq!(n, 1, "{e}");
        std::thread::scope(|s| {
            s.spawn(|| {
                let _scope = enter(&run);
                assert_eq!(attempts("other worker").0, 1);
            });
            // A thread outside the run is not affected.
            s.spawn(|| assert!(attempts("outside").0 > 3));
        });
        // A success ends the outage: the next one gets the whole budget.
        pool.run(&|| "ok".into(), |_| Ok(())).unwrap();
        assert!(attempts("again").0 > 3);
    }
}
