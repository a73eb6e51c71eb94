//! Pipelines and tasks, callable from C.

use super::cancel::DorchCancelToken;
use super::context::DorchTaskContext;
use super::listener::{CListener, DorchListener};
use super::result::DorchRunResult;
use super::{
    arg_bytes, arg_name, arg_out, arg_ref, begin_host_call, boundary, end_host_call,
    set_last_error, trigger_rule_from_raw, DorchBackend, DorchCode, DorchTriggerRule,
};
use crate::backend::MemoryBackend;
use crate::error::{Error, Result};
use crate::model::{RunStatus, TriggerRule};
use crate::pipeline::{Interruption, Listener, Pipeline, RunOptions, Task, TaskContext, TaskError};
use parking_lot::RwLock;
use std::ffi::{c_char, c_void, CString};
use std::mem::{offset_of, size_of};
use std::ptr::addr_of;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A task callback. Returns `DORCH_OK` for success, anything else for
/// failure (explain it with `dorch_context_set_error`). May run on a worker
/// thread other than the caller's, and concurrently with other tasks.
///
/// C++ hosts: a callback (like every function the library calls: vtable
/// functions, `free_user_data`) must not let an exception escape; an
/// exception cannot cross the library's frames and aborts the process. Catch
/// everything in the callback and return an error code instead.
pub type DorchTaskFn =
    Option<unsafe extern "C" fn(ctx: *mut DorchTaskContext, user_data: *mut c_void) -> DorchCode>;

/// The same callback with its returned code read as a plain integer.
type RawTaskFn = unsafe extern "C" fn(*mut DorchTaskContext, *mut c_void) -> u32;
pub(super) type HostTaskFn = unsafe extern "C" fn(*mut DorchTaskContext, *mut c_void) -> DorchCode;

/// Frees a task's `user_data`.
pub type DorchFreeFn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Options of a task. NULL options mean the defaults (0 retries, no delay,
/// `DORCH_TRIGGER_ALL_SUCCESS`). A smaller `struct_size` (an older host) is
/// accepted: missing trailing fields take their defaults.
#[repr(C)]
pub struct DorchTaskOptions {
    /// `sizeof(DorchTaskOptions)`.
    pub struct_size: u32,
    /// Extra attempts after the first failure.
    pub retries: u32,
    /// Wait between attempts, in milliseconds.
    pub retry_delay_ms: u32,
    /// When the task runs, given its upstream statuses.
    pub trigger_rule: DorchTriggerRule,
    /// Longest time one attempt may run, in milliseconds; 0: no limit. At
    /// the deadline the task is recorded FAILED ("timed out after N ms"),
    /// its retries are not tried, its children are decided at once by their
    /// trigger rules, and its callback sees `dorch_context_is_cancelled`.
    /// The run still waits for the callback to return: a callback that
    /// ignores cancellation holds its worker thread until it returns.
    /// (Added in 0.2; an older host's smaller `struct_size` means no limit.)
    pub timeout_ms: u32,
}

/// How a run is started (`dorch_pipeline_run_with`). NULL options mean no
/// timeout and no token. A smaller `struct_size` (an older host) is
/// accepted: missing trailing fields take their defaults.
#[repr(C)]
pub struct DorchRunOptions {
    /// `sizeof(DorchRunOptions)`.
    pub struct_size: u32,
    /// Timeout of the whole run, in milliseconds; 0: none. When it passes,
    /// no task starts any more, unstarted tasks become SKIPPED ("run timed
    /// out after N ms"), running tasks see `dorch_context_is_cancelled`.
    pub timeout_ms: u32,
    /// Optional cancel token (borrowed for the run; NULL: none).
    pub cancel: *mut DorchCancelToken,
    /// How often the run renews its lease in the backend, in milliseconds;
    /// 0: every 2000 ms. (Added in 0.2.)
    pub lease_interval_ms: u32,
    /// Task outputs of up to this many bytes are stored with the run; a
    /// larger one is kept for the run only and recorded as not stored.
    /// 0: 1 MiB. (Added in 0.2.)
    pub max_stored_output_bytes: u32,
}

/// A named DAG of tasks and the backend its runs are recorded in (opaque).
/// Changes from two threads at once are serialized; a change while the
/// pipeline runs (from any thread, or from inside one of its tasks) is
/// refused with `DORCH_ERR_INVALID_ARGUMENT`. Free it with `dorch_pipeline_free`.
pub struct DorchPipeline {
    shared: Arc<SharedPipeline>,
}

/// The pipeline behind a C handle, shared with the runs in progress: a run
/// holds its own reference, so freeing the handle during a run (even from one
/// of its tasks) frees the pipeline only when the run ends.
struct SharedPipeline {
    /// Runs in progress. A run counts itself here before it takes the read
    /// lock and uncounts itself after releasing it, so a change that sees
    /// zero under this mutex (and keeps holding it) never waits for a run.
    runs: Mutex<usize>,
    lock: RwLock<Pipeline>,
}

/// The host's `user_data` for one task, freed exactly once when the last
/// copy of the task goes (when the pipeline is freed).
pub(super) struct HostData {
    ptr: *mut c_void,
    free: Mutex<DorchFreeFn>,
}

// The host promises its user_data may be used from worker threads.
unsafe impl Send for HostData {}
unsafe impl Sync for HostData {}

impl Drop for HostData {
    fn drop(&mut self) {
        let f = self.free.get_mut().map(|f| f.take()).unwrap_or(None);
        if let Some(f) = f {
            unsafe { f(self.ptr) }
        }
    }
}

/// Wraps the host's `user_data`; freed with `free` when the last copy goes.
pub(super) fn host_data(ptr: *mut c_void, free: DorchFreeFn) -> Arc<HostData> {
    Arc::new(HostData {
        ptr,
        free: Mutex::new(free),
    })
}

/// Keeps the host's `user_data` (a call that failed does not free it).
pub(super) fn disown(data: &HostData) {
    *data.free.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The Rust callback running the host's task function `f` with `held`.
pub(super) fn host_callback(
    f: HostTaskFn,
    held: Arc<HostData>,
) -> impl Fn(&mut TaskContext<'_>) -> Result<(), TaskError> + Send + Sync + 'static {
    // Read the returned code as a plain integer: the host may return any value.
    let f = unsafe { std::mem::transmute::<HostTaskFn, RawTaskFn>(f) };
    move |ctx: &mut TaskContext<'_>| {
        let mut cctx = DorchTaskContext::new(ctx);
        let saved = begin_host_call();
        let rc = unsafe { f(&mut cctx, held.ptr) };
        let host_msg = end_host_call(saved);
        drop(cctx);
        if rc == 0 {
            Ok(())
        } else {
            Err(task_failure(rc, ctx, host_msg))
        }
    }
}

/// `task` with the options read from the host's struct.
pub(super) fn with_options(task: Task, o: &TaskOpts) -> Task {
    task.retries(o.retries)
        .retry_delay(Duration::from_millis(o.retry_delay_ms.into()))
        .trigger_rule(o.rule)
        .timeout(Duration::from_millis(o.timeout_ms.into()))
}

fn task_failure(rc: u32, ctx: &TaskContext<'_>, host_msg: Option<String>) -> TaskError {
    let msg = match (ctx.error(), host_msg) {
        (Some(m), _) => m.to_string(),
        (None, Some(m)) => m,
        (None, None) => match DorchCode::name_of(rc) {
            Some(n) => format!("task callback returned {n}"),
            None => format!("task callback returned {rc}"),
        },
    };
    msg.into()
}

/// A task's options as read from the host's struct.
pub(super) struct TaskOpts {
    retries: u32,
    retry_delay_ms: u32,
    rule: TriggerRule,
    timeout_ms: u32,
}

/// Reads a `u32`-sized field of a host struct only if `size` covers it.
unsafe fn field_u32(p: *const u32, base: *const u8, size: usize) -> Option<u32> {
    let off = (p as *const u8).offset_from(base) as usize;
    (off + size_of::<u32>() <= size).then(|| p.read())
}

pub(super) unsafe fn read_options(opts: *const DorchTaskOptions) -> Result<TaskOpts> {
    let mut o = TaskOpts {
        retries: 0,
        retry_delay_ms: 0,
        rule: TriggerRule::AllSuccess,
        timeout_ms: 0,
    };
    if opts.is_null() {
        return Ok(o);
    }
    let size = addr_of!((*opts).struct_size).read() as usize;
    if size < size_of::<u32>() {
        return Err(Error::invalid(format!(
            "opts->struct_size is {size}; set it to sizeof(DorchTaskOptions)"
        )));
    }
    let base = opts.cast::<u8>();
    o.retries = field_u32(addr_of!((*opts).retries), base, size).unwrap_or(0);
    o.retry_delay_ms = field_u32(addr_of!((*opts).retry_delay_ms), base, size).unwrap_or(0);
    if let Some(raw) = field_u32(addr_of!((*opts).trigger_rule).cast(), base, size) {
        o.rule = trigger_rule_from_raw(raw).map_err(|e| e.context("opts->trigger_rule"))?;
    }
    o.timeout_ms = field_u32(addr_of!((*opts).timeout_ms), base, size).unwrap_or(0);
    Ok(o)
}

unsafe fn read_run_options(opts: *const DorchRunOptions) -> Result<RunOptions> {
    let mut o = RunOptions::new();
    if opts.is_null() {
        return Ok(o);
    }
    let size = addr_of!((*opts).struct_size).read() as usize;
    if size < size_of::<u32>() {
        return Err(Error::invalid(format!(
            "opts->struct_size is {size}; set it to sizeof(DorchRunOptions)"
        )));
    }
    let base = opts.cast::<u8>();
    if let Some(ms) = field_u32(addr_of!((*opts).timeout_ms), base, size) {
        o = o.timeout(Duration::from_millis(ms.into()));
    }
    let cancel_off = offset_of!(DorchRunOptions, cancel);
    if cancel_off + size_of::<*mut DorchCancelToken>() <= size {
        if let Some(t) = addr_of!((*opts).cancel).read().as_ref() {
            o = o.cancel_token(t.token.clone());
        }
    }
    if let Some(ms) = field_u32(addr_of!((*opts).lease_interval_ms), base, size) {
        o = o.lease_interval(Duration::from_millis(ms.into()));
    }
    if let Some(n) = field_u32(addr_of!((*opts).max_stored_output_bytes), base, size) {
        if n > 0 {
            o = o.max_stored_output(n as usize);
        }
    }
    Ok(o)
}

/// Applies a change to the pipeline behind `p`: serialized with other
/// changes, refused while the pipeline runs.
pub(super) unsafe fn change<T>(
    p: *mut DorchPipeline,
    f: impl FnOnce(&mut Pipeline) -> Result<T>,
) -> Result<T> {
    let shared = &arg_ref(p, "pipeline")?.shared;
    let runs = lock(&shared.runs);
    if *runs > 0 {
        return Err(Error::invalid(format!(
            "pipeline {:?} is running and cannot be changed",
            shared.lock.read_recursive().name()
        )));
    }
    let result = f(&mut shared.lock.write());
    drop(runs);
    result
}

impl DorchPipeline {
    /// The pipeline's name and a function running it once (what the web
    /// UI's "Run now" calls), holding a reference to the pipeline.
    #[cfg(feature = "ui")]
    pub(crate) fn ui_runner(&self) -> (String, crate::ui::Runner) {
        let shared = self.shared.clone();
        let name = shared.running(|p| p.name().to_string());
        (
            name,
            Arc::new(move || {
                shared.running(|p| {
                    let _ = p.run();
                })
            }),
        )
    }
}

impl SharedPipeline {
    /// Runs `f` as a run in progress: changes are refused until it returns
    /// (or unwinds).
    fn running<T>(&self, f: impl FnOnce(&Pipeline) -> T) -> T {
        struct Counted<'a>(&'a Mutex<usize>);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                *lock(self.0) -= 1;
            }
        }
        *lock(&self.runs) += 1;
        let _counted = Counted(&self.runs);
        f(&self.lock.read_recursive())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new pipeline named `name` (borrowed) recording its runs in
/// `backend_or_null`, of which it takes a reference of its own (the caller
/// keeps and still frees its own); NULL: a fresh in-memory backend.
/// Free `*out` with `dorch_pipeline_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_new(
    name: *const c_char,
    backend_or_null: *mut DorchBackend,
    out: *mut *mut DorchPipeline,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        let name = arg_name(name, "name")?;
        let backend = match backend_or_null.as_ref() {
            Some(b) => b.inner.clone(),
            None => Arc::new(MemoryBackend::new()),
        };
        let pipeline = Pipeline::with_backend(name, backend)?;
        *out = Box::into_raw(Box::new(DorchPipeline {
            shared: Arc::new(SharedPipeline {
                runs: Mutex::new(0),
                lock: RwLock::new(pipeline),
            }),
        }));
        Ok(DorchCode::OK)
    })
}

/// Runs at most `n` tasks at once (default 1). 0 is `DORCH_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_set_max_workers(
    p: *mut DorchPipeline,
    n: u32,
) -> DorchCode {
    boundary(|| {
        change(p, |pipeline| pipeline.set_max_workers(n as usize))?;
        Ok(DorchCode::OK)
    })
}

/// Adds task `name` (borrowed) calling `fn(ctx, user_data)` for each attempt.
/// On success the pipeline owns `user_data`: `free_user_data` (if not NULL)
/// is called with it exactly once, when the pipeline is freed. On failure
/// (NULL fn, empty or duplicate name...) the caller keeps `user_data` and
/// `free_user_data` is not called. `opts_or_null` is borrowed (NULL: defaults).
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_add_task(
    p: *mut DorchPipeline,
    name: *const c_char,
    r#fn: DorchTaskFn,
    user_data: *mut c_void,
    free_user_data: DorchFreeFn,
    opts_or_null: *const DorchTaskOptions,
) -> DorchCode {
    boundary(|| {
        let name = arg_name(name, "name")?;
        let f = r#fn.ok_or_else(|| Error::invalid(format!("task {name:?}: fn is NULL")))?;
        let o = read_options(opts_or_null)?;
        let data = host_data(user_data, free_user_data);
        let task = with_options(Task::new(name, host_callback(f, data.clone())), &o);
        if let Err(e) = change(p, |pipeline| pipeline.add_task(task)) {
            // Not added: the caller keeps user_data.
            disown(&data);
            return Err(e);
        }
        Ok(DorchCode::OK)
    })
}

/// Makes task `downstream` wait for task `upstream` (both borrowed, both
/// must exist: else `DORCH_ERR_NOT_FOUND`). Cycles are reported by `dorch_pipeline_run`.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_add_dependency(
    p: *mut DorchPipeline,
    upstream: *const c_char,
    downstream: *const c_char,
) -> DorchCode {
    boundary(|| {
        let up = arg_name(upstream, "upstream")?;
        let down = arg_name(downstream, "downstream")?;
        change(p, |pipeline| pipeline.add_dependency(up, down))?;
        Ok(DorchCode::OK)
    })
}

/// Sets initial context entry `key` (borrowed) to `len` bytes at `data`
/// (copied; NULL allowed when `len` is 0). Every run's tasks can read it.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_set_context(
    p: *mut DorchPipeline,
    key: *const c_char,
    data: *const u8,
    len: usize,
) -> DorchCode {
    boundary(|| {
        let key = arg_name(key, "key")?;
        let bytes = arg_bytes(data, len, "data")?;
        change(p, |pipeline| pipeline.set_context(key, bytes.to_vec()))?;
        Ok(DorchCode::OK)
    })
}

/// Runs the pipeline to its end, recording the run in its backend.
/// `DORCH_OK` when the run ended SUCCESS, `DORCH_ERR_TASK_FAILED` when it
/// ended FAILED (`dorch_last_error()` names the failed tasks); in both cases
/// `*out` holds the result, to free with `dorch_run_result_free`. Other
/// codes (`DORCH_ERR_CYCLE`, `DORCH_ERR_BACKEND`...) mean it could not run
/// or the backend failed; `*out` is then NULL.
/// Task callbacks may call back into the library; changing this pipeline
/// while it runs is refused (`DORCH_ERR_INVALID_ARGUMENT`), and freeing it
/// is deferred to the end of the run. Several runs of one pipeline may
/// proceed at once, from different threads or nested in a task.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_run(
    p: *mut DorchPipeline,
    out: *mut *mut DorchRunResult,
) -> DorchCode {
    boundary(|| run(p, out, |pipeline| pipeline.run()))
}

/// `dorch_pipeline_run` with options (`opts_or_null` borrowed for the call;
/// NULL: no timeout, no token). Returns `DORCH_OK` (the run ended SUCCESS),
/// `DORCH_ERR_TASK_FAILED` (a task failed), `DORCH_ERR_CANCELLED` (the token
/// fired) or `DORCH_ERR_TIMEOUT` (the run timeout passed), handing back the
/// result object in all four cases; a cancelled or timed-out run ends FAILED
/// with its unstarted tasks SKIPPED. It returns only after every task
/// callback has returned. Other codes as for `dorch_pipeline_run` (`*out` NULL).
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_run_with(
    p: *mut DorchPipeline,
    opts_or_null: *const DorchRunOptions,
    out: *mut *mut DorchRunResult,
) -> DorchCode {
    boundary(|| {
        let opts = read_run_options(opts_or_null)?;
        run(p, out, |pipeline| pipeline.run_with(&opts))
    })
}

/// A new run of `p` that takes the tasks that ended SUCCESS in run `run_id`
/// (borrowed; a finished run of this pipeline in its backend) as done,
/// their stored outputs readable downstream, and runs the others by the
/// usual rules. The new run has its own id and is linked to `run_id` in the
/// backend. Returns as `dorch_pipeline_run_with` (`opts_or_null` borrowed).
/// Errors before anything runs: `DORCH_ERR_NOT_FOUND` (no such run),
/// `DORCH_ERR_INVALID_ARGUMENT` (a run of another pipeline, one still
/// RUNNING, a task set that no longer matches, naming the tasks; an output
/// needed downstream that was not stored), `DORCH_ERR_UNSUPPORTED` (a
/// backend that stores no outputs); `*out` is then NULL.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_resume(
    p: *mut DorchPipeline,
    run_id: *const c_char,
    opts_or_null: *const DorchRunOptions,
    out: *mut *mut DorchRunResult,
) -> DorchCode {
    boundary(|| {
        let opts = read_run_options(opts_or_null)?;
        let run_id = arg_name(run_id, "run_id")?;
        run(p, out, |pipeline| pipeline.resume(run_id, &opts))
    })
}

unsafe fn run(
    p: *mut DorchPipeline,
    out: *mut *mut DorchRunResult,
    start: impl FnOnce(&Pipeline) -> Result<crate::pipeline::RunResult>,
) -> Result<DorchCode> {
    let out = arg_out(out, "out")?;
    // The run's own reference: the handle may be freed while it runs.
    let shared = arg_ref(p, "pipeline")?.shared.clone();
    let (result, name) = shared.running(|pipeline| (start(pipeline), pipeline.name().to_string()));
    let result = result?;
    let (code, message) = match (result.interruption(), result.status()) {
        (Some(why), _) => {
            let code = match why {
                Interruption::Cancelled(_) => DorchCode::ERR_CANCELLED,
                Interruption::TimedOut(_) => DorchCode::ERR_TIMEOUT,
            };
            let m = format!(
                "run {} of pipeline {name:?} {why}; it ended FAILED",
                result.run_id()
            );
            (code, Some(m))
        }
        (None, RunStatus::Success) => (DorchCode::OK, None),
        (None, _) => {
            let failed: Vec<String> = result
                .tasks()
                .iter()
                .filter(|(_, s)| **s == crate::model::TaskStatus::Failed)
                .map(|(n, _)| match result.error(n) {
                    Some(e) => format!("{n:?}: {e}"),
                    None => format!("{n:?}"),
                })
                .collect();
            let m = format!(
                "run {} of pipeline {name:?} FAILED; failed task(s): {}",
                result.run_id(),
                failed.join("; ")
            );
            (DorchCode::ERR_TASK_FAILED, Some(m))
        }
    };
    *out = Box::into_raw(Box::new(DorchRunResult::new(result)));
    if let Some(m) = message {
        set_last_error(&m);
    }
    Ok(code)
}

/// Sets the pipeline's listener (`l_or_null` is copied; NULL removes it).
/// Refused while the pipeline runs, like every change.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_set_listener(
    p: *mut DorchPipeline,
    l_or_null: *const DorchListener,
) -> DorchCode {
    boundary(|| {
        let listener: Option<Arc<dyn Listener>> = if l_or_null.is_null() {
            None
        } else {
            Some(Arc::new(CListener::from_c(l_or_null)?))
        };
        change(p, |pipeline| {
            pipeline.set_listener(listener);
            Ok(())
        })?;
        Ok(DorchCode::OK)
    })
}

/// A Mermaid `graph TD` of the pipeline, as a new string the caller frees
/// with `dorch_string_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_to_mermaid(
    p: *const DorchPipeline,
    out: *mut *mut c_char,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        let p = arg_ref(p, "pipeline")?;
        let text = CString::new(p.shared.lock.read_recursive().to_mermaid())
            .map_err(|_| Error::invalid("the diagram contains a NUL byte"))?;
        *out = text.into_raw();
        Ok(DorchCode::OK)
    })
}

/// Frees a pipeline handle: its tasks' `user_data` (with their
/// `free_user_data`) and its reference to the backend. NULL is accepted.
/// Freeing a pipeline while it runs (from another thread, or from inside
/// one of its tasks) is allowed: the run keeps the pipeline alive and frees
/// it when it ends, on the thread that called `dorch_pipeline_run`. The
/// handle must not be used again after this call.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_free(p: *mut DorchPipeline) {
    boundary(|| {
        if !p.is_null() {
            drop(Box::from_raw(p));
        }
        Ok(())
    })
}

impl crate::schedule::Schedulable for SharedPipeline {
    fn pipeline_name(&self) -> String {
        self.lock.read_recursive().name().to_string()
    }
    fn run_scheduled(&self, opts: &RunOptions) -> Result<crate::pipeline::RunResult> {
        self.running(|pipeline| pipeline.run_with(opts))
    }
}

/// The pipeline behind handle `p`, shared: what a scheduler keeps so the
/// host may free the handle afterwards.
pub(crate) unsafe fn shared_schedulable(
    p: *mut DorchPipeline,
) -> Result<Arc<dyn crate::schedule::Schedulable>> {
    Ok(arg_ref(p, "pipeline")?.shared.clone())
}
