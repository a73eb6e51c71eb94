//! The `dremioorch` executable as a user runs it: `runs list` and `runs
//! show` over SQLite, PostgreSQL and MariaDB histories made with the
//! library, `--json` checked key by key, and the ways it refuses
//! (unknown run, bad URL, database down, bad usage): one line, a non-zero
//! exit code, never a panic.

mod cli_support;

use cli_support::*;
use serde_json::Value;
use std::collections::BTreeSet;

const RUN_KEYS: [&str; 6] = [
    "pipeline_name",
    "run_id",
    "start_time",
    "status",
    "end_time",
    "tasks",
];

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect()
}

/// Every check of list and show against one history.
fn check_history(place: &Place) {
    let h = make_history(place.open());
    let url = place.url();
    let etl_id = h.etl.run_id();
    let [n1, n2] = [h.nightly[0].run_id(), h.nightly[1].run_id()];

    // list --json: every run, newest first, dremioframe's keys and values.
    let all = dorch(url, &["runs", "list", "--json"]).ok().json();
    assert_eq!(ids(&all), [n2, n1, etl_id]);
    for run in all.as_array().unwrap() {
        assert_eq!(keys(run), RUN_KEYS.into_iter().collect());
    }
    let etl = &all[2];
    assert_eq!(etl["pipeline_name"], "etl");
    assert_eq!(etl["status"], "FAILED");
    // serde_json's default float parsing may be off in the last bit.
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-6;
    assert!(close(&etl["start_time"], h.etl.start_time()), "{etl}");
    assert!(close(&etl["end_time"], h.etl.end_time().unwrap()), "{etl}");
    assert_eq!(
        etl["tasks"],
        serde_json::json!({
            "extract": "SUCCESS", HOSTILE_TASK: "SUCCESS", "transform": "FAILED",
            "load": "SKIPPED", "report": "SUCCESS"
        })
    );
    assert_eq!(all[0]["tasks"], serde_json::json!({"backup": "SUCCESS"}));

    // Filters.
    let only = |args: &[&str]| {
        let mut a = vec!["runs", "list", "--json"];
        a.extend(args);
        ids(&dorch(url, &a).ok().json())
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(only(&["--pipeline", "etl"]), [etl_id]);
    assert_eq!(only(&["--pipeline", "nightly"]), [n2, n1]);
    assert_eq!(only(&["--pipeline", "nope"]), Vec::<String>::new());
    assert_eq!(only(&["--status", "FAILED"]), [etl_id]);
    assert_eq!(only(&["--status", "success"]), [n2, n1]);
    assert_eq!(only(&["--status", "RUNNING"]), Vec::<String>::new());
    assert_eq!(only(&["--limit", "1"]), [n2]);
    assert_eq!(
        only(&[
            "--limit",
            "2",
            "--status",
            "SUCCESS",
            "--pipeline",
            "nightly"
        ]),
        [n2, n1]
    );

    // The backend from the environment instead of --backend.
    let env = output(
        cmd(
            &std::env::temp_dir(),
            &["runs", "list", "--json", "--limit", "1"],
        )
        .env("DORCH_BACKEND_URL", url),
    )
    .ok()
    .json();
    assert_eq!(ids(&env), [n2]);

    // list, for people: an aligned table, no colour when not on a terminal,
    // the hostile task name never printed (list shows no task names).
    let table = dorch(url, &["runs", "list"]).ok().stdout;
    assert!(!table.contains('\u{1b}'), "{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    let header = lines[0];
    assert!(header.starts_with("RUN ID"), "{table}");
    for col in ["PIPELINE", "STATUS", "STARTED", "DURATION", "TASKS"] {
        let at = header
            .find(col)
            .unwrap_or_else(|| panic!("{col} in {header}"));
        // Aligned: each row's cell starts where its header does.
        for row in &lines[1..] {
            let before = &row[..at];
            assert!(before.ends_with("  "), "{col} misaligned in {table}");
        }
    }
    assert!(
        lines[1].starts_with(n2) && lines[3].starts_with(etl_id),
        "{table}"
    );
    assert!(lines[3].contains("FAILED"), "{table}");
    assert!(
        lines[3].contains("just now") || lines[3].contains(" s ago"),
        "{table}"
    );
    assert!(lines[3].contains("3 ok, 1 failed, 1 skipped"), "{table}");

    // show --json: the run object plus task_details.
    let shown = dorch(url, &["runs", "show", etl_id, "--json"]).ok().json();
    let mut expected: BTreeSet<&str> = RUN_KEYS.into_iter().collect();
    expected.insert("task_details");
    assert_eq!(keys(&shown), expected);
    for k in RUN_KEYS {
        assert_eq!(shown[k], etl[k], "{k}");
    }
    let details = shown["task_details"].as_array().unwrap();
    assert_eq!(details.len(), 5);
    let detail = |name: &str| {
        details
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {details:?}"))
    };
    for d in details {
        assert_eq!(
            keys(d),
            [
                "name",
                "status",
                "attempts",
                "start_time",
                "end_time",
                "error"
            ]
            .into_iter()
            .collect()
        );
    }
    let t = detail("transform");
    assert_eq!(t["status"], "FAILED");
    assert_eq!(t["attempts"], 2);
    assert_eq!(
        t["error"].as_str(),
        Some(format!("{TRANSFORM_ERROR} (after 2 attempts)").as_str())
    );
    let (ts, te) = (
        t["start_time"].as_f64().unwrap(),
        t["end_time"].as_f64().unwrap(),
    );
    assert!(h.etl.start_time() <= ts && ts <= te, "{t}");
    let e = detail("extract");
    assert_eq!(
        (e["status"].as_str(), e["attempts"].as_u64()),
        (Some("SUCCESS"), Some(1))
    );
    assert!(e["error"].is_null());
    let l = detail("load");
    assert_eq!(l["status"], "SKIPPED");
    assert_eq!(l["attempts"], 0);
    assert!(l["start_time"].is_null(), "{l}");
    assert_eq!(detail(HOSTILE_TASK)["status"], "SUCCESS");
    assert_eq!(detail("report")["status"], "SUCCESS");

    // show, for people: the run's fields, then the tasks in the order they
    // ran, stored text escaped.
    let text = dorch(url, &["runs", "show", etl_id]).ok().stdout;
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.starts_with(&format!("Run       {etl_id}\n")), "{text}");
    assert!(text.contains("\nPipeline  etl\n"), "{text}");
    assert!(text.contains("\nStatus    FAILED\n"), "{text}");
    assert!(text.contains("\nDuration  "), "{text}");
    assert!(text.contains("odd\\u{1b}[2Jname"), "{text}");
    let row = |task: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{task} ")))
            .unwrap_or_else(|| panic!("{task} in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let tr = row("transform");
    assert_eq!(&tr[1..3], ["FAILED", "2"], "{text}");
    assert!(text.contains("bad row 7\\nsecond line"), "{text}");
    assert_eq!(&row("load")[1..], ["SKIPPED", "0", "-", "-"], "{text}");
    let order: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("TASK"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        order.last(),
        Some(&"load"),
        "never-started tasks come last: {text}"
    );
    let (x, t) = (
        order.iter().position(|n| *n == "extract").unwrap(),
        order.iter().position(|n| *n == "transform").unwrap(),
    );
    assert!(x < t, "tasks in the order they started: {text}");

    // An unknown run: one line, exit 1.
    let r = dorch(url, &["runs", "show", "no-such-run"]).fails(1);
    assert!(
        r.stderr.contains("no run with id \"no-such-run\""),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
}

#[test]
fn list_and_show_a_sqlite_history() {
    check_history(&Place::sqlite("sqlite"));
}

#[test]
fn list_and_show_a_postgres_history() {
    check_history(&Place::postgres("cli_pg"));
}

#[test]
fn list_and_show_a_mariadb_history() {
    check_history(&Place::mysql("cli_my"));
}

#[test]
fn the_default_history_is_dremioframes_file_in_the_current_directory() {
    let dir = Dir::new("default");
    let r = output(&mut cmd(dir.path(), &["runs", "list"])).fails(1);
    assert!(
        r.stderr
            .contains("no history database at dremioframe_orchestration.db"),
        "{}",
        r.stderr
    );
    assert!(
        !dir.path().join("dremioframe_orchestration.db").exists(),
        "a missing file is not created"
    );
    let b = dremioorch::backend::open(&format!(
        "sqlite:///{}",
        dir.path().join("dremioframe_orchestration.db").display()
    ))
    .unwrap();
    let run = nightly(b).run().unwrap();
    let listed = output(&mut cmd(dir.path(), &["runs", "list", "--json"]))
        .ok()
        .json();
    assert_eq!(ids(&listed), [run.run_id()]);
    let empty = Dir::new("empty");
    let url = format!("sqlite:///{}", empty.path().join("none.db").display());
    let r = dorch(&url, &["runs", "list"]).fails(1);
    assert!(r.stderr.contains("none.db"), "{}", r.stderr);
}

#[test]
fn an_empty_history_lists_nothing() {
    let place = Place::sqlite("empty");
    drop(place.open());
    assert_eq!(
        dorch(place.url(), &["runs", "list"]).ok().stdout,
        "No runs.\n"
    );
    assert_eq!(
        dorch(place.url(), &["runs", "list", "--json"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn bad_urls_and_unreachable_databases_are_one_line_errors() {
    for (url, says) in [
        ("ftp://example.com/x", "unknown scheme"),
        ("sqlite:", "expected sqlite:///"),
        ("postgresql://postgres@127.0.0.1:1/test", "127.0.0.1:1"),
        ("mysql://root@127.0.0.1:1/test", "127.0.0.1:1"),
        (
            "postgresql://postgres@127.0.0.1:5432/test?table=bad;name",
            "table",
        ),
    ] {
        for args in [
            &["runs", "list"][..],
            &["runs", "show", "x"],
            &["runs", "recover", "--stale-after", "10m"],
            &["runs", "purge", "--before", "30d", "--dry-run"],
        ] {
            let r = dorch(url, args).fails(1);
            assert!(r.stderr.contains(says), "{url} {args:?}: {}", r.stderr);
            assert_eq!(r.stdout, "");
        }
    }
}

#[test]
fn bad_usage_exits_2() {
    let place = Place::sqlite("usage");
    drop(place.open());
    for args in [
        &["runs"][..],
        &["runs", "frobnicate"],
        &["runs", "list", "--limit", "0"],
        &["runs", "list", "--limit", "many"],
        &["runs", "list", "--status", "DONE"],
        &["runs", "list", "--bogus"],
        &["runs", "show"],
        &["runs", "recover"],
        &["runs", "recover", "--stale-after", "10"],
        &["runs", "purge"],
        &["runs", "purge", "--before", "soon"],
    ] {
        let r = dorch(place.url(), args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(!r.stderr.is_empty(), "{args:?} says why");
        assert_eq!(r.stdout, "");
    }
    let r = dorch(place.url(), &["runs", "list", "--status", "DONE"]);
    assert!(
        r.stderr.contains("RUNNING, SUCCESS or FAILED"),
        "{}",
        r.stderr
    );
}

#[test]
fn every_command_has_help() {
    let dir = Dir::new("help");
    for (args, usage) in [
        (&["--help"][..], "Usage: dremioorch [OPTIONS] <COMMAND>"),
        (&["runs", "--help"], "Usage: dremioorch runs"),
        (&["runs", "list", "--help"], "Usage: dremioorch runs list"),
        (&["runs", "show", "--help"], "Usage: dremioorch runs show"),
        (
            &["runs", "recover", "--help"],
            "Usage: dremioorch runs recover",
        ),
        (&["runs", "purge", "--help"], "Usage: dremioorch runs purge"),
        (&["help", "runs", "list"], "Usage: dremioorch runs list"),
    ] {
        let r = output(&mut cmd(dir.path(), args)).ok();
        assert!(r.stdout.contains(usage), "{args:?}: {}", r.stdout);
        assert!(
            r.stdout.contains("--backend <URL>"),
            "{args:?}: {}",
            r.stdout
        );
    }
    let r = output(&mut cmd(dir.path(), &["--version"])).ok();
    assert_eq!(
        r.stdout.trim(),
        format!("dremioorch {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn purge_without_yes_is_refused_when_nobody_can_confirm() {
    let place = Place::sqlite("refuse");
    let h = make_history(place.open());
    for args in [
        &["runs", "purge", "--before", "0s"][..],
        &["runs", "purge", "--before", "0s", "--pipeline", "etl"],
    ] {
        let r = dorch(place.url(), args).fails(1);
        assert!(r.stderr.contains("--yes"), "{}", r.stderr);
        assert!(r.stderr.contains("--dry-run"), "{}", r.stderr);
    }
    let all = dorch(place.url(), &["runs", "list", "--json"]).ok().json();
    assert_eq!(ids(&all).len(), 3, "nothing deleted");
    assert!(ids(&all).contains(&h.etl.run_id()));
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let place = Place::sqlite("pipe");
    let b = place.open();
    let p = nightly(b);
    for _ in 0..40 {
        p.run().unwrap();
    }
    let mut child = cmd(
        &std::env::temp_dir(),
        &["runs", "list", "--backend", place.url()],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.code().is_some(), "not killed by a signal");
}

/// Under a pseudo-terminal (util-linux `script`), statuses are coloured,
/// unless NO_COLOR is set.
#[test]
fn statuses_are_coloured_on_a_terminal_only() {
    let place = Place::sqlite("colour");
    make_history(place.open());
    let line = format!("{BIN} runs list --backend {}", place.url());
    let on_tty = |no_color: bool| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &line, "/dev/null"])
            .env_remove("NO_COLOR")
            .env("TERM", "xterm");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        let out = c.output().expect("util-linux script runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let coloured = on_tty(false);
    assert!(
        coloured.contains("\u{1b}[31mFAILED\u{1b}[0m"),
        "{coloured:?}"
    );
    assert!(
        coloured.contains("\u{1b}[32mSUCCESS\u{1b}[0m"),
        "{coloured:?}"
    );
    let plain = on_tty(true);
    assert!(
        plain.contains("FAILED") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );
}
