//! Durable history on the SQLite backend: run metadata (`dorch_run_meta`:
//! lease, resume link), stored task outputs (`dorch_task_output`), recovery
//! of runs whose owner is gone, and batched purge of finished runs.

use super::sqlite::{
    no_run, row_to_run, settle_live, sql_err, upsert_live_detail, upsert_live_detail_pair,
    SqliteBackend, SELECT_RUN,
};
use super::{last_update_per_task, lease_is_stale};
use crate::error::Result;
use crate::model::{now_seconds, OutputRef, StoredOutput, TaskStatus, TaskUpdate};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Our tables for durable history, created beside the others on open (so a
/// file made by an earlier version gains them).
///
/// Outputs may be large (up to the run's limit, 1 MiB by default): their
/// table keeps its rowid, as SQLite advises for rows bigger than a small
/// part of a page. The partial index holds RUNNING runs only, so recovery
/// finds them without scanning a long history.
pub(super) const HISTORY_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dorch_run_meta (
    run_id TEXT NOT NULL PRIMARY KEY,
    lease_renewed_at REAL,
    lease_interval REAL,
    resumed_from TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dorch_task_output (
    run_id TEXT NOT NULL,
    task_name TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB,
    PRIMARY KEY (run_id, task_name)
);
CREATE INDEX IF NOT EXISTS idx_runs_running ON runs (start_time) WHERE status = 'RUNNING';
";

/// Runs deleted per purge transaction: small enough that one batch holds
/// the write lock for milliseconds, so other writers keep going.
const PURGE_BATCH: usize = 500;

/// Longest pause a purge takes between two batches (see [`pause_after`]).
const MAX_PURGE_PAUSE: Duration = Duration::from_millis(50);

/// The task error recovery writes.
const OWNER_LOST: &str = "owner lost";

/// The finished runs a purge deletes: the same predicate for the dry run's
/// count and for each batch; `?1` is the time, `?2` the pipeline. A text
/// start_time sorts above every number in SQLite, but `typeof` says plainly
/// that only numeric ones count. With a pipeline, the condition names it
/// plainly so that the `(pipeline_name, start_time)` index serves it.
fn purge_where(pipeline: Option<&str>) -> &'static str {
    match pipeline {
        None => {
            "typeof(run_id) = 'text' AND status IN ('SUCCESS', 'FAILED') \
             AND typeof(start_time) IN ('real', 'integer') AND start_time < ?1"
        }
        Some(_) => {
            "pipeline_name = ?2 AND typeof(run_id) = 'text' \
             AND status IN ('SUCCESS', 'FAILED') \
             AND typeof(start_time) IN ('real', 'integer') AND start_time < ?1"
        }
    }
}

/// The parameters of [`purge_where`], then `extra`.
fn purge_params<'a>(
    before: &'a f64,
    pipeline: &'a Option<&str>,
    extra: Option<&'a i64>,
) -> Vec<&'a dyn rusqlite::ToSql> {
    let mut ps: Vec<&dyn rusqlite::ToSql> = vec![before];
    if let Some(p) = pipeline {
        ps.push(p);
    }
    if let Some(e) = extra {
        ps.push(e);
    }
    ps
}

/// Our per-run tables, emptied of a purged run's rows before its `runs` row.
const SIDE_TABLES: [&str; 5] = [
    "dorch_task_state",
    "dorch_run_dag",
    "dorch_task_detail",
    "dorch_task_output",
    "dorch_run_meta",
];

/// Upserts the outputs that `updates` carry (the last one of each task).
/// Called in the transaction that writes the updates' statuses, after the
/// run was found to exist.
fn upsert_outputs(conn: &Connection, run_id: &str, updates: &[TaskUpdate<'_>]) -> Result<()> {
    let err = sql_err("update_tasks (output)");
    let mut st = conn
        .prepare_cached(
            "INSERT INTO dorch_task_output (run_id, task_name, size, data)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (run_id, task_name) DO UPDATE SET size = excluded.size,
               data = excluded.data",
        )
        .map_err(&err)?;
    for u in last_update_per_task(updates) {
        let (size, data) = match u.output {
            Some(OutputRef::Stored(b)) => (b.len() as u64, Some(b)),
            Some(OutputRef::NotStored(n)) => (n, None),
            None => continue,
        };
        // SQLite integers are signed 64-bit; no output comes near.
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        st.execute(params![run_id, u.task, size, data])
            .map_err(&err)?;
    }
    Ok(())
}

impl SqliteBackend {
    /// `update_tasks` for updates of which at least one carries an output:
    /// the statuses, their detail and the outputs in one transaction.
    pub(super) fn update_tasks_with_outputs(
        &self,
        run_id: &str,
        updates: &[TaskUpdate<'_>],
    ) -> Result<()> {
        let mut conn = self.lock();
        let err = sql_err("update_tasks");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let changed = match updates {
            [a, b] => upsert_live_detail_pair(&tx, run_id, a, b).map_err(&err)?,
            _ => {
                let mut n = usize::MAX;
                for u in updates {
                    n = n.min(upsert_live_detail(&tx, run_id, u).map_err(&err)?);
                }
                n
            }
        };
        if changed == 0 {
            return Err(no_run(run_id)); // dropping `tx` rolls back
        }
        upsert_outputs(&tx, run_id, updates)?;
        tx.commit().map_err(&err)
    }

    pub(super) fn renew_lease_impl(&self, run_id: &str, at: f64, interval: Duration) -> Result<()> {
        let conn = self.lock();
        // One statement: the run's existence is checked where the row is written.
        let n = conn
            .prepare_cached(
                "INSERT INTO dorch_run_meta (run_id, lease_renewed_at, lease_interval)
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)
                 ON CONFLICT (run_id) DO UPDATE SET
                   lease_renewed_at = excluded.lease_renewed_at,
                   lease_interval = excluded.lease_interval",
            )
            .and_then(|mut st| st.execute(params![run_id, at, interval.as_secs_f64()]))
            .map_err(sql_err("renew_lease"))?;
        if n == 0 {
            return Err(no_run(run_id));
        }
        Ok(())
    }

    pub(super) fn link_resume_impl(&self, run_id: &str, original: &str) -> Result<()> {
        let conn = self.lock();
        let n = conn
            .prepare_cached(
                "INSERT INTO dorch_run_meta (run_id, resumed_from)
                 SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)
                 ON CONFLICT (run_id) DO UPDATE SET resumed_from = excluded.resumed_from",
            )
            .and_then(|mut st| st.execute(params![run_id, original]))
            .map_err(sql_err("link_resume"))?;
        if n == 0 {
            return Err(no_run(run_id));
        }
        Ok(())
    }

    pub(super) fn resumed_from_impl(&self, run_id: &str) -> Result<Option<String>> {
        let conn = self.lock();
        let row: Option<Option<String>> = conn
            .prepare_cached(
                "SELECT (SELECT resumed_from FROM dorch_run_meta m WHERE m.run_id = r.run_id)
                 FROM runs r WHERE r.run_id = ?1",
            )
            .and_then(|mut st| st.query_row([run_id], |r| r.get(0)).optional())
            .map_err(sql_err("resumed_from"))?;
        row.ok_or_else(|| no_run(run_id))
    }

    /// The run's outputs, read in one transaction with the check that the
    /// run exists.
    pub(super) fn get_outputs_impl(&self, run_id: &str) -> Result<BTreeMap<String, StoredOutput>> {
        let mut conn = self.lock();
        let err = sql_err("get_outputs");
        let tx = conn.transaction().map_err(&err)?;
        let exists = tx
            .prepare_cached("SELECT 1 FROM runs WHERE run_id = ?1")
            .and_then(|mut st| st.exists([run_id]))
            .map_err(&err)?;
        if !exists {
            return Err(no_run(run_id));
        }
        let rows: Vec<(String, StoredOutput)> = tx
            .prepare_cached("SELECT task_name, size, data FROM dorch_task_output WHERE run_id = ?1")
            .and_then(|mut st| {
                st.query_map([run_id], |r| {
                    let name: String = r.get(0)?;
                    let out = match r.get_ref(2)? {
                        ValueRef::Blob(b) => StoredOutput::Stored(b.to_vec()),
                        // Written by us as a BLOB; text read as its bytes.
                        ValueRef::Text(t) => StoredOutput::Stored(t.to_vec()),
                        _ => StoredOutput::NotStored(r.get::<_, i64>(1)?.max(0) as u64),
                    };
                    Ok((name, out))
                })?
                .collect()
            })
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(rows.into_iter().collect())
    }

    /// Finds the RUNNING runs whose owner is gone, then recovers each in a
    /// transaction of its own that checks again, under the write lock, that
    /// it is still RUNNING and stale: of several processes recovering at
    /// once, one recovers each run, and a lease renewed in between wins.
    pub(super) fn recover_impl(&self, stale_after: Duration) -> Result<u64> {
        let now = now_seconds();
        let candidates: Vec<String> = {
            let conn = self.lock();
            conn.prepare_cached(
                "SELECT r.run_id, r.start_time, m.lease_renewed_at, m.lease_interval
                 FROM runs r LEFT JOIN dorch_run_meta m ON m.run_id = r.run_id
                 WHERE r.status = 'RUNNING'",
            )
            .and_then(|mut st| {
                st.query_map([], |r| {
                    Ok((
                        text(r.get_ref(0)?),
                        stale_row(r, stale_after, now).unwrap_or(false),
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(sql_err("recover"))?
            .into_iter()
            .filter_map(|(id, stale)| id.filter(|_| stale))
            .collect()
        };
        let mut recovered = 0;
        for run_id in candidates {
            if self.recover_one(&run_id, stale_after, now)? {
                recovered += 1;
            }
        }
        Ok(recovered)
    }

    /// Recovers one run if, under the write lock, it is still RUNNING and
    /// stale (and readable); `false`: left alone.
    fn recover_one(&self, run_id: &str, stale_after: Duration, now: f64) -> Result<bool> {
        let mut conn = self.lock();
        let err = sql_err("recover");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let stale = tx
            .prepare_cached(
                "SELECT r.run_id, r.start_time, m.lease_renewed_at, m.lease_interval
                 FROM runs r LEFT JOIN dorch_run_meta m ON m.run_id = r.run_id
                 WHERE r.run_id = ?1 AND r.status = 'RUNNING'",
            )
            .and_then(|mut st| {
                st.query_row([run_id], |r| Ok(stale_row(r, stale_after, now)))
                    .optional()
            })
            .map_err(&err)?;
        if stale != Some(Some(true)) {
            return Ok(false); // dropping `tx` rolls back
        }
        let raw = tx
            .prepare_cached(&format!("{SELECT_RUN} WHERE r.run_id = ?1"))
            .and_then(|mut st| st.query_row([run_id], row_to_run).optional())
            .map_err(&err)?;
        // A row that cannot be read (bad tasks JSON...) is left as it is.
        let Some(Ok(mut run)) = raw.map(|r| r.into_run("sqlite")) else {
            return Ok(false);
        };
        for (name, status) in run.tasks.iter_mut() {
            let new = match status {
                TaskStatus::Running => TaskStatus::Failed,
                TaskStatus::Pending => TaskStatus::Skipped,
                _ => continue,
            };
            *status = new;
            // The live row keeps its attempts and start; one that has none
            // (the task is in the record only) takes them from the detail
            // table, where an earlier save_run put them.
            tx.prepare_cached(
                "INSERT INTO dorch_task_state
                   (run_id, task_name, status, attempts, start_time, end_time, error)
                 SELECT ?1, ?2, ?3, coalesce(d.attempts, 0), d.start_time, ?4, ?5
                 FROM (SELECT 1) LEFT JOIN dorch_task_detail d
                   ON d.run_id = ?1 AND d.task_name = ?2
                 WHERE true
                 ON CONFLICT (run_id, task_name) DO UPDATE SET status = excluded.status,
                   attempts = coalesce(attempts, excluded.attempts),
                   start_time = coalesce(start_time, excluded.start_time),
                   end_time = excluded.end_time, error = excluded.error",
            )
            .and_then(|mut st| st.execute(params![run_id, name, new.as_str(), now, OWNER_LOST]))
            .map_err(&err)?;
        }
        let n = tx
            .prepare_cached(
                "UPDATE runs SET status = 'FAILED', end_time = ?2, tasks = ?3
                 WHERE run_id = ?1 AND status = 'RUNNING'",
            )
            .and_then(|mut st| st.execute(params![run_id, now, run.tasks_json()]))
            .map_err(&err)?;
        if n != 1 {
            return Ok(false);
        }
        // As save_run: the record now holds every status; detail moves on.
        settle_live(&tx, run_id).map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(true)
    }

    pub(super) fn purge_impl(
        &self,
        before: f64,
        pipeline: Option<&str>,
        dry_run: bool,
    ) -> Result<u64> {
        if dry_run {
            let conn = self.lock();
            let n: i64 = conn
                .prepare_cached(&format!(
                    "SELECT count(*) FROM runs WHERE {}",
                    purge_where(pipeline)
                ))
                .and_then(|mut st| {
                    st.query_row(&*purge_params(&before, &pipeline, None), |r| r.get(0))
                })
                .map_err(sql_err("purge"))?;
            return Ok(n.max(0) as u64);
        }
        Ok(self.purge_batches(before, pipeline)?.0)
    }

    /// Purges (not a dry run) as [`Backend::purge`](super::Backend::purge)
    /// does, and also returns how long each batch transaction took, from
    /// taking the write lock to committing: the longest is the longest any
    /// other writer of the file waited for this purge. For benchmarks and
    /// tests; not part of the stable API.
    #[doc(hidden)]
    pub fn purge_batches(
        &self,
        before: f64,
        pipeline: Option<&str>,
    ) -> Result<(u64, Vec<Duration>)> {
        let mut total = 0u64;
        let mut times = Vec::new();
        loop {
            let t = Instant::now();
            let n = self.purge_batch(before, pipeline)?;
            let took = t.elapsed();
            if n == 0 {
                break;
            }
            times.push(took);
            total += n as u64;
            if n < PURGE_BATCH {
                break;
            }
            std::thread::sleep(pause_after(took));
        }
        Ok((total, times))
    }

    /// Deletes up to [`PURGE_BATCH`] finished runs with their rows in one
    /// transaction; returns how many.
    fn purge_batch(&self, before: f64, pipeline: Option<&str>) -> Result<usize> {
        let mut conn = self.lock();
        let err = sql_err("purge");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let ids: Vec<String> = tx
            .prepare_cached(&format!(
                "SELECT run_id FROM runs WHERE {} LIMIT ?{}",
                purge_where(pipeline),
                if pipeline.is_some() { 3 } else { 2 }
            ))
            .and_then(|mut st| {
                let limit = PURGE_BATCH as i64;
                st.query_map(&*purge_params(&before, &pipeline, Some(&limit)), |r| {
                    Ok(text(r.get_ref(0)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(&err)?
            .into_iter()
            .flatten()
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        // The batch's ids as one JSON array parameter, read by json_each.
        let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        for table in SIDE_TABLES.iter().chain(&["runs"]) {
            tx.prepare_cached(&format!(
                "DELETE FROM {table} WHERE run_id IN (SELECT value FROM json_each(?1))"
            ))
            .and_then(|mut st| st.execute([&ids_json]))
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        Ok(ids.len())
    }
}

/// How long a purge waits after a batch that held the write lock for
/// `held` before taking it again. Another writer (maybe in another
/// process) only learns the lock is free when its busy handler polls (at
/// first every few ms, later every 100 ms); leaving the lock free about as
/// long as it was held lets it in at its next polls instead of after the
/// whole purge.
fn pause_after(held: Duration) -> Duration {
    held.clamp(Duration::from_millis(1), MAX_PURGE_PAUSE)
}

/// Whether a row (run_id, start_time, lease_renewed_at, lease_interval) is
/// a stale RUNNING run now; `None` when its start or lease cannot be read.
fn stale_row(r: &rusqlite::Row<'_>, stale_after: Duration, now: f64) -> Option<bool> {
    let start = number(r.get_ref(1).ok()?);
    let renewed = number(r.get_ref(2).ok()?);
    let interval = number(r.get_ref(3).ok()?).and_then(|s| Duration::try_from_secs_f64(s).ok());
    match (renewed, interval) {
        (Some(at), Some(every)) => Some(lease_is_stale(Some((at, every)), 0.0, stale_after, now)),
        // Without a lease (written by another tool), the start decides.
        _ => Some(lease_is_stale(None, start?, stale_after, now)),
    }
}

fn number(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Real(f) => Some(f),
        ValueRef::Integer(i) => Some(i as f64),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_string),
        _ => None,
    }
}
