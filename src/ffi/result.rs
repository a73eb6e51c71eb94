//! The result of a run, as handed to C.

use super::detail::{DorchTaskDetail, OwnedDetail};
use super::{
    arg_mut, arg_name, arg_ref, boundary, c_string, DorchCode, DorchRunStatus, DorchTaskStatus,
};
use crate::error::Error;
use crate::model::TaskStatus;
use crate::pipeline::RunResult;
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::sync::OnceLock;

/// The outcome of one run (opaque): statuses and outputs by task. Free it
/// with `dorch_run_result_free`.
pub struct DorchRunResult {
    pub(crate) result: RunResult,
    pub(crate) run_id: CString,
    /// Failed tasks' messages as C strings, so they can be lent out.
    errors: HashMap<String, CString>,
    /// Task details as C structs, made on first use.
    details: OnceLock<HashMap<String, OwnedDetail>>,
}

impl DorchRunResult {
    /// `NotFound` for `task`: no such task, or (`why`) the task has nothing
    /// of what was asked for.
    fn missing(&self, task: &str, why: impl FnOnce(TaskStatus) -> String) -> Error {
        Error::not_found(match self.result.task_status(task) {
            None => format!(
                "pipeline {:?} has no task named {task:?}",
                self.result.pipeline_name()
            ),
            Some(s) => why(s),
        })
    }

    pub(crate) fn new(result: RunResult) -> Self {
        let run_id = c_string(result.run_id());
        let errors = result
            .failures()
            .map(|(t, e)| (t.to_string(), c_string(e)))
            .collect();
        DorchRunResult {
            result,
            run_id,
            errors,
            details: OnceLock::new(),
        }
    }
}

/// The run's id (a UUID). Borrowed: valid until the result is freed. NULL for NULL.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_result_run_id(r: *const DorchRunResult) -> *const c_char {
    boundary(|| Ok(arg_ref(r, "result")?.run_id.as_ptr()))
}

/// The run's final status: `DORCH_RUN_SUCCESS` or `DORCH_RUN_FAILED`.
/// A NULL result gives `DORCH_RUN_RUNNING` (which a finished run never has)
/// and sets `dorch_last_error()`.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_result_status(r: *const DorchRunResult) -> DorchRunStatus {
    boundary(|| Ok(arg_ref(r, "result")?.result.status().into()))
}

/// The final status of task `task` (borrowed). An unknown task, a NULL or
/// bad argument gives `DORCH_TASK_PENDING` (which no task of a finished run
/// has) and sets `dorch_last_error()`.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_result_task_status(
    r: *const DorchRunResult,
    task: *const c_char,
) -> DorchTaskStatus {
    boundary(|| {
        let r = arg_ref(r, "result")?;
        let task = arg_name(task, "task")?;
        let s = r
            .result
            .task_status(task)
            .ok_or_else(|| r.missing(task, |s| format!("task {task:?} is {s}")))?;
        Ok(s.into())
    })
}

/// The output task `task` (borrowed) produced. `DORCH_ERR_NOT_FOUND` when
/// it produced none (or there is no such task). `*data` is borrowed, valid
/// until the result is freed.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_result_output(
    r: *const DorchRunResult,
    task: *const c_char,
    data: *mut *const u8,
    len: *mut usize,
) -> DorchCode {
    boundary(|| {
        let r = arg_ref(r, "result")?;
        let task = arg_name(task, "task")?;
        let data = arg_mut(data, "data")?;
        let len = arg_mut(len, "len")?;
        *data = std::ptr::null();
        *len = 0;
        let out = r.result.output(task).ok_or_else(|| {
            r.missing(task, |s| format!("task {task:?} ({s}) produced no output"))
        })?;
        *data = out.as_ptr();
        *len = out.len();
        Ok(DorchCode::OK)
    })
}

/// Why task `task` (borrowed) failed: its last attempt's error (the message
/// given to `dorch_context_set_error`, or the callback's return code) or
/// panic. `*message` is borrowed, valid until the result is freed.
/// `DORCH_ERR_NOT_FOUND`, with `*message` NULL, when the task did not fail
/// or there is no such task.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_result_task_error(
    r: *const DorchRunResult,
    task: *const c_char,
    message: *mut *const c_char,
) -> DorchCode {
    boundary(|| {
        let r = arg_ref(r, "result")?;
        let task = arg_name(task, "task")?;
        let message = arg_mut(message, "message")?;
        *message = std::ptr::null();
        let e = r.errors.get(task).ok_or_else(|| {
            r.missing(task, |s| format!("task {task:?} did not fail (it is {s})"))
        })?;
        *message = e.as_ptr();
        Ok(DorchCode::OK)
    })
}

/// Frees a run result and everything borrowed from it. NULL is accepted.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_result_free(r: *mut DorchRunResult) {
    boundary(|| {
        if !r.is_null() {
            drop(Box::from_raw(r));
        }
        Ok(())
    })
}

/// The detail of task `task` (borrowed): attempts, start and end times,
/// error. `*out` is borrowed until the result is freed.
/// `DORCH_ERR_NOT_FOUND` for a task the pipeline does not have.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_result_task_detail(
    r: *const DorchRunResult,
    task: *const c_char,
    out: *mut *const DorchTaskDetail,
) -> DorchCode {
    boundary(|| {
        let out = arg_mut(out, "out")?;
        *out = std::ptr::null();
        let r = arg_ref(r, "result")?;
        let task = arg_name(task, "task")?;
        let details = r.details.get_or_init(|| {
            r.result
                .tasks()
                .keys()
                .filter_map(|t| r.result.detail(t))
                .map(|d| (d.name.clone(), OwnedDetail::new(&d.as_update())))
                .collect()
        });
        let d = details
            .get(task)
            .ok_or_else(|| r.missing(task, |s| format!("task {task:?} ({s}) has no detail")))?;
        *out = &d.c;
        Ok(DorchCode::OK)
    })
}
