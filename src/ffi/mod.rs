//! The C API (docs/c-api.md): a thin `extern "C"` layer over the Rust API.
//!
//! Every exported function has a body made of one call to `boundary`, the
//! single place where panics are caught, errors become [`DorchCode`]s and the
//! thread-local message read by `dorch_last_error()` is set.
//! `tests/ffi_boundary.rs` fails when an exported function does not use it.
//!
//! The header `include/dremioorch.h` is generated from this module by
//! cbindgen (`cbindgen --config cbindgen.toml -o include/dremioorch.h src/ffi/mod.rs`,
//! or `UPDATE_HEADER=1 cargo test --test header`).
//!
//! Safety, for every exported function: each pointer argument is NULL or
//! points to what its type says, for as long as the documentation says
//! (objects from this library until freed, borrowed strings and structs for
//! the call). NULL and bad values are checked; dangling pointers cannot be.
#![allow(clippy::missing_safety_doc)]

mod backend;
mod cancel;
mod context;
mod custom_backend;
mod custom_durable;
mod detail;
mod history;
mod listener;
mod pipeline;
mod remote;
mod result;
mod run_list;
mod schedule;
#[cfg(feature = "ui")]
mod ui;

pub use backend::*;
pub use cancel::*;
pub use context::*;
pub use custom_backend::*;
pub use custom_durable::*;
pub use detail::*;
pub use history::*;
pub use listener::*;
pub use pipeline::*;
pub use remote::*;
pub use result::*;
pub use run_list::*;
pub use schedule::*;
#[cfg(feature = "ui")]
pub use ui::*;

use crate::error::{panic_message, Error, ErrorKind, Result};
use crate::model::{RunStatus, TaskStatus, TriggerRule};
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Result of every fallible function. `DORCH_OK` is 0; more codes may be added.
/// cbindgen:rename-all=prefix:DORCH_
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum DorchCode {
    /// Success.
    OK = 0,
    /// NULL where a value is required, invalid UTF-8, an empty name, a bad value.
    ERR_INVALID_ARGUMENT = 1,
    /// A run, task or key that does not exist.
    ERR_NOT_FOUND = 2,
    /// A name that is already taken.
    ERR_DUPLICATE = 3,
    /// The dependency graph has a cycle.
    ERR_CYCLE = 4,
    /// Missing or malformed configuration (URL, DSN, environment variable, table name).
    ERR_CONFIG = 5,
    /// The storage backend failed (I/O, SQL, network, a custom backend's error).
    ERR_BACKEND = 6,
    /// The run ended FAILED (the result object is still handed back).
    ERR_TASK_FAILED = 7,
    /// A panic was caught inside the library.
    ERR_PANIC = 8,
    /// The run was cancelled through its cancel token (the result object is
    /// still handed back); inside a task: the task should stop.
    ERR_CANCELLED = 9,
    /// The run passed its timeout (the result object is still handed back).
    ERR_TIMEOUT = 10,
    /// A custom backend lacks the optional function an operation needs.
    ERR_UNSUPPORTED = 11,
}

/// Status of a whole run.
/// cbindgen:rename-all=prefix:DORCH_RUN_
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum DorchRunStatus {
    /// Started and not finished (a stored run whose process died stays so).
    RUNNING = 0,
    /// Every task ended SUCCESS or SKIPPED.
    SUCCESS = 1,
    /// A task ended FAILED, or the backend failed during the run.
    FAILED = 2,
}

/// Status of one task within a run.
/// cbindgen:rename-all=prefix:DORCH_TASK_
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum DorchTaskStatus {
    /// Not started yet.
    PENDING = 0,
    /// An attempt is running.
    RUNNING = 1,
    /// An attempt succeeded.
    SUCCESS = 2,
    /// Every attempt failed.
    FAILED = 3,
    /// Not run: its trigger rule was not met.
    SKIPPED = 4,
}

/// When a task with upstream tasks runs, decided once all of them are done.
/// cbindgen:rename-all=prefix:DORCH_TRIGGER_
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum DorchTriggerRule {
    /// Run if every upstream task succeeded (the default).
    ALL_SUCCESS = 0,
    /// Run if at least one upstream task failed.
    ONE_FAILED = 1,
    /// Run whatever the upstream statuses.
    ALL_DONE = 2,
}

/// A `DorchTaskStatus` passed by value from C, received as the integer it
/// is (the host may pass any value) and checked. The header shows it as
/// `DorchTaskStatus` (cbindgen.toml renames it).
pub type DorchTaskStatusArg = u32;

impl DorchCode {
    pub(crate) fn of(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => DorchCode::ERR_INVALID_ARGUMENT,
            ErrorKind::NotFound => DorchCode::ERR_NOT_FOUND,
            ErrorKind::Duplicate => DorchCode::ERR_DUPLICATE,
            ErrorKind::Cycle => DorchCode::ERR_CYCLE,
            ErrorKind::Config => DorchCode::ERR_CONFIG,
            ErrorKind::Backend => DorchCode::ERR_BACKEND,
            ErrorKind::TaskFailed => DorchCode::ERR_TASK_FAILED,
            ErrorKind::Panic => DorchCode::ERR_PANIC,
            ErrorKind::Cancelled => DorchCode::ERR_CANCELLED,
            ErrorKind::Timeout => DorchCode::ERR_TIMEOUT,
            ErrorKind::Unsupported => DorchCode::ERR_UNSUPPORTED,
        }
    }

    /// The code's C name, for messages; `None` for a value that is not a code.
    pub(crate) fn name_of(raw: u32) -> Option<&'static str> {
        Some(match raw {
            0 => "DORCH_OK",
            1 => "DORCH_ERR_INVALID_ARGUMENT",
            2 => "DORCH_ERR_NOT_FOUND",
            3 => "DORCH_ERR_DUPLICATE",
            4 => "DORCH_ERR_CYCLE",
            5 => "DORCH_ERR_CONFIG",
            6 => "DORCH_ERR_BACKEND",
            7 => "DORCH_ERR_TASK_FAILED",
            8 => "DORCH_ERR_PANIC",
            9 => "DORCH_ERR_CANCELLED",
            10 => "DORCH_ERR_TIMEOUT",
            11 => "DORCH_ERR_UNSUPPORTED",
            _ => return None,
        })
    }
}

impl From<RunStatus> for DorchRunStatus {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Running => DorchRunStatus::RUNNING,
            RunStatus::Success => DorchRunStatus::SUCCESS,
            RunStatus::Failed => DorchRunStatus::FAILED,
        }
    }
}

impl From<TaskStatus> for DorchTaskStatus {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Pending => DorchTaskStatus::PENDING,
            TaskStatus::Running => DorchTaskStatus::RUNNING,
            TaskStatus::Success => DorchTaskStatus::SUCCESS,
            TaskStatus::Failed => DorchTaskStatus::FAILED,
            TaskStatus::Skipped => DorchTaskStatus::SKIPPED,
        }
    }
}

/// Enum values that come from the host are read as raw integers and checked,
/// never trusted to be valid Rust enum values.
pub(crate) fn run_status_from_raw(raw: u32) -> Result<RunStatus> {
    Ok(match raw {
        0 => RunStatus::Running,
        1 => RunStatus::Success,
        2 => RunStatus::Failed,
        _ => return Err(Error::invalid(format!("{raw} is not a DorchRunStatus"))),
    })
}

pub(crate) fn task_status_from_raw(raw: u32) -> Result<TaskStatus> {
    Ok(match raw {
        0 => TaskStatus::Pending,
        1 => TaskStatus::Running,
        2 => TaskStatus::Success,
        3 => TaskStatus::Failed,
        4 => TaskStatus::Skipped,
        _ => return Err(Error::invalid(format!("{raw} is not a DorchTaskStatus"))),
    })
}

pub(crate) fn trigger_rule_from_raw(raw: u32) -> Result<TriggerRule> {
    Ok(match raw {
        0 => TriggerRule::AllSuccess,
        1 => TriggerRule::OneFailed,
        2 => TriggerRule::AllDone,
        _ => return Err(Error::invalid(format!("{raw} is not a DorchTriggerRule"))),
    })
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// The message a host gave `dorch_set_error` during the current host call.
    static HOST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = c);
}

/// Clears the host's error slot for a host call, returning what was there
/// (to be put back by [`end_host_call`]: host calls may nest).
pub(crate) fn begin_host_call() -> Option<String> {
    HOST_ERROR
        .try_with(|h| h.borrow_mut().take())
        .ok()
        .flatten()
}

/// The message the host gave `dorch_set_error` during the call, restoring `saved`.
pub(crate) fn end_host_call(saved: Option<String>) -> Option<String> {
    HOST_ERROR
        .try_with(|h| std::mem::replace(&mut *h.borrow_mut(), saved))
        .ok()
        .flatten()
}

/// What an exported function returns when it fails or panics.
pub(crate) trait Fallback {
    fn fallback(kind: ErrorKind) -> Self;
}

impl Fallback for DorchCode {
    fn fallback(kind: ErrorKind) -> Self {
        DorchCode::of(kind)
    }
}
impl Fallback for () {
    fn fallback(_: ErrorKind) -> Self {}
}
impl Fallback for usize {
    fn fallback(_: ErrorKind) -> Self {
        0
    }
}
impl Fallback for bool {
    fn fallback(_: ErrorKind) -> Self {
        false
    }
}
impl Fallback for u32 {
    fn fallback(_: ErrorKind) -> Self {
        0
    }
}
impl<T> Fallback for *const T {
    fn fallback(_: ErrorKind) -> Self {
        std::ptr::null()
    }
}
impl Fallback for DorchRunStatus {
    /// A finished result is never RUNNING, so RUNNING marks a bad call.
    fn fallback(_: ErrorKind) -> Self {
        DorchRunStatus::RUNNING
    }
}
impl Fallback for DorchTaskStatus {
    /// A finished result has no PENDING task, so PENDING marks a bad call.
    fn fallback(_: ErrorKind) -> Self {
        DorchTaskStatus::PENDING
    }
}

/// The one boundary every exported function goes through: runs `f`, catches
/// a panic (`DORCH_ERR_PANIC`), and on failure records the message for
/// `dorch_last_error()` and returns the fallback value for the kind of error.
pub(crate) fn boundary<R: Fallback>(f: impl FnOnce() -> Result<R>) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_last_error(e.message());
            R::fallback(e.kind())
        }
        Err(p) => {
            set_last_error(&format!("panic inside dremioorch: {}", panic_message(&*p)));
            R::fallback(ErrorKind::Panic)
        }
    }
}

// ---- argument checks shared by the modules ----

/// A borrowed string argument: not NULL, valid UTF-8.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|e| Error::invalid(format!("{what} is not valid UTF-8: {e}")))
}

/// A name argument: not NULL, valid UTF-8, not empty.
pub(crate) unsafe fn arg_name<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    let s = arg_str(p, what)?;
    if s.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    Ok(s)
}

/// An optional name argument: NULL is `None`; otherwise as [`arg_name`].
pub(crate) unsafe fn arg_opt_name<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        arg_name(p, what).map(Some)
    }
}

/// A borrowed reference argument: not NULL.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    p.as_ref()
        .ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

/// A mutable reference argument: not NULL.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    p.as_mut()
        .ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

/// An out-parameter: not NULL; set to NULL at once so that it is NULL on failure.
pub(crate) unsafe fn arg_out<'a, T>(out: *mut *mut T, what: &str) -> Result<&'a mut *mut T> {
    let o = out
        .as_mut()
        .ok_or_else(|| Error::invalid(format!("{what} (the out-parameter) is NULL")))?;
    *o = std::ptr::null_mut();
    Ok(o)
}

/// A borrowed byte buffer: NULL is allowed only with a length of 0.
pub(crate) unsafe fn arg_bytes<'a>(data: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if data.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Error::invalid(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!("{what}: length {len} is too large")));
    }
    Ok(std::slice::from_raw_parts(data, len))
}

/// A C string the library owns, from text that may hold NUL bytes (shown as `\0`).
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| CString::new(s.replace('\0', "\\0")).unwrap_or_default())
}

static VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };

/// The library's version, e.g. "0.1.0". Static storage: never free it.
#[no_mangle]
pub extern "C" fn dorch_version() -> *const c_char {
    boundary(|| Ok(VERSION.as_ptr()))
}

/// The message of the last failure on the calling thread ("" if none).
///
/// Owned by the library: valid until the next call into the library on
/// the same thread fails; do not free it. Successful calls leave it unchanged.
#[no_mangle]
pub extern "C" fn dorch_last_error() -> *const c_char {
    boundary(|| {
        Ok(LAST_ERROR
            .try_with(|e| e.borrow().as_ptr())
            .unwrap_or(c"".as_ptr()))
    })
}

/// Frees a string returned by the library (such as `dorch_pipeline_to_mermaid`'s).
/// NULL is accepted. Do not pass strings the library did not hand out as owned.
#[no_mangle]
pub unsafe extern "C" fn dorch_string_free(s: *mut c_char) {
    boundary(|| {
        if !s.is_null() {
            drop(CString::from_raw(s));
        }
        Ok(())
    })
}

/// Lets a host function called by the library (a backend vtable function or
/// a task callback) explain why it is about to return an error code. The
/// message is copied; it comes back to the caller of the operation that
/// failed (through `dorch_last_error()`). NULL clears it; invalid UTF-8 is
/// replaced with U+FFFD.
#[no_mangle]
pub unsafe extern "C" fn dorch_set_error(message: *const c_char) {
    boundary(|| {
        let m = if message.is_null() {
            None
        } else {
            Some(CStr::from_ptr(message).to_string_lossy().into_owned())
        };
        let _ = HOST_ERROR.try_with(|h| *h.borrow_mut() = m);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last() -> String {
        unsafe { CStr::from_ptr(dorch_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_dorch_err_panic_with_its_message() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let rc: DorchCode = boundary(|| panic!("kaboom {}", 42));
        let ptr: *const u8 = boundary(|| -> Result<*const u8> { panic!("again") });
        let status: DorchTaskStatus = boundary(|| -> Result<DorchTaskStatus> { panic!("x") });
        std::panic::set_hook(prev);
        assert_eq!(rc, DorchCode::ERR_PANIC);
        assert!(ptr.is_null());
        assert_eq!(status, DorchTaskStatus::PENDING);
        assert_eq!(last(), "panic inside dremioorch: x");
    }

    #[test]
    fn errors_map_to_their_codes_and_messages() {
        let rc: DorchCode = boundary(|| Err(Error::not_found("no such thing")));
        assert_eq!(rc, DorchCode::ERR_NOT_FOUND);
        assert_eq!(last(), "no such thing");
        let rc: DorchCode = boundary(|| Ok(DorchCode::OK));
        assert_eq!(rc, DorchCode::OK);
        assert_eq!(last(), "no such thing", "success leaves the message alone");
        // A message with a NUL byte is still delivered.
        let _: DorchCode = boundary(|| Err(Error::invalid("a\0b")));
        assert_eq!(last(), "a\\0b");
        for (kind, code) in [
            (ErrorKind::InvalidArgument, 1),
            (ErrorKind::NotFound, 2),
            (ErrorKind::Duplicate, 3),
            (ErrorKind::Cycle, 4),
            (ErrorKind::Config, 5),
            (ErrorKind::Backend, 6),
            (ErrorKind::TaskFailed, 7),
            (ErrorKind::Panic, 8),
            (ErrorKind::Cancelled, 9),
            (ErrorKind::Timeout, 10),
            (ErrorKind::Unsupported, 11),
        ] {
            assert_eq!(DorchCode::of(kind) as u32, code);
            assert!(DorchCode::name_of(code).is_some());
        }
        assert!(DorchCode::name_of(12).is_none());
    }
}
