//! Durable history on MySQL / MariaDB: task outputs (`<table>_task_output`),
//! leases and resume links (`<table>_run_meta`), recovery of runs whose
//! owner is gone, and purging finished runs in short batches.
//!
//! An output is written in the transaction that records its task's final
//! status. Recovery takes each run in a transaction of its own that locks
//! the run's row (`SELECT ... FOR UPDATE`) and checks it is still RUNNING
//! and stale: processes recovering at once each take a run once (the
//! second waits for the first, then finds it finished).

use super::{
    number_col, row_to_detail, row_to_run, text_col, MyConnector, MySqlBackend, NO_PARENT_ROW,
    TABLE_EXISTS,
};
use crate::backend::ident::{
    dag_table_name, detail_table_name, live_table_name, output_table_name, run_dag_table_name,
    run_meta_table_name,
};
use crate::backend::lease_is_stale;
use crate::backend::lost::{finish_lost_tasks, stored_lease};
use crate::backend::rows::listing;
use crate::error::{Error, Result};
use crate::history::{DagTexts, RunDag, RunQuery};
use crate::model::PipelineRun;
use crate::model::{now_seconds, OutputRef, RunStatus, StoredOutput, TaskUpdate};
use mysql::prelude::Queryable;
use mysql::{Conn, Row, TxOpts, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Runs deleted per purge transaction: short enough that no transaction
/// holds its locks for long, large enough that a big purge is not made of
/// round trips.
const PURGE_BATCH: usize = 500;

/// The fixed statements of the durable history, for one run table.
pub(super) struct HistorySql {
    lease: String,
    link: String,
    resumed_from: String,
    outputs: String,
    /// RUNNING runs with their lease, to find the stale ones.
    running: String,
    /// Locks a RUNNING run's row and its lease, reading the lease.
    lock_run: String,
    /// A batch of finished runs to purge, locked: the filter's parameters.
    doomed_all: String,
    doomed_pipeline: String,
    count_all: String,
    count_pipeline: String,
    save_dag: String,
    save_run_dag: String,
    get_dag: String,
    /// Filtered runs: `{select} WHERE ` + the filters (see `query_runs_sql`).
    select: String,
}

impl HistorySql {
    pub(super) fn new(table: &str, select: &str) -> Self {
        let t = format!("`{table}`");
        let dag = format!("`{}`", dag_table_name(table));
        let run_dag = format!("`{}`", run_dag_table_name(table));
        let meta = format!("`{}`", run_meta_table_name(table));
        let output = format!("`{}`", output_table_name(table));
        let finished = "status IN ('SUCCESS', 'FAILED') AND start_time < ?";
        let by_pipeline = " AND pipeline_name = ?";
        let doomed = |filter: &str| {
            format!(
                "SELECT run_id FROM {t} WHERE {finished}{filter} LIMIT {PURGE_BATCH} FOR UPDATE"
            )
        };
        let count = |filter: &str| format!("SELECT COUNT(*) FROM {t} WHERE {finished}{filter}");
        HistorySql {
            // Selected from the run table: an unknown run inserts nothing.
            lease: format!(
                "INSERT INTO {meta} (run_id, lease_renewed_at, lease_interval) \
                 SELECT run_id, ?, ? FROM {t} WHERE run_id = ? ON DUPLICATE KEY UPDATE \
                 lease_renewed_at = VALUES(lease_renewed_at), \
                 lease_interval = VALUES(lease_interval)"
            ),
            link: format!(
                "INSERT INTO {meta} (run_id, resumed_from) \
                 SELECT run_id, ? FROM {t} WHERE run_id = ? ON DUPLICATE KEY UPDATE \
                 resumed_from = VALUES(resumed_from)"
            ),
            resumed_from: format!(
                "SELECT r.run_id, m.resumed_from FROM {t} r \
                 LEFT JOIN {meta} m ON m.run_id = r.run_id WHERE r.run_id = ?"
            ),
            outputs: format!(
                "SELECT o.task_name, o.size, o.data FROM {t} r \
                 LEFT JOIN {output} o ON o.run_id = r.run_id WHERE r.run_id = ?"
            ),
            running: format!(
                "SELECT r.run_id, r.start_time, m.lease_renewed_at, m.lease_interval \
                 FROM {t} r LEFT JOIN {meta} m ON m.run_id = r.run_id \
                 WHERE r.status = 'RUNNING'"
            ),
            lock_run: format!(
                "SELECT m.lease_renewed_at, m.lease_interval FROM {t} r \
                 LEFT JOIN {meta} m ON m.run_id = r.run_id \
                 WHERE r.run_id = ? AND r.status = 'RUNNING' FOR UPDATE"
            ),
            doomed_all: doomed(""),
            doomed_pipeline: doomed(by_pipeline),
            count_all: count(""),
            count_pipeline: count(by_pipeline),
            save_dag: format!(
                "INSERT IGNORE INTO {dag} (dag_hash, tasks_json, edges_json) VALUES (?, ?, ?)"
            ),
            save_run_dag: format!(
                "INSERT INTO {run_dag} (run_id, dag_hash) VALUES (?, ?) \
                 ON DUPLICATE KEY UPDATE dag_hash = VALUES(dag_hash)"
            ),
            get_dag: format!(
                "SELECT d.tasks_json, d.edges_json FROM {run_dag} r \
                 JOIN {dag} d ON d.dag_hash = r.dag_hash WHERE r.run_id = ?"
            ),
            select: select.to_string(),
        }
    }
}

/// Creates the durable history's tables if missing (see `create_schema`).
/// No foreign keys: their rows are written only for runs found in the run
/// table, and deleted with them by `purge`.
pub(super) fn create_tables(
    conn: &mut Conn,
    table: &str,
    created: &mut Vec<String>,
) -> std::result::Result<(), mysql::Error> {
    let meta = run_meta_table_name(table);
    let output = output_table_name(table);
    let dag = dag_table_name(table);
    let run_dag = run_dag_table_name(table);
    for (name, columns) in [
        (
            &dag,
            "dag_hash VARCHAR(64) NOT NULL PRIMARY KEY,
             tasks_json LONGTEXT NOT NULL,
             edges_json LONGTEXT NOT NULL",
        ),
        (
            &run_dag,
            "run_id VARCHAR(255) NOT NULL PRIMARY KEY,
             dag_hash VARCHAR(64) NOT NULL",
        ),
        (
            &meta,
            "run_id VARCHAR(255) NOT NULL PRIMARY KEY,
             lease_renewed_at DOUBLE NULL,
             lease_interval DOUBLE NULL,
             resumed_from VARCHAR(255) NULL",
        ),
        (
            // Keyed, as the live and detail tables, on the SHA-256 of the
            // task name's bytes, so a name of any length fits the index.
            &output,
            "run_id VARCHAR(255) NOT NULL,
             task_key BINARY(32) NOT NULL,
             task_name LONGBLOB NOT NULL,
             size BIGINT NOT NULL,
             data LONGBLOB NULL,
             PRIMARY KEY (run_id, task_key)",
        ),
    ] {
        if super::table_exists(conn, name)? {
            continue;
        }
        match conn.query_drop(format!("CREATE TABLE `{name}` ({columns}) ENGINE=InnoDB")) {
            Ok(()) => created.push(name.clone()),
            Err(mysql::Error::MySqlError(e)) if e.code == TABLE_EXISTS => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `n` copies of `one` (a placeholder group such as `(?, ?)`), comma-separated.
fn groups(n: usize, one: &str) -> String {
    vec![one; n].join(", ")
}

/// The output rows of `updates` (the ones that carry an output), as the
/// parameters of [`write_live_and_outputs`].
pub(super) fn output_rows(updates: &[&TaskUpdate<'_>]) -> Vec<[Value; 4]> {
    updates
        .iter()
        .filter_map(|u| {
            let (size, data) = match u.output? {
                OutputRef::Stored(b) => (b.len() as u64, Value::Bytes(b.to_vec())),
                OutputRef::NotStored(n) => (n, Value::NULL),
            };
            let size = i64::try_from(size).unwrap_or(i64::MAX);
            Some([u.task.into(), u.task.into(), size.into(), data])
        })
        .collect()
}

/// Upserts live rows (`live_sql` with `params`, as `upsert_live` builds
/// them) and the output rows `outputs` in one transaction. `false` (and
/// nothing written) when run `run_id` does not exist.
pub(super) fn write_live_and_outputs(
    conn: &mut Conn,
    c: &MyConnector,
    live_sql: &str,
    params: Vec<Value>,
    run_id: &str,
    outputs: &[[Value; 4]],
) -> std::result::Result<bool, mysql::Error> {
    let mut tx = conn.start_transaction(TxOpts::default())?;
    match tx.exec_drop(live_sql, params) {
        // The foreign key refused it: no such run (dropping `tx` rolls back).
        Err(mysql::Error::MySqlError(e)) if e.code == NO_PARENT_ROW => return Ok(false),
        r => r?,
    }
    if !c.live_fk && tx.affected_rows() == 0 {
        let one: Option<i64> = tx.exec_first(&c.sql.exists, (run_id,))?;
        if one.is_none() {
            return Ok(false);
        }
    }
    let output = output_table_name(&c.table);
    let sql = format!(
        "INSERT INTO `{output}` (run_id, task_key, task_name, size, data) VALUES {} \
         ON DUPLICATE KEY UPDATE task_name = VALUES(task_name), size = VALUES(size), \
         data = VALUES(data)",
        groups(outputs.len(), "(?, UNHEX(SHA2(?, 256)), ?, ?, ?)")
    );
    let mut values: Vec<Value> = Vec::with_capacity(outputs.len() * 5);
    for row in outputs {
        values.push(run_id.into());
        values.extend(row.iter().cloned());
    }
    tx.exec_drop(sql, values)?;
    tx.commit()?;
    Ok(true)
}

fn no_run(run_id: &str) -> Error {
    Error::not_found(format!("mysql: no run with id {run_id:?}"))
}

/// What became of one stale run.
enum Outcome {
    Recovered,
    /// Finished, recovered or renewed meanwhile, or unreadable: left as it is.
    Left,
}

impl MySqlBackend {
    /// Runs an upsert into the run metadata table for run `run_id`;
    /// NotFound when there is no such run.
    fn upsert_meta(
        &self,
        sql: &str,
        params: Vec<Value>,
        run_id: &str,
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        let c = self.pool.connector();
        let found = self.pool.run(what, |conn| {
            let r = (|| {
                conn.exec_drop(sql, params.clone())?;
                // 0 rows: no such run, or a value written again unchanged.
                if conn.affected_rows() > 0 {
                    return Ok(true);
                }
                let one: Option<i64> = conn.exec_first(&c.sql.exists, (run_id,))?;
                Ok(one.is_some())
            })();
            r.map_err(|e| c.classify(e))
        })?;
        if !found {
            return Err(no_run(run_id));
        }
        Ok(())
    }

    pub(super) fn write_lease(&self, run_id: &str, at: f64, interval: Duration) -> Result<()> {
        let h = &self.pool.connector().sql.history;
        let params = vec![at.into(), interval.as_secs_f64().into(), run_id.into()];
        self.upsert_meta(&h.lease, params, run_id, &|| {
            format!("mysql: could not renew the lease of run {run_id}")
        })
    }

    pub(super) fn write_resume_link(&self, run_id: &str, original: &str) -> Result<()> {
        let h = &self.pool.connector().sql.history;
        let params = vec![original.into(), run_id.into()];
        self.upsert_meta(&h.link, params, run_id, &|| {
            format!("mysql: could not record that run {run_id} resumes run {original}")
        })
    }

    fn rows(&self, sql: &str, params: Vec<Value>, what: &dyn Fn() -> String) -> Result<Vec<Row>> {
        let c = self.pool.connector();
        self.pool.run(what, |conn| {
            conn.exec(sql, params.clone()).map_err(|e| c.classify(e))
        })
    }

    pub(super) fn write_dag(&self, run_id: &str, dag: &DagTexts) -> Result<()> {
        let c = self.pool.connector();
        let h = &c.sql.history;
        let (hash, tasks, edges) = (&dag.key, &dag.tasks_json, &dag.edges_json);
        self.pool.run(
            &|| format!("mysql: could not store the DAG of run {run_id}"),
            |conn| {
                let mut tx = conn
                    .start_transaction(TxOpts::default())
                    .map_err(|e| c.classify(e))?;
                tx.exec_drop(&h.save_dag, (&hash, &tasks, &edges))
                    .and_then(|()| tx.exec_drop(&h.save_run_dag, (run_id, &hash)))
                    .map_err(|e| c.classify(e))?;
                tx.commit().map_err(|e| c.classify(e))
            },
        )
    }

    pub(super) fn read_dag(&self, run_id: &str) -> Result<Option<RunDag>> {
        let h = &self.pool.connector().sql.history;
        let rows = self.rows(&h.get_dag, vec![run_id.into()], &|| {
            format!("mysql: could not read the DAG of run {run_id}")
        })?;
        Ok(rows.into_iter().next().and_then(|mut r| {
            let tasks: String = r.take_opt(0)?.ok()?;
            let edges: String = r.take_opt(1)?.ok()?;
            RunDag::from_json(&tasks, &edges)
        }))
    }

    pub(super) fn query_runs_sql(&self, q: &RunQuery) -> Result<Vec<PipelineRun>> {
        let h = &self.pool.connector().sql.history;
        let mut conds: Vec<&str> = vec!["r.start_time IS NOT NULL"];
        let mut params: Vec<Value> = Vec::new();
        if let Some(p) = &q.pipeline {
            conds.push("r.pipeline_name = ?");
            params.push(p.as_str().into());
        }
        if let Some(s) = q.status {
            conds.push("r.status = ?");
            params.push(s.as_str().into());
        }
        if let Some(b) = q.before {
            conds.push("r.start_time < ?");
            params.push(b.into());
        }
        params.push(q.limit.into());
        let sql = format!(
            "{} WHERE {} ORDER BY r.start_time DESC LIMIT ?",
            h.select,
            conds.join(" AND ")
        );
        let rows = self.rows(&sql, params, &|| "mysql: could not list runs".to_string())?;
        Ok(listing(rows.into_iter().map(row_to_run).collect()).runs)
    }

    pub(super) fn read_resume_link(&self, run_id: &str) -> Result<Option<String>> {
        let h = &self.pool.connector().sql.history;
        let rows = self.rows(&h.resumed_from, vec![run_id.into()], &|| {
            format!("mysql: could not read what run {run_id} resumes")
        })?;
        let mut row = rows.into_iter().next().ok_or_else(|| no_run(run_id))?;
        let v = row.take::<Value, usize>(1).unwrap_or(Value::NULL);
        text_col(v).map_err(|why| {
            Error::backend(format!(
                "mysql: what run {run_id:?} resumes cannot be read: {why}"
            ))
        })
    }

    pub(super) fn read_outputs(&self, run_id: &str) -> Result<BTreeMap<String, StoredOutput>> {
        let h = &self.pool.connector().sql.history;
        let rows = self.rows(&h.outputs, vec![run_id.into()], &|| {
            format!("mysql: could not read the outputs of run {run_id}")
        })?;
        if rows.is_empty() {
            return Err(no_run(run_id));
        }
        let bad = |why: String| {
            Error::backend(format!(
                "mysql: the stored outputs of run {run_id:?} cannot be read: {why}"
            ))
        };
        let mut out = BTreeMap::new();
        for mut row in rows {
            let mut col = |i: usize| row.take::<Value, usize>(i).unwrap_or(Value::NULL);
            let Some(name) = text_col(col(0)).map_err(bad)? else {
                continue; // the run has no output (the join's empty side)
            };
            let size = match col(1) {
                Value::Int(i) => u64::try_from(i).unwrap_or(0),
                Value::UInt(u) => u,
                other => return Err(bad(format!("size is {}", other.as_sql(true)))),
            };
            let output = match col(2) {
                Value::Bytes(b) => StoredOutput::Stored(b),
                Value::NULL => StoredOutput::NotStored(size),
                other => return Err(bad(format!("data is {}", other.as_sql(true)))),
            };
            out.insert(name, output);
        }
        Ok(out)
    }

    pub(super) fn recover_stale(&self, stale_after: Duration) -> Result<u64> {
        let now = now_seconds();
        let h = &self.pool.connector().sql.history;
        let rows = self.rows(&h.running, Vec::new(), &|| {
            "mysql: could not list the running runs to recover".to_string()
        })?;
        let mut recovered = 0;
        for mut row in rows {
            let mut col = |i: usize| row.take::<Value, usize>(i).unwrap_or(Value::NULL);
            // A row that cannot be read is left for a person to look at.
            let Ok(Some(run_id)) = text_col(col(0)) else {
                continue;
            };
            let Ok(start) = number_col(col(1)) else {
                continue;
            };
            let lease = stored_lease(number_col(col(2)), number_col(col(3)));
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
        let h = &c.sql.history;
        self.pool.run(
            &|| format!("mysql: could not recover run {run_id}"),
            |conn| {
                let r = (|| {
                    let mut tx = conn.start_transaction(TxOpts::default())?;
                    // Locks the run's row and its lease's: another recovery
                    // waits here, then finds the run finished; a renewal in
                    // flight is seen here or waits for this transaction.
                    let Some(mut locked) = tx.exec_first::<Row, _, _>(&h.lock_run, (run_id,))?
                    else {
                        return Ok(Outcome::Left);
                    };
                    let mut col = |i: usize| locked.take::<Value, usize>(i).unwrap_or(Value::NULL);
                    let lease = stored_lease(number_col(col(0)), number_col(col(1)));
                    let Some(row) = tx.exec_first::<Row, _, _>(&c.sql.get, (run_id,))? else {
                        return Ok(Outcome::Left);
                    };
                    let Ok(mut run) = row_to_run(row).into_run("mysql") else {
                        return Ok(Outcome::Left);
                    };
                    let now = now_seconds();
                    if run.status != RunStatus::Running
                        || !lease_is_stale(lease, run.start_time, stale_after, now)
                    {
                        return Ok(Outcome::Left);
                    }
                    let details: Vec<Row> = tx.exec(&c.sql.details, (run_id, run_id))?;
                    let Ok(stored) = details
                        .into_iter()
                        .map(row_to_detail)
                        .collect::<std::result::Result<Vec<_>, String>>()
                    else {
                        return Ok(Outcome::Left);
                    };
                    let changed = finish_lost_tasks(&mut run, stored, now);
                    if !changed.is_empty() {
                        let live = live_table_name(&c.table);
                        let sql = format!(
                            "INSERT INTO `{live}` \
                             (run_id, task_name, status, attempts, start_time, end_time, error) \
                             VALUES {} ON DUPLICATE KEY UPDATE status = VALUES(status), \
                             attempts = VALUES(attempts), start_time = VALUES(start_time), \
                             end_time = VALUES(end_time), error = VALUES(error)",
                            groups(changed.len(), "(?, ?, ?, ?, ?, ?, ?)")
                        );
                        let mut params: Vec<Value> = Vec::with_capacity(changed.len() * 7);
                        for d in &changed {
                            params.extend([
                                run_id.into(),
                                d.name.as_str().into(),
                                d.status.as_str().into(),
                                d.attempts.into(),
                                d.start_time.into(),
                                d.end_time.into(),
                                d.error.as_deref().into(),
                            ]);
                        }
                        tx.exec_drop(sql, params)?;
                    }
                    run.status = RunStatus::Failed;
                    run.end_time = Some(now);
                    // What save_run writes, in this transaction.
                    tx.exec_drop(
                        &c.sql.upsert,
                        (
                            &run.run_id,
                            &run.pipeline_name,
                            run.start_time,
                            run.end_time,
                            run.status.as_str(),
                            run.tasks_json(),
                        ),
                    )?;
                    tx.exec_drop(&c.sql.keep_detail, (run_id,))?;
                    tx.exec_drop(&c.sql.clear, (run_id,))?;
                    tx.commit()?;
                    Ok(Outcome::Recovered)
                })();
                r.map_err(|e| c.classify(e))
            },
        )
    }

    pub(super) fn purge_finished(
        &self,
        before: f64,
        pipeline: Option<&str>,
        dry_run: bool,
    ) -> Result<u64> {
        let c = self.pool.connector();
        let h = &c.sql.history;
        let what = || format!("mysql: could not purge the runs started before {before}");
        let mut params: Vec<Value> = vec![before.into()];
        if let Some(p) = pipeline {
            params.push(p.into());
        }
        if dry_run {
            let sql = match pipeline {
                Some(_) => &h.count_pipeline,
                None => &h.count_all,
            };
            let n: Option<i64> = self.pool.run(&what, |conn| {
                conn.exec_first(sql, params.clone())
                    .map_err(|e| c.classify(e))
            })?;
            return Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or(0)));
        }
        let doomed = match pipeline {
            Some(_) => &h.doomed_pipeline,
            None => &h.doomed_all,
        };
        // The live table first: it may have a foreign key to the run table.
        let tables = [
            live_table_name(&c.table),
            detail_table_name(&c.table),
            output_table_name(&c.table),
            run_meta_table_name(&c.table),
            run_dag_table_name(&c.table),
            c.table.clone(),
        ];
        let mut total = 0;
        loop {
            // One short transaction per batch: its run rows are locked (a
            // run saved meanwhile is re-read) and deleted with every row of
            // ours that belongs to them.
            let n = self.pool.run(&what, |conn| {
                let r = (|| {
                    let mut tx = conn.start_transaction(TxOpts::default())?;
                    let ids: Vec<Value> = tx.exec(doomed, params.clone())?;
                    if ids.is_empty() {
                        return Ok(0);
                    }
                    let list = groups(ids.len(), "?");
                    for table in &tables {
                        tx.exec_drop(
                            format!("DELETE FROM `{table}` WHERE run_id IN ({list})"),
                            ids.clone(),
                        )?;
                    }
                    tx.commit()?;
                    Ok(ids.len() as u64)
                })();
                r.map_err(|e| c.classify(e))
            })?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }
}
