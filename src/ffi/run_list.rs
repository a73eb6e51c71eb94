//! Run records as C views (`DorchRunInfo`), in both directions, and the
//! run lists the library hands out.

use super::{
    arg_mut, arg_name, arg_ref, boundary, c_string, run_status_from_raw, task_status_from_raw,
    DorchCode, DorchRunStatus, DorchTaskStatus,
};
use crate::error::{Error, Result};
use crate::model::{PipelineRun, RunListing};
use std::collections::BTreeMap;
use std::ffi::{c_char, CString};
use std::ptr::addr_of;

/// One task of a run record: its name and status (a borrowed view).
#[repr(C)]
pub struct DorchTaskEntry {
    /// Task name, UTF-8, NUL-terminated.
    pub name: *const c_char,
    /// The task's status.
    pub status: DorchTaskStatus,
}

/// A run record (a borrowed view). When the library hands one out, its
/// strings and `tasks` live as long as the object it came from; when the
/// host passes one in, the library copies what it needs during the call.
#[repr(C)]
pub struct DorchRunInfo {
    /// Pipeline name, UTF-8, NUL-terminated.
    pub pipeline_name: *const c_char,
    /// Run id (a UUID), UTF-8, NUL-terminated.
    pub run_id: *const c_char,
    /// Seconds since the Unix epoch.
    pub start_time: f64,
    /// false while the run is going on (`end_time` is then ignored).
    pub has_end_time: bool,
    /// Seconds since the Unix epoch.
    pub end_time: f64,
    /// The run's status.
    pub status: DorchRunStatus,
    /// `tasks_len` entries (may be NULL when `tasks_len` is 0).
    pub tasks: *const DorchTaskEntry,
    /// Number of entries at `tasks`.
    pub tasks_len: usize,
}

/// Copies a host's run record, checking every pointer, string and enum value.
pub(crate) unsafe fn run_from_c(run: *const DorchRunInfo) -> Result<PipelineRun> {
    if run.is_null() {
        return Err(Error::invalid("run is NULL"));
    }
    // Fields are read through the raw pointer, enums and bools as integers:
    // the host may put any value there.
    let pipeline_name = arg_name(addr_of!((*run).pipeline_name).read(), "run->pipeline_name")?;
    let run_id = arg_name(addr_of!((*run).run_id).read(), "run->run_id")?;
    let status = run_status_from_raw(addr_of!((*run).status).cast::<u32>().read())
        .map_err(|e| e.context("run->status"))?;
    let has_end = addr_of!((*run).has_end_time).cast::<u8>().read() != 0;
    let start_time = addr_of!((*run).start_time).read();
    let end_time = addr_of!((*run).end_time).read();
    if !start_time.is_finite() || (has_end && !end_time.is_finite()) {
        return Err(Error::invalid(
            "run->start_time or run->end_time is not a finite number",
        ));
    }
    let tasks_ptr = addr_of!((*run).tasks).read();
    let tasks_len = addr_of!((*run).tasks_len).read();
    let mut tasks = BTreeMap::new();
    if tasks_len > 0 {
        if tasks_ptr.is_null() {
            return Err(Error::invalid(format!(
                "run->tasks is NULL but tasks_len is {tasks_len}"
            )));
        }
        for i in 0..tasks_len {
            let t = tasks_ptr.add(i);
            let name = arg_name(addr_of!((*t).name).read(), &format!("run->tasks[{i}].name"))?;
            let st = task_status_from_raw(addr_of!((*t).status).cast::<u32>().read())
                .map_err(|e| e.context(format!("run->tasks[{i}].status")))?;
            tasks.insert(name.to_string(), st);
        }
    }
    Ok(PipelineRun {
        pipeline_name: pipeline_name.to_string(),
        run_id: run_id.to_string(),
        start_time,
        end_time: if has_end { Some(end_time) } else { None },
        status,
        tasks,
    })
}

/// C strings and views of one run, kept together so the pointers stay valid
/// as long as this value lives (they point into heap buffers it owns).
pub(crate) struct RunView {
    _pipeline_name: CString,
    _run_id: CString,
    _names: Vec<CString>,
    _entries: Vec<DorchTaskEntry>,
    pub(crate) info: DorchRunInfo,
}

impl RunView {
    pub(crate) fn new(run: &PipelineRun) -> Self {
        let pipeline_name = c_string(&run.pipeline_name);
        let run_id = c_string(&run.run_id);
        let names: Vec<CString> = run.tasks.keys().map(|k| c_string(k)).collect();
        let entries: Vec<DorchTaskEntry> = names
            .iter()
            .zip(run.tasks.values())
            .map(|(n, s)| DorchTaskEntry {
                name: n.as_ptr(),
                status: (*s).into(),
            })
            .collect();
        let info = DorchRunInfo {
            pipeline_name: pipeline_name.as_ptr(),
            run_id: run_id.as_ptr(),
            start_time: run.start_time,
            has_end_time: run.end_time.is_some(),
            end_time: run.end_time.unwrap_or(0.0),
            status: run.status.into(),
            tasks: if entries.is_empty() {
                std::ptr::null()
            } else {
                entries.as_ptr()
            },
            tasks_len: entries.len(),
        };
        RunView {
            _pipeline_name: pipeline_name,
            _run_id: run_id,
            _names: names,
            _entries: entries,
            info,
        }
    }
}

/// A list of run records handed out by the library (opaque). Free it with
/// `dorch_run_list_free`. A list from `dorch_backend_list_runs` also names
/// the stored rows it could not read (`dorch_run_list_unreadable_len`).
pub struct DorchRunList {
    views: Vec<RunView>,
    /// Run id and reason of each unreadable row, in listing order.
    unreadable: Vec<(CString, CString)>,
}

impl DorchRunList {
    pub(crate) fn new(runs: &[PipelineRun]) -> Self {
        DorchRunList {
            views: runs.iter().map(RunView::new).collect(),
            unreadable: Vec::new(),
        }
    }

    pub(crate) fn from_listing(listing: &RunListing) -> Self {
        DorchRunList {
            views: listing.runs.iter().map(RunView::new).collect(),
            unreadable: listing
                .unreadable
                .iter()
                .map(|u| (c_string(&u.run_id), c_string(&u.reason)))
                .collect(),
        }
    }
}

/// Number of runs in the list; 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_list_len(l: *const DorchRunList) -> usize {
    boundary(|| Ok(arg_ref(l, "list")?.views.len()))
}

/// The run at index `i`, or NULL past the end (or for a NULL list).
/// Borrowed: valid, with every string and task entry in it, until the list is freed.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_list_get(
    l: *const DorchRunList,
    i: usize,
) -> *const DorchRunInfo {
    boundary(|| {
        let l = arg_ref(l, "list")?;
        let v = l.views.get(i).ok_or_else(|| {
            Error::not_found(format!(
                "run list index {i} is past the end (the list has {} runs)",
                l.views.len()
            ))
        })?;
        Ok(&v.info as *const DorchRunInfo)
    })
}

/// Number of unreadable rows the list names: stored rows in a form no run
/// record has (text in `start_time`, an unknown status, a `tasks` column
/// that is not a JSON object of status strings...), which
/// `dorch_backend_list_runs` leaves out of the runs instead of failing.
/// 0 for a list from `dorch_backend_get_run`, and for NULL.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_list_unreadable_len(l: *const DorchRunList) -> usize {
    boundary(|| Ok(arg_ref(l, "list")?.unreadable.len()))
}

/// The unreadable row at index `i` (below `dorch_run_list_unreadable_len`),
/// in listing order: sets `*run_id` to its run id ("" when the stored run
/// id is NULL) and `*reason` to why it cannot be read, naming the column. Both strings are borrowed from the list: valid until the list is
/// freed; do not free them.
///
/// `DORCH_ERR_INVALID_ARGUMENT` for a NULL list, `run_id` or `reason`;
/// `DORCH_ERR_NOT_FOUND` past the end. On failure `*run_id` and `*reason`
/// (when not NULL) are set to NULL.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_list_unreadable_get(
    l: *const DorchRunList,
    i: usize,
    run_id: *mut *const c_char,
    reason: *mut *const c_char,
) -> DorchCode {
    boundary(|| {
        for out in [run_id, reason] {
            if let Some(o) = out.as_mut() {
                *o = std::ptr::null();
            }
        }
        let l = arg_ref(l, "list")?;
        let run_id = arg_mut(run_id, "run_id (the out-parameter)")?;
        let reason = arg_mut(reason, "reason (the out-parameter)")?;
        let (id, why) = l.unreadable.get(i).ok_or_else(|| {
            Error::not_found(format!(
                "unreadable row index {i} is past the end (the list has {} unreadable rows)",
                l.unreadable.len()
            ))
        })?;
        *run_id = id.as_ptr();
        *reason = why.as_ptr();
        Ok(DorchCode::OK)
    })
}

/// Frees a run list and everything borrowed from it. NULL is accepted.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_list_free(l: *mut DorchRunList) {
    boundary(|| {
        if !l.is_null() {
            drop(Box::from_raw(l));
        }
        Ok(())
    })
}
