//! Where runs are kept: the [`Backend`] trait and its built-in implementations.

pub(crate) mod budget;
mod claims;
pub mod ident;
mod lost;
mod memory;
mod memory_run;
mod mysql;
mod pool;
mod postgres;
mod rows;
pub(crate) mod serial;
mod sqlite;
mod sqlite_dag;
mod sqlite_history;
pub(crate) mod sqlite_schedules;
mod url;

pub use claims::ScheduleRecord;
pub use memory::MemoryBackend;
pub use mysql::{
    MySqlBackend, MYSQL_ENV_DB, MYSQL_ENV_HOST, MYSQL_ENV_PASSWORD, MYSQL_ENV_PORT, MYSQL_ENV_USER,
};
pub use pool::ServerOptions;
pub use postgres::{PostgresBackend, PG_DSN_ENV};
pub use sqlite::{SqliteBackend, DEFAULT_SQLITE_PATH};
pub use url::{open, sqlite_path};

use crate::error::Error;
use crate::error::Result;
use crate::history::{RunDag, RunQuery, SharedDag};
use crate::model::{PipelineRun, RunListing, StoredOutput, TaskDetail, TaskStatus, TaskUpdate};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The four operations of dremioframe's `BaseBackend`. Implementations must be
/// safe to call from every worker thread of a run at once.
pub trait Backend: Send + Sync {
    /// Inserts or replaces the whole run record. Its `tasks` map becomes the
    /// run's task statuses, replacing any earlier `update_task_status`.
    fn save_run(&self, run: &PipelineRun) -> Result<()>;

    /// The run with this id, or `None`.
    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>>;

    /// Sets one task's status, atomically. A run that was never saved is a
    /// `NotFound` error.
    fn update_task_status(&self, run_id: &str, task_name: &str, status: TaskStatus) -> Result<()>;

    /// Several status changes of one run, applied in order. The SQL backends
    /// make them one atomic, committed write (one commit instead of one per
    /// change); this default makes one `update_task_status` call per change.
    /// When a task appears more than once, its last status wins.
    fn update_task_statuses(&self, run_id: &str, changes: &[(&str, TaskStatus)]) -> Result<()> {
        for (task, status) in changes {
            self.update_task_status(run_id, task, *status)?;
        }
        Ok(())
    }

    /// Up to `limit` runs, newest `start_time` first, of one pipeline or of all.
    ///
    /// The SQL backends return the readable runs among the `limit` newest
    /// stored rows (see [`list_runs_report`](Self::list_runs_report)): a
    /// row they cannot read is left out, not an error, so the list may be
    /// shorter than `limit` although more runs are stored.
    fn list_runs(&self, pipeline_name: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>>;

    /// Task changes of one run with their detail (attempts, times, error),
    /// applied in order as one write: what a run calls on every state change.
    /// A backend that keeps task detail stores it here, in the same write as
    /// the statuses. This default keeps the statuses only.
    fn update_tasks(&self, run_id: &str, updates: &[TaskUpdate<'_>]) -> Result<()> {
        match updates {
            [] => Ok(()),
            [u] => self.update_task_status(run_id, u.task, u.status),
            many => {
                let changes: Vec<(&str, TaskStatus)> =
                    many.iter().map(|u| (u.task, u.status)).collect();
                self.update_task_statuses(run_id, &changes)
            }
        }
    }

    /// The detail of every task of a run (tasks never written with detail
    /// have only their status, 0 attempts), in task-name order. An unknown
    /// run is a `NotFound` error; a backend that keeps no detail returns an
    /// `Unsupported` error (the default).
    fn get_task_details(&self, run_id: &str) -> Result<Vec<TaskDetail>> {
        let _ = run_id;
        Err(Error::unsupported(
            "this backend does not keep task details",
        ))
    }

    /// Writes or renews the lease of running run `run_id`: its owner is
    /// alive at `at` (seconds since the Unix epoch) and renews at least
    /// every `interval`. Runs call it when they start and then from a
    /// thread of their own. Default: `Unsupported` (runs then keep no lease).
    fn renew_lease(&self, run_id: &str, at: f64, interval: Duration) -> Result<()> {
        let _ = (run_id, at, interval);
        Err(Error::unsupported("this backend keeps no leases"))
    }

    /// Finishes the RUNNING runs whose owner is gone: those whose lease was
    /// last renewed more than `stale_after` ago (and more than three of its
    /// renewal intervals ago, so a live owner is never overtaken), or, with
    /// no lease (written by another tool), that started more than
    /// `stale_after` ago. Each becomes FAILED, its RUNNING tasks FAILED
    /// ("owner lost"), its PENDING tasks SKIPPED. Returns how many runs were
    /// recovered; safe when several processes recover at once (each run is
    /// recovered by one). Default: `Unsupported`.
    fn recover(&self, stale_after: Duration) -> Result<u64> {
        let _ = stale_after;
        Err(Error::unsupported("this backend cannot recover runs"))
    }

    /// Deletes the finished runs (never a RUNNING one) that started before
    /// `before` (seconds since the Unix epoch), of one pipeline or of all,
    /// with every row that belongs to them; `dry_run` only counts. Returns
    /// how many runs were (or would be) deleted. Default: `Unsupported`.
    fn purge(&self, before: f64, pipeline: Option<&str>, dry_run: bool) -> Result<u64> {
        let _ = (before, pipeline, dry_run);
        Err(Error::unsupported("this backend cannot purge runs"))
    }

    /// The outputs stored with run `run_id`, by task name (tasks that
    /// produced none are absent). `NotFound` for an unknown run. Default:
    /// `Unsupported`.
    fn get_outputs(&self, run_id: &str) -> Result<BTreeMap<String, StoredOutput>> {
        let _ = run_id;
        Err(Error::unsupported(
            "this backend does not store task outputs",
        ))
    }

    /// Records that run `run_id` resumes run `original`. Default:
    /// `Unsupported` (the link is then not kept).
    fn link_resume(&self, run_id: &str, original: &str) -> Result<()> {
        let _ = (run_id, original);
        Err(Error::unsupported(
            "this backend does not link resumed runs",
        ))
    }

    /// The run that `run_id` resumes, if it resumes one. Default: `Unsupported`.
    fn resumed_from(&self, run_id: &str) -> Result<Option<String>> {
        let _ = run_id;
        Err(Error::unsupported(
            "this backend does not link resumed runs",
        ))
    }

    /// Stores the DAG run `run_id` of pipeline `pipeline` runs, once per
    /// distinct DAG (keyed by its content) plus one small row per run. Runs
    /// call it when they start; `Unsupported` (the default) is ignored.
    fn save_dag(&self, run_id: &str, pipeline: &str, dag: &RunDag) -> Result<()> {
        let _ = (run_id, pipeline, dag);
        Err(Error::unsupported("this backend does not store DAGs"))
    }

    /// [`save_dag`](Self::save_dag), given the DAG the runs of an unchanged
    /// pipeline share: what runs call. Backends override it to keep the
    /// shared DAG itself, or reuse its texts ([`SharedDag::texts`]) instead
    /// of serializing the DAG again for every run. Default: `save_dag`.
    fn save_shared_dag(&self, run_id: &str, pipeline: &str, dag: &Arc<SharedDag>) -> Result<()> {
        self.save_dag(run_id, pipeline, dag.dag())
    }

    /// The DAG stored for run `run_id`, `None` when none was. Default:
    /// `Unsupported`.
    fn get_run_dag(&self, run_id: &str) -> Result<Option<RunDag>> {
        let _ = run_id;
        Err(Error::unsupported("this backend does not store DAGs"))
    }

    /// A filtered page of runs, newest `start_time` first (see
    /// [`RunQuery`]). This default reads the runs through
    /// [`list_runs`](Self::list_runs) and filters them in memory; the SQL
    /// backends filter and page in the query.
    fn query_runs(&self, query: &RunQuery) -> Result<Vec<PipelineRun>> {
        let all = self.list_runs(query.pipeline.as_deref(), u32::MAX)?;
        Ok(all
            .into_iter()
            .filter(|r| query.matches(r))
            .take(query.limit as usize)
            .collect())
    }

    /// As [`list_runs`](Self::list_runs), also naming the stored rows that
    /// cannot be read (a text `start_time`, an unknown status, a `tasks`
    /// column that is not a JSON object of status strings...) with why,
    /// instead of failing the whole call for them. Unreadable rows count
    /// toward `limit`, in their place in the order (see [`RunListing`]).
    ///
    /// This default (for backends that cannot hold unreadable rows, such as
    /// the in-memory one) returns `list_runs` with no unreadable row.
    fn list_runs_report(&self, pipeline_name: Option<&str>, limit: u32) -> Result<RunListing> {
        Ok(RunListing {
            runs: self.list_runs(pipeline_name, limit)?,
            unreadable: Vec::new(),
        })
    }

    /// Claims fire time `fire_ms` (milliseconds since the Unix epoch) of
    /// schedule `schedule` for scheduler `owner`: `true` for the first
    /// caller of all processes sharing the backend (a unique row per name
    /// and fire time), `false` for every later one. Default: `Unsupported`.
    fn claim_fire(&self, schedule: &str, fire_ms: i64, owner: &str) -> Result<bool> {
        let _ = (schedule, fire_ms, owner);
        Err(Error::unsupported("this backend keeps no schedule claims"))
    }

    /// Inserts or replaces the record of schedule `record.name`; its
    /// `last_fire` never moves back. Default: `Unsupported`.
    fn save_schedule(&self, record: &ScheduleRecord) -> Result<()> {
        let _ = record;
        Err(Error::unsupported("this backend keeps no schedules"))
    }

    /// Every recorded schedule, by name. Default: `Unsupported`.
    fn list_schedules(&self) -> Result<Vec<ScheduleRecord>> {
        Err(Error::unsupported("this backend keeps no schedules"))
    }
}

/// A shared, reference-counted backend, as pipelines hold them.
pub type BackendRef = Arc<dyn Backend>;

/// `updates` with only the last update of each task, in first-seen order:
/// SQL upserts may not touch one row twice in a statement.
pub(crate) fn last_update_per_task<'u, 'a>(
    updates: &'u [TaskUpdate<'a>],
) -> Vec<&'u TaskUpdate<'a>> {
    let mut out: Vec<&TaskUpdate<'_>> = Vec::with_capacity(updates.len());
    for u in updates {
        match out.iter_mut().find(|o| o.task == u.task) {
            Some(slot) => *slot = u,
            None => out.push(u),
        }
    }
    out
}

/// `changes` with only the last status of each task, in first-seen order:
/// SQL upserts may not touch one row twice in a statement.
pub(crate) fn last_status_per_task<'a>(
    changes: &[(&'a str, TaskStatus)],
) -> Vec<(&'a str, TaskStatus)> {
    let mut out: Vec<(&str, TaskStatus)> = Vec::with_capacity(changes.len());
    for &(task, status) in changes {
        match out.iter_mut().find(|(t, _)| *t == task) {
            Some(slot) => slot.1 = status,
            None => out.push((task, status)),
        }
    }
    out
}

/// Whether a RUNNING run's owner counts as gone at `now`: its lease (last
/// renewal, renewal interval) is older than `stale_after` and than three
/// renewal intervals, or, with no lease, it started more than `stale_after` ago.
pub(crate) fn lease_is_stale(
    lease: Option<(f64, Duration)>,
    start_time: f64,
    stale_after: Duration,
    now: f64,
) -> bool {
    match lease {
        Some((renewed, interval)) => {
            let window = stale_after.max(interval * 3).as_secs_f64();
            now - renewed > window
        }
        None => now - start_time > stale_after.as_secs_f64(),
    }
}
