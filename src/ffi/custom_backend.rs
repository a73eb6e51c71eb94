//! Custom backends: a host's vtable adapted to [`crate::Backend`].
//!
//! No lock of the library is held while a vtable function runs. A vtable
//! without `DORCH_BACKEND_THREAD_SAFE` is entered by one thread at a time
//! through a re-entrant guard (owner thread + condvar): the thread inside may
//! call back into the library, even into the same backend, without deadlock.
//! A run it starts from there runs on that thread alone (`backend::serial`),
//! since worker threads could not enter the backend it holds.

use super::custom_durable::{
    DorchOutputSink, DorchResumeSink, DurableSlots, GetOutputsFn, LinkResumeFn, PurgeFn, RecoverFn,
    RenewLeaseFn, ResumedFromFn, StoreOutputFn,
};
use super::detail::{DorchTaskDetail, DorchTaskDetailSink, OwnedDetail};
use super::run_list::{run_from_c, RunView};
use super::{
    arg_out, arg_ref, begin_host_call, boundary, end_host_call, DorchBackend, DorchCode,
    DorchRunInfo, DorchTaskStatus,
};
use crate::backend::{serial, Backend};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{PipelineRun, StoredOutput, TaskDetail, TaskStatus, TaskUpdate};
use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CString};
use std::mem::{offset_of, size_of};
use std::ptr::addr_of;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// Flag for `DorchBackendVTable.flags`: the vtable's functions may be called
/// from several threads at once. Without it the library serializes the calls.
pub const DORCH_BACKEND_THREAD_SAFE: u32 = 1;

/// Collects the runs a vtable's `get_run` / `list_runs` hands back (opaque).
/// Owned by the library and valid only during that vtable call.
pub struct DorchRunSink {
    runs: Mutex<Vec<PipelineRun>>,
    capacity: usize,
}

/// A backend written by the host. Every required function must be set.
/// Each function returns `DORCH_OK` or an error code (after calling
/// `dorch_set_error` with an explanation, ideally); that error reaches the
/// caller of the operation, and during a run ends the run with `DORCH_ERR_BACKEND`.
/// Strings and records passed to these functions are borrowed for the call only.
#[repr(C)]
pub struct DorchBackendVTable {
    /// `sizeof(DorchBackendVTable)` as the host knows it. A smaller size (an
    /// older host) is accepted: missing trailing fields count as absent.
    pub struct_size: u32,
    /// `DORCH_BACKEND_THREAD_SAFE`: calls may overlap; otherwise the library
    /// serializes them (one thread at a time inside the vtable). A vtable
    /// function may call back into the library, even into this backend,
    /// without deadlock; a pipeline run it starts then runs all its tasks on
    /// that thread, whatever its `max_workers`.
    pub flags: u32,
    /// Required. Upserts the whole run record.
    pub save_run:
        Option<unsafe extern "C" fn(user_data: *mut c_void, run: *const DorchRunInfo) -> DorchCode>,
    /// Required. Pushes 0 runs (none with that id, or return `DORCH_ERR_NOT_FOUND`) or 1 run into `sink`.
    pub get_run: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            sink: *mut DorchRunSink,
        ) -> DorchCode,
    >,
    /// Required. Sets one task's status atomically; `DORCH_ERR_NOT_FOUND` for an unknown run.
    pub update_task_status: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            task_name: *const c_char,
            status: DorchTaskStatus,
        ) -> DorchCode,
    >,
    /// Required. Pushes up to `limit` runs, newest `start_time` first, of one
    /// pipeline (`pipeline_or_null`) or of all.
    pub list_runs: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            pipeline_or_null: *const c_char,
            limit: u32,
            sink: *mut DorchRunSink,
        ) -> DorchCode,
    >,
    /// Optional. Called exactly once, with `user_data`, when the last
    /// reference to the backend goes (from whichever thread drops it).
    pub destroy: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
    /// Optional (added in 0.2). When set, runs call it instead of
    /// `update_task_status` for every task change, with the task's detail
    /// (status, attempts, start and end times, error): store it so that
    /// `get_task_details` can return it. Atomic and thread-safe like
    /// `update_task_status`; `DORCH_ERR_NOT_FOUND` for an unknown run.
    pub update_task_detail: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            detail: *const DorchTaskDetail,
        ) -> DorchCode,
    >,
    /// Optional (added in 0.2). Pushes the detail of every task of the run
    /// into `sink` with `dorch_task_detail_sink_push`; `DORCH_ERR_NOT_FOUND`
    /// for an unknown run. Without it, `dorch_backend_get_task_details` is
    /// `DORCH_ERR_UNSUPPORTED` (runs still work).
    pub get_task_details: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            sink: *mut DorchTaskDetailSink,
        ) -> DorchCode,
    >,
    /// Optional (added in 0.2). Writes or renews the lease of RUNNING run
    /// `run_id`: its owner is alive at `at_epoch_s` (seconds since the Unix
    /// epoch) and renews it at least every `interval_ms`. Keep both with the
    /// run for `recover`. A run calls it when it starts, on the thread that
    /// runs it, then from a lease thread of its own while its tasks call the
    /// other functions (serialized with them unless THREAD_SAFE).
    /// `DORCH_ERR_NOT_FOUND` for an unknown run. Without it (or when it
    /// returns `DORCH_ERR_UNSUPPORTED`) runs keep no lease.
    pub renew_lease: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            at_epoch_s: f64,
            interval_ms: u64,
        ) -> DorchCode,
    >,
    /// Optional (added in 0.2). What `dorch_backend_recover` does (see there),
    /// on the caller's thread: finish the RUNNING runs whose owner is gone
    /// (lease older than `stale_after_ms` and than three of its intervals;
    /// without a lease, started more than `stale_after_ms` ago), and set
    /// `*recovered_out` (0 on entry, the library's) to how many this call
    /// finished. Without it, `dorch_backend_recover` is `DORCH_ERR_UNSUPPORTED`.
    pub recover: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            stale_after_ms: u64,
            recovered_out: *mut u64,
        ) -> DorchCode,
    >,
    /// Optional (added in 0.2). What `dorch_backend_purge` does (see there),
    /// on the caller's thread: delete the finished runs of
    /// `pipeline_or_null` (or of all) that started before `before_epoch_s`,
    /// with their outputs, leases and links (`dry_run`: only count), and set
    /// `*count_out` (0 on entry, the library's) to how many. Without it,
    /// `dorch_backend_purge` is `DORCH_ERR_UNSUPPORTED`.
    pub purge: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            before_epoch_s: f64,
            pipeline_or_null: *const c_char,
            dry_run: bool,
            count_out: *mut u64,
        ) -> DorchCode,
    >,
    /// Optional (added in 0.2). Keeps a task's output with run `run_id`, for
    /// `get_outputs`: `stored`: `data_or_null` points to its `len` bytes
    /// (never NULL, even for 0 bytes; borrowed for the call: copy them);
    /// otherwise the output was above the run's limit, `data_or_null` is
    /// NULL and `len` is its size. A later call for the same task replaces
    /// it. Called from the worker thread that ran the task, just BEFORE the
    /// `update_task_detail` (or `update_task_status`) that records the task
    /// SUCCESS, as a separate call: so a task stored SUCCESS always has its
    /// output, and if the process dies between the two calls the task is
    /// simply run again on resume. (Also called when a resumed run starts,
    /// for the outputs it takes over.) `DORCH_ERR_NOT_FOUND` for an unknown
    /// run; any error fails the run like a failed status update. Without
    /// it, outputs are not kept and runs cannot be resumed.
    pub store_output: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            task_name: *const c_char,
            data_or_null: *const u8,
            len: usize,
            stored: bool,
        ) -> DorchCode,
    >,
    /// Optional (added in 0.2). Pushes every output kept with run `run_id`
    /// into `sink` with `dorch_output_sink_push`, one per task (tasks that
    /// produced none are absent); `DORCH_ERR_NOT_FOUND` for an unknown run.
    /// `dorch_pipeline_resume` calls it, on its caller's thread. Without
    /// it, resuming is `DORCH_ERR_UNSUPPORTED`.
    pub get_outputs: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            sink: *mut DorchOutputSink,
        ) -> DorchCode,
    >,
    /// Optional (added in 0.2). Records that run `run_id` (just started by
    /// `dorch_pipeline_resume`, on its caller's thread) resumes run
    /// `original_run_id`. `DORCH_ERR_NOT_FOUND` for an unknown run. Without
    /// it the link is not kept (the resumed run still runs).
    pub link_resume: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            original_run_id: *const c_char,
        ) -> DorchCode,
    >,
    /// Optional (added in 0.2). Names the run that `run_id` resumes with
    /// `dorch_resume_sink_set(sink, original)`, or leaves `sink` alone when
    /// it resumes none; `DORCH_ERR_NOT_FOUND` for an unknown run. Without
    /// it, asking is `DORCH_ERR_UNSUPPORTED`.
    pub resumed_from: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run_id: *const c_char,
            sink: *mut DorchResumeSink,
        ) -> DorchCode,
    >,
}

// The host's functions, with the code they return read as a plain integer
// (the host may return any value).
type SaveRunFn = unsafe extern "C" fn(*mut c_void, *const DorchRunInfo) -> u32;
type GetRunFn = unsafe extern "C" fn(*mut c_void, *const c_char, *mut DorchRunSink) -> u32;
type UpdateFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, DorchTaskStatus) -> u32;
type ListRunsFn = unsafe extern "C" fn(*mut c_void, *const c_char, u32, *mut DorchRunSink) -> u32;
type DestroyFn = unsafe extern "C" fn(*mut c_void);
type UpdateDetailFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const DorchTaskDetail) -> u32;
type GetDetailsFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *mut DorchTaskDetailSink) -> u32;
type HostUpdateDetail =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const DorchTaskDetail) -> DorchCode;
type HostGetDetails =
    unsafe extern "C" fn(*mut c_void, *const c_char, *mut DorchTaskDetailSink) -> DorchCode;
// The same functions as the vtable declares them.
type HostSaveRun = unsafe extern "C" fn(*mut c_void, *const DorchRunInfo) -> DorchCode;
type HostGetRun = unsafe extern "C" fn(*mut c_void, *const c_char, *mut DorchRunSink) -> DorchCode;
type HostUpdate =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, DorchTaskStatus) -> DorchCode;
type HostListRuns =
    unsafe extern "C" fn(*mut c_void, *const c_char, u32, *mut DorchRunSink) -> DorchCode;

/// Makes a thread wait while another thread is inside a non-thread-safe
/// vtable; the owning thread may enter again (nested calls).
#[derive(Default)]
struct HostGuard {
    state: Mutex<(Option<ThreadId>, usize)>,
    free: Condvar,
}

struct Entered<'a>(&'a HostGuard);

impl HostGuard {
    fn enter(&self) -> Entered<'_> {
        let me = std::thread::current().id();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match st.0 {
                None => {
                    *st = (Some(me), 1);
                    break;
                }
                Some(owner) if owner == me => {
                    st.1 += 1;
                    break;
                }
                Some(_) => st = self.free.wait(st).unwrap_or_else(|e| e.into_inner()),
            }
        }
        Entered(self)
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        st.1 -= 1;
        if st.1 == 0 {
            st.0 = None;
            drop(st);
            self.0.free.notify_one();
        }
    }
}

pub(super) struct CustomBackend {
    save_run: SaveRunFn,
    get_run: GetRunFn,
    update_task_status: UpdateFn,
    list_runs: ListRunsFn,
    destroy: Option<DestroyFn>,
    update_task_detail: Option<UpdateDetailFn>,
    get_task_details: Option<GetDetailsFn>,
    pub(super) durable: DurableSlots,
    pub(super) user_data: *mut c_void,
    /// `None` for a THREAD_SAFE vtable.
    guard: Option<HostGuard>,
}

// The host promised (by the flags) what it promised; the guard serializes the rest.
unsafe impl Send for CustomBackend {}
unsafe impl Sync for CustomBackend {}

impl Drop for CustomBackend {
    fn drop(&mut self) {
        if let Some(d) = self.destroy {
            unsafe { d(self.user_data) }
        }
    }
}

fn cstr_arg(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("{what} {s:?} contains a NUL byte")))
}

impl CustomBackend {
    /// Calls the host: serialized unless THREAD_SAFE, with the host's error
    /// slot cleared, and its code turned into an error carrying its message.
    fn call(&self, op: &str, f: impl FnOnce() -> u32) -> Result<()> {
        self.call_host(op, false, f)
    }

    /// `call` for an optional durable-history slot: there the host may
    /// answer `DORCH_ERR_UNSUPPORTED`, which keeps its meaning (as if the
    /// slot were absent) instead of counting as a backend error.
    pub(super) fn call_durable(&self, op: &str, f: impl FnOnce() -> u32) -> Result<()> {
        self.call_host(op, true, f)
    }

    fn call_host(&self, op: &str, unsupported: bool, f: impl FnOnce() -> u32) -> Result<()> {
        let _entered = self.guard.as_ref().map(HostGuard::enter);
        // A run started from inside this call stays on this thread (see serial).
        let _inside = self.guard.as_ref().map(|_| serial::enter());
        let saved = begin_host_call();
        let rc = f();
        let msg = end_host_call(saved);
        if rc == 0 {
            return Ok(());
        }
        let name = DorchCode::name_of(rc);
        let kind = if rc == DorchCode::ERR_NOT_FOUND as u32 {
            ErrorKind::NotFound
        } else if unsupported && rc == DorchCode::ERR_UNSUPPORTED as u32 {
            ErrorKind::Unsupported
        } else {
            ErrorKind::Backend
        };
        let text = match (msg, name) {
            (Some(m), _) => format!("custom backend {op}: {m}"),
            (None, Some(n)) => {
                format!("custom backend {op} returned {n} (no message given with dorch_set_error)")
            }
            (None, None) => format!("custom backend {op} returned {rc}, which is not a DorchCode"),
        };
        Err(Error::new(kind, text))
    }

    fn collect(
        &self,
        op: &str,
        capacity: usize,
        f: impl FnOnce(*mut DorchRunSink) -> u32,
    ) -> Result<Vec<PipelineRun>> {
        let mut sink = DorchRunSink {
            runs: Mutex::new(Vec::new()),
            capacity,
        };
        let sp: *mut DorchRunSink = &mut sink;
        self.call(op, || f(sp))?;
        Ok(sink.runs.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Backend for CustomBackend {
    fn save_run(&self, run: &PipelineRun) -> Result<()> {
        // A record with a NUL byte in a name cannot be shown to C.
        for name in std::iter::once(&run.pipeline_name)
            .chain(std::iter::once(&run.run_id))
            .chain(run.tasks.keys())
        {
            cstr_arg(name, "name")?;
        }
        let view = RunView::new(run);
        self.call("save_run", || unsafe {
            (self.save_run)(self.user_data, &view.info)
        })
    }

    fn get_run(&self, run_id: &str) -> Result<Option<PipelineRun>> {
        let id = cstr_arg(run_id, "run id")?;
        match self.collect("get_run", 1, |sink| unsafe {
            (self.get_run)(self.user_data, id.as_ptr(), sink)
        }) {
            Ok(mut runs) => Ok(runs.pop()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn update_task_status(&self, run_id: &str, task_name: &str, status: TaskStatus) -> Result<()> {
        let id = cstr_arg(run_id, "run id")?;
        let task = cstr_arg(task_name, "task name")?;
        self.call("update_task_status", || unsafe {
            (self.update_task_status)(self.user_data, id.as_ptr(), task.as_ptr(), status.into())
        })
    }

    fn list_runs(&self, pipeline_name: Option<&str>, limit: u32) -> Result<Vec<PipelineRun>> {
        let p = pipeline_name
            .map(|p| cstr_arg(p, "pipeline name"))
            .transpose()?;
        let pp = p.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        self.collect("list_runs", limit as usize, |sink| unsafe {
            (self.list_runs)(self.user_data, pp, limit, sink)
        })
    }

    fn update_tasks(&self, run_id: &str, updates: &[TaskUpdate<'_>]) -> Result<()> {
        let id = cstr_arg(run_id, "run id")?;
        for u in updates {
            let task = cstr_arg(u.task, "task name")?;
            // The output first: a task recorded SUCCESS then always has it.
            if let Some(out) = u.output {
                self.durable_store_output(&id, &task, out)?;
            }
            match self.update_task_detail {
                Some(f) => {
                    let d = OwnedDetail::new(u);
                    self.call("update_task_detail", || unsafe {
                        f(self.user_data, id.as_ptr(), &d.c)
                    })?;
                }
                None => self.call("update_task_status", || unsafe {
                    (self.update_task_status)(
                        self.user_data,
                        id.as_ptr(),
                        task.as_ptr(),
                        u.status.into(),
                    )
                })?,
            }
        }
        Ok(())
    }

    fn renew_lease(&self, run_id: &str, at: f64, interval: Duration) -> Result<()> {
        self.durable_renew_lease(run_id, at, interval)
    }

    fn recover(&self, stale_after: Duration) -> Result<u64> {
        self.durable_recover(stale_after)
    }

    fn purge(&self, before: f64, pipeline: Option<&str>, dry_run: bool) -> Result<u64> {
        self.durable_purge(before, pipeline, dry_run)
    }

    fn get_outputs(&self, run_id: &str) -> Result<BTreeMap<String, StoredOutput>> {
        self.durable_get_outputs(run_id)
    }

    fn link_resume(&self, run_id: &str, original: &str) -> Result<()> {
        self.durable_link_resume(run_id, original)
    }

    fn resumed_from(&self, run_id: &str) -> Result<Option<String>> {
        self.durable_resumed_from(run_id)
    }

    fn get_task_details(&self, run_id: &str) -> Result<Vec<TaskDetail>> {
        let Some(f) = self.get_task_details else {
            return Err(Error::unsupported(
                "this custom backend has no get_task_details function",
            ));
        };
        let id = cstr_arg(run_id, "run id")?;
        let mut sink = DorchTaskDetailSink {
            items: Mutex::new(Vec::new()),
        };
        let sp: *mut DorchTaskDetailSink = &mut sink;
        self.call("get_task_details", || unsafe {
            f(self.user_data, id.as_ptr(), sp)
        })?;
        let mut items = sink.items.into_inner().unwrap_or_else(|e| e.into_inner());
        items.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(items)
    }
}

/// Reads field `$f` of the host's vtable only if its `struct_size` covers it.
macro_rules! vt_field {
    ($vt:expr, $size:expr, $f:ident) => {{
        if offset_of!(DorchBackendVTable, $f) + size_of_field(|v: &DorchBackendVTable| &v.$f)
            <= $size
        {
            addr_of!((*$vt).$f).read()
        } else {
            None
        }
    }};
}

fn size_of_field<T>(_: impl Fn(&DorchBackendVTable) -> &T) -> usize {
    size_of::<T>()
}

/// Creates a backend that calls the host's `vtable` with `user_data`.
///
/// The vtable is copied: the host may free it when this returns. `user_data`
/// belongs to the backend from then on: `destroy` (if set) is called exactly
/// once with it when the last reference goes (`dorch_backend_free` and every
/// pipeline using the backend). If creation fails, `destroy` is not called
/// and the host keeps `user_data`. A NULL required function is
/// `DORCH_ERR_INVALID_ARGUMENT`. Free `*out` with `dorch_backend_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_custom(
    vtable: *const DorchBackendVTable,
    user_data: *mut c_void,
    out: *mut *mut DorchBackend,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        if vtable.is_null() {
            return Err(Error::invalid("vtable is NULL"));
        }
        let size = addr_of!((*vtable).struct_size).read() as usize;
        if size < size_of::<u32>() * 2 {
            return Err(Error::invalid(format!(
                "vtable->struct_size is {size}, too small to hold even the flags (set it to sizeof(DorchBackendVTable))"
            )));
        }
        let flags = addr_of!((*vtable).flags).read();
        let missing = |name: &str| {
            Error::invalid(format!(
                "vtable->{name} is NULL (or beyond struct_size {size}); it is required"
            ))
        };
        let save_run = vt_field!(vtable, size, save_run).ok_or_else(|| missing("save_run"))?;
        let get_run = vt_field!(vtable, size, get_run).ok_or_else(|| missing("get_run"))?;
        let update = vt_field!(vtable, size, update_task_status)
            .ok_or_else(|| missing("update_task_status"))?;
        let list_runs = vt_field!(vtable, size, list_runs).ok_or_else(|| missing("list_runs"))?;
        let destroy = vt_field!(vtable, size, destroy);
        let update_task_detail = vt_field!(vtable, size, update_task_detail)
            .map(|f| std::mem::transmute::<HostUpdateDetail, UpdateDetailFn>(f));
        let get_task_details = vt_field!(vtable, size, get_task_details)
            .map(|f| std::mem::transmute::<HostGetDetails, GetDetailsFn>(f));
        // Each optional slot, with the returned code read as an integer.
        macro_rules! slot {
            ($f:ident, $t:ty) => {
                vt_field!(vtable, size, $f).map(|f| std::mem::transmute::<_, $t>(f))
            };
        }
        let durable = DurableSlots {
            renew_lease: slot!(renew_lease, RenewLeaseFn),
            recover: slot!(recover, RecoverFn),
            purge: slot!(purge, PurgeFn),
            store_output: slot!(store_output, StoreOutputFn),
            get_outputs: slot!(get_outputs, GetOutputsFn),
            link_resume: slot!(link_resume, LinkResumeFn),
            resumed_from: slot!(resumed_from, ResumedFromFn),
        };
        // The same functions, with the returned code read as an integer.
        let b = CustomBackend {
            save_run: std::mem::transmute::<HostSaveRun, SaveRunFn>(save_run),
            get_run: std::mem::transmute::<HostGetRun, GetRunFn>(get_run),
            update_task_status: std::mem::transmute::<HostUpdate, UpdateFn>(update),
            list_runs: std::mem::transmute::<HostListRuns, ListRunsFn>(list_runs),
            destroy,
            update_task_detail,
            get_task_details,
            durable,
            user_data,
            guard: (flags & DORCH_BACKEND_THREAD_SAFE == 0).then(HostGuard::default),
        };
        *out = Box::into_raw(Box::new(DorchBackend { inner: Arc::new(b) }));
        Ok(DorchCode::OK)
    })
}

/// Copies `run` into the sink a vtable's `get_run` or `list_runs` was given.
/// `run` stays the host's: it may free it as soon as this returns. Pushing
/// more than one run from `get_run`, or more than `limit` from `list_runs`,
/// is `DORCH_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn dorch_run_sink_push(
    sink: *mut DorchRunSink,
    run: *const DorchRunInfo,
) -> DorchCode {
    boundary(|| {
        let sink = arg_ref(sink, "sink")?;
        let run = run_from_c(run)?;
        let mut runs = sink.runs.lock().unwrap_or_else(|e| e.into_inner());
        if runs.len() >= sink.capacity {
            return Err(Error::invalid(format!(
                "the sink takes at most {} run(s); run {:?} is one too many",
                sink.capacity, run.run_id
            )));
        }
        runs.push(run);
        Ok(DorchCode::OK)
    })
}
