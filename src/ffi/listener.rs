//! Run listeners written in C.

use super::detail::OwnedDetail;
use super::{c_string, DorchRunStatus};
use crate::error::{Error, Result};
use crate::model::{RunStatus, TaskDetail};
use crate::pipeline::Listener;
use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};
use std::ptr::addr_of;

/// Told of a run's events. The library copies the struct; `user_data` is
/// the host's and is never freed by the library. Calls happen outside every
/// lock of the library, in order for each task, all before the run call
/// returns: first `on_run(RUNNING)`, on the thread that called the run
/// function, before any task starts; then `on_task` for every task change,
/// from the run's worker threads; last `on_run` with the final status, on
/// the calling thread again. Strings and the detail are borrowed for the
/// call only. A listener cannot change the run.
#[repr(C)]
pub struct DorchListener {
    /// `sizeof(DorchListener)`.
    pub struct_size: u32,
    /// Passed to both functions.
    pub user_data: *mut c_void,
    /// Optional. A run started (RUNNING) or ended (its final status).
    pub on_run: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            pipeline: *const c_char,
            run_id: *const c_char,
            status: DorchRunStatus,
        ),
    >,
    /// Optional. A task's state changed, after the backend recorded it.
    pub on_task: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            task: *const super::detail::DorchTaskDetail,
        ),
    >,
}

type OnRun = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, DorchRunStatus);
type OnTask =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const super::detail::DorchTaskDetail);

pub(crate) struct CListener {
    user_data: *mut c_void,
    on_run: Option<OnRun>,
    on_task: Option<OnTask>,
}

// The host gives its listener to runs that may use any thread.
unsafe impl Send for CListener {}
unsafe impl Sync for CListener {}

impl CListener {
    /// Copies the host's struct, reading only what its `struct_size` covers.
    pub(crate) unsafe fn from_c(l: *const DorchListener) -> Result<Self> {
        let size = addr_of!((*l).struct_size).read() as usize;
        let covers = |off: usize, len: usize| off + len <= size;
        if !covers(
            offset_of!(DorchListener, user_data),
            size_of::<*mut c_void>(),
        ) {
            return Err(Error::invalid(format!(
                "listener->struct_size is {size}; set it to sizeof(DorchListener)"
            )));
        }
        let on_run = if covers(
            offset_of!(DorchListener, on_run),
            size_of::<Option<OnRun>>(),
        ) {
            addr_of!((*l).on_run).read()
        } else {
            None
        };
        let on_task = if covers(
            offset_of!(DorchListener, on_task),
            size_of::<Option<OnTask>>(),
        ) {
            addr_of!((*l).on_task).read()
        } else {
            None
        };
        Ok(CListener {
            user_data: addr_of!((*l).user_data).read(),
            on_run,
            on_task,
        })
    }
}

impl Listener for CListener {
    fn on_run(&self, pipeline: &str, run_id: &str, status: RunStatus) {
        if let Some(f) = self.on_run {
            let (p, r) = (c_string(pipeline), c_string(run_id));
            unsafe { f(self.user_data, p.as_ptr(), r.as_ptr(), status.into()) }
        }
    }

    fn on_task(&self, run_id: &str, task: &TaskDetail) {
        if let Some(f) = self.on_task {
            let r = c_string(run_id);
            let d = OwnedDetail::new(&task.as_update());
            unsafe { f(self.user_data, r.as_ptr(), &d.c) }
        }
    }
}
