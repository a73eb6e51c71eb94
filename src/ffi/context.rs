//! What a C task callback sees: the task context, valid during the callback.

use super::{arg_bytes, arg_mut, arg_name, arg_ref, boundary, c_string, DorchCode};
use crate::error::{Error, Result};
use crate::pipeline::TaskContext;
use std::cell::OnceCell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::marker::PhantomData;

/// Handed to a task callback for one attempt (opaque). Valid only during
/// the callback, on the thread that runs it.
pub struct DorchTaskContext {
    /// The Rust context of this attempt (a `TaskContext<'_>`), lifetime erased.
    ctx: *mut c_void,
    run_id: OnceCell<CString>,
    task_name: OnceCell<CString>,
    _not_send: PhantomData<*mut ()>,
}

impl DorchTaskContext {
    pub(crate) fn new(ctx: &mut TaskContext<'_>) -> Self {
        DorchTaskContext {
            ctx: (ctx as *mut TaskContext<'_>).cast(),
            run_id: OnceCell::new(),
            task_name: OnceCell::new(),
            _not_send: PhantomData,
        }
    }

    /// The Rust context. Sound while the callback runs: the caller of the
    /// callback holds the `&mut TaskContext` this came from and does not use it.
    #[allow(clippy::mut_from_ref)] // the context is the callback's, lent to C for the call
    unsafe fn rust(&self) -> &mut TaskContext<'static> {
        &mut *self.ctx.cast::<TaskContext<'static>>()
    }
}

/// Reads `key`: the output of the finished upstream task named `key`, else
/// the initial context entry `key`. `DORCH_ERR_NOT_FOUND` when there is none.
/// `*data` is borrowed, valid until the callback returns (it may be a
/// non-NULL pointer with `*len` 0 for an empty value).
#[no_mangle]
pub unsafe extern "C" fn dorch_context_get(
    ctx: *const DorchTaskContext,
    key: *const c_char,
    data: *mut *const u8,
    len: *mut usize,
) -> DorchCode {
    boundary(|| {
        let ctx = arg_ref(ctx, "ctx")?;
        let key = arg_name(key, "key")?;
        let data = arg_mut(data, "data")?;
        let len = arg_mut(len, "len")?;
        *data = std::ptr::null();
        *len = 0;
        let v = ctx.rust().get(key).ok_or_else(|| {
            Error::not_found(format!("no upstream output or context entry named {key:?}"))
        })?;
        *data = v.as_ptr();
        *len = v.len();
        Ok(DorchCode::OK)
    })
}

/// Sets this attempt's output (copied; kept only if the attempt succeeds).
/// `data` may be NULL when `len` is 0 (an empty output).
#[no_mangle]
pub unsafe extern "C" fn dorch_context_set_output(
    ctx: *mut DorchTaskContext,
    data: *const u8,
    len: usize,
) -> DorchCode {
    boundary(|| {
        let ctx = arg_ref(ctx, "ctx")?;
        let bytes = arg_bytes(data, len, "data")?;
        ctx.rust().set_output(bytes.to_vec());
        Ok(DorchCode::OK)
    })
}

/// Says why this attempt fails (copied); the callback then returns an error
/// code. The message becomes the task's error in the run result.
#[no_mangle]
pub unsafe extern "C" fn dorch_context_set_error(
    ctx: *mut DorchTaskContext,
    message: *const c_char,
) -> DorchCode {
    boundary(|| {
        let ctx = arg_ref(ctx, "ctx")?;
        if message.is_null() {
            return Err(Error::invalid("message is NULL"));
        }
        let m = CStr::from_ptr(message).to_string_lossy().into_owned();
        ctx.rust().set_error(m);
        Ok(DorchCode::OK)
    })
}

fn cached(cell: &OnceCell<CString>, make: impl FnOnce() -> String) -> Result<*const c_char> {
    Ok(cell.get_or_init(|| c_string(&make())).as_ptr())
}

/// The run's id (a UUID). Borrowed: valid until the callback returns. NULL for a NULL ctx.
#[no_mangle]
pub unsafe extern "C" fn dorch_context_run_id(ctx: *const DorchTaskContext) -> *const c_char {
    boundary(|| {
        let ctx = arg_ref(ctx, "ctx")?;
        cached(&ctx.run_id, || ctx.rust().run_id().to_string())
    })
}

/// This task's name. Borrowed: valid until the callback returns. NULL for a NULL ctx.
#[no_mangle]
pub unsafe extern "C" fn dorch_context_task_name(ctx: *const DorchTaskContext) -> *const c_char {
    boundary(|| {
        let ctx = arg_ref(ctx, "ctx")?;
        cached(&ctx.task_name, || ctx.rust().task_name().to_string())
    })
}

/// 1 for the first attempt, 2 for the first retry, and so on; 0 for a NULL ctx.
#[no_mangle]
pub unsafe extern "C" fn dorch_context_attempt(ctx: *const DorchTaskContext) -> u32 {
    boundary(|| Ok(arg_ref(ctx, "ctx")?.rust().attempt()))
}

/// Whether the task should stop: its run was cancelled or passed its
/// timeout, or this attempt passed the task's own `timeout_ms`. The library
/// cannot stop a callback: a long task checks this (or sleeps with
/// `dorch_context_sleep`) and returns early. False for NULL.
#[no_mangle]
pub unsafe extern "C" fn dorch_context_is_cancelled(ctx: *const DorchTaskContext) -> bool {
    boundary(|| Ok(arg_ref(ctx, "ctx")?.rust().is_cancelled()))
}

/// Sleeps up to `ms` milliseconds. Returns `DORCH_OK` after the full sleep,
/// or early with `DORCH_ERR_CANCELLED` as soon as the task should stop (see
/// `dorch_context_is_cancelled`): the callback should then return.
#[no_mangle]
pub unsafe extern "C" fn dorch_context_sleep(ctx: *const DorchTaskContext, ms: u32) -> DorchCode {
    boundary(|| {
        let ctx = arg_ref(ctx, "ctx")?;
        match ctx
            .rust()
            .sleep(std::time::Duration::from_millis(ms.into()))
        {
            Ok(()) => Ok(DorchCode::OK),
            Err(e) => {
                super::set_last_error(e.message());
                Ok(DorchCode::ERR_CANCELLED)
            }
        }
    })
}
