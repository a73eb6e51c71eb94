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
use rusqlite::{ffi, params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use std::collections::BTreeMap;
use std::ffi::{c_int, CStr};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
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
    conn: Mutex<Conn>,
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
            conn: Mutex::new(Conn {
                live_one: None,
                live_pair: None,
                conn,
            }),
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

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        // rusqlite leaves the connection usable after a panic in a caller;
        // an open transaction is rolled back when its guard drops.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The backend's connection, with the statements a run makes on every
/// task change kept prepared beside it (see [`Kept`]).
pub(super) struct Conn {
    // Declared before `conn`, so dropped (finalized) before it closes:
    // SQLite does not close a connection with statements still open.
    /// [`UPSERT_LIVE_DETAIL`], prepared on first use.
    live_one: Option<Kept>,
    /// [`UPSERT_LIVE_DETAIL_PAIR`], prepared on first use.
    live_pair: Option<Kept>,
    conn: Connection,
}

impl Deref for Conn {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

// No `DerefMut`: what could replace the connection would leave the kept
// statements on the old one. Transactions, the one use of `&mut`, are here.
impl Conn {
    pub(super) fn transaction(&mut self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        self.conn.transaction()
    }

    pub(super) fn transaction_with_behavior(
        &mut self,
        behavior: TransactionBehavior,
    ) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        self.conn.transaction_with_behavior(behavior)
    }
}

/// A statement prepared once and run many times outside rusqlite's
/// statement cache, whose every use hashes the SQL text twice, copies it
/// and copies each text parameter: on a run of many small tasks that was a
/// tenth of each status write. Only for statements of the connection in
/// the same [`Conn`].
struct Kept(NonNull<ffi::sqlite3_stmt>);

// SAFETY: SQLite (in the multi-thread mode rusqlite opens connections in)
// lets a connection and its statements move between threads as long as one
// thread uses them at a time; a `Kept` lives in the `Conn` of its
// connection, behind the backend's mutex, as rusqlite's own `Connection`
// (which is `Send`) does.
unsafe impl Send for Kept {}

impl Drop for Kept {
    fn drop(&mut self) {
        // SAFETY: the statement is valid until now and not used after.
        unsafe { ffi::sqlite3_finalize(self.0.as_ptr()) };
    }
}

/// A parameter of a [`Kept`] statement.
#[derive(Clone, Copy)]
enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    Real(f64),
    Null,
}

fn opt_text(v: Option<&str>) -> Arg<'_> {
    v.map_or(Arg::Null, Arg::Text)
}

fn opt_real(v: Option<f64>) -> Arg<'static> {
    v.map_or(Arg::Null, Arg::Real)
}

/// The error rusqlite makes of a failed call on `db`: the same type and
/// message (for a locked database, say) as the other statements give.
///
/// # Safety
/// `db` is a valid connection handle.
unsafe fn sqlite_error(db: *mut ffi::sqlite3, code: c_int) -> rusqlite::Error {
    // SAFETY: `db` is valid (the caller's promise); SQLite's messages are
    // NUL-terminated strings that live until the next call on `db`.
    let msg = unsafe {
        let text = if ffi::sqlite3_errcode(db) == code {
            ffi::sqlite3_errmsg(db)
        } else {
            ffi::sqlite3_errstr(code)
        };
        (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), msg)
}

impl Kept {
    /// The kept statement in `slot`, prepared on `conn` (the connection of
    /// the `Conn` holding `slot`) if it is not yet.
    fn get<'s>(
        slot: &'s mut Option<Kept>,
        conn: &Connection,
        sql: &'static str,
    ) -> rusqlite::Result<&'s mut Kept> {
        let kept = match slot.take() {
            Some(k) => k,
            None => Kept::prepare(conn, sql)?,
        };
        Ok(slot.insert(kept))
    }

    fn prepare(conn: &Connection, sql: &'static str) -> rusqlite::Result<Kept> {
        let mut stmt = std::ptr::null_mut();
        let len = c_int::try_from(sql.len()).unwrap_or(c_int::MAX);
        // SAFETY: the handle is valid while `conn` is borrowed; `sql` is
        // `len` bytes of UTF-8. PERSISTENT: the statement is used for long.
        unsafe {
            let db = conn.handle();
            let rc = ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            );
            if rc != ffi::SQLITE_OK {
                ffi::sqlite3_finalize(stmt);
                return Err(sqlite_error(db, rc));
            }
        }
        NonNull::new(stmt)
            .map(Kept)
            .ok_or_else(|| rusqlite::Error::InvalidQuery)
    }

    /// Runs the statement with `args` bound to `?1`, `?2`...; returns the
    /// rows changed, as rusqlite's `Statement::execute` does.
    fn execute<'a>(&mut self, args: impl IntoIterator<Item = Arg<'a>>) -> rusqlite::Result<usize> {
        let st = self.0.as_ptr();
        // SAFETY: `st` is a valid statement (finalized only on drop) and
        // `db` its connection. Texts are bound without a copy
        // (SQLITE_STATIC), which is sound because the texts (borrowed for
        // 'a) outlive this call and the bindings are cleared before it
        // returns.
        unsafe {
            let db = ffi::sqlite3_db_handle(st);
            let mut rc = ffi::SQLITE_OK;
            for (i, arg) in args.into_iter().enumerate() {
                let i = c_int::try_from(i + 1).unwrap_or(c_int::MAX);
                rc = match arg {
                    Arg::Text(t) => ffi::sqlite3_bind_text64(
                        st,
                        i,
                        // A null pointer would bind NULL, not "".
                        if t.is_empty() {
                            c"".as_ptr()
                        } else {
                            t.as_ptr().cast()
                        },
                        t.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                    Arg::Int(v) => ffi::sqlite3_bind_int64(st, i, v),
                    Arg::Real(v) => ffi::sqlite3_bind_double(st, i, v),
                    Arg::Null => ffi::sqlite3_bind_null(st, i),
                };
                if rc != ffi::SQLITE_OK {
                    break;
                }
            }
            let result = if rc != ffi::SQLITE_OK {
                Err(sqlite_error(db, rc))
            } else {
                let stepped = ffi::sqlite3_step(st);
                let reset = ffi::sqlite3_reset(st);
                match (stepped, reset) {
                    (ffi::SQLITE_DONE, ffi::SQLITE_OK) => {
                        Ok(usize::try_from(ffi::sqlite3_changes64(db)).unwrap_or(0))
                    }
                    (ffi::SQLITE_DONE, code) => Err(sqlite_error(db, code)),
                    (ffi::SQLITE_ROW, _) => Err(rusqlite::Error::ExecuteReturnedResults),
                    (code, _) => Err(sqlite_error(db, code)),
                }
            };
            ffi::sqlite3_reset(st);
            ffi::sqlite3_clear_bindings(st);
            result
        }
    }
}

/// The parameters of the live-row upserts ([`UPSERT_LIVE_DETAIL`] of one
/// update, [`UPSERT_LIVE_DETAIL_PAIR`] of two): the run as `?1`, then six
/// for each update.
fn live_args<'a: 's, 's>(
    run_id: &'a str,
    updates: &'s [&'s TaskUpdate<'a>],
) -> impl Iterator<Item = Arg<'a>> + 's {
    let per_update = updates.iter().flat_map(|u| {
        [
            Arg::Text(u.task),
            Arg::Text(u.status.as_str()),
            Arg::Int(i64::from(u.attempts)),
            opt_real(u.start_time),
            opt_real(u.end_time),
            opt_text(u.error),
        ]
    });
    std::iter::once(Arg::Text(run_id)).chain(per_update)
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match *self {
            Arg::Text(t) => ValueRef::Text(t.as_bytes()),
            Arg::Int(v) => ValueRef::Integer(v),
            Arg::Real(v) => ValueRef::Real(v),
            Arg::Null => ValueRef::Null,
        }))
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

/// Upserts one live task row with its detail; 0 rows changed means there
/// is no such run (see [`upsert_live`]).
const UPSERT_LIVE_DETAIL: &str = "INSERT INTO dorch_task_state
       (run_id, task_name, status, attempts, start_time, end_time, error)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)
     ON CONFLICT (run_id, task_name) DO UPDATE SET status = excluded.status,
       attempts = excluded.attempts, start_time = excluded.start_time,
       end_time = excluded.end_time, error = excluded.error";

/// Upserts two live task rows with their detail in one statement (one
/// atomic autocommit transaction): what a run writes on most task changes,
/// a finished task's final status and the next task's RUNNING. 0 rows
/// changed means there is no such run. Rows are applied in order, so when
/// both are of one task the second wins.
const UPSERT_LIVE_DETAIL_PAIR: &str = "INSERT INTO dorch_task_state
       (run_id, task_name, status, attempts, start_time, end_time, error)
     SELECT ?1, column1, column2, column3, column4, column5, column6
     FROM (VALUES (?2, ?3, ?4, ?5, ?6, ?7), (?8, ?9, ?10, ?11, ?12, ?13))
     WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)
     ON CONFLICT (run_id, task_name) DO UPDATE SET status = excluded.status,
       attempts = excluded.attempts, start_time = excluded.start_time,
       end_time = excluded.end_time, error = excluded.error";

/// [`UPSERT_LIVE_DETAIL`] through rusqlite's statement cache, for callers
/// holding a transaction rather than the [`Conn`].
pub(super) fn upsert_live_detail(
    conn: &Connection,
    run_id: &str,
    u: &TaskUpdate<'_>,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(UPSERT_LIVE_DETAIL)?
        .execute(rusqlite::params_from_iter(live_args(run_id, &[u])))
}

/// [`UPSERT_LIVE_DETAIL_PAIR`] through rusqlite's statement cache (see
/// [`upsert_live_detail`]).
pub(super) fn upsert_live_detail_pair(
    conn: &Connection,
    run_id: &str,
    a: &TaskUpdate<'_>,
    b: &TaskUpdate<'_>,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(UPSERT_LIVE_DETAIL_PAIR)?
        .execute(rusqlite::params_from_iter(live_args(run_id, &[a, b])))
}

impl Conn {
    /// [`UPSERT_LIVE_DETAIL`] as a kept statement.
    fn upsert_live_detail(&mut self, run_id: &str, u: &TaskUpdate<'_>) -> rusqlite::Result<usize> {
        Kept::get(&mut self.live_one, &self.conn, UPSERT_LIVE_DETAIL)?
            .execute(live_args(run_id, &[u]))
    }

    /// [`UPSERT_LIVE_DETAIL_PAIR`] as a kept statement.
    fn upsert_live_detail_pair(
        &mut self,
        run_id: &str,
        a: &TaskUpdate<'_>,
        b: &TaskUpdate<'_>,
    ) -> rusqlite::Result<usize> {
        Kept::get(&mut self.live_pair, &self.conn, UPSERT_LIVE_DETAIL_PAIR)?
            .execute(live_args(run_id, &[a, b]))
    }
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
                run.tasks_json()
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
            [u] => Some(conn.upsert_live_detail(run_id, u)),
            [a, b] => Some(conn.upsert_live_detail_pair(run_id, a, b)),
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
        self.save_dag_impl(run_id, &crate::history::DagTexts::of(dag))
    }

    fn save_shared_dag(
        &self,
        run_id: &str,
        _pipeline: &str,
        dag: &std::sync::Arc<crate::history::SharedDag>,
    ) -> Result<()> {
        self.save_dag_impl(run_id, dag.texts())
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

    fn temp_file(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dorch-sqlite-unit-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("history.db")
    }

    fn update<'a>(task: &'a str, status: TaskStatus, error: Option<&'a str>) -> TaskUpdate<'a> {
        TaskUpdate {
            task,
            status,
            attempts: 3,
            start_time: Some(1.5),
            end_time: error.map(|_| 2.5),
            error,
            output: None,
        }
    }

    fn live_rows(conn: &Connection) -> Vec<Vec<rusqlite::types::Value>> {
        let mut st = conn
            .prepare("SELECT * FROM dorch_task_state ORDER BY run_id, task_name")
            .unwrap();
        let n = st.column_count();
        st.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// The kept statements write what the cached ones write, and fail as
    /// they do (same error, same message) when the file is locked.
    #[test]
    fn kept_statements_write_and_fail_as_cached_ones() {
        let path = temp_file("kept");
        let b = SqliteBackend::open(&path).unwrap();
        let mut conn = b.lock();
        conn.busy_timeout(Duration::from_millis(10)).unwrap();
        for id in ["kept", "cached"] {
            conn.execute("INSERT INTO runs (run_id, tasks) VALUES (?1, '{}')", [id])
                .unwrap();
        }
        let long = "n".repeat(10_000);
        let batches = [
            vec![update("a", TaskStatus::Running, None)],
            vec![
                update("a", TaskStatus::Failed, Some("")),
                update("", TaskStatus::Running, None),
            ],
            vec![
                update("", TaskStatus::Success, Some("it's \"bad\"\0ly")),
                update(&long, TaskStatus::Running, None),
            ],
            vec![
                update("x", TaskStatus::Running, None),
                update("x", TaskStatus::Skipped, Some("second wins")),
            ],
        ];
        for batch in &batches {
            let (kept, cached) = match batch.as_slice() {
                [u] => (
                    conn.upsert_live_detail("kept", u),
                    upsert_live_detail(&conn, "cached", u),
                ),
                [x, y] => (
                    conn.upsert_live_detail_pair("kept", x, y),
                    upsert_live_detail_pair(&conn, "cached", x, y),
                ),
                _ => unreachable!(),
            };
            assert_eq!(kept.unwrap(), cached.unwrap());
            assert_eq!(conn.upsert_live_detail("none", &batch[0]).unwrap(), 0);
        }
        let rows = live_rows(&conn);
        let (kept, cached): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|r| r[0] == rusqlite::types::Value::Text("kept".into()));
        assert_eq!(kept.len(), 4);
        let strip = |rs: Vec<Vec<rusqlite::types::Value>>| -> Vec<_> {
            rs.into_iter().map(|r| r[1..].to_vec()).collect()
        };
        assert_eq!(strip(kept), strip(cached));

        // Another connection holds the write lock.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let u = update("a", TaskStatus::Success, None);
        let kept = conn.upsert_live_detail_pair("kept", &u, &u).unwrap_err();
        let cached = upsert_live_detail_pair(&conn, "kept", &u, &u).unwrap_err();
        assert_eq!(kept.to_string(), cached.to_string());
        assert_eq!(kept.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
        assert_eq!(kept.sqlite_error(), cached.sqlite_error());
        other.execute_batch("ROLLBACK").unwrap();
        // And works again once it is free.
        assert_eq!(conn.upsert_live_detail_pair("kept", &u, &u).unwrap(), 2);
        drop(conn);
        drop(b);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
