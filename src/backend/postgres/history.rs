//! Durable history on PostgreSQL: task outputs (`<table>_task_output`),
//! leases and resume links (`<table>_run_meta`), recovery of runs whose
//! owner is gone, and purging finished runs in short batches.
//!
//! An output is written by the statement that records its task's final
//! status (a data-modifying CTE), so it costs no extra round trip or commit.
//! Recovery takes each run in a transaction of its own that locks the run's
//! row (`FOR UPDATE SKIP LOCKED`) and checks it is still RUNNING and stale:
//! processes recovering at once each take a run once.

use super::{
    decode_details, number_col, quote, PgConn, PgConnector, PostgresBackend, DETAIL_COLUMNS,
    DETAIL_UPSERT, TASK_KEY_OF_C,
};
use crate::backend::ident::{
    dag_table_name, detail_table_name, live_table_name, output_table_name, run_dag_table_name,
    run_meta_table_name,
};
use crate::backend::lease_is_stale;
use crate::backend::lost::{finish_lost_tasks, stored_lease};
use crate::backend::pool::Failure;
use crate::backend::rows::describe_task_updates;
use crate::backend::rows::listing;
use crate::error::{Error, Result};
use crate::history::{DagTexts, RunDag, RunQuery};
use crate::model::PipelineRun;
use crate::model::{now_seconds, OutputRef, RunStatus, StoredOutput, TaskDetail, TaskUpdate};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

/// Runs deleted per purge transaction: short enough that no transaction
/// holds its locks for long, large enough that a big purge is not made of
/// round trips.
const PURGE_BATCH: usize = 500;

/// The statements of the durable history, by what they do.
#[derive(Clone, Copy)]
pub(super) enum Q {
    /// `update_detail` (arrays) that also upserts output rows.
    UpdateWithOutputs,
    Lease,
    Link,
    ResumedFrom,
    Outputs,
    /// RUNNING runs with their lease, to find the stale ones.
    Running,
    /// Locks a RUNNING run's row, or returns nothing.
    LockRun,
    /// Locks and reads a run's lease.
    LockLease,
    /// Live rows with detail for the tasks a recovery finishes.
    OwnerLost,
    PurgeAll,
    PurgePipeline,
    CountAll,
    CountPipeline,
    /// Schedules (see `schedules.rs`): a fire's claim, a schedule's record, all records.
    ClaimFire,
    PruneClaims,
    SaveSchedule,
    ListSchedules,
    SaveDag,
    GetDag,
    QueryRuns,
}

const STATEMENTS: usize = Q::QueryRuns as usize + 1;

/// The SQL text of each [`Q`], for one run table.
pub(super) struct HistorySql([String; STATEMENTS]);

/// The statements a connection has prepared so far: each on its first use,
/// so that opening a connection costs no more than it did.
#[derive(Default)]
pub(super) struct Prepared([Option<Statement>; STATEMENTS]);

/// The tables of the durable history (run in the schema's transaction).
pub(super) fn schema(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {meta} (
            run_id TEXT PRIMARY KEY,
            lease_renewed_at DOUBLE PRECISION,
            lease_interval DOUBLE PRECISION,
            resumed_from TEXT
        );
        CREATE TABLE IF NOT EXISTS {output} (
            run_id TEXT NOT NULL,
            task_key BYTEA NOT NULL,
            task_name TEXT NOT NULL,
            size BIGINT NOT NULL,
            data BYTEA,
            PRIMARY KEY (run_id, task_key)
        );
        CREATE TABLE IF NOT EXISTS {dag} (
            dag_hash TEXT PRIMARY KEY,
            tasks_json TEXT NOT NULL,
            edges_json TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS {run_dag} (
            run_id TEXT PRIMARY KEY,
            dag_hash TEXT NOT NULL
        );",
        meta = quote(&run_meta_table_name(table)),
        output = quote(&output_table_name(table)),
        dag = quote(&dag_table_name(table)),
        run_dag = quote(&run_dag_table_name(table)),
    ) + &super::schedules::schema(table)
}

impl HistorySql {
    pub(super) fn new(table: &str, durable_task_updates: bool, select: &str) -> Self {
        let t = quote(table);
        let dag = quote(&dag_table_name(table));
        let run_dag = quote(&run_dag_table_name(table));
        let live = quote(&live_table_name(table));
        let detail = quote(&detail_table_name(table));
        let meta = quote(&run_meta_table_name(table));
        let output = quote(&output_table_name(table));
        let run_exists = format!("EXISTS (SELECT 1 FROM {t} WHERE run_id = $1::text)");
        // As the other task updates: without durable_task_updates the
        // transaction commits without waiting for its WAL flush.
        let (async_cte, async_from) = if durable_task_updates {
            ("", "")
        } else {
            (
                "async AS (SELECT set_config('synchronous_commit', 'off', true)), ",
                "async, ",
            )
        };
        let finished = "status IN ('SUCCESS', 'FAILED') AND start_time < $1::float8";
        let by_pipeline = " AND pipeline_name = $2::text";
        let purge = |filter: &str| {
            // One statement, so one short transaction, per batch: the batch's
            // run rows are locked (a run saved meanwhile is re-checked) and
            // deleted with every row of ours that belongs to them.
            let side = [&live, &detail, &output, &meta, &run_dag]
                .iter()
                .enumerate()
                .map(|(i, table)| {
                    format!(
                        "side{i} AS (DELETE FROM {table} x USING doomed d \
                         WHERE x.run_id = d.run_id), "
                    )
                })
                .collect::<String>();
            format!(
                "WITH doomed AS (SELECT run_id FROM {t} WHERE {finished}{filter} \
                 LIMIT {PURGE_BATCH} FOR UPDATE), {side_trimmed} \
                 DELETE FROM {t} x USING doomed d WHERE x.run_id = d.run_id",
                side_trimmed = side.trim_end_matches(", ")
            )
        };
        let count = |filter: &str| format!("SELECT count(*) FROM {t} WHERE {finished}{filter}");
        let mut sql: [String; STATEMENTS] = Default::default();
        sql[Q::UpdateWithOutputs as usize] = format!(
            "WITH {async_cte}outputs AS (INSERT INTO {output} \
             (run_id, task_key, task_name, size, data) \
             SELECT $1::text, sha256(convert_to(o.task, 'UTF8')), o.task, o.size, o.data \
             FROM unnest($8::text[], $9::int8[], $10::bytea[]) AS o(task, size, data) \
             WHERE {run_exists} ON CONFLICT (run_id, task_key) DO UPDATE SET \
             task_name = EXCLUDED.task_name, size = EXCLUDED.size, data = EXCLUDED.data) \
             INSERT INTO {live} ({DETAIL_COLUMNS}) \
             SELECT $1::text, {TASK_KEY_OF_C}, c.task, c.status, c.attempts, c.start_time, \
             c.end_time, c.error \
             FROM {async_from}unnest($2::text[], $3::text[], $4::int4[], $5::float8[], \
             $6::float8[], $7::text[]) AS c(task, status, attempts, start_time, end_time, error) \
             WHERE {run_exists} {DETAIL_UPSERT}"
        );
        sql[Q::Lease as usize] = format!(
            "INSERT INTO {meta} (run_id, lease_renewed_at, lease_interval) \
             SELECT $1::text, $2::float8, $3::float8 WHERE {run_exists} \
             ON CONFLICT (run_id) DO UPDATE SET lease_renewed_at = EXCLUDED.lease_renewed_at, \
             lease_interval = EXCLUDED.lease_interval"
        );
        sql[Q::Link as usize] = format!(
            "INSERT INTO {meta} (run_id, resumed_from) SELECT $1::text, $2::text \
             WHERE {run_exists} \
             ON CONFLICT (run_id) DO UPDATE SET resumed_from = EXCLUDED.resumed_from"
        );
        sql[Q::ResumedFrom as usize] = format!(
            "SELECT m.resumed_from FROM {t} r LEFT JOIN {meta} m ON m.run_id = r.run_id \
             WHERE r.run_id = $1"
        );
        sql[Q::Outputs as usize] = format!(
            "SELECT o.task_name, o.size, o.data FROM {t} r \
             LEFT JOIN {output} o ON o.run_id = r.run_id WHERE r.run_id = $1"
        );
        sql[Q::Running as usize] = format!(
            "SELECT r.run_id, r.start_time, m.lease_renewed_at, m.lease_interval \
             FROM {t} r LEFT JOIN {meta} m ON m.run_id = r.run_id WHERE r.status = 'RUNNING'"
        );
        sql[Q::LockRun as usize] = format!(
            "SELECT 1 FROM {t} WHERE run_id = $1 AND status = 'RUNNING' FOR UPDATE SKIP LOCKED"
        );
        sql[Q::LockLease as usize] = format!(
            "SELECT lease_renewed_at, lease_interval FROM {meta} WHERE run_id = $1 FOR UPDATE"
        );
        sql[Q::OwnerLost as usize] = format!(
            "INSERT INTO {live} ({DETAIL_COLUMNS}) \
             SELECT $1::text, {TASK_KEY_OF_C}, c.task, c.status, c.attempts, c.start_time, \
             c.end_time, c.error \
             FROM unnest($2::text[], $3::text[], $4::int4[], $5::float8[], $6::float8[], \
             $7::text[]) AS c(task, status, attempts, start_time, end_time, error) \
             {DETAIL_UPSERT}"
        );
        sql[Q::PurgeAll as usize] = purge("");
        sql[Q::PurgePipeline as usize] = purge(by_pipeline);
        sql[Q::CountAll as usize] = count("");
        sql[Q::CountPipeline as usize] = count(by_pipeline);
        for (q, text) in super::schedules::statements(table) {
            sql[q as usize] = text;
        }
        sql[Q::SaveDag as usize] = format!(
            "WITH d AS (INSERT INTO {dag} (dag_hash, tasks_json, edges_json) \
             VALUES ($2::text, $3::text, $4::text) ON CONFLICT (dag_hash) DO NOTHING) \
             INSERT INTO {run_dag} (run_id, dag_hash) VALUES ($1::text, $2::text) \
             ON CONFLICT (run_id) DO UPDATE SET dag_hash = EXCLUDED.dag_hash"
        );
        sql[Q::GetDag as usize] = format!(
            "SELECT d.tasks_json, d.edges_json FROM {run_dag} r \
             JOIN {dag} d ON d.dag_hash = r.dag_hash WHERE r.run_id = $1::text"
        );
        sql[Q::QueryRuns as usize] = format!(
            "{select} WHERE ($1::text IS NULL OR r.pipeline_name = $1::text) \
             AND ($2::text IS NULL OR r.status = $2::text) \
             AND ($3::float8 IS NULL OR r.start_time < $3::float8) \
             ORDER BY r.start_time DESC LIMIT $4::int8"
        );
        HistorySql(sql)
    }
}

/// Statement `q` on `conn`, prepared now if it was not yet.
fn statement(c: &PgConnector, conn: &mut PgConn, q: Q) -> std::result::Result<Statement, Failure> {
    if let Some(s) = &conn.history.0[q as usize] {
        return Ok(s.clone());
    }
    let text = &c.sql.history.0[q as usize];
    let s = c.wait(&conn.rt, conn.client.prepare(text))?;
    conn.history.0[q as usize] = Some(s.clone());
    Ok(s)
}

fn no_run(run_id: &str) -> Error {
    Error::not_found(format!("postgres: no run with id {run_id:?}"))
}

/// What became of one stale run.
enum Outcome {
    Recovered,
    /// Finished, recovered or renewed meanwhile, locked by another
    /// recovery, or unreadable: left as it is.
    Left,
}

impl PostgresBackend {
    /// `update_tasks` when some update carries an output: one statement
    /// upserts the live rows and the output rows.
    pub(super) fn update_tasks_with_outputs(
        &self,
        run_id: &str,
        updates: &[&TaskUpdate<'_>],
    ) -> Result<()> {
        let tasks: Vec<&str> = updates.iter().map(|u| u.task).collect();
        let statuses: Vec<&str> = updates.iter().map(|u| u.status.as_str()).collect();
        let tries: Vec<i32> = updates
            .iter()
            .map(|u| i32::try_from(u.attempts).unwrap_or(i32::MAX))
            .collect();
        let starts: Vec<Option<f64>> = updates.iter().map(|u| u.start_time).collect();
        let ends: Vec<Option<f64>> = updates.iter().map(|u| u.end_time).collect();
        let errors: Vec<Option<&str>> = updates.iter().map(|u| u.error).collect();
        let mut out_tasks: Vec<&str> = Vec::new();
        let mut out_sizes: Vec<i64> = Vec::new();
        let mut out_data: Vec<Option<&[u8]>> = Vec::new();
        for u in updates {
            let (size, data) = match u.output {
                Some(OutputRef::Stored(b)) => (b.len() as u64, Some(b)),
                Some(OutputRef::NotStored(n)) => (n, None),
                None => continue,
            };
            out_tasks.push(u.task);
            out_sizes.push(i64::try_from(size).unwrap_or(i64::MAX));
            out_data.push(data);
        }
        let params: [&(dyn ToSql + Sync); 10] = [
            &run_id, &tasks, &statuses, &tries, &starts, &ends, &errors, &out_tasks, &out_sizes,
            &out_data,
        ];
        let c = self.pool.connector();
        let n = self.pool.run(
            &|| {
                let owned: Vec<TaskUpdate<'_>> = updates.iter().map(|u| **u).collect();
                format!("postgres: {}", describe_task_updates(run_id, &owned))
            },
            |conn| {
                let s = statement(c, conn, Q::UpdateWithOutputs)?;
                c.wait(&conn.rt, conn.client.execute(&s, &params))
            },
        )?;
        if n == 0 {
            return Err(no_run(run_id));
        }
        Ok(())
    }

    /// Runs statement `q` with `params`; returns the rows it changed.
    pub(super) fn execute(
        &self,
        q: Q,
        params: &[&(dyn ToSql + Sync)],
        what: &dyn Fn() -> String,
    ) -> Result<u64> {
        let c = self.pool.connector();
        self.pool.run(what, |conn| {
            let s = statement(c, conn, q)?;
            c.wait(&conn.rt, conn.client.execute(&s, params))
        })
    }

    pub(super) fn query(
        &self,
        q: Q,
        params: &[&(dyn ToSql + Sync)],
        what: &dyn Fn() -> String,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let c = self.pool.connector();
        self.pool.run(what, |conn| {
            let s = statement(c, conn, q)?;
            c.wait(&conn.rt, conn.client.query(&s, params))
        })
    }

    pub(super) fn write_lease(&self, run_id: &str, at: f64, interval: Duration) -> Result<()> {
        let every = interval.as_secs_f64();
        let n = self.execute(Q::Lease, &[&run_id, &at, &every], &|| {
            format!("postgres: could not renew the lease of run {run_id}")
        })?;
        if n == 0 {
            return Err(no_run(run_id));
        }
        Ok(())
    }

    pub(super) fn write_resume_link(&self, run_id: &str, original: &str) -> Result<()> {
        let n = self.execute(Q::Link, &[&run_id, &original], &|| {
            format!("postgres: could not record that run {run_id} resumes run {original}")
        })?;
        if n == 0 {
            return Err(no_run(run_id));
        }
        Ok(())
    }

    pub(super) fn write_dag(&self, run_id: &str, dag: &DagTexts) -> Result<()> {
        let (hash, tasks, edges) = (&dag.key, &dag.tasks_json, &dag.edges_json);
        self.execute(Q::SaveDag, &[&run_id, &hash, &tasks, &edges], &|| {
            format!("postgres: could not store the DAG of run {run_id}")
        })?;
        Ok(())
    }

    pub(super) fn read_dag(&self, run_id: &str) -> Result<Option<RunDag>> {
        let rows = self.query(Q::GetDag, &[&run_id], &|| {
            format!("postgres: could not read the DAG of run {run_id}")
        })?;
        Ok(rows.first().and_then(|r| {
            let tasks: String = r.try_get(0).ok()?;
            let edges: String = r.try_get(1).ok()?;
            RunDag::from_json(&tasks, &edges)
        }))
    }

    pub(super) fn query_runs_sql(&self, q: &RunQuery) -> Result<Vec<PipelineRun>> {
        let status = q.status.map(|s| s.as_str());
        let limit = i64::from(q.limit);
        let rows = self.query(
            Q::QueryRuns,
            &[&q.pipeline, &status, &q.before, &limit],
            &|| "postgres: could not list runs".to_string(),
        )?;
        Ok(listing(rows.iter().map(super::row_to_run).collect()).runs)
    }

    pub(super) fn read_resume_link(&self, run_id: &str) -> Result<Option<String>> {
        let rows = self.query(Q::ResumedFrom, &[&run_id], &|| {
            format!("postgres: could not read what run {run_id} resumes")
        })?;
        let row = rows.first().ok_or_else(|| no_run(run_id))?;
        row.try_get(0).map_err(|e| {
            Error::backend(format!(
                "postgres: what run {run_id:?} resumes cannot be read: {e}"
            ))
        })
    }

    pub(super) fn read_outputs(&self, run_id: &str) -> Result<BTreeMap<String, StoredOutput>> {
        let rows = self.query(Q::Outputs, &[&run_id], &|| {
            format!("postgres: could not read the outputs of run {run_id}")
        })?;
        if rows.is_empty() {
            return Err(no_run(run_id));
        }
        let bad = |e: tokio_postgres::Error| {
            Error::backend(format!(
                "postgres: the stored outputs of run {run_id:?} cannot be read: {e}"
            ))
        };
        let mut out = BTreeMap::new();
        for row in rows {
            let Some(name) = row.try_get::<_, Option<String>>(0).map_err(bad)? else {
                continue; // the run has no output (the join's empty side)
            };
            let size: i64 = row.try_get(1).map_err(bad)?;
            let data: Option<Vec<u8>> = row.try_get(2).map_err(bad)?;
            let output = match data {
                Some(bytes) => StoredOutput::Stored(bytes),
                None => StoredOutput::NotStored(u64::try_from(size).unwrap_or(0)),
            };
            out.insert(name, output);
        }
        Ok(out)
    }

    pub(super) fn recover_stale(&self, stale_after: Duration) -> Result<u64> {
        let now = now_seconds();
        let rows = self.query(Q::Running, &[], &|| {
            "postgres: could not list the running runs to recover".to_string()
        })?;
        let mut recovered = 0;
        for row in &rows {
            // A row that cannot be read is left for a person to look at.
            let Ok(Some(run_id)) = row.try_get::<_, Option<String>>(0) else {
                continue;
            };
            let Ok(start) = number_col(row, 1) else {
                continue;
            };
            let lease = stored_lease(number_col(row, 2), number_col(row, 3));
            if !lease_is_stale(lease, start.unwrap_or(0.0), stale_after, now) {
                continue;
            }
            if let Outcome::Recovered = self.recover_run(&run_id, stale_after)? {
                recovered += 1;
            }
        }
        Ok(recovered)
    }

    /// Finishes run `run_id` if it is still RUNNING and stale, in one
    /// transaction that holds its row: as `save_run` would with FAILED, its
    /// RUNNING tasks FAILED and PENDING ones SKIPPED ("owner lost").
    fn recover_run(&self, run_id: &str, stale_after: Duration) -> Result<Outcome> {
        let c = self.pool.connector();
        self.pool.run(
            &|| format!("postgres: could not recover run {run_id}"),
            |conn| {
                let lock_run = statement(c, conn, Q::LockRun)?;
                let lock_lease = statement(c, conn, Q::LockLease)?;
                let owner_lost = statement(c, conn, Q::OwnerLost)?;
                let PgConn {
                    client,
                    rt,
                    details,
                    save,
                    ..
                } = conn;
                c.wait(rt, async {
                    let tx = client.transaction().await?;
                    if tx.query_opt(&lock_run, &[&run_id]).await?.is_none() {
                        return Ok(Outcome::Left);
                    }
                    // Locked, so a renewal in flight is either seen here or
                    // waits for this transaction's end.
                    let lease = match tx.query_opt(&lock_lease, &[&run_id]).await? {
                        Some(r) => stored_lease(number_col(&r, 0), number_col(&r, 1)),
                        None => None,
                    };
                    let Some(row) = tx.query_opt(&*details, &[&run_id]).await? else {
                        return Ok(Outcome::Left);
                    };
                    let Ok((mut run, stored)) = decode_details(&row, run_id) else {
                        return Ok(Outcome::Left);
                    };
                    let now = now_seconds();
                    if run.status != RunStatus::Running
                        || !lease_is_stale(lease, run.start_time, stale_after, now)
                    {
                        return Ok(Outcome::Left);
                    }
                    let lost = LostRows::new(finish_lost_tasks(&mut run, stored, now));
                    tx.execute(&owner_lost, &lost.params(&run_id)).await?;
                    run.status = RunStatus::Failed;
                    run.end_time = Some(now);
                    let tasks = run.tasks_json();
                    tx.execute(
                        &*save,
                        &[
                            &run.run_id,
                            &run.pipeline_name,
                            &run.start_time,
                            &run.end_time,
                            &run.status.as_str(),
                            &tasks,
                        ],
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(Outcome::Recovered)
                })
            },
        )
    }

    pub(super) fn purge_finished(
        &self,
        before: f64,
        pipeline: Option<&str>,
        dry_run: bool,
        on_batch: &mut dyn FnMut(Duration),
    ) -> Result<u64> {
        let what = || format!("postgres: could not purge the runs started before {before}");
        let params: Vec<&(dyn ToSql + Sync)> = match &pipeline {
            Some(p) => vec![&before, p],
            None => vec![&before],
        };
        if dry_run {
            let q = match pipeline {
                Some(_) => Q::CountPipeline,
                None => Q::CountAll,
            };
            let rows = self.query(q, &params, &what)?;
            let n: i64 = rows
                .first()
                .and_then(|r| r.try_get(0).ok())
                .unwrap_or_default();
            return Ok(u64::try_from(n).unwrap_or(0));
        }
        let q = match pipeline {
            Some(_) => Q::PurgePipeline,
            None => Q::PurgeAll,
        };
        let mut total = 0;
        loop {
            let t = Instant::now();
            let n = self.execute(q, &params, &what)?;
            on_batch(t.elapsed());
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    /// As `purge` (not a dry run), also giving how long each batch
    /// transaction took, as the client saw it (round trip included). For
    /// benchmarks and tuning.
    #[doc(hidden)]
    pub fn purge_timed(&self, before: f64, pipeline: Option<&str>) -> Result<(u64, Vec<Duration>)> {
        let mut times = Vec::new();
        let n = self.purge_finished(before, pipeline, false, &mut |t| times.push(t))?;
        Ok((n, times))
    }
}

/// The live rows a recovery writes, by column.
struct LostRows {
    tasks: Vec<String>,
    statuses: Vec<&'static str>,
    attempts: Vec<i32>,
    starts: Vec<Option<f64>>,
    ends: Vec<Option<f64>>,
    errors: Vec<Option<String>>,
}

impl LostRows {
    fn new(details: Vec<TaskDetail>) -> Self {
        LostRows {
            statuses: details.iter().map(|d| d.status.as_str()).collect(),
            attempts: details
                .iter()
                .map(|d| i32::try_from(d.attempts).unwrap_or(i32::MAX))
                .collect(),
            starts: details.iter().map(|d| d.start_time).collect(),
            ends: details.iter().map(|d| d.end_time).collect(),
            errors: details.iter().map(|d| d.error.clone()).collect(),
            tasks: details.into_iter().map(|d| d.name).collect(),
        }
    }

    fn params<'a>(&'a self, run_id: &'a &str) -> [&'a (dyn ToSql + Sync); 7] {
        [
            run_id,
            &self.tasks,
            &self.statuses,
            &self.attempts,
            &self.starts,
            &self.ends,
            &self.errors,
        ]
    }
}
