//! The command line's grammar.

use super::when::{self, Cutoff};
use crate::RunStatus;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

/// Where the history is when neither `--backend` nor `DORCH_BACKEND_URL` says.
pub(crate) const DEFAULT_BACKEND_URL: &str = "sqlite:///dremioframe_orchestration.db";

/// Variable read when `--backend` is not given.
pub(crate) const BACKEND_ENV: &str = "DORCH_BACKEND_URL";

#[derive(Debug, Parser)]
#[command(
    name = "dremioorch",
    version,
    about = "Read and maintain a dremioorch (or dremioframe) pipeline run history",
    after_help = "Backend URLs: sqlite:///relative/path.db, sqlite:////absolute/path.db, a file path, \
                  postgresql://user@host:port/db, mysql://user:pass@host:port/db; server URLs may end \
                  in ?table=name. Exit status: 0 done, 1 failed, 2 bad usage."
)]
pub(crate) struct Cli {
    /// The history to read: a backend URL
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = BACKEND_ENV,
        hide_env_values = true,
        default_value = DEFAULT_BACKEND_URL
    )]
    pub(crate) backend: String,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List, inspect, recover and purge runs
    #[command(subcommand)]
    Runs(RunsCommand),
    /// List the schedules recorded by schedulers sharing this backend
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// Serve the web UI over the history until Ctrl-C or SIGTERM
    #[cfg(feature = "ui")]
    #[command(
        after_help = "Credentials: with DORCH_UI_USER and DORCH_UI_PASSWORD set, every request \
                      needs them (HTTP basic auth). Prints the URL, then serves until Ctrl-C or SIGTERM."
    )]
    Ui(UiArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum SchedulesCommand {
    /// List schedules: name, pipeline, cron expression or interval, last and next fire
    List(SchedulesListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SchedulesListArgs {
    /// Print a JSON array of schedules (name, pipeline, spec, timezone, overlap, last_fire, next_fire)
    #[arg(long)]
    pub(crate) json: bool,
}

/// `dremioorch ui`.
#[cfg(feature = "ui")]
#[derive(Debug, Args)]
pub(crate) struct UiArgs {
    /// Address to listen on (port 0 picks a free one)
    #[arg(long, value_name = "ADDR", default_value = crate::ui::DEFAULT_LISTEN)]
    pub(crate) listen: String,
    /// User name the UI asks for (with DORCH_UI_PASSWORD)
    #[arg(long = "user", env = "DORCH_UI_USER", hide = true)]
    pub(crate) user: Option<String>,
    /// Password the UI asks for (with DORCH_UI_USER)
    #[arg(
        long = "password",
        env = "DORCH_UI_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    pub(crate) password: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// List runs, newest first
    List(ListArgs),
    /// Show one run: its tasks' status, attempts, times, errors and stored outputs
    Show(ShowArgs),
    /// Finish runs whose process died: RUNNING runs whose owner stopped renewing its lease
    #[command(
        after_help = "A recovered run becomes FAILED: its RUNNING tasks FAILED (\"owner lost\"), its \
                      PENDING tasks SKIPPED. A run whose owner is alive is never touched. Runs written \
                      without a lease (by dremioframe) count as stale once they started longer ago \
                      than --stale-after."
    )]
    Recover(RecoverArgs),
    /// Delete old finished runs (never a RUNNING one) with everything stored for them
    #[command(
        after_help = "Asks for confirmation when standard input is a terminal; pass --yes to skip \
                      the question (required when standard input is not a terminal)."
    )]
    Purge(PurgeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only runs of this pipeline
    #[arg(long, value_name = "NAME")]
    pub(crate) pipeline: Option<String>,
    /// Only runs with this status: RUNNING, SUCCESS or FAILED
    #[arg(long, value_name = "STATUS", value_parser = parse_status)]
    pub(crate) status: Option<RunStatus>,
    /// At most this many runs
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) limit: u32,
    /// Print a JSON array of runs (pipeline_name, run_id, start_time, status, end_time, tasks)
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The run's id, as `runs list` prints it
    #[arg(value_name = "RUN_ID")]
    pub(crate) run_id: String,
    /// Print the run as a JSON object, with task_details
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RecoverArgs {
    /// How long a run's owner may stay silent before the run counts as lost (e.g. 10m, 1h)
    #[arg(long, value_name = "AGE", value_parser = when::parse_age)]
    pub(crate) stale_after: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct PurgeArgs {
    /// Delete runs that started before this: an age (30d, 12h) or a UTC date (2024-01-31)
    #[arg(long, value_name = "AGE_OR_DATE", value_parser = when::parse_cutoff)]
    pub(crate) before: Cutoff,
    /// Only runs of this pipeline
    #[arg(long, value_name = "NAME")]
    pub(crate) pipeline: Option<String>,
    /// Count the runs that would be deleted; delete nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
}

/// A run status, in any case (`failed` is `FAILED`).
fn parse_status(s: &str) -> Result<RunStatus, String> {
    s.trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("unknown run status {s:?} (expected RUNNING, SUCCESS or FAILED)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn statuses_parse_in_any_case() {
        assert_eq!(parse_status("failed").unwrap(), RunStatus::Failed);
        assert_eq!(parse_status("SUCCESS").unwrap(), RunStatus::Success);
        assert!(parse_status("done").unwrap_err().contains("RUNNING"));
    }
}
