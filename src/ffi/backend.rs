//! Built-in backends and the four backend operations, callable from C.

use super::run_list::{run_from_c, DorchRunList};
use super::{
    arg_name, arg_opt_name, arg_out, arg_ref, boundary, task_status_from_raw, DorchCode,
    DorchRunInfo, DorchTaskStatusArg,
};
use crate::backend::{
    self, BackendRef, MemoryBackend, MySqlBackend, PostgresBackend, SqliteBackend,
};
use crate::error::{Error, Result};
use std::ffi::c_char;
use std::sync::Arc;

/// A backend where runs are kept (opaque, reference-counted). Each
/// `DorchBackend*` handed out is one reference, released by
/// `dorch_backend_free`; a pipeline keeps a reference of its own, so the
/// host may free its backend right after creating the pipeline.
pub struct DorchBackend {
    pub(crate) inner: BackendRef,
}

unsafe fn hand_out(
    out: *mut *mut DorchBackend,
    make: impl FnOnce() -> Result<BackendRef>,
) -> Result<DorchCode> {
    let out = arg_out(out, "out")?;
    let inner = make()?;
    *out = Box::into_raw(Box::new(DorchBackend { inner }));
    Ok(DorchCode::OK)
}

/// A new in-memory backend (runs are lost when the last reference goes).
/// It keeps the newest 10,000 runs: beyond that the oldest finished run is
/// dropped when a new one starts.
/// Free `*out` with `dorch_backend_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_memory(out: *mut *mut DorchBackend) -> DorchCode {
    boundary(|| hand_out(out, || Ok(Arc::new(MemoryBackend::new()))))
}

/// Opens (creating if needed) the SQLite database file at `path` (borrowed).
/// Free `*out` with `dorch_backend_free`.
///
/// The backend keeps the file open. If the file is deleted, or replaced by
/// another file (renamed over, restored from a backup) while the backend is
/// open, the backend goes on writing to the file it opened, which is no
/// longer reachable by that path: that history is lost when the backend is
/// freed. Free the backend (and every pipeline holding it) before moving,
/// deleting or replacing the file.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_sqlite(
    path: *const c_char,
    out: *mut *mut DorchBackend,
) -> DorchCode {
    boundary(|| {
        let path = arg_name(path, "path")?;
        hand_out(out, || Ok(Arc::new(SqliteBackend::open(path)?)))
    })
}

/// Connects to PostgreSQL with `dsn_or_null` (NULL: `DREMIOFRAME_PG_DSN`),
/// using table `table_or_null` (NULL: `dremioframe_runs`). Both borrowed.
/// A server that cannot be reached is an error code, never a crash.
/// Free `*out` with `dorch_backend_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_postgres(
    dsn_or_null: *const c_char,
    table_or_null: *const c_char,
    out: *mut *mut DorchBackend,
) -> DorchCode {
    boundary(|| {
        let dsn = arg_opt_name(dsn_or_null, "dsn")?;
        let table = arg_opt_name(table_or_null, "table")?;
        hand_out(out, || Ok(Arc::new(PostgresBackend::connect(dsn, table)?)))
    })
}

/// Connects to MySQL / MariaDB with a `mysql://` URL (NULL: the
/// `DREMIOFRAME_MYSQL_*` variables), using table `table_or_null` (NULL:
/// `dremioframe_runs`). Both borrowed. Free `*out` with `dorch_backend_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_mysql(
    url_or_null: *const c_char,
    table_or_null: *const c_char,
    out: *mut *mut DorchBackend,
) -> DorchCode {
    boundary(|| {
        let url = arg_opt_name(url_or_null, "url")?;
        let table = arg_opt_name(table_or_null, "table")?;
        hand_out(out, || Ok(Arc::new(MySqlBackend::connect(url, table)?)))
    })
}

/// Opens any built-in backend from a URL (borrowed): `memory:`;
/// `sqlite:///relative/path.db` (relative to the current directory),
/// `sqlite:////absolute/path.db` or a path with no scheme (a SQLite file,
/// as SQLAlchemy and dremioframe read these URLs; `sqlite://relative.db`
/// is accepted too); `postgresql://...` or `postgres://...`; `mysql://...`.
/// Server URLs may end in `?table=name`. An unknown scheme is
/// `DORCH_ERR_CONFIG`. Free `*out` with `dorch_backend_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_open(
    url: *const c_char,
    out: *mut *mut DorchBackend,
) -> DorchCode {
    boundary(|| {
        let url = arg_name(url, "url")?;
        hand_out(out, || backend::open(url))
    })
}

/// Releases this reference to the backend. NULL is accepted. The backend
/// itself (and a custom backend's `destroy`) goes with its last reference.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_free(b: *mut DorchBackend) {
    boundary(|| {
        if !b.is_null() {
            drop(Box::from_raw(b));
        }
        Ok(())
    })
}

/// Upserts the whole run record `run` (borrowed; copied during the call).
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_save_run(
    b: *mut DorchBackend,
    run: *const DorchRunInfo,
) -> DorchCode {
    boundary(|| {
        let b = arg_ref(b, "backend")?;
        let run = run_from_c(run)?;
        b.inner.save_run(&run)?;
        Ok(DorchCode::OK)
    })
}

/// Sets one task's status in run `run_id`. `DORCH_ERR_NOT_FOUND` if the run
/// was never saved. Strings borrowed.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_update_task_status(
    b: *mut DorchBackend,
    run_id: *const c_char,
    task_name: *const c_char,
    s: DorchTaskStatusArg,
) -> DorchCode {
    boundary(|| {
        let b = arg_ref(b, "backend")?;
        let run_id = arg_name(run_id, "run_id")?;
        let task = arg_name(task_name, "task_name")?;
        let status = task_status_from_raw(s)?;
        b.inner.update_task_status(run_id, task, status)?;
        Ok(DorchCode::OK)
    })
}

/// The run with id `run_id` (borrowed), as a list of one run;
/// `DORCH_ERR_NOT_FOUND` when there is no such run. Free `*out` with
/// `dorch_run_list_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_get_run(
    b: *mut DorchBackend,
    run_id: *const c_char,
    out: *mut *mut DorchRunList,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        let b = arg_ref(b, "backend")?;
        let run_id = arg_name(run_id, "run_id")?;
        let run = b
            .inner
            .get_run(run_id)?
            .ok_or_else(|| Error::not_found(format!("no run with id {run_id:?}")))?;
        *out = Box::into_raw(Box::new(DorchRunList::new(std::slice::from_ref(&run))));
        Ok(DorchCode::OK)
    })
}

/// Up to `limit` runs, newest `start_time` first, of pipeline
/// `pipeline_or_null` (borrowed) or of all pipelines (NULL). Free `*out`
/// with `dorch_run_list_free`.
///
/// A stored row that cannot be read (written by another tool or by hand)
/// does not fail the call: it is left out of the runs and named, with why,
/// by `dorch_run_list_unreadable_len` / `dorch_run_list_unreadable_get`.
/// Such rows count toward `limit`, in their place in the order, so the
/// list may hold fewer than `limit` runs although more are stored.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_list_runs(
    b: *mut DorchBackend,
    pipeline_or_null: *const c_char,
    limit: u32,
    out: *mut *mut DorchRunList,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        let b = arg_ref(b, "backend")?;
        let pipeline = arg_opt_name(pipeline_or_null, "pipeline name")?;
        let listing = b.inner.list_runs_report(pipeline, limit)?;
        *out = Box::into_raw(Box::new(DorchRunList::from_listing(&listing)));
        Ok(DorchCode::OK)
    })
}
