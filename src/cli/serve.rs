//! `dremioorch ui`: the web UI over a history until Ctrl-C or SIGTERM.

use super::args::UiArgs;
use super::fail::{Fail, Outcome};
use crate::backend::BackendRef;
use crate::ui::{Ui, UiOptions};
use std::io::Write;

/// Serves until SIGINT or SIGTERM, then stops the server and returns.
pub(crate) fn run(backend: BackendRef, args: &UiArgs) -> Outcome {
    // Block the signals before the server's thread starts (threads inherit
    // the mask), so this thread alone receives them, in `sigwait`.
    let set = stop_signals();
    // SAFETY: `set` is a valid, initialised signal set.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let ui = Ui::start(
        backend,
        UiOptions {
            listen: Some(args.listen.clone()),
            username: args.user.clone().filter(|u| !u.is_empty()),
            password: args.password.clone().filter(|p| !p.is_empty()),
            pipelines_from_history: true,
        },
    )
    .map_err(|e| Fail::msg(e.message().to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{}", ui.address())?;
    out.flush()?;
    drop(out);
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` and `sig` are valid for the call.
    unsafe { libc::sigwait(&set, &mut sig) };
    ui.stop();
    Ok(())
}

fn stop_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset adds valid
    // signal numbers to it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}
