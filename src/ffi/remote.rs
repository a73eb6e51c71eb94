//! Remote workers on Redis Streams, callable from C: executors that send
//! tasks to a queue, and workers that serve them.

use super::cancel::DorchCancelToken;
use super::pipeline::{
    change, disown, host_callback, host_data, read_options, with_options, DorchFreeFn,
    DorchPipeline, DorchTaskFn, DorchTaskOptions,
};
use super::{arg_name, arg_out, arg_ref, arg_str, boundary, DorchCode};
use crate::error::{Error, Result};
use crate::remote::{RedisExecutor, RemoteOptions, Worker};
use parking_lot::RwLock;
use std::ffi::{c_char, c_void};
use std::mem::size_of;
use std::ptr::addr_of;
use std::time::Duration;

/// Options of a queue, shared by its coordinator and its workers (give
/// both sides the same values). NULL options mean the defaults. A smaller
/// `struct_size` (an older host) is accepted: missing trailing fields take
/// their defaults.
#[repr(C)]
pub struct DorchRemoteOptions {
    /// `sizeof(DorchRemoteOptions)`.
    pub struct_size: u32,
    /// A task held this long by a worker that stopped renewing its claim
    /// (it died) goes to another worker; 0: 30000.
    pub visibility_timeout_ms: u32,
    /// A task that no worker takes within this time fails, with an error
    /// naming the task and the queue; 0: 60000.
    pub dispatch_timeout_ms: u32,
    /// The largest inputs (upstream outputs plus initial context) or output
    /// of one task, in bytes; larger ones fail the task instead of going
    /// through Redis. 0: 1 MiB.
    pub max_payload_bytes: u32,
}

/// Sends remote tasks to one Redis queue and waits for their results
/// (opaque). Free it with `dorch_executor_free`; pipelines keep their own
/// reference.
pub struct DorchExecutor {
    exec: RedisExecutor,
}

/// A worker serving the remote tasks of one queue (opaque). Free it with
/// `dorch_worker_free` once `dorch_worker_run` has returned.
pub struct DorchWorker {
    worker: RwLock<Worker>,
}

unsafe fn read_remote_options(opts: *const DorchRemoteOptions) -> Result<RemoteOptions> {
    let o = RemoteOptions::new();
    if opts.is_null() {
        return Ok(o);
    }
    let size = addr_of!((*opts).struct_size).read() as usize;
    if size < size_of::<u32>() {
        return Err(Error::invalid(format!(
            "opts->struct_size is {size}; set it to sizeof(DorchRemoteOptions)"
        )));
    }
    let base = opts.cast::<u8>();
    let field = |p: *const u32| -> u32 {
        let off = (p as *const u8).offset_from(base) as usize;
        if off + size_of::<u32>() <= size {
            p.read()
        } else {
            0
        }
    };
    let ms = |v: u32| Duration::from_millis(v.into());
    Ok(
        o.visibility_timeout(ms(field(addr_of!((*opts).visibility_timeout_ms))))
            .dispatch_timeout(ms(field(addr_of!((*opts).dispatch_timeout_ms))))
            .max_payload(field(addr_of!((*opts).max_payload_bytes)) as usize),
    )
}

/// An executor for `queue` on the Redis server at `redis_url`
/// (`redis://host:port/db`; both borrowed). Connects at once:
/// `DORCH_ERR_CONFIG` for an invalid URL, `DORCH_ERR_BACKEND` when Redis
/// cannot be reached, `DORCH_ERR_INVALID_ARGUMENT` for an empty queue name
/// or one with spaces. `opts_or_null` is borrowed (NULL: defaults). Free
/// `*out` with `dorch_executor_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_executor_redis(
    redis_url: *const c_char,
    queue: *const c_char,
    opts_or_null: *const DorchRemoteOptions,
    out: *mut *mut DorchExecutor,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        let url = arg_str(redis_url, "redis_url")?;
        let queue = arg_str(queue, "queue")?;
        let exec = RedisExecutor::new(url, queue, read_remote_options(opts_or_null)?)?;
        *out = Box::into_raw(Box::new(DorchExecutor { exec }));
        Ok(DorchCode::OK)
    })
}

/// Frees an executor. NULL is accepted. Pipelines it was given to keep
/// their own reference.
#[no_mangle]
pub unsafe extern "C" fn dorch_executor_free(e: *mut DorchExecutor) {
    boundary(|| {
        if !e.is_null() {
            drop(Box::from_raw(e));
        }
        Ok(())
    })
}

/// Adds to `p` a task named `name` (borrowed) that no local callback runs:
/// each attempt is sent to `e`'s queue and run by a worker that registered
/// `name`. Its upstream outputs and the run's initial context travel with
/// it; its output comes back and is read downstream as a local task's. It
/// holds one of the run's `max_workers` slots while it is out. Options as
/// for `dorch_pipeline_add_task` (`opts_or_null` borrowed; NULL: defaults);
/// a task timeout or the run's cancellation reaches the worker.
#[no_mangle]
pub unsafe extern "C" fn dorch_pipeline_add_remote_task(
    p: *mut DorchPipeline,
    name: *const c_char,
    e: *mut DorchExecutor,
    opts_or_null: *const DorchTaskOptions,
) -> DorchCode {
    boundary(|| {
        let name = arg_name(name, "name")?;
        let exec = &arg_ref(e, "executor")?.exec;
        let task = with_options(exec.task(name), &read_options(opts_or_null)?);
        change(p, |pipeline| pipeline.add_task(task))?;
        Ok(DorchCode::OK)
    })
}

/// A worker for `queue` on the Redis server at `redis_url` (both
/// borrowed), running one task at a time. Checks the URL
/// (`DORCH_ERR_CONFIG`) and the queue name; it connects in
/// `dorch_worker_run`. `opts_or_null` is borrowed (NULL: defaults; use the
/// coordinator's values). Free `*out` with `dorch_worker_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_worker_new(
    redis_url: *const c_char,
    queue: *const c_char,
    opts_or_null: *const DorchRemoteOptions,
    out: *mut *mut DorchWorker,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        let url = arg_str(redis_url, "redis_url")?;
        let queue = arg_str(queue, "queue")?;
        let worker = Worker::new(url, queue, read_remote_options(opts_or_null)?)?;
        *out = Box::into_raw(Box::new(DorchWorker {
            worker: RwLock::new(worker),
        }));
        Ok(DorchCode::OK)
    })
}

/// Registers `fn` for the remote tasks named `name` (borrowed). Inside it
/// every `dorch_context_*` function works as in a local task (upstream
/// outputs, initial context, output, error, cancellation, sleep). The
/// worker owns `user_data` from then on and calls `free_user_data` (may be
/// NULL) on it when freed; on failure (NULL fn, empty or duplicate name,
/// worker running: `DORCH_ERR_INVALID_ARGUMENT` / `DORCH_ERR_DUPLICATE`)
/// the caller keeps it. Delivery is at-least-once: make tasks idempotent.
#[no_mangle]
pub unsafe extern "C" fn dorch_worker_add_task(
    w: *mut DorchWorker,
    name: *const c_char,
    r#fn: DorchTaskFn,
    user_data: *mut c_void,
    free_user_data: DorchFreeFn,
) -> DorchCode {
    boundary(|| {
        let w = arg_ref(w, "worker")?;
        let name = arg_name(name, "name")?;
        let f = r#fn.ok_or_else(|| Error::invalid(format!("task {name:?}: fn is NULL")))?;
        let data = host_data(user_data, free_user_data);
        let added = match w.worker.try_write() {
            Some(mut worker) => worker.add_task(name, host_callback(f, data.clone())),
            None => Err(Error::invalid(
                "the worker is running and cannot be changed",
            )),
        };
        if added.is_err() {
            disown(&data);
        }
        added.map(|()| DorchCode::OK)
    })
}

/// How many tasks the worker runs at once (default 1; 0 is
/// `DORCH_ERR_INVALID_ARGUMENT`, as is a change while it runs).
#[no_mangle]
pub unsafe extern "C" fn dorch_worker_set_concurrency(w: *mut DorchWorker, n: u32) -> DorchCode {
    boundary(|| {
        let w = arg_ref(w, "worker")?;
        match w.worker.try_write() {
            Some(mut worker) => worker.set_concurrency(n as usize)?,
            None => {
                return Err(Error::invalid(
                    "the worker is running and cannot be changed",
                ))
            }
        }
        Ok(DorchCode::OK)
    })
}

/// Serves the worker's queue on the calling thread (tasks run on threads of
/// its own) until `stop` (borrowed) is cancelled, then finishes the tasks it
/// holds and returns `DORCH_OK`. `DORCH_ERR_BACKEND` when Redis cannot be
/// reached at start; later losses are retried until `stop` fires.
/// `DORCH_ERR_INVALID_ARGUMENT` when no task is registered.
#[no_mangle]
pub unsafe extern "C" fn dorch_worker_run(
    w: *mut DorchWorker,
    stop: *mut DorchCancelToken,
) -> DorchCode {
    boundary(|| {
        let w = arg_ref(w, "worker")?;
        let stop = &arg_ref(stop, "stop")?.token;
        w.worker.read().run(stop)?;
        Ok(DorchCode::OK)
    })
}

/// Frees a worker and its tasks' `user_data` (through their
/// `free_user_data`). NULL is accepted. `dorch_worker_run` must have returned.
#[no_mangle]
pub unsafe extern "C" fn dorch_worker_free(w: *mut DorchWorker) {
    boundary(|| {
        if !w.is_null() {
            drop(Box::from_raw(w));
        }
        Ok(())
    })
}
