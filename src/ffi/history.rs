//! Keeping history honest and small, callable from C: recovering the runs
//! of processes that died, purging old runs, and which run a run resumes.

use super::{
    arg_mut, arg_name, arg_opt_name, arg_out, arg_ref, boundary, c_string, DorchBackend, DorchCode,
};
use crate::error::Error;
use std::ffi::c_char;
use std::time::Duration;

/// Finishes the RUNNING runs whose owner is gone: a run whose owner last
/// renewed its lease more than `stale_after_ms` ago (and more than three of
/// its renewal intervals ago, so a live run is never touched), or, with no
/// lease at all (written by dremioframe, say), that started more than
/// `stale_after_ms` ago. Each becomes FAILED, its RUNNING tasks FAILED
/// (detail "owner lost"), its PENDING tasks SKIPPED, its `tasks` column
/// rewritten in full. `*recovered_out` gets how many runs were recovered.
/// Safe when several processes recover at once: each run is recovered once.
/// `DORCH_ERR_UNSUPPORTED` for a backend that cannot recover.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_recover(
    b: *mut DorchBackend,
    stale_after_ms: u64,
    recovered_out: *mut u64,
) -> DorchCode {
    boundary(|| {
        let out = arg_mut(recovered_out, "recovered_out")?;
        *out = 0;
        let b = arg_ref(b, "backend")?;
        *out = b.inner.recover(Duration::from_millis(stale_after_ms))?;
        Ok(DorchCode::OK)
    })
}

/// Deletes the finished runs (never a RUNNING one) that started before
/// `before_epoch_s` (seconds since the Unix epoch), of pipeline
/// `pipeline_or_null` (borrowed) or of all, with every row that belongs to
/// them, in batches (no long lock). `dry_run` only counts. `*count_out`
/// gets how many runs were (or would be) deleted. A `before_epoch_s` that
/// is not a finite number is `DORCH_ERR_INVALID_ARGUMENT`;
/// `DORCH_ERR_UNSUPPORTED` for a backend that cannot purge.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_purge(
    b: *mut DorchBackend,
    before_epoch_s: f64,
    pipeline_or_null: *const c_char,
    dry_run: bool,
    count_out: *mut u64,
) -> DorchCode {
    boundary(|| {
        let out = arg_mut(count_out, "count_out")?;
        *out = 0;
        let b = arg_ref(b, "backend")?;
        let pipeline = arg_opt_name(pipeline_or_null, "pipeline")?;
        if !before_epoch_s.is_finite() {
            return Err(Error::invalid("before_epoch_s is not a finite number"));
        }
        *out = b.inner.purge(before_epoch_s, pipeline, dry_run)?;
        Ok(DorchCode::OK)
    })
}

/// The run that run `run_id` (borrowed) resumes: `*original_out` gets its id
/// (owned: free it with `dorch_string_free`), or NULL when `run_id` resumes
/// none. `DORCH_ERR_NOT_FOUND` for an unknown run; `DORCH_ERR_UNSUPPORTED`
/// for a backend that keeps no resume links (a custom backend without the
/// `resumed_from` function). Any thread.
#[no_mangle]
pub unsafe extern "C" fn dorch_backend_resumed_from(
    b: *mut DorchBackend,
    run_id: *const c_char,
    original_out: *mut *mut c_char,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(original_out, "original_out")?;
        let b = arg_ref(b, "backend")?;
        let run_id = arg_name(run_id, "run_id")?;
        if let Some(original) = b.inner.resumed_from(run_id)? {
            *out = c_string(&original).into_raw();
        }
        Ok(DorchCode::OK)
    })
}
