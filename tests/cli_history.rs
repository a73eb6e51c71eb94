//! The `dremioorch` commands that change a history (`runs recover`, `runs
//! purge`) and the parts of `runs show` that need more than task detail
//! (stored outputs, the run a run resumes), on SQLite, PostgreSQL and
//! MariaDB histories made with the library.

mod cli_support;

use cli_support::*;
use dremioorch::{now_seconds, Backend, PipelineRun, RunOptions, RunStatus, TaskStatus};
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect()
}

/// A run as another process left it, without a lease.
fn stored(b: &dyn Backend, id: &str, pipeline: &str, start: f64, status: RunStatus) {
    let mut tasks = std::collections::BTreeMap::new();
    let (a, c) = match status {
        RunStatus::Running => (TaskStatus::Running, TaskStatus::Pending),
        RunStatus::Success => (TaskStatus::Success, TaskStatus::Success),
        RunStatus::Failed => (TaskStatus::Failed, TaskStatus::Skipped),
    };
    tasks.insert("a".to_string(), a);
    tasks.insert("c".to_string(), c);
    b.save_run(&PipelineRun {
        pipeline_name: pipeline.into(),
        run_id: id.into(),
        start_time: start,
        end_time: (status != RunStatus::Running).then_some(start + 1.0),
        status,
        tasks,
    })
    .unwrap();
}

/// Runs each check on a SQLite file, a PostgreSQL table and a MariaDB table.
macro_rules! on_every_backend {
    ($check:ident) => {
        mod $check {
            use super::*;
            #[test]
            fn sqlite() {
                super::$check(&Place::sqlite(stringify!($check)));
            }
            #[test]
            fn postgres() {
                super::$check(&Place::postgres("clih_pg"));
            }
            #[test]
            fn mariadb() {
                super::$check(&Place::mysql("clih_my"));
            }
        }
    };
}

on_every_backend!(recover_finishes_only_runs_whose_owner_is_gone);
on_every_backend!(purge_counts_then_deletes_old_finished_runs);
on_every_backend!(show_prints_stored_outputs_escaped_and_the_run_resumed);

fn recover_finishes_only_runs_whose_owner_is_gone(place: &Place) {
    let b = place.open();
    let now = now_seconds();
    stored(&*b, "lost", "etl", now - 3600.0, RunStatus::Running);
    stored(&*b, "young", "etl", now - 5.0, RunStatus::Running);
    stored(&*b, "done", "etl", now - 7200.0, RunStatus::Success);

    let r = dorch(place.url(), &["runs", "recover", "--stale-after", "10m"]).ok();
    assert_eq!(
        r.stdout,
        "Recovered 1 run: RUNNING without an owner for more than 10 min, now FAILED.\n"
    );
    let lost = dorch(place.url(), &["runs", "show", "lost", "--json"])
        .ok()
        .json();
    assert_eq!(lost["status"], "FAILED");
    assert_eq!(
        lost["tasks"],
        serde_json::json!({"a": "FAILED", "c": "SKIPPED"})
    );
    let a = &lost["task_details"][0];
    assert_eq!(
        (a["name"].as_str(), a["error"].as_str()),
        (Some("a"), Some("owner lost"))
    );
    let young = dorch(place.url(), &["runs", "show", "young", "--json"])
        .ok()
        .json();
    assert_eq!(
        young["status"], "RUNNING",
        "a run younger than --stale-after is kept"
    );
    let done = dorch(place.url(), &["runs", "show", "done", "--json"])
        .ok()
        .json();
    assert_eq!(done["status"], "SUCCESS");

    let r = dorch(place.url(), &["runs", "recover", "--stale-after", "10m"]).ok();
    assert!(r.stdout.starts_with("No run to recover"), "{}", r.stdout);
}

/// Three finished runs 40 days old (two of etl), one RUNNING run as old,
/// and today's history.
fn aged_history(place: &Place) -> History {
    let b = place.open();
    let old = now_seconds() - 40.0 * 86_400.0;
    stored(&*b, "old-etl-1", "etl", old, RunStatus::Failed);
    stored(&*b, "old-etl-2", "etl", old + 1.0, RunStatus::Success);
    stored(&*b, "old-nightly", "nightly", old + 2.0, RunStatus::Success);
    stored(&*b, "old-running", "nightly", old + 3.0, RunStatus::Running);
    make_history(b)
}

fn listed(place: &Place) -> Vec<String> {
    ids(
        &dorch(place.url(), &["runs", "list", "--json", "--limit", "100"])
            .ok()
            .json(),
    )
}

fn purge_counts_then_deletes_old_finished_runs(place: &Place) {
    let h = aged_history(place);
    let all = listed(place);
    assert_eq!(all.len(), 7);

    let r = dorch(
        place.url(),
        &["runs", "purge", "--before", "30d", "--dry-run"],
    )
    .ok();
    assert!(
        r.stdout
            .starts_with("Would delete 3 finished runs that started before "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("(30 d ago); dry run, nothing deleted."),
        "{}",
        r.stdout
    );
    let r = dorch(
        place.url(),
        &[
            "runs",
            "purge",
            "--before",
            "30d",
            "--pipeline",
            "etl",
            "--dry-run",
        ],
    )
    .ok();
    assert!(
        r.stdout
            .starts_with("Would delete 2 finished runs of pipeline \"etl\" that started before "),
        "{}",
        r.stdout
    );
    assert_eq!(listed(place), all, "a dry run deletes nothing");

    let r = dorch(
        place.url(),
        &[
            "runs",
            "purge",
            "--before",
            "30d",
            "--pipeline",
            "etl",
            "--yes",
        ],
    )
    .ok();
    assert!(
        r.stdout
            .starts_with("Deleted 2 finished runs of pipeline \"etl\""),
        "{}",
        r.stdout
    );
    let after = listed(place);
    assert_eq!(after.len(), 5);
    assert!(
        !after.iter().any(|id| id.starts_with("old-etl")),
        "{after:?}"
    );

    let r = dorch(place.url(), &["runs", "purge", "--before", "30d", "-y"]).ok();
    assert!(
        r.stdout.starts_with("Deleted 1 finished run that"),
        "{}",
        r.stdout
    );
    let after = listed(place);
    assert!(
        after.contains(&"old-running".to_string()),
        "a RUNNING run is never purged"
    );
    assert!(
        after.contains(&h.etl.run_id().to_string()),
        "today's runs stay"
    );
    assert_eq!(after.len(), 4);

    // A date instead of an age.
    let r = dorch(
        place.url(),
        &["runs", "purge", "--before", "1970-01-02", "--dry-run"],
    )
    .ok();
    assert!(
        r.stdout.starts_with(
            "Would delete 0 finished runs that started before 1970-01-02 00:00:00 UTC"
        ),
        "{}",
        r.stdout
    );
}

/// `runs purge` on a terminal (a pseudo-terminal from util-linux `script`)
/// asks, and deletes only on `y`.
#[test]
fn purge_asks_on_a_terminal() {
    let place = Place::sqlite("confirm");
    aged_history(&place);
    let line = format!("{BIN} runs purge --before 30d --backend {}", place.url());
    let answer = |text: &str| {
        let mut child = std::process::Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_remove("DORCH_BACKEND_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux script runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = answer("n\n");
    assert!(
        text.contains("Delete 3 finished runs that started before "),
        "{text}"
    );
    assert!(text.contains("[y/N]"), "{text}");
    assert!(text.contains("not confirmed: nothing deleted"), "{text}");
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(listed(&place).len(), 7);
    let (code, text) = answer("y\n");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("Deleted 3 finished runs"), "{text}");
    assert_eq!(listed(&place).len(), 4);
}

fn show_prints_stored_outputs_escaped_and_the_run_resumed(place: &Place) {
    let b = place.open();
    let first = etl(b.clone()).run().unwrap();
    let again = etl(b)
        .resume(first.run_id(), &RunOptions::default())
        .unwrap();

    let text = dorch(place.url(), &["runs", "show", first.run_id()])
        .ok()
        .stdout;
    assert!(!text.contains('\u{1b}'), "{text}");
    let out = text
        .lines()
        .find(|l| l.starts_with("extract ") && l.contains(" B  "))
        .unwrap_or_else(|| panic!("extract's output in {text}"));
    assert!(out.ends_with("  rows\\n\\u{1b}[31mred"), "{text}");
    assert!(!text.contains("Resumes"), "{text}");

    let text = dorch(place.url(), &["runs", "show", again.run_id()])
        .ok()
        .stdout;
    assert!(
        text.contains(&format!("\nResumes   {}\n", first.run_id())),
        "{text}"
    );
}
