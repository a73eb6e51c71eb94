//! SQLite backend in dremioframe's layout (table `runs`), plus tables of our
//! own: `dorch_task_state` holds live per-task state (status and detail) so
//! that a status update costs the same at any run size, and
//! `dorch_task_detail` keeps each task's detail (attempts, times, error)
//! once `save_run` has written the run's statuses into `runs`. Durable
//! history (leases, outputs, recovery, purge) is in `sqlite_history` (see
//! docs/storage.md).

use super::rows::{listing, merge_details, text_not_number, Col, StoredDetail, StoredRun};
use super::sqlite_dag::{DagMemo, DAG_SCHEMA};
use super::sqlite_history::HISTORY_SCHEMA;
use super::sqlite_schedules::SCHEDULE_SCHEMA;
use super::{Backend, ScheduleRecord};
use crate::error::{Error, Result};
use crate::history::{RunDag, RunQuery};
use crate::model::{PipelineRun, RunListing, StoredOutput, TaskDetail, TaskStatus, TaskUpdate};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The file dremioframe's `SQLiteBackend` uses when none is named.
pub const DEFAULT_SQLITE_PATH: &str = "dremioframe_orchestration.db";

/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    pipeline_name TEXT,
    start_time REAL,
    end_time REAL,
    status TEXT,
    tasks TEXT
);
CREATE INDEX IF NOT EXISTS idx_runs_start_time ON runs (start_time DESC);
CREATE INDEX IF NOT EXISTS idx_runs_pipeline_start_time ON runs (pipeline_name, start_time DESC);
CREATE TABLE IF NOT EXISTS dorch_task_state (
    run_id TEXT NOT NULL,
    task_name TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER,
    start_time REAL,
    end_time REAL,
    error TEXT,
    PRIMARY KEY (run_id, task_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dorch_task_detail (
    run_id TEXT NOT NULL,
    task_name TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    start_time REAL,
    end_time REAL,
    error TEXT,
    PRIMARY KEY (run_id, task_name)
) WITHOUT ROWID;
";

/// The detail columns of the live table, which a live table created by an
/// earlier version lacks (added when the file is opened).
const DETAIL_COLUMNS: [(&str, &str); 4] = [
    ("attempts", "INTEGER"),
    ("start_time", "REAL"),
    ("end_time", "REAL"),
    ("error", "TEXT"),
];

/// One statement reads a run and its live task rows (as a JSON object), so
/// every read is one consistent snapshot.
pub(super) const SELECT_RUN: &str =
    "SELECT r.run_id, r.pipeline_name, r.start_time, r.end_time, r.status, \
     r.tasks, (SELECT json_group_object(l.task_name, l.status) FROM dorch_task_state l \
     WHERE l.run_id = r.run_id) FROM runs r";

/// Runs kept in one SQLite file, readable and writable by dremioframe too.
///
/// The file is opened in WAL mode with `synchronous=NORMAL`: every status
/// change is a committed transaction that other processes see at once and
/// that survives a crash of this process; only an OS crash or power loss can
/// drop the last few commits. Several processes may write one file at once.
pub struct SqliteBackend {
    conn: Mutex<Connection>,
    path: PathBuf,
    pub(super) dag_memo: Mutex<DagMemo>,
}

pub(super) fn sql_err(what: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::backend(format!("sqlite: {what}: {e}"))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file at `path`. An existing
    /// dremioframe file is used as it is; our indexes and live-state table
    /// are added beside its `runs` table.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if path.as_os_str().is_empty() {
            return Err(Error::invalid("sqlite: the database path is empty"));
        }
        let what = format!("open {}", path.display());
        let conn = Connection::open(&path).map_err(sql_err(&what))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_err(&what))?;
        // Switching to WAL needs a moment of exclusive access, which the busy
        // handler does not always cover when many processes open a new file.
        let mut attempt = 0;
        loop {
            let r = conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
                .and_then(|_| conn.execute_batch("PRAGMA synchronous=NORMAL;"))
                .and_then(|_| conn.execute_batch(SCHEMA))
                .and_then(|_| conn.execute_batch(HISTORY_SCHEMA))
                .and_then(|_| conn.execute_batch(SCHEDULE_SCHEMA))
                .and_then(|_| conn.execute_batch(DAG_SCHEMA))
                .and_then(|_| add_detail_columns(&conn));
            match r {
                Ok(()) => break,
                Err(e) if is_busy(&e) && attempt < 200 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(sql_err(&what)(e)),
            }
        }
        Ok(SqliteBackend {
            conn: Mutex::new(conn),
            path,
            dag_memo: Mutex::new(None),
        })
    }

    /// Opens dremioframe's default file, `dremioframe_orchestration.db`, in
    /// the current directory.
    pub fn open_default() -> Result<Self> {
        Self::open(DEFAULT_SQLITE_PATH)
    }

    /// The database file, as given to [`SqliteBackend::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // rusqlite leaves the connection usable after a panic in a caller;
        // an open transaction is rolled back when its guard drops.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The detail columns missing from the live table.
fn missing_detail_columns(
    conn: &Connection,
) -> rusqlite::Result<Vec<(&'static str, &'static str)>> {
    let have: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('dorch_task_state')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(DETAIL_COLUMNS
        .into_iter()
        .filter(|(name, _)| !have.iter().any(|h| h.eq_ignore_ascii_case(name)))
        .collect())
}

/// Adds the detail columns to a live table created by an earlier version
/// (whose writers keep working: they name the columns they write). Under
/// the write lock, checked again there, so processes opening the file at
/// once add them once.
fn add_detail_columns(conn: &Connection) -> rusqlite::Result<()> {
    if missing_detail_columns(conn)?.is_empty() {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let added = missing_detail_columns(conn).and_then(|missing| {
        for (name, ty) in missing {
            conn.execute_batch(&format!(
                "ALTER TABLE dorch_task_state ADD COLUMN {name} {ty}"
            ))?;
        }
        Ok(())
    });
    match added {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The run's `tasks` column: the text [`PipelineRun::tasks_json`] makes,
/// written straight from the map instead of through a `serde_json::Map` of
/// copied names (a run saves it twice, at its start and at its end).
pub(super) fn tasks_json(run: &PipelineRun) -> String {
    let mut out = Vec::with_capacity(2 + run.tasks.len() * 24);
    out.push(b'{');
    for (i, (name, status)) in run.tasks.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing strings into a Vec cannot fail; serde_json escapes them
        // as the Map's text does.
        let _ = serde_json::to_writer(&mut out, name.as_str());
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, status.as_str());
    }
    out.push(b'}');
    String::from_utf8(out).unwrap_or_else(|_| run.tasks_json())
}

/// Reads a row column by column, whatever each value's type: SQLite lets
/// any column of a row written by another tool hold any type.
pub(super) fn row_to_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRun> {
    Ok(StoredRun {
        run_id: text_col(row.get_ref(0)?),
        pipeline_name: text_col(row.get_ref(1)?),
        start_time: number_col(row.get_ref(2)?),
        end_time: number_col(row.get_ref(3)?),
        status: text_col(row.get_ref(4)?),
        tasks: text_col(row.get_ref(5)?),
        live: text_col(row.get_ref(6)?),
    })
}

fn text_col(v: ValueRef<'_>) -> Col<String> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(|s| Some(s.to_string()))
            .map_err(|_| "text that is not valid UTF-8".to_string()),
        ValueRef::Integer(i) => Ok(Some(i.to_string())),
        ValueRef::Real(f) => Ok(Some(f.to_string())),
        ValueRef::Blob(b) => Err(format!(
            "a BLOB of {} bytes where text was expected",
            b.len()
        )),
    }
}

/// A text value in a REAL column is one SQLite could not read as a number
/// when it was stored: it stays unreadable.
fn number_col(v: ValueRef<'_>) -> Col<f64> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Real(f) => Ok(Some(f)),
        ValueRef::Integer(i) => Ok(Some(i as f64)),
        ValueRef::Text(t) => Err(text_not_number(&String::from_utf8_lossy(t))),
        ValueRef::Blob(b) => Err(format!(
            "a BLOB of {} bytes where a number was expected",
            b.len()
        )),
    }
}

/// Upserts one live task row; 0 rows changed means there is no such run
/// (the EXISTS guard keeps rows for unknown runs out in the same statement).
fn upsert_live(
    conn: &Connection,
    run_id: &str,
    task_name: &str,
    status: TaskStatus,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO dorch_task_state (run_id, task_name, status)
         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)
         ON CONFLICT (run_id, task_name) DO UPDATE SET status = excluded.status",
    )?
    .execute(params![run_id, task_name, status.as_str()])
}

/// Upserts one live task row with its detail (see [`upsert_live`]).
pub(super) fn upsert_live_detail(
    conn: &Connection,
    run_id: &str,
    u: &TaskUpdate<'_>,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO dorch_task_state
           (run_id, task_name, status, attempts, start_time, end_time, error)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)
         ON CONFLICT (run_id, task_name) DO UPDATE SET status = excluded.status,
           attempts = excluded.attempts, start_time = excluded.start_time,
           end_time = excluded.end_time, error = excluded.error",
    )?
    .execute(params![
        run_id,
        u.task,
        u.status.as_str(),
        u.attempts,
        u.start_time,
        u.end_time,
        u.error
    ])
}

/// Upserts two live task rows with their detail in one statement (one
/// atomic autocommit transaction): what a run writes on most task changes,
/// a finished task's final status and the next task's RUNNING. 0 rows
/// changed means there is no such run.
pub(super) fn upsert_live_detail_pair(
    conn: &Connection,
    run_id: &str,
    a: &TaskUpdate<'_>,
    b: &TaskUpdate<'_>,
) -> rusqlite::Result<usize> {
    // Rows are applied in order, so when both are of one task the second wins.
    conn.prepare_cached(
        "INSERT INTO dorch_task_state
           (run_id, task_name, status, attempts, start_time, end_time, error)
         SELECT ?1, column1, column2, column3, column4, column5, column6
         FROM (VALUES (?2, ?3, ?4, ?5, ?6, ?7), (?8, ?9, ?10, ?11, ?12, ?13))
         WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)
         ON CONFLICT (run_id, task_name) DO UPDATE SET status = excluded.status,
           attempts = excluded.attempts, start_time = excluded.start_time,
           end_time = excluded.end_time, error = excluded.error",
    )?
    .execute(params![
        run_id,
        a.task,
        a.status.as_str(),
        a.attempts,
        a.start_time,
        a.end_time,
        a.error,
        b.task,
        b.status.as_str(),
        b.attempts,
        b.start_time,
        b.end_time,
        b.error
    ])
}

/// After the run's record was written with every task status: the live
/// rows' detail moves to the detail table and the live rows go (what
/// `save_run` and recovery do, in their transaction).
pub(super) fn settle_live(conn: &Connection, run_id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO dorch_task_detail
           (run_id, task_name, attempts, start_time, end_time, error)
         SELECT run_id, task_name, attempts, start_time, end_time, error
         FROM dorch_task_state WHERE run_id = ?1 AND attempts IS NOT NULL
         ON CONFLICT (run_id, task_name) DO UPDATE SET attempts = excluded.attempts,
           start_time = excluded.start_time, end_time = excluded.end_time,
           error = excluded.error",
    )?
    .execute([run_id])?;
    conn.prepare_cached("DELETE FROM dorch_task_state WHERE run_id = ?1")?
        .execute([run_id])?;
    Ok(())
}

/// The stored detail of a run's tasks: the detail table's rows, then the
/// live rows that have detail (which win, being newer).
const SELECT_DETAILS: &str = "SELECT task_name, attempts, start_time, end_time, error, 0 AS src \
     FROM dorch_task_detail WHERE run_id = ?1 \
     UNION ALL SELECT task_name, attempts, start_time, end_time, error, 1 AS src \
     FROM dorch_task_state WHERE run_id = ?1 AND attempts IS NOT NULL ORDER BY src";

fn row_to_detail(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredDetail> {
    Ok(StoredDetail {
        name: row.get(0)?,
        attempts: row.get(1)?,
        start_time: row.get(2)?,
        end_time: row.get(3)?,
        error: row.get(4)?,
    })
}

pub(super) fn no_run(run_id: &str) -> Error {
    Error::not_found(format!("sqlite: no run with id {run_id:?}"))
}

impl Backend for SqliteBackend {
    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        let mut conn = self.lock();
        let err = sql_err("save_run");
        // IMMEDIATE takes the write lock up front, so the busy handler (not a
        // failed lock upgrade) deals with other writers.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        tx.prepare_cached(
            "INSERT INTO runs (run_id, pipeline_name, start_time, end_time, status, tasks)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (run_id) DO UPDATE SET pipeline_name = excluded.pipeline_name,
               start_time = excluded.start_time, end_time = excluded.end_time,
               status = excluded.status, tasks = excluded.tasks",
        )
        .and_then(|mut st| {
            st.execute(params![
                run.run_id,
                run.pipeline_name,
                run.start_time,
                run.end_time,
                run.status.as_str(),
                tasks_json(run)
            ])
        })
        .map_err(&err)?;
        settle_live(&tx, &run.run_id).map_err(&err)?;
        tx.commit().map_err(&err)
    }

    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        let conn = self.lock();
        let raw = conn
            .prepare_cached(&format!("{SELECT_RUN} WHERE r.run_id = ?1"))
            .and_then(|mut st| st.query_row([run_id], row_to_run).optional())
            .map_err(sql_err("get_run"))?;
        raw.map(|r| r.into_run("sqlite")).transpose()
    }

    fn update_task_status(&self, run_id: &str, task_name: &str, status: TaskStatus) -> Result<()> {
        let conn = self.lock();
        // One statement, so one atomic autocommit transaction.
        let n =
            upsert_live(&conn, run_id, task_name, status).map_err(sql_err("update_task_status"))?;
        if n == 0 {
            return Err(no_run(run_id));
        }
        Ok(())
    }

    fn update_task_statuses(&self, run_id: &str, changes: &[(&str, TaskStatus)]) -> Result<()> {
        let mut conn = self.lock();
        let err = sql_err("update_task_statuses");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        for &(task, status) in changes {
            if upsert_live(&tx, run_id, task, status).map_err(&err)? == 0 {
                return Err(no_run(run_id)); // dropping `tx` rolls back
            }
        }
        tx.commit().map_err(&err)
    }

    /// One committed transaction, as `update_task_statuses`, with each
    /// task's detail in its live row and the outputs the updates carry.
    fn update_tasks(&self, run_id: &str, updates: &[TaskUpdate<'_>]) -> Result<()> {
        if updates.iter().any(|u| u.output.is_some()) {
            return self.update_tasks_with_outputs(run_id, updates);
        }
        let mut conn = self.lock();
        let err = sql_err("update_tasks");
        // One statement, so one atomic autocommit transaction (a write
        // statement takes the write lock first, under the busy handler).
        let one_statement = match updates {
            [] => return Ok(()),
            [u] => Some(upsert_live_detail(&conn, run_id, u)),
            [a, b] => Some(upsert_live_detail_pair(&conn, run_id, a, b)),
            _ => None,
        };
        if let Some(changed) = one_statement {
            if changed.map_err(&err)? == 0 {
                return Err(no_run(run_id));
            }
            return Ok(());
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        for u in updates {
            if upsert_live_detail(&tx, run_id, u).map_err(&err)? == 0 {
                return Err(no_run(run_id)); // dropping `tx` rolls back
            }
        }
        tx.commit().map_err(&err)
    }

    /// The run and its tasks' detail, read in one transaction (one snapshot).
    fn get_task_details(&self, run_id: &str) -> Result<Vec<TaskDetail>> {
        let mut conn = self.lock();
        let err = sql_err("get_task_details");
        let tx = conn.transaction().map_err(&err)?;
        let raw = tx
            .prepare_cached(&format!("{SELECT_RUN} WHERE r.run_id = ?1"))
            .and_then(|mut st| st.query_row([run_id], row_to_run).optional())
            .map_err(&err)?;
        let run = raw.ok_or_else(|| no_run(run_id))?.into_run("sqlite")?;
        let stored: Vec<StoredDetail> = tx
            .prepare_cached(SELECT_DETAILS)
            .and_then(|mut st| st.query_map([run_id], row_to_detail)?.collect())
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(merge_details(&run, stored))
    }

    fn list_runs(&self, pipeline_name: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        Ok(self.list_runs_report(pipeline_name, limit)?.runs)
    }

    fn renew_lease(&self, run_id: &str, at: f64, interval: Duration) -> Result<()> {
        self.renew_lease_impl(run_id, at, interval)
    }

    /// Each run is recovered in a short transaction of its own, under the
    /// write lock: of several processes recovering at once, one does it.
    fn recover(&self, stale_after: Duration) -> Result<u64> {
        self.recover_impl(stale_after)
    }

    /// Deletes in batches of a few hundred runs, each its own short
    /// transaction, pausing between them so other writers of the file get
    /// the write lock; a purge interrupted by an error keeps the batches
    /// already committed.
    fn purge(&self, before: f64, pipeline: Option<&str>, dry_run: bool) -> Result<u64> {
        self.purge_impl(before, pipeline, dry_run)
    }

    fn get_outputs(&self, run_id: &str) -> Result<BTreeMap<String, StoredOutput>> {
        self.get_outputs_impl(run_id)
    }

    fn link_resume(&self, run_id: &str, original: &str) -> Result<()> {
        self.link_resume_impl(run_id, original)
    }

    fn resumed_from(&self, run_id: &str) -> Result<Option<String>> {
        self.resumed_from_impl(run_id)
    }

    fn claim_fire(&self, schedule: &str, fire_ms: i64, owner: &str) -> Result<bool> {
        self.claim_fire_impl(schedule, fire_ms, owner)
    }

    fn save_schedule(&self, record: &ScheduleRecord) -> Result<()> {
        self.save_schedule_impl(record)
    }

    fn list_schedules(&self) -> Result<Vec<ScheduleRecord>> {
        self.list_schedules_impl()
    }

    fn save_dag(&self, run_id: &str, _pipeline: &str, dag: &RunDag) -> Result<()> {
        self.save_dag_impl(run_id, dag)
    }

    fn get_run_dag(&self, run_id: &str) -> Result<Option<RunDag>> {
        self.get_run_dag_impl(run_id)
    }

    /// One query with bound parameters, served by the `(start_time)` or
    /// `(pipeline_name, start_time)` index.
    fn query_runs(&self, query: &RunQuery) -> Result<Vec<PipelineRun>> {
        self.query_runs_impl(query)
    }

    /// SQLite orders values of different types by type: a `start_time`
    /// holding text (or a BLOB) sorts above every number, so such a row
    /// comes first, newest-first, and is always listed as unreadable; a
    /// NULL one sorts below every number.
    fn list_runs_report(&self, pipeline_name: Option<&str>, limit: u32) -> Result<RunListing> {
        let conn = self.lock();
        let raws: Vec<StoredRun> = match pipeline_name {
            Some(p) => conn
                .prepare_cached(&format!(
                    "{SELECT_RUN} WHERE r.pipeline_name = ?1 ORDER BY r.start_time DESC LIMIT ?2"
                ))
                .and_then(|mut st| st.query_map(params![p, limit], row_to_run)?.collect()),
            None => conn
                .prepare_cached(&format!("{SELECT_RUN} ORDER BY r.start_time DESC LIMIT ?1"))
                .and_then(|mut st| st.query_map(params![limit], row_to_run)?.collect()),
        }
        .map_err(sql_err("list_runs"))?;
        Ok(listing(raws))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunStatus;

    #[test]
    fn tasks_json_is_the_runs_own_text() {
        let mut run = PipelineRun {
            pipeline_name: "p".into(),
            run_id: "r".into(),
            start_time: 1.0,
            end_time: None,
            status: RunStatus::Running,
            tasks: BTreeMap::new(),
        };
        assert_eq!(tasks_json(&run), run.tasks_json());
        let names = [
            "b",
            "a \"quoted\" \\ name",
            "tab\there\nnewline\u{1}\u{1f}\u{7f}",
            "é/ü 名前 🙂",
            "",
        ];
        let statuses = [
            TaskStatus::Pending,
            TaskStatus::Running,
            TaskStatus::Success,
            TaskStatus::Failed,
            TaskStatus::Skipped,
        ];
        for (name, status) in names.iter().zip(statuses) {
            run.tasks.insert(name.to_string(), status);
        }
        assert_eq!(tasks_json(&run), run.tasks_json());
    }
}
