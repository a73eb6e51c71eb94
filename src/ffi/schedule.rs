//! The scheduler, callable from C.

use super::pipeline::shared_schedulable;
use super::{
    arg_name, arg_opt_name, arg_out, arg_ref, boundary, DorchBackend, DorchCode, DorchPipeline,
};
use crate::error::{Error, Result};
use crate::schedule::{Overlap, Schedule, Scheduler, Spec};
use std::ffi::c_char;
use std::mem::{offset_of, size_of};
use std::ptr::addr_of;
use std::time::Duration;

/// What a fire does while the schedule's previous run still runs.
/// cbindgen:rename-all=prefix:DORCH_OVERLAP_
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum DorchOverlap {
    /// The fire is skipped (the default; APScheduler's `max_instances=1`).
    SKIP = 0,
    /// The fire waits for the current run to end; at most one waits.
    BUFFER_ONE = 1,
    /// The fire runs at once, beside the current run.
    ALLOW = 2,
}

/// When a schedule fires (`dorch_scheduler_add`; borrowed for the call).
/// Exactly one of `cron` and `interval_ms` is set. A smaller `struct_size`
/// (an older host) is accepted: missing trailing fields take their defaults.
#[repr(C)]
pub struct DorchSchedule {
    /// `sizeof(DorchSchedule)`.
    pub struct_size: u32,
    /// A cron expression: 5 fields (minute hour day-of-month month
    /// day-of-week), or 6 with seconds first. NULL when `interval_ms` is set.
    pub cron: *const c_char,
    /// Fire every `interval_ms` milliseconds, at the multiples of
    /// `interval_ms` since 1970-01-01 UTC (so every process computes the same
    /// times); 0 when `cron` is set.
    pub interval_ms: u64,
    /// IANA time zone the cron fields are read in (e.g. "Europe/Berlin");
    /// NULL: UTC. Daylight saving: a time that does not exist on the
    /// spring-forward day fires once, at the next existing time; a time that
    /// happens twice on the fall-back day fires once.
    pub timezone: *const c_char,
    /// Overlap policy (default `DORCH_OVERLAP_SKIP`).
    pub overlap: DorchOverlap,
    /// After downtime (fire times that passed while no scheduler sharing the
    /// claims backend ran the schedule), run at most this many of the newest
    /// missed fires; 0: none.
    pub max_catchup: u32,
}

/// A scheduler (opaque): runs pipelines on schedules, from a thread of its
/// own. Free it with `dorch_scheduler_free`.
pub struct DorchScheduler {
    inner: Scheduler,
}

fn overlap_from_raw(raw: u32) -> Result<Overlap> {
    Ok(match raw {
        0 => Overlap::Skip,
        1 => Overlap::BufferOne,
        2 => Overlap::Allow,
        _ => return Err(Error::invalid(format!("{raw} is not a DorchOverlap"))),
    })
}

/// Whether the field at `offset` of `size` bytes lies within `struct_size`.
fn covers(struct_size: usize, offset: usize, size: usize) -> bool {
    offset + size <= struct_size
}

unsafe fn read_schedule(spec: *const DorchSchedule) -> Result<Schedule> {
    let spec = arg_ref(spec, "spec")?;
    let size = addr_of!(spec.struct_size).read() as usize;
    let has = |off: usize, len: usize| covers(size, off, len);
    let cron = if has(offset_of!(DorchSchedule, cron), size_of::<*const c_char>()) {
        arg_opt_name(spec.cron, "spec->cron")?
    } else {
        None
    };
    let interval = if has(offset_of!(DorchSchedule, interval_ms), 8) {
        spec.interval_ms
    } else {
        0
    };
    let zone = if has(
        offset_of!(DorchSchedule, timezone),
        size_of::<*const c_char>(),
    ) {
        arg_opt_name(spec.timezone, "spec->timezone")?
    } else {
        None
    };
    let overlap = if has(offset_of!(DorchSchedule, overlap), 4) {
        overlap_from_raw(addr_of!(spec.overlap).cast::<u32>().read())
            .map_err(|e| e.context("spec->overlap"))?
    } else {
        Overlap::Skip
    };
    let catchup = if has(offset_of!(DorchSchedule, max_catchup), 4) {
        spec.max_catchup
    } else {
        0
    };
    let when = match (cron, interval) {
        (Some(expr), 0) => Spec::cron(expr, zone)?,
        (None, ms) if ms > 0 => {
            if zone.is_some() {
                return Err(Error::invalid(
                    "spec->timezone applies to a cron expression; interval schedules are aligned to UTC",
                ));
            }
            Spec::interval(Duration::from_millis(ms))?
        }
        (Some(_), _) => {
            return Err(Error::invalid(
                "spec sets both cron and interval_ms; set one",
            ))
        }
        (None, _) => {
            return Err(Error::invalid(
                "spec sets neither cron nor interval_ms; set one",
            ))
        }
    };
    Ok(Schedule::new(when).overlap(overlap).max_catchup(catchup))
}

/// A new, stopped scheduler. `claims_or_null`: a backend shared with other
/// schedulers (in this process or others), of which the scheduler takes a
/// reference of its own (the caller still frees its own): each fire time of
/// a schedule name is run once by all of them (the first to record its
/// claim runs it), and the schedules are recorded there (`dremioorch
/// schedules list`). NULL: this process only. Free `*out` with
/// `dorch_scheduler_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_scheduler_new(
    claims_or_null: *mut DorchBackend,
    out: *mut *mut DorchScheduler,
) -> DorchCode {
    boundary(|| {
        let out = arg_out(out, "out")?;
        let claims = claims_or_null.as_ref().map(|b| b.inner.clone());
        *out = Box::into_raw(Box::new(DorchScheduler {
            inner: Scheduler::new(claims),
        }));
        Ok(DorchCode::OK)
    })
}

/// Adds schedule `name` (borrowed; unique in this scheduler, else
/// `DORCH_ERR_DUPLICATE`) running pipeline `p` when `spec` (borrowed) says.
/// The scheduler keeps its own reference to `p`: the host may free `p`
/// afterwards. Each fire is a normal run of `p` (history, listener). A
/// malformed cron expression or an unknown time zone is
/// `DORCH_ERR_INVALID_ARGUMENT` naming the problem. Allowed before and after
/// `dorch_scheduler_start`.
#[no_mangle]
pub unsafe extern "C" fn dorch_scheduler_add(
    s: *mut DorchScheduler,
    name: *const c_char,
    p: *mut DorchPipeline,
    spec: *const DorchSchedule,
) -> DorchCode {
    boundary(|| {
        let s = arg_ref(s, "scheduler")?;
        let name = arg_name(name, "name")?;
        let pipeline = shared_schedulable(p)?;
        let schedule = read_schedule(spec)?;
        s.inner.add(name, pipeline, schedule)?;
        Ok(DorchCode::OK)
    })
}

/// Starts firing, from a thread of the scheduler's own (it sleeps until the
/// next fire time). Times that passed before the start do not fire, except
/// up to `max_catchup` missed ones of a schedule whose last fire is recorded
/// in the claims backend. Starting a started scheduler is
/// `DORCH_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn dorch_scheduler_start(s: *mut DorchScheduler) -> DorchCode {
    boundary(|| {
        arg_ref(s, "scheduler")?.inner.start()?;
        Ok(DorchCode::OK)
    })
}

/// The next fire time of schedule `name` (borrowed), in seconds since the
/// Unix epoch, into `*epoch_out`. `DORCH_ERR_NOT_FOUND` for an unknown name,
/// or when its cron expression never matches again.
#[no_mangle]
pub unsafe extern "C" fn dorch_scheduler_next_fire(
    s: *mut DorchScheduler,
    name: *const c_char,
    epoch_out: *mut f64,
) -> DorchCode {
    boundary(|| {
        let s = arg_ref(s, "scheduler")?;
        let name = arg_name(name, "name")?;
        if epoch_out.is_null() {
            return Err(Error::invalid("epoch_out is NULL"));
        }
        let next = s
            .inner
            .next_fire(name)?
            .ok_or_else(|| Error::not_found(format!("schedule {name:?} never fires again")))?;
        *epoch_out = next;
        Ok(DorchCode::OK)
    })
}

/// Stops firing and returns when every run the scheduler started has ended:
/// with `cancel_running` they are cancelled first (they end FAILED,
/// "cancelled: scheduler stopped"), otherwise they run to their end. A
/// stopped scheduler may be started again. Do not call it from a task of
/// one of the scheduler's own runs (it would wait for itself).
#[no_mangle]
pub unsafe extern "C" fn dorch_scheduler_stop(
    s: *mut DorchScheduler,
    cancel_running: bool,
) -> DorchCode {
    boundary(|| {
        arg_ref(s, "scheduler")?.inner.stop(cancel_running);
        Ok(DorchCode::OK)
    })
}

/// Stops the scheduler (waiting for its runs, as `dorch_scheduler_stop(s,
/// false)`), then frees it with its pipeline and backend references. NULL
/// is accepted.
#[no_mangle]
pub unsafe extern "C" fn dorch_scheduler_free(s: *mut DorchScheduler) {
    boundary(|| {
        if !s.is_null() {
            drop(Box::from_raw(s));
        }
        Ok(())
    })
}
