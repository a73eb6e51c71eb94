//! Pipelines and tasks, callable from C.

use super::context::DorchTaskContext;
use super::result::DorchRunResult;
use super::{
    arg_bytes, arg_mut, arg_name, arg_out, arg_ref, begin_host_call, boundary, end_host_call,
    set_last_error, trigger_rule_from_raw, DorchBackend, DorchCode, DorchTriggerRule,
};
use crate::backend::MemoryBackend;
use crate::error::{Error, Result};
use crate::model::{RunStatus, TriggerRule};
use crate::pipeline::{Pipeline, Task, TaskContext, TaskError};
use std::ffi::{c_char, c_void, CString};
use std::mem::{offset_of, size_of};
use std::ptr::addr_of;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A task callback. Returns `DORCH_OK` for success, anything else for
/// failure (explain it with `dorch_context_set_error`). May run on a worker
/// thread other than the caller's, and concurrently with other tasks.
pub type DorchTaskFn =
    Option<unsafe extern "C" fn(ctx: *mut DorchTaskContext, user_data: *mut c_void) -> DorchCode>;

/// The same callback with its returned code read as a plain integer.
type RawTaskFn = unsafe extern "C" fn(*mut DorchTaskContext, *mut c_void) -> u32;
type HostTaskFn = unsafe extern "C" fn(*mut DorchTaskContext, *mut c_void) -> DorchCode;

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
}

/// A named DAG of tasks and the backend its runs are recorded in (opaque).
/// Not thread-safe: do not modify a pipeline from two threads at once, nor
/// while it runs (that is `DORCH_ERR_INVALID_ARGUMENT`). Free it with
/// `dorch_pipeline_free`.
pub struct DorchPipeline {
    pipeline: Pipeline,
    running: AtomicUsize,
}

/// The host's `user_data` for one task, freed exactly once when the last
/// copy of the task goes (when the pipeline is freed).
struct HostData {
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

unsafe fn read_options(opts: *const DorchTaskOptions) -> Result<(u32, u32, TriggerRule)> {
    if opts.is_null() {
        return Ok((0, 0, TriggerRule::AllSuccess));
    }
    let size = addr_of!((*opts).struct_size).read() as usize;
    if size < size_of::<u32>() {
        return Err(Error::invalid(format!(
            "opts->struct_size is {size}; set it to sizeof(DorchTaskOptions)"
        )));
    }
    let has = |off: usize| off + size_of::<u32>() <= size;
    let retries = if has(offset_of!(DorchTaskOptions, retries)) {
        addr_of!((*opts).retries).read()
    } else {
        0
    };
    let delay = if has(offset_of!(DorchTaskOptions, retry_delay_ms)) {
        addr_of!((*opts).retry_delay_ms).read()
    } else {
        0
    };
    let rule = if has(offset_of!(DorchTaskOptions, trigger_rule)) {
        trigger_rule_from_raw(addr_of!((*opts).trigger_rule).cast::<u32>().read())
            .map_err(|e| e.context("opts->trigger_rule"))?
    } else {
        TriggerRule::AllSuccess
    };
    Ok((retries, delay, rule))
}

/// A mutable pipeline, refused while it runs.
unsafe fn pipeline_mut<'a>(p: *mut DorchPipeline) -> Result<&'a mut Pipeline> {
    let r = arg_ref(p, "pipeline")?;
    if r.running.load(Ordering::Acquire) > 0 {
        return Err(Error::invalid(format!(
            "pipeline {:?} is running and cannot be changed",
            r.pipeline.name()
        )));
    }
    Ok(&mut arg_mut(p, "pipeline")?.pipeline)
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
            pipeline,
            running: AtomicUsize::new(0),
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
        pipeline_mut(p)?.set_max_workers(n as usize)?;
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
        let pipeline = pipeline_mut(p)?;
        let name = arg_name(name, "name")?;
        let f = r#fn.ok_or_else(|| Error::invalid(format!("task {name:?}: fn is NULL")))?;
        let f = std::mem::transmute::<HostTaskFn, RawTaskFn>(f);
        let (retries, delay_ms, rule) = read_options(opts_or_null)?;
        let data = Arc::new(HostData {
            ptr: user_data,
            free: Mutex::new(free_user_data),
        });
        let held = data.clone();
        let task = Task::new(name, move |ctx: &mut TaskContext<'_>| {
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
        })
        .retries(retries)
        .retry_delay(Duration::from_millis(delay_ms.into()))
        .trigger_rule(rule);
        if let Err(e) = pipeline.add_task(task) {
            // Not added: the caller keeps user_data.
            *data.free.lock().unwrap_or_else(|e| e.into_inner()) = None;
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
        let pipeline = pipeline_mut(p)?;
        let up = arg_name(upstream, "upstream")?;
        let down = arg_name(downstream, "downstream")?;
        pipeline.add_dependency(up, down)?;
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
        let pipeline = pipeline_mut(p)?;
        let key = arg_name(key, "key")?;
        let bytes = arg_bytes(data, len, "data")?;
        pipeline.set_context(key, bytes.to_vec())?;
        Ok(DorchCode::OK)
    })
}

/// Runs the pipeline to its end, recording the run in its backend.
/// `DORCH_OK` when the run ended SUCCESS, `DORCH_ERR_TASK_FAILED` when it
/// ended FAILED (`dorch_last_error()` names the failed tasks); in both cases
/// `*out` holds the result, to free with `dorch_run_result_free`. Other
/// codes (`DORCH_ERR_CYCLE`, `DORCH_ERR_BACKEND`...) mean it could not run
/// or the backend failed; `*out` is then NULL.
/// Task callbacks may call back into the library, but must not change this pipeline.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_run(
    p: *mut DorchPipeline,
    out: *mut *mut DorchRunResult,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        let dp = arg_ref(p, "pipeline")?;
        dp.running.fetch_add(1, Ordering::AcqRel);
        struct Done<'a>(&'a AtomicUsize);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _done = Done(&dp.running);
        let result = dp.pipeline.run()?;
        let status = result.status();
        let message = (status != RunStatus::Success).then(|| {
            let failed: Vec<String> = result
                .tasks()
                .iter()
                .filter(|(_, s)| s.is_final() && **s == crate::model::TaskStatus::Failed)
                .map(|(n, _)| match result.error(n) {
                    Some(e) => format!("{n:?}: {e}"),
                    None => format!("{n:?}"),
                })
                .collect();
            format!(
                "run {} of pipeline {:?} FAILED; failed task(s): {}",
                result.run_id(),
                dp.pipeline.name(),
                failed.join("; ")
            )
        });
        *out = Box::into_raw(Box::new(DorchRunResult::new(result)));
        match message {
            None => Ok(DorchCode::OK),
            Some(m) => {
                set_last_error(&m);
                Ok(DorchCode::ERR_TASK_FAILED)
            }
        }
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
        let text = CString::new(p.pipeline.to_mermaid())
            .map_err(|_| Error::invalid("the diagram contains a NUL byte"))?;
        *out = text.into_raw();
        Ok(DorchCode::OK)
    })
}

/// Frees a pipeline: its tasks' `user_data` (with their `free_user_data`)
/// and its reference to the backend. NULL is accepted. Must not be called while it runs.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_free(p: *mut DorchPipeline) {
    boundary(|| {
        if !p.is_null() {
            drop(Box::from_raw(p));
        }
        Ok(())
    })
}
