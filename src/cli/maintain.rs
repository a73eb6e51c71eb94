//! `runs recover` and `runs purge`: the commands that change the history.

use super::args::{PurgeArgs, RecoverArgs};
use super::fail::Fail;
use super::text;
use super::when::{self, Cutoff};
use crate::Backend;
use std::io::{BufRead, IsTerminal, Write};

pub(crate) fn recover(b: &dyn Backend, args: &RecoverArgs) -> Result<String, Fail> {
    let n = b
        .recover(args.stale_after)
        .map_err(|e| Fail::msg(format!("cannot recover runs: {}", e.message())))?;
    let age = when::age_label(args.stale_after);
    Ok(match n {
        0 => format!(
            "No run to recover: no RUNNING run has been without its owner for more than {age}.\n"
        ),
        n => format!(
            "Recovered {n} {}: RUNNING without an owner for more than {age}, now FAILED.\n",
            if n == 1 { "run" } else { "runs" }
        ),
    })
}

/// Refuses, before anything is opened, a purge nobody confirmed and nobody
/// can be asked to confirm.
pub(crate) fn check_purge_confirmable(args: &PurgeArgs) -> Result<(), Fail> {
    if args.dry_run || args.yes || std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(Fail::msg(
        "runs purge deletes runs and standard input is not a terminal to confirm it: \
         pass --yes to delete, or --dry-run to only count them",
    ))
}

pub(crate) fn purge(b: &dyn Backend, args: &PurgeArgs) -> Result<String, Fail> {
    let before = args.before.epoch(crate::now_seconds());
    let pipeline = args.pipeline.as_deref();
    let fail = |e: crate::Error| Fail::msg(format!("cannot purge runs: {}", e.message()));
    let what = describe(args, before);
    if args.dry_run {
        let n = b.purge(before, pipeline, true).map_err(fail)?;
        return Ok(format!(
            "Would delete {n} {} {what}; dry run, nothing deleted.\n",
            runs_word(n)
        ));
    }
    if !args.yes {
        let n = b.purge(before, pipeline, true).map_err(fail)?;
        if n == 0 {
            return Ok(format!("Nothing to delete: no finished run {what}.\n"));
        }
        if !confirm(&format!("Delete {n} {} {what}? [y/N] ", runs_word(n)))? {
            return Err(Fail::msg("not confirmed: nothing deleted"));
        }
    }
    let n = b.purge(before, pipeline, false).map_err(fail)?;
    Ok(format!("Deleted {n} {} {what}.\n", runs_word(n)))
}

/// `finished runs of pipeline "etl" that started before 2024-05-01 12:00:00 UTC (30days ago)`.
fn describe(args: &PurgeArgs, before: f64) -> String {
    let of = args.pipeline.as_deref().map_or(String::new(), |p| {
        format!("of pipeline \"{}\" ", text::cell(p, 80))
    });
    let ago = match args.before {
        Cutoff::Age(d) => format!(" ({} ago)", when::age_label(d)),
        Cutoff::At(_) => String::new(),
    };
    format!("{of}that started before {}{ago}", when::timestamp(before))
}

fn runs_word(n: u64) -> &'static str {
    if n == 1 {
        "finished run"
    } else {
        "finished runs"
    }
}

/// Asks on stderr, reads the answer from stdin: only `y` or `yes` agrees.
fn confirm(question: &str) -> Result<bool, Fail> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Fail::msg(format!("cannot read the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
