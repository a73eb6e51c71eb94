//! The web UI, callable from C.

use super::DorchPipeline;
use super::{arg_opt_name, arg_out, arg_ref, boundary, c_string, DorchBackend, DorchCode};
use crate::error::{Error, Result};
use crate::ui::{Ui, UiOptions};
use std::ffi::c_char;
use std::mem::{offset_of, size_of};
use std::ptr::addr_of;

/// A running web UI (opaque). Free it with `dorch_ui_free`, which stops
/// the server.
pub struct DorchUi {
    ui: Ui,
}

/// How `dorch_ui_start` serves. Set `struct_size` to
/// `sizeof(DorchUiOptions)`; fields beyond a smaller `struct_size` (an
/// older host) count as NULL. Every string is borrowed for the call and
/// copied; NULL means the default.
#[repr(C)]
pub struct DorchUiOptions {
    /// `sizeof(DorchUiOptions)`.
    pub struct_size: u32,
    /// `host:port` to listen on; NULL is `127.0.0.1:8080`. Port 0 picks a
    /// free port (see `dorch_ui_address`).
    pub listen: *const c_char,
    /// With `password`, every request needs these HTTP basic credentials.
    /// Both or neither.
    pub username: *const c_char,
    /// See `username`.
    pub password: *const c_char,
}

/// The options the host's struct holds (reading only what `struct_size` covers).
unsafe fn read_options(o: *const DorchUiOptions) -> Result<UiOptions> {
    if o.is_null() {
        return Ok(UiOptions::default());
    }
    let size = addr_of!((*o).struct_size).read() as usize;
    if size < offset_of!(DorchUiOptions, listen) + size_of::<*const c_char>() {
        return Err(Error::invalid(format!(
            "options->struct_size is {size}; set it to sizeof(DorchUiOptions)"
        )));
    }
    let field = |off: usize, p: *const *const c_char| {
        if off + size_of::<*const c_char>() <= size {
            p.read()
        } else {
            std::ptr::null()
        }
    };
    let text = |p: *const c_char, what: &str| -> Result<Option<String>> {
        Ok(arg_opt_name(p, what)?.map(str::to_string))
    };
    Ok(UiOptions {
        listen: text(
            field(offset_of!(DorchUiOptions, listen), addr_of!((*o).listen)),
            "listen",
        )?,
        username: text(
            field(
                offset_of!(DorchUiOptions, username),
                addr_of!((*o).username),
            ),
            "username",
        )?,
        password: text(
            field(
                offset_of!(DorchUiOptions, password),
                addr_of!((*o).password),
            ),
            "password",
        )?,
        pipelines_from_history: false,
    })
}

/// Starts the web UI over backend `b`'s history (the UI keeps its own
/// reference to the backend). `opts_or_null` is borrowed for the call.
/// Errors: NULL `b` or `out`, invalid UTF-8 or an empty string in the
/// options, only one of username and password (`DORCH_ERR_INVALID_ARGUMENT`
/// / `DORCH_ERR_NULL`), an address that cannot be bound
/// (`DORCH_ERR_CONFIG`). Free `*out` with `dorch_ui_free`.
#[no_mangle]
pub unsafe extern "C" fn dorch_ui_start(
    b: *mut DorchBackend,
    opts_or_null: *const DorchUiOptions,
    out: *mut *mut DorchUi,
) -> DorchCode {
    boundary(|| {
        let b = arg_ref(b, "backend")?;
        let out = arg_out(out, "out")?;
        let ui = Ui::start(b.inner.clone(), read_options(opts_or_null)?)?;
        *out = Box::into_raw(Box::new(DorchUi { ui }));
        Ok(DorchCode::OK)
    })
}

/// Registers pipeline `p` with the UI: it is listed on the Pipelines page
/// and its "Run now" button runs it on a new thread. The UI keeps its own
/// reference to the pipeline, so the host may free `p` afterwards. A
/// pipeline of the same name replaces the earlier one.
#[no_mangle]
pub unsafe extern "C" fn dorch_ui_add_pipeline(
    ui: *mut DorchUi,
    p: *mut DorchPipeline,
) -> DorchCode {
    boundary(|| {
        let ui = arg_ref(ui, "ui")?;
        let (name, runner) = arg_ref(p, "pipeline")?.ui_runner();
        ui.ui.add_runner(name, runner);
        Ok(DorchCode::OK)
    })
}

/// The address the UI listens on, `"127.0.0.1:PORT"` (the actual port
/// when 0 was asked), in `*out` (owned: free it with `dorch_string_free`).
#[no_mangle]
pub unsafe extern "C" fn dorch_ui_address(ui: *const DorchUi, out: *mut *mut c_char) -> DorchCode {
    boundary(|| {
        let ui = arg_ref(ui, "ui")?;
        let out = arg_out(out, "out")?;
        *out = c_string(&ui.ui.address().to_string()).into_raw();
        Ok(DorchCode::OK)
    })
}

/// Stops the server (requests in progress finish first) and frees the UI.
/// NULL is accepted. Runs started from the page keep going.
#[no_mangle]
pub unsafe extern "C" fn dorch_ui_free(ui: *mut DorchUi) {
    boundary(|| {
        if !ui.is_null() {
            drop(Box::from_raw(ui));
        }
        Ok(())
    })
}
