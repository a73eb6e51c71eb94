//! The `dremioorch` command line: lists, shows, recovers and purges the runs
//! of any history a backend URL names, and lists its recorded schedules. The executable's `main` is [`main`];
//! the rest of this module is private to it.
//!
//! Failures are one line on stderr (`dremioorch: ...`) and exit code 1; bad
//! usage is exit code 2. Nothing in here panics on bad input; a panic hook
//! keeps even a bug down to one line.

mod args;
mod fail;
mod json;
mod list;
mod maintain;
mod schedules;
#[cfg(feature = "ui")]
mod serve;
mod show;
mod table;
mod text;
mod when;

use self::args::{Cli, Command, RunsCommand, SchedulesCommand};
use self::fail::{one_line, Fail, Outcome};
use self::table::Paint;
use crate::backend::{self, BackendRef};
use clap::Parser;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::process::ExitCode;

/// Runs the command line with this process's arguments and environment:
/// exit code 0 when the command did its work, 1 when it failed (with one
/// line on stderr), 2 for bad usage.
pub fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version land here too, with exit code 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match panic::catch_unwind(AssertUnwindSafe(|| execute(&cli))) {
        Ok(Ok(())) | Ok(Err(Fail::BrokenPipe)) => ExitCode::SUCCESS,
        Ok(Err(Fail::Message(m))) => {
            let _ = writeln!(std::io::stderr(), "dremioorch: {}", one_line(&m));
            ExitCode::FAILURE
        }
        // The hook has said what happened.
        Err(_) => ExitCode::FAILURE,
    }
}

fn execute(cli: &Cli) -> Outcome {
    let paint = Paint::detect();
    if let Command::Runs(RunsCommand::Purge(a)) = &cli.command {
        maintain::check_purge_confirmable(a)?;
    }
    let b = open(&cli.backend)?;
    let text = match &cli.command {
        Command::Runs(cmd) => match cmd {
            RunsCommand::List(a) => list::run(&*b, a, &paint)?,
            RunsCommand::Show(a) => show::run(&*b, a, &paint)?,
            RunsCommand::Recover(a) => maintain::recover(&*b, a)?,
            RunsCommand::Purge(a) => maintain::purge(&*b, a)?,
        },
        Command::Schedules(SchedulesCommand::List(a)) => schedules::run(&*b, a, &paint)?,
        #[cfg(feature = "ui")]
        Command::Ui(a) => return serve::run(b, a),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Opens the history, refusing a SQLite file that does not exist: opening
/// would create an empty one, and a mistyped path would then list nothing
/// instead of saying so.
fn open(url: &str) -> Result<BackendRef, Fail> {
    if let Some(path) = backend::sqlite_path(url) {
        if !Path::new(path).exists() {
            return Err(Fail::msg(format!(
                "no history database at {path} (choose one with --backend URL or {})",
                args::BACKEND_ENV
            )));
        }
    }
    backend::open(url).map_err(|e| Fail::msg(format!("cannot open the backend: {}", e.message())))
}

/// A panic (a bug) is one line on stderr, never a backtrace.
fn install_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        let _ = writeln!(
            std::io::stderr(),
            "dremioorch: internal error{at}: {}",
            one_line(&what)
        );
    }));
}
