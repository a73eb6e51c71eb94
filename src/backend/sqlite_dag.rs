//! SQLite: the DAG each run ran (one row per distinct DAG, one small row
//! per run) and filtered, paged run listings for the web UI.

use super::rows::{listing, StoredRun};
use super::sqlite::{row_to_run, sql_err, SqliteBackend, SELECT_RUN};
use crate::error::Result;
use crate::history::{DagTexts, RunDag, RunQuery};
use crate::model::PipelineRun;
use rusqlite::types::Value;
use rusqlite::OptionalExtension;

/// The DAG tables beside dremioframe's `runs`.
pub(super) const DAG_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dorch_dag (
    dag_hash TEXT NOT NULL PRIMARY KEY,
    tasks_json TEXT NOT NULL,
    edges_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dorch_run_dag (
    run_id TEXT NOT NULL PRIMARY KEY,
    dag_hash TEXT NOT NULL
) WITHOUT ROWID;
";

/// The key of the last DAG this backend stored: a pipeline run again
/// stores the same DAG, whose row then costs a lookup instead of binding
/// its JSON texts again.
pub(super) type DagMemo = Option<String>;

impl SqliteBackend {
    pub(super) fn save_dag_impl(&self, run_id: &str, dag: &DagTexts) -> Result<()> {
        let remembered = {
            let memo = self.dag_memo.lock().unwrap_or_else(|p| p.into_inner());
            memo.as_deref() == Some(dag.key.as_str())
        };
        let hash = &dag.key;
        let mut conn = self.lock();
        let err = sql_err("save_dag");
        let tx = conn.transaction().map_err(&err)?;
        // The run's row first: its write takes the write lock, so the check
        // below cannot be outdated by another writer before this commits.
        tx.prepare_cached(
            "INSERT INTO dorch_run_dag (run_id, dag_hash) VALUES (?1, ?2) \
             ON CONFLICT (run_id) DO UPDATE SET dag_hash = excluded.dag_hash",
        )
        .and_then(|mut st| st.execute((run_id, hash)))
        .map_err(&err)?;
        // Remembered, but the row may have gone since (deleted by hand).
        let stored = remembered
            && tx
                .prepare_cached("SELECT 1 FROM dorch_dag WHERE dag_hash = ?1")
                .and_then(|mut st| st.exists([hash]))
                .map_err(&err)?;
        if !stored {
            tx.prepare_cached(
                "INSERT INTO dorch_dag (dag_hash, tasks_json, edges_json) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (dag_hash) DO NOTHING",
            )
            .and_then(|mut st| st.execute((hash, &dag.tasks_json, &dag.edges_json)))
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        if !remembered {
            *self.dag_memo.lock().unwrap_or_else(|p| p.into_inner()) = Some(hash.clone());
        }
        Ok(())
    }

    pub(super) fn get_run_dag_impl(&self, run_id: &str) -> Result<Option<RunDag>> {
        let conn = self.lock();
        let row: Option<(String, String)> = conn
            .prepare_cached(
                "SELECT d.tasks_json, d.edges_json FROM dorch_run_dag r \
                 JOIN dorch_dag d ON d.dag_hash = r.dag_hash WHERE r.run_id = ?1",
            )
            .and_then(|mut st| {
                st.query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(sql_err("get_run_dag"))?;
        Ok(row.and_then(|(t, e)| RunDag::from_json(&t, &e)))
    }

    pub(super) fn query_runs_impl(&self, query: &RunQuery) -> Result<Vec<PipelineRun>> {
        let mut conds: Vec<&str> = vec!["typeof(r.start_time) IN ('real', 'integer')"];
        let mut params: Vec<Value> = Vec::new();
        if let Some(p) = &query.pipeline {
            params.push(Value::Text(p.clone()));
            conds.push("r.pipeline_name = ?");
        }
        if let Some(s) = query.status {
            params.push(Value::Text(s.as_str().to_string()));
            conds.push("r.status = ?");
        }
        if let Some(b) = query.before {
            params.push(Value::Real(b));
            conds.push("r.start_time < ?");
        }
        params.push(Value::Integer(i64::from(query.limit)));
        let sql = format!(
            "{SELECT_RUN} WHERE {} ORDER BY r.start_time DESC LIMIT ?",
            conds.join(" AND ")
        );
        let conn = self.lock();
        let raws: Vec<StoredRun> = conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_map(rusqlite::params_from_iter(params), row_to_run)?
                    .collect()
            })
            .map_err(sql_err("query_runs"))?;
        Ok(listing(raws).runs)
    }
}
