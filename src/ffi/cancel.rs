//! Cancel tokens, callable from C.

use super::{arg_opt_name, arg_out, arg_ref, boundary, DorchCode};
use crate::pipeline::CancelToken;
use std::ffi::c_char;

/// A thread-safe flag that stops the runs it is given to (opaque). It may be
/// shared by several runs and fired from any thread, including from inside
/// a task. Free it with `dorch_cancel_token_free` once no run uses it.
pub struct DorchCancelToken {
    pub(crate) token: CancelToken,
}

/// A new token that has not fired. Free `*out` with `dorch_cancel_token_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_cancel_token_new(out: *mut *mut DorchCancelToken) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        *out = Box::into_raw(Box::new(DorchCancelToken {
            token: CancelToken::new(),
        }));
        Ok(DorchCode::OK)
    })
}

/// Fires the token, from any thread. Runs using it start no more tasks,
/// record the tasks they did not start as SKIPPED (`"cancelled: <reason>"`),
/// and return `DORCH_ERR_CANCELLED`; running tasks see
/// `dorch_context_is_cancelled`. `reason_or_null` (borrowed, copied) says
/// why; only the first call's reason is kept, later calls do nothing.
/// An empty or invalid UTF-8 reason is `DORCH_ERR_INVALID_ARGUMENT` (and
/// the token does not fire).
#[no_mangle]
pub unsafe extern "C" fn dorch_cancel_token_cancel(
    t: *mut DorchCancelToken,
    reason_or_null: *const c_char,
) -> DorchCode {
    boundary(|| {
        let t = arg_ref(t, "token")?;
        let reason = arg_opt_name(reason_or_null, "reason")?;
        t.token.cancel(reason);
        Ok(DorchCode::OK)
    })
}

/// Whether the token has fired. False for NULL (and `dorch_last_error()` says so).
#[no_mangle]
pub unsafe extern "C" fn dorch_cancel_token_is_cancelled(t: *const DorchCancelToken) -> bool {
    boundary(|| Ok(arg_ref(t, "token")?.token.is_cancelled()))
}

/// Frees a token. NULL is accepted. A run given the token must have
/// returned first (the run borrows it).
#[no_mangle]
pub unsafe extern "C" fn dorch_cancel_token_free(t: *mut DorchCancelToken) {
    boundary(|| {
        if !t.is_null() {
            drop(Box::from_raw(t));
        }
        Ok(())
    })
}
