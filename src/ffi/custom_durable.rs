//! The optional durable-history slots of a custom backend's vtable (lease,
//! recovery, purge, task outputs, resume links), and the sinks through which
//! its `get_outputs` and `resumed_from` hand values back.
//!
//! A vtable without a slot answers `Unsupported` for the operation; runs
//! still work (no lease, no stored outputs, no resume link). A host function
//! returning `DORCH_ERR_UNSUPPORTED` counts the same as a missing slot.

use super::custom_backend::CustomBackend;
use super::{arg_bytes, arg_name, arg_ref, boundary, DorchCode};
use crate::error::{Error, Result};
use crate::model::{OutputRef, StoredOutput};
use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CString};
use std::ptr::null;
use std::sync::Mutex;
use std::time::Duration;

// The host's functions, with the code they return read as a plain integer
// (the host may return any value); custom_backend.rs transmutes the
// vtable's fields (declared returning `DorchCode`) to these.
pub(super) type RenewLeaseFn = unsafe extern "C" fn(*mut c_void, *const c_char, f64, u64) -> u32;
pub(super) type RecoverFn = unsafe extern "C" fn(*mut c_void, u64, *mut u64) -> u32;
pub(super) type PurgeFn =
    unsafe extern "C" fn(*mut c_void, f64, *const c_char, bool, *mut u64) -> u32;
pub(super) type StoreOutputFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const u8, usize, bool) -> u32;
pub(super) type GetOutputsFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *mut DorchOutputSink) -> u32;
pub(super) type LinkResumeFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> u32;
pub(super) type ResumedFromFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *mut DorchResumeSink) -> u32;

/// The durable-history functions a vtable provides (`None`: absent).
pub(super) struct DurableSlots {
    pub(super) renew_lease: Option<RenewLeaseFn>,
    pub(super) recover: Option<RecoverFn>,
    pub(super) purge: Option<PurgeFn>,
    pub(super) store_output: Option<StoreOutputFn>,
    pub(super) get_outputs: Option<GetOutputsFn>,
    pub(super) link_resume: Option<LinkResumeFn>,
    pub(super) resumed_from: Option<ResumedFromFn>,
}

/// Collects the outputs a vtable's `get_outputs` hands back (opaque).
/// Owned by the library, valid only during that vtable call.
pub struct DorchOutputSink {
    items: Mutex<BTreeMap<String, StoredOutput>>,
}

/// Receives the run a vtable's `resumed_from` names (opaque). Owned by the
/// library, valid only during that vtable call.
pub struct DorchResumeSink {
    original: Mutex<Option<String>>,
}

fn absent(slot: &str) -> Error {
    Error::unsupported(format!("this custom backend has no {slot} function"))
}

fn c_arg(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("{what} {s:?} contains a NUL byte")))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl CustomBackend {
    pub(super) fn durable_renew_lease(&self, run_id: &str, at: f64, every: Duration) -> Result<()> {
        let f = self
            .durable
            .renew_lease
            .ok_or_else(|| absent("renew_lease"))?;
        let id = c_arg(run_id, "run id")?;
        self.call_durable("renew_lease", || unsafe {
            f(self.user_data, id.as_ptr(), at, millis(every))
        })
    }

    pub(super) fn durable_recover(&self, stale_after: Duration) -> Result<u64> {
        let f = self.durable.recover.ok_or_else(|| absent("recover"))?;
        let mut n = 0u64;
        let np: *mut u64 = &mut n;
        self.call_durable("recover", || unsafe {
            f(self.user_data, millis(stale_after), np)
        })?;
        Ok(n)
    }

    pub(super) fn durable_purge(
        &self,
        before: f64,
        pipeline: Option<&str>,
        dry_run: bool,
    ) -> Result<u64> {
        let f = self.durable.purge.ok_or_else(|| absent("purge"))?;
        let p = pipeline.map(|p| c_arg(p, "pipeline name")).transpose()?;
        let pp = p.as_ref().map_or(null(), |c| c.as_ptr());
        let mut n = 0u64;
        let np: *mut u64 = &mut n;
        self.call_durable("purge", || unsafe {
            f(self.user_data, before, pp, dry_run, np)
        })?;
        Ok(n)
    }

    /// Hands a task's output to the host, if it has `store_output` (without
    /// it outputs are not kept and runs cannot be resumed).
    pub(super) fn durable_store_output(
        &self,
        run_id: &CString,
        task: &CString,
        output: OutputRef<'_>,
    ) -> Result<()> {
        let Some(f) = self.durable.store_output else {
            return Ok(());
        };
        // A stored output is never passed as NULL, even when empty.
        let (data, len, stored) = match output {
            OutputRef::Stored(b) => (b.as_ptr(), b.len(), true),
            OutputRef::NotStored(n) => (null(), usize::try_from(n).unwrap_or(usize::MAX), false),
        };
        self.call_durable("store_output", || unsafe {
            f(
                self.user_data,
                run_id.as_ptr(),
                task.as_ptr(),
                data,
                len,
                stored,
            )
        })
    }

    pub(super) fn durable_get_outputs(
        &self,
        run_id: &str,
    ) -> Result<BTreeMap<String, StoredOutput>> {
        let f = self
            .durable
            .get_outputs
            .ok_or_else(|| absent("get_outputs"))?;
        let id = c_arg(run_id, "run id")?;
        let mut sink = DorchOutputSink {
            items: Mutex::new(BTreeMap::new()),
        };
        let sp: *mut DorchOutputSink = &mut sink;
        self.call_durable("get_outputs", || unsafe {
            f(self.user_data, id.as_ptr(), sp)
        })?;
        Ok(sink.items.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    pub(super) fn durable_link_resume(&self, run_id: &str, original: &str) -> Result<()> {
        let f = self
            .durable
            .link_resume
            .ok_or_else(|| absent("link_resume"))?;
        let id = c_arg(run_id, "run id")?;
        let orig = c_arg(original, "run id")?;
        self.call_durable("link_resume", || unsafe {
            f(self.user_data, id.as_ptr(), orig.as_ptr())
        })
    }

    pub(super) fn durable_resumed_from(&self, run_id: &str) -> Result<Option<String>> {
        let f = self
            .durable
            .resumed_from
            .ok_or_else(|| absent("resumed_from"))?;
        let id = c_arg(run_id, "run id")?;
        let mut sink = DorchResumeSink {
            original: Mutex::new(None),
        };
        let sp: *mut DorchResumeSink = &mut sink;
        self.call_durable("resumed_from", || unsafe {
            f(self.user_data, id.as_ptr(), sp)
        })?;
        Ok(sink
            .original
            .into_inner()
            .unwrap_or_else(|e| e.into_inner()))
    }
}

/// Copies one task's output into the sink a vtable's `get_outputs` was
/// given. `stored`: `data_or_null` holds the `len` bytes of the output
/// (NULL only when `len` is 0); otherwise the output was not stored (above
/// its run's limit), `len` is its size and `data_or_null` is ignored.
/// `task_name` and the bytes stay the host's: they are copied before this
/// returns. A task pushed twice is `DORCH_ERR_INVALID_ARGUMENT`. Any thread
/// (the sink is valid only during the `get_outputs` call).
#[no_mangle]
pub unsafe extern "C" fn dorch_output_sink_push(
    sink: *mut DorchOutputSink,
    task_name: *const c_char,
    data_or_null: *const u8,
    len: usize,
    stored: bool,
) -> DorchCode {
    boundary(|| {
        let sink = arg_ref(sink, "sink")?;
        let name = arg_name(task_name, "task_name")?;
        let output = if stored {
            StoredOutput::Stored(arg_bytes(data_or_null, len, "data")?.to_vec())
        } else {
            StoredOutput::NotStored(len as u64)
        };
        let mut items = sink.items.lock().unwrap_or_else(|e| e.into_inner());
        if items.contains_key(name) {
            return Err(Error::invalid(format!(
                "the output of task {name:?} was already pushed into this sink"
            )));
        }
        items.insert(name.to_string(), output);
        Ok(DorchCode::OK)
    })
}

/// Names, in the sink a vtable's `resumed_from` was given, the run that the
/// asked-for run resumes (`original_run_id` is copied). Not calling it means
/// the run resumes none. Calling it twice is `DORCH_ERR_INVALID_ARGUMENT`.
/// Any thread (the sink is valid only during the `resumed_from` call).
#[no_mangle]
pub unsafe extern "C" fn dorch_resume_sink_set(
    sink: *mut DorchResumeSink,
    original_run_id: *const c_char,
) -> DorchCode {
    boundary(|| {
        let sink = arg_ref(sink, "sink")?;
        let original = arg_name(original_run_id, "original_run_id")?;
        let mut slot = sink.original.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(prev) = slot.as_ref() {
            return Err(Error::invalid(format!(
                "the sink already names run {prev:?}"
            )));
        }
        *slot = Some(original.to_string());
        Ok(DorchCode::OK)
    })
}
