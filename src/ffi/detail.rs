//! Task detail (attempts, times, error) as handed to C: from a run result,
//! from a backend, to a listener, and from a custom backend's vtable.

use super::{
    arg_mut, arg_name, arg_out, arg_ref, boundary, c_string, task_status_from_raw, DorchBackend,
    DorchCode, DorchTaskStatus,
};
use crate::error::{Error, Result};
use crate::model::{TaskDetail, TaskUpdate};
use std::ffi::{c_char, CStr, CString};
use std::ptr::{addr_of, null};
use std::sync::Mutex;

/// What is known about one task of a run (a borrowed view: its strings
/// belong to whoever handed it out, for as long as they say).
#[repr(C)]
pub struct DorchTaskDetail {
    /// The task's name.
    pub name: *const c_char,
    /// Its status.
    pub status: DorchTaskStatus,
    /// Attempts started; 0: never started.
    pub attempts: u32,
    /// Whether `start_time` is set (the task started).
    pub has_start_time: bool,
    /// When its first attempt started, in seconds since the Unix epoch.
    pub start_time: f64,
    /// Whether `end_time` is set (the task reached a final status).
    pub has_end_time: bool,
    /// When it reached its final status.
    pub end_time: f64,
    /// NULL when none; else why it failed or did not run: the task's own
    /// message, "timed out after N ms", `"cancelled: <reason>"`, "run timed
    /// out after N ms", "owner lost".
    pub error: *const c_char,
}

/// A `DorchTaskDetail` with the strings it points to (on the heap, so the
/// pointers stay valid when the holder moves).
pub(crate) struct OwnedDetail {
    pub(crate) c: DorchTaskDetail,
    _name: CString,
    _error: Option<CString>,
}

// The raw pointers point into the owned strings, which are never changed.
unsafe impl Send for OwnedDetail {}
unsafe impl Sync for OwnedDetail {}

impl OwnedDetail {
    pub(crate) fn new(d: &TaskUpdate<'_>) -> Self {
        let name = c_string(d.task);
        let error = d.error.map(c_string);
        OwnedDetail {
            c: DorchTaskDetail {
                name: name.as_ptr(),
                status: d.status.into(),
                attempts: d.attempts,
                has_start_time: d.start_time.is_some(),
                start_time: d.start_time.unwrap_or(0.0),
                has_end_time: d.end_time.is_some(),
                end_time: d.end_time.unwrap_or(0.0),
                error: error.as_ref().map_or(null(), |e| e.as_ptr()),
            },
            _name: name,
            _error: error,
        }
    }
}

/// Reads a host's `DorchTaskDetail`, checking every field.
pub(crate) unsafe fn detail_from_c(d: *const DorchTaskDetail) -> Result<TaskDetail> {
    let d = arg_ref(d, "detail")?;
    let name = arg_name(d.name, "detail->name")?.to_string();
    let status = task_status_from_raw(addr_of!(d.status).cast::<u32>().read())
        .map_err(|e| e.context("detail->status"))?;
    let error = if d.error.is_null() {
        None
    } else {
        Some(
            CStr::from_ptr(d.error)
                .to_str()
                .map_err(|e| Error::invalid(format!("detail->error is not valid UTF-8: {e}")))?
                .to_string(),
        )
    };
    let time = |has: bool, t: f64, what: &str| -> Result<Option<f64>> {
        if !has {
            return Ok(None);
        }
        if !t.is_finite() {
            return Err(Error::invalid(format!(
                "detail->{what} is not a finite number"
            )));
        }
        Ok(Some(t))
    };
    Ok(TaskDetail {
        name,
        status,
        attempts: d.attempts,
        start_time: time(d.has_start_time, d.start_time, "start_time")?,
        end_time: time(d.has_end_time, d.end_time, "end_time")?,
        error,
    })
}

/// The task details of one run (opaque), from `dorch_backend_get_task_details`.
/// Free it with `dorch_task_detail_list_free`.
pub struct DorchTaskDetailList {
    items: Vec<OwnedDetail>,
}

/// The task details of run `run_id` (borrowed), one per task of the run, in
/// task-name order. `DORCH_ERR_NOT_FOUND` for an unknown run;
/// `DORCH_ERR_UNSUPPORTED` for a custom backend without the
/// `get_task_details` function. Free `*out` with `dorch_task_detail_list_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_get_task_details(
    b: *mut DorchBackend,
    run_id: *const c_char,
    out: *mut *mut DorchTaskDetailList,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        let b = arg_ref(b, "backend")?;
        let run_id = arg_name(run_id, "run_id")?;
        let items = b
            .inner
            .get_task_details(run_id)?
            .iter()
            .map(|d| OwnedDetail::new(&d.as_update()))
            .collect();
        *out = Box::into_raw(Box::new(DorchTaskDetailList { items }));
        Ok(DorchCode::OK)
    })
}

/// Number of details in the list (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn dorch_task_detail_list_len(l: *const DorchTaskDetailList) -> usize {
    boundary(|| Ok(arg_ref(l, "list")?.items.len()))
}

/// Detail `i` of the list, borrowed until the list is freed; NULL past the
/// end or for a NULL list.
#[no_mangle]
pub unsafe extern "C" fn dorch_task_detail_list_get(
    l: *const DorchTaskDetailList,
    i: usize,
) -> *const DorchTaskDetail {
    boundary(|| {
        let l = arg_ref(l, "list")?;
        l.items
            .get(i)
            .map(|d| &d.c as *const DorchTaskDetail)
            .ok_or_else(|| {
                Error::not_found(format!("index {i} is past the end ({})", l.items.len()))
            })
    })
}

/// Frees a detail list. NULL is accepted.
#[no_mangle]
pub unsafe extern "C" fn dorch_task_detail_list_free(l: *mut DorchTaskDetailList) {
    boundary(|| {
        if !l.is_null() {
            drop(Box::from_raw(l));
        }
        Ok(())
    })
}

/// Collects the details a custom backend's `get_task_details` hands back
/// (opaque). Owned by the library, valid only during that vtable call.
pub struct DorchTaskDetailSink {
    pub(crate) items: Mutex<Vec<TaskDetail>>,
}

/// Copies `detail` into the sink a vtable's `get_task_details` was given.
/// `detail` stays the host's: it may free it as soon as this returns.
#[no_mangle]
pub unsafe extern "C" fn dorch_task_detail_sink_push(
    sink: *mut DorchTaskDetailSink,
    detail: *const DorchTaskDetail,
) -> DorchCode {
    boundary(|| {
        let sink = arg_mut(sink, "sink")?;
        let d = detail_from_c(detail)?;
        sink.items.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        Ok(DorchCode::OK)
    })
}
